"""Train, validation and test splits by YouTube video (`video_split`): stable, whole videos, every engine, slices."""

from __future__ import annotations

import random
import string
from collections import Counter
from pathlib import Path

import pytest
from celebv_hq_fixtures import write_sample_download
from export_helpers import export_files, run_in_process

from celeb_datasets.cli import main
from celeb_datasets.engines import DatasetsEngine, DatasetsSettings
from celeb_datasets.engines.work import export_work_items
from celeb_datasets.errors import OptionError
from celebv_hq import CelebVHQ
from celebv_hq_lib.splits import SPLIT_NAMES, VideoSplit, by_split, split_of_video

# The sample's six videos under 80/10/10: four in train, one in validation, one in test.
SAMPLE_SPLITS = {
    "M2Ohb0FAaJU_1": "train",
    "_0tf2n3rlJU_0": "test",
    "dvbePi1o_Q0_1": "train",
    "WYIsBYSO0gc_11": "train",
    "I2hf-H8Xumk_3": "train",
    "HV150LwK8Kc_8": "validation",
}


def youtube_ids(count: int, seed: int = 0) -> list[str]:
    alphabet = string.ascii_letters + string.digits + "-_"
    generator = random.Random(seed)
    return ["".join(generator.choice(alphabet) for _ in range(11)) for _ in range(count)]


def test_a_video_split_is_three_whole_percentages_summing_to_100() -> None:
    assert VideoSplit.parse("80/10/10") == VideoSplit(80, 10, 10)
    assert str(VideoSplit.parse("90/0/10")) == "90/0/10"
    assert VideoSplit.parse("90/0/10").names == ("train", "test")  # a share of 0 gives no split
    for text in ("80/10", "80/10/5", "80/-10/30", "0.8/0.1/0.1", "eighty/10/10", "80/10/10/0"):
        with pytest.raises(OptionError, match=r"video_split: expected TRAIN/VALIDATION/TEST whole percentages"):
            VideoSplit.parse(text)


def test_a_videos_split_depends_on_its_id_alone_so_adding_or_losing_videos_moves_no_clip() -> None:
    shares = VideoSplit(80, 10, 10)
    everything = youtube_ids(2_000)
    whole = {ytb_id: split_of_video(ytb_id, shares) for ytb_id in everything}
    kept = random.Random(1).sample(everything, 700)  # a download missing most videos, in another order
    for name, videos in by_split(kept, shares, str).items():
        assert all(whole[ytb_id] == name for ytb_id in videos)


def test_test_videos_depend_on_the_test_share_alone() -> None:
    ids = youtube_ids(2_000)
    test = {ytb_id for ytb_id in ids if split_of_video(ytb_id, VideoSplit(80, 10, 10)) == "test"}
    assert test == {ytb_id for ytb_id in ids if split_of_video(ytb_id, VideoSplit(70, 20, 10)) == "test"}
    assert test == {ytb_id for ytb_id in ids if split_of_video(ytb_id, VideoSplit(90, 0, 10)) == "test"}


def test_the_shares_of_videos_follow_the_percentages_on_as_many_videos_as_the_release() -> None:
    counts = Counter(split_of_video(ytb_id, VideoSplit(80, 10, 10)) for ytb_id in youtube_ids(13_844))
    shares = {name: counts[name] / 13_844 for name in SPLIT_NAMES}
    assert shares == pytest.approx({"train": 0.8, "validation": 0.1, "test": 0.1}, abs=0.01)


def test_annotations_with_a_video_split_have_three_splits_and_a_cache_of_their_own(tmp_path: Path) -> None:
    download = write_sample_download(tmp_path / "download")
    whole = CelebVHQ(config_name="annotations", data_dir=str(download), cache_dir=str(tmp_path / "c"))
    split = CelebVHQ(
        config_name="annotations", data_dir=str(download), cache_dir=str(tmp_path / "c"), video_split="80/10/10"
    )
    assert split.config.video_split == VideoSplit(80, 10, 10)
    assert split.cache_dir != whole.cache_dir  # the option defines the rows: another cache
    split.download_and_prepare()
    parts = split.as_dataset()
    assert list(parts) == ["train", "validation", "test"]
    assert {clip_id: name for name, rows in parts.items() for clip_id in rows["clip_id"]} == SAMPLE_SPLITS


def test_every_engine_gives_the_same_split_and_a_slice_keeps_each_clip_in_its_split(tmp_path: Path) -> None:
    download = write_sample_download(tmp_path / "download", with_videos=True)

    def builder(**options: object) -> CelebVHQ:
        cache = str(tmp_path / "c")
        return CelebVHQ(config_name="clips", data_dir=str(download), cache_dir=cache, video_split="80/10/10", **options)

    DatasetsEngine().export(builder(), tmp_path / "datasets", DatasetsSettings())
    export_work_items(builder(), tmp_path / "items", 10**9, run_in_process)
    by_datasets = export_files(tmp_path / "datasets")
    assert export_files(tmp_path / "items") == by_datasets  # processed clips: the same bytes
    assert {"clips/train-00000-of-00001.parquet", "clips/test-00000-of-00001.parquet"} <= set(by_datasets)
    assert "keyed BLAKE2b hash of each `ytb_id` decides its split" in by_datasets["README.md"].decode()
    for index in range(2):
        part = builder(slice=f"{index}/2")
        part.download_and_prepare()
        for name, rows in part.as_dataset().items():
            assert all(SAMPLE_SPLITS[clip_id] == name for clip_id in rows["clip_id"])


def test_the_command_line_takes_video_split_as_a_flag(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    download = write_sample_download(tmp_path / "download")
    common = ["prepare", "celebv_hq", "--data-dir", str(download), "--cache-dir", str(tmp_path / "c"), "--quiet"]
    assert main([*common, "--video-split", "80/10/10"]) == 0
    out = capsys.readouterr().out
    assert "annotations train: 4 rows" in out and "validation: 1 rows" in out and "test: 1 rows" in out
    assert main([*common, "--video-split", "80/20"]) == 2
    assert "error: option video_split: expected TRAIN/VALIDATION/TEST" in capsys.readouterr().err


@pytest.mark.slow
def test_the_ray_engine_gives_the_same_split_export(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    download = write_sample_download(tmp_path / "download", with_videos=True)
    common = ["export", "celebv_hq", "--config", "clips", "--data-dir", str(download), "--quiet"]
    common += ["--cache-dir", str(tmp_path / "cache"), "--video-split", "80/10/10"]
    assert main([*common, "--output", str(tmp_path / "datasets")]) == 0
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert main([*common, "--output", str(tmp_path / "ray"), "--engine", "ray"]) == 0
    finally:
        ray.shutdown()
    by_ray = export_files(tmp_path / "ray")
    assert by_ray == export_files(tmp_path / "datasets")
    assert {"clips/validation-00000-of-00001.parquet", "clips/test-00000-of-00001.parquet"} <= set(by_ray)
