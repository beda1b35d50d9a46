"""How closely `video_split` follows its percentages: the shares of videos, clips and clip seconds per split.

    python benchmarks/bench_video_split.py                                   # the release's clips, stand-in ids
    python benchmarks/bench_video_split.py --annotation-file celebvhq_info.json   # your annotation file's ids

A video's split is decided by a hash of its YouTube id alone, so the shares are of videos in
expectation, and the clips follow as the videos' clip counts fall. Without an annotation file, the
release's clips (benchmarks/data/celebvhq_clip_positions.csv.gz: 13,844 videos, 35,666 clips, the
real counts and lengths under anonymous names) get random 11-character ids, `--draws` times; with one,
its own ids give the one split everyone building that file gets. There is no baseline to beat: the
table shows the share asked for and the shares given.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import random
import string
import sys
from collections import Counter
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

from celebv_hq_lib.splits import SPLIT_NAMES, VideoSplit, split_of_video  # noqa: E402

POSITIONS = REPOSITORY / "benchmarks" / "data" / "celebvhq_clip_positions.csv.gz"
YOUTUBE_ALPHABET = string.ascii_letters + string.digits + "-_"


def release_clips() -> list[tuple[str, float]]:
    """(video, clip seconds) of every clip of the release, under the positions file's anonymous names."""
    with gzip.open(POSITIONS, "rt") as lines:
        return [(row["video"], float(row["end_sec"]) - float(row["start_sec"])) for row in csv.DictReader(lines)]


def annotation_clips(path: Path) -> list[tuple[str, float]]:
    from celebv_hq_lib.annotations import read_annotation_file

    return [(clip.ytb_id, clip.duration_sec) for clip in read_annotation_file(path)]


def shares(clips: list[tuple[str, float]], ids: dict[str, str], split: VideoSplit) -> dict[str, tuple[float, ...]]:
    """Per split: the percentage of videos, of clips and of clip seconds it holds."""
    videos, counts, seconds = Counter(), Counter(), Counter()
    for video in {video for video, _ in clips}:
        videos[split_of_video(ids[video], split)] += 1
    for video, duration in clips:
        name = split_of_video(ids[video], split)
        counts[name] += 1
        seconds[name] += duration
    totals = (sum(videos.values()), len(clips), sum(seconds.values()))
    return {
        name: tuple(100 * part[name] / total for part, total in zip((videos, counts, seconds), totals, strict=True))
        for name in SPLIT_NAMES
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--annotation-file", type=Path, help="a celebvhq_info.json: its own ids (one draw)")
    parser.add_argument("--split", type=VideoSplit.parse, default=VideoSplit(80, 10, 10), help="default 80/10/10")
    parser.add_argument("--draws", type=int, default=5, help="draws of stand-in ids (without --annotation-file)")
    arguments = parser.parse_args()
    if arguments.annotation_file is not None:
        clips = annotation_clips(arguments.annotation_file)
        draws = [{video: video for video, _ in clips}]
        source = str(arguments.annotation_file)
    else:
        clips = release_clips()
        names = sorted({video for video, _ in clips})
        draws = []
        for seed in range(arguments.draws):
            generator = random.Random(seed)
            draws.append({name: "".join(generator.choice(YOUTUBE_ALPHABET) for _ in range(11)) for name in names})
        source = f"the release's clip counts and lengths, {arguments.draws} draws of random ids"
    videos = len({video for video, _ in clips})
    lines = [
        f"video_split={arguments.split}: {videos:,} videos, {len(clips):,} clips ({source})",
        f"  {'split':11} {'asked %':>8} {'videos %':>16} {'clips %':>16} {'seconds %':>16}",
    ]
    results = [shares(clips, ids, arguments.split) for ids in draws]
    for index, name in enumerate(SPLIT_NAMES):
        ranges = []
        for column in range(3):
            values = [result[name][column] for result in results]
            low, high = min(values), max(values)
            ranges.append(f"{low:.2f}" if low == high else f"{low:.2f} to {high:.2f}")
        lines.append(f"  {name:11} {arguments.split[index]:8d} {ranges[0]:>16} {ranges[1]:>16} {ranges[2]:>16}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
