"""Every config of every dataset, built from a small download in the real formats, exported and loaded back."""

from __future__ import annotations

from pathlib import Path

import pytest
from celeba_dialog_fixtures import HQ_SPLITS, STANDARD_SPLITS, make_hq_download, make_standard_download
from celebv_hq_fixtures import write_sample_download
from harness import ConfigCase, check_config

from celeb_datasets.registry import DATASETS, builder_class
from celeba_dialog import CelebADialog
from celebv_hq import CelebVHQ

HAPPY_SEGMENTS = [
    {"emotion": 0, "start_sec": 0.0, "end_sec": 0.28000000000000114},
    {"emotion": 1, "start_sec": 1.2800000000000011, "end_sec": 3.280000000000001},
]
CELEBV_HQ_ROWS = {
    "_0tf2n3rlJU_0": {"ytb_id": "_0tf2n3rlJU", "start_sec": 52.72, "end_sec": 56.1, "duration_sec": 3.38, "emotion": 1,
                      "emotion_segments": HAPPY_SEGMENTS, "multi_emotion": True, "version": "v0.1"},
    "WYIsBYSO0gc_11": {"bbox": {"top": 0.0, "bottom": 0.6426, "left": 0.3531, "right": 0.7146}, "emotion": 1},
}  # fmt: skip
HQ_ROWS = {
    "0.jpg": {"celeba_file": "119614.jpg", "celeba_index": 119613, "identity": 2880, "request_annotation": {
        "user_mode": "start", "request_mode": "change_definite", "attribute": 0, "target_score": None,
        "score_change_direction": "positive", "score_change_value": 1}},
    "5380.jpg": {"caption": None, "fine_grained": dict.fromkeys(("bangs", "eyeglasses", "beard", "smiling", "age"))},
}  # fmt: skip
STANDARD_ROWS = {
    "000001.jpg": {"identity": 2880, "request": "Make the smile a bit bigger."},
    "000005.jpg": {"fine_grained": dict.fromkeys(("bangs", "eyeglasses", "beard", "smiling", "age"))},
}
HQ_COUNTS = {split: len(images) for split, images in HQ_SPLITS.items()}
STANDARD_COUNTS = {split: len(images) for split, images in STANDARD_SPLITS.items()}

CASES = [
    ConfigCase(CelebVHQ, "annotations", write_sample_download, {"train": 6}, "clip_id", CELEBV_HQ_ROWS),
    ConfigCase(
        CelebVHQ,
        "clips",
        lambda folder: write_sample_download(folder, with_videos=True),
        {"train": 6},
        "clip_id",
        {**CELEBV_HQ_ROWS, "M2Ohb0FAaJU_1": {"video_source": "processed"}},
    ),
    ConfigCase(CelebADialog, "hq", make_hq_download, HQ_COUNTS, "image_id", HQ_ROWS),
    ConfigCase(CelebADialog, "hq_masks", make_hq_download, HQ_COUNTS, "image_id", HQ_ROWS),
    ConfigCase(CelebADialog, "hq_labels", make_hq_download, HQ_COUNTS, "image_id", HQ_ROWS),
    ConfigCase(CelebADialog, "standard", make_standard_download, STANDARD_COUNTS, "image_id", STANDARD_ROWS),
    ConfigCase(CelebADialog, "standard_labels", make_standard_download, STANDARD_COUNTS, "image_id", STANDARD_ROWS),
]


def test_every_config_of_every_dataset_has_a_case() -> None:
    configs = {(name, config.name) for name in DATASETS for config in builder_class(name).BUILDER_CONFIGS}
    names = {builder_class(name): name for name in DATASETS}
    assert {(names[case.builder], case.config) for case in CASES} == configs


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_config_builds_exports_and_loads_back_unchanged(case: ConfigCase, tmp_path: Path) -> None:
    check_config(case, tmp_path)
