"""Downloading the raw CelebV-HQ videos with yt-dlp: paced, classified failures, a resumable manifest, checked files.

    >>> from celebv_hq_lib.download import DownloadSettings, download_videos
    >>> summary = download_videos("~/CelebV-HQ", {"M2Ohb0FAaJU": 86.17}, DownloadSettings(), workers=2)

Each video goes to `raw/.partial/{ytb_id}/` first; it is moved to `raw/{ytb_id}.{ext}` only once PyAV has
read it to the end and found that it covers its last clip. Every finished video (done or failed) appends
one JSON line to `download_manifest.jsonl` in the data folder; the last line of a video wins, so a kill
loses at most the videos in flight. Video starts follow the session's pace and its circuit breaker
(celebv_hq_lib.session). yt-dlp is an optional dependency (`pip install 'celeb-datasets[download]'`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import fcntl
import io
import json
import logging
import math
import os
import queue
import re
import shutil
import tempfile
import threading
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from celeb_datasets.errors import CelebDatasetsError, MissingSourceError, OptionError, SourceFileError, StorageError
from celeb_datasets.folders import write_problem
from celeb_datasets.options import check_options, option
from celeb_datasets.sourcefiles import decode_text
from celebv_hq_lib.annotations import ClipAnnotation
from celebv_hq_lib.layout import (
    DOWNLOAD_LOCK_FILE,
    MANIFEST_FILE,
    PACE_FILE,
    RAW_VIDEO_EXTENSIONS,
    RAW_VIDEO_FOLDER,
    check_youtube_id,
    file_names,
    partial_download_folder,
    processed_clip_names,
    raw_video_obstacle,
    raw_video_path,
    raw_video_target,
    youtube_id_problem,
)
from celebv_hq_lib.session import (
    SESSION_REFUSALS,
    SUSPECT_REFUSALS,
    CircuitBreaker,
    FolderLock,
    Pacer,
    Refusal,
    SessionStopped,
)
from celebv_hq_lib.sources import VideoSources

logger = logging.getLogger("celeb_datasets")

YOUTUBE_URL_TEMPLATE = "https://www.youtube.com/watch?v={ytb_id}"
# The release's preference; `best` is our last resort for sources that offer a single file only.
FORMAT = "bestvideo[ext=mp4]+bestaudio[ext=m4a]/bestvideo+bestaudio/best"
INSTALL_HINT = "pip install 'celeb-datasets[download]'"
# Annotated clip ends are rounded to 10 ms and a last frame may end a little before them.
COVER_TOLERANCE_SEC = 0.1
PROXY_SCHEMES = ("http", "https", "socks4", "socks4a", "socks5", "socks5h")

DONE, FAILED, RETRY = "done", "failed", "retry"
STATES = (DONE, FAILED, RETRY)

# yt-dlp's reasons (YouTube's own words) for a video that will not come back: (pattern, kind).
# "forbidden" and "no usable format" are the video's own only once the session has proven healthy
# (celebv_hq_lib.session.SUSPECT_REFUSALS): until then a download ending so is left to retry.
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
    (r"requested format is not available|no video formats found|only images are available", "no usable format"),
    (r"unsupported url", "unsupported url"),
)
# Reasons that may go away on their own: retried with back-off, or (session refusals) after a pause.
_TRANSIENT_REASONS = (
    (r"rate.?limited by YouTube|content isn.t available, try again later", "rate-limited"),
    (r"HTTP Error 429|too many requests|rate.?limit", "throttled"),
    (r"not a bot", "bot check"),
    (r"captcha|unusual traffic", "captcha"),
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

    None of them changes what a video is, so none is part of a build's cache key. The pace defaults
    keep a session under YouTube's limit for a guest session (about 300 videos an hour): one video
    start every 12 to 18 s, 240 an hour on average, however many workers.
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
    extractor_args: str | None = option(
        None,
        "yt-dlp extractor arguments, as its --extractor-args: IE:KEY=VALUE[,VALUE][;KEY=VALUE], several separated "
        "by spaces (e.g. youtube:player_client=web for a PO-token provider plugin)",
        defines_rows=False,
    )
    pace_min_sec: float = option(
        12.0, "the shortest time between two video starts of the session, all workers together", defines_rows=False
    )
    pace_max_sec: float = option(18.0, "the longest: each gap is random between the two (jitter)", defines_rows=False)
    request_sleep_sec: float = option(
        0.75, "yt-dlp's sleep between the web requests of one video (sleep_interval_requests)", defines_rows=False
    )
    refusal_pause_sec: float = option(
        300.0, "when YouTube refuses the session, every worker pauses this long, doubled at each next refusal",
        defines_rows=False,
    )  # fmt: skip
    refusal_pauses: int = option(3, "pauses before a session YouTube keeps refusing stops the run", defines_rows=False)
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
        check_url_template(self.url_template)
        for name in ("retries", "retry_backoff_sec", "pace_min_sec", "request_sleep_sec", "refusal_pause_sec"):
            if getattr(self, name) < 0:
                raise OptionError(f"{name} must be >= 0, not {getattr(self, name)}")
        if self.refusal_pauses < 0:
            raise OptionError(f"refusal_pauses must be >= 0, not {self.refusal_pauses}")
        if self.pace_max_sec < self.pace_min_sec:
            raise OptionError(f"pace_max_sec ({self.pace_max_sec}) must be >= pace_min_sec ({self.pace_min_sec})")
        if self.socket_timeout_sec <= 0:
            raise OptionError(f"socket_timeout_sec must be > 0, not {self.socket_timeout_sec}")
        if self.proxy is not None:
            check_proxy(self.proxy)
        if self.extractor_args is not None:
            parse_extractor_args(self.extractor_args)
        if self.cookies is not None:
            cookies = Path(self.cookies).expanduser()
            if cookies.is_dir():
                raise MissingSourceError(f"cookies file {self.cookies} is a folder (expected a Netscape cookies.txt)")
            if not cookies.is_file():
                raise MissingSourceError(f"cookies file {self.cookies} not found (expected a Netscape cookies.txt)")


def check_url_template(template: str) -> None:
    """Raise OptionError unless `template` is an http(s) URL whose only field is {ytb_id}."""
    if "{ytb_id}" not in template:
        raise OptionError(f"url_template {template!r} must contain {{ytb_id}}")
    try:
        url = template.format(ytb_id="M2Ohb0FAaJU")
    except (KeyError, IndexError, ValueError, AttributeError) as error:
        raise OptionError(
            f"url_template {template!r}: {{ytb_id}} is the only field it may have (found a problem with {error}); "
            "write a literal brace as {{ or }}"
        ) from None
    address = urllib.parse.urlsplit(url)
    if address.scheme not in ("http", "https") or not address.netloc:
        raise OptionError(
            f"url_template {template!r}: expected an http:// or https:// address with a host "
            f"(found {address.scheme + '://' if address.scheme else 'no scheme'}; yt-dlp fetches web pages only)"
        )


def check_proxy(proxy: str) -> None:
    """Raise OptionError unless `proxy` is SCHEME://HOST[:PORT] with a scheme yt-dlp speaks ("" means none)."""
    if proxy == "":
        return
    expected = (
        f"expected SCHEME://HOST[:PORT] with SCHEME one of {', '.join(PROXY_SCHEMES)}, e.g. socks5://127.0.0.1:1080"
    )
    try:
        address = urllib.parse.urlsplit(proxy)
        address.port  # noqa: B018 (a bad port raises here)
    except ValueError as error:
        raise OptionError(f"proxy {proxy!r}: {error}; {expected}") from None
    host = address.hostname or ""
    if address.scheme not in PROXY_SCHEMES or not host or re.search(r"[\s/\\]", host):
        raise OptionError(f"proxy {proxy!r}: {expected}")


def parse_extractor_args(text: str) -> dict[str, dict[str, list[str]]]:
    """yt-dlp's `extractor_args` from the text of its --extractor-args ("IE:KEY=V1,V2;KEY2=V", several by spaces).

    Keys are lowercased with `-` as `_` and values split on unescaped commas, as yt-dlp's own option does.
    """
    arguments: dict[str, dict[str, list[str]]] = {}
    for part in text.split():
        extractor, separator, pairs = part.partition(":")
        if not separator or not extractor or not pairs:
            raise OptionError(
                f"extractor_args {part!r}: expected IE:KEY=VALUE[,VALUE][;KEY=VALUE], e.g. youtube:player_client=web"
            )
        for pair in pairs.split(";"):
            key, _, values = pair.partition("=")
            if not key.strip():
                raise OptionError(f"extractor_args {part!r}: {pair!r} has no KEY (expected KEY=VALUE)")
            name = key.strip().lower().replace("-", "_")
            split = [value.replace(r"\,", ",").strip() for value in re.split(r"(?<!\\),", values)]
            arguments.setdefault(extractor.lower(), {})[name] = split
    return arguments


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
        """How the download failed, for a skip report: "failed for good: ..." or "failed for now, ...: ..."."""
        return f"failed {'for good' if self.state == FAILED else 'for now, a rerun retries it'}: {self.reason}"

    @property
    def kind(self) -> str:
        """The failure's kind ("removed by uploader", "throttled", ...): its reason up to the first colon."""
        return self.reason.split(":", 1)[0]

    def timestamp(self) -> float:
        """`time` as seconds since the epoch (0 when it is missing or unreadable)."""
        try:
            return datetime.datetime.fromisoformat(self.time).timestamp()
        except ValueError:
            return 0.0


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _seconds(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


# What each field of a manifest line must be: (check, what was expected).
_MANIFEST_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "ytb_id": (lambda value: youtube_id_problem(value) is None, "a YouTube id (11 letters, digits, - or _)"),
    "state": (lambda value: value in STATES, f"one of {', '.join(STATES)}"),
    "reason": (lambda value: isinstance(value, str), "a text"),
    "attempts": (_whole, "a whole number >= 0"),
    "size": (_whole, "a whole number of bytes >= 0"),
    "duration_sec": (_seconds, "a number of seconds >= 0"),
    "time": (lambda value: isinstance(value, str), "a text (ISO 8601 time)"),
    "file": (lambda value: isinstance(value, str), "a text"),
}
_warned_lines: set[tuple[str, int, str]] = set()
_warned_lock = threading.Lock()


def parse_manifest_line(line: str) -> tuple[ManifestEntry | None, str]:
    """One manifest line as an entry, checked field by field; or (None, what is wrong with it)."""
    try:
        fields = json.loads(line)
    except json.JSONDecodeError:
        return None, "not a JSON object (torn by a kill mid-write?)"
    if not isinstance(fields, dict):
        return None, f"expected a JSON object, found {type(fields).__name__}"
    for required in ("ytb_id", "state"):
        if required not in fields:
            return None, f"{required}: missing"
    for name, value in fields.items():
        if name not in _MANIFEST_FIELDS:
            return None, f"{name}: not a field of the manifest"
        check, expected = _MANIFEST_FIELDS[name]
        if not check(value):
            return None, f"{name}: expected {expected}, found {value!r}"
    entry = ManifestEntry(**fields)
    if entry.file and entry.file not in {f"{RAW_VIDEO_FOLDER}/{entry.ytb_id}{ext}" for ext in RAW_VIDEO_EXTENSIONS}:
        return (
            None,
            f"file: expected {RAW_VIDEO_FOLDER}/{entry.ytb_id}.{{mp4,mkv,webm}} or nothing, found {entry.file!r}",
        )
    return entry, ""


class Manifest:
    """The download manifest of a data folder: JSON lines, the last line of a video wins.

    Safe to update from several threads and processes at once (an exclusive `flock` on a lock file).
    Each line is checked field by field; a bad one (torn by a kill, or edited) is ignored as if it were
    not there, with one warning naming the line, and never glued to the next line.
    """

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.path = Path(data_dir).expanduser() / MANIFEST_FILE
        self._lock_path = self.path.with_name(MANIFEST_FILE + ".lock")

    def read(self) -> dict[str, ManifestEntry]:
        """Each video's latest entry (empty when there is no manifest yet)."""
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return {}
        except IsADirectoryError:
            raise MissingSourceError(f"{self.path} is a folder: expected the download manifest (JSON lines)") from None
        entries: dict[str, ManifestEntry] = {}
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            entry, problem = parse_manifest_line(line)
            if entry is not None:
                entries[entry.ytb_id] = entry
            else:
                self._warn(number, line, problem)
        return entries

    def _warn(self, number: int, line: str, problem: str) -> None:
        key = (str(self.path), number, line)
        with _warned_lock:
            if key in _warned_lines:
                return  # a manifest is read often (once per video in a fetch build): warn once per line
            _warned_lines.add(key)
        logger.warning("%s:%d: ignored (as if torn): %s: %.100r", self.path, number, problem, line)

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


def classify_failure(message: str, status: int | None = None) -> tuple[str, bool]:
    """The kind of a yt-dlp failure and whether it is permanent (not worth retrying).

    `status` is the HTTP status underneath, when known; otherwise the message decides. An unknown
    message is kind "error", not permanent: a later run tries again. Kinds in SESSION_REFUSALS and
    SUSPECT_REFUSALS also feed the session's circuit breaker (see `download_video`).
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
    A file without a video stream (an audio-only source) is "no usable format".
    """
    import av

    end = 0.0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return 0.0, "no usable format: the source has no video stream (audio only?)"
            stream = container.streams.video[0]
            for packet in container.demux(stream):
                if packet.pts is not None and packet.time_base is not None:
                    end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
    except (av.FFmpegError, OSError) as error:
        return end, f"unreadable: {error}"
    if end + COVER_TOLERANCE_SEC < needed_end_sec:
        return end, f"too short: the video ends at {end:.2f} s, its last clip ends at {needed_end_sec:.2f} s"
    return end, None


# ---------------------------------------------------------------------------------------------------
# One session: pace and circuit breaker shared by the workers of a run.


class DownloadSession:
    """The pace and circuit breaker of one run over a data folder (see celebv_hq_lib.session).

    `download_videos` makes one per run and shares it between its threads; a fetch build makes one per
    build and process (`fetch_session`), and the pace file shares the budget between its processes.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        settings: DownloadSettings,
        entries: Mapping[str, ManifestEntry] | None = None,
    ) -> None:
        # The latest success the manifest (`entries`) knows of, from earlier runs.
        done = [entry.timestamp() for entry in (entries or {}).values() if entry.state == DONE]
        self.earlier_success = max(done, default=-math.inf)
        self.stop = threading.Event()
        pace_file = Path(data_dir).expanduser() / PACE_FILE
        self.pacer = Pacer(pace_file, settings.pace_min_sec, settings.pace_max_sec, self.stop)
        self.breaker = CircuitBreaker(self.pacer, settings.refusal_pause_sec, settings.refusal_pauses)

    def video_specific(self, kind: str, previous: ManifestEntry | None) -> bool:
        """Whether a suspect refusal is the video's own (failed for good) rather than the session's.

        "no usable format" is the video's own when this session is healthy (a video succeeded since the
        last trip); "forbidden" only when it repeats: this video was forbidden before, and another video
        succeeded after that (in this run, or in an earlier one by the manifest).
        """
        if kind == "no usable format":
            return self.breaker.healthy()
        if kind == "forbidden" and previous is not None and previous.state == RETRY and previous.kind == "forbidden":
            forbidden_at = previous.timestamp()
            return self.earlier_success > forbidden_at or self.breaker.succeeded_since(forbidden_at)
        return False


_fetch_sessions: dict[str, DownloadSession] = {}
_fetch_sessions_lock = threading.Lock()


def fetch_session(key: str, data_dir: str | os.PathLike[str], settings: DownloadSettings) -> DownloadSession:
    """The session of the fetch build `key` in this process (made on first use)."""
    with _fetch_sessions_lock:
        session = _fetch_sessions.get(key)
        if session is None:
            session = _fetch_sessions[key] = DownloadSession(data_dir, settings, Manifest(data_dir).read())
        return session


# ---------------------------------------------------------------------------------------------------
# One video.


def download_video(
    data_dir: str | os.PathLike[str],
    ytb_id: str,
    needed_end_sec: float,
    settings: DownloadSettings,
    manifest: Manifest | None = None,
    previous: ManifestEntry | None = None,
    fetcher: YtDlpFetcher | None = None,
    session: DownloadSession | None = None,
) -> ManifestEntry:
    """Fetch one video into `raw/` in its turn of the session's pace; record and return the outcome.

    Transient failures are retried with back-off. A refusal that may be the session's (429, the bot
    check, 403, no usable format) is not retried here: it is reported to the session's circuit breaker
    and the video left to retry (the caller may queue it again after a pause). The file is checked
    (`check_raw_video`) before it is moved into `raw/`. `previous` is the video's last manifest entry.
    Pass a `fetcher` (made with the same data_dir and settings) to reuse one yt-dlp instance, and a
    `session` to share a pace and breaker. Raises SessionStopped when the session stops before a start, and
    StorageError when the video's name in raw/ is taken by a folder (`check_raw_video_free`).
    """
    check_raw_video_free(data_dir, ytb_id)
    if fetcher is None:
        with YtDlpFetcher(data_dir, settings) as own_fetcher:
            return download_video(data_dir, ytb_id, needed_end_sec, settings, manifest, previous, own_fetcher, session)
    data_dir = Path(data_dir).expanduser()
    manifest = manifest or Manifest(data_dir)
    session = session or DownloadSession(data_dir, settings)
    attempts = previous.attempts if previous else 0
    entry: ManifestEntry | None = None
    for retry in range(settings.retries + 1):
        if entry is not None:  # the last try failed in a way that may pass: back off, then try again
            wait = settings.retry_backoff_sec * 2 ** (retry - 1)
            logger.info("%s: %s; retrying in %g s", ytb_id, entry.reason, wait)
            if session.stop.wait(wait):
                break
            try:
                started = session.pacer.next_turn()
            except SessionStopped:
                break  # the run stops: the last attempt's outcome is recorded
        else:
            started = session.pacer.next_turn()
        attempts += 1
        entry, refusal = _attempt(data_dir, ytb_id, needed_end_sec, fetcher, attempts)
        if entry.state == DONE:
            session.breaker.succeeded()
        if refusal is not None:
            if session.video_specific(refusal.kind, previous):
                entry = dataclasses.replace(entry, state=FAILED)
            else:
                session_level = refusal.kind in SESSION_REFUSALS
                session.breaker.refused(refusal, started, session_level)
            break
        if entry.state != RETRY:
            break
    assert entry is not None  # the first try always ends with one (or raises)
    if entry.state != RETRY:
        shutil.rmtree(partial_download_folder(data_dir, ytb_id), ignore_errors=True)  # a retry may resume them
    manifest.record(entry)
    return entry


def _attempt(
    data_dir: Path, ytb_id: str, needed_end_sec: float, fetcher: YtDlpFetcher, attempts: int
) -> tuple[ManifestEntry, Refusal | None]:
    """One try: the entry it ends with, and the refusal it met when that may be the session's (else None)."""
    try:
        downloaded = fetcher.fetch(ytb_id)
    except _FetchFailed as failure:
        refusal = None
        if failure.kind in SESSION_REFUSALS or failure.kind in SUSPECT_REFUSALS:
            refusal = Refusal(ytb_id, failure.kind, failure.message)
        # A suspect refusal is left to retry until the session shows it is the video's own.
        permanent = failure.permanent and refusal is None
        return _failure_entry(ytb_id, failure.kind, failure.message, permanent, attempts), refusal
    return _checked_entry(data_dir, ytb_id, downloaded, needed_end_sec, attempts), None


def _checked_entry(
    data_dir: Path, ytb_id: str, downloaded: Path, needed_end_sec: float, attempts: int
) -> ManifestEntry:
    duration, problem = check_raw_video(downloaded, needed_end_sec)
    if problem is None and downloaded.suffix not in RAW_VIDEO_EXTENSIONS:
        problem = (
            f"no usable format: yt-dlp gave a {downloaded.suffix} file; expected {', '.join(RAW_VIDEO_EXTENSIONS)}"
        )
    if problem is not None:
        downloaded.unlink(missing_ok=True)
        kind, _, detail = problem.partition(": ")
        # A file that is too short, or has no video at all, is what the source offers: it will not change.
        permanent = kind in ("too short", "no usable format")
        return _failure_entry(ytb_id, kind, f"{downloaded.name}: {detail}", permanent, attempts)
    target = raw_video_target(data_dir, ytb_id, downloaded.suffix)
    size = downloaded.stat().st_size
    os.replace(downloaded, target)
    relative = f"{RAW_VIDEO_FOLDER}/{target.name}"
    return ManifestEntry(ytb_id, DONE, "", attempts, size, round(duration, 3), _now(), relative)


def _failure_entry(ytb_id: str, kind: str, message: str, permanent: bool, attempts: int) -> ManifestEntry:
    return ManifestEntry(ytb_id, FAILED if permanent else RETRY, f"{kind}: {message}", attempts, time=_now())


def _now() -> str:
    # Milliseconds: a refusal and a success of another video may fall within one second.
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


class _FetchFailed(Exception):
    def __init__(self, kind: str, message: str, permanent: bool) -> None:
        super().__init__(message)
        self.kind, self.message, self.permanent = kind, message, permanent


# ---------------------------------------------------------------------------------------------------
# yt-dlp.


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


def check_download_settings(settings: DownloadSettings) -> None:
    """What only yt-dlp can check, before any download: it is installed, the rate limit reads, the
    cookies file parses, the JavaScript runtime is one it knows. Raises the package's errors (one line)."""
    yt_dlp_module()
    if settings.rate_limit:
        _parse_rate(settings.rate_limit)
    if settings.cookies:
        load_cookies(settings.cookies)
    if settings.js_runtime:
        from yt_dlp.globals import supported_js_runtimes

        name = settings.js_runtime.partition(":")[0]
        known = supported_js_runtimes.value
        if known and name not in known:
            raise OptionError(f"js_runtime {settings.js_runtime!r}: yt-dlp knows {', '.join(known)}")


def load_cookies(path: str | os.PathLike[str]) -> Any:
    """The cookies of a Netscape cookies.txt, read as yt-dlp reads it; SourceFileError naming the file if not."""
    yt_dlp_module()
    from http.cookiejar import LoadError

    from yt_dlp.cookies import YoutubeDLCookieJar

    jar = YoutubeDLCookieJar(str(Path(path).expanduser()))
    skipped = io.StringIO()
    try:
        # yt-dlp prints each line it skips to stderr: keep them for the message instead.
        with contextlib.redirect_stderr(skipped):
            jar.load()
    except (LoadError, UnicodeDecodeError, ValueError) as error:
        detail = [line.removeprefix("WARNING: ") for line in skipped.getvalue().strip().splitlines()]
        hint = f" ({len(detail)} line(s) not in the format, e.g. {detail[0]})" if detail else ""
        raise SourceFileError(
            f"cookies file {path}: {error}{hint}; expected a Netscape cookies.txt (its first line "
            "'# Netscape HTTP Cookie File', then one tab-separated cookie a line)"
        ) from None
    except OSError as error:
        raise MissingSourceError(f"cookies file {path}: cannot read it: {error.strerror}") from None
    return jar


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
        # The pace between videos is ours (shared by all workers); between the requests of one video, yt-dlp's.
        "sleep_interval_requests": settings.request_sleep_sec,
        "cachedir": False,
    }
    if settings.cookies:
        options["cookiefile"] = str(Path(settings.cookies).expanduser())
    if settings.proxy is not None:
        options["proxy"] = settings.proxy
    if settings.rate_limit:
        options["ratelimit"] = _parse_rate(settings.rate_limit)
    if settings.js_runtime:
        name, _, path = settings.js_runtime.partition(":")
        options["js_runtimes"] = {name: {"path": path} if path else {}}
    if settings.extractor_args:
        options["extractor_args"] = parse_extractor_args(settings.extractor_args)
    return options


def _parse_rate(text: str) -> int:
    from yt_dlp.utils import parse_bytes

    rate = parse_bytes(text)
    if rate is None:
        raise OptionError(f"rate_limit {text!r}: expected a rate such as 500K or 2M (bytes per second)")
    return int(rate)


# Our id, given to yt-dlp with each video so that file names never depend on what the site calls it.
_ID_FIELD = "celeb_datasets_ytb_id"
_COOKIE_FOLDER_PREFIX = "celeb-datasets-cookies-"


class YtDlpFetcher:
    """One YoutubeDL, reused for video after video (setting one up costs about 0.1 s of CPU); one per thread.

    Files go to `data_dir/raw/.partial/{ytb_id}/`; `fetch` returns the merged file or raises _FetchFailed.
    With cookies, yt-dlp works on a private copy (in a folder only its owner can read), removed on close
    and when setting up fails; use it as a context manager so that every exit path closes it.
    """

    def __init__(self, data_dir: str | os.PathLike[str], settings: DownloadSettings) -> None:
        yt_dlp = yt_dlp_module()
        self.settings = settings
        # Absolute: yt-dlp reports absolute file paths, compared with ours in `fetch`.
        self.data_dir = Path(data_dir).expanduser().absolute()
        self._download_errors = (yt_dlp.utils.DownloadError, yt_dlp.utils.YoutubeDLError)
        options = yt_dlp_options(partial_download_folder(self.data_dir), settings)
        self._cookie_folder: str | None = None
        try:
            if settings.cookies:
                # yt-dlp writes its cookie jar back to the file when it closes: several workers writing the
                # user's own file at once could corrupt it, so each works on a private copy.
                self._cookie_folder = tempfile.mkdtemp(prefix=_COOKIE_FOLDER_PREFIX)  # mode 0700
                copy = os.path.join(self._cookie_folder, "cookies.txt")
                descriptor = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with open(descriptor, "wb") as out, open(options["cookiefile"], "rb") as source:
                    shutil.copyfileobj(source, out)
                options["cookiefile"] = copy
            self._downloader = yt_dlp.YoutubeDL(options)
            _match_extractor(yt_dlp, settings.url_template.format(ytb_id="M2Ohb0FAaJU"))
        except self._download_errors as error:
            self._remove_cookie_copy()
            raise OptionError(f"yt-dlp refused the download settings: {_clean_message(str(error))}") from None
        except BaseException:
            self._remove_cookie_copy()
            raise

    def __enter__(self) -> YtDlpFetcher:
        return self

    def __exit__(self, *exception: object) -> None:
        try:
            self._downloader.close()
        finally:
            self._remove_cookie_copy()

    def _remove_cookie_copy(self) -> None:
        if self._cookie_folder is not None:
            shutil.rmtree(self._cookie_folder, ignore_errors=True)
            self._cookie_folder = None

    def fetch(self, ytb_id: str) -> Path:
        """Download one video; the merged file, or _FetchFailed with yt-dlp's reason."""
        folder = partial_download_folder(self.data_dir, ytb_id)
        folder.mkdir(parents=True, exist_ok=True)
        url = self.settings.url_template.format(ytb_id=ytb_id)
        try:
            info = self._downloader.extract_info(url, download=True, extra_info={_ID_FIELD: ytb_id})
        except self._download_errors as error:
            message = _clean_message(str(error))
            kind, permanent = classify_failure(message, _http_status(error))
            raise _FetchFailed(kind, message, permanent) from None
        downloads = (info or {}).get("requested_downloads") or []
        path = Path(downloads[0]["filepath"]) if downloads and downloads[0].get("filepath") else None
        if path is None or not path.is_file() or path.parent != folder:
            raise _FetchFailed("error", f"yt-dlp reported no file in {folder} for {url}", False)
        return path


def _match_extractor(yt_dlp: Any, url: str) -> None:
    """Find the extractor of `url` as YoutubeDL does, once, before the first turn of the pace: the first
    match compiles the patterns of up to ~1,800 extractors (about a second of CPU), which would otherwise
    delay a worker's first request past its turn and bunch the first requests of all workers together."""
    for extractor in yt_dlp.extractor.gen_extractor_classes():
        if extractor.suitable(url):
            return


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


# ---------------------------------------------------------------------------------------------------
# Choosing videos.


def needed_ends(clips: Iterable[ClipAnnotation]) -> dict[str, float]:
    """Each YouTube video of `clips` (ClipAnnotation) and the end of its last clip, in first-seen order."""
    ends: dict[str, float] = {}
    for clip in clips:
        ends[clip.ytb_id] = max(ends.get(clip.ytb_id, 0.0), clip.end_sec)
    return ends


def read_id_list(path: str | os.PathLike[str], clips: Iterable[ClipAnnotation]) -> list[str]:
    """The YouTube ids named by an id file: one YouTube id or clip id per line ('#' comments, blanks ignored).

    A clip id stands for its YouTube video. A leading byte-order mark (Windows Notepad's) is dropped. An id
    the annotation file does not know, a file that is not UTF-8 text, or one that names no video at all is
    an error naming the file (and line).
    """
    video_of_clip = {clip.clip_id: clip.ytb_id for clip in clips}
    videos = set(video_of_clip.values())
    chosen: dict[str, None] = {}
    path = Path(path).expanduser()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MissingSourceError(f"--ids {path}: file not found") from None
    except IsADirectoryError:
        raise MissingSourceError(f"--ids {path} is a folder: expected a text file of ids, one a line") from None
    except OSError as error:
        raise MissingSourceError(f"--ids {path}: cannot read it: {error.strerror}") from None
    lines = decode_text(data, f"--ids {path}", "expected YouTube ids or clip ids, one a line").splitlines()
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
    if not chosen:
        raise OptionError(f"--ids {path} names no video (only blank lines and comments): expected one id a line")
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


# What a video's raw file says against its manifest entry.
ABSENT, KEPT, CHANGED = "absent", "kept", "changed"


def raw_video_state(
    data_dir: str | os.PathLike[str],
    ytb_id: str,
    entry: ManifestEntry | None,
    raw_sizes: Mapping[str, int] | None = None,
) -> str:
    """ABSENT (no raw file), KEPT (a usable raw file: as downloaded, or put there by you), or CHANGED (a
    video the manifest has as done whose file no longer has the size it was downloaded with: truncated
    or replaced). `raw_sizes` ({file name: bytes} of raw/) saves a look at the disk per video."""
    if raw_sizes is None:
        path = raw_video_path(data_dir, ytb_id)
        if path is None:
            return ABSENT
        name, size = path.name, path.stat().st_size
    else:
        name = next((f"{ytb_id}{ext}" for ext in RAW_VIDEO_EXTENSIONS if f"{ytb_id}{ext}" in raw_sizes), None)
        if name is None:
            return ABSENT
        size = raw_sizes[name]
    if entry is not None and entry.state == DONE and entry.file == f"{RAW_VIDEO_FOLDER}/{name}" and entry.size:
        return KEPT if size == entry.size else CHANGED
    return KEPT


def wants_download(
    ytb_id: str, entry: ManifestEntry | None, data_dir: str | os.PathLike[str], retry_failed: bool = False
) -> bool:
    """Whether a video should be fetched: a usable raw file is kept (as downloaded, or put there by you);
    a done video whose file is gone or changed in size is fetched again; then to retry, never tried, or
    failed for good with `retry_failed`."""
    state = raw_video_state(data_dir, ytb_id, entry)
    if state != ABSENT:
        return state == CHANGED
    return entry is None or entry.state in (DONE, RETRY) or retry_failed


@dataclasses.dataclass
class DownloadSummary:
    """What one `download_videos` run did: each tried video's latest entry, how many it left alone
    (already in raw/, or failed for good before), and, when YouTube's refusals stopped it, the last
    refusal and how many videos it did not reach (still pending)."""

    entries: list[ManifestEntry]
    already_done: int
    already_failed: int
    stopped: Refusal | None = None
    refusals: int = 0
    not_reached: int = 0

    def line(self) -> str:
        """One line: done, failed by kind, to retry by kind, not reached, and what was skipped."""
        states = Counter(entry.state for entry in self.entries)
        parts = [f"{states[DONE]:,} done"]
        for state, label in ((FAILED, "failed"), (RETRY, "to retry")):
            kinds = Counter(entry.kind for entry in self.entries if entry.state == state)
            if kinds:
                parts.append(f"{states[state]:,} {label} ({_by_kind(kinds)})")
        if self.not_reached:
            parts.append(f"{self.not_reached:,} not reached (still pending)")
        skipped = f"; skipped {self.already_done:,} already done"
        if self.already_failed:
            skipped += f", {self.already_failed:,} failed before (--retry-failed retries them)"
        return f"downloaded {len(self.entries):,} video(s): " + ", ".join(parts) + skipped


def check_download_folder(data_dir: str | os.PathLike[str]) -> None:
    """StorageError, in one line, unless downloads can be written into `data_dir`: the folder itself (the
    manifest, the lock, the pace file), `raw/` and `raw/.partial/` must be folders this process can write in.
    `raw/` and `raw/.partial/` are made when absent."""
    data_dir = Path(data_dir).expanduser()
    raw = data_dir / RAW_VIDEO_FOLDER
    partial = partial_download_folder(data_dir)
    for folder in (raw, partial):
        if os.path.lexists(folder) and not folder.is_dir():
            raise StorageError(
                f"{folder} is a file, not a folder: downloads are written in it; move the file away, or give "
                "another data folder"
            )
    for folder in (data_dir, raw, partial):
        problem = write_problem(folder) if folder.is_dir() else None
        if problem is not None:
            raise StorageError(
                f"cannot write in {folder}: {problem}; downloads go to {RAW_VIDEO_FOLDER}/ and the manifest and lock "
                "to the data folder: give a data folder you can write in (a read-only copy of the videos can be "
                "given as --raw-dir, raw_dir)"
            )
    try:
        partial.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StorageError(f"cannot create {partial}, where downloads are written: {error.strerror}") from None


def check_raw_video_free(data_dir: str | os.PathLike[str], ytb_id: str) -> None:
    """StorageError when the name a download of `ytb_id` would take in `raw/` holds something else than a
    file (a folder, a link to nothing): a download never replaces what it did not write."""
    obstacle = raw_video_obstacle(data_dir, ytb_id)
    if obstacle is not None:
        what = "a folder" if obstacle.is_dir() else "a link to nothing" if obstacle.is_symlink() else "not a file"
        raise StorageError(
            f"{obstacle} is {what}: the download of {ytb_id} would be written there; move it away (a download "
            "never replaces what it did not write)"
        )


def download_videos(
    data_dir: str | os.PathLike[str],
    videos: Mapping[str, float],
    settings: DownloadSettings,
    workers: int = 1,
    retry_failed: bool = False,
    on_finish: Callable[[ManifestEntry], None] | None = None,
) -> DownloadSummary:
    """Fetch `videos` ({ytb_id: end of its last clip}) into `data_dir/raw/` with `workers` threads.

    Holds the folder's download lock for the run (FolderBusyError if another download holds it). A folder
    downloads cannot be written in, or a video's name in raw/ taken by a folder, is a StorageError before
    anything is fetched.
    Videos with a usable raw file are skipped, and so are permanent failures unless `retry_failed`.
    Starts follow the session's pace; a video refused in a way that may be the session's is queued
    again (after the others, at most `settings.retries` times). When the circuit breaker stops the
    run, the summary's `stopped` says why. `on_finish` gets each finished attempt's entry (from worker
    threads).
    """
    if workers < 1:
        raise OptionError(f"--workers must be >= 1, not {workers}")
    for ytb_id in videos:
        check_youtube_id(ytb_id)
    check_download_settings(settings)
    data_dir = Path(data_dir).expanduser()
    check_download_folder(data_dir)
    with FolderLock(data_dir / DOWNLOAD_LOCK_FILE, exclusive=True):
        return _download_locked(data_dir, videos, settings, workers, retry_failed, on_finish)


def _download_locked(
    data_dir: Path,
    videos: Mapping[str, float],
    settings: DownloadSettings,
    workers: int,
    retry_failed: bool,
    on_finish: Callable[[ManifestEntry], None] | None,
) -> DownloadSummary:
    manifest = Manifest(data_dir)
    manifest.compact()
    entries = manifest.read()
    todo = {
        ytb_id: end
        for ytb_id, end in videos.items()
        if wants_download(ytb_id, entries.get(ytb_id), data_dir, retry_failed)
    }
    for ytb_id in todo:
        check_raw_video_free(data_dir, ytb_id)
        entry = entries.get(ytb_id)
        if entry is not None and raw_video_state(data_dir, ytb_id, entry) == CHANGED:
            size = (data_dir / entry.file).stat().st_size
            logger.warning(
                "%s: %s has %s bytes, not the %s downloaded %s (truncated or replaced): fetching it again",
                ytb_id, entry.file, f"{size:,}", f"{entry.size:,}", entry.time,
            )  # fmt: skip
    left = [entries.get(ytb_id) for ytb_id in videos if ytb_id not in todo]
    latest: dict[str, ManifestEntry] = {}
    queued_again: Counter[str] = Counter()
    pending: queue.SimpleQueue[str] = queue.SimpleQueue()
    for ytb_id in todo:
        pending.put(ytb_id)
    # Its stop event is set on Ctrl-C, a worker's error or the breaker's stop: the other workers finish
    # the video in hand and take no other; a worker waiting for its turn wakes at once.
    session = DownloadSession(data_dir, settings, entries)

    def work(fetcher: YtDlpFetcher) -> None:
        while not session.stop.is_set():
            try:
                ytb_id = pending.get_nowait()
            except queue.Empty:
                return
            previous = latest.get(ytb_id) or entries.get(ytb_id)
            try:
                entry = download_video(data_dir, ytb_id, todo[ytb_id], settings, manifest, previous, fetcher, session)
            except SessionStopped:
                return
            except BaseException:
                session.stop.set()
                raise
            latest[ytb_id] = entry  # dict assignment is atomic
            if on_finish is not None:
                on_finish(entry)
            refused = entry.kind in SESSION_REFUSALS or entry.kind in SUSPECT_REFUSALS
            if entry.state == RETRY and refused and queued_again[ytb_id] < settings.retries:
                queued_again[ytb_id] += 1  # only this worker touches this video now
                pending.put(ytb_id)

    # The fetchers are set up one after the other before the first turn: set up in the workers, they
    # would compete for the interpreter and push the first requests past their turns.
    with contextlib.ExitStack() as fetchers, ThreadPoolExecutor(workers, thread_name_prefix="download") as pool:
        ready = [fetchers.enter_context(YtDlpFetcher(data_dir, settings)) for _ in range(min(workers, len(todo)))]
        try:
            for future in [pool.submit(work, fetcher) for fetcher in ready]:
                future.result()
        except BaseException:
            session.stop.set()
            raise
    failed_before = sum(entry is not None and entry.state == FAILED for entry in left)
    return DownloadSummary(
        list(latest.values()),
        len(left) - failed_before,
        failed_before,
        stopped=session.breaker.stopped,
        refusals=len(session.breaker.refusals),
        not_reached=len(todo) - len(latest),
    )


def _by_kind(kinds: Counter[str]) -> str:
    return ", ".join(f"{n:,} {kind}" for kind, n in sorted(kinds.items(), key=lambda item: (-item[1], item[0])))


# ---------------------------------------------------------------------------------------------------
# Where a folder stands.


@dataclasses.dataclass
class DownloadStatus:
    """Where a download folder stands against its annotation file.

    `done_on_disk` counts videos with a usable raw file (downloaded, or put there by you); `gone` and
    `changed` are videos the manifest has as done whose file was deleted or no longer has its size:
    `download` fetches both again. With copies (raw_dir, processed_dir), `buildable_with_copies` counts
    the clips buildable here or from them and `videos_in_raw_dir` the annotation's videos raw_dir holds.
    Every count is of the annotation's videos and clips, each once, whatever else the folders hold.
    """

    videos: int
    done_on_disk: int
    gone: int
    changed: int
    failed: Counter[str]
    to_retry: Counter[str]
    pending: int
    clips: int
    buildable_clips: int
    raw_bytes: int
    partial_bytes: int
    buildable_with_copies: int | None = None
    videos_in_raw_dir: int = 0

    def lines(self) -> list[str]:
        """The status as printed by `celeb-datasets status`."""
        return [
            f"videos in the annotation file: {self.videos:,}",
            f"  done: {self.done_on_disk:,} (in raw/ as downloaded, or put there by you)",
            f"  to fetch again: {self.gone + self.changed:,} ({self.gone:,} downloaded but no longer in raw/, e.g. "
            f"deleted after cutting; {self.changed:,} changed in size since downloaded: truncated or replaced)",
            f"  failed: {sum(self.failed.values()):,}" + (f" ({_by_kind(self.failed)})" if self.failed else ""),
            f"  to retry: {sum(self.to_retry.values()):,}" + (f" ({_by_kind(self.to_retry)})" if self.to_retry else ""),
            f"  pending (never tried): {self.pending:,}",
            f"clips that can be built (processed clip or usable raw video here): {self.buildable_clips:,} of "
            f"{self.clips:,}",
            f"bytes on disk: {self.raw_bytes:,} in raw/ ({self.raw_bytes / 1e9:,.2f} GB), "
            f"{self.partial_bytes:,} in partial downloads",
        ] + (
            []
            if self.buildable_with_copies is None
            else [
                f"clips that can be built with your copies too: {self.buildable_with_copies:,} of {self.clips:,} "
                f"({self.videos_in_raw_dir:,} of the {self.videos:,} videos under --raw-dir)"
            ]
        )


def download_status(
    data_dir: str | os.PathLike[str], clips: Iterable[ClipAnnotation], copies: VideoSources | None = None
) -> DownloadStatus:
    """Count a download folder's videos by manifest state and raw file, the clips it can build, its bytes;
    with `copies` (find_video_sources with raw_dir or processed_dir), the clips buildable with them too."""
    data_dir = Path(data_dir).expanduser()
    clips = list(clips)
    entries = Manifest(data_dir).read()
    raw_folder = data_dir / RAW_VIDEO_FOLDER
    raw_sizes = {name: path.stat().st_size for name in file_names(raw_folder) if (path := raw_folder / name).is_file()}
    ends = needed_ends(clips)
    states = {ytb_id: raw_video_state(data_dir, ytb_id, entries.get(ytb_id), raw_sizes) for ytb_id in ends}
    usable = {ytb_id for ytb_id, state in states.items() if state == KEPT}
    absent = [entries[ytb_id] for ytb_id, state in states.items() if state == ABSENT and ytb_id in entries]
    processed = processed_clip_names(data_dir)
    partial = partial_download_folder(data_dir)
    buildable_with_copies = None
    if copies is not None and copies.copy_folders:
        buildable_with_copies = sum(
            clip.ytb_id in usable
            or copies.processed_clip(clip.clip_id) is not None
            or clip.ytb_id in copies.shared_raw_videos
            for clip in clips
        )
    return DownloadStatus(
        videos=len(ends),
        done_on_disk=len(usable),
        gone=sum(entry.state == DONE for entry in absent),
        changed=sum(state == CHANGED for state in states.values()),
        failed=Counter(entry.kind for entry in absent if entry.state == FAILED),
        to_retry=Counter(entry.kind for entry in absent if entry.state == RETRY),
        pending=sum(state == ABSENT and ytb_id not in entries for ytb_id, state in states.items()),
        clips=len(clips),
        buildable_clips=sum(clip.ytb_id in usable or f"{clip.clip_id}.mp4" in processed for clip in clips),
        raw_bytes=sum(raw_sizes.values()),
        partial_bytes=sum(p.stat().st_size for p in partial.rglob("*") if p.is_file()) if partial.is_dir() else 0,
        buildable_with_copies=buildable_with_copies,
        videos_in_raw_dir=sum(copies is not None and ytb_id in copies.shared_raw_videos for ytb_id in ends),
    )
