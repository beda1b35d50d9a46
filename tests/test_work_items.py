"""Work items below a video: a video's clips split into one-pass runs no bigger than a chosen cost."""

from __future__ import annotations

import csv
import gzip
import itertools
import random
from pathlib import Path

import pytest

from celebv_hq_lib.work_items import (
    CUTTING_COST,
    DEFAULT_MAX_ITEM_COST,
    Clip,
    CostModel,
    PassWork,
    choose_max_item_cost,
    cutting_order,
    extra_decode_cost,
    item_cost,
    pass_work,
    split_video,
)

GAP = 5.0
# The README's H.264 720p costs (decode, seek, encode per core-second) and its overhead factor.
MODEL = CostModel(decode_per_source_sec=0.042, seek=0.050, encode_per_clip_sec=0.225, per_item=0.1, factor=1.3)
# Round numbers, so that expected costs can be written down.
SIMPLE = CostModel(decode_per_source_sec=1.0, seek=10.0, encode_per_clip_sec=100.0)


def random_video(rng: random.Random, count: int) -> list[Clip]:
    """Clips placed as in the release: 1.3 to 21 s long, gaps from overlaps to long stretches."""
    clips, position = [], rng.uniform(0, 60)
    for index in range(count):
        start = max(0.0, position + rng.choice((-8.0, -1.0, 0.0, 0.5, 3.0, 12.0, 90.0)) * rng.random())
        end = start + rng.uniform(1.3, 21.0)
        clips.append(Clip(f"clip{index:03d}", round(start, 2), round(end, 2)))
        position = end
    return clips


VIDEOS = [random_video(random.Random(seed), count) for seed, count in enumerate((1, 2, 3, 5, 8, 15, 40, 89))]


@pytest.mark.parametrize("max_item_cost", [1.0, 8.0, 20.0, 60.0, 1e9])
@pytest.mark.parametrize("clips", VIDEOS, ids=[f"{len(clips)} clips" for clips in VIDEOS])
def test_every_clip_is_in_exactly_one_item_and_items_are_runs_in_cutting_order(
    clips: list[Clip], max_item_cost: float
) -> None:
    items = split_video(clips, max_item_cost, MODEL, seek_gap_sec=GAP)
    assert [clip for item in items for clip in item.clips] == cutting_order(clips)
    assert sorted(clip_id for item in items for clip_id in item.clip_ids) == sorted(clip.clip_id for clip in clips)
    for item in items:
        assert item.work == pass_work(item.clips, seek_gap_sec=GAP)
        assert item.cost == pytest.approx(item_cost(item.clips, MODEL, seek_gap_sec=GAP))


@pytest.mark.parametrize("max_item_cost", [1.0, 8.0, 20.0, 60.0])
@pytest.mark.parametrize("clips", VIDEOS, ids=[f"{len(clips)} clips" for clips in VIDEOS])
def test_no_item_exceeds_the_maximum_unless_it_is_a_single_clip(clips: list[Clip], max_item_cost: float) -> None:
    items = split_video(clips, max_item_cost, MODEL, seek_gap_sec=GAP)
    assert all(item.cost <= max_item_cost or len(item.clips) == 1 for item in items)
    # Fewest items: no two neighbouring items fit in one, and no more items than filling each run greedily.
    for before, after in itertools.pairwise(items):
        assert item_cost(before.clips + after.clips, MODEL, seek_gap_sec=GAP) > max_item_cost
    greedy_items, run = 1, []
    for clip in cutting_order(clips):
        if run and item_cost([*run, clip], MODEL, seek_gap_sec=GAP) > max_item_cost:
            greedy_items, run = greedy_items + 1, []
        run.append(clip)
    assert len(items) <= greedy_items


@pytest.mark.parametrize("clips", VIDEOS, ids=[f"{len(clips)} clips" for clips in VIDEOS])
def test_the_same_clips_in_any_order_give_the_same_items(clips: list[Clip]) -> None:
    expected = split_video(clips, 8.0, MODEL, seek_gap_sec=GAP)
    for seed in range(5):
        shuffled = clips[:]
        random.Random(seed).shuffle(shuffled)
        assert split_video(shuffled, 8.0, MODEL, seek_gap_sec=GAP) == expected


def test_clips_with_the_same_times_are_ordered_by_their_ids() -> None:
    clips = [Clip("b", 1.0, 5.0), Clip("c", 1.0, 5.0), Clip("a", 1.0, 5.0)]
    cost_of_one = item_cost(clips[:1], SIMPLE, seek_gap_sec=GAP)
    for order in (clips, clips[::-1]):
        items = split_video(order, cost_of_one, SIMPLE, seek_gap_sec=GAP)
        assert [item.clip_ids for item in items] == [("a",), ("b",), ("c",)]


@pytest.mark.parametrize("clips", VIDEOS, ids=[f"{len(clips)} clips" for clips in VIDEOS])
def test_a_video_that_fits_the_maximum_is_one_item_cut_as_today(clips: list[Clip]) -> None:
    whole = pass_work(clips, seek_gap_sec=GAP)
    [item] = split_video(clips, MODEL.cost(whole), MODEL, seek_gap_sec=GAP)
    assert item.work == whole and item.clips == tuple(cutting_order(clips))
    assert extra_decode_cost(clips, [item], MODEL, seek_gap_sec=GAP) == 0


def test_the_pass_model_seeks_and_decodes_as_the_cutter_does() -> None:
    clips = [
        Clip("a", 10.0, 20.0),  # a seek before the first clip
        Clip("b", 25.0, 30.0),  # 5 s after: decoded through (the cutter seeks only past more than 5 s)
        Clip("c", 28.0, 40.0),  # overlaps b: its overlap is decoded once
        Clip("d", 32.0, 35.0),  # inside c: nothing more to decode
        Clip("e", 45.5, 50.0),  # 5.5 s after: a seek
    ]
    assert pass_work(clips, seek_gap_sec=GAP) == PassWork(seeks=2, decoded_sec=10 + 5 + 5 + 10 + 4.5, clip_sec=34.5)
    assert item_cost(clips, SIMPLE, seek_gap_sec=GAP) == 2 * 10 + 34.5 * 1 + 34.5 * 100


def test_overlapping_clips_are_split_at_a_clean_boundary_when_one_gives_as_few_items() -> None:
    # a and b overlap by 5 s; c starts where b ends. Two items: {a, b} {c} re-decodes nothing,
    # {a} {b, c} decodes b's overlap with a twice.
    clips = [Clip("a", 0.0, 10.0), Clip("b", 5.0, 15.0), Clip("c", 15.0, 25.0)]
    two_clips = item_cost(clips[:2], SIMPLE, seek_gap_sec=GAP)
    items = split_video(clips, two_clips, SIMPLE, seek_gap_sec=GAP)
    assert [item.clip_ids for item in items] == [("a", "b"), ("c",)]
    # Splitting at the 0 s gap adds one seek and decodes nothing twice.
    assert extra_decode_cost(clips, items, SIMPLE, seek_gap_sec=GAP) == SIMPLE.seek


def test_a_chain_of_overlapping_clips_is_split_inside_an_overlap_and_decodes_it_twice() -> None:
    # Every clip overlaps the next by 4 s: there is no clean boundary, and the chain is too costly for one item.
    clips = [Clip(f"c{index}", 6.0 * index, 6.0 * index + 10.0) for index in range(6)]
    two_clips = item_cost(clips[:2], SIMPLE, seek_gap_sec=GAP)
    items = split_video(clips, two_clips, SIMPLE, seek_gap_sec=GAP)
    assert [item.clip_ids for item in items] == [("c0", "c1"), ("c2", "c3"), ("c4", "c5")]
    assert all(item.cost <= two_clips for item in items)
    # Each of the two splits costs a seek and decodes a 4 s overlap twice.
    assert extra_decode_cost(clips, items, SIMPLE, seek_gap_sec=GAP) == pytest.approx(2 * (SIMPLE.seek + 4.0))


def test_the_extra_decode_of_a_split_at_a_gap_is_a_seek_against_the_gap_it_no_longer_decodes() -> None:
    short = [Clip("a", 0.0, 10.0), Clip("b", 13.0, 20.0)]  # 3 s: the one pass decodes through it
    long = [Clip("a", 0.0, 10.0), Clip("b", 16.0, 20.0)]  # 6 s: the one pass seeks over it too
    for clips, extra in ((short, SIMPLE.seek - 3.0), (long, 0.0)):
        items = split_video(clips, item_cost(clips[:1], SIMPLE, seek_gap_sec=GAP), SIMPLE, seek_gap_sec=GAP)
        assert len(items) == 2
        assert extra_decode_cost(clips, items, SIMPLE, seek_gap_sec=GAP) == pytest.approx(extra)


def test_a_single_clip_costlier_than_the_maximum_is_an_item_of_its_own() -> None:
    clips = [Clip("short", 0.0, 2.0), Clip("long", 2.0, 22.0), Clip("next", 22.0, 24.0)]
    items = split_video(clips, 1.0, MODEL, seek_gap_sec=GAP)
    assert [item.clip_ids for item in items] == [("short",), ("long",), ("next",)]
    assert items[1].cost > 1.0


def test_the_cost_model_adds_its_parts_and_the_factor_scales_all_but_the_per_item_cost() -> None:
    model = CostModel(decode_per_source_sec=2.0, seek=3.0, encode_per_clip_sec=5.0, per_item=7.0, factor=1.5)
    work = PassWork(seeks=2, decoded_sec=10.0, clip_sec=4.0)
    assert model.decode_cost(work) == 1.5 * (2 * 3.0 + 10.0 * 2.0)
    assert model.cost(work) == 1.5 * (2 * 3.0 + 10.0 * 2.0 + 4.0 * 5.0) + 7.0


def test_the_maximum_item_cost_is_a_fraction_of_the_per_core_share_and_not_tiny() -> None:
    # 23 core-hours on 16 machines of 64 cores: 81 s each; items of a tenth keep greedy scheduling within 1.1x.
    assert choose_max_item_cost(82_800, 1024) == pytest.approx(8.086, abs=1e-3)
    assert choose_max_item_cost(82_800, 1024, share_fraction=0.25) == pytest.approx(20.215, abs=1e-3)
    # A fixed cost of 0.5 s per item: items under 10 s would spend more than 5% of themselves starting.
    assert choose_max_item_cost(82_800, 4096, per_item=0.5) == pytest.approx(10.0)
    assert choose_max_item_cost(82_800, 2) == pytest.approx(4_140.0)


def test_impossible_inputs_are_value_errors() -> None:
    with pytest.raises(ValueError, match="given twice"):
        split_video([Clip("a", 0, 1), Clip("a", 2, 3)], 10.0, MODEL, seek_gap_sec=GAP)
    with pytest.raises(ValueError, match="must end after it starts"):
        split_video([Clip("a", 2, 2)], 10.0, MODEL, seek_gap_sec=GAP)
    with pytest.raises(ValueError, match="must end after it starts"):
        pass_work([Clip("a", float("nan"), 2)], seek_gap_sec=GAP)
    with pytest.raises(ValueError, match="max_item_cost"):
        split_video([Clip("a", 0, 1)], 0.0, MODEL, seek_gap_sec=GAP)
    with pytest.raises(ValueError, match="seek"):
        CostModel(decode_per_source_sec=0.1, seek=-1.0, encode_per_clip_sec=0.2)
    with pytest.raises(ValueError, match="cores"):
        choose_max_item_cost(100.0, 0)
    assert split_video([], 10.0, MODEL, seek_gap_sec=GAP) == []


def test_tuples_are_taken_as_clips() -> None:
    [item] = split_video([("a", 0.0, 1.0), ("b", 2.0, 3.0)], 1e9, MODEL, seek_gap_sec=GAP)
    assert item.clips == (Clip("a", 0.0, 1.0), Clip("b", 2.0, 3.0))


def test_the_clips_configs_items_over_the_releases_positions_decode_under_5_percent_more() -> None:
    # The release's real clip positions (benchmarks/data; benchmarks/bench_schedule.py schedules them).
    positions = Path(__file__).resolve().parent.parent / "benchmarks" / "data" / "celebvhq_clip_positions.csv.gz"
    videos: dict[str, list[Clip]] = {}
    with gzip.open(positions, "rt", newline="") as text:
        for row in csv.DictReader(text):
            clips = videos.setdefault(row["video"], [])
            clips.append(Clip(f"{row['video']}_{len(clips)}", float(row["start_sec"]), float(row["end_sec"])))
    assert (len(videos), sum(map(len, videos.values()))) == (13_844, 35_666)
    total = extra = 0.0
    largest = 0.0
    for clips in videos.values():
        items = split_video(clips, DEFAULT_MAX_ITEM_COST, CUTTING_COST, seek_gap_sec=GAP)
        total += CUTTING_COST.cost(pass_work(clips, seek_gap_sec=GAP))
        extra += extra_decode_cost(clips, items, CUTTING_COST, seek_gap_sec=GAP)
        largest = max([largest] + [item.cost for item in items if len(item.clips) > 1])
    assert extra / total < 0.05 and largest <= DEFAULT_MAX_ITEM_COST
