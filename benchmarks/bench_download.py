"""Benchmark downloading raw videos: videos per second at 1 and 8 workers, and our checks' cost per video.

    python benchmarks/bench_download.py                   # 48 videos of 3 s
    python benchmarks/bench_download.py --videos 96 --seconds 10

The videos come from the tests' loopback server (`tests/video_server.py`): each id is a DASH manifest
with a video-only MP4 and an audio-only M4A (64x64, 10 fps, H.264 + AAC), which yt-dlp downloads and
merges with imageio-ffmpeg's binary, as it would a YouTube video. Each run downloads every video into an
empty folder, in a fresh process; the best of `--repeat` runs is kept.
- ours: `download_videos` (one yt-dlp instance per worker thread), checking each file with PyAV and
  recording it in the manifest, at 1 and at 8 workers, with no pace (benchmarks/bench_pace.py measures it);
- baseline: the release's way, one `yt-dlp` process per video, run one after the other, with the same
  format string and the same ffmpeg;
- limit: fetching the same three files per video with http.client from 8 threads (no extraction, no merge).
The check's overhead is the time `check_raw_video` plus one manifest line take per video, against the
time one video takes to download at 1 worker.
"""

from __future__ import annotations

import argparse
import http.client
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY / "benchmarks"))
sys.path.insert(0, str(REPOSITORY / "tests"))

from measure import in_fresh_process  # noqa: E402
from video_server import VideoServer  # noqa: E402


def ours(folder: str, ids: list[str], seconds: float, url_template: str, workers: int) -> tuple[int, float]:
    from celebv_hq_lib.download import DownloadSettings, download_videos

    # No pace: this measures our machinery against the baseline's (bench_pace.py measures the pace).
    settings = DownloadSettings(
        url_template=url_template, retries=0, pace_min_sec=0, pace_max_sec=0, request_sleep_sec=0
    )
    summary = download_videos(folder, dict.fromkeys(ids, seconds - 0.5), settings, workers=workers)
    return sum(entry.state == "done" for entry in summary.entries), 0.0


def baseline(folder: str, ids: list[str], url_template: str) -> tuple[int, float]:
    """One yt-dlp process per video, sequential (as the release's download script does); and the largest
    child's peak MB."""
    from celebv_hq_lib.download import FORMAT, ffmpeg_for_merging

    ffmpeg = ffmpeg_for_merging()
    done = 0
    for ytb_id in ids:
        command = [sys.executable, "-m", "yt_dlp", "--quiet", "--no-warnings", "--no-progress", "-f", FORMAT]
        command += ["--ffmpeg-location", ffmpeg, "-o", f"{folder}/{ytb_id}.%(ext)s", url_template.format(ytb_id=ytb_id)]
        done += subprocess.run(command, check=False).returncode == 0
    return done, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def limit(ids: list[str], url_template: str) -> tuple[int, float]:
    """The same bytes over plain HTTP from 8 threads: manifest, video and audio of every video."""
    address = urllib.parse.urlsplit(url_template)

    def fetch(ytb_id: str) -> int:
        size = 0
        for part in (".mpd", ".video.mp4", ".audio.m4a"):
            connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
            connection.request("GET", f"/{ytb_id}{part}")
            size += len(connection.getresponse().read())
            connection.close()
        return size

    with ThreadPoolExecutor(8) as pool:
        return sum(1 for size in pool.map(fetch, ids) if size), 0.0


def check_overhead(folder: str, ids: list[str], seconds: float) -> float:
    """Seconds per video of the finished-file check and one manifest line."""
    from celebv_hq_lib.download import DONE, Manifest, ManifestEntry, check_raw_video

    manifest = Manifest(Path(folder) / "overhead")
    start = time.perf_counter()
    for ytb_id in ids:
        duration, problem = check_raw_video(Path(folder) / "raw" / f"{ytb_id}.mp4", seconds - 0.5)
        assert problem is None, problem
        manifest.record(ManifestEntry(ytb_id, DONE, attempts=1, duration_sec=duration))
    return (time.perf_counter() - start) / len(ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=48, help="videos per run (default 48)")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each video (default 3)")
    parser.add_argument(
        "--latency", type=float, nargs="+", default=[0.0, 0.1], help="server delays per request (default 0 0.1)"
    )
    parser.add_argument("--repeat", type=int, default=2, help="runs per figure; the best is kept")
    arguments = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-download-"))
    server = VideoServer(work)
    ids = [f"video{index:06d}" for index in range(arguments.videos)]  # 11 characters, as YouTube's
    for ytb_id in ids:
        server.add(ytb_id, arguments.seconds)
    try:
        rows = []
        for latency in arguments.latency:
            server.latency_sec = latency
            rows.append((latency, measure_rates(work, ids, arguments.seconds, server.url_template, arguments.repeat)))
        folder = work / "download"
        overhead = min(check_overhead(str(folder), ids, arguments.seconds) for _ in range(arguments.repeat))
        size = (folder / "raw" / f"{ids[0]}.mp4").stat().st_size
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)
    print_table(rows, overhead, size, arguments)


def measure_rates(
    work: Path, ids: list[str], seconds: float, url_template: str, repeat: int
) -> dict[str, tuple[float, float]]:
    """Videos per second and peak MB of ours at 1 and 8 workers, the baseline and the limit."""

    def best(name: str, function: object, *args: object, fresh: Path | None = None) -> tuple[float, float]:
        runs = []
        for _ in range(repeat):
            if fresh is not None:
                shutil.rmtree(fresh, ignore_errors=True)
                fresh.mkdir(parents=True)
            runs.append(in_fresh_process(function, *args, preload=()))  # type: ignore[arg-type]
        seconds_taken, peak, (done, child_peak) = min(runs, key=lambda run: run[0])
        assert done == len(ids), f"{name}: {done} of {len(ids)} videos downloaded"
        return len(ids) / seconds_taken, max(peak, child_peak)

    folder, base_folder = work / "download", work / "baseline"
    return {
        "ours 1": best("ours", ours, str(folder), ids, seconds, url_template, 1, fresh=folder),
        "ours 8": best("ours", ours, str(folder), ids, seconds, url_template, 8, fresh=folder),
        "baseline": best("baseline", baseline, str(base_folder), ids, url_template, fresh=base_folder),
        "limit": best("limit", limit, ids, url_template),
    }


def print_table(
    rows: list[tuple[float, dict[str, tuple[float, float]]]], overhead: float, size: int, arguments: argparse.Namespace
) -> None:
    what = f"{arguments.videos} videos of {arguments.seconds:g} s ({size / 1e3:.0f} kB), videos/s"
    print(f"{'work':<62} {'ours':>7} {'baseline':>9} {'limit':>7} {'x base':>7} {'of limit':>9} {'peak MB':>8}")
    for latency, rates in rows:
        for workers in (1, 8):
            rate, peak = rates[f"ours {workers}"]
            name = f"{what}, {latency:g} s latency, {workers} worker(s)"
            print(
                f"{name:<62} {rate:>7.2f} {rates['baseline'][0]:>9.2f} {rates['limit'][0]:>7.1f} "
                f"{rate / rates['baseline'][0]:>6.1f}x {rate / rates['limit'][0]:>8.0%} {peak:>8.0f}"
            )
    per_video = 1 / rows[0][1]["ours 1"][0]
    print(
        f"{'our check (PyAV demux + manifest line), ms/video':<62} {overhead * 1e3:>7.2f} {'':>9} {'':>7} {'':>7} "
        f"{overhead / per_video:>8.1%}  of a video's time at 1 worker, no latency"
    )
    peaks = ", ".join(f"{latency:g} s: {rates['baseline'][1]:.0f} MB" for latency, rates in rows)
    print(f"baseline: one `yt-dlp` process per video, sequential; its largest process's peak: {peaks}")
    print("limit: an http.client GET of each video's manifest, video and audio from 8 threads")
    print("latency: the server waits this long before each response (a stand-in for the network)")
    latencies = " ".join(f"{latency:g}" for latency, _ in rows)
    print(
        f"reproduce: python benchmarks/bench_download.py --videos {arguments.videos} --seconds {arguments.seconds:g} "
        f"--latency {latencies} --repeat {arguments.repeat}"
    )


if __name__ == "__main__":
    main()
