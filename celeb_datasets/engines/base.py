"""What every engine shares: the interface, the settings every engine has, and the end of a build."""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

from celeb_datasets.builder import CelebBuilder, check_accounting
from celeb_datasets.card import ExportedConfig
from celeb_datasets.errors import CelebDatasetsError
from celeb_datasets.hub import DEFAULT_MAX_SHARD_SIZE
from celeb_datasets.options import check_options, option, parse_byte_size
from celeb_datasets.skips import count_by_kind, merge_skip_report, read_skip_report, summarize_skips

logger = logging.getLogger("celeb_datasets")


@dataclasses.dataclass(frozen=True)
class EngineSettings:
    """Settings every engine has; an engine's own settings subclass this, each declared with `option`.

    They say how an export is made, never what it holds: the same build gives the same rows whatever
    the settings (`max_shard_size` only moves the shard boundaries).
    """

    max_shard_size: int | str = option(
        DEFAULT_MAX_SHARD_SIZE, "largest shard: Parquet in exports, Arrow in the cache (e.g. 500MB, 2GB, bytes)"
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

    Merges the skip lines recorded under `skip_folder` into one report and returns it; refuses a build
    with no row at all (as the builder does) and one that does not account for every expected item (a
    row or a skip line each); logs the one-line summary, naming `kept_in`, where the report will be kept.
    """
    what = f"{builder.PRETTY_NAME} {builder.config.name}"
    report, counts = merge_skip_report(skip_folder, builder.SKIP_REPORT_COLUMNS)
    left_out = Counter({kind: n for kind, n in counts.items() if kind not in builder.KEPT_KINDS})
    if not row_ids and expected_items:
        skipped = f"{sum(left_out.values()):,} skipped ({count_by_kind(left_out)})" if left_out else "none skipped"
        raise CelebDatasetsError(
            f"{what}: 0 written, {skipped}. No row could be built. {builder.NO_ROWS_HINT}".rstrip()
        )
    if expected_items is not None:
        check_accounting(what, expected_items, row_ids, read_skip_report(report), builder)
    summary = summarize_skips(what, len(row_ids), left_out, kept_in)
    kept = Counter({kind: n for kind, n in counts.items() if kind in builder.KEPT_KINDS})
    if kept:
        summary += f"; kept with values listed in the report: {count_by_kind(kept)} ({kept_in})"
    logger.log(logging.WARNING if left_out else logging.INFO, summary)
    return report
