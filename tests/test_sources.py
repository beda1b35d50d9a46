"""Videos from anywhere: copies named by raw_dir / processed_dir found at any depth, read in place, never written."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from celebv_hq_fixtures import make_record, write_annotation_file, write_defective_copy
from cli_process import permissions_apply, run_command
from video_server import VideoServer

from celeb_datasets.cli import main
from celeb_datasets.errors import MissingSourceError, OptionError
from celebv_hq import CelebVHQ
from celebv_hq_lib.download import DONE, Manifest, ManifestEntry
from celebv_hq_lib.sample import write_indexed_video
from celebv_hq_lib.sources import find_video_sources

FAST_FLAGS = ["--retry-backoff", "0.01", "--pace-min-sec", "0", "--pace-max-sec", "0", "--request-sleep-sec", "0"]


def tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every entry under `folder`: size and modification time (what writing anything there would change)."""
    return {str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns) for path in folder.rglob("*")}


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_raw_videos_and_processed_clips_are_found_at_any_depth_of_the_copies(tmp_path: Path) -> None:
    data_dir, torrent, shared = tmp_path / "data", tmp_path / "torrent", tmp_path / "shared"
    own = touch(data_dir / "raw" / "aaaaaaaaaaa.webm")
    touch(torrent / "part 1" / "aaaaaaaaaaa.mp4")  # the download folder's own wins
    nested = touch(torrent / "part 2" / "deeper" / "bbbbbbbbbbb.mkv")
    touch(torrent / "part 3" / "bbbbbbbbbbb.webm")  # .mkv comes before .webm
    first = touch(torrent / "a" / "ccccccccccc.mp4")
    touch(torrent / "b" / "ccccccccccc.mp4")  # the same video twice: the path that sorts first
    touch(torrent / ".partial" / "ddddddddddd.mp4")  # hidden: never a source
    touch(torrent / "README.txt")
    clip = touch(shared / "35666" / "eeeeeeeeeee_0.mp4")
    touch(shared / "35666" / "not_a_clip.mp4")
    sources = find_video_sources(data_dir, torrent, shared, clip_ids={"eeeeeeeeeee_0"})
    assert sources.raw_video("aaaaaaaaaaa") == own
    assert sources.raw_video("bbbbbbbbbbb") == nested
    assert sources.raw_video("ccccccccccc") == first
    assert sources.raw_video("ddddddddddd") is None
    assert sources.processed_clip("eeeeeeeeeee_0") == clip
    assert sources.unmatched_files == 2  # README.txt and not_a_clip.mp4


def test_a_copy_that_is_not_a_folder_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    copy = write_defective_copy(tmp_path / "copy")
    command = ["prepare", "celebv_hq", "--config", "clips", "--data-dir", str(copy), "--cache-dir", str(tmp_path)]
    assert main([*command, "--raw-dir", str(tmp_path / "no such folder"), "--quiet"]) == 2
    error = capsys.readouterr().err
    missing = tmp_path / "no such folder"
    assert error == f"error: raw_dir {missing}: not found; give the folder that holds your copy of the videos\n"
    with pytest.raises(MissingSourceError, match=r"processed_dir .*celebvhq_info\.json: not a folder"):
        find_video_sources(copy, processed_dir=copy / "celebvhq_info.json")


def test_a_fetch_build_or_a_download_refuses_raw_dir_as_where_it_writes(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    copy = write_defective_copy(tmp_path / "copy")
    with pytest.raises(OptionError, match=r"raw_dir .* is the download folder's own raw/, where downloads are written"):
        CelebVHQ(
            config_name="clips", data_dir=str(copy), cache_dir=str(tmp_path), fetch=True, raw_dir=str(copy / "raw")
        )
    assert main(["download", "celebv_hq", "--data-dir", str(copy), "--raw-dir", str(copy / "raw")]) == 2
    assert "is the download folder's own raw/" in capsys.readouterr().err


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VideoServer]:
    served = VideoServer(tmp_path_factory.mktemp("served"))
    for ytb_id in ("aaaaaaaaaaa", "bbbbbbbbbbb"):
        served.add(ytb_id, 3.0)
    yield served
    served.close()


def test_download_and_a_fetch_build_fetch_only_the_videos_raw_dir_lacks_into_the_download_folder(
    server: VideoServer, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    torrent = tmp_path / "torrent"
    write_indexed_video(torrent / "videos" / "aaaaaaaaaaa.mp4", duration_sec=3, width=64, height=64)
    before = tree(torrent)
    records = {f"{ytb_id}_0": make_record(ytb_id, 0.5, 2.0) for ytb_id in ("aaaaaaaaaaa", "bbbbbbbbbbb")}
    downloaded, fetched = write_annotation_file(tmp_path / "a", records).parent, tmp_path / "b"
    write_annotation_file(fetched, records)
    common = ["--data-dir", str(downloaded), "--url-template", server.url_template, *FAST_FLAGS]
    assert main(["download", "celebv_hq", *common, "--raw-dir", str(torrent)]) == 0
    out = capsys.readouterr().out
    assert "1 video(s) found under --raw-dir" in out and "1 video(s) chosen" in out
    assert sorted(path.name for path in (downloaded / "raw").glob("*.mp4")) == ["bbbbbbbbbbb.mp4"]
    builder = CelebVHQ(
        config_name="clips",
        data_dir=str(fetched),
        cache_dir=str(tmp_path / "cache"),
        preset="ultrafast",
        fetch=True,
        raw_dir=str(torrent),
        url_template=server.url_template,
        pace_min_sec=0.0,
        pace_max_sec=0.0,
        request_sleep_sec=0.0,
    )
    builder.download_and_prepare()
    rows = builder.as_dataset(split="train")
    assert sorted(rows["clip_id"]) == ["aaaaaaaaaaa_0", "bbbbbbbbbbb_0"] and set(rows["video_source"]) == {"raw"}
    assert sorted(path.name for path in (fetched / "raw").glob("*.mp4")) == ["bbbbbbbbbbb.mp4"]
    assert not any("aaaaaaaaaaa" in path for path in server.requests)  # neither run asked for it
    assert tree(torrent) == before


def test_status_counts_each_video_of_the_annotation_once_whatever_else_the_folders_hold(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    kept, truncated, blocked = "aaaaaaaaaaa", "bbbbbbbbbbb", "ccccccccccc"
    records = {f"{kept}_0": (kept, 0.0, 1.0), f"{kept}_1": (kept, 1.0, 2.0)}
    records |= {f"{truncated}_0": (truncated, 0.0, 1.0), f"{blocked}_0": (blocked, 0.0, 1.0)}
    data = write_annotation_file(tmp_path / "data", {key: make_record(*value) for key, value in records.items()}).parent
    touch(data / "raw" / f"{kept}.mp4")
    touch(data / "raw" / f"{kept}.webm")  # one video in two forms
    touch(data / "raw" / "zzzzzzzzzzz.mp4")  # not a video of the annotation
    touch(data / "raw" / f"{truncated}.mp4")
    Manifest(data).record(ManifestEntry(truncated, DONE, "", 1, 1000, 1.0, "", f"raw/{truncated}.mp4"))
    (data / "raw" / f"{blocked}.mp4").mkdir()
    torrent = tmp_path / "torrent"
    touch(torrent / "one" / f"{kept}.mp4")
    touch(torrent / "two" / f"{kept}.mkv")
    touch(torrent / "otherid0000.mp4")
    touch(torrent / ".partial" / f"{blocked}.mp4")
    touch(torrent / f"{blocked}.mp4.part")
    assert main(["status", "celebv_hq", "--data-dir", str(data), "--raw-dir", str(torrent)]) == 0
    out = capsys.readouterr().out
    assert "  done: 1 (" in out and "1 changed in size" in out
    assert "clips that can be built (processed clip or usable raw video here): 2 of 4" in out
    assert "clips that can be built with your copies too: 2 of 4 (1 of the 3 videos under --raw-dir)" in out
    touch(torrent / "three" / f"{truncated}.webm")
    assert main(["status", "celebv_hq", "--data-dir", str(data), "--raw-dir", str(torrent)]) == 0
    assert "with your copies too: 3 of 4 (2 of the 3 videos under --raw-dir)" in capsys.readouterr().out


def test_download_with_ids_leaves_out_only_the_chosen_videos_raw_dir_holds(
    server: VideoServer, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    torrent = tmp_path / "torrent"
    write_indexed_video(torrent / "aaaaaaaaaaa.mp4", duration_sec=3, width=64, height=64)
    touch(torrent / "xxxxxxxxxxx.mp4")  # not a video of the annotation
    ids = ("aaaaaaaaaaa", "bbbbbbbbbbb", "ccccccccccc")
    records = {f"{ytb_id}_0": make_record(ytb_id, 0.5, 2.0) for ytb_id in ids}
    folder = write_annotation_file(tmp_path / "data", records).parent
    (tmp_path / "ids.txt").write_text("aaaaaaaaaaa_0\nbbbbbbbbbbb\n")
    common = ["--data-dir", str(folder), "--url-template", server.url_template, *FAST_FLAGS]
    arguments = [*common, "--raw-dir", str(torrent), "--ids", str(tmp_path / "ids.txt")]
    assert main(["download", "celebv_hq", *arguments, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"1 video(s) found under --raw-dir {torrent}: not fetched" in out and "1 video(s) chosen" in out
    assert sorted(path.name for path in (folder / "raw").glob("*.mp4")) == ["bbbbbbbbbbb.mp4"]


def test_the_cache_follows_the_files_of_the_copies(tmp_path: Path) -> None:
    copy = write_defective_copy(tmp_path / "copy")
    shutil.move(copy / "raw", tmp_path / "torrent")

    def cache_dir() -> str:
        options = {"data_dir": str(copy), "cache_dir": str(tmp_path / "cache"), "raw_dir": str(tmp_path / "torrent")}
        return CelebVHQ(config_name="clips", **options).cache_dir

    first = cache_dir()
    assert cache_dir() == first  # nothing changed: the same build
    write_indexed_video(tmp_path / "torrent" / "more" / "ddddddddddd.mp4", duration_sec=2, width=64, height=64)
    assert cache_dir() != first  # a video came: another build


def test_folders_of_a_copy_that_cannot_be_read_are_left_out_with_one_warning(tmp_path: Path) -> None:
    wrapper = permissions_apply()
    copy = write_defective_copy(tmp_path / "copy")
    torrent = tmp_path / "torrent"
    shutil.move(copy / "raw", torrent / "readable")
    secret = torrent / "secret"
    write_indexed_video(secret / "ddddddddddd.mp4", duration_sec=2, width=64, height=64)
    (torrent / "a link into it").symlink_to(secret / "deeper")  # a link that cannot be looked through
    secret.chmod(0)
    copies = ["--data-dir", str(copy), "--raw-dir", str(torrent), "--quiet"]
    try:
        built = run_command(
            ["prepare", "celebv_hq", "--config", "clips", *copies, "--cache-dir", str(tmp_path)], wrapper
        )
        status = run_command(["status", "celebv_hq", *copies], wrapper)
    finally:
        secret.chmod(0o755)
    warning = (
        f"1 folder(s) under {torrent} could not be read (no permission), e.g. {secret}: videos in them are not used"
    )
    assert built.returncode == 0 and "clips train: 9 rows" in built.stdout
    assert built.stderr.splitlines()[0] == warning and "CelebV-HQ clips: 9 written" in built.stderr
    assert status.returncode == 0 and status.stderr.splitlines() == [warning]


# Runs each command line of argv[1] (JSON) and prints their exit codes as the last line.
_RUN_COMMANDS = """
import json, sys
from celeb_datasets.cli import main
print(json.dumps([main(arguments) for arguments in json.loads(sys.argv[1])]))
"""


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare to mount folders read-only")
def test_copies_and_a_download_folder_on_read_only_disks_build_and_verify(tmp_path: Path) -> None:
    copy = write_defective_copy(tmp_path / "copy")
    torrent, clips = tmp_path / "torrent", tmp_path / "clips"
    shutil.move(copy / "raw", torrent)
    shutil.move(copy / "processed", clips)
    before = {folder: tree(folder) for folder in (copy, torrent, clips)}
    folders = [shlex.quote(str(folder)) for folder in (copy, torrent, clips)]
    # Each folder bound onto itself read-only, in a private mount namespace: even root cannot write there.
    mounts = " && ".join(f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder}" for folder in folders)
    script = f'{mounts} && exec "$0" "$@"'
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", script, "true"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount read-only here: {probe.stderr.decode().strip()}")
    copies = ["--data-dir", str(copy), "--raw-dir", str(torrent), "--processed-dir", str(clips), "--quiet"]
    commands = [
        ["prepare", "celebv_hq", "--config", "clips", *copies, "--cache-dir", str(tmp_path / "cache")],
        ["verify", "celebv_hq", *copies],
        ["verify", "celebv_hq", *copies, "--report-dir", str(tmp_path / "reports")],
    ]
    command = [sys.executable, "-c", _RUN_COMMANDS, json.dumps(commands)]
    result = subprocess.run(["unshare", "-rm", "sh", "-c", script, *command], capture_output=True, text=True)
    assert json.loads(result.stdout.splitlines()[-1]) == [0, 2, 1], result.stderr
    assert f"cannot write the QC report into {copy} (read-only): name a folder with --report-dir" in result.stderr
    assert "clips train: 9 rows" in result.stdout
    assert (tmp_path / "reports" / "verify_report.tsv").is_file()
    assert {folder: tree(folder) for folder in (copy, torrent, clips)} == before
