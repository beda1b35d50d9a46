"""Export CelebV-HQ `clips` with Ray Data: the YouTube videos are cut on every core of a Ray cluster.

    celeb-datasets export celebv_hq --config clips --data-dir D --output E --engine ray [--ray-address ADDR]

The driver plans the build as the builder does (`celebv_hq.plan_clips`: the annotation file, the slice,
each clip's video), Ray Data runs one task per YouTube video that makes that video's rows with the
builder's own `celebv_hq.video_tables` (same cutting, checks, downloads with `fetch=True` and skip
reasons), and the driver writes the rows as they stream back into the shards, card and skip report that
`export` writes. One video's clips are in flight per task, so memory stays bounded; a task whose worker
dies is run again by Ray. Every clip ends as a row or a skip-report line, checked at the end. The data
folder must be readable at the same path on every node (or use `fetch=True`, which downloads each video
on the node that cuts it).
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa

from celeb_datasets.builder import check_accounting
from celeb_datasets.card import ExportedConfig
from celeb_datasets.datasets_internals import get_writer_batch_size_from_features
from celeb_datasets.errors import CelebDatasetsError, OptionError
from celeb_datasets.hub import DEFAULT_MAX_SHARD_SIZE, install_export, new_staging, parquet_writer, registered_name
from celeb_datasets.skips import (
    SkipLog,
    count_by_kind,
    keep_skip_report,
    merge_skip_report,
    read_skip_report,
    summarize_skips,
)

logger = logging.getLogger("celeb_datasets")

# A task whose worker process dies (out of memory, a lost node) is run again this many times. Ray Data's
# default is without end, which a video that crashes its decoder every time would turn into a loop.
TASK_RETRIES = 3


def export_with_ray(
    builder: Any,
    export_dir: str | os.PathLike[str],
    *,
    max_shard_size: str | int = DEFAULT_MAX_SHARD_SIZE,
    address: str | None = None,
) -> ExportedConfig:
    """Cut and export the `clips` config of a CelebV-HQ builder with Ray Data (see the module docstring).

    `address` is a Ray cluster's address (None: the cluster of RAY_ADDRESS, or a local one on this
    machine's cores). Gives what `export` gives for the same builder: the same rows, shards, card.
    """
    import celebv_hq
    from celeb_datasets.options import parse_byte_size
    from celebv_hq_lib.clips import plan_clips

    ray = _import_ray()
    if not builder.config.with_video:
        raise OptionError("--engine ray cuts clips: use it with --config clips (annotations needs no cluster)")
    max_bytes = parse_byte_size("max_shard_size", max_shard_size)
    export_dir = Path(export_dir)
    with tempfile.TemporaryDirectory(prefix="celeb-datasets-ray-") as work:
        skips = SkipLog(work, celebv_hq.SKIP_REPORT_COLUMNS)
        clips, videos = plan_clips(builder.config, skips)
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        staging = new_staging(export_dir, registered_name(builder), builder)
        try:
            rows_ids = _write_shards(ray, builder, videos, staging, max_bytes, Path(work))
            report, counts = merge_skip_report(work, celebv_hq.SKIP_REPORT_COLUMNS)
            what = f"CelebV-HQ clips (Ray) from {builder.config.data_dir}"
            check_accounting(what, [clip.clip_id for clip in clips], rows_ids, read_skip_report(report), builder)
            if not rows_ids:
                skipped = f"{sum(counts.values()):,} skipped ({count_by_kind(counts)})" if counts else "none named"
                # The report is in `work`, deleted on the way out: the refusal names a copy beside the export.
                kept = keep_skip_report(report, export_dir / f"skip_report.{builder.config.name}.refused.tsv")
                raise CelebDatasetsError(
                    f"{what}: 0 written, {skipped}; skip report: {kept}. No row could be built. {builder.NO_ROWS_HINT}"
                )
            kept = export_dir / f"skip_report.{builder.config.name}.tsv"
            logger.log(logging.WARNING if counts else logging.INFO, summarize_skips(what, len(rows_ids), counts, kept))
            part = builder.config.slice
            return install_export(export_dir, type(builder), staging, builder.config.name, part, report)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise OptionError("--engine ray needs Ray Data: pip install 'celeb-datasets[ray]'") from None
    return ray


def _write_shards(ray: Any, builder: Any, videos: list[Any], staging: Path, max_bytes: int, work: Path) -> list[str]:
    """Cut the videos on the cluster and write their rows as `train-NNNNN-of-NNNNN.parquet` into `staging`.

    Returns the clip ids written; the tasks' skip lines go into `work`'s skip report parts.
    """
    features = builder.info.features
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # the shards hold the videos in the annotation order
    context.enable_progress_bars = False
    items = [{"video": pickle.dumps(video)} for video in videos]
    results = ray.data.from_items(items, override_num_blocks=max(1, len(items))).map(
        _video_rows,
        fn_kwargs={"config": pickle.dumps(builder.config), "features": pickle.dumps(features)},
        num_cpus=1,
        ray_remote_args_fn=lambda: {"max_retries": TASK_RETRIES},
    )
    skips = SkipLog(work, builder.SKIP_REPORT_COLUMNS)
    shards = _ShardWriter(staging, features, max_bytes)
    row_ids: list[str] = []
    with shards:
        for result in results.iter_rows():
            if result["error"]:
                raise pickle.loads(result["error"])
            for line in pickle.loads(result["skips"]):
                skips.record(*line)
            table = pa.ipc.open_stream(io.BytesIO(result["rows"])).read_all()
            row_ids += table.column("clip_id").to_pylist()
            shards.add(table)
    return row_ids


class _ShardWriter:
    """Rows streamed into `train-NNNNN-of-NNNNN.parquet` shards of about `max_bytes`, in row groups as
    `export` writes them (so the shards, and the card's sizes, are the same)."""

    def __init__(self, folder: Path, features: Any, max_bytes: int) -> None:
        self.folder, self.features, self.max_bytes = folder, features, max_bytes
        self.rows_per_group = get_writer_batch_size_from_features(features) or 1_000
        self.pending: list[pa.Table] = []
        self.shards: list[Path] = []
        self.writer: Any = None
        self.written = 0

    def add(self, table: pa.Table) -> None:
        self.pending.append(table)
        if sum(len(t) for t in self.pending) >= self.rows_per_group:
            self._flush(all_rows=False)

    def _flush(self, all_rows: bool) -> None:
        rows = pa.concat_tables(self.pending) if self.pending else None
        self.pending = []
        while rows is not None and (len(rows) >= self.rows_per_group or (all_rows and len(rows))):
            group, rows = rows.slice(0, self.rows_per_group), rows.slice(self.rows_per_group)
            if self.writer is None or self.written >= self.max_bytes:
                self._next_shard()
            self.writer.write_table(group)
            self.written += group.nbytes
        if rows is not None and len(rows):
            self.pending = [rows]

    def _next_shard(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.shards.append(self.folder / f"train-{len(self.shards):05d}.partial")
        self.writer, self.written = parquet_writer(self.shards[-1], self.features), 0

    def __enter__(self) -> _ShardWriter:
        return self

    def __exit__(self, kind: Any, *_: Any) -> None:
        if kind is None:
            self._flush(all_rows=True)
        if self.writer is not None:
            self.writer.close()
        for index, shard in enumerate(self.shards):
            shard.rename(self.folder / f"train-{index:05d}-of-{len(self.shards):05d}.parquet")


def _video_rows(item: dict[str, Any], config: bytes, features: bytes) -> dict[str, Any]:
    """A Ray task: one YouTube video's rows (as Arrow IPC bytes) and skip lines, made by the builder's code."""
    import celebv_hq

    video = pickle.loads(item["video"])
    schema = pickle.loads(features).arrow_schema
    with tempfile.TemporaryDirectory(prefix="celeb-datasets-task-") as folder:
        skips = SkipLog(folder, celebv_hq.SKIP_REPORT_COLUMNS)
        try:
            tables = list(celebv_hq.video_tables(video, pickle.loads(config), pickle.loads(features), skips))
        except CelebDatasetsError as error:
            # Sent back as a result: Ray would wrap it in its own exception, message and type buried.
            return {"rows": b"", "skips": pickle.dumps([]), "error": pickle.dumps(error)}
        rows = pa.concat_tables(tables) if tables else schema.empty_table()
        report, _ = merge_skip_report(folder, celebv_hq.SKIP_REPORT_COLUMNS)
        lines = [tuple(line.values()) for line in read_skip_report(report)]
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, rows.schema) as stream:
        stream.write_table(rows)
    return {"rows": sink.getvalue(), "skips": pickle.dumps(lines), "error": b""}
