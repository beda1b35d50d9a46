"""A build killed with SIGKILL mid-way: its workers end, and a rerun gives exactly a clean build."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from celebv_hq_fixtures import add_overlapping_clip

from celeb_datasets.skips import read_skip_report
from celebv_hq import CelebVHQ
from celebv_hq_lib.sample import make_celebv_hq_sample

# The build run in a child process: each YouTube video takes a second more than it needs, and the first
# one finished leaves a marker, so the test can kill the build mid-way every time.
SLOW_BUILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import celebv_hq

    real = celebv_hq.video_tables

    def slow_video_tables(*args):
        yield from real(*args)
        Path(sys.argv[3]).touch()
        time.sleep(1.0)

    celebv_hq.video_tables = slow_video_tables
    builder = celebv_hq.CelebVHQ(config_name="clips", data_dir=sys.argv[1], cache_dir=sys.argv[2])
    builder.download_and_prepare(num_proc=2)
    """
)


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def rows(builder: CelebVHQ) -> list[tuple[str, bytes]]:
    dataset = builder.as_dataset(split="train")
    return sorted((row["clip_id"], row["video"]["bytes"]) for row in dataset)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process tree from /proc")
def test_a_killed_build_leaves_no_worker_and_a_rerun_equals_a_clean_build(tmp_path: Path) -> None:
    download = make_celebv_hq_sample(tmp_path / "download", width=128, height=64)
    (download / "raw" / "HV150LwK8Kc.mp4").unlink()  # a missing video: skipped by the main process
    (download / "raw" / "I2hf-H8Xumk.mp4").write_bytes(b"\0" * 4096)  # unreadable: skipped by a worker
    add_overlapping_clip(download)
    marker = tmp_path / "one video done"
    command = [sys.executable, "-c", SLOW_BUILD, str(download), str(tmp_path / "cache"), str(marker)]
    build = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert build.poll() is None, "the build ended before it could be killed"
            assert time.monotonic() < deadline, "the build never finished a video"
            time.sleep(0.05)
        workers = children(build.pid)
        assert workers, "the build runs its worker processes"
        os.kill(build.pid, signal.SIGKILL)
        build.wait()
        deadline = time.monotonic() + 10
        while any(alive(worker) for worker in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(alive(worker) for worker in workers), "the workers outlived the killed build"
    finally:
        if build.poll() is None:
            build.kill()
    assert not list((tmp_path / "cache").rglob("dataset_info.json")), "a killed build must not look finished"

    rerun = CelebVHQ(config_name="clips", data_dir=str(download), cache_dir=str(tmp_path / "cache"))
    rerun.download_and_prepare(num_proc=2)
    clean = CelebVHQ(config_name="clips", data_dir=str(download), cache_dir=str(tmp_path / "clean"))
    clean.download_and_prepare(num_proc=2)
    assert rows(rerun) == rows(clean)
    assert read_skip_report(rerun.skip_report) == read_skip_report(clean.skip_report)
    assert len(read_skip_report(rerun.skip_report)) == 2
    assert sorted(p.name for p in Path(rerun.cache_dir).iterdir()) == sorted(
        p.name for p in Path(clean.cache_dir).iterdir()
    )
    assert not list((tmp_path / "cache").rglob("*.incomplete"))
