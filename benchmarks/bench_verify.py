"""Benchmark `verify` and the checks of the `clips` build: what checking one processed clip costs.

    python benchmarks/bench_verify.py              # the 720p raw video of bench_celebv_hq.py, its 8 clips
    python benchmarks/bench_verify.py --small      # a 62 s 360p raw video and its first 3 clips (a quick run)

The raw video is bench_celebv_hq.py's (generated once and cached under benchmarks/.cache/: 5 minutes of
720p at 30 fps, 2 s keyframe intervals, stereo AAC). Its eight clips are cut once, resized to 512 px,
and stored as processed clips are (H.264 + AAC MP4): they pass every check, so every check runs to the
end. Each job runs in a fresh process, over every clip `ROUNDS` times; the figures are per clip:

- read the file alone (the least any check costs);
- `video_problem`, the fast media check the build ran on processed clips before verify existed (baseline);
- every check of a processed clip without its raw video (readable, duration, square, size, audio);
- the same with the first frame compared with a cut of the raw video (the raw video's header read once
  per video, one pass over it for all its clips);
- cutting the clip from the raw video (what re-cutting every clip would cost instead);

and per raw video: its header read (`raw_video_facts`), and read to its end (`--media-check full`).
The last lines project the figures onto the release's 35,666 clips and 13,844 raw videos, on one core.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY / "benchmarks"))
sys.path.insert(0, str(REPOSITORY))

from bench_celebv_hq import CACHE, CLIPS, raw_video  # noqa: E402
from measure import best_of  # noqa: E402

ROUNDS = 3
RELEASE_CLIPS, RELEASE_VIDEOS = 35_666, 13_844


def clip_list(small: bool) -> list[tuple[str, float, float, tuple[float, float, float, float]]]:
    """(clip id, start, end, box) of the benchmark's clips."""
    clips = CLIPS[:3] if small else CLIPS
    return [(f"bench{k:06d}_{k}", start, end, box) for k, (start, end, *box) in enumerate(clips)]


def raw_path(small: bool) -> Path:
    return raw_video(640, 360, 62) if small else raw_video()


def processed_clips(small: bool) -> list[Path]:
    """The clips cut once from the raw video at 512 px, cached as files."""
    folder = CACHE / ("processed_512_small" if small else "processed_512")
    clips = clip_list(small)
    paths = [folder / f"{clip_id}.mp4" for clip_id, *_ in clips]
    if all(path.exists() for path in paths):
        return paths
    from celebv_hq_lib.video import BoundingBox, ClipRequest, EncoderSettings, cut_clips

    print(f"cutting the {len(paths)} clips at 512 px (cached in {folder}) ...", flush=True)
    folder.mkdir(parents=True, exist_ok=True)
    requests = [ClipRequest(clip_id, start, end, BoundingBox(*box)) for clip_id, start, end, box in clips]
    for result in cut_clips(str(raw_path(small)), requests, EncoderSettings(size=512)):
        assert result.video is not None, result.skip_reason
        (folder / f"{result.clip_id}.mp4").write_bytes(result.video)
    return paths


def annotations(small: bool) -> list:
    """The clips as ClipAnnotation (what the checks take), all of one YouTube video."""
    from celebv_hq_lib.annotations import ClipAnnotation
    from celebv_hq_lib.video import BoundingBox

    return [
        ClipAnnotation(clip_id, "bench000000", start, end, BoundingBox(*box), (), (), "neutral", (), False, "v0.1")
        for clip_id, start, end, box in clip_list(small)
    ]


def run_job(job: str, small: bool) -> int:
    """Do `job` ROUNDS times over every clip (or the raw video); returns the problems found (0 expected)."""
    from celebv_hq_lib.checks import check_processed_clips, raw_video_facts
    from celebv_hq_lib.video import ClipRequest, EncoderSettings, cut_clips, video_problem

    paths, clips, raw = processed_clips(small), annotations(small), str(raw_path(small))
    processed = [(clip, str(path)) for clip, path in zip(clips, paths, strict=True)]
    problems = 0
    for _ in range(ROUNDS):
        if job == "read":
            problems += sum(not path.read_bytes() for path in paths)
        elif job == "fast media check":
            problems += sum(video_problem(path.read_bytes()) is not None for path in paths)
        elif job == "checks without raw":
            problems += sum(bool(verdict.problems) for verdict in check_processed_clips(processed))
        elif job == "checks with first frame":
            verdicts = check_processed_clips(processed, raw_video_facts(raw))
            problems += sum(bool(verdict.problems) for verdict in verdicts)
        elif job == "cut from raw":
            requests = [ClipRequest(clip.clip_id, clip.start_sec, clip.end_sec, clip.bbox) for clip in clips]
            problems += sum(result.video is None for result in cut_clips(raw, requests, EncoderSettings(size=512)))
        elif job == "raw header":
            problems += raw_video_facts(raw).problem is not None
        elif job == "raw to its end":
            problems += raw_video_facts(raw, full=True, needed_end_sec=clips[-1].end_sec).problem is not None
    return problems


PER_CLIP = ("read", "fast media check", "checks without raw", "checks with first frame", "cut from raw")
PER_VIDEO = ("raw header", "raw to its end")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="a 62 s 360p raw video and 3 clips: a quick run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the fastest is kept")
    parser.add_argument("--skip-cut", action="store_true", help="leave out cutting from raw (the slowest job)")
    arguments = parser.parse_args()
    processed_clips(arguments.small)  # made (and cached) before any clock starts
    count = len(clip_list(arguments.small))
    jobs = [job for job in (*PER_CLIP, *PER_VIDEO) if not (arguments.skip_cut and job == "cut from raw")]
    started = time.perf_counter()
    runs = {
        job: best_of(arguments.repeat, run_job, job, arguments.small, preload=("celebv_hq_lib.checks",)) for job in jobs
    }
    assert all(problems == 0 for _, _, problems in runs.values()), runs
    per = {job: seconds / ROUNDS / (count if job in PER_CLIP else 1) * 1000 for job, (seconds, _, _) in runs.items()}
    size = "62 s 360p" if arguments.small else "5 min 720p"
    lines = [
        f"verify: {count} processed clips of 512 px cut from a {size} raw video, each job {ROUNDS} rounds in a fresh "
        f"process, best of {arguments.repeat}",
        f"  {'job':40} {'ms per clip':>12} {'x baseline':>11} {'peak MB':>8}",
    ]
    baseline = per["fast media check"]
    for job in jobs:
        unit = "per clip" if job in PER_CLIP else "per video"
        ratio = f"{per[job] / baseline:10.2f}x" if job in PER_CLIP else " " * 11
        lines.append(f"  {job + ' (' + unit + ')':40} {per[job]:12.2f} {ratio} {runs[job][1]:8.0f}")
    checks = per["checks with first frame"] * RELEASE_CLIPS + per["raw header"] * RELEASE_VIDEOS
    lines += [
        f"  release ({RELEASE_CLIPS:,} clips, {RELEASE_VIDEOS:,} raw videos), one core: every check with first "
        f"frames {checks / 3.6e6:.2f} h; without raw videos {per['checks without raw'] * RELEASE_CLIPS / 3.6e6:.2f} h",
    ]
    if "cut from raw" in per:
        lines.append(f"  re-cutting every clip instead: {per['cut from raw'] * RELEASE_CLIPS / 3.6e6:.1f} h")
    command = "python benchmarks/bench_verify.py" + " --small" * arguments.small
    lines.append(f"  ({time.perf_counter() - started:.0f} s in all; {command})")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
