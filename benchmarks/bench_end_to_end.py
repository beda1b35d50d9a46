"""End to end: `clips` built with `fetch=true` (download, then cut, video after video) against the
loopback video server, with the download session's default pace and a simulated network time per video.

    python benchmarks/bench_end_to_end.py                          # 16 videos, everything scaled by 0.05
    python benchmarks/bench_end_to_end.py --videos 24 --scale 0.02 --network-sec 20 --workers 1 2 --repeat 3

The pace (one video start every 12 to 18 s per download session) and the network time of a video
(`--network-sec`, an assumption: 15 s is a 10-minute 720p video at about 10 MB/s) are both scaled by
`--scale`, so that their ratio stays the real one and a run takes seconds. The network time is the
loopback server's delay before each answer (yt-dlp asks for a manifest, the video and the audio).
The videos are generated (`--size` pixels, 25 fps) with `--clips` clips of 3 s each (by default about
the release's ratio of cutting to pace: the table prints both), cut with the
`clips` config's defaults (preset medium, CRF 23, the official crop). Three jobs per worker count, each
in a fresh process, on empty folders (the same pace, the same server), the fastest of `--repeat` runs:

- download only: `download_videos` of every video (the session's pace, then the network);
- cut only: the `clips` build from the downloaded folder (`fetch=false`);
- end to end: the `clips` build with `fetch=true` from an empty folder.

Hidden is the share of the cutting that the end-to-end build did while waiting for the pace or the
network: (download + cut - end to end) / cut. The last video's cutting can never hide (nothing is
downloaded after it), so with V videos it is at most 1 - 1/V of the cutting when the cutting is shorter
than the download. The real ratios: cutting costs 5.1 core-seconds per video on average (19.7 core-hours
over 13,844 videos at 720p H.264, benchmarks/README.md), against 15 s of pace per video start.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))
sys.path.insert(0, str(REPOSITORY / "benchmarks"))
sys.path.insert(0, str(REPOSITORY / "tests"))

from measure import in_fresh_process  # noqa: E402
from video_server import VideoServer  # noqa: E402

CELEBV_HQ_VIDEOS = 13_844
CORE_HOURS_720P = 19.7  # the `clips` config's cutting, 720p H.264 (bench_schedule.py)
CLIP_SEC = 3.0
# yt-dlp's requests for one video from the loopback server: its manifest, its video, its audio.
REQUESTS_PER_VIDEO = 3


def write_folder(folder: Path, ids: list[str], clips: int) -> dict[str, float]:
    """A CelebV-HQ folder whose annotation file has `clips` clips of 3 s in each video; each video's last end."""
    from celebv_hq import ACTION_NAMES, APPEARANCE_NAMES

    records, ends = {}, {}
    for ytb_id in ids:
        for index in range(clips):
            start = 0.5 + index * (CLIP_SEC + 1.0)
            records[f"{ytb_id}_{index}"] = {
                "ytb_id": ytb_id,
                "duration": {"start_sec": start, "end_sec": start + CLIP_SEC},
                "bbox": {"top": 0.1, "bottom": 0.9, "left": 0.2, "right": 0.8},
                "attributes": {
                    "appearance": [0] * len(APPEARANCE_NAMES),
                    "action": [0] * len(ACTION_NAMES),
                    "emotion": {"sep_flag": False, "labels": "neutral"},
                },
                "version": "v0.1",
            }
            ends[ytb_id] = start + CLIP_SEC
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"appearance_mapping": list(APPEARANCE_NAMES), "action_mapping": list(ACTION_NAMES)}
    (folder / "celebvhq_info.json").write_text(json.dumps({"meta_info": meta, "clips": records}))
    return ends


def fetch_options(url_template: str, scale: float) -> dict[str, object]:
    """The download session's default pace, scaled; no sleep between one video's requests (it is scaled
    into the network time), no retries."""
    from celebv_hq_lib.download import DownloadSettings

    default = DownloadSettings()
    return {
        "url_template": url_template,
        "pace_min_sec": default.pace_min_sec * scale,
        "pace_max_sec": default.pace_max_sec * scale,
        "request_sleep_sec": 0.0,
        "retries": 0,
    }


def download_only(folder: str, ends: dict[str, float], options: dict[str, object], workers: int) -> int:
    from celebv_hq_lib.download import DownloadSettings, download_videos

    summary = download_videos(folder, ends, DownloadSettings(**options), workers=workers)
    return sum(entry.state == "done" for entry in summary.entries)


def build(folder: str, options: dict[str, object], workers: int) -> tuple[int, float]:
    """The `clips` config built into a fresh cache (with `options`: fetch or not); its rows, and the CPU
    seconds it took (this process and its workers)."""
    import resource

    from celebv_hq import CelebVHQ

    def cpu() -> float:
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    cache = tempfile.mkdtemp(prefix="bench-end-to-end-cache-")
    before = cpu()
    try:
        builder = CelebVHQ(config_name="clips", data_dir=folder, cache_dir=cache, **options)
        builder.download_and_prepare(num_proc=workers if workers > 1 else None)
        return builder.as_dataset(split="train").num_rows, cpu() - before
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def measure(work: Path, server: VideoServer, ids: list[str], arguments: argparse.Namespace, workers: int) -> dict:
    """Seconds of the three jobs with `workers` workers (download only, cut only, end to end), each the
    fastest of `--repeat` runs; and the CPU seconds of that cut."""
    options = fetch_options(server.url_template, arguments.scale)
    downloaded, fetched = work / "downloaded", work / "fetched"
    clips = len(ids) * arguments.clips
    seconds: dict[str, float] = {}

    def keep(job: str, taken: float) -> bool:
        fastest = taken < seconds.get(job, float("inf"))
        seconds[job] = min(taken, seconds.get(job, float("inf")))
        return fastest

    for _ in range(arguments.repeat):
        for folder in (downloaded, fetched):
            shutil.rmtree(folder, ignore_errors=True)
        ends = write_folder(downloaded, ids, arguments.clips)
        write_folder(fetched, ids, arguments.clips)
        taken, _, done = in_fresh_process(download_only, str(downloaded), ends, options, workers)
        assert done == len(ids), f"{done} of {len(ids)} videos downloaded"
        keep("download", taken)
        taken, _, (rows, cpu) = in_fresh_process(build, str(downloaded), {}, workers)
        assert rows == clips, f"{rows} of {clips} clips cut"
        if keep("cut", taken):
            seconds["cut cpu"] = cpu
        taken, _, (rows, _) = in_fresh_process(build, str(fetched), {"fetch": True, **options}, workers)
        assert rows == clips, f"{rows} of {clips} clips fetched and cut"
        keep("end to end", taken)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=16, help="videos (default 16)")
    parser.add_argument("--clips", type=int, default=2, help="clips of 3 s per video (default 2)")
    parser.add_argument("--size", type=int, nargs=2, default=[640, 360], help="the videos' width and height")
    parser.add_argument("--network-sec", type=float, default=15.0, help="real seconds a video takes to arrive")
    parser.add_argument("--scale", type=float, default=0.05, help="the pace's and network time's scale")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker processes (default 1 2)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each job; the fastest is kept (default 2)")
    arguments = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-end-to-end-"))
    server = VideoServer(work / "served")
    seconds_per_video = arguments.clips * (CLIP_SEC + 1.0) + 1.0
    ids = [f"e2eVideo{index:03d}" for index in range(arguments.videos)]  # 11 characters, as YouTube's
    width, height = arguments.size
    for ytb_id in ids:
        server.add(ytb_id, seconds_per_video, width=width, height=height, fps=25)
    server.latency_sec = arguments.network_sec * arguments.scale / REQUESTS_PER_VIDEO
    try:
        rows = [(workers, measure(work, server, ids, arguments, workers)) for workers in arguments.workers]
        # Two of the three jobs download every video, in every run.
        requests = sum(server.requests.values()) / (2 * arguments.repeat * len(arguments.workers) * len(ids))
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)
    print_table(rows, arguments, requests)


def print_table(rows: list[tuple[int, dict]], arguments: argparse.Namespace, requests: float) -> None:
    from celebv_hq_lib.download import DownloadSettings

    default = DownloadSettings()
    mean_gap = (default.pace_min_sec + default.pace_max_sec) / 2
    width, height = arguments.size
    what = f"{arguments.videos} videos ({width}x{height}, {arguments.clips} clips of 3 s each)"
    print(f"{what}; pace and network time scaled by {arguments.scale:g}; seconds as measured")
    header = f"{'job':<44}" + "".join(f"{f'{workers} worker(s)':>14}" for workers, _ in rows)
    print(header)
    for job in ("download", "cut", "end to end"):
        name = {"download": "download only (pace + network)", "cut": "cut only (from the downloaded folder)"}
        print(f"{name.get(job, 'end to end (fetch=true)'):<44}" + "".join(f"{r[job]:>14.1f}" for _, r in rows))
    hidden = [max(0.0, (r["download"] + r["cut"] - r["end to end"]) / r["cut"]) for _, r in rows]
    print(f"{'cutting hidden inside the download':<44}" + "".join(f"{share:>14.0%}" for share in hidden))
    ratio = [r["cut cpu"] / r["download"] for _, r in rows]
    print(f"{'cutting CPU-s per second of download':<44}" + "".join(f"{value:>14.2f}" for value in ratio))
    real = CORE_HOURS_720P * 3600 / CELEBV_HQ_VIDEOS / mean_gap
    print(f"the release's: {real:.2f} core-s of cutting per second of one session's pace (5.1 core-s a video, 15 s)")
    print(
        f"pace {default.pace_min_sec * arguments.scale:g} to {default.pace_max_sec * arguments.scale:g} s per video "
        f"start; network {arguments.network_sec * arguments.scale:g} s per video ({arguments.network_sec:g} s scaled "
        f"by {arguments.scale:g}: the server waits {arguments.network_sec * arguments.scale / REQUESTS_PER_VIDEO:.3f} "
        f"s before each of its answers, {requests:.1f} a video)"
    )
    print(
        f"reproduce: python benchmarks/bench_end_to_end.py --videos {arguments.videos} --clips {arguments.clips} "
        f"--size {width} {height} --network-sec {arguments.network_sec:g} --scale {arguments.scale:g} "
        f"--workers {' '.join(str(workers) for workers, _ in rows)} --repeat {arguments.repeat}"
    )


if __name__ == "__main__":
    main()
