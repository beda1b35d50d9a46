"""Downloading the raw CelebV-HQ videos with yt-dlp: classified failures, a resumable manifest, checked files.

    >>> from celebv_hq_lib.download import DownloadSettings, download_videos
    >>> summary = download_videos("~/CelebV-HQ", {"M2Ohb0FAaJU": 86.17}, DownloadSettings(), workers=4)

Each video goes to `raw/.partial/{ytb_id}/` first; it is moved to `raw/{ytb_id}.{ext}` only once PyAV has
read it to the end and found that it covers its last clip. Every finished video (done or failed) appends
one JSON line to `download_manifest.jsonl` in the data folder; the last line of a video wins, so a kill
loses at most the videos in flight. yt-dlp is an optional dependency (`pip install 'celeb-datasets[download]'`).
"""

from __future__ import annotations

import dataclasses
import datetime
import fcntl
import json
import logging
import os
import queue
import re
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from celeb_datasets.errors import CelebDatasetsError, MissingSourceError, OptionError
from celeb_datasets.options import check_options, option
from celebv_hq_lib.annotations import ClipAnnotation
from celebv_hq_lib.layout import (
    MANIFEST_FILE,
    PARTIAL_FOLDER,
    RAW_VIDEO_EXTENSIONS,
    RAW_VIDEO_FOLDER,
    processed_clip_names,
    raw_video_path,
)

logger = logging.getLogger("celeb_datasets")

YOUTUBE_URL_TEMPLATE = "https://www.youtube.com/watch?v={ytb_id}"
# The release's preference; `best` is our last resort for sources that offer a single file only.
FORMAT = "bestvideo[ext=mp4]+bestaudio[ext=m4a]/bestvideo+bestaudio/best"
INSTALL_HINT = "pip install 'celeb-datasets[download]'"
# Annotated clip ends are rounded to 10 ms and a last frame may end a little before them.
COVER_TOLERANCE_SEC = 0.1

DONE, FAILED, RETRY = "done", "failed", "retry"
STATES = (DONE, FAILED, RETRY)

# yt-dlp's reasons (YouTube's own words) for a video that will not come back: (pattern, kind).
_PERMANENT_REASONS = (
    (r"removed by the uploader", "removed by uploader"),
    (r"account .* (has been )?terminated|account associated with this video has been", "account terminated"),
    (r"violating YouTube's|community guidelines|terms of service", "removed for a violation"),
    (r"copyright", "copyright"),
    (r"private video|video is private", "private"),
    (r"not (made this video )?available in your country|geo.?restrict|from your location", "unavailable in country"),
    (r"confirm your age|age.?restrict|inappropriate for some users", "age-restricted"),
    (r"members.only|join this channel", "members only"),
    (r"HTTP Error 404", "not found"),
    (r"HTTP Error 410", "gone"),
    (r"HTTP Error 403|forbidden", "forbidden"),
    (r"video unavailable|video is unavailable|no longer available", "unavailable"),
    (r"requested format is not available|no video formats found", "no usable format"),
    (r"unsupported url", "unsupported url"),
)
# Reasons that may go away on their own: retried with back-off.
_TRANSIENT_REASONS = (
    (r"HTTP Error 429|too many requests|rate.?limit", "throttled"),
    (r"not a bot", "bot check"),
    (r"HTTP Error 5\d\d", "server error"),
    (r"timed? ?out", "timeout"),
    (
        r"connection|remote end closed|incompleteread|incomplete read|bytes read|downloaded \d+ bytes, expected|"
        r"did not get any data|content too short|downloaded file is empty|eof occurred|broken pipe",
        "connection",
    ),
    (r"temporar|try again later", "temporary"),
)


@dataclasses.dataclass
class DownloadSettings:
    """How videos are fetched: the options of `celeb-datasets download` and of a `fetch=true` build.

    None of them changes what a video is, so none is part of a build's cache key.
    """

    url_template: str = option(
        YOUTUBE_URL_TEMPLATE, "a video's page, with {ytb_id} (default the YouTube watch URL)", defines_rows=False
    )
    cookies: str | None = option(
        None, "a Netscape cookies.txt for yt-dlp (age-restricted videos, YouTube's bot check)", defines_rows=False
    )
    proxy: str | None = option(None, "a proxy for yt-dlp, e.g. socks5://127.0.0.1:1080", defines_rows=False)
    rate_limit: str | None = option(
        None, "the largest download rate per video, e.g. 2M (bytes per second)", defines_rows=False
    )
    js_runtime: str | None = option(
        None, "yt-dlp's JavaScript runtime for YouTube's challenges, NAME or NAME:PATH (e.g. deno)", defines_rows=False
    )
    retries: int = option(
        3, "retries of a transient failure within a run", defines_rows=False, aliases=("download_retries",)
    )
    retry_backoff_sec: float = option(
        5.0, "the wait before the first retry, doubled before each next one", defines_rows=False,
        aliases=("retry_backoff",),
    )  # fmt: skip
    socket_timeout_sec: float = option(30.0, "how long a silent connection is waited for", defines_rows=False)

    def __post_init__(self) -> None:
        check_options(self)
        if "{ytb_id}" not in self.url_template:
            raise OptionError(f"url_template {self.url_template!r} must contain {{ytb_id}}")
        if self.retries < 0 or self.retry_backoff_sec < 0 or self.socket_timeout_sec <= 0:
            raise OptionError(
                f"retries ({self.retries}) and retry_backoff_sec ({self.retry_backoff_sec}) must be >= 0 "
                f"and socket_timeout_sec ({self.socket_timeout_sec}) > 0"
            )
        if self.cookies is not None and not Path(self.cookies).expanduser().is_file():
            raise MissingSourceError(f"cookies file {self.cookies} not found (expected a Netscape cookies.txt)")


@dataclasses.dataclass(frozen=True)
class ManifestEntry:
    """One video's outcome: `state` is done, failed (will not come back) or retry (may succeed later).

    `reason` is "" when done, else "kind: yt-dlp's message"; `attempts` counts every run; `size` (bytes)
    and `duration_sec` describe the checked file; `time` is when the video finished (UTC, ISO 8601).
    """

    ytb_id: str
    state: str
    reason: str = ""
    attempts: int = 0
    size: int = 0
    duration_sec: float = 0.0
    time: str = ""
    file: str = ""

    def failure(self) -> str:
        """How the download failed, for a skip report: "failed for good: ..." or "failed, to retry: ..."."""
        return f"failed {'for good' if self.state == FAILED else 'for now, a rerun retries it'}: {self.reason}"

    @property
    def kind(self) -> str:
        """The failure's kind ("removed by uploader", "throttled", ...): its reason up to the first colon."""
        return self.reason.split(":", 1)[0]


class Manifest:
    """The download manifest of a data folder: JSON lines, the last line of a video wins.

    Safe to update from several threads and processes at once (an exclusive `flock` on a lock file);
    a torn last line (a kill mid-write) is ignored when read and never glued to the next line.
    """

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.path = Path(data_dir).expanduser() / MANIFEST_FILE
        self._lock_path = self.path.with_name(MANIFEST_FILE + ".lock")

    def read(self) -> dict[str, ManifestEntry]:
        """Each video's latest entry (empty when there is no manifest yet)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        entries: dict[str, ManifestEntry] = {}
        for number, line in enumerate(text.split("\n"), start=1):
            entry = _parse_manifest_line(line)
            if entry is not None:
                entries[entry.ytb_id] = entry
            elif line.strip():
                logger.warning("%s:%d: ignored a torn or malformed line: %.80r", self.path, number, line)
        return entries

    def record(self, entry: ManifestEntry) -> None:
        """Append one entry (one write, under the lock, after a newline if a torn line ended the file)."""
        line = json.dumps(dataclasses.asdict(entry), ensure_ascii=False) + "\n"
        with self._locked(), open(self.path, "ab+") as out:
            out.seek(0, os.SEEK_END)
            if out.tell():
                out.seek(-1, os.SEEK_END)
                if out.read(1) != b"\n":
                    line = "\n" + line
            out.write(line.encode("utf-8"))
            out.flush()
            os.fsync(out.fileno())

    def compact(self) -> None:
        """Rewrite the manifest with one line per video (a temp file moved into place, under the lock)."""
        with self._locked():
            entries = self.read()
            if not entries:
                return
            temporary = self.path.with_name(MANIFEST_FILE + ".tmp")
            with open(temporary, "w", encoding="utf-8") as out:
                for entry in entries.values():
                    out.write(json.dumps(dataclasses.asdict(entry), ensure_ascii=False) + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _parse_manifest_line(line: str) -> ManifestEntry | None:
    try:
        fields = json.loads(line)
        entry = ManifestEntry(**fields)
    except (json.JSONDecodeError, TypeError):
        return None
    return entry if entry.state in STATES and isinstance(entry.ytb_id, str) else None


def classify_failure(message: str, status: int | None = None) -> tuple[str, bool]:
    """The kind of a yt-dlp failure and whether it is permanent (not worth retrying).

    `status` is the HTTP status underneath, when known; otherwise the message decides. An unknown
    message is kind "error", not permanent: a later run tries again.
    """
    if status is not None:
        message = f"HTTP Error {status}: {message}"
    for patterns, permanent in ((_TRANSIENT_REASONS, False), (_PERMANENT_REASONS, True)):
        for pattern, kind in patterns:
            if re.search(pattern, message, re.IGNORECASE):
                return kind, permanent
    return "error", False


def check_raw_video(path: str | os.PathLike[str], needed_end_sec: float) -> tuple[float, str | None]:
    """Demux a downloaded video to its end: (seconds it covers, why it cannot be used or None).

    The file must hold a video stream whose packets reach `needed_end_sec` (its last clip's end,
    within COVER_TOLERANCE_SEC); a cut-off or corrupt file fails here, never later while cutting.
    """
    import av

    end = 0.0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return 0.0, "unreadable: no video stream"
            stream = container.streams.video[0]
            for packet in container.demux(stream):
                if packet.pts is not None and packet.time_base is not None:
                    end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
    except (av.FFmpegError, OSError) as error:
        return end, f"unreadable: {error}"
    if end + COVER_TOLERANCE_SEC < needed_end_sec:
        return end, f"too short: the video ends at {end:.2f} s, its last clip ends at {needed_end_sec:.2f} s"
    return end, None


def download_video(
    data_dir: str | os.PathLike[str],
    ytb_id: str,
    needed_end_sec: float,
    settings: DownloadSettings,
    manifest: Manifest | None = None,
    previous_attempts: int = 0,
    fetcher: YtDlpFetcher | None = None,
) -> ManifestEntry:
    """Fetch one video into `raw/`, retrying transient failures with back-off; record and return the outcome.

    The file is checked (`check_raw_video`) before it is moved into `raw/`; a file that fails the check
    is deleted and its video recorded as failed (too short) or to retry (unreadable). Pass a `fetcher`
    to reuse one yt-dlp instance over many videos (it must be made with the same data_dir and settings).
    """
    if fetcher is None:
        with YtDlpFetcher(data_dir, settings) as own_fetcher:
            return download_video(data_dir, ytb_id, needed_end_sec, settings, manifest, previous_attempts, own_fetcher)
    data_dir = Path(data_dir).expanduser()
    manifest = manifest or Manifest(data_dir)
    partial = data_dir / RAW_VIDEO_FOLDER / PARTIAL_FOLDER / ytb_id
    attempts = previous_attempts
    for retry in range(settings.retries + 1):
        if retry:
            time.sleep(settings.retry_backoff_sec * 2 ** (retry - 1))
        attempts += 1
        try:
            downloaded = fetcher.fetch(ytb_id)
        except _FetchFailed as failure:
            entry = _failure_entry(ytb_id, failure.kind, failure.message, failure.permanent, attempts)
        else:
            entry = _checked_entry(data_dir, ytb_id, downloaded, needed_end_sec, attempts)
        if entry.state != RETRY or retry == settings.retries:
            break
        logger.info("%s: %s; retrying in %g s", ytb_id, entry.reason, settings.retry_backoff_sec * 2**retry)
    if entry.state != RETRY:
        shutil.rmtree(partial, ignore_errors=True)  # a retry may resume the partial files
    manifest.record(entry)
    return entry


def _checked_entry(
    data_dir: Path, ytb_id: str, downloaded: Path, needed_end_sec: float, attempts: int
) -> ManifestEntry:
    duration, problem = check_raw_video(downloaded, needed_end_sec)
    if problem is not None:
        downloaded.unlink(missing_ok=True)
        permanent = problem.startswith("too short")
        kind, _, detail = problem.partition(": ")
        return _failure_entry(ytb_id, kind, f"{downloaded.name}: {detail}", permanent, attempts)
    target = data_dir / RAW_VIDEO_FOLDER / f"{ytb_id}{downloaded.suffix}"
    size = downloaded.stat().st_size
    os.replace(downloaded, target)
    relative = f"{RAW_VIDEO_FOLDER}/{target.name}"
    return ManifestEntry(ytb_id, DONE, "", attempts, size, round(duration, 3), _now(), relative)


def _failure_entry(ytb_id: str, kind: str, message: str, permanent: bool, attempts: int) -> ManifestEntry:
    return ManifestEntry(ytb_id, FAILED if permanent else RETRY, f"{kind}: {message}", attempts, time=_now())


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class _FetchFailed(Exception):
    def __init__(self, kind: str, message: str, permanent: bool) -> None:
        super().__init__(message)
        self.kind, self.message, self.permanent = kind, message, permanent


def yt_dlp_module() -> Any:
    """yt-dlp, or one clear error saying how to install it."""
    try:
        import yt_dlp
    except ImportError:
        raise CelebDatasetsError(f"downloading needs yt-dlp, which is not installed: {INSTALL_HINT}") from None
    return yt_dlp


def ffmpeg_for_merging() -> str:
    """The ffmpeg binary of the imageio-ffmpeg wheel, which yt-dlp merges video and audio with (stream copy)."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise CelebDatasetsError(f"merging video and audio needs imageio-ffmpeg: {INSTALL_HINT}") from None
    return imageio_ffmpeg.get_ffmpeg_exe()


def yt_dlp_options(partial_folder: Path, settings: DownloadSettings) -> dict[str, Any]:
    """YoutubeDL's options: our format, `partial_folder/{ytb_id}/` for files, network settings, no console output."""
    options: dict[str, Any] = {
        "format": FORMAT,
        "outtmpl": str(partial_folder).replace("%", "%%") + f"/%({_ID_FIELD})s/%({_ID_FIELD})s.%(ext)s",
        "ffmpeg_location": ffmpeg_for_merging(),
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "logger": _YtDlpLogger(),
        "noplaylist": True,
        "continuedl": True,
        "overwrites": False,
        # Our loop retries with back-off and classifies; a resumed .part file keeps what was fetched.
        "retries": 0,
        "fragment_retries": 0,
        "extractor_retries": 0,
        "socket_timeout": settings.socket_timeout_sec,
        "cachedir": False,
    }
    if settings.cookies:
        options["cookiefile"] = str(Path(settings.cookies).expanduser())
    if settings.proxy:
        options["proxy"] = settings.proxy
    if settings.rate_limit:
        options["ratelimit"] = _parse_rate(settings.rate_limit)
    if settings.js_runtime:
        name, _, path = settings.js_runtime.partition(":")
        options["js_runtimes"] = {name: {"path": path} if path else {}}
    return options


def _parse_rate(text: str) -> int:
    from yt_dlp.utils import parse_bytes

    rate = parse_bytes(text)
    if rate is None:
        raise OptionError(f"rate_limit {text!r}: expected a rate such as 500K or 2M (bytes per second)")
    return int(rate)


# Our id, given to yt-dlp with each video so that file names never depend on what the site calls it.
_ID_FIELD = "celeb_datasets_ytb_id"


class YtDlpFetcher:
    """One YoutubeDL, reused for video after video (setting one up costs about 0.1 s of CPU); one per thread.

    Files go to `data_dir/raw/.partial/{ytb_id}/`; `fetch` returns the merged file or raises _FetchFailed.
    """

    def __init__(self, data_dir: str | os.PathLike[str], settings: DownloadSettings) -> None:
        yt_dlp = yt_dlp_module()
        self.settings = settings
        self.partial_folder = Path(data_dir).expanduser() / RAW_VIDEO_FOLDER / PARTIAL_FOLDER
        self._download_error = yt_dlp.utils.DownloadError
        options = yt_dlp_options(self.partial_folder, settings)
        self._cookie_copy = None
        if settings.cookies:
            # yt-dlp writes its cookie jar back to the file when it closes: several workers writing the
            # user's own file at once could corrupt it, so each works on a private copy.
            descriptor, self._cookie_copy = tempfile.mkstemp(prefix="celeb-datasets-cookies-", suffix=".txt")
            os.close(descriptor)
            shutil.copyfile(options["cookiefile"], self._cookie_copy)
            options["cookiefile"] = self._cookie_copy
        self._downloader = yt_dlp.YoutubeDL(options)

    def __enter__(self) -> YtDlpFetcher:
        return self

    def __exit__(self, *exception: object) -> None:
        self._downloader.close()
        if self._cookie_copy is not None:
            os.unlink(self._cookie_copy)

    def fetch(self, ytb_id: str) -> Path:
        """Download one video; the merged file, or _FetchFailed with yt-dlp's reason."""
        (self.partial_folder / ytb_id).mkdir(parents=True, exist_ok=True)
        url = self.settings.url_template.format(ytb_id=ytb_id)
        try:
            info = self._downloader.extract_info(url, download=True, extra_info={_ID_FIELD: ytb_id})
        except self._download_error as error:
            message = _clean_message(str(error))
            kind, permanent = classify_failure(message, _http_status(error))
            raise _FetchFailed(kind, message, permanent) from None
        downloads = (info or {}).get("requested_downloads") or []
        path = Path(downloads[0]["filepath"]) if downloads and downloads[0].get("filepath") else None
        if path is None or not path.is_file() or path.parent != self.partial_folder / ytb_id:
            raise _FetchFailed("error", f"yt-dlp reported no file in {self.partial_folder / ytb_id} for {url}", False)
        return path


def _clean_message(message: str) -> str:
    message = re.sub(r"\x1b\[[0-9;]*m", "", message)
    return " ".join(message.removeprefix("ERROR: ").split())


def _http_status(error: BaseException) -> int | None:
    """The HTTP status under a yt-dlp error (its exc_info and causes), if there is one."""
    seen: set[int] = set()
    pending: list[Any] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        status = getattr(current, "status", None)
        if isinstance(status, int) and 100 <= status < 600:
            return status
        exc_info = getattr(current, "exc_info", None)
        pending += [getattr(current, "cause", None), current.__cause__, exc_info[1] if exc_info else None]
    return None


class _YtDlpLogger:
    """yt-dlp's messages go to our logger at debug level (its errors come back as exceptions)."""

    def debug(self, message: str) -> None:
        logger.debug("yt-dlp: %s", message)

    info = debug
    warning = debug
    error = debug


def needed_ends(clips: Iterable[ClipAnnotation]) -> dict[str, float]:
    """Each YouTube video of `clips` (ClipAnnotation) and the end of its last clip, in first-seen order."""
    ends: dict[str, float] = {}
    for clip in clips:
        ends[clip.ytb_id] = max(ends.get(clip.ytb_id, 0.0), clip.end_sec)
    return ends


def read_id_list(path: str | os.PathLike[str], clips: Iterable[ClipAnnotation]) -> list[str]:
    """The YouTube ids named by an id file: one YouTube id or clip id per line ('#' comments, blanks ignored).

    A clip id stands for its YouTube video; an id the annotation file does not know is an error naming its line.
    """
    video_of_clip = {clip.clip_id: clip.ytb_id for clip in clips}
    videos = set(video_of_clip.values())
    chosen: dict[str, None] = {}
    try:
        lines = Path(path).expanduser().read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise MissingSourceError(f"--ids {path}: file not found") from None
    for number, line in enumerate(lines, start=1):
        name = line.split("#", 1)[0].strip()
        if not name:
            continue
        if name in videos:
            chosen[name] = None
        elif name in video_of_clip:
            chosen[video_of_clip[name]] = None
        else:
            raise OptionError(f"{path}:{number}: {name!r} is neither a YouTube id nor a clip id of the annotation file")
    return list(chosen)


def select_videos(
    ends: Mapping[str, float], ids: Iterable[str] | None = None, limit: int | None = None
) -> dict[str, float]:
    """The videos to fetch: those of `ids` (all when None), in order, at most `limit`."""
    chosen = {ytb_id: ends[ytb_id] for ytb_id in (ends if ids is None else ids)}
    if limit is not None:
        if limit < 0:
            raise OptionError(f"--limit must be >= 0, not {limit}")
        chosen = dict(list(chosen.items())[:limit])
    return chosen


def wants_download(
    ytb_id: str, entry: ManifestEntry | None, data_dir: str | os.PathLike[str], retry_failed: bool = False
) -> bool:
    """Whether a video should be fetched: to retry; absent from raw/ and never tried or done before (e.g.
    deleted after cutting); or failed for good and `retry_failed`. A raw video you put there yourself is kept."""
    if entry is not None and entry.state == RETRY:
        return True
    if entry is None or entry.state == DONE:
        return raw_video_path(data_dir, ytb_id) is None
    return retry_failed


@dataclasses.dataclass
class DownloadSummary:
    """What one `download_videos` run did: the entries of the videos it tried, and how many it left alone
    (already in raw/, or failed for good before)."""

    entries: list[ManifestEntry]
    already_done: int
    already_failed: int

    def line(self) -> str:
        """One line: done, failed by kind, to retry by kind, and what was skipped."""
        states = Counter(entry.state for entry in self.entries)
        parts = [f"{states[DONE]:,} done"]
        for state, label in ((FAILED, "failed"), (RETRY, "to retry")):
            kinds = Counter(entry.kind for entry in self.entries if entry.state == state)
            if kinds:
                parts.append(f"{states[state]:,} {label} ({_by_kind(kinds)})")
        skipped = f"; skipped {self.already_done:,} already done"
        if self.already_failed:
            skipped += f", {self.already_failed:,} failed before (--retry-failed retries them)"
        return f"downloaded {len(self.entries):,} video(s): " + ", ".join(parts) + skipped


def download_videos(
    data_dir: str | os.PathLike[str],
    videos: Mapping[str, float],
    settings: DownloadSettings,
    workers: int = 1,
    retry_failed: bool = False,
    on_finish: Callable[[ManifestEntry], None] | None = None,
) -> DownloadSummary:
    """Fetch `videos` ({ytb_id: end of its last clip}) into `data_dir/raw/` with `workers` threads.

    Videos the manifest has as done (and whose file is there) are skipped, and so are permanent failures
    unless `retry_failed`. `on_finish` is called with each finished video's entry (from worker threads).
    """
    if workers < 1:
        raise OptionError(f"--workers must be >= 1, not {workers}")
    yt_dlp_module()
    manifest = Manifest(data_dir)
    manifest.compact()
    entries = manifest.read()
    todo = {
        ytb_id: end
        for ytb_id, end in videos.items()
        if wants_download(ytb_id, entries.get(ytb_id), data_dir, retry_failed)
    }
    left = [entries.get(ytb_id) for ytb_id in videos if ytb_id not in todo]
    finished: list[ManifestEntry] = []
    pending: queue.SimpleQueue[str] = queue.SimpleQueue()
    for ytb_id in todo:
        pending.put(ytb_id)

    # Set on Ctrl-C or a worker's error: the other workers finish the video in hand and take no other.
    stop = threading.Event()

    def work() -> None:
        with YtDlpFetcher(data_dir, settings) as fetcher:
            while not stop.is_set():
                try:
                    ytb_id = pending.get_nowait()
                except queue.Empty:
                    return
                previous = entries.get(ytb_id)
                attempts = previous.attempts if previous else 0
                try:
                    entry = download_video(data_dir, ytb_id, todo[ytb_id], settings, manifest, attempts, fetcher)
                except BaseException:
                    stop.set()
                    raise
                finished.append(entry)  # list.append is atomic
                if on_finish is not None:
                    on_finish(entry)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="download") as pool:
        try:
            for future in [pool.submit(work) for _ in range(min(workers, len(todo)))]:
                future.result()
        except BaseException:
            stop.set()
            raise
    failed_before = sum(entry is not None and entry.state == FAILED for entry in left)
    return DownloadSummary(finished, len(left) - failed_before, failed_before)


def _by_kind(kinds: Counter[str]) -> str:
    return ", ".join(f"{n:,} {kind}" for kind, n in sorted(kinds.items(), key=lambda item: (-item[1], item[0])))


@dataclasses.dataclass
class DownloadStatus:
    """Where a download folder stands against its annotation file."""

    videos: int
    done_on_disk: int
    done_deleted: int
    failed: Counter[str]
    to_retry: Counter[str]
    pending: int
    clips: int
    buildable_clips: int
    raw_bytes: int
    partial_bytes: int

    def lines(self) -> list[str]:
        """The status as printed by `celeb-datasets status`."""
        return [
            f"videos in the annotation file: {self.videos:,}",
            f"  done: {self.done_on_disk + self.done_deleted:,} ({self.done_on_disk:,} in raw/, "
            f"{self.done_deleted:,} downloaded but no longer there, e.g. deleted after cutting)",
            f"  failed: {sum(self.failed.values()):,}" + (f" ({_by_kind(self.failed)})" if self.failed else ""),
            f"  to retry: {sum(self.to_retry.values()):,}" + (f" ({_by_kind(self.to_retry)})" if self.to_retry else ""),
            f"  pending (never tried): {self.pending:,}",
            f"clips that can be built (processed clip or raw video here): {self.buildable_clips:,} of {self.clips:,}",
            f"bytes on disk: {self.raw_bytes:,} in raw/ ({self.raw_bytes / 1e9:,.2f} GB), "
            f"{self.partial_bytes:,} in partial downloads",
        ]


def download_status(data_dir: str | os.PathLike[str], clips: Iterable[ClipAnnotation]) -> DownloadStatus:
    """Count a download folder's videos by manifest state, the clips it can build and its bytes on disk."""
    data_dir = Path(data_dir).expanduser()
    clips = list(clips)
    entries = Manifest(data_dir).read()
    raw_folder = data_dir / RAW_VIDEO_FOLDER
    raw_files = (
        {path.name: path.stat().st_size for path in raw_folder.iterdir() if path.is_file()}
        if raw_folder.is_dir()
        else {}
    )
    on_disk = {name.rsplit(".", 1)[0] for name in raw_files if Path(name).suffix in RAW_VIDEO_EXTENSIONS}
    processed = processed_clip_names(data_dir)
    ends = needed_ends(clips)
    states = [entries[ytb_id] for ytb_id in ends if ytb_id in entries]
    partial = raw_folder / PARTIAL_FOLDER
    return DownloadStatus(
        videos=len(ends),
        done_on_disk=len(on_disk & ends.keys()),
        done_deleted=sum(e.state == DONE and e.ytb_id not in on_disk for e in states),
        failed=Counter(e.kind for e in states if e.state == FAILED and e.ytb_id not in on_disk),
        to_retry=Counter(e.kind for e in states if e.state == RETRY and e.ytb_id not in on_disk),
        pending=sum(ytb_id not in entries and ytb_id not in on_disk for ytb_id in ends),
        clips=len(clips),
        buildable_clips=sum(clip.ytb_id in on_disk or f"{clip.clip_id}.mp4" in processed for clip in clips),
        raw_bytes=sum(raw_files.values()),
        partial_bytes=sum(p.stat().st_size for p in partial.rglob("*") if p.is_file()) if partial.is_dir() else 0,
    )
