"""The preflight of `celeb-datasets download --check`: what a long download needs, one line each.

    ok    yt-dlp: 2026.10.26, 37 days old
    FAIL  JavaScript runtime: none found (deno, node, bun, quickjs); YouTube needs one since yt-dlp 2025.11 ...
    ok    challenge solver: yt-dlp-ejs 0.8.0
    ok    cookies: none (a guest session: about 300 videos an hour; age-restricted videos need cookies)
    ok    ffmpeg for merging: ffmpeg version 7.1 at /.../ffmpeg-linux-x86_64-v7.1
    ok    disk: 812.4 GB free in /data/CelebV-HQ; the 13,844 videos to fetch need about 2,012.5 GB

`download` runs it by itself before a run of AUTO_CHECK_VIDEOS videos or more, and stops on a FAIL.
Every program it runs has a timeout (PROGRAM_TIMEOUT_SEC), and one that does not answer in time is said to:
"deno at /usr/bin/deno did not answer `deno --version` within 10 s". yt-dlp's version is read from the
module itself, with nothing to wait for.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

from celeb_datasets.errors import CelebDatasetsError
from celeb_datasets.folders import write_problem
from celebv_hq_lib.download import INSTALL_HINT, DownloadSettings, ffmpeg_for_merging, load_cookies

# Before a run of this many videos, `download` runs the preflight first.
AUTO_CHECK_VIDEOS = 100
# YouTube changes often and yt-dlp follows within days: an older yt-dlp is the first suspect.
MAX_YT_DLP_AGE_DAYS = 90
# A lower bound on what a raw video takes: YouTube's 1080p H.264 and its audio are about 4 Mbit/s, and a
# video lasts at least until its last clip ends.
ESTIMATED_BYTES_PER_SEC = 500_000
PROGRAM_TIMEOUT_SEC = 10.0
# The runtimes yt-dlp can use, how to ask their version, and the version yt-dlp needs when it does not say.
_RUNTIMES = {
    "deno": ("deno", ["--version"], r"^deno (\S+)", (2, 3, 0)),
    "node": ("node", ["--version"], r"^v(\S+)", (22, 0, 0)),
    "bun": ("bun", ["--version"], r"^(\S+)", (1, 2, 11)),
    "quickjs": ("qjs", ["--help"], r"^QuickJS(?:-ng)?\s+version\s+(\S+)", (2023, 12, 9)),
}


@dataclasses.dataclass(frozen=True)
class CheckLine:
    """One line of the preflight: what was checked, whether it is fine, and what was found (or what to do)."""

    ok: bool
    what: str
    detail: str

    def __str__(self) -> str:
        return f"{'ok' if self.ok else 'FAIL':4}  {self.what}: {self.detail}"


def preflight(
    data_dir: str | os.PathLike[str],
    settings: DownloadSettings,
    videos_to_fetch: Mapping[str, float],
    today: datetime.date | None = None,
) -> list[CheckLine]:
    """Check what downloading `videos_to_fetch` ({ytb_id: end of its last clip}) into `data_dir` needs."""
    youtube = is_youtube(settings.url_template)
    lines = [check_yt_dlp(today or datetime.date.today())]
    if youtube:
        lines += [check_js_runtime(settings.js_runtime), check_challenge_solver()]
    else:
        host = urllib.parse.urlsplit(settings.url_template.format(ytb_id="x")).hostname
        lines.append(CheckLine(True, "JavaScript runtime", f"not needed for {host} (YouTube needs one)"))
    lines += [check_cookies(settings), check_ffmpeg(), check_disk(Path(data_dir), videos_to_fetch)]
    return lines


def is_youtube(url_template: str) -> bool:
    host = urllib.parse.urlsplit(url_template.format(ytb_id="x")).hostname or ""
    return host == "youtu.be" or host == "youtube.com" or host.endswith(".youtube.com")


def check_yt_dlp(today: datetime.date) -> CheckLine:
    try:
        from yt_dlp.version import __version__
    except ImportError:
        return CheckLine(False, "yt-dlp", f"not installed: {INSTALL_HINT}")
    try:
        year, month, day = (int(part) for part in __version__.split(".")[:3])
        released = datetime.date(year, month, day)
    except ValueError:
        return CheckLine(True, "yt-dlp", f"{__version__} (its age is unknown)")
    age = (today - released).days
    if age > MAX_YT_DLP_AGE_DAYS:
        return CheckLine(
            False, "yt-dlp", f"{__version__}, {age} days old: YouTube changes often; pip install -U 'yt-dlp[default]'"
        )
    return CheckLine(True, "yt-dlp", f"{__version__}, {age} days old")


def check_js_runtime(js_runtime: str | None) -> CheckLine:
    """A JavaScript runtime yt-dlp enables (deno by default, else --js-runtime) is found, answers its version
    question within PROGRAM_TIMEOUT_SEC, and is new enough."""
    enabled_name, _, enabled_path = (js_runtime or "deno").partition(":")
    found, usable, enabled_state = [], False, "is not found"
    for name, (program, arguments, pattern, fallback_minimum) in _RUNTIMES.items():
        path = enabled_path if name == enabled_name and enabled_path else shutil.which(program)
        if not path:
            continue
        enabled = name == enabled_name
        answer = program_version(path, arguments, pattern)
        if answer.version is None:
            found.append(f"{name} at {path} {answer.problem}")
            enabled_state = answer.problem if enabled else enabled_state
            continue
        minimum = _minimum_version(name, fallback_minimum)
        new_enough = _version_tuple(answer.version) >= minimum
        notes = [] if new_enough else [f"too old: yt-dlp needs >= {'.'.join(map(str, minimum))}"]
        if not enabled and new_enough:
            notes.append(f"not enabled: pass --js-runtime {name}")
        found.append(f"{name} {answer.version} at {path}" + (f" ({'; '.join(notes)})" if notes else ""))
        usable = usable or (enabled and new_enough)
        enabled_state = "is too old" if enabled else enabled_state
    if not found:
        return CheckLine(
            False,
            "JavaScript runtime",
            "none found (deno, node, bun, quickjs); since yt-dlp 2025.11 YouTube needs one, or formats are "
            "missing ('Requested format is not available'): install deno >= 2.3 (deno.com, or pip install deno)",
        )
    detail = "; ".join(found)
    if not usable:
        source = "--js-runtime" if js_runtime else "its default"
        detail += f"; yt-dlp enables {enabled_name} ({source}), which {enabled_state}"
    return CheckLine(usable, "JavaScript runtime", detail)


@dataclasses.dataclass(frozen=True)
class ProgramAnswer:
    """A program's version (`pattern`'s group in what it printed), or why there is none (`problem`)."""

    version: str | None
    problem: str = ""


def program_version(path: str, arguments: list[str], pattern: str) -> ProgramAnswer:
    """Run `path arguments` and read its version, within PROGRAM_TIMEOUT_SEC: a program that does not answer
    in time is stopped with everything it started (a wrapper script's children too)."""
    asked = f"`{' '.join([Path(path).name, *arguments])}`"
    try:
        process = subprocess.Popen(
            [path, *arguments],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,  # its own process group, to stop as a whole
        )
    except OSError as error:
        return ProgramAnswer(None, f"cannot be run ({error.strerror})")
    try:
        output, _ = process.communicate(timeout=PROGRAM_TIMEOUT_SEC)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        if process.stdout is not None:
            process.stdout.close()
        return ProgramAnswer(None, f"did not answer {asked} within {PROGRAM_TIMEOUT_SEC:g} s")
    match = re.search(pattern, output, re.MULTILINE)
    if match:
        return ProgramAnswer(match[1])
    if process.returncode:
        return ProgramAnswer(None, f"failed to answer {asked} (exit code {process.returncode})")
    return ProgramAnswer(None, f"gave no version in its answer to {asked}")


def _minimum_version(name: str, fallback: tuple[int, ...]) -> tuple[int, ...]:
    """The version yt-dlp itself asks of a runtime (its runtime classes say so), else our table's."""
    try:
        from yt_dlp.globals import supported_js_runtimes
    except ImportError:
        return fallback
    runtime = supported_js_runtimes.value.get(name)
    minimum = getattr(runtime, "MIN_SUPPORTED_VERSION", None)
    return tuple(minimum) if isinstance(minimum, tuple) else fallback


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def check_challenge_solver() -> CheckLine:
    try:
        import yt_dlp_ejs
    except ImportError:
        return CheckLine(
            False,
            "challenge solver",
            "yt-dlp-ejs is not installed (the scripts the JavaScript runtime runs for YouTube): "
            "pip install -U 'yt-dlp[default]'",
        )
    return CheckLine(True, "challenge solver", f"yt-dlp-ejs {getattr(yt_dlp_ejs, 'version', '(version unknown)')}")


def check_cookies(settings: DownloadSettings, now: float | None = None) -> CheckLine:
    """The cookies file parses as yt-dlp reads it and holds unexpired cookies for the video site."""
    if not settings.cookies:
        return CheckLine(
            True, "cookies", "none (a guest session: about 300 videos an hour; age-restricted videos need cookies)"
        )
    try:
        jar = load_cookies(settings.cookies)
    except CelebDatasetsError as error:
        return CheckLine(False, "cookies", str(error))
    host = urllib.parse.urlsplit(settings.url_template.format(ytb_id="x")).hostname or ""
    site = "youtube.com" if is_youtube(settings.url_template) else host
    now = time.time() if now is None else now
    for_site = [cookie for cookie in jar if site == cookie.domain.lstrip(".") or site.endswith(cookie.domain)]
    if not for_site:
        return CheckLine(False, "cookies", f"{settings.cookies}: {len(jar)} cookie(s), none for {site}")
    alive = [cookie for cookie in for_site if not cookie.expires or cookie.expires > now]
    if not alive:
        last = max(cookie.expires for cookie in for_site if cookie.expires)
        return CheckLine(
            False,
            "cookies",
            f"{settings.cookies}: every cookie for {site} expired (the last on {_date(last)}): export them again",
        )
    ends = [cookie.expires for cookie in alive if cookie.expires]
    until = f", the first to expire on {_date(min(ends))}" if ends else " (session cookies)"
    return CheckLine(True, "cookies", f"{settings.cookies}: {len(alive)} unexpired cookie(s) for {site}{until}")


def _date(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime("%Y-%m-%d")


def check_ffmpeg() -> CheckLine:
    try:
        path = ffmpeg_for_merging()
    except CelebDatasetsError as error:
        return CheckLine(False, "ffmpeg for merging", str(error))
    answer = program_version(path, ["-version"], r"^(ffmpeg version \S+)")
    if answer.version is None:
        return CheckLine(False, "ffmpeg for merging", f"{path} {answer.problem}")
    return CheckLine(True, "ffmpeg for merging", f"{answer.version} at {path}")


def check_disk(data_dir: Path, videos_to_fetch: Mapping[str, float]) -> CheckLine:
    existing = data_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    problem = write_problem(existing) if existing.is_dir() else None
    if problem is not None:
        return CheckLine(False, "disk", f"cannot write in {existing}: {problem}")
    free = shutil.disk_usage(existing).free
    need = int(sum(videos_to_fetch.values()) * ESTIMATED_BYTES_PER_SEC)
    detail = (
        f"{free / 1e9:,.1f} GB free in {existing}; the {len(videos_to_fetch):,} video(s) to fetch need about "
        f"{need / 1e9:,.1f} GB at least ({ESTIMATED_BYTES_PER_SEC * 8 / 1e6:g} Mbit/s up to each one's last clip)"
    )
    return CheckLine(free >= need, "disk", detail)
