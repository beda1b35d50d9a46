"""The Ray engine gives the export the datasets engine gives, byte for byte, and survives faults (slow:
starts a local Ray, or a Ray head on loopback in a subprocess)."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import datasets
import pytest
from celeba_dialog_fixtures import make_hq_download
from celebv_hq_fixtures import (
    add_overlapping_clip,
    copy_of_the_sample,
    make_record,
    write_annotation_file,
    write_sample_download,
)
from cli_process import run_command
from export_helpers import export_files, run_in_process
from ray_faults import FaultyCelebVHQ
from video_server import VideoServer

from celeb_datasets import registry
from celeb_datasets.cli import main
from celeb_datasets.engines import DatasetsEngine, DatasetsSettings, RayEngine, RaySettings
from celeb_datasets.engines.work import export_work_items, plan_build
from celeb_datasets.hub import export
from celeb_datasets.skips import read_skip_report
from celeba_dialog import CelebADialog
from celebv_hq import CelebVHQ

ray = pytest.importorskip("ray")
TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def local_ray() -> object:
    # The workers import the tests' fault-injecting builder (tests/ray_faults.py) when they unpickle it.
    path = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_export_with_ray_and_quiet_leaves_only_errors_on_stderr(tmp_path: Path) -> None:
    output = tmp_path / "export"
    copy_of_the_sample(tmp_path / "sample")  # laid out already, as by an earlier --sample (generating takes seconds)
    command = ["export", "celebv_hq", "--sample", str(tmp_path / "sample"), "--config", "annotations"]
    command += ["--engine", "ray", "--cache-dir", str(tmp_path / "cache"), "--output", str(output), "--quiet"]
    finished = run_command(command)  # a local Ray of its own, as a user's
    assert (finished.returncode, finished.stderr) == (0, "")  # no "Started a local Ray instance", no warning
    assert "celebv_hq/annotations train: 6 rows" in finished.stdout


def rows(folder: Path) -> list[dict]:
    loaded = datasets.load_dataset(str(folder), "clips", split="train")
    return sorted(loaded.to_list(), key=lambda row: row["clip_id"])


@pytest.mark.slow
def test_both_engines_give_the_same_export(local_ray: object, tmp_path: Path) -> None:
    download = copy_of_the_sample(tmp_path / "download", width=128, height=64)
    (download / "raw" / "HV150LwK8Kc.mp4").unlink()  # missing
    (download / "raw" / "I2hf-H8Xumk.mp4").write_bytes(b"\0" * 4096)  # corrupt
    add_overlapping_clip(download)
    builder = CelebVHQ(config_name="clips", data_dir=str(download), cache_dir=str(tmp_path / "cache"))
    builder.download_and_prepare()
    export(builder, tmp_path / "datasets")
    arguments = ["export", "celebv_hq", "--config", "clips", "--data-dir", str(download), "--engine", "ray"]
    assert main([*arguments, "--output", str(tmp_path / "ray"), "--quiet"]) == 0

    by_ray, by_datasets = rows(tmp_path / "ray"), rows(tmp_path / "datasets")
    assert len(by_ray) == 5 and by_ray == by_datasets  # video bytes included, two clips overlapping
    assert read_skip_report(tmp_path / "ray" / "skip_report.clips.tsv") == read_skip_report(builder.skip_report)
    card = lambda folder: (folder / "README.md").read_text()  # noqa: E731
    assert card(tmp_path / "ray") == card(tmp_path / "datasets")


@pytest.mark.slow
def test_an_error_in_a_ray_task_is_raised_as_it_was(local_ray: object, tmp_path: Path) -> None:
    from celeb_datasets.errors import UnreadableMediaError

    download = copy_of_the_sample(tmp_path / "download", width=128, height=64)
    (download / "raw" / "I2hf-H8Xumk.mp4").write_bytes(b"\0" * 4096)  # corrupt
    builder = CelebVHQ(config_name="clips", data_dir=str(download), cache_dir=str(tmp_path / "c"), on_missing="error")
    with pytest.raises(UnreadableMediaError, match=r"YouTube video I2hf-H8Xumk\): unreadable"):
        RayEngine().export(builder, tmp_path / "ray", RaySettings())
    assert not (tmp_path / "ray" / "clips").exists()


@pytest.mark.slow
def test_no_usable_video_is_refused_as_by_the_builder(local_ray: object, tmp_path: Path) -> None:
    from celeb_datasets.errors import CelebDatasetsError

    download = copy_of_the_sample(tmp_path / "download", width=128, height=64)
    for video in (download / "raw").iterdir():
        video.unlink()
    builder = CelebVHQ(config_name="clips", data_dir=str(download), cache_dir=str(tmp_path / "c"))
    # The builder's words (tests/test_celebv_hq.py): both end a build with skips.finish_build.
    kept = tmp_path / "ray" / ".celeb_datasets" / "skip_report.clips.refused.tsv"  # not among the export's files
    expected = r"^CelebV-HQ clips: 0 written, 6 skipped \(6 missing\); skip report: (?P<kept>.*)\. No row could be "
    expected += r"built\. Put processed clips in processed/\{clip_id\}\.mp4 or raw videos in raw/\{ytb_id\}\.mp4$"
    with pytest.raises(CelebDatasetsError, match=expected) as error:
        RayEngine().export(builder, tmp_path / "ray", RaySettings())
    assert f"skip report: {kept}." in str(error.value)
    assert len(kept.read_text().splitlines()) == 1 + 6


@pytest.mark.slow
def test_a_slice_that_names_no_clip_is_exported_as_present_without_shards_by_both_engines(
    local_ray: object, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    download = copy_of_the_sample(tmp_path / "download", width=128, height=64)
    # 10 slices of the sample's 6 YouTube videos: the last slices have none, and count as present once exported
    # (else 10 slices could never make the whole config).
    builder = CelebVHQ(config_name="clips", data_dir=str(download), cache_dir=str(tmp_path / "c"), slice="9/10")
    builder.download_and_prepare()
    for exported in (
        export(builder, tmp_path / "datasets"),
        RayEngine().export(builder, tmp_path / "ray", RaySettings()),
    ):
        assert exported.splits == () and exported.availability is not None
        assert exported.availability.slices_present == (9,) and exported.availability.named == 0
    assert caplog.text.count("celebv_hq/clips slice 9/10: no row could be built, so it has no shard") == 2
    assert export_files(tmp_path / "datasets") == export_files(tmp_path / "ray")
    assert not (tmp_path / "ray" / "clips").exists() and not (tmp_path / "ray" / "README.md").exists()


@pytest.mark.slow
def test_ray_cuts_the_items_below_a_video_that_the_datasets_engine_cuts(local_ray: object, tmp_path: Path) -> None:
    from celebv_hq_lib.sample import write_indexed_video

    # One video of five clips too costly for one item (at most 2 modelled core-seconds): three items of one, two
    # and two clips.
    records = {
        f"splitVideo1_{index}": make_record("splitVideo1", 0.5 + 4 * index, 3.5 + 4 * index) for index in range(5)
    }
    write_annotation_file(tmp_path / "download", records)
    write_indexed_video(tmp_path / "download" / "raw" / "splitVideo1.mp4", duration_sec=22, width=96, height=64, fps=10)
    builder = CelebVHQ(
        config_name="clips", data_dir=str(tmp_path / "download"), cache_dir=str(tmp_path), max_item_cost=2.0
    )
    plan = plan_build(builder, tmp_path / "skips")
    assert [len(item.clips) for _, item in plan.items()] == [1, 2, 2]
    common = ["export", "celebv_hq", "--config", "clips", "--data-dir", str(tmp_path / "download"), "--quiet"]
    common += ["--cache-dir", str(tmp_path / "cache"), "--max-item-cost", "2"]
    assert main([*common, "--output", str(tmp_path / "datasets")]) == 0
    assert main([*common, "--output", str(tmp_path / "ray"), "--engine", "ray"]) == 0

    # In the same order (the plan's), every clip once, byte for byte (video included): the same items, cut alike.
    assert export_files(tmp_path / "ray") == export_files(tmp_path / "datasets")
    loaded = datasets.load_dataset(str(tmp_path / "ray"), "clips", split="train")
    assert loaded["clip_id"] == [f"splitVideo1_{i}" for i in range(5)]


def both_engines(builder_class: type, config: str, data_dir: Path, folder: Path, **settings: object) -> list[dict]:
    """Export `config` with each engine into its own folder under `folder`; the two folders' files."""
    exports = []
    for engine, settings_class in ((DatasetsEngine(), DatasetsSettings), (RayEngine(), RaySettings)):
        builder = builder_class(config_name=config, data_dir=str(data_dir), cache_dir=str(folder / "cache"))
        engine.export(builder, folder / engine.name, settings_class(**settings))
        exports.append(export_files(folder / engine.name))
    return exports


@pytest.mark.slow
def test_both_engines_give_the_same_celeba_dialog_export_in_every_split(local_ray: object, tmp_path: Path) -> None:
    # A missing image (left out while planning) and a damaged one (left out by its work item).
    download = make_hq_download(tmp_path / "download", drop_images=(6,), replace={"image/3.jpg": b"not a jpeg"})
    by_datasets, by_ray = both_engines(CelebADialog, "hq", download, tmp_path, max_shard_size=4000)
    assert by_ray == by_datasets  # shards, card and skip report, byte for byte
    shards = [name for name in by_ray if name.endswith(".parquet")]
    assert {name.split("/")[1].split("-")[0] for name in shards} == {"train", "validation", "test"}
    assert len(shards) > 3  # several shards per split: the shard writer's boundaries agree too
    assert (
        "6.jpg\tno image" in by_ray["skip_report.hq.tsv"].decode()
        and "3.jpg\tunreadable" in by_ray["skip_report.hq.tsv"].decode()
    )


@pytest.mark.slow
def test_both_engines_give_the_same_annotations_export(local_ray: object, tmp_path: Path) -> None:
    download = write_sample_download(tmp_path / "download")
    by_datasets, by_ray = both_engines(CelebVHQ, "annotations", download, tmp_path)
    assert by_ray == by_datasets and "annotations/train-00000-of-00001.parquet" in by_ray


@pytest.mark.slow
def test_ray_slices_of_clips_make_the_datasets_engine_export(local_ray: object, tmp_path: Path) -> None:
    download = copy_of_the_sample(tmp_path / "download", width=128, height=64)
    (download / "raw" / "HV150LwK8Kc.mp4").unlink()  # missing
    common = ["export", "celebv_hq", "--config", "clips", "--data-dir", str(download), "--quiet"]
    common += ["--cache-dir", str(tmp_path / "cache")]
    assert main([*common, "--output", str(tmp_path / "datasets")]) == 0
    for part in ("1/2", "0/2"):
        assert main([*common, "--output", str(tmp_path / "ray"), "--engine", "ray", "--slice", part]) == 0

    by_ray, by_datasets = rows(tmp_path / "ray"), rows(tmp_path / "datasets")
    assert len(by_ray) == 5 and by_ray == by_datasets  # video bytes included
    skips = read_skip_report(tmp_path / "ray" / "skip_report.clips.tsv")
    assert skips == read_skip_report(tmp_path / "datasets" / "skip_report.clips.tsv") and len(skips) == 1


# ---------------------------------------------------------------------------------------------------
# Faults: a worker killed mid-task, a task raising an error the package does not expect.


def faulty_builder(download: Path, tmp_path: Path, faults: dict[str, str]) -> FaultyCelebVHQ:
    (tmp_path / "faults").mkdir(exist_ok=True)
    return FaultyCelebVHQ(
        config_name="clips",
        data_dir=str(download),
        cache_dir=str(tmp_path / "cache"),
        fault_folder=str(tmp_path / "faults"),
        faults=faults,
    )


@pytest.fixture
def faulty_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The sample's labels with tiny processed clips (one missing, one damaged), exported as celebv_hq by
    the fault-injecting builder."""
    monkeypatch.setitem(registry.BUILDERS, "celebv_hq", "ray_faults:FaultyCelebVHQ")
    download = write_sample_download(tmp_path / "download", with_videos=True)
    (download / "processed" / "M2Ohb0FAaJU_1.mp4").unlink()  # missing
    (download / "processed" / "_0tf2n3rlJU_0.mp4").write_bytes(b"\0" * 512)  # unreadable
    return download


def kill_when_it_writes_its_pid(pid_file: Path, killed: list[int]) -> threading.Thread:
    def kill() -> None:
        for _ in range(600):
            if pid_file.exists():
                pid = int(pid_file.read_text())
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.1)

    killer = threading.Thread(target=kill, daemon=True)
    killer.start()
    return killer


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["kill", "raise"])
def test_a_task_killed_or_failing_unexpectedly_is_run_again_and_every_clip_is_written_once(
    local_ray: object, faulty_download: Path, tmp_path: Path, fault: str
) -> None:
    expected = tmp_path / "expected"
    export_work_items(faulty_builder(faulty_download, tmp_path, {}), expected, 10**9, run_in_process)
    builder = faulty_builder(faulty_download, tmp_path, {"dvbePi1o_Q0": fault, "_0tf2n3rlJU": fault})
    killed: list[int] = []
    killers = [kill_when_it_writes_its_pid(tmp_path / "faults" / f"{ytb_id}.pid", killed) for ytb_id in builder.faults]
    RayEngine().export(builder, tmp_path / "ray", RaySettings())
    for killer in killers:
        killer.join(timeout=0.1)
    assert len(killed) == (2 if fault == "kill" else 0)
    assert sorted(path.name for path in (tmp_path / "faults").glob("*.attempted")) == [
        "_0tf2n3rlJU.attempted", "dvbePi1o_Q0.attempted",
    ]  # fmt: skip
    # The failed attempts' rows and skip lines are gone: each clip once, the report as without faults.
    assert export_files(tmp_path / "ray") == export_files(expected)
    report = read_skip_report(tmp_path / "ray" / "skip_report.clips.tsv")
    assert [(line["clip_id"], line["kind"]) for line in report] == [
        ("M2Ohb0FAaJU_1", "missing"), ("_0tf2n3rlJU_0", "unreadable"),
    ]  # fmt: skip


@pytest.mark.slow
def test_a_task_failing_at_every_attempt_stops_the_export_naming_its_item(
    local_ray: object, faulty_download: Path, tmp_path: Path
) -> None:
    from celeb_datasets.errors import CelebDatasetsError

    builder = faulty_builder(faulty_download, tmp_path, {"dvbePi1o_Q0": "raise always"})
    expected = (
        r"^YouTube video dvbePi1o_Q0 \(clips dvbePi1o_Q0_1\): its Ray task failed 4 times, the last with "
        r"RuntimeError: an unexpected fault in the work item of dvbePi1o_Q0; nothing was installed into .*ray$"
    )
    with pytest.raises(CelebDatasetsError, match=expected):
        RayEngine().export(builder, tmp_path / "ray", RaySettings())
    assert not (tmp_path / "ray" / "clips").exists()


# ---------------------------------------------------------------------------------------------------
# Bounded waits: a cluster that cannot be reached, refuses the driver, or is lost mid-export. The driver is
# the command line in a process of its own (as users run it), the cluster a Ray head in another.

WORKTREE = TESTS.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def ray_head(token: str) -> Iterator[int]:
    """A Ray head on loopback (token authentication, one CPU) in a session of its own; its GCS port.

    Its own temp folder keeps it out of other Ray users' way (`ray.init()` elsewhere does not find it); the
    whole session is killed at the end.
    """
    port = free_port()
    temp = tempfile.mkdtemp(prefix="ray-head-", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    command = [str(Path(sys.executable).with_name("ray")), "start", "--head", "--block", f"--port={port}"]
    command += ["--num-cpus=1", "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"]
    environment = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
    environment.pop("RAY_ADDRESS", None)
    head = subprocess.Popen(
        command, env=environment, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            assert head.poll() is None and time.monotonic() < deadline, "the Ray head did not start"
            time.sleep(0.2)
        yield port
    finally:
        stop_session(head)
        shutil.rmtree(temp, ignore_errors=True)


def stop_session(head: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(head.pid, signal.SIGKILL)
    head.wait()


def export_command(download: Path, output: Path, *flags: str) -> list[str]:
    command = [sys.executable, "-m", "celeb_datasets.cli", "export", "celebv_hq", "--config", "clips"]
    return [*command, "--data-dir", str(download), "--output", str(output), "--engine", "ray", "--quiet", *flags]


def driver(command: list[str], token: str | None = None) -> subprocess.Popen:
    """The command line, run as a user runs it (with the cluster's token, or none)."""
    environment = {**os.environ, "PYTHONPATH": str(WORKTREE), "RAY_AUTH_MODE": "token"}
    environment.pop("RAY_ADDRESS", None)
    environment.pop("RAY_AUTH_TOKEN", None)
    if token is not None:
        environment["RAY_AUTH_TOKEN"] = token
    return subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def test_ray_addresses_are_probed_at_their_host_and_port_and_the_wait_must_be_positive() -> None:
    from celeb_datasets.engines.ray_engine import _host_and_port
    from celeb_datasets.errors import OptionError

    assert _host_and_port("head:6379") == ("head", 6379)
    assert _host_and_port("ray://head.example.org:10001") == ("head.example.org", 10001)
    assert _host_and_port("[::1]:6379") == ("::1", 6379)
    assert _host_and_port("auto") is None and _host_and_port("head:port") is None
    for wait in (0, -1.0):
        with pytest.raises(OptionError, match="option ray_timeout_sec: expected a positive number of seconds"):
            RaySettings(ray_timeout_sec=wait)


@pytest.mark.slow
def test_an_address_that_cannot_be_reached_fails_within_the_wait_naming_it(tmp_path: Path) -> None:
    download = write_sample_download(tmp_path / "download", with_videos=True)
    command = export_command(download, tmp_path / "out", "--ray-address", "127.0.0.1:1", "--ray-timeout-sec", "3")
    started = time.monotonic()
    run = driver(command)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 2 and time.monotonic() - started < 3 + 15  # the wait, and starting Python
    assert last_line(err) == (
        "error: cannot reach the Ray cluster at 127.0.0.1:1 (--ray-address): connection refused for 3 s (is its "
        "head running, and is the address its GCS address, e.g. head:6379, or ray://head:10001?); nothing was "
        f"installed into the export folder {tmp_path / 'out'}"
    )
    assert not list((tmp_path / "out").glob("clips*"))


@pytest.mark.slow
def test_a_driver_the_cluster_refuses_ends_with_one_error_line_naming_the_address(tmp_path: Path) -> None:
    download = write_sample_download(tmp_path / "download", with_videos=True)
    with ray_head(secrets.token_hex(16)) as port:
        command = export_command(download, tmp_path / "out", "--ray-address", f"127.0.0.1:{port}")
        started = time.monotonic()
        run = driver([*command, "--ray-timeout-sec", "6"], token=secrets.token_hex(16))  # not the cluster's
        _, err = run.communicate(timeout=60)
    assert run.returncode == 2 and time.monotonic() - started < 6 + 15
    assert last_line(err) == (
        f"error: the Ray cluster at 127.0.0.1:{port} (--ray-address) refused this driver: its authentication token "
        "is missing or wrong (give this process the cluster's token: RAY_AUTH_MODE=token with RAY_AUTH_TOKEN or "
        f"~/.ray/auth_token); nothing was installed into the export folder {tmp_path / 'out'}"
    )
    assert not list((tmp_path / "out").glob("clips*"))


@pytest.mark.slow
def test_losing_the_cluster_mid_export_ends_within_the_wait_with_one_error_line(tmp_path: Path) -> None:
    # The wait covers connecting too: 10 s leaves a loaded 2-core machine time to connect.
    wait = 10
    server = VideoServer(tmp_path / "served")
    server.add("heldVideo01", 3.0, "held")  # its download waits: the export is mid-run while it does
    download = tmp_path / "download"
    write_annotation_file(download, {"heldVideo01_0": make_record("heldVideo01", 0.5, 2.5)})
    token = secrets.token_hex(16)
    try:
        with ray_head(token) as port:
            command = export_command(download, tmp_path / "out", "--ray-address", f"127.0.0.1:{port}")
            command += [
                "--ray-timeout-sec",
                str(wait),
                "--option",
                "fetch=true",
                "--option",
                f"url_template={server.url_template}",
            ]
            run = driver(command, token=token)
            deadline = time.monotonic() + 90
            while not server.manifest_times:  # a task is downloading
                assert run.poll() is None and time.monotonic() < deadline, run.communicate()
                time.sleep(0.2)
        stopped = time.monotonic()  # the head is killed on leaving the block
        _, err = run.communicate(timeout=60)
        assert run.returncode == 2 and time.monotonic() - stopped < wait + 10
    finally:
        server.release.set()
        server.close()
    assert last_line(err) == (
        f"error: lost the Ray cluster at 127.0.0.1:{port} (--ray-address): it stopped answering (its head stopped, "
        f"or the connection was lost) and did not come back within {wait} s; nothing was installed into the export "
        f"folder {tmp_path / 'out'}: run the same command again once the cluster is back"
    )
    assert not list((tmp_path / "out").glob("clips*")) and not list((tmp_path / "out").glob(".clips*"))


@pytest.mark.slow
def test_a_rerun_after_the_driver_died_gives_the_export_and_leaves_nothing_stale(
    local_ray: object, tmp_path: Path
) -> None:
    server = VideoServer(tmp_path / "served")
    server.add("heldVideo01", 3.0, "held")
    server.add("freeVideo01", 3.0)
    download = tmp_path / "download"
    records = {"heldVideo01_0": make_record("heldVideo01", 0.5, 2.5), "freeVideo01_0": make_record("freeVideo01", 1, 2)}
    write_annotation_file(download, records)
    options = ["fetch=true", f"url_template={server.url_template}", "pace_min_sec=0", "pace_max_sec=0"]
    options += ["request_sleep_sec=0", "preset=ultrafast"]
    flags = [flag for option in options for flag in ("--option", option)]
    try:
        # The driver, with a local Ray of its own, is killed while a task downloads.
        run = driver(export_command(download, tmp_path / "out", *flags))
        deadline = time.monotonic() + 90
        while not any(ytb_id == "heldVideo01" for _, ytb_id in server.manifest_times):
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()
            time.sleep(0.2)
        run.kill()
        run.communicate()
        assert list((tmp_path / "out").glob(".clips.staging.*"))  # what the dead driver left
        server.release.set()
        arguments = export_command(download, tmp_path / "out", *flags)[3:]  # the same command, here
        assert main(arguments) == 0
    finally:
        server.release.set()
        server.close()
    assert not list((tmp_path / "out").glob(".clips*"))  # its staging folder went with the rerun
    rows = datasets.load_dataset(str(tmp_path / "out"), "clips", split="train")
    assert sorted(rows["clip_id"]) == ["freeVideo01_0", "heldVideo01_0"]
    assert read_skip_report(tmp_path / "out" / "skip_report.clips.tsv") == []
