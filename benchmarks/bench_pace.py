"""Measure the download pace where YouTube would see it, and project CelebV-HQ's session-hours.

    python benchmarks/bench_pace.py                       # 30 videos, pace scaled 1/100, 1, 2 and 4 workers
    python benchmarks/bench_pace.py --videos 60 --scale 0.02 --latency 0.2

The pace (one video start every pace_min_sec to pace_max_sec, 12 to 18 s by default) is scaled down by
`--scale` so that a run takes seconds; the loopback server (tests/video_server.py) notes when each
video's manifest is asked for, which is where YouTube counts a video. `--latency` delays every answer
of the server, so that one video (three requests and a merge) takes longer than a gap: then a second
worker helps, up to the pace and never past it. Figures are scaled back to real seconds.
- ours: video starts an hour at the server, scaled back, with 1, 2 and 4 workers;
- budget: 3600 / the mean gap, what the pace allows;
- limit: YouTube's ~300 videos an hour for a session without a PO token (yt-dlp's wiki).
The projection is CelebV-HQ's 13,844 videos times the mean gap: the session-hours at the default pace,
when the workers keep up (more when they do not; retries and re-queued refusals add starts).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))
sys.path.insert(0, str(REPOSITORY / "tests"))

from video_server import VideoServer  # noqa: E402

from celebv_hq_lib.download import DownloadSettings, download_videos  # noqa: E402

CELEBV_HQ_VIDEOS = 13_844
YOUTUBE_SESSION_LIMIT_PER_HOUR = 300


def measure(server: VideoServer, folder: Path, ids: list[str], settings: DownloadSettings, workers: int) -> float:
    """Seconds between the first and the last video start seen by the server, over len(ids) - 1 gaps."""
    server.manifest_times.clear()
    shutil.rmtree(folder, ignore_errors=True)
    summary = download_videos(folder, dict.fromkeys(ids, 2.0), settings, workers=workers)
    assert all(entry.state == "done" for entry in summary.entries), summary.line()
    times = sorted(when for when, _ in server.manifest_times)
    return (times[-1] - times[0]) / (len(times) - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=30, help="videos per run (default 30)")
    parser.add_argument("--scale", type=float, default=0.01, help="the pace's scale (default 0.01: 0.12 to 0.18 s)")
    parser.add_argument("--latency", type=float, default=0.1, help="server delay per answer, s (default 0.1)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4], help="worker counts (default 1 2 4)")
    arguments = parser.parse_args()
    default = DownloadSettings()
    mean_gap = (default.pace_min_sec + default.pace_max_sec) / 2
    work = Path(tempfile.mkdtemp(prefix="bench-pace-"))
    server = VideoServer(work)
    server.latency_sec = arguments.latency
    ids = [f"pace{index:07d}" for index in range(arguments.videos)]
    for ytb_id in ids:
        server.add(ytb_id, 3.0)
    settings = DownloadSettings(
        url_template=server.url_template,
        pace_min_sec=default.pace_min_sec * arguments.scale,
        pace_max_sec=default.pace_max_sec * arguments.scale,
        request_sleep_sec=0,
        retries=0,
    )
    try:
        measure(server, work / "warm-up", ids[:2], settings, 1)  # imports and first-use costs stay out
        rows = [(workers, measure(server, work / "run", ids, settings, workers)) for workers in arguments.workers]
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)
    budget = 3600 / mean_gap
    print(f"{'work':<66} {'ours':>8} {'budget':>8} {'limit':>7} {'of budget':>10} {'of limit':>9}")
    for workers, gap in rows:
        per_hour = 3600 / (gap / arguments.scale)
        name = f"video starts an hour at the server, {workers} worker(s), {arguments.latency:g} s latency"
        print(
            f"{name:<66} {per_hour:>8.0f} {budget:>8.0f} {YOUTUBE_SESSION_LIMIT_PER_HOUR:>7} "
            f"{per_hour / budget:>10.0%} {per_hour / YOUTUBE_SESSION_LIMIT_PER_HOUR:>9.0%}"
        )
    hours = CELEBV_HQ_VIDEOS * mean_gap / 3600
    print(
        f"CelebV-HQ at the default pace ({default.pace_min_sec:g} to {default.pace_max_sec:g} s, mean {mean_gap:g} s): "
        f"{CELEBV_HQ_VIDEOS:,} videos x {mean_gap:g} s = {hours:,.1f} session-hours ({hours / 24:.1f} days)"
    )
    print(
        f"pace scaled by {arguments.scale:g} (gaps {settings.pace_min_sec:g} to {settings.pace_max_sec:g} s); "
        "figures scaled back to real seconds"
    )
    print(
        f"reproduce: python benchmarks/bench_pace.py --videos {arguments.videos} --scale {arguments.scale:g} "
        f"--latency {arguments.latency:g} --workers {' '.join(map(str, arguments.workers))}"
    )


if __name__ == "__main__":
    main()
