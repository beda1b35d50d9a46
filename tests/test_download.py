"""Downloading raw videos: yt-dlp against a loopback server, classified failures, the manifest, resuming,
ids, misuse, the folder lock, pace, the circuit breaker and the preflight."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av
import pytest
from celebv_hq_fixtures import make_record, write_annotation_file
from cli_process import permissions_apply, run_command
from video_server import VideoServer

from celeb_datasets.cli import main
from celeb_datasets.errors import CelebDatasetsError, SourceFileError
from celeb_datasets.skips import read_skip_report
from celebv_hq import CelebVHQ
from celebv_hq_lib import download
from celebv_hq_lib.annotations import read_annotation_file
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
from celebv_hq_lib.layout import raw_video_path
from celebv_hq_lib.sample import sample_annotation_file, write_indexed_video
from celebv_hq_lib.session import SESSION_REFUSALS, FolderBusyError, FolderLock


def youtube_id(name: str) -> str:
    """An 11-character YouTube id that reads as `name` (padded with '-'): ids must have YouTube's form."""
    return name.ljust(11, "-")


SERVED, GONE, DENIED, BUSY = youtube_id("served"), youtube_id("gone404"), youtube_id("denied403"), youtube_id("busy503")
CUT_ONCE, CUT_ALWAYS, TOO_SHORT = youtube_id("cutonce"), youtube_id("cutalways"), youtube_id("tooshort")
AUDIO_ONLY, NO_FORMATS = youtube_id("audioonly"), youtube_id("noformats")
# Behaviours of the loopback server, with the state and kind each video must end in (retries=2).
OUTCOMES = {
    SERVED: ("ok", DONE, ""),
    GONE: ("404", FAILED, "not found"),
    BUSY: ("503 once", DONE, ""),
    CUT_ONCE: ("cut once", DONE, ""),
    CUT_ALWAYS: ("cut always", RETRY, "connection"),
}
VIDEO_SEC = 3.0


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VideoServer]:
    """A server of its own per test: what it counts and how it behaves never leak between tests."""
    served = VideoServer(tmp_path_factory.mktemp("served"))
    for ytb_id, (behaviour, _, _) in OUTCOMES.items():
        served.add(ytb_id, VIDEO_SEC, behaviour)
    served.add(DENIED, VIDEO_SEC, "403")
    served.add(TOO_SHORT, 1.0)
    served.add(AUDIO_ONLY, VIDEO_SEC, "audio only")
    served.add(NO_FORMATS, VIDEO_SEC, "no formats")
    yield served
    served.close()


def fast_settings(server: VideoServer, **changes: object) -> DownloadSettings:
    """Settings for the loopback server: no pace, short back-off and pauses."""
    options: dict[str, object] = {
        "url_template": server.url_template,
        "retries": 2,
        "retry_backoff_sec": 0.01,
        "pace_min_sec": 0.0,
        "pace_max_sec": 0.0,
        "request_sleep_sec": 0.0,
        "refusal_pause_sec": 0.01,
    }
    return DownloadSettings(**(options | changes))  # type: ignore[arg-type]


FAST_FLAGS = ["--retry-backoff", "0.01", "--pace-min-sec", "0", "--pace-max-sec", "0", "--request-sleep-sec", "0"]


def write_download_folder(folder: Path, videos: dict[str, list[tuple[float, float]]]) -> Path:
    """A CelebV-HQ folder whose annotation file has these clips ({ytb_id: [(start, end), ...]})."""
    clips = {
        f"{ytb_id}_{index}": make_record(ytb_id, start, end)
        for ytb_id, ranges in videos.items()
        for index, (start, end) in enumerate(ranges)
    }
    write_annotation_file(folder, clips)
    return folder


def many_videos(server: VideoServer, count: int, behaviour: str = "ok") -> list[str]:
    ids = [youtube_id(f"video{index:03d}") for index in range(count)]
    for ytb_id in ids:
        server.add(ytb_id, VIDEO_SEC, behaviour)
    return ids


# --- classifying failures ----------------------------------------------------------------------------

BOT_CHECK = (
    "[youtube] dQw4w9WgXcQ: Sign in to confirm you’re not a bot. Use --cookies-from-browser or --cookies for the "
    "authentication. See  https://github.com/yt-dlp/yt-dlp/wiki/FAQ#how-do-i-pass-cookies-to-yt-dlp  for how to "
    "manually pass cookies. Also see  https://github.com/yt-dlp/yt-dlp/wiki/Extractors#exporting-youtube-cookies  "
    "for tips on effectively exporting YouTube cookies"
)
RATE_LIMITED = (
    "[youtube] Zaqf-YFJ_Wk: This content isn't available, try again later. The current session has been "
    "rate-limited by YouTube for up to an hour. It is recommended to use `-t sleep` to add a delay between video "
    "requests to avoid exceeding the rate limit. For more information, refer to  "
    "https://github.com/yt-dlp/yt-dlp/wiki/Extractors#this-content-isnt-available-try-again-later"
)


@pytest.mark.parametrize(
    ("message", "kind", "permanent"),
    [
        ("[youtube] abc: Video unavailable. This video has been removed by the uploader", "removed by uploader", True),
        ("[youtube] abc: Private video. Sign in if you've been granted access to this video", "private", True),
        ("The uploader has not made this video available in your country", "unavailable in country", True),
        ("Sign in to confirm your age. This video may be inappropriate for some users.", "age-restricted", True),
        ("Video unavailable. This video is no longer available due to a copyright claim by X", "copyright", True),
        ("[youtube] abc: Video unavailable", "unavailable", True),
        (BOT_CHECK, "bot check", False),
        (RATE_LIMITED, "rate-limited", False),
        ("[youtube] abc: Video unavailable. YouTube is requiring a captcha challenge", "captcha", False),
        ("[download] Got error: HTTP Error 503: Service Unavailable", "server error", False),
        ("Unable to download webpage: HTTP Error 429: Too Many Requests", "throttled", False),
        ("[download] Got error: The read operation timed out", "timeout", False),
        ("[download] Got error: Downloaded 5050 bytes, expected 5772 bytes", "connection", False),
        ("[youtube] 9KH5k5UfZXU: Requested format is not available. Use --list-formats", "no usable format", True),
        ("unable to download video data: HTTP Error 403: Forbidden", "forbidden", True),
        ("something nobody has seen before", "error", False),
    ],
)  # fmt: skip
def test_a_failure_is_classified_by_yt_dlps_reason(message: str, kind: str, permanent: bool) -> None:
    assert classify_failure(message) == (kind, permanent)


def test_the_http_status_underneath_decides_before_the_message() -> None:
    assert classify_failure("Unable to download webpage", status=404) == ("not found", True)
    assert classify_failure("Unable to download webpage", status=502) == ("server error", False)
    # YouTube answers the bot check with a 403: the words decide that it is the session's.
    assert classify_failure(BOT_CHECK, status=403) == ("bot check", False)
    assert {"throttled", "bot check", "rate-limited", "captcha"} == SESSION_REFUSALS


# --- ids -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clip_id", "ytb_id", "problem"),
    [
        ("x_0", "../../../evil", "ytb_id: expected a YouTube id"),
        ("abc_0", "abc", "ytb_id: expected a YouTube id"),
        ("M2Ohb0FAaJ/_0", "M2Ohb0FAaJ/", "ytb_id: expected a YouTube id"),
        ("M2Ohb0FAaJ._0", "M2Ohb0FAaJ.", "ytb_id: expected a YouTube id"),
        ("M2Ohb0FAaJU_a", "M2Ohb0FAaJU", "clip id: expected M2Ohb0FAaJU_{k}"),
        ("M2Ohb0FAaJU_1_2_3", "M2Ohb0FAaJU", "clip id: expected"),
        ("M2Ohb0FAaJU_1/../../x", "M2Ohb0FAaJU", "clip id: expected"),
        ("dvbePi1o_Q0_1", "M2Ohb0FAaJU", "clip id: expected"),
        ("M2Ohb0FAaJU", "M2Ohb0FAaJU", "clip id: expected"),
    ],
)
def test_an_id_that_is_not_in_the_releases_form_is_an_error_naming_the_record(
    tmp_path: Path, clip_id: str, ytb_id: str, problem: str
) -> None:
    path = write_annotation_file(
        tmp_path, {"M2Ohb0FAaJU_1": make_record("M2Ohb0FAaJU", 0, 1)} | {clip_id: make_record(ytb_id, 0, 1)}
    )
    with pytest.raises(
        SourceFileError,
        match=rf"celebvhq_info.json: clip {clip_id}: {problem}".replace("{", r"\{")
        .replace("}", r"\}")
        .replace("(", r"\("),
    ):
        read_annotation_file(path)


def test_the_releases_ids_pass_both_clip_id_forms_and_ids_with_dashes_and_underscores(tmp_path: Path) -> None:
    clips = {clip.clip_id: clip.ytb_id for clip in read_annotation_file(sample_annotation_file())}
    assert clips["_0tf2n3rlJU_0"] == "_0tf2n3rlJU" and clips["I2hf-H8Xumk_3"] == "I2hf-H8Xumk"
    path = write_annotation_file(tmp_path, {"dvbePi1o_Q0_1_12": make_record("dvbePi1o_Q0", 0, 1)})
    assert read_annotation_file(path)[0].clip_id == "dvbePi1o_Q0_1_12"


def test_an_id_that_would_leave_the_data_folder_creates_nothing_anywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = tmp_path / "a" / "b" / "data"
    write_annotation_file(data, {"x_0": make_record("../../../evil", 0, 1)})
    assert (
        main(["download", "celebv_hq", "--data-dir", str(data), "--url-template", "http://127.0.0.1:9/{ytb_id}"]) == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "clip x_0: ytb_id: expected a YouTube id" in err and err.count("\n") == 1
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["a", "b", "celebvhq_info.json", "data"]
    with pytest.raises(CelebDatasetsError, match="YouTube video id: expected a YouTube id"):
        download_videos(data, {"../../evil": 1.0}, DownloadSettings())
    with pytest.raises(CelebDatasetsError, match="YouTube video id"):
        raw_video_path(data, "../x")


# --- the manifest ------------------------------------------------------------------------------------


def test_the_last_line_of_a_video_wins_and_a_torn_line_is_never_glued_to_the_next(tmp_path: Path) -> None:
    a, b, c = youtube_id("a"), youtube_id("b"), youtube_id("c")
    manifest = Manifest(tmp_path)
    manifest.record(ManifestEntry(a, RETRY, "timeout: slow", attempts=1))
    with open(manifest.path, "a") as out:
        out.write(f'{{"ytb_id": "{b}", "state": "do')  # a kill in the middle of a write
    manifest.record(ManifestEntry(a, DONE, attempts=2, size=10))
    manifest.record(ManifestEntry(c, FAILED, "private: gone", attempts=1))
    entries = manifest.read()
    assert {ytb_id: (e.state, e.attempts) for ytb_id, e in entries.items()} == {a: (DONE, 2), c: (FAILED, 1)}
    manifest.compact()
    assert len(manifest.path.read_text().splitlines()) == 2 and manifest.read() == entries


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"attempts": "many"}, "attempts: expected a whole number >= 0, found 'many'"),
        ({"attempts": True}, "attempts: expected a whole number"),
        ({"size": -1}, "size: expected a whole number of bytes >= 0, found -1"),
        ({"state": "finished"}, "state: expected one of done, failed, retry, found 'finished'"),
        ({"ytb_id": "../../x"}, "ytb_id: expected a YouTube id"),
        ({"duration_sec": "NaN"}, "duration_sec: expected a number of seconds"),
        ({"file": "../../../etc/passwd"}, "file: expected raw/"),
        ({"colour": "blue"}, "colour: not a field of the manifest"),
    ],
)
def test_a_manifest_line_with_a_wrong_field_is_ignored_with_a_warning_naming_the_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, fields: dict[str, object], problem: str
) -> None:
    good = {"ytb_id": SERVED, "state": DONE, "attempts": 1, "size": 5, "file": f"raw/{SERVED}.mp4"}
    bad = {"ytb_id": GONE, "state": FAILED, "reason": "not found: x", "attempts": 1} | fields
    (tmp_path / "download_manifest.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    entries = Manifest(tmp_path).read()
    assert list(entries) == [SERVED]
    [warning] = [record.getMessage() for record in caplog.records]
    assert f"download_manifest.jsonl:2: ignored (as if torn): {problem}" in warning
    Manifest(tmp_path).read()
    assert len(caplog.records) == 1  # once per line, however often the manifest is read


def test_a_download_runs_past_a_manifest_line_of_the_wrong_type(
    server: VideoServer, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = write_download_folder(tmp_path, {SERVED: [(0.0, 1.0)]})
    (folder / "download_manifest.jsonl").write_text(json.dumps({"ytb_id": SERVED, "state": RETRY, "attempts": "many"}))
    assert (
        main(["download", "celebv_hq", "--data-dir", str(folder), "--url-template", server.url_template, *FAST_FLAGS])
        == 0
    )
    assert "1 done" in capsys.readouterr().out and Manifest(folder).read()[SERVED].state == DONE


def _record_many(folder: str, worker: int) -> None:
    manifest = Manifest(folder)
    for index in range(50):
        manifest.record(ManifestEntry(youtube_id(f"w{worker}_{index}"), DONE, attempts=1, size=index))


def test_several_processes_can_record_at_once_without_losing_a_line(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_record_many, args=(str(tmp_path), worker)) for worker in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=60)
    assert len(Manifest(tmp_path).read()) == 200


def _compact_holding_on_after_reading(folder: str, read: threading.Event, recorded: threading.Event) -> None:
    read_manifest = Manifest.read

    def read_then_wait(self: Manifest) -> dict[str, ManifestEntry]:
        entries = read_manifest(self)
        read.set()
        recorded.wait(timeout=1.0)  # with the lock, the other process cannot record now: go on after 1 s
        return entries

    Manifest.read = read_then_wait  # type: ignore[method-assign]
    Manifest(folder).compact()


def _record_once_read(folder: str, read: threading.Event, recorded: threading.Event) -> None:
    read.wait(timeout=30)
    Manifest(folder).record(ManifestEntry(youtube_id("late"), DONE, attempts=1))
    recorded.set()


def test_a_line_recorded_while_another_process_compacts_is_never_lost(tmp_path: Path) -> None:
    # The interleaving is forced: the record comes between compact's read and its rewrite, unless a lock
    # holds it back (remove Manifest's lock and this test fails every time).
    Manifest(tmp_path).record(ManifestEntry(SERVED, DONE, attempts=1))
    context = multiprocessing.get_context("fork")
    read, recorded = context.Event(), context.Event()
    processes = [
        context.Process(target=target, args=(str(tmp_path), read, recorded))
        for target in (_compact_holding_on_after_reading, _record_once_read)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
    assert [process.exitcode for process in processes] == [0, 0]
    assert set(Manifest(tmp_path).read()) == {SERVED, youtube_id("late")}


# --- the folder lock ---------------------------------------------------------------------------------


def download_command(folder: Path, server: VideoServer, *extra: str) -> list[str]:
    command = [sys.executable, "-m", "celeb_datasets.cli", "download", "celebv_hq", "--data-dir", str(folder)]
    return [*command, "--url-template", server.url_template, *FAST_FLAGS, "--quiet", *extra]


def wait_for(condition: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.slow
def test_a_second_download_on_one_folder_says_who_holds_it_and_exits_2(server: VideoServer, tmp_path: Path) -> None:
    held_ids = many_videos(server, 3, "held")
    folder = write_download_folder(tmp_path, {ytb_id: [(0.0, 2.0)] for ytb_id in held_ids})
    first = subprocess.Popen(download_command(folder, server), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: server.manifest_times)  # the first run holds the lock, and the server holds it there
        second = subprocess.run(download_command(folder, server), capture_output=True, text=True, timeout=120)
        assert second.returncode == 2, second.stderr
        [line] = second.stderr.splitlines()
        assert line.startswith(f"error: another download is running in {folder}: `celeb-datasets download celebv_hq")
        assert f"(pid {first.pid} on " in line
        server.release.set()
        assert first.wait(timeout=120) == 0
    finally:
        server.release.set()
        first.kill()
        first.wait(timeout=30)
    entries = Manifest(folder).read()
    assert all(entries[ytb_id].state == DONE for ytb_id in held_ids)
    assert sorted(os.listdir(folder / "raw")) == [".partial", *sorted(f"{ytb_id}.mp4" for ytb_id in held_ids)]


def test_a_fetch_build_and_a_download_never_share_a_folder(tmp_path: Path) -> None:
    lock = tmp_path / ".download.lock"
    held_by_me = rf"a download is running in {tmp_path}: .*\(pid {os.getpid()} on "
    with FolderLock(lock, exclusive=True), pytest.raises(FolderBusyError, match=held_by_me):
        FolderLock(lock, exclusive=False).acquire()
    with (
        FolderLock(lock, exclusive=False),
        FolderLock(lock, exclusive=False),
        pytest.raises(FolderBusyError, match="a build with fetch=true is downloading into"),
    ):
        FolderLock(lock, exclusive=True).acquire()
    FolderLock(tmp_path / ".download.lock", exclusive=True).acquire().release()  # free again


# --- settings, options and files named on the command line ----------------------------------------------


def test_cookies_proxy_rate_limit_js_runtime_and_extractor_args_pass_through_to_yt_dlp(tmp_path: Path) -> None:
    cookies = tmp_path / "cookies.txt"
    cookies.write_text("# Netscape HTTP Cookie File\n")
    settings = DownloadSettings(
        cookies=str(cookies),
        proxy="socks5://127.0.0.1:9",
        rate_limit="2M",
        js_runtime="node",
        extractor_args="youtube:player_client=web,default;po_token=web.gvs+AB\\,C generic:impersonate",
        request_sleep_sec=1.5,
    )
    options = download.yt_dlp_options(tmp_path, settings)
    assert options["cookiefile"] == str(cookies) and options["proxy"] == "socks5://127.0.0.1:9"
    assert options["ratelimit"] == 2 * 1024 * 1024 and options["js_runtimes"] == {"node": {}}
    assert options["format"] == "bestvideo[ext=mp4]+bestaudio[ext=m4a]/bestvideo+bestaudio/best"
    assert options["extractor_args"] == {
        "youtube": {"player_client": ["web", "default"], "po_token": ["web.gvs+AB,C"]},
        "generic": {"impersonate": [""]},
    }
    assert options["sleep_interval_requests"] == 1.5 and options["socket_timeout"] == 30.0


def test_the_users_cookies_file_is_never_written(server: VideoServer, tmp_path: Path) -> None:
    cookies = tmp_path / "cookies.txt"
    cookies.write_text("# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tSID\tsecret\n")
    before = cookies.read_bytes()
    download_videos(tmp_path / "d", {SERVED: 2.0}, fast_settings(server, cookies=str(cookies)), workers=2)
    assert Manifest(tmp_path / "d").read()[SERVED].state == DONE and cookies.read_bytes() == before
    assert server.cookies_seen[f"/{SERVED}.mpd"] == "SID=secret"  # yet yt-dlp sent them


def test_impossible_download_settings_are_refused_before_anything_is_fetched(tmp_path: Path) -> None:
    with pytest.raises(CelebDatasetsError, match=r"url_template 'http://x/video' must contain \{ytb_id\}"):
        DownloadSettings(url_template="http://x/video")
    with pytest.raises(CelebDatasetsError, match=r"cookies file .*nothing.txt not found"):
        DownloadSettings(cookies=str(tmp_path / "nothing.txt"))
    with pytest.raises(CelebDatasetsError, match=r"rate_limit 'fast'"):
        download.yt_dlp_options(tmp_path, DownloadSettings(rate_limit="fast"))
    with pytest.raises(CelebDatasetsError, match=r"pace_max_sec \(1.0\) must be >= pace_min_sec \(2.0\)"):
        DownloadSettings(pace_min_sec=2.0, pace_max_sec=1.0)
    with pytest.raises(CelebDatasetsError, match=r"extractor_args 'youtube'"):
        DownloadSettings(extractor_args="youtube")
    folder = write_download_folder(tmp_path, {SERVED: [(0.0, 1.0)]})
    with pytest.raises(CelebDatasetsError, match="must contain"):
        CelebVHQ(config_name="clips", data_dir=str(folder), cache_dir=str(tmp_path), fetch=True, url_template="x")


NOT_UTF8, A_FOLDER, ONLY_COMMENTS, GARBAGE_COOKIES = "not-utf8.txt", "a-folder", "comments.txt", "garbage-cookies.txt"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--ids", NOT_UTF8],
            "--ids {folder}/not-utf8.txt, line 1: not UTF-8 text (byte 0xff at offset 0) (it is UTF-16: save it as "
            "UTF-8); expected YouTube ids or clip ids, one a line",
        ),
        (["--ids", A_FOLDER], "--ids {folder}/a-folder is a folder: expected a text file of ids"),
        (["--ids", ONLY_COMMENTS], "--ids {folder}/comments.txt names no video (only blank lines and comments)"),
        (["--url-template", "http://127.0.0.1:9/{ytb_id}{other}"], "{ytb_id} is the only field it may have"),
        (["--url-template", "file:///tmp/{ytb_id}.mp4"], "expected an http:// or https:// address"),
        (["--proxy", "not a proxy"], "proxy 'not a proxy': expected SCHEME://HOST[:PORT]"),
        (["--cookies", GARBAGE_COOKIES], "garbage-cookies.txt' does not look like a Netscape format cookies file"),
        (["--cookies", A_FOLDER], "cookies file {folder}/a-folder is a folder"),
        (["--retry-backoff", "nan"], "option retry_backoff_sec: expected a number, found 'nan'"),
        (["--pace-min-sec", "-1"], "pace_min_sec must be >= 0, not -1.0"),
        (["--extractor-args", "youtube:=x"], "extractor_args 'youtube:=x': '=x' has no KEY"),
        (["--js-runtime", "perl"], "js_runtime 'perl': yt-dlp knows deno, node"),
        (["--workers", "0"], "--workers must be >= 1, not 0"),
    ],
)
def test_each_bad_option_or_file_is_one_error_line_with_exit_2_before_any_download(
    server: VideoServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    arguments: list[str],
    message: str,
) -> None:
    folder = write_download_folder(tmp_path / "data", {SERVED: [(0.0, 1.0)]})
    (tmp_path / NOT_UTF8).write_bytes(b"\xff\xfe" + SERVED.encode())
    (tmp_path / A_FOLDER).mkdir()
    (tmp_path / ONLY_COMMENTS).write_text("# nothing chosen\n\n   # still nothing\n")
    (tmp_path / GARBAGE_COOKIES).write_text("garbage\n")
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(private))
    arguments = [
        str(tmp_path / a) if a in (NOT_UTF8, A_FOLDER, ONLY_COMMENTS, GARBAGE_COOKIES) else a for a in arguments
    ]
    command = ["download", "celebv_hq", "--data-dir", str(folder), "--url-template", server.url_template, *FAST_FLAGS]
    assert main([*command, *arguments]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message.replace("{folder}", str(tmp_path)) in err
    assert not server.requests and not os.listdir(private)  # nothing fetched, no cookie copy left behind


def test_a_data_folder_or_raw_folder_that_cannot_be_written_in_is_one_error_line_before_any_request(
    server: VideoServer, tmp_path: Path
) -> None:
    wrapper = permissions_apply()
    folder = write_download_folder(tmp_path / "data", {SERVED: [(0.0, 1.0)]})
    command = ["download", "celebv_hq", "--data-dir", str(folder), "--url-template", server.url_template, *FAST_FLAGS]
    for read_only in (folder, folder / "raw"):
        read_only.mkdir(exist_ok=True)
        before = sorted(path.name for path in folder.rglob("*"))
        read_only.chmod(0o555)
        try:
            finished = run_command([*command, "--quiet"], wrapper)
        finally:
            read_only.chmod(0o755)
        assert (finished.returncode, finished.stdout) == (2, ""), finished.stderr
        assert finished.stderr == (
            f"error: cannot write in {read_only}: permission denied; downloads go to raw/ and the manifest and lock "
            "to the data folder: give a data folder you can write in (a read-only copy of the videos can be given "
            "as --raw-dir, raw_dir)\n"
        )
        assert sorted(path.name for path in folder.rglob("*")) == before
    assert not server.requests


def test_a_raw_that_is_a_file_or_a_video_name_taken_by_a_folder_stops_before_any_request_and_is_left_alone(
    server: VideoServer, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    [other] = many_videos(server, 1)
    folder = write_download_folder(tmp_path / "data", {SERVED: [(0.0, 1.0)], other: [(0.0, 1.0)]})
    command = ["download", "celebv_hq", "--data-dir", str(folder), "--url-template", server.url_template, *FAST_FLAGS]
    (folder / "raw").write_text("my notes\n")
    assert main([*command, "--quiet"]) == 2
    assert capsys.readouterr().err == (
        f"error: {folder}/raw is a file, not a folder: downloads are written in it; move the file away, or give "
        "another data folder\n"
    )
    assert (folder / "raw").read_text() == "my notes\n"
    (folder / "raw").unlink()
    (folder / "raw" / f"{SERVED}.mp4").mkdir(parents=True)
    (folder / "raw" / f"{SERVED}.mp4" / "keep.txt").write_text("mine\n")
    expected = (
        f"error: {folder}/raw/{SERVED}.mp4 is a folder: the download of {SERVED} would be written there; move it "
        "away (a download never replaces what it did not write)\n"
    )
    assert main([*command, "--quiet"]) == 2
    assert capsys.readouterr().err == expected
    assert not server.requests and not (folder / "download_manifest.jsonl").exists()
    settings = {"pace_min_sec": 0.0, "pace_max_sec": 0.0, "request_sleep_sec": 0.0, "preset": "ultrafast"}
    builder = CelebVHQ(
        config_name="clips",
        data_dir=str(folder),
        cache_dir=str(tmp_path / "cache"),
        fetch=True,
        url_template=server.url_template,
        **settings,
    )
    builder.download_and_prepare()  # a fetch build: the clip is skipped with what is wrong, its video never fetched
    reason = {row["clip_id"]: row["reason"] for row in read_skip_report(builder.skip_report)}[f"{SERVED}_0"]
    assert reason.startswith("unreadable: ") and "Is a directory" in reason
    assert not any(SERVED in path for path in server.requests)
    assert (folder / "raw" / f"{SERVED}.mp4" / "keep.txt").read_text() == "mine\n"
    assert main(["status", "celebv_hq", "--data-dir", str(folder)]) == 0
    assert "  done: 1 (" in capsys.readouterr().out  # the other video; a folder is no video


@pytest.mark.slow
def test_the_private_cookie_copy_is_owners_only_and_removed_when_the_download_is_terminated(
    server: VideoServer, tmp_path: Path
) -> None:
    held_ids = many_videos(server, 2, "held")
    folder = write_download_folder(tmp_path / "data", {ytb_id: [(0.0, 2.0)] for ytb_id in held_ids})
    cookies = tmp_path / "cookies.txt"
    cookies.write_text("# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tSID\tsecret\n")
    private = tmp_path / "tmp"
    private.mkdir()
    environment = os.environ | {"TMPDIR": str(private)}
    command = download_command(folder, server, "--cookies", str(cookies))
    process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: server.manifest_times)
        [copy_folder] = list(private.iterdir())
        assert stat.S_IMODE(copy_folder.stat().st_mode) == 0o700
        assert stat.S_IMODE((copy_folder / "cookies.txt").stat().st_mode) == 0o600
        process.send_signal(signal.SIGTERM)
        server.release.set()  # the video in hand finishes; no other starts
        assert process.wait(timeout=120) == 130
    finally:
        server.release.set()
        process.kill()
        process.wait(timeout=30)
    assert os.listdir(private) == []
    assert "interrupted" in process.stderr.read().decode()  # type: ignore[union-attr]
    assert len(server.manifest_times) == 1


# --- checks of a finished file -----------------------------------------------------------------------------


def test_a_finished_file_is_checked_to_its_end_against_its_last_clip(tmp_path: Path) -> None:
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
    videos = dict.fromkeys(OUTCOMES, VIDEO_SEC - 0.5) | {TOO_SHORT: 2.5}
    summary = download_videos(tmp_path, videos, fast_settings(server), workers=4)
    entries = Manifest(tmp_path).read()
    for ytb_id, (_, state, kind) in OUTCOMES.items():
        assert (entries[ytb_id].state, entries[ytb_id].kind) == (state, kind), entries[ytb_id]
    assert entries[TOO_SHORT].state == FAILED
    assert entries[TOO_SHORT].reason == (
        f"too short: {TOO_SHORT}.mp4: the video ends at 1.00 s, its last clip ends at 2.50 s"
    )
    assert "HTTP Error 404" in entries[GONE].reason  # yt-dlp's own words are kept
    assert entries[BUSY].attempts == 2 and entries[CUT_ALWAYS].attempts == 3
    done = {ytb_id for ytb_id, entry in entries.items() if entry.state == DONE}
    assert sorted(os.listdir(tmp_path / "raw")) == [".partial", *sorted(f"{ytb_id}.mp4" for ytb_id in done)]
    for ytb_id in done:
        raw = tmp_path / "raw" / f"{ytb_id}.mp4"
        assert entries[ytb_id].size == raw.stat().st_size and entries[ytb_id].file == f"raw/{ytb_id}.mp4"
        with av.open(str(raw)) as merged:  # video and audio came as two files and were merged
            assert sorted(stream.type for stream in merged.streams) == ["audio", "video"]
    # Only the video to retry keeps its partial files, for the next run to resume.
    assert os.listdir(tmp_path / "raw" / ".partial") == [CUT_ALWAYS]
    assert "3 done" in summary.line() and "1 to retry (1 connection)" in summary.line()


def test_an_audio_only_source_is_failed_for_good_as_no_usable_format(server: VideoServer, tmp_path: Path) -> None:
    [entry] = download_videos(tmp_path, {AUDIO_ONLY: 2.0}, fast_settings(server)).entries
    assert (entry.state, entry.kind, entry.attempts) == (FAILED, "no usable format", 1)
    assert entry.reason.endswith("the source has no video stream (audio only?)")


def test_a_rerun_skips_what_is_done_and_retries_only_what_may_succeed(server: VideoServer, tmp_path: Path) -> None:
    videos = {SERVED: 2.0, GONE: 2.0, CUT_ALWAYS: 2.0}
    download_videos(tmp_path, videos, fast_settings(server, retries=0))
    before = server.requests.copy()
    summary = download_videos(tmp_path, videos, fast_settings(server, retries=0))
    asked = server.requests - before
    assert set(asked) == {f"/{CUT_ALWAYS}.mpd", f"/{CUT_ALWAYS}.video.mp4"}
    assert (summary.already_done, summary.already_failed) == (1, 1)
    assert Manifest(tmp_path).read()[CUT_ALWAYS].attempts == 2  # attempts add up over runs
    before = server.requests.copy()
    download_videos(tmp_path, videos, fast_settings(server, retries=0), retry_failed=True)
    assert f"/{GONE}.mpd" in server.requests - before and f"/{SERVED}.mpd" not in server.requests - before


def test_a_done_video_truncated_or_deleted_is_fetched_again_and_status_says_so(
    server: VideoServer, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    second = youtube_id("second")
    server.add(second, VIDEO_SEC)
    folder = write_download_folder(tmp_path, {SERVED: [(0.0, 1.0)], second: [(0.0, 2.0), (2.0, 2.5)]})
    common = ["--data-dir", str(folder), "--url-template", server.url_template, *FAST_FLAGS]
    assert main(["download", "celebv_hq", *common]) == 0
    raw = folder / "raw" / f"{SERVED}.mp4"
    raw.write_bytes(raw.read_bytes()[:1000])  # truncated after it was downloaded
    (folder / "raw" / f"{second}.mp4").unlink()  # deleted, e.g. after cutting
    capsys.readouterr()
    assert main(["status", "celebv_hq", "--data-dir", str(folder)]) == 0
    status = capsys.readouterr().out
    assert "  done: 0 (" in status
    assert "  to fetch again: 2 (1 downloaded but no longer in raw/" in status and "1 changed in size" in status
    assert "clips that can be built (processed clip or usable raw video here): 0 of 3" in status
    before = server.requests.copy()
    assert main(["download", "celebv_hq", *common]) == 0
    assert {f"/{SERVED}.mpd", f"/{second}.mpd"} <= set(server.requests - before)
    assert raw.stat().st_size == Manifest(folder).read()[SERVED].size > 1000
    assert main(["status", "celebv_hq", "--data-dir", str(folder)]) == 0
    assert "  done: 2 (" in capsys.readouterr().out


def test_a_raw_video_you_put_there_is_kept_whatever_the_manifest_says(server: VideoServer, tmp_path: Path) -> None:
    write_indexed_video(tmp_path / "raw" / f"{CUT_ALWAYS}.mp4", duration_sec=2, width=64, height=64, audio_rate=None)
    Manifest(tmp_path).record(ManifestEntry(CUT_ALWAYS, RETRY, "connection: cut", attempts=1))
    summary = download_videos(tmp_path, {CUT_ALWAYS: 2.0}, fast_settings(server))
    assert summary.entries == [] and summary.already_done == 1 and not server.requests


def test_an_error_in_one_worker_stops_the_others_taking_new_videos(server: VideoServer, tmp_path: Path) -> None:
    def interrupt(entry: ManifestEntry) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        download_videos(tmp_path, dict.fromkeys([SERVED, GONE, BUSY], 2.0), fast_settings(server), 1, False, interrupt)
    assert len(Manifest(tmp_path).read()) == 1  # the video in hand was recorded; no other was started


def test_without_yt_dlp_the_error_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "yt_dlp", None)
    with pytest.raises(CelebDatasetsError, match=r"pip install 'celeb-datasets\[download\]'"):
        download.yt_dlp_module()


def test_the_download_and_status_commands(server: VideoServer, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = write_download_folder(tmp_path, {SERVED: [(0.5, 1.5), (2.0, 2.8)], GONE: [(0.0, 1.0)], BUSY: [(0.0, 2.0)]})
    (tmp_path / "ids.txt").write_text(f"# clip ids and YouTube ids mix\n{SERVED}_1\n{GONE}\n\n{BUSY}\n")
    common = ["--data-dir", str(folder), "--url-template", server.url_template, *FAST_FLAGS]
    assert main(["download", "celebv_hq", *common, "--ids", str(tmp_path / "ids.txt"), "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "2 video(s) chosen" in out and "1 done, 1 failed (1 not found)" in out
    assert "pace: one video start every 0 to 0 s (no limit), shared by 1 worker(s)" in out
    assert main(["status", "celebv_hq", "--data-dir", str(folder)]) == 0
    status = capsys.readouterr().out
    assert "done: 1 (" in status and "failed: 1 (1 not found)" in status
    assert "pending (never tried): 1" in status and "clips that can be built" in status and ": 2 of 4" in status
    (tmp_path / "ids.txt").write_text("nosuchvideo\n")
    assert main(["download", "celebv_hq", *common, "--ids", str(tmp_path / "ids.txt")]) == 2
    assert "ids.txt:1: 'nosuchvideo' is neither" in capsys.readouterr().err


def test_an_ids_file_saved_with_a_byte_order_mark_and_windows_line_ends_chooses_its_first_id(
    server: VideoServer, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = write_download_folder(tmp_path, {SERVED: [(0.0, 1.0)], GONE: [(0.0, 1.0)], BUSY: [(0.0, 1.0)]})
    (tmp_path / "ids.txt").write_bytes(f"\ufeff{SERVED}\r\n{GONE}_0\r\n".encode())  # Notepad's "UTF-8"
    common = ["--data-dir", str(folder), "--url-template", server.url_template, *FAST_FLAGS]
    assert main(["download", "celebv_hq", *common, "--ids", str(tmp_path / "ids.txt")]) == 0
    assert "2 video(s) chosen" in capsys.readouterr().out
    assert set(Manifest(folder).read()) == {SERVED, GONE}


def test_a_download_leaving_videos_to_retry_exits_1(
    server: VideoServer, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = write_download_folder(tmp_path, {CUT_ALWAYS: [(0.0, 1.0)], GONE: [(0.0, 1.0)]})
    common = ["--data-dir", str(folder), "--url-template", server.url_template, *FAST_FLAGS]
    assert main(["download", "celebv_hq", *common, "--retries", "0"]) == 1
    assert "1 video(s) may succeed later: run the same command again" in capsys.readouterr().err


# --- pace ----------------------------------------------------------------------------------------------


class FakeClock:
    """A clock that only moves when someone waits: pace checked exactly and instantly."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        with self.lock:
            self.now += seconds
        return False


def test_the_pace_spaces_every_start_of_every_thread_by_a_random_gap_within_its_bounds(tmp_path: Path) -> None:
    from celebv_hq_lib.session import Pacer

    clock = FakeClock()
    gaps = iter([12.0, 18.0, 15.0, 12.5, 17.0, 13.0, 16.0, 14.0])
    pacer = Pacer(tmp_path / ".download_pace", 12.0, 18.0, clock=clock, wait=clock.wait, gap=lambda a, b: next(gaps))
    starts: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(2):
            start = pacer.next_turn()
            with lock:
                starts.append(start)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # The fake clock moves as threads wait, so a thread may start late, never early: each start is at least
    # one drawn gap (12 s or more) after the one before, whichever thread took it.
    starts.sort()
    assert len(starts) == 8 and starts[0] == 1000.0
    assert all(later - earlier >= 12.0 for earlier, later in itertools.pairwise(starts))


def test_a_pause_holds_every_worker_and_the_pace_resumes_after_it(tmp_path: Path) -> None:
    from celebv_hq_lib.session import Pacer

    clock = FakeClock()
    pacer = Pacer(tmp_path / ".download_pace", 10.0, 10.0, clock=clock, wait=clock.wait)
    assert pacer.next_turn() == 1000.0
    pacer.pause(300.0)
    assert pacer.next_turn() == 1300.0 and pacer.next_turn() == 1310.0
    # Another process's pause, seen through the shared file.
    Pacer(tmp_path / ".download_pace", 10.0, 10.0, clock=clock, wait=clock.wait).pause(60.0)
    assert pacer.next_turn() == clock.now == 1320.0 + 60.0 - 10.0


def _take_turns(folder: str, starts: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    from celebv_hq_lib.session import Pacer

    pacer = Pacer(Path(folder) / ".download_pace", 0.15, 0.15)
    for _ in range(3):
        starts.put(pacer.next_turn())


def test_the_pace_is_shared_by_processes(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    starts = context.Queue()
    processes = [context.Process(target=_take_turns, args=(str(tmp_path), starts)) for _ in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
    times = sorted(starts.get(timeout=5) for _ in range(6))
    assert all(later - earlier == pytest.approx(0.15, abs=1e-6) for earlier, later in itertools.pairwise(times))


def test_video_starts_follow_the_pace_whatever_the_workers(
    server: VideoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from celebv_hq_lib.session import Pacer

    turns: list[float] = []
    next_turn = Pacer.next_turn

    def noted_turn(self: Pacer) -> float:
        turns.append(next_turn(self))
        return turns[-1]

    monkeypatch.setattr(Pacer, "next_turn", noted_turn)
    ids = many_videos(server, 6)
    settings = fast_settings(server, pace_min_sec=0.2, pace_max_sec=0.3)
    summary = download_videos(tmp_path, dict.fromkeys(ids, 2.0), settings, workers=3)
    assert [entry.state for entry in summary.entries] == [DONE] * 6
    gaps = [later - earlier for earlier, later in itertools.pairwise(sorted(turns))]
    # At least the shortest gap; longer when every worker was still busy with its video.
    assert len(gaps) == 5 and all(gap >= 0.2 - 1e-6 for gap in gaps), gaps
    # Where YouTube would measure: yt-dlp's work between a turn and its first request blurs each gap a
    # little (up to a few hundred ms on a busy machine), never the rate over the run.
    times = sorted(when for when, _ in server.manifest_times)
    assert times[-1] - times[0] >= 5 * 0.2 - 0.3


# --- the circuit breaker ---------------------------------------------------------------------------------


def test_the_breaker_pauses_with_a_growing_wait_then_stops_and_a_success_resets_it(tmp_path: Path) -> None:
    from celebv_hq_lib.session import CircuitBreaker, Pacer, Refusal

    clock = FakeClock()
    pacer = Pacer(tmp_path / ".download_pace", 0.0, 0.0, clock=clock, wait=clock.wait)
    breaker = CircuitBreaker(pacer, pause_sec=60.0, pauses_before_stop=2)
    throttled = Refusal(SERVED, "throttled", "HTTP Error 429")
    breaker.refused(throttled, pacer.next_turn(), session_level=True)
    assert pacer.paused_until() == 1060.0
    breaker.refused(throttled, 1000.0, session_level=True)  # started before the pause: the same episode
    assert breaker.trips == 1
    breaker.refused(throttled, pacer.next_turn(), session_level=True)
    assert pacer.paused_until() == 1060.0 + 120.0 and breaker.trips == 2
    pacer.next_turn()  # after the pause, a video succeeds
    breaker.succeeded()
    assert breaker.trips == 0 and breaker.healthy()
    for _ in range(2):
        breaker.refused(Refusal(GONE, "forbidden", "HTTP Error 403"), pacer.next_turn(), session_level=False)
    assert breaker.trips == 0  # 403 on one video, twice: not (yet) the session's
    for ytb_id in (BUSY, CUT_ONCE):
        breaker.refused(Refusal(ytb_id, "forbidden", "HTTP Error 403"), pacer.next_turn(), session_level=False)
    assert breaker.trips == 1  # 403 on three different videos in a row
    for _ in range(2):
        breaker.refused(throttled, pacer.next_turn(), session_level=True)
    assert breaker.stopped == throttled and pacer.stop.is_set()


@pytest.mark.parametrize(
    ("refusal", "kind", "said"),
    [
        ("429", "throttled", "HTTP Error 429: Too Many Requests"),
        ("bot check", "bot check", "HTTP Error 403: Sign in to confirm you're not a bot"),
        ("403 on media", "forbidden", "HTTP Error 403: Forbidden"),
    ],
)
def test_a_session_refused_after_n_videos_pauses_then_stops_with_what_youtube_said_and_what_to_do(
    server: VideoServer, tmp_path: Path, capsys: pytest.CaptureFixture, refusal: str, kind: str, said: str
) -> None:
    ids = many_videos(server, 12)
    server.refuse_after, server.refusal = 2, refusal
    folder = write_download_folder(tmp_path, {ytb_id: [(0.0, 2.0)] for ytb_id in ids})
    common = ["--data-dir", str(folder), "--url-template", server.url_template, *FAST_FLAGS]
    assert main(["download", "celebv_hq", *common, "--refusal-pause-sec", "0.05", "--refusal-pauses", "2"]) == 1
    captured = capsys.readouterr()
    [stop] = [line for line in captured.err.splitlines() if line.startswith("stopped: ")]
    assert f"the last: {kind} on " in stop and said in stop and "What to do: " in stop
    entries = Manifest(folder).read()
    assert [entries[ytb_id].state for ytb_id in ids[:2]] == [DONE, DONE]
    refused = {ytb_id: entry for ytb_id, entry in entries.items() if entry.state != DONE}
    assert refused and all(entry.state == RETRY and entry.kind == kind for entry in refused.values())
    assert len(entries) < len(ids)  # videos not reached are still pending: the list is not burnt through
    # Session refusals stop after 2 pauses (3 trips); 403s need three videos a trip.
    assert len(server.manifest_times) <= 2 + 3 * (1 if kind in SESSION_REFUSALS else 3) + 3
    assert "not reached (still pending)" in captured.out


def test_a_403_is_failed_for_good_only_when_it_repeats_after_other_videos_succeed(
    server: VideoServer, tmp_path: Path
) -> None:
    summary = download_videos(tmp_path, {DENIED: 2.0, SERVED: 2.0, BUSY: 2.0}, fast_settings(server, retries=1))
    entries = {entry.ytb_id: entry for entry in summary.entries}
    assert (entries[DENIED].state, entries[DENIED].kind, entries[DENIED].attempts) == (FAILED, "forbidden", 2)
    assert server.requests[f"/{DENIED}.mpd"] == 2 and summary.stopped is None
    # Alone, a first 403 proves nothing: it is left to retry (the session may be the one refused).
    alone = tmp_path / "alone"
    [entry] = download_videos(alone, {DENIED: 2.0}, fast_settings(server, retries=0)).entries
    assert (entry.state, entry.kind) == (RETRY, "forbidden")
    # A later run whose manifest shows a success after that 403 takes a second 403 as the video's own.
    Manifest(alone).record(ManifestEntry(SERVED, DONE, attempts=1, size=1, time=download._now()))
    (alone / "raw").mkdir(exist_ok=True)
    (alone / "raw" / f"{SERVED}.mp4").write_bytes(b"x")
    [entry] = download_videos(alone, {DENIED: 2.0}, fast_settings(server, retries=0)).entries
    assert (entry.state, entry.kind) == (FAILED, "forbidden")


def test_no_usable_format_is_the_sessions_on_several_videos_and_the_videos_own_once_others_succeed(
    server: VideoServer, tmp_path: Path
) -> None:
    no_formats = many_videos(server, 3, "no formats")
    settings = fast_settings(server, refusal_pauses=0)
    summary = download_videos(tmp_path / "refused", dict.fromkeys([*no_formats, SERVED], 2.0), settings)
    assert summary.stopped is not None and summary.stopped.kind == "no usable format"
    assert {entry.state for entry in summary.entries} == {RETRY} and summary.not_reached == 1
    summary = download_videos(tmp_path / "healthy", {SERVED: 2.0, NO_FORMATS: 2.0}, settings)
    assert [(entry.ytb_id, entry.state) for entry in summary.entries] == [(SERVED, DONE), (NO_FORMATS, FAILED)]


# --- the preflight -------------------------------------------------------------------------------------


def fake_program(folder: Path, name: str, output: str) -> None:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(f"#!/bin/sh\necho '{output}'\n")
    path.chmod(0o755)


def test_check_gives_one_line_per_need_and_exit_1_when_one_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_download_folder(tmp_path / "data", {SERVED: [(0.0, 60.0)], GONE: [(0.0, 30.0)]})
    programs = tmp_path / "bin"
    fake_program(programs, "node", "v20.11.0")
    monkeypatch.setenv("PATH", str(programs))  # no deno, an old node: YouTube's formats would be missing
    cookies = tmp_path / "cookies.txt"
    cookies.write_text("# Netscape HTTP Cookie File\n.youtube.com\tTRUE\t/\tTRUE\t1600000000\tSID\told\n")
    assert main(["download", "celebv_hq", "--data-dir", str(folder), "--cookies", str(cookies), "--check"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "ok    yt-dlp",
        "FAIL  JavaScript runtime",
        lines[2].split(":")[0],  # the challenge solver: installed or not
        "FAIL  cookies",
        "ok    ffmpeg for merging",
        "ok    disk",
    ]
    assert f"node 20.11.0 at {programs}/node (too old: yt-dlp needs >= 22" in lines[1]
    assert "every cookie for youtube.com expired (the last on 2020-09-13)" in lines[3]
    assert "the 2 video(s) to fetch need about 0.0 GB at least" in lines[5]
    fake_program(programs, "deno", "deno 2.5.6 (stable, release, x86_64-unknown-linux-gnu)")
    cookies.write_text("# Netscape HTTP Cookie File\n.youtube.com\tTRUE\t/\tTRUE\t4102444800\tSID\tnew\n")
    main(["download", "celebv_hq", "--data-dir", str(folder), "--cookies", str(cookies), "--check"])
    lines = capsys.readouterr().out.splitlines()
    assert (
        lines[1] == f"ok    JavaScript runtime: deno 2.5.6 at {programs}/deno; node 20.11.0 at {programs}/node "
        "(too old: yt-dlp needs >= 22.0.0)"
    )
    assert lines[3].endswith("1 unexpired cookie(s) for youtube.com, the first to expire on 2100-01-01")


def running(pid: int) -> bool:
    """Whether process `pid` is still running (a zombie waiting to be reaped is not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_a_runtime_or_ffmpeg_that_hangs_is_said_not_to_answer_within_the_timeout_and_is_stopped(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from celebv_hq_lib import preflight

    folder = write_download_folder(tmp_path / "data", {SERVED: [(0.0, 60.0)]})
    programs = tmp_path / "bin"
    programs.mkdir()
    children, sleep = tmp_path / "children", shutil.which("sleep")
    for name in ("deno", "ffmpeg"):  # a wrapper script whose child hangs, as a stuck runtime would
        (programs / name).write_text(f"#!/bin/sh\n{sleep} 60 &\necho $! >> {children}\nwait\n")
        (programs / name).chmod(0o755)
    (programs / "node").write_text("#!/bin/sh\necho 'node: cannot load its libraries' >&2\nexit 3\n")
    (programs / "node").chmod(0o755)
    monkeypatch.setenv("PATH", str(programs))
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(programs / "ffmpeg"))
    monkeypatch.setattr(preflight, "PROGRAM_TIMEOUT_SEC", 0.5)
    assert main(["download", "celebv_hq", "--data-dir", str(folder), "--check"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == (
        f"FAIL  JavaScript runtime: deno at {programs}/deno did not answer `deno --version` within 0.5 s; node at "
        f"{programs}/node failed to answer `node --version` (exit code 3); yt-dlp enables deno (its default), "
        "which did not answer `deno --version` within 0.5 s"
    )
    assert lines[4] == f"FAIL  ffmpeg for merging: {programs}/ffmpeg did not answer `ffmpeg -version` within 0.5 s"
    pids = [int(pid) for pid in children.read_text().split()]
    assert len(pids) == 2 and not any(running(pid) for pid in pids)  # nothing left hanging


def test_a_long_download_is_checked_first_and_stops_before_any_request_when_a_check_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from celebv_hq_lib.preflight import AUTO_CHECK_VIDEOS

    ids = [youtube_id(f"v{index}") for index in range(AUTO_CHECK_VIDEOS)]
    folder = write_download_folder(tmp_path / "data", {ytb_id: [(0.0, 1.0)] for ytb_id in ids})
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no JavaScript runtime: YouTube would refuse formats
    assert main(["download", "celebv_hq", "--data-dir", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "FAIL  JavaScript runtime: none found" in err and "or pass --skip-check" in err
    assert not (folder / "download_manifest.jsonl").exists()


# --- the builder -------------------------------------------------------------------------------------


def test_a_clip_whose_video_failed_to_download_says_why_in_the_skip_report(tmp_path: Path) -> None:
    gone, kept = youtube_id("gonevideo"), youtube_id("kept")
    folder = write_download_folder(tmp_path / "download", {gone: [(0.0, 1.0)], kept: [(0.0, 1.0)]})
    write_indexed_video(folder / "raw" / f"{kept}.mp4", duration_sec=2, width=64, height=64, fps=10, audio_rate=None)
    reason = f"removed by uploader: [youtube] {gone}: Video unavailable. This video has been removed by the uploader"
    Manifest(folder).record(ManifestEntry(gone, FAILED, reason, attempts=1))
    builder = CelebVHQ(config_name="clips", data_dir=str(folder), cache_dir=str(tmp_path / "cache"), preset="ultrafast")
    builder.download_and_prepare()
    [skip] = read_skip_report(builder.skip_report)
    assert skip["clip_id"] == f"{gone}_0" and skip["reason"].startswith("missing: ")
    assert skip["reason"].endswith(f"the download failed for good: {reason}")


@pytest.mark.slow
def test_fetch_without_keep_raw_builds_the_rows_of_a_predownloaded_folder_holding_no_raw_video(
    server: VideoServer, tmp_path: Path
) -> None:
    videos = {SERVED: [(0.5, 1.5), (1.6, 2.4)], BUSY: [(0.2, 1.2)], CUT_ONCE: [(1.0, 2.9)], GONE: [(0, 1)]}
    videos[CUT_ALWAYS] = [(0.0, 1.0)]
    settings = fast_settings(server)
    options = {"preset": "ultrafast", **{name: getattr(settings, name) for name in FAST_OPTIONS}}
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
    assert rows["clip_id"] == expected_rows["clip_id"] == [f"{SERVED}_0", f"{SERVED}_1", f"{BUSY}_0", f"{CUT_ONCE}_0"]
    assert rows.to_list() == expected_rows.to_list()
    # Each video was fetched only after the one before it had been cut and deleted.
    assert server.most_raw_files_seen == 0 and os.listdir(fetched / "raw") == [".partial"]
    assert {e.state for e in Manifest(fetched).read().values()} == {DONE, FAILED, RETRY}
    skips = {row["clip_id"]: row["reason"] for row in read_skip_report(builder.skip_report)}
    assert skips.keys() == {f"{GONE}_0", f"{CUT_ALWAYS}_0"}
    assert f"missing: the download of {GONE} failed for good: not found: [generic] {GONE}: " in skips[f"{GONE}_0"]
    assert (
        f"to retry: the download of {CUT_ALWAYS} failed for now, a rerun retries it: connection: "
        in skips[f"{CUT_ALWAYS}_0"]
    )
    assert builder.items_to_retry == 1 and "add --force to build again" in builder.retry_summary


@pytest.mark.slow
def test_a_fetched_video_split_into_several_passes_is_downloaded_once_and_cut_as_its_items_are(
    server: VideoServer, tmp_path: Path
) -> None:
    from celeb_datasets.engines.work import plan_build

    # Two clips too costly for one item (at most 0.5 modelled core-seconds): two passes.
    videos = {SERVED: [(0.2, 1.2), (1.5, 2.5)], BUSY: [(0.5, 1.5)]}
    settings = fast_settings(server)
    options = {"preset": "ultrafast", "max_item_cost": 0.5, **{name: getattr(settings, name) for name in FAST_OPTIONS}}
    predownloaded = write_download_folder(tmp_path / "predownloaded", videos)
    download_videos(predownloaded, {ytb_id: 3.0 for ytb_id in videos}, settings)
    expected = CelebVHQ(config_name="clips", data_dir=str(predownloaded), cache_dir=str(tmp_path / "c1"), **options)
    plan = plan_build(expected, tmp_path / "skips1")
    assert [(item.ytb_id, len(item.passes)) for _, item in plan.items()] == [(SERVED, 1), (SERVED, 1), (BUSY, 1)]
    expected.download_and_prepare()

    fetched = write_download_folder(tmp_path / "fetched", videos)
    builder = CelebVHQ(
        config_name="clips",
        data_dir=str(fetched),
        cache_dir=str(tmp_path / "c2"),
        fetch=True,
        keep_raw=False,
        **options,
    )
    plan = plan_build(builder, tmp_path / "skips2")
    assert [(item.ytb_id, len(item.passes)) for _, item in plan.items()] == [(SERVED, 2), (BUSY, 1)]
    before = server.requests.copy()
    builder.download_and_prepare()
    assert server.requests[f"/{SERVED}.mpd"] - before[f"/{SERVED}.mpd"] == 1  # one download for both passes
    rows, expected_rows = builder.as_dataset(split="train"), expected.as_dataset(split="train")
    assert rows["clip_id"] == [f"{SERVED}_0", f"{SERVED}_1", f"{BUSY}_0"]
    assert rows.to_list() == expected_rows.to_list()  # the same passes: the same bytes
    assert os.listdir(fetched / "raw") == [".partial"]  # deleted after its last pass


FAST_OPTIONS = ("url_template", "retry_backoff_sec", "pace_min_sec", "pace_max_sec", "request_sleep_sec")


def fetch_command(folder: Path, cache: Path, server: VideoServer, *options: str) -> list[str]:
    command = ["prepare", "celebv_hq", "--config", "clips", "--data-dir", str(folder), "--cache-dir", str(cache)]
    for option in ("fetch=true", f"url_template={server.url_template}", "preset=ultrafast", "retry_backoff_sec=0.01"):
        command += ["--option", option]
    for option in ("pace_min_sec=0", "pace_max_sec=0", "request_sleep_sec=0", *options):
        command += ["--option", option]
    return [*command, "--quiet"]


@pytest.mark.slow
def test_prepare_with_fetch_options_downloads_cuts_deletes_and_a_second_run_reuses_the_cache(
    server: VideoServer, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = write_download_folder(tmp_path / "download", {SERVED: [(0.2, 1.0)], GONE: [(0.0, 1.0)]})
    command = fetch_command(folder, tmp_path, server, "keep_raw=false")
    assert main(command) == 0
    assert "clips train: 1 rows" in capsys.readouterr().out
    assert os.listdir(folder / "raw") == [".partial"]
    before = server.requests.copy()
    assert main(command) == 0  # the same build again: served from the cache, nothing fetched
    assert "clips train: 1 rows" in capsys.readouterr().out and server.requests == before


@pytest.mark.slow
def test_a_fetch_build_that_left_videos_to_retry_is_built_again_by_the_same_command(
    server: VideoServer, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = write_download_folder(tmp_path / "download", {SERVED: [(0.2, 1.0)], CUT_ALWAYS: [(0.0, 1.0)]})
    command = fetch_command(folder, tmp_path / "cache", server, "retries=0")
    assert main(command) == 1
    captured = capsys.readouterr()
    assert "clips train: 1 rows" in captured.out
    assert "1 item(s) wait for a download to retry" in captured.err and "run the same command again" in captured.err
    server.add(CUT_ALWAYS, VIDEO_SEC, "ok")  # the network is back
    assert main(command) == 0
    assert "clips train: 2 rows" in capsys.readouterr().out
    before = server.requests.copy()
    assert main(command) == 0  # complete now: served from the cache
    assert "clips train: 2 rows" in capsys.readouterr().out and server.requests == before


@pytest.mark.slow
def test_with_keep_raw_false_a_build_with_videos_to_retry_is_served_with_how_to_retry(
    server: VideoServer, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = write_download_folder(tmp_path / "download", {SERVED: [(0.2, 1.0)], CUT_ALWAYS: [(0.0, 1.0)]})
    command = fetch_command(folder, tmp_path / "cache", server, "retries=0", "keep_raw=false")
    assert main(command) == 1
    capsys.readouterr()
    before = server.requests.copy()
    assert main(command) == 1  # not built again (that would fetch every video again): said instead
    err = capsys.readouterr().err
    assert "1 item(s) wait for a download to retry" in err and "add --force to build again and retry them" in err
    assert server.requests == before


@pytest.mark.slow
def test_a_fetch_build_whose_session_is_refused_stops_with_what_to_do(
    server: VideoServer, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    ids = many_videos(server, 6)
    server.refuse_after, server.refusal = 1, "429"
    folder = write_download_folder(tmp_path / "download", {ytb_id: [(0.0, 1.0)] for ytb_id in ids})
    assert main(fetch_command(folder, tmp_path / "cache", server, "refusal_pause_sec=0.05", "refusal_pauses=1")) == 2
    err = capsys.readouterr().err
    assert "error: YouTube refused this session" in err and "HTTP Error 429" in err and "What to do: wait" in err
    assert len(server.manifest_times) <= 1 + 2 + 1


@pytest.mark.slow
def test_forked_build_workers_share_the_manifest_and_each_holds_one_raw_video_at_most(
    server: VideoServer, tmp_path: Path
) -> None:
    videos = {ytb_id: [(0.2, 1.0), (1.5, 2.5)] for ytb_id in (SERVED, BUSY, CUT_ONCE, GONE)}
    folder = write_download_folder(tmp_path / "download", videos)
    server.watched_raw_folder, server.most_raw_files_seen = folder / "raw", 0
    settings = fast_settings(server)
    options = {"preset": "ultrafast", **{name: getattr(settings, name) for name in FAST_OPTIONS}}
    builder = CelebVHQ(
        config_name="clips", data_dir=str(folder), cache_dir=str(tmp_path / "c"), fetch=True, keep_raw=False, **options
    )
    try:
        builder.download_and_prepare(num_proc=2)
    finally:
        server.watched_raw_folder = None
    assert sorted(builder.as_dataset(split="train")["clip_id"]) == sorted(
        f"{ytb_id}_{index}" for ytb_id in (SERVED, BUSY, CUT_ONCE) for index in (0, 1)
    )
    # When one worker asks for its next video, only the other worker's video can be in raw/.
    assert server.most_raw_files_seen <= 1 and os.listdir(folder / "raw") == [".partial"]
    assert {ytb_id: e.state for ytb_id, e in Manifest(folder).read().items()} == {
        SERVED: DONE, BUSY: DONE, CUT_ONCE: DONE, GONE: FAILED
    }  # fmt: skip


@pytest.mark.slow
def test_a_download_killed_at_any_moment_resumes_and_never_counts_a_partial_file(
    server: VideoServer, tmp_path: Path
) -> None:
    slow_ids = many_videos(server, 6, "slow")
    folder = write_download_folder(tmp_path, {ytb_id: [(0.0, 2.0)] for ytb_id in slow_ids})
    process = subprocess.Popen(
        download_command(folder, server, "--workers", "2"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
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
    download_videos(folder, dict.fromkeys(slow_ids, 2.0), fast_settings(server), workers=2)  # the killed lock is free
    entries = Manifest(folder).read()
    assert all(entries[ytb_id].state == DONE for ytb_id in slow_ids)
    assert not any(f"/{ytb_id}.mpd" in server.requests - before for ytb_id in done_before)
    for ytb_id in slow_ids:
        with av.open(str(folder / "raw" / f"{ytb_id}.mp4")) as video:
            assert video.duration / 1e6 >= VIDEO_SEC - 0.1
    assert json.loads(manifest.path.read_text().splitlines()[-1])["state"] == DONE
