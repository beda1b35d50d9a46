"""Work items of the `clips` config: a video's clips to cut split into one-pass items, the same for every engine."""

from __future__ import annotations

import io
from pathlib import Path

import av
import pytest
from celebv_hq_fixtures import make_record, write_annotation_file
from export_helpers import export_files, run_costliest_first

from celeb_datasets.engines import DatasetsEngine, DatasetsSettings
from celeb_datasets.engines.work import export_work_items, item_cost, plan_build
from celeb_datasets.errors import OptionError
from celebv_hq import CelebVHQ
from celebv_hq_lib.clips import cutting_cost
from celebv_hq_lib.sample import read_frame_index, write_indexed_video
from celebv_hq_lib.work_items import CUTTING_COST, DEFAULT_MAX_ITEM_COST, Clip
from celebv_hq_lib.work_items import item_cost as pass_cost

# Six clips of 3 s a second apart (decoded through), then one after a long gap (a seek): 8.6 modelled
# core-seconds in one pass. At most 2.5 a piece, they make four items of one to two clips.
CLIPS = [(0.5, 3.5), (4.5, 7.5), (8.5, 11.5), (12.5, 15.5), (16.5, 19.5), (20.5, 23.5), (40.0, 42.0)]
MAX_ITEM_COST = 2.5
FPS = 10


@pytest.fixture(scope="module")
def download(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One raw video holding all of CLIPS (clip 3 also as a processed clip), and a second video of one clip."""
    folder = tmp_path_factory.mktemp("download")
    records = {f"longVideo01_{index}": make_record("longVideo01", *times) for index, times in enumerate(CLIPS)}
    records["shortVideo1_0"] = make_record("shortVideo1", 1.0, 3.0)
    write_annotation_file(folder, records)
    for ytb_id, seconds in (("longVideo01", 44.0), ("shortVideo1", 4.0)):
        write_indexed_video(folder / "raw" / f"{ytb_id}.mp4", duration_sec=seconds, width=96, height=64, fps=FPS)
    write_indexed_video(folder / "processed" / "longVideo01_3.mp4", duration_sec=1.0, width=64, height=64, fps=FPS)
    return folder


def builder(download: Path, tmp_path: Path, **options: object) -> CelebVHQ:
    # Whole frames (no crop), so that each frame's index can be read back.
    cache_dir = str(tmp_path / "cache")
    return CelebVHQ(
        config_name="clips", data_dir=str(download), cache_dir=cache_dir, preset="ultrafast", crop="none", **options
    )


def test_a_costly_video_is_split_into_one_pass_items_holding_each_clip_once(download: Path, tmp_path: Path) -> None:
    plan = plan_build(builder(download, tmp_path, max_item_cost=MAX_ITEM_COST), tmp_path / "skips")
    items = [item for _, item in plan.items()]
    # Runs in cutting order, one pass each (clip 3 is processed, so not cut); the processed clip goes with
    # the video's first item.
    assert [item.passes for item in items] == [
        (("longVideo01_0", "longVideo01_1"),),
        (("longVideo01_2", "longVideo01_4"),),
        (("longVideo01_5", "longVideo01_6"),),
        (("shortVideo1_0",),),
    ]
    assert [[clip.clip_id for clip, _ in item.clips] for item in items[:2]] == [
        ["longVideo01_3", "longVideo01_0", "longVideo01_1"],
        ["longVideo01_2", "longVideo01_4"],
    ]
    assert all(item.cost <= MAX_ITEM_COST for item in items) and item_cost(items[0]) == items[0].cost > 0
    # A slice weighs a video by what its items cost.
    annotations = {clip.clip_id: clip for item in items for clip, _ in item.clips}
    video = [annotations[f"longVideo01_{index}"] for index in range(7)]
    with_processed_cut = cutting_cost(video, MAX_ITEM_COST, 5.0)
    assert cutting_cost([clip for clip in video if clip.clip_id != "longVideo01_3"], MAX_ITEM_COST, 5.0) == (
        pytest.approx(sum(item.cost for item in items[:3]))
    )
    assert with_processed_cut > sum(item.cost for item in items[:3])


def test_without_a_maximum_each_video_is_one_item_cut_in_one_pass(download: Path, tmp_path: Path) -> None:
    plan = plan_build(builder(download, tmp_path, max_item_cost=None), tmp_path / "skips")
    items = [item for _, item in plan.items()]
    assert [(item.ytb_id, len(item.passes)) for item in items] == [("longVideo01", 1), ("shortVideo1", 1)]
    cut = [Clip(f"clip{index}", *times) for index, times in enumerate(CLIPS) if index != 3]
    assert items[0].cost == pytest.approx(pass_cost(cut, CUTTING_COST, seek_gap_sec=5.0))


def test_split_items_cut_the_same_pictures_and_every_engine_writes_the_same_bytes(
    download: Path, tmp_path: Path
) -> None:
    settings = DatasetsSettings(max_shard_size=40_000)  # several shards: their boundaries must agree too
    DatasetsEngine().export(builder(download, tmp_path, max_item_cost=MAX_ITEM_COST), tmp_path / "split", settings)
    DatasetsEngine().export(builder(download, tmp_path, max_item_cost=None), tmp_path / "whole", settings)
    # Items made costliest first, out of the plan's order, written in the plan's order: the same export.
    items = builder(download, tmp_path, max_item_cost=MAX_ITEM_COST)
    export_work_items(items, tmp_path / "items", settings.max_shard_bytes, run_costliest_first)
    assert export_files(tmp_path / "items") == export_files(tmp_path / "split")

    import datasets

    def pictures(folder: Path) -> dict[str, list[int]]:
        rows = datasets.load_dataset(str(folder), "clips", split="train")
        return {row["clip_id"]: frame_indices(row["video"]["bytes"]) for row in rows}

    split, whole = pictures(tmp_path / "split"), pictures(tmp_path / "whole")
    assert split == whole and len(split) == 8  # the same frames in every clip, cut alone or in the one pass
    assert split["longVideo01_1"] == list(range(45, 75))


def frame_indices(video: bytes) -> list[int]:
    with av.open(io.BytesIO(video)) as container:
        return [read_frame_index(frame.to_ndarray(format="gray")) for frame in container.decode(video=0)]


def test_max_item_cost_must_be_a_positive_number_or_none(download: Path, tmp_path: Path) -> None:
    for value in (0.0, -1.0):
        with pytest.raises(OptionError, match="max_item_cost must be a positive number of core-seconds"):
            builder(download, tmp_path, max_item_cost=value)
    with pytest.raises(OptionError, match="option max_item_cost: expected a number or none, found inf"):
        builder(download, tmp_path, max_item_cost=float("inf"))
    assert builder(download, tmp_path).config.max_item_cost == DEFAULT_MAX_ITEM_COST
