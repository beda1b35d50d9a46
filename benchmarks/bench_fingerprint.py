"""What keying the cache by its sources costs: the fingerprint of a full-size download.

The `annotations` fingerprint reads the annotation file (about 20 MB) through a hash; the `clips` one
also lists every processed clip and raw video with its size and modification time. The download is
generated: a full-size `celebvhq_info.json` and 35,666 + 13,844 small media files (a file's size does
not change what listing it costs).

    python benchmarks/bench_fingerprint.py [--folder /tmp/celebvhq_fingerprint]

Baselines: preparing `annotations` (benchmarks/README.md: about 3 s), which the fingerprint adds to on every
builder creation; and the physical limits, reading the annotation file once and stat-ing every file.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from generate_celebvhq_info import write_full_size_annotation_file
from measure import best_of

from celeb_datasets.fingerprint import sources_fingerprint

PROCESSED_CLIPS = 35_666
RAW_VIDEOS = 13_844


def make_download(folder: Path) -> Path:
    annotation = folder / "celebvhq_info.json"
    if not annotation.exists():
        write_full_size_annotation_file(folder)
    for subfolder, count, stem in (("processed", PROCESSED_CLIPS, "clip"), ("raw", RAW_VIDEOS, "video")):
        (folder / subfolder).mkdir(parents=True, exist_ok=True)
        if len(os.listdir(folder / subfolder)) < count:
            for index in range(count):
                (folder / subfolder / f"{stem}{index:06d}.mp4").write_bytes(b"\0" * 64)
    return folder


def fingerprint_of(folder: str, config_name: str) -> str:
    """The fingerprint the builder computes for `config_name` of the download in `folder`."""
    from celebv_hq import CelebVHQ

    config = CelebVHQ.builder_configs[config_name]
    return sources_fingerprint(CelebVHQ.source_paths(config, folder), "version")


def fingerprint_annotations(folder: str) -> str:
    return fingerprint_of(folder, "annotations")


def fingerprint_clips(folder: str) -> str:
    return fingerprint_of(folder, "clips")


def read_annotation_file(folder: str) -> int:
    return len((Path(folder) / "celebvhq_info.json").read_bytes())


def stat_every_file(folder: str) -> int:
    count = 0
    for root, _, files in os.walk(folder):
        for name in files:
            os.stat(os.path.join(root, name))
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, default=Path("/tmp/celebvhq_fingerprint"))
    parser.add_argument("--runs", type=int, default=3)
    arguments = parser.parse_args()
    started = time.perf_counter()
    folder = str(make_download(arguments.folder))
    print(f"download ready in {time.perf_counter() - started:.1f} s: {folder}")
    annotations_prepare_sec = 3.00  # benchmarks/README.md, bench_celebv_hq.py annotations
    rows = [
        ("fingerprint `annotations` (hash the 20 MB file)", fingerprint_annotations, read_annotation_file),
        ("fingerprint `clips` (+ 49,510 media files listed)", fingerprint_clips, stat_every_file),
    ]
    print(f"{'work':52} {'ours':>8} {'limit':>8} {'x limit':>8} {'of prepare':>11} {'peak MB':>8}")
    for label, work, limit_work in rows:
        seconds, peak, _ = best_of(arguments.runs, work, folder, preload=())
        limit, _, _ = best_of(arguments.runs, limit_work, folder, preload=())
        share = seconds / annotations_prepare_sec
        print(f"{label:52} {seconds:7.3f}s {limit:7.3f}s {seconds / limit:7.2f}x {share:10.1%} {peak:8.0f}")
    print("limit: reading the annotation file once / stat-ing every file (os.walk); warm page cache.")
    print(f"reproduce: python benchmarks/bench_fingerprint.py --folder {folder}")


if __name__ == "__main__":
    main()
