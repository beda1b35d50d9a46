"""What every engine shares: the interface, the settings every engine has, and the end of a build."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

from celeb_datasets import skips
from celeb_datasets.builder import CelebBuilder
from celeb_datasets.card import ExportedConfig
from celeb_datasets.errors import OptionError
from celeb_datasets.export_folder import WORK_FOLDER
from celeb_datasets.hub import DEFAULT_MAX_SHARD_SIZE, registered_name
from celeb_datasets.options import check_options, option, parse_byte_size
from celeb_datasets.skips import merge_skip_report

logger = logging.getLogger("celeb_datasets")


@dataclasses.dataclass(frozen=True)
class EngineSettings:
    """Settings every engine has; an engine's own settings subclass this, each declared with `option`.

    They say how an export is made, never what it holds: the same build gives the same rows whatever
    the settings (`max_shard_size` only moves the shard boundaries).
    """

    max_shard_size: int | str = option(
        DEFAULT_MAX_SHARD_SIZE,
        "largest shard: Parquet in exports, Arrow in the cache (e.g. 500MB, 2GB, bytes)",
        defines_rows=False,
    )

    def __post_init__(self) -> None:
        check_options(self)
        parse_byte_size("max_shard_size", self.max_shard_size)

    @property
    def max_shard_bytes(self) -> int:
        return parse_byte_size("max_shard_size", self.max_shard_size)


class Engine(Protocol):
    """An engine: makes the rows of a builder's config and writes them as an export (shards, skip report,
    card) with the one shard writer (celeb_datasets.shards), so every engine gives the same export.

    `name` is the engine's `--engine` choice; `description` one line for `--help`; `settings_class` the
    dataclass of its settings (EngineSettings or a subclass), from which its command line flags derive.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    settings_class: ClassVar[type[EngineSettings]]

    def export(self, builder: CelebBuilder, export_dir: Path, settings: Any) -> ExportedConfig:
        """Build the builder's config (or its slice) and write it into `export_dir`; what was exported."""
        ...


def finish_build(
    builder: CelebBuilder,
    expected_items: Sequence[str] | None,
    row_ids: Sequence[str],
    skip_folder: Path,
    kept_in: Path,
) -> Path:
    """The end of a build an engine made outside the cache: the skip report, checked and summed up.

    Merges the skip lines recorded under `skip_folder` into one report and returns it; ends the build as
    the builder does (celeb_datasets.skips.finish_build: the accounting check, the refusal of a build with
    no row at all) and logs the one-line summary, naming `kept_in`, where the report will be kept.
    """
    report = merge_skip_report(skip_folder, builder.SKIP_REPORT_COLUMNS)
    summary = skips.finish_build(
        f"{builder.PRETTY_NAME} {builder.config.name}",
        expected_ids=expected_items,
        row_ids=row_ids,
        report=report,
        item_column=builder.SKIP_REPORT_COLUMNS[0],
        kinds=builder.SKIP_KINDS,
        no_rows_hint=builder.NO_ROWS_HINT,
        report_shown=kept_in,
        # In the export folder's work folder: a refused build writes nothing among the export's own files.
        refused_report=kept_in.parent / WORK_FOLDER / f"skip_report.{builder.config.name}.refused.tsv",
        rows_required=builder.config.slice is None,  # a slice's items may all be gone: its skip lines remain
    )
    summary.log()
    builder.note_items_to_retry(report, shown=kept_in)
    return report


def item_configs(builder: CelebBuilder) -> list[str]:
    """The configs of the builder's dataset whose work comes as items (those every engine builds)."""
    return [config.name for config in builder.BUILDER_CONFIGS if config.name not in builder.CONFIGS_WITHOUT_ITEMS]


def check_builds_items(builder: CelebBuilder, engine_name: str) -> None:
    """Raise OptionError, naming the configs the engine builds, when the builder's config gives no work items."""
    config = builder.config.name
    if config not in builder.CONFIGS_WITHOUT_ITEMS:
        return
    served = item_configs(builder)
    raise OptionError(
        f"--engine {engine_name} cannot build {registered_name(builder)}'s config {config!r} (its work does not come "
        f"as work items); it builds {', '.join(served) if served else 'none of its configs'}: build {config!r} "
        "with --engine datasets"
    )
