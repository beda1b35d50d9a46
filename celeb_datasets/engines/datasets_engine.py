"""The datasets engine: build the config in datasets' cache on this machine, then export it from there.

    celeb-datasets export celebv_hq --config clips --data-dir D --output E [--num-proc 8]

`prepare` builds the config with `download_and_prepare` (datasets splits each split's work items between
`num_proc` processes; a cache holding a build of the same sources and options is reused, unless
`force`), and `export` is `celeb_datasets.hub.export`: the cache's rows streamed into the shards every
engine writes. Serves every config of every dataset.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from celeb_datasets.builder import CelebBuilder
from celeb_datasets.card import ExportedConfig
from celeb_datasets.engines.base import EngineSettings
from celeb_datasets.errors import OptionError
from celeb_datasets.hub import check_export_folder, export
from celeb_datasets.options import option


@dataclasses.dataclass(frozen=True)
class DatasetsSettings(EngineSettings):
    """How the cache is built (also the settings of `celeb-datasets prepare`), and `max_shard_size`."""

    num_proc: int | None = option(None, "worker processes building the cache (the work items are split between them)")
    force: bool = option(False, "build again even when the cache holds a build of the same sources")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_proc is not None and self.num_proc < 1:
            raise OptionError(f"option num_proc: expected a positive number of processes, found {self.num_proc}")


class DatasetsEngine:
    """Builds in datasets' cache, then exports from it (see the module docstring)."""

    name = "datasets"
    description = "build in datasets' cache on this machine (reused when the sources are unchanged), then export"
    settings_class = DatasetsSettings

    def prepare(self, builder: CelebBuilder, settings: DatasetsSettings) -> None:
        """Build the config into the cache (a no-op when the cache already holds this build, unless `force`)."""
        builder.download_and_prepare(
            num_proc=settings.num_proc,
            max_shard_size=settings.max_shard_bytes,
            download_mode="force_redownload" if settings.force else None,
        )

    def export(self, builder: CelebBuilder, export_dir: Path, settings: DatasetsSettings) -> ExportedConfig:
        """Check the export folder, prepare the config, then export it from the cache; what was exported."""
        export_dir = check_export_folder(export_dir, builder)  # before the build, which may take hours
        self.prepare(builder, settings)
        return export(builder, export_dir, max_shard_size=settings.max_shard_bytes)
