"""Engines: how a config's rows are made and written into an export folder.

An engine implements one small interface (`Engine`: a name, a settings dataclass, `export(builder,
export_dir, settings)`). Every engine plans with the builder's own code and writes with the same shard
writer (celeb_datasets.shards), staging folder, skip report and card (celeb_datasets.hub), so they give
the same export for the same build. `ENGINES` lists them by name; the command line's `--engine` choices
and each engine's flags come from it (docs/engines.md says how to add one).

- `datasets` (DatasetsEngine): build in datasets' cache on this machine, then export. Every config.
- `ray` (RayEngine): one Ray task per work item on a Ray cluster, rows streamed into the export. Every
  config whose builder gives its work as items (celeb_datasets.engines.work): all configs of both datasets.
"""

from __future__ import annotations

from celeb_datasets.engines.base import Engine, EngineSettings, finish_build
from celeb_datasets.engines.datasets_engine import DatasetsEngine, DatasetsSettings
from celeb_datasets.engines.ray_engine import RayEngine, RaySettings
from celeb_datasets.errors import OptionError

ENGINES: dict[str, Engine] = {engine.name: engine for engine in (DatasetsEngine(), RayEngine())}
DEFAULT_ENGINE = "datasets"

__all__ = [
    "DEFAULT_ENGINE",
    "ENGINES",
    "DatasetsEngine",
    "DatasetsSettings",
    "Engine",
    "EngineSettings",
    "RayEngine",
    "RaySettings",
    "engine_named",
    "finish_build",
]


def engine_named(name: str) -> Engine:
    """The engine registered as `name` (OptionError listing the engines if there is none)."""
    if name not in ENGINES:
        raise OptionError(f"no engine {name!r}; the engines: {', '.join(ENGINES)}")
    return ENGINES[name]
