"""Work items below a video: one YouTube video's clips split into runs, each cut in one decoding pass.

The cutter (`cut_clips`) cuts all the clips it is given from one raw video in one pass: in start order,
seeking to the keyframe before the first clip and over every gap longer than `seek_gap_sec`, decoding
through shorter gaps, and sharing decoded frames between overlapping clips. Handing it all of a video's
clips at once decodes the least, but one video can then hold minutes of a core's work (89 clips in the
release's largest), which bounds a cluster's wall time. This module splits a video's clips into work
items no bigger than a cost the caller chooses; each item is cut by one `cut_clips` call on its clips.

The splitting rule (`split_video`):
- an item is a run of consecutive clips in cutting order (start, then end, then clip id), cut in one
  pass that starts with a seek before its first clip;
- every clip is in exactly one item, and items are listed in cutting order of their first clips;
- no item costs more than `max_item_cost` unless it is a single clip (a clip is never split);
- among the splits that respect the maximum, the one with the fewest items wins (each item opens the
  file and starts a task; and when the whole video fits, it stays one item: today's behaviour), then
  the one with the least total cost, then a fixed rule on the ordered clips: the result depends only on
  the set of clips, not on the order they are given in.

Overlapping clips may be split apart. Both items then decode the overlap (the second starts with a seek
into it), and the cost model counts that, so a split inside an overlap is chosen only when every split
with as few items that avoids it costs at least as much. Refusing to split inside overlaps would leave
whole chains of overlapping clips in one item: in the release's largest video, 64 of its 89 clips form
one chain, about 6.5 of its 8.4 core-minutes at 720p, so overlaps must be splittable.

What an item costs is modelled (`CostModel`, `pass_work`): core-seconds of one seek per seek the cutter
makes, of decoding every source second it decodes (the clips' union and the short gaps between them), and
of encoding every clip second (overlapping clips are each encoded), scaled by a factor for what the model
leaves out, plus a fixed cost per item. The same model drives the scheduling simulation
(`benchmarks/bench_schedule.py`), which measures what splitting costs over the release's real positions.

A clip's bytes depend on the pass that cut it. Its pictures do not (tests/test_codec_sources.py), but
its audio does in the last bits: the audio decoder carries state along a pass (an AAC decoder flushed at
a seek gives slightly different samples from a fresh one; a clip reached by decoding through a gap starts
from other state than one reached by a seek), so a clip cut alone can differ in its bytes from the same
clip cut after others. Engines that must
give the same bytes must cut the same items: the items are a pure function of the clips, `seek_gap_sec`,
the cost model and `max_item_cost`, so choose those once per build and give them to every engine.

`CUTTING_COST` and `DEFAULT_MAX_ITEM_COST` are the model and maximum the `clips` config splits with
(its `max_item_cost` option): constants of the dataset, so that every engine, slice and cluster cuts the
same items.

Standard library only: nothing here knows videos, datasets or engines.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple


class Clip(NamedTuple):
    """One clip of a video: its id (unique within the video) and its times on the video's timeline."""

    clip_id: str
    start_sec: float
    end_sec: float


@dataclass(frozen=True)
class PassWork:
    """What one cutting pass over some clips does: seeks, source seconds decoded, clip seconds encoded."""

    seeks: int
    decoded_sec: float
    clip_sec: float


@dataclass(frozen=True)
class CostModel:
    """Core-seconds of cutting, per unit of work, one thread each (so they add up over cores).

    `decode_per_source_sec`: decoding one second of the source (video and audio). `seek`: one seek to
    the keyframe before a time and decoding up to it. `encode_per_clip_sec`: encoding one second of a
    clip. `factor` multiplies those three for what they leave out (audio resampling, Python, writing);
    `per_item` is added once per item (opening the file and decoding its first frame, starting a task).
    """

    decode_per_source_sec: float
    seek: float
    encode_per_clip_sec: float
    per_item: float = 0.0
    factor: float = 1.0

    def __post_init__(self) -> None:
        for name in ("decode_per_source_sec", "seek", "encode_per_clip_sec", "per_item", "factor"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")

    def decode_cost(self, work: PassWork) -> float:
        """Core-seconds of the seeking and decoding in `work` (factor included, no per-item cost)."""
        return self.factor * (work.seeks * self.seek + work.decoded_sec * self.decode_per_source_sec)

    def cost(self, work: PassWork) -> float:
        """Core-seconds of one item doing `work`: seeking, decoding, encoding and the per-item cost."""
        return self.decode_cost(work) + self.factor * work.clip_sec * self.encode_per_clip_sec + self.per_item


# What the `clips` config splits videos with: the costs of cutting a 720p H.264 source, as
# benchmarks/bench_codecs.py measured them (benchmarks/data/codec_costs.json: decoding, a seek, encoding
# a 512x512 clip, the overhead factor; per item, opening a file with a 3-hour MP4's index and starting a
# task). A raw video's codec and size are not known before it is opened, and every engine must split
# the same way before any is, so one model serves all sources: it only decides where videos are split.
# Changing a number moves splits, so the bytes of some clips' audio: it is part of the dataset's
# definition, like DEFAULT_MAX_ITEM_COST.
CUTTING_COST = CostModel(
    decode_per_source_sec=0.0333, seek=0.0435, encode_per_clip_sec=0.1858, per_item=0.1142, factor=1.328
)
# The largest item, in CUTTING_COST's core-seconds: a tenth of each core's share of the release's work
# on 16 machines of 64 cores (`choose_max_item_cost` gives 6.93 over the release's positions), rounded.
# Greedy scheduling then ends within 1.1x of perfect division there; fewer cores pay about 1% for the
# extra items (benchmarks/README.md, "work items below a video").
DEFAULT_MAX_ITEM_COST = 7.0


@dataclass(frozen=True)
class WorkItem:
    """Clips of one video cut in one pass (in cutting order), what that pass does, and its modelled cost."""

    clips: tuple[Clip, ...]
    work: PassWork
    cost: float

    @property
    def clip_ids(self) -> tuple[str, ...]:
        return tuple(clip.clip_id for clip in self.clips)


def cutting_order(clips: Iterable[Clip]) -> list[Clip]:
    """The clips in the order the cutter takes them: by start, then end; the clip id breaks ties.

    Raises ValueError for a clip id given twice, a time that is not finite or a clip that does not end
    after it starts.
    """
    ordered = sorted((Clip(*clip) for clip in clips), key=lambda clip: (clip.start_sec, clip.end_sec, clip.clip_id))
    seen: set[str] = set()
    for clip in ordered:
        if clip.clip_id in seen:
            raise ValueError(f"the clip id {clip.clip_id!r} is given twice")
        seen.add(clip.clip_id)
        if not (math.isfinite(clip.start_sec) and math.isfinite(clip.end_sec) and clip.end_sec > clip.start_sec):
            raise ValueError(f"the clip {clip.clip_id!r} must end after it starts: {clip.start_sec}..{clip.end_sec}")
    return ordered


def pass_work(clips: Iterable[Clip], *, seek_gap_sec: float) -> PassWork:
    """What one pass of the cutter over `clips` does (any order): as `cut_clips` does it.

    It seeks before the first clip, and before every clip that starts more than `seek_gap_sec` after
    everything decoded so far; it decodes through shorter gaps. Decoded seconds are the clips' union
    plus those short gaps; the keyframe-to-target decoding of a seek is part of the seek's cost.
    """
    return _sequential_work(cutting_order(clips), seek_gap_sec)


def item_cost(clips: Iterable[Clip], model: CostModel, *, seek_gap_sec: float) -> float:
    """Modelled core-seconds of cutting `clips` (of one video) in one pass, per-item cost included."""
    return model.cost(pass_work(clips, seek_gap_sec=seek_gap_sec))


class _PassBuilder:
    """`pass_work` grown one clip at a time (clips in cutting order), so runs are costed in O(1) per clip."""

    def __init__(self, seek_gap_sec: float) -> None:
        self.seek_gap_sec = seek_gap_sec
        self.seeks = 0
        self.decoded_sec = self.clip_sec = 0.0
        self.frontier: float | None = None  # how far decoding has come: the latest end so far

    def add(self, clip: Clip) -> PassWork:
        if self.frontier is None or clip.start_sec - self.frontier > self.seek_gap_sec:
            # The cutter's condition (strictly more than the gap): a seek, then the clip's own seconds.
            self.seeks += 1
            self.decoded_sec += clip.end_sec - clip.start_sec
            self.frontier = clip.end_sec
        else:
            # Decoded through the short gap (if any) up to this clip's end; an overlap is decoded once.
            self.decoded_sec += max(0.0, clip.end_sec - self.frontier)
            self.frontier = max(self.frontier, clip.end_sec)
        self.clip_sec += clip.end_sec - clip.start_sec
        return PassWork(self.seeks, self.decoded_sec, self.clip_sec)


def _sequential_work(ordered: Sequence[Clip], seek_gap_sec: float) -> PassWork:
    builder = _PassBuilder(seek_gap_sec)
    work = PassWork(0, 0.0, 0.0)
    for clip in ordered:
        work = builder.add(clip)
    return work


def split_video(
    clips: Iterable[Clip], max_item_cost: float, model: CostModel, *, seek_gap_sec: float
) -> list[WorkItem]:
    """One video's clips as work items, each at most `max_item_cost` core-seconds unless a single clip.

    See the module docstring for the rule: runs in cutting order, fewest items, then least cost;
    deterministic and independent of the input order. `seek_gap_sec` must be the cutter's (the
    `seek_gap_sec` of the build). An empty input gives no items. Raises ValueError for a
    `max_item_cost` that is not a positive number, and as `cutting_order` does.
    """
    if not (max_item_cost > 0):  # also refuses NaN
        raise ValueError(f"max_item_cost must be a positive number of core-seconds, not {max_item_cost!r}")
    ordered = cutting_order(clips)
    count = len(ordered)
    # best[k]: the (items, total cost) of the best split of the first k clips; start[k]: where its
    # last item starts. Every prefix can be split (a single clip is always an item), so none stays None.
    best: list[tuple[int, float] | None] = [(0, 0.0)] + [None] * count
    start = [0] * (count + 1)
    for first in range(count):
        done_items, done_cost = best[first]  # type: ignore[misc]
        builder = _PassBuilder(seek_gap_sec)
        for last in range(first, count):
            cost = model.cost(builder.add(ordered[last]))
            # A run's cost only grows as it takes the next clip: past the maximum, stop extending it.
            if last > first and cost > max_item_cost:
                break
            # Costs are rounded so that splits equal but for float summation order tie, and the fixed
            # rule (the first `first`, i.e. the longest last item) decides rather than rounding noise.
            key = (done_items + 1, round(done_cost + cost, 9))
            current = best[last + 1]
            if current is None or key < current:
                best[last + 1], start[last + 1] = key, first
    items: list[WorkItem] = []
    end = count
    while end > 0:
        run = tuple(ordered[start[end] : end])
        work = _sequential_work(run, seek_gap_sec)
        items.append(WorkItem(run, work, model.cost(work)))
        end = start[end]
    items.reverse()
    return items


def extra_decode_cost(
    clips: Iterable[Clip], items: Iterable[WorkItem], model: CostModel, *, seek_gap_sec: float
) -> float:
    """Core-seconds of seeking and decoding that cutting `items` costs beyond one pass over `clips`.

    Splitting adds a seek per extra item and decodes an overlap it splits twice, but saves decoding a
    short gap it splits at (a seek replaces it): the result can be negative. Per-item costs (opening
    the file, starting a task) are not decoding and not counted here.
    """
    whole = model.decode_cost(pass_work(clips, seek_gap_sec=seek_gap_sec))
    return sum(model.decode_cost(item.work) for item in items) - whole


def choose_max_item_cost(
    total_cost: float,
    cores: int,
    *,
    per_item: float = 0.0,
    share_fraction: float = 0.1,
    overhead_fraction: float = 0.05,
) -> float:
    """A maximum item cost for `cores` cores sharing `total_cost` core-seconds of work.

    Greedy scheduling (each core that frees takes the next item, in any order) ends at most one item's
    cost after perfect division (Graham's bound: makespan <= total / cores + largest item). Items of at
    most `share_fraction` of the per-core share therefore keep the wall time within 1 + share_fraction
    of perfect division, as far as the costs are right; taking the items longest first (LPT) usually
    lands much closer. The maximum is never so small that `per_item` (the fixed cost of an item) is
    more than `overhead_fraction` of it: smaller items would spend more on starting than they gain.
    Single clips costlier than the maximum stay whole (and bound the wall time from below).
    """
    if cores < 1:
        raise ValueError(f"cores must be at least 1, not {cores!r}")
    if not (total_cost >= 0 and math.isfinite(total_cost)):
        raise ValueError(f"total_cost must be a finite number >= 0, not {total_cost!r}")
    if not (0 < share_fraction <= 1 and 0 < overhead_fraction <= 1):
        raise ValueError("share_fraction and overhead_fraction must be in (0, 1]")
    return max(share_fraction * total_cost / cores, per_item / overhead_fraction, 1e-9)
