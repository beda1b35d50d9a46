"""The Ray Data engine gives the export the datasets engine gives (slow: starts a local Ray)."""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest
from celebv_hq_fixtures import add_overlapping_clip

from celeb_datasets.cli import main
from celeb_datasets.hub import export
from celeb_datasets.sample import make_celebv_hq_sample
from celeb_datasets.skips import read_skip_report
from celebv_hq import CelebVHQ

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray() -> object:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def rows(folder: Path) -> list[dict]:
    loaded = datasets.load_dataset(str(folder), "clips", split="train")
    return sorted(loaded.to_list(), key=lambda row: row["clip_id"])


@pytest.mark.slow
def test_both_engines_give_the_same_export(local_ray: object, tmp_path: Path) -> None:
    download = make_celebv_hq_sample(tmp_path / "download", width=128, height=64)
    (download / "raw" / "HV150LwK8Kc.mp4").unlink()  # missing
    (download / "raw" / "I2hf-H8Xumk.mp4").write_bytes(b"\0" * 4096)  # corrupt
    add_overlapping_clip(download)
    builder = CelebVHQ(config_name="clips", data_dir=str(download), cache_dir=str(tmp_path / "cache"))
    builder.download_and_prepare()
    export(builder, tmp_path / "datasets")
    arguments = ["export", "celebv_hq", "--config", "clips", "--data-dir", str(download), "--engine", "ray"]
    assert main([*arguments, "--output", str(tmp_path / "ray"), "--quiet"]) == 0

    by_ray, by_datasets = rows(tmp_path / "ray"), rows(tmp_path / "datasets")
    assert len(by_ray) == 5 and by_ray == by_datasets  # video bytes included, two clips overlapping
    assert read_skip_report(tmp_path / "ray" / "skip_report.clips.tsv") == read_skip_report(builder.skip_report)
    card = lambda folder: (folder / "README.md").read_text()  # noqa: E731
    assert card(tmp_path / "ray") == card(tmp_path / "datasets")


@pytest.mark.slow
def test_an_error_in_a_ray_task_is_raised_as_it_was(local_ray: object, tmp_path: Path) -> None:
    from celeb_datasets.errors import UnreadableMediaError
    from celeb_datasets.ray_engine import export_with_ray

    download = make_celebv_hq_sample(tmp_path / "download", width=128, height=64)
    (download / "raw" / "I2hf-H8Xumk.mp4").write_bytes(b"\0" * 4096)  # corrupt
    builder = CelebVHQ(config_name="clips", data_dir=str(download), cache_dir=str(tmp_path / "c"), on_missing="error")
    with pytest.raises(UnreadableMediaError, match=r"YouTube video I2hf-H8Xumk\): unreadable"):
        export_with_ray(builder, tmp_path / "ray")
    assert not (tmp_path / "ray" / "clips").exists()


@pytest.mark.slow
def test_no_usable_video_is_refused_as_by_the_builder(local_ray: object, tmp_path: Path) -> None:
    from celeb_datasets.errors import CelebDatasetsError
    from celeb_datasets.ray_engine import export_with_ray

    download = make_celebv_hq_sample(tmp_path / "download", width=128, height=64)
    for video in (download / "raw").iterdir():
        video.unlink()
    builder = CelebVHQ(config_name="clips", data_dir=str(download), cache_dir=str(tmp_path / "c"))
    with pytest.raises(CelebDatasetsError, match=r"0 written, 6 skipped \(6 missing\)\. No row could be built"):
        export_with_ray(builder, tmp_path / "ray")
