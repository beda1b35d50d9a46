"""A build interrupted mid-way: killed with SIGKILL, its workers end and a rerun gives exactly a clean
build; stopped with Ctrl-C or SIGTERM, the command ends with one line, exit 130, and no worker left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from celebv_hq_fixtures import add_overlapping_clip, copy_of_the_sample

from celeb_datasets.skips import read_skip_report
from celebv_hq import CelebVHQ

# Run in a child process before a build: each YouTube video takes a second more than it needs, and the first
# one finished leaves a marker (argv[1]), so a test can stop the build mid-way every time.
SLOWED_VIDEOS = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import celebv_hq

    real = celebv_hq.video_tables

    def slow_video_tables(*args):
        yield from real(*args)
        Path(sys.argv[1]).touch()
        time.sleep(1.0)

    celebv_hq.video_tables = slow_video_tables
    """
)
# A build with workers: argv[2] is the data folder, argv[3] the cache folder.
SLOW_BUILD = SLOWED_VIDEOS + textwrap.dedent(
    """
    builder = celebv_hq.CelebVHQ(config_name="clips", data_dir=sys.argv[2], cache_dir=sys.argv[3])
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
    download = copy_of_the_sample(tmp_path / "download", width=128, height=64)
    (download / "raw" / "HV150LwK8Kc.mp4").unlink()  # a missing video: skipped by the main process
    (download / "raw" / "I2hf-H8Xumk.mp4").write_bytes(b"\0" * 4096)  # unreadable: skipped by a worker
    add_overlapping_clip(download)
    marker = tmp_path / "one video done"
    command = [sys.executable, "-c", SLOW_BUILD, str(marker), str(download), str(tmp_path / "cache")]
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


# The command line, as slow: argv[1] is the marker, the rest the command.
SLOW_COMMAND = SLOWED_VIDEOS + textwrap.dedent(
    """
    from celeb_datasets.cli import main

    sys.exit(main(sys.argv[2:]))
    """
)


@pytest.fixture(scope="module")
def small_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_of_the_sample(tmp_path_factory.mktemp("sample") / "download", width=128, height=64)


def interrupt_mid_build(command: list[str], marker: Path, number: signal.Signals, whole_group: bool) -> tuple[int, str]:
    """Run `command` in a session of its own, send it `number` once a worker has finished a video (to every
    process, as a terminal's Ctrl-C does, or to the command's process alone, as `kill` does), and check that
    no process of the command outlives it. Its exit code and stderr."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert process.poll() is None, process.stderr.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the build never finished a video"
            time.sleep(0.05)
        workers = children(process.pid)
        assert len(workers) >= 2, "the build runs its worker processes"
        if whole_group:
            os.killpg(process.pid, number)
        else:
            process.send_signal(number)
        _, stderr = process.communicate(timeout=60)
        deadline = time.monotonic() + 10
        while any(alive(worker) for worker in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(alive(worker) for worker in workers), "a worker outlived the interrupted command"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, stderr.decode()


INTERRUPTED_LINE = "interrupted: run the same command again (a build starts over, a download resumes)\n"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process tree from /proc")
@pytest.mark.parametrize("command", ["prepare", "export"])
@pytest.mark.parametrize(
    ("number", "whole_group"), [(signal.SIGINT, True), (signal.SIGTERM, False), (signal.SIGHUP, False)],
    ids=["Ctrl-C", "SIGTERM", "SIGHUP"],
)  # fmt: skip
def test_an_interrupted_command_ends_with_one_line_exit_130_and_no_worker_left(
    small_sample: Path, tmp_path: Path, command: str, number: signal.Signals, whole_group: bool
) -> None:
    marker = tmp_path / "one video done"
    arguments = [command, "celebv_hq", "--config", "clips", "--data-dir", str(small_sample), "--num-proc", "2"]
    arguments += ["--cache-dir", str(tmp_path / "cache"), "--quiet"]
    if command == "export":
        arguments += ["--output", str(tmp_path / "export")]
    exit_code, stderr = interrupt_mid_build(
        [sys.executable, "-c", SLOW_COMMAND, str(marker), *arguments], marker, number, whole_group
    )
    assert (exit_code, stderr) == (130, INTERRUPTED_LINE)
    assert not list((tmp_path / "cache").rglob("dataset_info.json")), "an interrupted build must not look finished"
    assert not (tmp_path / "export").exists()


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process tree from /proc")
def test_ctrl_c_during_a_build_with_workers_is_a_keyboard_interrupt_in_python(
    small_sample: Path, tmp_path: Path
) -> None:
    # datasets' pool, interrupted while it waits for its workers, raises a TimeoutError of its own.
    script = SLOW_BUILD.replace(
        "builder.download_and_prepare(num_proc=2)",
        "try:\n    builder.download_and_prepare(num_proc=2)\n"
        "except BaseException as error:\n    print(type(error).__name__, file=sys.stderr)\n    sys.exit(3)",
    )
    marker = tmp_path / "one video done"
    command = [sys.executable, "-c", script, str(marker), str(small_sample), str(tmp_path / "cache")]
    exit_code, stderr = interrupt_mid_build(command, marker, signal.SIGINT, whole_group=True)
    assert (exit_code, stderr) == (3, "KeyboardInterrupt\n")
