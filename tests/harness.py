"""One check for every config of every dataset, as `datasets`' and TFDS' builder test cases do.

A dataset's test module describes each config in a few lines (a `ConfigCase`: the data folder, the rows
expected per split, a few exact rows) and calls `check_config`: it builds the config from the folder,
checks the splits, the row counts and the exact rows, then exports it and loads the export back with
`load_dataset`, in memory and streaming, and requires every row (media bytes included) to come back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets

from celeb_datasets.hub import export


@dataclasses.dataclass(frozen=True)
class ConfigCase:
    """What one config must give from one data folder.

    `rows` maps an item id (the value of `id_column`) to fields it must hold exactly (a subset of the row;
    media left out). `options` are passed to the builder.
    """

    builder: type[datasets.DatasetBuilder]
    config: str
    data_dir: Callable[[Path], Path]
    splits: dict[str, int]
    id_column: str
    rows: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    options: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __str__(self) -> str:
        return self.config


def check_config(case: ConfigCase, tmp_path: Path) -> None:
    """Build `case.config` and check its splits, counts, exact rows, export and `load_dataset` round trip."""
    data_dir = case.data_dir(tmp_path / "download")
    builder = case.builder(
        config_name=case.config, data_dir=str(data_dir), cache_dir=str(tmp_path / "cache"), **case.options
    )
    builder.download_and_prepare()
    prepared = builder.as_dataset()
    assert {split: prepared[split].num_rows for split in prepared} == case.splits, "rows per split"
    for split in prepared:
        assert prepared[split].features == builder.info.features

    found = {row[case.id_column]: row for split in prepared for row in stored(prepared[split])}
    for item, fields in case.rows.items():
        assert item in found, f"{case.config}: no row {item}"
        assert {name: found[item][name] for name in fields} == fields, f"{case.config}: row {item}"

    export(builder, tmp_path / "export")
    loaded = datasets.load_dataset(str(tmp_path / "export"), case.config)
    assert set(loaded) == {split for split, rows in case.splits.items() if rows}, "exported splits"
    for split in loaded:
        assert loaded[split].features == builder.info.features
        assert stored(loaded[split]) == stored(prepared[split]), f"{case.config}/{split}: export differs"
        streamed = datasets.load_dataset(str(tmp_path / "export"), case.config, split=split, streaming=True)
        assert stored(streamed) == stored(prepared[split]), f"{case.config}/{split}: streaming differs"


def stored(rows: datasets.Dataset | datasets.IterableDataset) -> list[dict[str, Any]]:
    """The rows as stored: media as their `{"bytes", "path"}` values, not decoded."""
    features = rows.features
    for name, feature in (features or {}).items():
        undecoded = _undecoded(feature)
        if undecoded is not feature:
            rows = rows.cast_column(name, undecoded)
    return list(rows)


def _undecoded(feature: Any) -> Any:
    if isinstance(feature, (datasets.Image, datasets.Video)) and feature.decode:
        return type(feature)(decode=False)
    if isinstance(feature, dict):
        inner = {key: _undecoded(value) for key, value in feature.items()}
        return feature if all(inner[key] is feature[key] for key in feature) else inner
    return feature
