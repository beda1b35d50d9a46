"""One download session with YouTube: its pace, its circuit breaker, and the lock on its data folder.

YouTube limits what one session (one IP, one account or guest) may fetch: about 300 videos an hour
without a PO token (yt-dlp's wiki, "This content isn't available, try again later"). Past that it
answers HTTP 429, "Sign in to confirm you're not a bot", or 403 on the media URLs.

- `Pacer`: every worker of a data folder (threads of `download`, processes of a `fetch=true` build)
  takes its turn from one shared file, `.download_pace`: one video start every `pace_min_sec` to
  `pace_max_sec` seconds (random), whatever the number of workers.
- `CircuitBreaker`: signs that the session is refused pause every worker (through the pacer), with a
  wait that doubles; after `refusal_pauses` pauses without a success in between, the run stops.
- `FolderLock`: one `download` per data folder (exclusive); fetch builds share the folder among their
  own workers (shared) but never with a `download`.
"""

from __future__ import annotations

import dataclasses
import datetime
import fcntl
import json
import logging
import math
import os
import random
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from celeb_datasets.errors import CelebDatasetsError

logger = logging.getLogger("celeb_datasets")

# Kinds of failure that only the session explains (YouTube refuses this client, not this video).
SESSION_REFUSALS = frozenset(("throttled", "bot check", "rate-limited", "captcha"))
# Kinds that one video may earn on its own, but that a refused session also gives to every video:
# 403 on the media (no PO token, an expired session) and "Requested format is not available" (no
# JavaScript runtime). One is the video's own only once the session has proven healthy.
SUSPECT_REFUSALS = frozenset(("forbidden", "no usable format"))
# Suspect refusals on this many different videos in a row, no success between, are the session's.
SUSPECT_RUN = 3


class SessionStopped(CelebDatasetsError):
    """YouTube refused the session again after every pause: the run stops (the message says what to do)."""


class FolderBusyError(CelebDatasetsError):
    """Another `download` (or a fetch build) is using the data folder."""


@dataclasses.dataclass(frozen=True)
class Refusal:
    """What YouTube said when it refused: the video, the kind of failure and yt-dlp's message."""

    ytb_id: str
    kind: str
    message: str


class Pacer:
    """The session's budget, shared through `path` by every thread and process that downloads into a folder.

    `next_turn` returns when this worker may start a video: never sooner than `min_gap_sec` to
    `max_gap_sec` (uniformly random) after the previous start of any worker, and never during a pause.
    `clock` is wall time (shared between processes); `wait(seconds)` returns True when the run is stopping.
    """

    def __init__(
        self,
        path: Path,
        min_gap_sec: float,
        max_gap_sec: float,
        stop: threading.Event | None = None,
        clock: Callable[[], float] = time.time,
        wait: Callable[[float], bool] | None = None,
        gap: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self.path = path
        self.min_gap_sec, self.max_gap_sec = min_gap_sec, max_gap_sec
        self.stop = stop or threading.Event()
        self.clock = clock
        self.wait = wait or self.stop.wait
        self._gap = gap

    def next_turn(self) -> float:
        """Wait for this worker's turn; the clock time it starts. Raises SessionStopped if the run stops."""
        while True:
            if self.stop.is_set():
                raise SessionStopped("the download session was stopped")
            with self._state() as state:
                now = self.clock()
                if state["paused_until"] > now:
                    delay, start = state["paused_until"] - now, None
                else:
                    start = max(now, state["next_start"])
                    state["next_start"] = start + self._gap(self.min_gap_sec, self.max_gap_sec)
                    delay = start - now
            if delay > 0 and self.wait(delay):
                raise SessionStopped("the download session was stopped")
            # A pause that began while this worker waited for its turn holds it too.
            if start is not None and self.paused_until() <= self.clock():
                return start

    def pause(self, seconds: float) -> None:
        """Hold every worker of the folder for `seconds` from now (a longer pause already set is kept)."""
        with self._state() as state:
            until = self.clock() + seconds
            state["paused_until"] = max(state["paused_until"], until)
            state["next_start"] = max(state["next_start"], state["paused_until"])

    def paused_until(self) -> float:
        """The clock time the current pause ends (in the past when there is none)."""
        with self._state(write=False) as state:
            return state["paused_until"]

    @contextmanager
    def _state(self, write: bool = True) -> Iterator[dict[str, float]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # flock excludes other processes and, since each call opens the file anew, other threads.
        with open(self.path, "a+", encoding="utf-8") as file:
            fcntl.flock(file, fcntl.LOCK_EX)
            try:
                file.seek(0)
                state = _pace_state(file.read())
                yield state
                if write:
                    file.seek(0)
                    file.truncate()
                    file.write(json.dumps(state))
                    file.flush()
            finally:
                fcntl.flock(file, fcntl.LOCK_UN)


def _pace_state(text: str) -> dict[str, float]:
    """The pace file's two times; anything unreadable (a torn write, an edit) counts as no constraint."""
    state = {"next_start": 0.0, "paused_until": 0.0}
    try:
        loaded = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        loaded = {}
    for key in state:
        value = loaded.get(key) if isinstance(loaded, dict) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            state[key] = float(value)
    return state


class CircuitBreaker:
    """Watches outcomes for signs that YouTube refuses the session; pauses every worker, then stops the run.

    A session refusal (429, the bot check, YouTube's rate limit, a captcha), or suspect refusals (403,
    no usable format) on SUSPECT_RUN different videos in a row, trips it: every worker pauses for
    `pause_sec`, doubled at each trip. A success resets it. The trip after `pauses_before_stop` pauses stops
    the run (`stopped` is then the last refusal). Refusals from attempts that started before the latest
    trip belong to the episode already paused for, and do not trip it again.
    """

    def __init__(self, pacer: Pacer, pause_sec: float, pauses_before_stop: int) -> None:
        self.pacer = pacer
        self.pause_sec, self.pauses_before_stop = pause_sec, pauses_before_stop
        self.trips = 0
        self.last_trip = -math.inf
        self.last_success = -math.inf
        self.stopped: Refusal | None = None
        self.refusals: list[Refusal] = []
        self._suspects: dict[str, Refusal] = {}
        self._lock = threading.Lock()

    def succeeded(self) -> None:
        """A video was downloaded: the session is healthy."""
        with self._lock:
            self.trips = 0
            self._suspects.clear()
            self.last_success = self.pacer.clock()

    def healthy(self) -> bool:
        """Whether a video succeeded since the last trip (so a suspect refusal now is the video's own)."""
        return self.last_success > self.last_trip

    def succeeded_since(self, when: float) -> bool:
        """Whether a video succeeded after the clock time `when`."""
        return self.last_success > when

    def refused(self, refusal: Refusal, started: float, session_level: bool) -> None:
        """Record a refusal met by an attempt that started at `started` (clock time); may pause or stop."""
        with self._lock:
            self.refusals.append(refusal)
            if started <= self.last_trip or self.stopped is not None:
                return
            if not session_level:
                self._suspects[refusal.ytb_id] = refusal
                if len(self._suspects) < SUSPECT_RUN:
                    return
            self._suspects.clear()
            self.trips += 1
            self.last_trip = self.pacer.clock()
            if self.trips > self.pauses_before_stop:
                self.stopped = refusal
                self.pacer.stop.set()
                return
            wait = self.pause_sec * 2 ** (self.trips - 1)
        logger.warning(
            "YouTube refused the session (%s on %s: %s): every worker pauses %s (pause %d of %d)",
            refusal.kind, refusal.ytb_id, _shorten(refusal.message), _duration(wait), self.trips,
            self.pauses_before_stop,
        )  # fmt: skip
        self.pacer.pause(wait)


def stop_message(refusal: Refusal, refusals: int) -> str:
    """The one message a stopped run ends with: what YouTube said, and what to do about it."""
    advice = {
        "throttled": "wait an hour, then run the same command with a slower pace (--pace-min-sec 20 "
        "--pace-max-sec 30); or use another session: --cookies of a signed-in account, or --proxy",
        "rate-limited": "wait an hour (YouTube limits a session to about 300 videos an hour), then run the "
        "same command, with a slower pace (--pace-min-sec 20 --pace-max-sec 30) if it happens again",
        "bot check": "pass --cookies of a signed-in account (Netscape cookies.txt), or a PO-token provider "
        "plugin with --extractor-args, or another IP with --proxy; or wait a few hours",
        "captcha": "wait a few hours, or use another IP (--proxy) or --cookies of a signed-in account",
        "forbidden": "YouTube refuses the media without a PO token or with an expired session: update yt-dlp "
        "(pip install -U yt-dlp), install a JavaScript runtime (deno >= 2.3), add a PO-token provider "
        "(--extractor-args), pass fresh --cookies, or wait",
        "no usable format": "yt-dlp sees no video format: install a JavaScript runtime (deno >= 2.3, or node "
        ">= 22 with --js-runtime node) and the challenge solver (pip install -U 'yt-dlp[default]'), update "
        "yt-dlp; `celeb-datasets download celebv_hq --check` shows what is missing",
    }.get(refusal.kind, "wait, then run the same command again")
    return (
        f"YouTube refused this session {refusals} time(s); the last: {refusal.kind} on {refusal.ytb_id}: "
        f"{_shorten(refusal.message)}. The run stopped: videos not reached are still pending and videos refused "
        f"are 'retry' (never failed for good). What to do: {advice}"
    )


def _shorten(message: str, limit: int = 300) -> str:
    return message if len(message) <= limit else message[: limit - 3] + "..."


def _duration(seconds: float) -> str:
    return f"{seconds:g} s" if seconds < 120 else f"{seconds / 60:g} min"


class FolderLock:
    """The data folder's download lock (`.download.lock`, an flock, released when its process ends).

    `exclusive` is for `celeb-datasets download`: one per folder, and it records who holds it (pid,
    host, start time, command) so that a second run can say so. Shared holders are a fetch build's
    workers. `acquire` never waits: FolderBusyError names the holder.
    """

    def __init__(self, path: Path, exclusive: bool) -> None:
        self.path = path
        self.exclusive = exclusive
        self._file: IO[str] | None = None

    def acquire(self) -> FolderLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Open while the lock is held (an flock lives as long as its open file), closed by `release`.
        file = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115
        try:
            fcntl.flock(file, (fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = file.read().strip()
            file.close()
            raise FolderBusyError(self._busy_message(holder)) from None
        except BaseException:
            file.close()
            raise
        file.seek(0)
        file.truncate()  # what a killed holder wrote is stale now that the lock is free
        if self.exclusive:
            file.write(json.dumps(_holder()) + "\n")
            file.flush()
        self._file = file
        return self

    def release(self) -> None:
        file = self._file
        if file is None:
            return
        self._file = None
        if self.exclusive:
            file.truncate(0)
        fcntl.flock(file, fcntl.LOCK_UN)
        file.close()

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exception: object) -> None:
        self.release()

    def _busy_message(self, holder_text: str) -> str:
        folder = self.path.parent
        try:
            holder = json.loads(holder_text) if holder_text else None
        except json.JSONDecodeError:
            holder = None
        if isinstance(holder, dict):
            who = (
                f"`{holder.get('command', 'download')}` (pid {holder.get('pid')} on {holder.get('host')}, "
                f"since {holder.get('since')})"
            )
            what = "another download is running in" if self.exclusive else "a download is running in"
            return f"{what} {folder}: {who}; wait for it to end, or stop it (one download per data folder)"
        if self.exclusive:
            return (
                f"a build with fetch=true is downloading into {folder} ({self.path} is locked): wait for it to end "
                "(one download per data folder)"
            )
        return f"a download holds {self.path}: wait for it to end"


def _holder() -> dict[str, object]:
    since = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    command = " ".join(["celeb-datasets", *sys.argv[1:]]) if sys.argv[1:] else "download"
    return {"pid": os.getpid(), "host": socket.gethostname(), "since": since, "command": command}
