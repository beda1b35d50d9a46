"""The package's exceptions: one base type, and the few kinds a caller may want to catch apart.

Every message names the file, clip, line, option or repository concerned, what was found and what
was expected, so that a user can fix their download or their command from the message alone. The
command line prints any of them as one `error:` line and exits 2.
"""

from __future__ import annotations

import re


class CelebDatasetsError(Exception):
    """Bad or missing source data, a bad option, or a failed export or publish."""


class SourceFileError(CelebDatasetsError):
    """A source file (annotation, label list, archive) is malformed: wrong format, encoding or values."""


class MissingSourceError(CelebDatasetsError):
    """A file or folder the build needs is not in the data folder (or a path is not what it should be)."""


class UnreadableMediaError(CelebDatasetsError):
    """A video or image cannot be used: truncated, corrupt, or not media at all."""


class OptionError(CelebDatasetsError, ValueError):
    """An option of a config, a builder or a command has a value it cannot take."""


class StorageError(CelebDatasetsError):
    """Writing the build or export failed: a full disk, a path that is not a folder, no permission."""


class HubError(CelebDatasetsError):
    """The Hugging Face Hub could not be reached, or refused what was asked of it."""


# How a worker process's error appears in the traceback text that `multiprocess` sends back.
_WORKER_ERROR = re.compile(r"^celeb_datasets\.errors\.(\w+): (.*)$", re.MULTILINE)


def package_error(error: BaseException) -> CelebDatasetsError | None:
    """The package's error behind `error`, which `datasets` wraps when it is raised while rows are written.

    `datasets` re-raises any error of a row generator as DatasetGenerationError "from" it. With
    num_proc > 1 the original comes back only as the text of the worker's traceback: the error is
    rebuilt from it (same type, same message). None when no error of the package is behind `error`.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, CelebDatasetsError):
            return current
        if type(current).__name__ == "RemoteTraceback":
            for name, message in reversed(_WORKER_ERROR.findall(str(current))):
                kind = globals().get(name)
                if isinstance(kind, type) and issubclass(kind, CelebDatasetsError):
                    return kind(message)
        current = current.__cause__ or current.__context__
    return None
