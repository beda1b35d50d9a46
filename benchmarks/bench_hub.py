"""Benchmark the Hub layout: loading an export, the first streamed video row, and export throughput.

    python benchmarks/bench_hub.py                     # full-size annotations (35,666 clips), 48 video clips
    python benchmarks/bench_hub.py --clips 2000 --videos 8

What is measured, each in a fresh process (so peak memory is that work's own):
- `load_dataset(export_dir, "annotations")` on a generated full-size annotation set, against reading
  the same Parquet shards with `pyarrow.parquet.read_table` (the least any loader must do);
- the first row of a streamed `clips` config, against reading the first row group of its shard;
- export throughput in MB/s (Parquet bytes written per second) of `export(builder)` for `clips`,
  against `pyarrow.parquet.write_table` of the same Arrow table.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate_celebvhq_info import write_full_size_annotation_file
from measure import in_fresh_process

# The generated clips are one 6 s video copied under every clip id, whatever its annotated times: kept as
# they are (the clips' checks are `bench_celebv_hq.py checks`' subject, not this benchmark's).
_OPTIONS = {"on_mismatch": "keep"}


def prepare(data_dir: str, cache_dir: str, config: str) -> None:
    from celebv_hq import CelebVHQ

    CelebVHQ(config_name=config, data_dir=data_dir, cache_dir=cache_dir, **_OPTIONS).download_and_prepare()


def export_config(data_dir: str, cache_dir: str, config: str, export_dir: str) -> float:
    """Export a prepared config; returns the Parquet bytes written."""
    from celeb_datasets.hub import export
    from celebv_hq import CelebVHQ

    builder = CelebVHQ(config_name=config, data_dir=data_dir, cache_dir=cache_dir, **_OPTIONS)
    exported = export(builder, export_dir)
    return float(sum(split.file_bytes for split in exported.splits))


def write_table_baseline(data_dir: str, cache_dir: str, config: str, path: str) -> float:
    """The same rows written by a bare `pyarrow.parquet.write_table`; returns bytes written."""
    import pyarrow.parquet as pq

    from celebv_hq import CelebVHQ

    dataset = CelebVHQ(config_name=config, data_dir=data_dir, cache_dir=cache_dir, **_OPTIONS).as_dataset(split="train")
    pq.write_table(dataset.data.table, path)
    return float(Path(path).stat().st_size)


def load_export(export_dir: str, config: str, cache_dir: str) -> float:
    import datasets

    return float(datasets.load_dataset(export_dir, config, split="train", cache_dir=cache_dir).num_rows)


def read_parquet_baseline(export_dir: str, config: str) -> float:
    import pyarrow.parquet as pq

    return float(pq.read_table(Path(export_dir) / config).num_rows)


def first_streamed_row(export_dir: str, config: str) -> float:
    import datasets

    row = next(iter(datasets.load_dataset(export_dir, config, split="train", streaming=True)))
    return float(len(row["video"]["bytes"]))


def first_row_group_baseline(export_dir: str, config: str) -> float:
    import pyarrow.parquet as pq

    first = sorted((Path(export_dir) / config).glob("*.parquet"))[0]
    batch = next(pq.ParquetFile(first).iter_batches(batch_size=1))
    return float(len(batch.column("video")[0]["bytes"].as_py()))


def make_video_download(folder: Path, videos: int) -> None:
    """A download of `videos` processed 512x512, 6 s clips: one encoded file, each copy made unique.

    Each copy ends with its own MP4 `free` box (ignored by players), so that no Parquet writer can
    store identical copies once through dictionary encoding, which would flatter the baseline.
    """
    import json
    import struct

    from celebv_hq_lib.sample import write_indexed_video

    write_full_size_annotation_file(folder, clips=videos, seed=1)
    clip_ids = list(json.loads((folder / "celebvhq_info.json").read_text())["clips"])
    source = write_indexed_video(folder / "source.mp4", duration_sec=6, width=512, height=512, fps=25, audio_rate=None)
    encoded = source.read_bytes()
    (folder / "processed").mkdir(exist_ok=True)
    for clip_id in clip_ids:
        marker = clip_id.encode()
        free_box = struct.pack(">I", 8 + len(marker)) + b"free" + marker
        (folder / "processed" / f"{clip_id}.mp4").write_bytes(encoded + free_box)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=35666, help="annotation clips (default: full size)")
    parser.add_argument("--videos", type=int, default=48, help="clips with video in the `clips` export")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best is kept")
    arguments = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-hub-"))
    try:
        annotations, videos = work / "annotations", work / "videos"
        write_full_size_annotation_file(annotations, clips=arguments.clips)
        make_video_download(videos, arguments.videos)
        for data_dir, config in ((annotations, "annotations"), (videos, "clips")):
            in_fresh_process(prepare, str(data_dir), str(work / "cache"), config)
        export_dir = work / "export"
        in_fresh_process(export_config, str(annotations), str(work / "cache"), "annotations", str(export_dir))

        def best(
            function: Callable[..., float | None], *args: Any, fresh: Path | None = None
        ) -> tuple[float, float, Any]:
            runs = []
            for _ in range(arguments.repeat):
                if fresh is not None:
                    shutil.rmtree(fresh, ignore_errors=True)
                runs.append(in_fresh_process(function, *args))
            return min(runs, key=lambda run: run[0])

        rows = []
        load = best(load_export, str(export_dir), "annotations", str(work / "load-cache"), fresh=work / "load-cache")
        read = best(read_parquet_baseline, str(export_dir), "annotations")
        rows.append((f"load_dataset(export, 'annotations'), {arguments.clips:,} rows", load, read, "s"))

        ours = best(export_config, str(videos), str(work / "cache"), "clips", str(export_dir))
        plain = best(write_table_baseline, str(videos), str(work / "cache"), "clips", str(work / "plain.parquet"))
        as_rate = lambda run: (run[2] / 1e6 / run[0], run[1], run[2])  # noqa: E731
        rows.append(
            (
                f"export 'clips' ({arguments.videos} videos, {ours[2] / 1e6:.0f} MB), MB/s",
                as_rate(ours),
                as_rate(plain),
                "MB/s",
            )
        )

        first = best(first_streamed_row, str(export_dir), "clips")
        group = best(first_row_group_baseline, str(export_dir), "clips")
        rows.append(("first row of streamed 'clips'", first, group, "s"))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"{'work':<58} {'ours':>10} {'baseline':>10} {'ratio':>7} {'peak MB':>8}  baseline")
    baselines = ("pyarrow.parquet.read_table", "pyarrow.parquet.write_table", "first row group via pyarrow")
    for (name, ours_run, base_run, unit), baseline in zip(rows, baselines, strict=True):
        ratio = ours_run[0] / base_run[0] if unit == "s" else base_run[0] / ours_run[0]
        suffix = "s" if unit == "s" else " "
        print(
            f"{name:<58} {ours_run[0]:>8.3f}{suffix} {base_run[0]:>8.3f}{suffix} {ratio:>6.2f}x {ours_run[1]:>8.0f}"
            f"  {baseline}"
        )
    print("ratio: how many times slower than the baseline (time ours/baseline; throughput baseline/ours)")
    print(f"reproduce: python benchmarks/bench_hub.py --clips {arguments.clips} --videos {arguments.videos}")


if __name__ == "__main__":
    main()
