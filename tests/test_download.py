"""Downloading raw videos: yt-dlp against a loopback server, classified failures, the manifest, resuming."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import av
import pytest
from celebv_hq_fixtures import make_record, write_annotation_file
from video_server import VideoServer

from celeb_datasets.cli import main
from celeb_datasets.errors import CelebDatasetsError
from celeb_datasets.skips import read_skip_report
from celebv_hq import CelebVHQ
from celebv_hq_lib import download
from celebv_hq_lib.download import (
    DONE,
    FAILED,
    RETRY,
    DownloadSettings,
    Manifest,
    ManifestEntry,
    classify_failure,
    download_videos,
)

# Every behaviour of the loopback server, with the state and kind it must end in (retries=2).
OUTCOMES = {
    "served": ("ok", DONE, ""),
    "gone404": ("404", FAILED, "not found"),
    "denied403": ("403", FAILED, "forbidden"),
    "busy503": ("503 once", DONE, ""),
    "cutonce": ("cut once", DONE, ""),
    "cutalways": ("cut always", RETRY, "connection"),
}
VIDEO_SEC = 3.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VideoServer]:
    served = VideoServer(tmp_path_factory.mktemp("served"))
    for ytb_id, (behaviour, _, _) in OUTCOMES.items():
        served.add(ytb_id, VIDEO_SEC, behaviour)
    served.add("tooshort", 1.0)
    yield served
    served.close()


def fast_settings(server: VideoServer, **changes: object) -> DownloadSettings:
    options: dict[str, object] = {"url_template": server.url_template, "retries": 2, "retry_backoff_sec": 0.01}
    return DownloadSettings(**(options | changes))  # type: ignore[arg-type]


def write_download_folder(folder: Path, videos: dict[str, list[tuple[float, float]]]) -> Path:
    """A CelebV-HQ folder whose annotation file has these clips ({ytb_id: [(start, end), ...]})."""
    clips = {
        f"{ytb_id}_{index}": make_record(ytb_id, start, end)
        for ytb_id, ranges in videos.items()
        for index, (start, end) in enumerate(ranges)
    }
    write_annotation_file(folder, clips)
    return folder


# --- classifying failures ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "kind", "permanent"),
    [
        ("[youtube] abc: Video unavailable. This video has been removed by the uploader", "removed by uploader", True),
        ("[youtube] abc: Private video. Sign in if you've been granted access to this video", "private", True),
        ("The uploader has not made this video available in your country", "unavailable in country", True),
        ("Sign in to confirm your age. This video may be inappropriate for some users.", "age-restricted", True),
        ("Video unavailable. This video is no longer available due to a copyright claim by X", "copyright", True),
        ("[youtube] abc: Video unavailable", "unavailable", True),
        ("[youtube] abc: Sign in to confirm you're not a bot. Use --cookies", "bot check", False),
        ("[download] Got error: HTTP Error 503: Service Unavailable", "server error", False),
        ("Unable to download webpage: HTTP Error 429: Too Many Requests", "throttled", False),
        ("[download] Got error: The read operation timed out", "timeout", False),
        ("[download] Got error: Downloaded 5050 bytes, expected 5772 bytes", "connection", False),
        ("something nobody has seen before", "error", False),
    ],
)  # fmt: skip
def test_a_failure_is_classified_by_yt_dlps_reason(message: str, kind: str, permanent: bool) -> None:
    assert classify_failure(message) == (kind, permanent)


def test_the_http_status_underneath_decides_before_the_message() -> None:
    assert classify_failure("Unable to download webpage", status=404) == ("not found", True)
    assert classify_failure("Unable to download webpage", status=502) == ("server error", False)


# --- the manifest ------------------------------------------------------------------------------------


def test_the_last_line_of_a_video_wins_and_a_torn_line_is_never_glued_to_the_next(tmp_path: Path) -> None:
    manifest = Manifest(tmp_path)
    manifest.record(ManifestEntry("a", RETRY, "timeout: slow", attempts=1))
    with open(manifest.path, "a") as out:
        out.write('{"ytb_id": "b", "state": "do')  # a kill in the middle of a write
    manifest.record(ManifestEntry("a", DONE, attempts=2, size=10))
    manifest.record(ManifestEntry("c", FAILED, "private: gone", attempts=1))
    entries = manifest.read()
    assert {ytb_id: (e.state, e.attempts) for ytb_id, e in entries.items()} == {"a": (DONE, 2), "c": (FAILED, 1)}
    manifest.compact()
    assert len(manifest.path.read_text().splitlines()) == 2 and manifest.read() == entries


def _record_many(folder: str, worker: int) -> None:
    manifest = Manifest(folder)
    for index in range(50):
        manifest.record(ManifestEntry(f"w{worker}_{index}", DONE, attempts=1, size=index))


def test_several_processes_can_record_at_once_without_losing_a_line(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_record_many, args=(str(tmp_path), worker)) for worker in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=60)
    assert len(Manifest(tmp_path).read()) == 200


# --- settings and checks -----------------------------------------------------------------------------


def test_cookies_proxy_rate_limit_and_js_runtime_pass_through_to_yt_dlp(tmp_path: Path) -> None:
    cookies = tmp_path / "cookies.txt"
    cookies.write_text("# Netscape HTTP Cookie File\n")
    settings = DownloadSettings(cookies=str(cookies), proxy="socks5://127.0.0.1:9", rate_limit="2M", js_runtime="node")
    options = download.yt_dlp_options(tmp_path, settings)
    assert options["cookiefile"] == str(cookies) and options["proxy"] == "socks5://127.0.0.1:9"
    assert options["ratelimit"] == 2 * 1024 * 1024 and options["js_runtimes"] == {"node": {}}
    assert options["format"] == "bestvideo[ext=mp4]+bestaudio[ext=m4a]/bestvideo+bestaudio/best"


def test_the_users_cookies_file_is_never_written(server: VideoServer, tmp_path: Path) -> None:
    cookies = tmp_path / "cookies.txt"
    cookies.write_text("# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tSID\tsecret\n")
    before = cookies.read_bytes()
    download_videos(tmp_path / "d", {"served": 2.0}, fast_settings(server, cookies=str(cookies)), workers=2)
    assert Manifest(tmp_path / "d").read()["served"].state == DONE and cookies.read_bytes() == before
    assert server.cookies_seen["/served.mpd"] == "SID=secret"  # yet yt-dlp sent them


def test_impossible_download_settings_are_refused_before_anything_is_fetched(tmp_path: Path) -> None:
    with pytest.raises(CelebDatasetsError, match=r"url_template 'http://x/video' must contain \{ytb_id\}"):
        DownloadSettings(url_template="http://x/video")
    with pytest.raises(CelebDatasetsError, match=r"cookies file .*nothing.txt not found"):
        DownloadSettings(cookies=str(tmp_path / "nothing.txt"))
    with pytest.raises(CelebDatasetsError, match=r"rate_limit 'fast'"):
        download.yt_dlp_options(tmp_path, DownloadSettings(rate_limit="fast"))
    folder = write_download_folder(tmp_path, {"served": [(0.0, 1.0)]})
    with pytest.raises(CelebDatasetsError, match="must contain"):
        CelebVHQ(config_name="clips", data_dir=str(folder), cache_dir=str(tmp_path), fetch=True, url_template="x")


def test_a_finished_file_is_checked_to_its_end_against_its_last_clip(tmp_path: Path) -> None:
    from celebv_hq_lib.sample import write_indexed_video

    video = write_indexed_video(tmp_path / "v.mp4", duration_sec=2, width=64, height=64, fps=10, audio_rate=None)
    assert download.check_raw_video(video, 2.0) == (2.0, None)
    assert download.check_raw_video(video, 2.5)[1] == (
        "too short: the video ends at 2.00 s, its last clip ends at 2.50 s"
    )
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    assert download.check_raw_video(truncated, 2.0)[1] is not None  # a cut file never passes
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    assert download.check_raw_video(tmp_path / "junk.mp4", 1.0)[1].startswith("unreadable: ")


# --- downloading -------------------------------------------------------------------------------------


def test_each_failure_ends_in_its_state_and_only_checked_files_reach_raw(server: VideoServer, tmp_path: Path) -> None:
    videos = dict.fromkeys(OUTCOMES, VIDEO_SEC - 0.5) | {"tooshort": 2.5}
    summary = download_videos(tmp_path, videos, fast_settings(server), workers=4)
    entries = Manifest(tmp_path).read()
    for ytb_id, (_, state, kind) in OUTCOMES.items():
        assert (entries[ytb_id].state, entries[ytb_id].kind) == (state, kind), entries[ytb_id]
    assert entries["tooshort"].state == FAILED
    assert entries["tooshort"].reason == (
        "too short: tooshort.mp4: the video ends at 1.00 s, its last clip ends at 2.50 s"
    )
    assert "HTTP Error 404" in entries["gone404"].reason  # yt-dlp's own words are kept
    assert entries["busy503"].attempts == 2 and entries["cutalways"].attempts == 3
    done = {ytb_id for ytb_id, entry in entries.items() if entry.state == DONE}
    assert sorted(os.listdir(tmp_path / "raw")) == [".partial", *sorted(f"{ytb_id}.mp4" for ytb_id in done)]
    for ytb_id in done:
        raw = tmp_path / "raw" / f"{ytb_id}.mp4"
        assert entries[ytb_id].size == raw.stat().st_size and entries[ytb_id].file == f"raw/{ytb_id}.mp4"
        with av.open(str(raw)) as merged:  # video and audio came as two files and were merged
            assert sorted(stream.type for stream in merged.streams) == ["audio", "video"]
    # Only the video to retry keeps its partial files, for the next run to resume.
    assert os.listdir(tmp_path / "raw" / ".partial") == ["cutalways"]
    assert "3 done" in summary.line() and "1 to retry (1 connection)" in summary.line()


def test_a_rerun_skips_what_is_done_and_retries_only_what_may_succeed(server: VideoServer, tmp_path: Path) -> None:
    videos = {"served": 2.0, "gone404": 2.0, "cutalways": 2.0}
    download_videos(tmp_path, videos, fast_settings(server, retries=0))
    before = server.requests.copy()
    summary = download_videos(tmp_path, videos, fast_settings(server, retries=0))
    asked = server.requests - before
    assert set(asked) == {"/cutalways.mpd", "/cutalways.video.mp4"}
    assert (summary.already_done, summary.already_failed) == (1, 1)
    assert Manifest(tmp_path).read()["cutalways"].attempts == 2  # attempts add up over runs
    before = server.requests.copy()
    download_videos(tmp_path, videos, fast_settings(server, retries=0), retry_failed=True)
    assert "/gone404.mpd" in server.requests - before and "/served.mpd" not in server.requests - before


def test_an_error_in_one_worker_stops_the_others_taking_new_videos(server: VideoServer, tmp_path: Path) -> None:
    def interrupt(entry: ManifestEntry) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        download_videos(
            tmp_path, dict.fromkeys(["served", "gone404", "busy503"], 2.0), fast_settings(server), 1, False, interrupt
        )
    assert len(Manifest(tmp_path).read()) == 1  # the video in hand was recorded; no other was started


def test_without_yt_dlp_the_error_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "yt_dlp", None)
    with pytest.raises(CelebDatasetsError, match=r"pip install 'celeb-datasets\[download\]'"):
        download.yt_dlp_module()


def test_the_download_and_status_commands(server: VideoServer, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = write_download_folder(
        tmp_path, {"served": [(0.5, 1.5), (2.0, 2.8)], "gone404": [(0.0, 1.0)], "busy503": [(0.0, 2.0)]}
    )
    (tmp_path / "ids.txt").write_text("# clip ids and YouTube ids mix\nserved_1\ngone404\n\nbusy503\n")
    common = ["--data-dir", str(folder), "--url-template", server.url_template, "--retry-backoff", "0.01"]
    assert main(["download", "celebv_hq", *common, "--ids", str(tmp_path / "ids.txt"), "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "2 video(s) chosen" in out and "1 done, 1 failed (1 not found)" in out
    assert main(["status", "celebv_hq", "--data-dir", str(folder)]) == 0
    status = capsys.readouterr().out
    assert "done: 1 (1 in raw/" in status and "failed: 1 (1 not found)" in status
    assert "pending (never tried): 1" in status and "clips that can be built" in status and ": 2 of 4" in status
    (tmp_path / "ids.txt").write_text("nosuchvideo\n")
    assert main(["download", "celebv_hq", *common, "--ids", str(tmp_path / "ids.txt")]) == 2
    assert "ids.txt:1: 'nosuchvideo' is neither" in capsys.readouterr().err


def test_a_download_leaving_videos_to_retry_exits_1(
    server: VideoServer, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = write_download_folder(tmp_path, {"cutalways": [(0.0, 1.0)], "gone404": [(0.0, 1.0)]})
    common = ["--data-dir", str(folder), "--url-template", server.url_template, "--retry-backoff", "0.01"]
    assert main(["download", "celebv_hq", *common, "--retries", "0"]) == 1
    assert "1 video(s) may succeed later: run the same command again" in capsys.readouterr().err


# --- the builder -------------------------------------------------------------------------------------


def test_a_clip_whose_video_failed_to_download_says_why_in_the_skip_report(tmp_path: Path) -> None:
    folder = write_download_folder(tmp_path / "download", {"gonevideo": [(0.0, 1.0)], "kept": [(0.0, 1.0)]})
    from celebv_hq_lib.sample import write_indexed_video

    write_indexed_video(folder / "raw" / "kept.mp4", duration_sec=2, width=64, height=64, fps=10, audio_rate=None)
    reason = "removed by uploader: [youtube] gonevideo: Video unavailable. This video has been removed by the uploader"
    Manifest(folder).record(ManifestEntry("gonevideo", FAILED, reason, attempts=1))
    builder = CelebVHQ(config_name="clips", data_dir=str(folder), cache_dir=str(tmp_path / "cache"), preset="ultrafast")
    builder.download_and_prepare()
    [skip] = read_skip_report(builder.skip_report)
    assert skip["clip_id"] == "gonevideo_0" and skip["reason"].startswith("missing: ")
    assert skip["reason"].endswith(f"the download failed for good: {reason}")


@pytest.mark.slow
def test_fetch_without_keep_raw_builds_the_rows_of_a_predownloaded_folder_holding_no_raw_video(
    server: VideoServer, tmp_path: Path
) -> None:
    videos = {"served": [(0.5, 1.5), (1.6, 2.4)], "busy503": [(0.2, 1.2)], "cutonce": [(1.0, 2.9)], "gone404": [(0, 1)]}
    videos["cutalways"] = [(0.0, 1.0)]
    settings = fast_settings(server)
    options = {"preset": "ultrafast", "url_template": server.url_template, "retry_backoff_sec": 0.01}
    predownloaded = write_download_folder(tmp_path / "predownloaded", videos)
    download_videos(predownloaded, {ytb_id: 3.0 for ytb_id in videos}, settings)
    expected = CelebVHQ(config_name="clips", data_dir=str(predownloaded), cache_dir=str(tmp_path / "c1"), **options)
    expected.download_and_prepare()

    fetched = write_download_folder(tmp_path / "fetched", videos)
    server.watched_raw_folder, server.most_raw_files_seen = fetched / "raw", 0
    builder = CelebVHQ(
        config_name="clips",
        data_dir=str(fetched),
        cache_dir=str(tmp_path / "c2"),
        fetch=True,
        keep_raw=False,
        **options,
    )
    try:
        builder.download_and_prepare()
    finally:
        server.watched_raw_folder = None
    rows, expected_rows = builder.as_dataset(split="train"), expected.as_dataset(split="train")
    assert rows["clip_id"] == expected_rows["clip_id"] == ["served_0", "served_1", "busy503_0", "cutonce_0"]
    assert rows.to_list() == expected_rows.to_list()
    # Each video was fetched only after the one before it had been cut and deleted.
    assert server.most_raw_files_seen == 0 and os.listdir(fetched / "raw") == [".partial"]
    assert {e.state for e in Manifest(fetched).read().values()} == {DONE, FAILED, RETRY}
    skips = {row["clip_id"]: row["reason"] for row in read_skip_report(builder.skip_report)}
    assert skips.keys() == {"gone404_0", "cutalways_0"}
    assert "the download of gone404 failed for good: not found: [generic] gone404: " in skips["gone404_0"]
    assert "the download of cutalways failed for now, a rerun retries it: connection: " in skips["cutalways_0"]


@pytest.mark.slow
def test_prepare_with_fetch_options_downloads_cuts_deletes_and_a_second_run_reuses_the_cache(
    server: VideoServer, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = write_download_folder(tmp_path / "download", {"served": [(0.2, 1.0)], "gone404": [(0.0, 1.0)]})
    command = ["prepare", "celebv_hq", "--config", "clips", "--data-dir", str(folder), "--cache-dir", str(tmp_path)]
    for option in ("fetch=true", "keep_raw=false", f"url_template={server.url_template}", "preset=ultrafast"):
        command += ["--option", option]
    assert main([*command, "--quiet"]) == 0
    assert "clips train: 1 rows" in capsys.readouterr().out
    assert os.listdir(folder / "raw") == [".partial"]
    before = server.requests.copy()
    assert main([*command, "--quiet"]) == 0  # the same build again: served from the cache, nothing fetched
    assert "clips train: 1 rows" in capsys.readouterr().out and server.requests == before


@pytest.mark.slow
def test_forked_build_workers_share_the_manifest_and_each_holds_one_raw_video_at_most(
    server: VideoServer, tmp_path: Path
) -> None:
    videos = {ytb_id: [(0.2, 1.0), (1.5, 2.5)] for ytb_id in ("served", "busy503", "cutonce", "gone404")}
    folder = write_download_folder(tmp_path / "download", videos)
    server.watched_raw_folder, server.most_raw_files_seen = folder / "raw", 0
    options = {"preset": "ultrafast", "url_template": server.url_template, "retry_backoff_sec": 0.01}
    builder = CelebVHQ(
        config_name="clips", data_dir=str(folder), cache_dir=str(tmp_path / "c"), fetch=True, keep_raw=False, **options
    )
    try:
        builder.download_and_prepare(num_proc=2)
    finally:
        server.watched_raw_folder = None
    assert sorted(builder.as_dataset(split="train")["clip_id"]) == sorted(
        f"{ytb_id}_{index}" for ytb_id in ("served", "busy503", "cutonce") for index in (0, 1)
    )
    # When one worker asks for its next video, only the other worker's video can be in raw/.
    assert server.most_raw_files_seen <= 1 and os.listdir(folder / "raw") == [".partial"]
    assert {ytb_id: e.state for ytb_id, e in Manifest(folder).read().items()} == {
        "served": DONE, "busy503": DONE, "cutonce": DONE, "gone404": FAILED
    }  # fmt: skip


@pytest.mark.slow
def test_a_download_killed_at_any_moment_resumes_and_never_counts_a_partial_file(
    server: VideoServer, tmp_path: Path
) -> None:
    slow_ids = [f"slow{index}" for index in range(6)]
    for ytb_id in slow_ids:
        server.add(ytb_id, VIDEO_SEC, "slow")
    folder = write_download_folder(tmp_path, {ytb_id: [(0.0, 2.0)] for ytb_id in slow_ids})
    command = [sys.executable, "-m", "celeb_datasets.cli", "download", "celebv_hq", "--data-dir", str(folder)]
    command += ["--url-template", server.url_template, "--workers", "2", "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    manifest = Manifest(folder)
    deadline = time.monotonic() + 120
    while len(manifest.read()) < 2 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    done_before = {ytb_id for ytb_id, entry in manifest.read().items() if entry.state == DONE}
    assert 2 <= len(done_before) < len(slow_ids)
    raw_files = {name for name in os.listdir(folder / "raw") if not name.startswith(".")}
    assert raw_files == {f"{ytb_id}.mp4" for ytb_id in done_before}  # nothing partial is in raw/
    before = server.requests.copy()
    download_videos(folder, dict.fromkeys(slow_ids, 2.0), fast_settings(server), workers=2)
    entries = Manifest(folder).read()
    assert all(entries[ytb_id].state == DONE for ytb_id in slow_ids)
    assert not any(f"/{ytb_id}.mpd" in server.requests - before for ytb_id in done_before)
    for ytb_id in slow_ids:
        with av.open(str(folder / "raw" / f"{ytb_id}.mp4")) as video:
            assert video.duration / 1e6 >= VIDEO_SEC - 0.1
    assert json.loads(manifest.path.read_text().splitlines()[-1])["state"] == DONE
