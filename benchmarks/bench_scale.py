"""How long cutting all of CelebV-HQ takes, here and on bigger machines: measured costs, projected.

    python benchmarks/bench_scale.py [--repeat 2] [--sessions 8]
    python benchmarks/bench_scale.py --costs 0.042 0.092 0.050 0.115 0.225 --overhead 1.30   # project only

1. Throughput here: the `clips` config built from two raw 720p videos of 5 minutes (the cutting
   benchmark's video under two YouTube ids, 16 clips of 4 to 14 s), with 1 and with 2 worker
   processes (`num_proc`): clips per second and seconds of clip video per second.
2. Costs per core (one thread each, so they add up over cores): decoding one second of 720p and of
   1080p H.264 (30 fps, with its AAC audio), one seek (to a keyframe, then decoding up to the target,
   as the cutter does), and encoding one second of a 512x512 clip (libx264 medium, CRF 23, with AAC).
3. Projection for all 35,666 clips from the real positions of the clips in their videos (the release's
   totals and the quantiles of the gaps between clips of one video; see benchmarks/README.md). Ours decodes each
   clip, the short gaps it decodes through (under `seek_gap_sec`, 5 s) and a keyframe interval's worth
   per seek (one per video and one per longer gap); the release's script runs one ffmpeg per clip that
   decodes the video from its start to the clip's end. Both encode the same 64.4 hours. Core-seconds
   are divided by the cores, assuming the work spreads evenly (it does for ours: 19,781 work items of at
   most 7 modelled core-seconds; bench_schedule.py simulates the scheduling).
4. End to end with `fetch=true`: the download is paced per session (13,844 video starts, one every 12
   to 18 s, 15 s on average: 57.7 session-hours), so it takes 57.7 h divided by the download sessions
   (IPs or accounts, each with a data folder of its own): 1 on the 2-core machine, `--sessions` on the
   64-core machine, `--sessions` per machine on the cluster. Cutting hides inside the download when it
   is shorter (bench_end_to_end.py measures how much), so end to end is the longer of the two.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY / "benchmarks"))

from bench_celebv_hq import CLIPS, raw_video  # noqa: E402
from measure import best_of  # noqa: E402

# A download session's pace: one video start every 12 to 18 s (celebv_hq_lib.download.DownloadSettings).
MEAN_PACE_SEC = 15.0
# The release's clip positions (../shared/formats/celebv_hq_clip_stats.md, copied as facts).
CLIP_COUNT = 35_666
VIDEO_COUNT = 13_844
CLIP_HOURS = 64.4
SUM_OF_CLIP_ENDS_HOURS = 2_536.0  # what one ffmpeg per clip, decoding from the start, decodes
GAP_COUNT = 21_822
# Gaps between consecutive clips of one video (s): min, p10, p25, p50, p75, p90, p99, max.
GAP_QUANTILES = ((0.0, -19.8), (0.10, 0.2), (0.25, 1.9), (0.50, 10.9), (0.75, 37.4), (0.90, 101.1), (0.99, 958.7))
SEEK_GAP_SEC = 5.0
MACHINES = (("one 2-core machine", 2), ("one 64-core machine", 64), ("16 machines of 64 cores", 1024))
MEASURE_SEC = 20


def gap_model() -> tuple[float, float]:
    """(seconds decoded through short gaps, number of seeks over long gaps) over all gaps.

    The gap distribution is the quantiles above, linear between them (the last 1% at the p99 value).
    """
    steps = 10_000
    decoded = long_gaps = 0.0
    for step in range(steps):
        q = (step + 0.5) / steps
        points = [*GAP_QUANTILES, (1.0, GAP_QUANTILES[-1][1])]
        (q0, g0), (q1, g1) = next((a, b) for a, b in itertools.pairwise(points) if a[0] <= q <= b[0])
        gap = g0 + (g1 - g0) * (q - q0) / (q1 - q0)
        if gap >= SEEK_GAP_SEC:
            long_gaps += 1
        elif gap > 0:
            decoded += gap
    return decoded / steps * GAP_COUNT, long_gaps / steps * GAP_COUNT


def decode_cost(path: str, seconds: float) -> float:
    """Core-seconds to decode one second of `path` (video and audio), one thread."""
    import av

    with av.open(path) as container:
        container.streams.video[0].thread_count = 1
        started = time.process_time()
        for frame in container.decode(*container.streams):
            if frame.time is not None and frame.time >= seconds:
                break
        return (time.process_time() - started) / seconds


def seek_cost(path: str, seeks: int = 12) -> float:
    """Core-seconds of one seek to a point between keyframes, decoding up to it (one thread)."""
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_count = 1
        started = time.process_time()
        for index in range(seeks):
            target = 20.0 + 13.7 * index
            container.seek(int(target / stream.time_base), stream=stream)
            for frame in container.decode(stream):
                if frame.time >= target:
                    break
        return (time.process_time() - started) / seeks


def encode_cost(seconds: int = 10) -> float:
    """Core-seconds to encode one second of a 512x512 30 fps clip with its audio (libx264 medium, one thread)."""
    import av
    import numpy as np

    rng = np.random.default_rng(0)
    base = rng.integers(30, 225, size=(40, 40, 3), dtype=np.uint8)
    texture = av.VideoFrame.from_ndarray(base, format="rgb24").reformat(640, 640).to_ndarray()
    started = time.process_time()
    with av.open(tempfile.mktemp(suffix=".mp4"), mode="w") as output:
        video = output.add_stream("libx264", rate=30, options={"preset": "medium", "crf": "23", "threads": "1"})
        video.width = video.height = 512
        video.pix_fmt = "yuv420p"
        audio = output.add_stream("aac", rate=44_100, layout="stereo")
        for index in range(seconds * 30):
            picture = texture[index % 128 : index % 128 + 512, (index * 3) % 128 : (index * 3) % 128 + 512]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb24")
            frame.pts = index
            output.mux(video.encode(frame))
        for index in range(seconds * 44_100 // 1024):
            wave = np.sin(np.arange(1024) / 20 + index).astype(np.float32) * 0.1
            sound = av.AudioFrame.from_ndarray(np.stack([wave, wave]), format="fltp", layout="stereo")
            sound.sample_rate, sound.pts = 44_100, index * 1024
            output.mux(audio.encode(sound))
        output.mux(video.encode(None))
        output.mux(audio.encode(None))
    return (time.process_time() - started) / seconds


def build_clips(raw: str, num_proc: int) -> tuple[int, float]:
    """Build `clips` from two copies of the raw video with `num_proc` workers; (clips, seconds of clips)."""
    from celebv_hq import ACTION_NAMES, APPEARANCE_NAMES, CelebVHQ

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "raw").mkdir()
        records = {}
        for ytb_id in ("benchVideo0", "benchVideo1"):
            (root / "raw" / f"{ytb_id}.mp4").symlink_to(raw)
            for k, (start, end, top, bottom, left, right) in enumerate(CLIPS):
                records[f"{ytb_id}_{k}"] = {
                    "ytb_id": ytb_id,
                    "duration": {"start_sec": start, "end_sec": end},
                    "bbox": {"top": top, "bottom": bottom, "left": left, "right": right},
                    "attributes": {
                        "appearance": [0] * len(APPEARANCE_NAMES),
                        "action": [0] * len(ACTION_NAMES),
                        "emotion": {"sep_flag": False, "labels": "neutral"},
                    },
                    "version": "v0.1",
                }
        meta = {"appearance_mapping": list(APPEARANCE_NAMES), "action_mapping": list(ACTION_NAMES)}
        (root / "celebvhq_info.json").write_text(json.dumps({"meta_info": meta, "clips": records}))
        builder = CelebVHQ(config_name="clips", data_dir=str(root), cache_dir=str(root / "cache"))
        builder.download_and_prepare(num_proc=num_proc if num_proc > 1 else None)
        rows = builder.as_dataset(split="train").num_rows
        shutil.rmtree(root / "cache")
    return rows, 2 * sum(end - start for start, end, *_ in CLIPS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--sessions", type=int, default=8, help="download sessions per 64-core machine (default 8)")
    parser.add_argument(
        "--costs",
        type=float,
        nargs=5,
        metavar=("DECODE720", "DECODE1080", "SEEK720", "SEEK1080", "ENCODE"),
        help="project from these core-second costs (as a run prints them) instead of measuring",
    )
    parser.add_argument("--overhead", type=float, default=1.30, help="with --costs: the overhead factor")
    arguments = parser.parse_args()
    if arguments.costs is not None:
        names = ("decode 720p", "decode 1080p", "seek 720p", "seek 1080p", "encode 512px")
        project(dict(zip(names, arguments.costs, strict=True)), arguments.overhead, arguments.sessions)
        return
    raw720, raw1080 = str(raw_video()), str(raw_video(1920, 1080, 60))
    print("throughput here (the datasets engine; the Ray engine runs the same code per video):")
    measured_core_seconds = 0.0
    for workers in (1, 2):
        seconds, peak, (clips, clip_seconds) = best_of(arguments.repeat, build_clips, raw720, workers)
        measured_core_seconds = seconds * 2  # both cores busy (one worker's encoder threads use both too)
        print(
            f"  {workers} worker(s): {clips / seconds:.2f} clips/s, {clip_seconds / seconds:.2f} s of clip video/s "
            f"({clips} clips in {seconds:.1f} s, peak {peak:.0f} MB in the main process)"
        )
    costs = {
        "decode 720p": min(decode_cost(raw720, MEASURE_SEC) for _ in range(arguments.repeat)),
        "decode 1080p": min(decode_cost(raw1080, MEASURE_SEC) for _ in range(arguments.repeat)),
        "seek 720p": min(seek_cost(raw720) for _ in range(arguments.repeat)),
        "seek 1080p": min(seek_cost(raw1080, 3) for _ in range(arguments.repeat)),
        "encode 512px": min(encode_cost() for _ in range(arguments.repeat)),
    }
    print("costs, core-seconds (one thread): " + ", ".join(f"{k} {v:.3f}" for k, v in costs.items()))
    # The model leaves out what is not decoding, seeking or encoding (audio resampling, Python, writing,
    # processes sharing cores): measured against the model on the 2-worker build, ours is scaled by it.
    per_video = (BENCH_DECODED_SEC * costs["decode 720p"] + BENCH_SEEKS * costs["seek 720p"]) + sum(
        end - start for start, end, *_ in CLIPS
    ) * costs["encode 512px"]
    overhead = measured_core_seconds / (2 * per_video)
    print(f"the 2-worker build took {overhead:.2f}x the model's core-seconds: ours is projected with that factor")
    project(costs, overhead, arguments.sessions)


# The benchmark video's work per the cutter (see benchmarks/README.md, cutting): the clips and one 2 s gap
# decoded, 7 seeks.
BENCH_DECODED_SEC = sum(end - start for start, end, *_ in CLIPS) + 2.0
BENCH_SEEKS = 7
# The largest video of the release has 89 clips; at most 20 s each (p99) and its last clip ends by 11,170 s.
LARGEST_VIDEO_CLIP_SEC = 89 * 20.0
LARGEST_VIDEO_END_SEC = 11_170.2
LONGEST_CLIP_SEC = 21.0


def project(costs: dict[str, float], overhead: float = 1.0, sessions: int = 8) -> None:
    decoded_gaps, long_gaps = gap_model()
    seeks = VIDEO_COUNT + long_gaps
    clip_sec = CLIP_HOURS * 3600
    print(
        f"model: ours decodes {CLIP_HOURS:.1f} h of clips + {decoded_gaps / 3600:.1f} h of short gaps and makes "
        f"{seeks:,.0f} seeks; the release decodes {SUM_OF_CLIP_ENDS_HOURS:,.0f} h; both encode {CLIP_HOURS} h"
    )
    header = f"{'source':7} {'who':9} {'core-hours':>10} " + " ".join(f"{name:>24}" for name, _ in MACHINES)
    print(header)
    for resolution in ("720p", "1080p"):
        encode = clip_sec * costs["encode 512px"]
        ours = (clip_sec + decoded_gaps) * costs[f"decode {resolution}"] + seeks * costs[f"seek {resolution}"]
        release = SUM_OF_CLIP_ENDS_HOURS * 3600 * costs[f"decode {resolution}"]
        ours_total = (ours + encode) * overhead
        for who, core_seconds in (("ours", ours_total), ("release", release + encode)):
            times = " ".join(f"{_duration(core_seconds / cores):>24}" for _, cores in MACHINES)
            print(f"{resolution:7} {who:9} {core_seconds / 3600:10,.0f} {times}")
        end_to_end = []
        for _, cores in MACHINES:
            # One session on a 2-core machine; `sessions` per 64-core machine.
            count = 1 if cores < 64 else sessions * cores // 64
            download = VIDEO_COUNT * MEAN_PACE_SEC / count
            end_to_end.append(f"{_duration(max(download, ours_total / cores))} ({count} session(s))")
        print(f"{resolution:7} {'fetch':9} {'':>10} " + " ".join(f"{text:>24}" for text in end_to_end))
        print(f"{resolution:7} release/ours compute: {(release + encode) / ours_total:.1f}x")
        clip = overhead * (
            LONGEST_CLIP_SEC * (costs["encode 512px"] + costs[f"decode {resolution}"]) + costs[f"seek {resolution}"]
        )
        whole = overhead * (
            LARGEST_VIDEO_CLIP_SEC * costs["encode 512px"] + LARGEST_VIDEO_END_SEC * costs[f"decode {resolution}"]
        )
        print(
            f"{resolution:7} the longest task: a work item of at most 7 modelled core-s, or a 21 s clip alone: "
            f"{clip:.0f} s (one task per video, max_item_cost=none: the largest video, up to {_duration(whole)})"
        )


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


if __name__ == "__main__":
    main()
