"""What runs around a builder's table generator: errors carried out intact, and a full disk caught early.

datasets wraps whatever a generator raises in DatasetGenerationError, and a worker process's exception
crosses to the main process rebuilt from its arguments only. `surfacing_errors` wraps a builder's
`_generate_tables` so that the package's own errors (and a disk that cannot be written) cross both
intact, and checks the free space before each table is written; `carried` does the same for what
datasets' own writer meets in a worker; `surfaced` finds the original error again.
"""

from __future__ import annotations

import errno
import functools
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa

from celeb_datasets import datasets_internals
from celeb_datasets.errors import CelebDatasetsError, StorageError
from celeb_datasets.workers import end_with_build

# Room kept free on the disk beyond the next rows to write (the writer buffers a batch before writing).
_DISK_MARGIN_BYTES = 64 * 2**20
# No room to write: a full disk, a file-size limit (`ulimit -f`), a disk quota.
FULL_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
# Those, no permission, a path that is a file where a folder should be, a read-only disk.
STORAGE_ERRNOS = (*FULL_ERRNOS, errno.EACCES, errno.EEXIST, errno.ENOTDIR, errno.EROFS)


class _CarriedError(datasets.exceptions.DatasetGenerationError):
    """Carries the package's own error through datasets' generation and out of worker processes.

    datasets wraps anything its generators raise in DatasetGenerationError, except DatasetGenerationError
    itself; and a worker's exception crosses to the main process pickled from its arguments only, which
    loses the wrapped cause. This carrier keeps the original as its argument.
    """

    def __init__(self, error: CelebDatasetsError) -> None:
        super().__init__(error)
        self.error = error


def surfacing_errors(generate: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    """`generate` (a builder's `_generate_tables`) raising the package's errors so that they cross datasets'
    wrapping and worker processes intact, and stopping before a table the disk cannot take."""

    @functools.wraps(generate)
    def generate_tables(self: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        end_with_build(self.build_pid)
        folder = datasets_internals.output_dir(self)
        try:
            writing = folder.endswith(datasets_internals.INCOMPLETE_SUFFIX)  # not when streaming
            for key, table in generate(self, *args, **kwargs):
                if writing:
                    _check_free_space(folder, table)
                yield key, table
        except CelebDatasetsError as error:
            raise _CarriedError(error) from error
        except OSError as error:
            # A full disk, or a folder the build writes in that cannot be written (a read-only fetch folder).
            if error.errno not in STORAGE_ERRNOS:
                raise
            raise _CarriedError(storage_error(error, folder)) from error

    return generate_tables


def surfaced(error: BaseException, folder: str) -> BaseException:
    """The package's error behind datasets' DatasetGenerationError (or a disk that cannot be written, as a
    StorageError), else `error` itself."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, _CarriedError):
            return seen.error
        if isinstance(seen, CelebDatasetsError):
            return seen
        if isinstance(seen, OSError) and seen.errno in STORAGE_ERRNOS:
            return storage_error(seen, folder)
        seen = seen.__cause__ or seen.__context__
    return error


def interruption_behind(error: BaseException) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt during whose handling `error` was raised (a pool's clean-up), if any."""
    seen = error.__context__
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return seen
        seen = seen.__context__
    return None


def carried(error: datasets.exceptions.DatasetGenerationError, folder: str) -> BaseException:
    """What to raise, in a worker, in place of datasets' `error`: the package's error behind it (say, the
    writer's full disk under `folder`) in a form that crosses to the main process intact, else `error`."""
    found = surfaced(error, folder)
    if isinstance(error, _CarriedError) or not isinstance(found, CelebDatasetsError):
        return error
    return _CarriedError(found)


def _check_free_space(folder: str, table: pa.Table) -> None:
    """Stop with StorageError before writing `table` when the disk holding `folder` cannot take it."""
    needed = table.nbytes + _DISK_MARGIN_BYTES
    free = free_bytes(folder)
    if free is not None and free < needed:
        raise StorageError(
            f"the disk holding {folder} is full: writing the next rows needs about {needed / 1e6:,.0f} MB "
            f"(with a {_DISK_MARGIN_BYTES // 2**20} MB margin) and {free / 1e6:,.0f} MB are free. Free some "
            "space or build elsewhere (--cache-dir)"
        )


def storage_error(error: OSError, folder: str) -> StorageError:
    """The StorageError for an OSError met while writing the build under `folder`."""
    if error.errno == errno.ENOSPC:
        free = free_bytes(folder)
        left = "" if free is None else f" ({free / 1e6:,.0f} MB free now)"
        return StorageError(f"the disk holding {folder} is full{left}: {error}. Free some space or use --cache-dir")
    if error.errno == errno.EFBIG:
        return StorageError(
            f"a file under {folder} reached this process's file-size limit ({error}): raise it (`ulimit -f`), "
            "or build with a smaller --max-shard-size"
        )
    if error.errno == errno.EDQUOT:
        return StorageError(
            f"your disk quota is used up writing under {folder} ({error}): free some, or use --cache-dir"
        )
    if error.filename is not None:  # a path of its own: a fetch folder, a source copy
        return StorageError(f"cannot write {error.filename}: {error.strerror}")
    return StorageError(f"cannot write the build under {folder}: {error}")


def free_bytes(folder: str | os.PathLike[str]) -> int | None:
    """Free bytes on the disk holding `folder` (or its nearest existing parent); None if unknown."""
    path = Path(folder).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None
