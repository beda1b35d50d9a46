"""The one Parquet shard writer of every export, whichever engine made the rows.

Rows arrive as Arrow tables, in order and in any chunking (a prepared cache's record batches, one Ray
task's rows); `write_splits` streams them into `{split}[-sliceIIIIIofNNNNN]-NNNNN-of-NNNNN.parquet`
shards with datasets' Parquet options and the media bytes embedded. Where shards and row groups end
depends only on the rows, never on how they were chunked or which engine sent them, so two engines
that make the same rows write the same bytes. The rule, on each row's Arrow bytes (`row_bytes`):

- a shard takes rows while they fit in `max_bytes`; the first row that would not fit starts the next
  shard (a shard always takes one row, so a row larger than `max_bytes` is a shard of its own);
- within a shard, a row group takes rows while they fit in datasets' row-group target (100 MB, as
  `push_to_hub` aims for; fewer rows when datasets sets a row count for the features' media type).

A split whose rows fit in one row group gets the one shard and row group `push_to_hub`'s rule gives it.
Larger splits get as few shards as the rule allows (each filled up to `max_bytes`), where `push_to_hub`
splits the estimated size evenly into `size // max_bytes + 1` shards. Each row group reaches Parquet as
one chunk per column: Parquet ends pages of large values where it is handed chunks, so the bytes would
otherwise follow the engine's chunking.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from celeb_datasets import datasets_internals
from celeb_datasets.errors import CelebDatasetsError
from celeb_datasets.slices import Slice

logger = logging.getLogger("celeb_datasets")


def shard_prefix(split: str, part: Slice | None) -> str:
    """The start of a split's shard names: `train`, or `train-slice00003of00016` for slice 3/16."""
    return split if part is None else f"{split}-slice{part.index:05d}of{part.count:05d}"


def write_splits(
    tables: Iterable[tuple[str, pa.Table]],
    folder: Path,
    features: datasets.Features,
    max_bytes: int,
    part: Slice | None,
    split_names: Iterable[str],
) -> dict[str, int]:
    """Write `(split, rows)` pairs, each split's rows in one run, as the shards of those splits in `folder`.

    Returns the rows written per split, every one of `split_names` included. A split without rows gets no
    shard (datasets cannot load an empty split).
    """
    written = dict.fromkeys(split_names, 0)
    writer: ShardWriter | None = None
    try:
        for split, table in tables:
            if writer is None or writer.split != split:
                if writer is not None:
                    writer.close()
                if written.get(split):
                    raise ValueError(f"the rows of split {split!r} came in two runs")
                writer = ShardWriter(folder, split, features, max_bytes, part)
            writer.write(table)
            written[split] = written.get(split, 0) + len(table)
    except BaseException:
        if writer is not None:
            writer.abandon()
        raise
    if writer is not None:
        writer.close()
    return written


def check_splits_written(written: dict[str, int], what: str, part: Slice | None = None) -> None:
    """Raise CelebDatasetsError when no split of the build `what` has a row; warn about the splits left
    out because they have none. A slice (`part`) with no row is no error: it is exported as its skip
    lines alone (every item of a slice may be gone while the others' are there), with a warning."""
    if not any(written.values()):
        if part is not None:
            logger.warning(
                "%s slice %s: no row could be built, so it has no shard; its items are in the export's skip "
                "report with the reason each was left out",
                what, part,
            )  # fmt: skip
            return
        raise CelebDatasetsError(f"{what} has no rows to export (see its skip report)")
    empty = [split for split, rows in written.items() if not rows]
    if empty:
        logger.warning(
            "%s: split(s) %s have no rows (a partial download?) and are left out of the export", what, ", ".join(empty)
        )


class ShardWriter:
    """One split's rows streamed into its Parquet shards in `folder` (see the module docstring for the rule).

    `write` takes rows in order; `close` finishes the last shard and names the shards
    `{prefix}-NNNNN-of-NNNNN.parquet` (until then they are `{prefix}-NNNNN.partial`).
    """

    def __init__(
        self, folder: Path, split: str, features: datasets.Features, max_bytes: int, part: Slice | None = None
    ) -> None:
        self.folder, self.split, self.features, self.max_bytes = folder, split, features, max_bytes
        self.prefix = shard_prefix(split, part)
        self.group_bytes = min(max_bytes, datasets_internals.max_row_group_bytes())
        self.group_rows = datasets_internals.get_writer_batch_size_from_features(features)
        self.embed = any(datasets_internals.require_storage_embed(feature) for feature in features.values())
        self.shards: list[Path] = []
        self.file: pa.NativeFile | None = None
        self.writer: pq.ParquetWriter | None = None
        self.in_shard = 0  # bytes of the current shard, its pending row group included
        self.pending: list[pa.Table] = []  # the rows of the row group being filled
        self.pending_bytes = 0
        self.pending_rows = 0

    def write(self, table: pa.Table) -> None:
        """Add `table`'s rows after those written so far."""
        start = 0
        for row, size in enumerate(row_bytes(table).tolist()):
            if self.in_shard and self.in_shard + size > self.max_bytes:
                self._take(table, start, row)
                start = row
                self._close_shard()
            elif self.pending_rows and (
                self.pending_bytes + size > self.group_bytes or self.pending_rows == self.group_rows
            ):
                self._take(table, start, row)
                start = row
                self._flush_group()
            self.pending_bytes += size
            self.pending_rows += 1
            self.in_shard += size
        self._take(table, start, len(table))

    def close(self) -> list[Path]:
        """Finish the last shard; the shards, named `{prefix}-NNNNN-of-NNNNN.parquet`."""
        self._close_shard()
        named = []
        for index, shard in enumerate(self.shards):
            named.append(shard.rename(self.folder / f"{self.prefix}-{index:05d}-of-{len(self.shards):05d}.parquet"))
        self.shards = []
        return named

    def abandon(self) -> None:
        """Stop without finishing the shards (the export failed: its staging folder goes)."""
        self._close_writer()

    def _take(self, table: pa.Table, start: int, end: int) -> None:
        if end > start:
            self.pending.append(table.slice(start, end - start))

    def _flush_group(self) -> None:
        if not self.pending_rows:
            return
        group = pa.concat_tables(self.pending)
        if self.embed:
            group = datasets_internals.embed_table_storage(group)
        if self.writer is None:
            self.shards.append(self.folder / f"{self.prefix}-{len(self.shards):05d}.partial")
            self.file = local_file(self.shards[-1], "wb")
            self.writer = parquet_writer(self.file, self.features)
        # One chunk per column, so the bytes written cannot depend on how the rows were chunked.
        self.writer.write_table(group.combine_chunks(), row_group_size=len(group))
        self.pending, self.pending_bytes, self.pending_rows = [], 0, 0

    def _close_shard(self) -> None:
        self._flush_group()
        self._close_writer()
        self.in_shard = 0

    def _close_writer(self) -> None:
        try:
            if self.writer is not None:
                self.writer.close()
        finally:
            if self.file is not None:
                self.file.close()
            self.writer, self.file = None, None


def local_file(path: str | os.PathLike[str], mode: str = "rb") -> pa.NativeFile:
    """`path` opened as a file of this machine, for pyarrow to read or write (`mode` "rb" or "wb").

    Given a path as text, pyarrow reads it as a URI when nothing is there yet (`exp:v1/...` names a file
    system of scheme `exp`, `hdfs:x` starts a JVM) and expands a leading `~`; an opened file is written
    and read as it is. Every Parquet file the package writes or reads goes through here.
    """
    return pa.OSFile(os.fspath(path), mode)


def parquet_writer(sink: pa.NativeFile, features: datasets.Features) -> pq.ParquetWriter:
    """A Parquet writer of rows of `features` into `sink` (a `local_file`, closed by the caller after the
    writer), with the features in the schema metadata.

    datasets' own Parquet options: content-defined chunks (deduplicated by Xet), a page index, and media
    columns stored uncompressed.
    """
    schema = features.arrow_schema
    return pq.ParquetWriter(
        sink,
        schema,
        use_content_defined_chunking=datasets_internals.content_defined_chunking(),
        write_page_index=True,
        **datasets_internals.get_parquet_column_options(features, schema),
    )


def row_bytes(table: pa.Table) -> np.ndarray:
    """The Arrow bytes of each row of `table`: its values' widths, offsets and variable-length bytes.

    A function of the row's values alone (validity bitmaps and chunking do not count), so a row weighs
    the same in any table: the shard and row-group boundaries follow from the rows themselves.
    """
    sizes = np.zeros(len(table), dtype=np.int64)
    for column in table.columns:
        sizes += np.concatenate([_value_bytes(chunk) for chunk in column.chunks] or [np.zeros(0, np.int64)])
    return sizes


def _value_bytes(array: pa.Array) -> np.ndarray:
    """The bytes of each value of `array` (nested values summed into their parent's)."""
    if isinstance(array, pa.ExtensionArray):
        array = array.storage
    kind = array.type
    if pa.types.is_struct(kind):
        sizes = np.zeros(len(array), dtype=np.int64)
        for field in array.flatten():
            sizes += _value_bytes(field)
        return sizes
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        values = _value_bytes(array.flatten())
        parents = pc.list_parent_indices(array).to_numpy()
        offset = 0 if pa.types.is_fixed_size_list(kind) else 8 if pa.types.is_large_list(kind) else 4
        return np.bincount(parents, weights=values, minlength=len(array)).astype(np.int64) + offset
    if pa.types.is_binary(kind) or pa.types.is_string(kind):
        return _lengths(array) + 4
    if pa.types.is_large_binary(kind) or pa.types.is_large_string(kind):
        return _lengths(array) + 8
    if pa.types.is_null(kind):
        return np.zeros(len(array), dtype=np.int64)
    # Fixed-width values (booleans count as one byte: their bits are not worth telling apart).
    return np.full(len(array), max(1, kind.bit_width // 8), dtype=np.int64)


def _lengths(array: pa.Array) -> np.ndarray:
    return pc.binary_length(array).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
