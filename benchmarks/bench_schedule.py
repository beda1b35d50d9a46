"""How long cutting all of CelebV-HQ takes on a cluster: a scheduler simulated over the real clip positions.

    python benchmarks/bench_schedule.py [--costs benchmarks/data/codec_costs.json] [--max-item-cost 7] [--noise 0.25]
    python benchmarks/bench_schedule.py --order annotation     # items in the annotation's order, not longest first
    python benchmarks/bench_schedule.py --decode 0.042 --seek 0.050 [--encode 0.225 --factor 1.30 --per-item 0]

What is real: the positions of the release's 35,666 clips in their 13,844 YouTube videos (anonymised
video ids, start and end; benchmarks/data/celebvhq_clip_positions.csv.gz, copied from the release's
clip list). What is measured: the per-core costs in the JSON that bench_codecs.py writes (decoding and
seeking per codec and resolution, opening a file, a Ray task's start, encoding a clip, and the overhead
factor, the last two as bench_scale.py measures them). What is modelled: how long each work item takes
(the cost model of celebv_hq_lib.work_items: seeks, decoded source seconds and encoded clip seconds of
its one pass, times the overhead factor, plus a fixed cost per item: opening the file, with an MP4 index
as long as a 3-hour video's, its first frame and a task's start) and the scheduler.

The scheduler is greedy, longest first (LPT): items sorted by cost, each to the core that frees first
(`--order annotation`: in the order of the videos instead); all cores of all machines are one pool (a
cluster scheduler gives a task to any free core). Two ways to cut, for every shape of cluster:
- per video: one item per YouTube video (the `clips` config with max_item_cost=none);
- split: the items the `clips` config cuts (celebv_hq_lib.clips: `split_video` with the dataset's own
  CUTTING_COST model and maximum, DEFAULT_MAX_ITEM_COST, or `--max-item-cost`), the same for every
  source and every shape, as every engine and cluster cuts the same items (a clip's bytes depend on the
  pass that cut it); each item then costs what its pass costs on the source. The maximum suits 1,024
  cores (16 machines of 64); the small machines pay a little for the extra items.
The split items are also scheduled with each item's real duration off the model by up to +-`--noise`
(uniform, seeded by the item's first clip: deterministic), still in the model's order: the model is not
exact. Perfect division is the per-video total divided by the cores; every ratio is to it, so what
splitting adds (seeks, overlaps decoded twice, per-item costs) counts against the split.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import heapq
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
# This repository's packages first (a namespace `celebv_hq_lib` here must not lose to an installed one).
sys.path.insert(0, str(REPOSITORY))

from celebv_hq_lib.work_items import (  # noqa: E402
    CUTTING_COST,
    DEFAULT_MAX_ITEM_COST,
    Clip,
    CostModel,
    WorkItem,
    extra_decode_cost,
    pass_work,
    split_video,
)

POSITIONS = REPOSITORY / "benchmarks" / "data" / "celebvhq_clip_positions.csv.gz"
COSTS = REPOSITORY / "benchmarks" / "data" / "codec_costs.json"
SHAPES = ((1, 2), (1, 64), (16, 64), (64, 64))  # machines x cores
SEEK_GAP_SEC = 5.0  # the cutter's default (celebv_hq's seek_gap_sec)
GOAL_RATIO, GOAL_ONE_MACHINE_MIN = 1.1, 25.0


def read_positions(path: Path = POSITIONS) -> dict[str, list[Clip]]:
    """Each video's clips, in the file's order; a clip's id is its video's id and its row in that video."""
    videos: dict[str, list[Clip]] = {}
    with gzip.open(path, "rt", newline="") as text:
        for row in csv.DictReader(text):
            clips = videos.setdefault(row["video"], [])
            clips.append(Clip(f"{row['video']}_{len(clips)}", float(row["start_sec"]), float(row["end_sec"])))
    return videos


@dataclass(frozen=True)
class Source:
    """One kind of raw video (codec and resolution) and its cost model."""

    name: str
    model: CostModel


def read_costs(path: Path) -> tuple[list[Source], str]:
    """The cost models of the JSON written by bench_codecs.py, and the command that wrote it."""
    data = json.loads(path.read_text())
    sources = []
    for name, source in data["sources"].items():
        per_item = source["open"] + source["long_index"] + data["task_start"]
        model = CostModel(
            decode_per_source_sec=source["decode_per_source_sec"],
            seek=source["seek"],
            encode_per_clip_sec=data["encode_per_clip_sec"],
            per_item=per_item,
            factor=data["overhead_factor"],
        )
        sources.append(Source(name, model))
    # H.264 first, then VP9 and AV1, each at 720p then 1080p.
    order = {"h264": 0, "vp9": 1, "av1": 2}
    sources.sort(key=lambda source: (order.get(source.name.split()[0], 9), int(source.name.split()[1][:-1])))
    return sources, data.get("command", "")


def makespan(durations: Sequence[float], cores: int, longest_first_by: Sequence[float] | None) -> float:
    """When the last core finishes: each item, in turn, to the core that frees first (the lowest-numbered
    of equals). Items are taken longest first by `longest_first_by` (LPT), or in the given order (None)."""
    order: Sequence[int] = range(len(durations))
    if longest_first_by is not None:
        order = sorted(order, key=lambda index: (-longest_first_by[index], index))
    free = [(0.0, core) for core in range(cores)]
    for index in order:
        finish, core = heapq.heappop(free)
        heapq.heappush(free, (finish + durations[index], core))
    return max(finish for finish, _ in free)


def off_the_model(item: WorkItem, cost: float, noise: float) -> float:
    """The item's modelled `cost` off by a fixed amount in [-noise, +noise], drawn from its first clip's id."""
    digest = hashlib.blake2b(item.clips[0].clip_id.encode(), digest_size=8).digest()
    unit = int.from_bytes(digest, "big") / 2**64
    return cost * (1 + noise * (2 * unit - 1))


@dataclass(frozen=True)
class Plan:
    per_video: list[float]  # one item per video: its cost on the source
    items: list[WorkItem]  # the split items of every video, in video order (split with CUTTING_COST)
    costs: list[float]  # each split item's cost on the source
    extra_decode: float  # core-seconds of seeking and decoding the split costs beyond one pass per video


def split_items(videos: dict[str, list[Clip]], max_item_cost: float) -> list[list[WorkItem]]:
    """Each video's items as the `clips` config splits them (the dataset's model and maximum)."""
    return [split_video(clips, max_item_cost, CUTTING_COST, seek_gap_sec=SEEK_GAP_SEC) for clips in videos.values()]


def plan(videos: dict[str, list[Clip]], split: list[list[WorkItem]], model: CostModel) -> Plan:
    """What one source costs: per video, and for the split items (whose passes do not depend on the source)."""
    per_video = [model.cost(pass_work(clips, seek_gap_sec=SEEK_GAP_SEC)) for clips in videos.values()]
    items, extra = [], 0.0
    for clips, video_items in zip(videos.values(), split, strict=True):
        extra += extra_decode_cost(clips, video_items, model, seek_gap_sec=SEEK_GAP_SEC)
        items += video_items
    return Plan(per_video, items, [model.cost(item.work) for item in items], extra)


def duration(seconds: float) -> str:
    if seconds >= 7200:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def print_goals(splits: dict[tuple[str, tuple[int, int]], tuple[float, float]], names: list[str]) -> None:
    """The issue's goals, for H.264 720p (or the custom source), and the worst over every source."""

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    for name in [name for name in names if name in ("h264 720p", "custom")]:
        ratio = splits[name, (16, 64)][1]
        one_machine = splits[name, (1, 64)][0]
        print(
            f"{name}, split: 16x64 cores {ratio:.2f}x of perfect division (goal {GOAL_RATIO}x: "
            f"{verdict(ratio <= GOAL_RATIO)}); one 64-core machine {duration(one_machine)} (goal under "
            f"{GOAL_ONE_MACHINE_MIN:.0f} min: {verdict(one_machine < GOAL_ONE_MACHINE_MIN * 60)}); "
            f"64x64 cores {splits[name, (64, 64)][1]:.2f}x"
        )
    if len(names) > 1:
        print(
            "every source, split: 16x64 cores at most "
            f"{max(splits[name, (16, 64)][1] for name in names):.2f}x of perfect division, 64x64 at most "
            f"{max(splits[name, (64, 64)][1] for name in names):.2f}x, one 64-core machine at most "
            f"{duration(max(splits[name, (1, 64)][0] for name in names))}"
        )


def print_split(videos: dict[str, list[Clip]], split: list[list[WorkItem]]) -> None:
    """What splitting does to the videos (the same for every source): how many are split, seeks added, seconds
    decoded."""
    split_videos = extra_seeks = 0
    extra_decoded = 0.0
    for clips, items in zip(videos.values(), split, strict=True):
        whole = pass_work(clips, seek_gap_sec=SEEK_GAP_SEC)
        split_videos += len(items) > 1
        extra_seeks += sum(item.work.seeks for item in items) - whole.seeks
        extra_decoded += sum(item.work.decoded_sec for item in items) - whole.decoded_sec
    print(
        f"split: {split_videos:,} of {len(videos):,} videos in more than one item; "
        f"{extra_seeks:+,} seeks and {extra_decoded:+,.0f} source seconds decoded against one pass per video"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--costs", type=Path, default=COSTS, help="the JSON bench_codecs.py writes")
    parser.add_argument(
        "--max-item-cost",
        type=float,
        default=DEFAULT_MAX_ITEM_COST,
        help=f"the largest item, in the dataset's CUTTING_COST core-seconds (default {DEFAULT_MAX_ITEM_COST:g}, "
        "the `clips` config's)",
    )
    parser.add_argument(
        "--order",
        choices=("longest", "annotation"),
        default="longest",
        help="items to free cores longest first (LPT), or in the annotation's order of videos",
    )
    parser.add_argument("--noise", type=float, default=0.25, help="how far an item's real duration is off the model")
    parser.add_argument("--decode", type=float, help="one custom source instead: decode core-s per source second")
    parser.add_argument("--seek", type=float, help="custom source: core-s per seek")
    parser.add_argument("--encode", type=float, default=0.225, help="custom source: core-s per clip second")
    parser.add_argument("--factor", type=float, default=1.30, help="custom source: overhead factor")
    parser.add_argument("--per-item", type=float, default=0.0, help="custom source: core-s per item")
    arguments = parser.parse_args(argv)
    maximum = arguments.max_item_cost
    if arguments.decode is not None or arguments.seek is not None:
        if arguments.decode is None or arguments.seek is None:
            parser.error("a custom source needs both --decode and --seek")
        model = CostModel(arguments.decode, arguments.seek, arguments.encode, arguments.per_item, arguments.factor)
        sources, costs_command = [Source("custom", model)], "(costs from the arguments)"
    else:
        sources, costs_command = read_costs(arguments.costs)
    videos = read_positions()
    clip_count = sum(len(clips) for clips in videos.values())
    order = "longest first" if arguments.order == "longest" else "in annotation order"
    print(
        f"{clip_count:,} clips of {len(videos):,} videos (the release's positions); items to free cores {order}, "
        f"all cores one pool; split: the clips config's items (at most {maximum:g} core-s of its cutting model), "
        f"the same for every source and shape; 'off model': split items with real durations up to "
        f"+-{arguments.noise:.0%} off the model"
    )
    header = (
        f"{'source':11} {'cores':>7} {'core-h':>6} {'perfect':>9} {'per video':>9} {'ratio':>6} "
        f"{'split':>9} {'ratio':>6} {'off model':>9} {'ratio':>6} {'items':>6} {'largest':>8} "
        f"{'extra decode':>12} {'extra all':>9}"
    )
    print(header)
    splits: dict[tuple[str, tuple[int, int]], tuple[float, float]] = {}  # (source, shape): (makespan, ratio)
    items_by_video = split_items(videos, maximum)
    for source in sources:
        result = plan(videos, items_by_video, source.model)
        total = sum(result.per_video)
        split_costs = result.costs
        real = [
            off_the_model(item, cost, arguments.noise) for item, cost in zip(result.items, split_costs, strict=True)
        ]
        extra_decode = 100 * result.extra_decode / total
        extra_all = 100 * (sum(split_costs) - total) / total
        for machines, cores_each in SHAPES:
            cores = machines * cores_each
            perfect = total / cores
            longest = arguments.order == "longest"
            per_video = makespan(result.per_video, cores, result.per_video if longest else None)
            split = makespan(split_costs, cores, split_costs if longest else None)
            noisy = makespan(real, cores, split_costs if longest else None)
            print(
                f"{source.name:11} {f'{machines}x{cores_each}':>7} {total / 3600:6.1f} {duration(perfect):>9} "
                f"{duration(per_video):>9} {per_video / perfect:5.2f}x {duration(split):>9} {split / perfect:5.2f}x "
                f"{duration(noisy):>9} {noisy / perfect:5.2f}x {len(result.items):6,} {max(split_costs):7.1f}s "
                f"{extra_decode:11.2f}% {extra_all:8.2f}%"
            )
            splits[source.name, (machines, cores_each)] = (split, split / perfect)
    print_goals(splits, [source.name for source in sources])
    print_split(videos, items_by_video)
    command = "python benchmarks/bench_schedule.py" + " ".join(
        [""] + [argument for argument in (argv if argv is not None else sys.argv[1:])]
    )
    print(f"costs: {costs_command}")
    print(f"reproduce: {command}")


if __name__ == "__main__":
    main()
