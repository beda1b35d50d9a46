"""The Ray engine: a config's work items made into rows on every core of a Ray cluster, with Ray Data.

    celeb-datasets export celebv_hq --config clips --data-dir D --output E --engine ray [--ray-address ADDR]

The driver plans the build with the builder's own `_split_generators` (the sources, the slice, each
split's work items: see celeb_datasets.engines.work). Ray Data runs one task per work item, which makes
that item's rows with the builder's own `_generate_tables` (the same cutting, checks, downloads with
`fetch=True` and skip reasons) and sends them back with its skip lines. The driver streams the rows, in
order, into the shards every engine writes (celeb_datasets.shards), merges the skip lines into the skip
report, checks that every item the sources name is a row or a skip line, and writes the card: the same
export, byte for byte, as the datasets engine gives for the same build.

Configs served: every config whose builder gives its work as items, which is every config of both
datasets: CelebV-HQ `clips` (a task per YouTube video: what a cluster is for), CelebV-HQ `annotations`
(a task per 10,000 clips' labels: it works, but a single process is as fast), and CelebA-Dialog's `hq`,
`hq_masks`, `hq_labels`, `standard` and `standard_labels` (a task per 1,000 images, all three splits).

One item's rows are in flight per task, so memory stays bounded; a task whose worker dies is run again
(TASK_RETRIES times). The data folder must be readable at the same path on every node (or, for CelebV-HQ,
use `fetch=True`, which downloads each video on the node that cuts it).
"""

from __future__ import annotations

import dataclasses
import functools
import io
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from celeb_datasets.builder import CelebBuilder
from celeb_datasets.card import ExportedConfig
from celeb_datasets.engines.base import EngineSettings
from celeb_datasets.engines.work import BuildPlan, ItemRows, export_work_items, item_rows
from celeb_datasets.errors import CelebDatasetsError, OptionError
from celeb_datasets.options import option

# A task whose worker process dies (out of memory, a lost node) is run again this many times. Ray Data's
# default is without end, which an item that crashes its decoder every time would turn into a loop.
TASK_RETRIES = 3


@dataclasses.dataclass(frozen=True)
class RaySettings(EngineSettings):
    """The Ray engine's settings: the cluster, and those of every engine (`max_shard_size`)."""

    ray_address: str | None = option(
        None, "the Ray cluster to run on (none: the cluster of RAY_ADDRESS, else a local Ray on this machine's cores)"
    )


class RayEngine:
    """Makes a config's rows on a Ray cluster, one task per work item, and writes the export (module docstring)."""

    name = "ray"
    description = (
        "make the rows on a Ray cluster, a task per work item, and write the export directly "
        "(pip install 'celeb-datasets[ray]')"
    )
    settings_class = RaySettings

    def export(self, builder: CelebBuilder, export_dir: Path, settings: RaySettings) -> ExportedConfig:
        """Build the builder's config (or its slice) on the cluster and export it; what was exported."""
        ray = _import_ray()
        run = functools.partial(_run_on_ray, ray, settings.ray_address)
        return export_work_items(builder, export_dir, settings.max_shard_bytes, run)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise OptionError("--engine ray needs Ray Data: pip install 'celeb-datasets[ray]'") from None
    return ray


def _run_on_ray(ray: Any, address: str | None, builder: CelebBuilder, plan: BuildPlan) -> Iterator[ItemRows]:
    """A runner (celeb_datasets.engines.work): one Ray Data task per work item, results in the plan's order."""
    items = [
        {"split": index, "item": pickle.dumps(item)} for index, split in enumerate(plan.splits) for item in split.items
    ]
    if not items:
        return
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # results come in the plan's order, as datasets writes rows
    context.enable_progress_bars = False
    # Every task gets the builder and the splits' shared gen_kwargs (a few kilobytes); each its own item.
    splits = tuple(dataclasses.replace(split, items=()) for split in plan.splits)
    shared = dataclasses.replace(plan, splits=splits, expected_items=None)
    results = ray.data.from_items(items, override_num_blocks=len(items)).map(
        _item_task,
        fn_kwargs={"builder": pickle.dumps(builder), "plan": pickle.dumps(shared)},
        num_cpus=1,
        ray_remote_args_fn=lambda: {"max_retries": TASK_RETRIES},
    )
    for result in results.iter_rows():
        if result["error"]:
            raise pickle.loads(result["error"])
        rows = pa.ipc.open_stream(io.BytesIO(result["rows"])).read_all()
        yield ItemRows(result["split"], rows, pickle.loads(result["skips"]))


def _item_task(task: dict[str, Any], builder: bytes, plan: bytes) -> dict[str, Any]:
    """A Ray task: one work item's rows (as Arrow IPC bytes) and skip lines, made by the builder's own code."""
    try:
        made = item_rows(pickle.loads(builder), pickle.loads(plan), task["split"], pickle.loads(task["item"]))
    except CelebDatasetsError as error:
        # Sent back as a result: Ray would wrap it in its own exception, message and type buried.
        return {"split": task["split"], "rows": b"", "skips": b"", "error": pickle.dumps(error)}
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, made.rows.schema) as stream:
        stream.write_table(made.rows)
    return {"split": task["split"], "rows": sink.getvalue(), "skips": pickle.dumps(made.skips), "error": b""}
