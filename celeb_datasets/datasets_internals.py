"""The few private names of `datasets` this package relies on, in one place.

The builder base needs where the build being prepared is written (`DatasetBuilder._output_dir`, which
datasets points at its `<cache>.incomplete` folder while preparing) and overrides
`DatasetBuilder._download_and_prepare`, the step datasets runs inside that folder. It also relies on
datasets re-raising a `DatasetGenerationError` from a generator as it is (not wrapped again). Prepared
splits are Arrow stream files named `<dataset>-<split>*.arrow`. tests/test_datasets_internals.py fails
loudly when any of these changes.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

PRIVATE_NAMES = ("_output_dir", "_download_and_prepare")
INCOMPLETE_SUFFIX = ".incomplete"


def output_dir(builder: Any) -> str:
    """Where `builder` writes (the `.incomplete` folder while preparing, the cache folder otherwise)."""
    return builder._output_dir


def clear_incomplete_folder(builder: Any) -> None:
    """Empty the `.incomplete` folder a killed run may have left, so a rerun starts from nothing.

    datasets reuses that folder as it is; shards and skip-report parts of the killed run would
    otherwise be counted twice or moved into the cache with the new build. datasets holds a lock on the
    build while preparing, so no other process writes there.
    """
    folder = Path(output_dir(builder))
    if not folder.name.endswith(INCOMPLETE_SUFFIX) or not folder.is_dir():
        return
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def written_column(builder: Any, column: str) -> Iterator[Any]:
    """The values of `column` in every Arrow shard prepared so far (read column by column, memory-mapped)."""
    for shard in sorted(Path(output_dir(builder)).glob("*.arrow")):
        with pa.memory_map(str(shard)) as source:
            reader = pa.ipc.open_stream(source)
            index = reader.schema.get_field_index(column)
            for batch in reader:
                yield from batch.column(index).to_pylist()
