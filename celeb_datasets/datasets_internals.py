"""Every name of `datasets` this package uses that is not part of its documented API, in one place.

When `datasets` is upgraded, this module (and only it) is what may need adapting;
tests/test_datasets_internals.py fails loudly, naming the name, when one of these changes.

- The builder base needs where the build being prepared is written (`DatasetBuilder._output_dir`, which
  datasets points at its `<cache>.incomplete` folder while preparing) and overrides
  `DatasetBuilder._download_and_prepare`, the step datasets runs inside that folder, and
  `ArrowBasedBuilder._prepare_split_single`, the generator each worker runs to write its shards (to carry
  its writer's errors out of the worker). It relies on datasets re-raising a `DatasetGenerationError` from
  a generator as it is (not wrapped again). Prepared splits are Arrow stream files named
  `<dataset>-<split>*.arrow`.
- Exports write Parquet the way `push_to_hub` does: its column options, row-group target (bytes, or rows
  for a media type), content-defined chunking, and media embedded into the rows (`arrow_writer`,
  `features.features`, `table`, `config`).
- Cards read and write `dataset_info` entries as datasets does (`DatasetInfo._to_yaml_dict`, `_from_yaml_dict`).
- `InMemoryTable` makes an empty split; `convert_file_size_to_int` reads sizes such as "500MB".
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
from datasets.arrow_writer import get_parquet_column_options, get_writer_batch_size_from_features
from datasets.features.features import require_storage_embed
from datasets.table import InMemoryTable, embed_table_storage
from datasets.utils.py_utils import convert_file_size_to_int

PRIVATE_NAMES = ("_output_dir", "_download_and_prepare", "_prepare_split_single")
INCOMPLETE_SUFFIX = ".incomplete"

__all__ = [
    "INCOMPLETE_SUFFIX",
    "InMemoryTable",
    "clear_incomplete_folder",
    "content_defined_chunking",
    "convert_file_size_to_int",
    "embed_table_storage",
    "get_parquet_column_options",
    "get_writer_batch_size_from_features",
    "info_from_yaml",
    "info_to_yaml",
    "max_row_group_bytes",
    "output_dir",
    "prepared_dir",
    "require_storage_embed",
    "written_column",
]


def output_dir(builder: Any) -> str:
    """Where `builder` writes (the `.incomplete` folder while preparing, the cache folder otherwise)."""
    return builder._output_dir


def prepared_dir(builder: Any) -> str:
    """Where the build being prepared will be once complete: its `.incomplete` folder without the suffix."""
    return output_dir(builder).removesuffix(INCOMPLETE_SUFFIX)


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


def max_row_group_bytes() -> int:
    """The bytes of Arrow data a Parquet row group of datasets aims at (`push_to_hub`'s 100 MB)."""
    return convert_file_size_to_int(datasets.config.MAX_ROW_GROUP_SIZE)


def info_to_yaml(info: datasets.DatasetInfo) -> dict[str, Any]:
    """A config's `dataset_info` entry of a card's YAML, as datasets writes it."""
    return info._to_yaml_dict()


def info_from_yaml(entry: dict[str, Any]) -> datasets.DatasetInfo:
    """The DatasetInfo of a card's `dataset_info` entry (features, splits, sizes)."""
    return datasets.DatasetInfo._from_yaml_dict(entry)


def content_defined_chunking() -> Any:
    """datasets' content-defined chunking options for Parquet (pages that Xet storage deduplicates)."""
    return datasets.config.DEFAULT_CDC_OPTIONS
