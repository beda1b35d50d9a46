"""The one shard writer: where shards and row groups end depends on the rows alone, never on their chunking."""

from __future__ import annotations

import random
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from celeb_datasets import datasets_internals
from celeb_datasets.shards import ShardWriter, row_bytes, write_splits
from celeb_datasets.slices import Slice

FEATURES = datasets.Features(
    {
        "name": datasets.Value("string"),
        "image": datasets.Image(),
        "box": {"top": datasets.Value("float64"), "label": datasets.Value("string")},
        "segments": datasets.List({"emotion": datasets.Value("int64"), "note": datasets.Value("string")}),
        "score": datasets.Value("int32"),
    }
)


def random_rows(count: int, seed: int = 0, largest_image: int = 3000) -> list[dict]:
    """Rows of every kind of column, with nulls, empty values, and images of up to `largest_image` bytes."""
    rng = random.Random(seed)
    return [
        {
            "name": f"row{index}",
            "image": None
            if rng.random() < 0.1
            else {"bytes": rng.randbytes(rng.randint(0, largest_image)), "path": None},
            "box": None if rng.random() < 0.1 else {"top": rng.random(), "label": rng.choice([None, "face", ""])},
            "segments": None
            if rng.random() < 0.1
            else [{"emotion": rng.randint(0, 7), "note": "n" * rng.randint(0, 9)} for _ in range(rng.randint(0, 3))],
            "score": rng.choice([None, rng.randint(-5, 5)]),
        }
        for index in range(count)
    ]


def as_table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=FEATURES.arrow_schema)


def chunked(rows: list[dict], seed: int) -> list[pa.Table]:
    """The rows cut into tables at random places (some empty), as engines send them."""
    rng = random.Random(seed)
    cuts = sorted(rng.choices(range(len(rows) + 1), k=rng.randint(0, 20)))
    return [as_table(rows[start:end]) for start, end in zip([0, *cuts], [*cuts, len(rows)], strict=True)]


def write(folder: Path, tables: list[pa.Table], max_bytes: int) -> dict[str, bytes]:
    folder.mkdir()
    writer = ShardWriter(folder, "train", FEATURES, max_bytes)
    for table in tables:
        writer.write(table)
    return {path.name: path.read_bytes() for path in writer.close()}


def test_a_row_weighs_the_same_in_any_table() -> None:
    rows = random_rows(300)
    whole = row_bytes(as_table(rows))
    for seed in range(5):
        assert np.concatenate([row_bytes(table) for table in chunked(rows, seed)]).tolist() == whole.tolist()
    sliced = pa.concat_tables(as_table(rows).slice(start, 7) for start in range(0, 300, 7))
    assert row_bytes(sliced).tolist() == whole.tolist()
    assert abs(int(whole.sum()) - as_table(rows).nbytes) < 0.05 * as_table(rows).nbytes  # about Arrow's own size


@pytest.mark.parametrize("max_bytes", [2_000, 50_000, 10**9])
def test_the_same_rows_in_any_chunking_give_the_same_shard_bytes(tmp_path: Path, max_bytes: int) -> None:
    rows = random_rows(200)
    first = write(tmp_path / "one", [as_table(rows)], max_bytes)
    for seed in range(3):
        assert write(tmp_path / f"chunked{seed}", chunked(rows, seed), max_bytes) == first
    count = len(first)
    assert list(first) == [f"train-{index:05d}-of-{count:05d}.parquet" for index in range(count)]
    assert (count == 1) == (max_bytes == 10**9)


def test_media_of_megabytes_in_any_chunking_give_the_same_shard_bytes(tmp_path: Path) -> None:
    # Parquet pages of large values end where the writer was handed chunks: the writer must not let them.
    rows = random_rows(12, seed=5, largest_image=1_500_000)
    first = write(tmp_path / "one", [as_table(rows)], 10**9)
    assert write(tmp_path / "rows", [as_table([row]) for row in rows], 10**9) == first


def test_a_shard_takes_rows_while_they_fit_and_a_larger_row_is_a_shard_of_its_own(tmp_path: Path) -> None:
    rows = random_rows(120, seed=3)
    sizes = row_bytes(as_table(rows)).tolist()
    max_bytes = 6_000
    shards = write(tmp_path / "shards", [as_table(rows)], max_bytes)
    expected, shard = [], 0
    for size in sizes:  # the rule, row by row
        if shard and shard + size > max_bytes:
            expected.append(shard)
            shard = 0
        shard += size
    expected.append(shard)
    written = [int(row_bytes(pq.read_table(tmp_path / "shards" / name)).sum()) for name in shards]
    assert written == expected
    assert all(size <= max_bytes for size in written)


def test_row_groups_end_at_the_row_group_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datasets_internals, "max_row_group_bytes", lambda: 10_000)
    rows = random_rows(100, seed=4)
    shards = write(tmp_path / "groups", chunked(rows, 1), 10**9)
    metadata = pq.read_metadata(tmp_path / "groups" / next(iter(shards)))
    groups = [metadata.row_group(index).num_rows for index in range(metadata.num_row_groups)]
    assert sum(groups) == 100 and len(groups) > 1
    sizes, start = row_bytes(as_table(rows)).tolist(), 0
    for rows_in_group in groups:
        group = sizes[start : start + rows_in_group]
        assert sum(group) <= 10_000 or rows_in_group == 1
        if start + rows_in_group < len(sizes):
            assert sum(group) + sizes[start + rows_in_group] > 10_000  # the next row did not fit
        start += rows_in_group


def test_shards_hold_the_features_and_the_media_bytes(tmp_path: Path) -> None:
    rows = random_rows(20)
    write(tmp_path / "media", [as_table(rows)], 10**9)
    table = pq.read_table(tmp_path / "media" / "train-00000-of-00001.parquet")
    assert datasets.Features.from_arrow_schema(table.schema) == FEATURES
    assert table.column("image").to_pylist() == [row["image"] for row in rows]


def test_splits_are_written_in_runs_and_named_by_slice(tmp_path: Path) -> None:
    rows = random_rows(30)
    tables = [("train", as_table(rows[:10])), ("train", as_table(rows[10:20])), ("test", as_table(rows[20:]))]
    written = write_splits(tables, tmp_path, FEATURES, 10**9, Slice(2, 16), ["train", "validation", "test"])
    assert written == {"train": 20, "validation": 0, "test": 10}
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "test-slice00002of00016-00000-of-00001.parquet",
        "train-slice00002of00016-00000-of-00001.parquet",
    ]
    (tmp_path / "again").mkdir()
    with pytest.raises(ValueError, match="the rows of split 'train' came in two runs"):
        write_splits([*tables, ("train", as_table(rows[:1]))], tmp_path / "again", FEATURES, 10**9, None, ["train"])
