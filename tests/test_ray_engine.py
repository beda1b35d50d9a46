"""The Ray engine gives the export the datasets engine gives, byte for byte (slow: starts a local Ray)."""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest
from celeba_dialog_fixtures import make_hq_download
from celebv_hq_fixtures import add_overlapping_clip, write_sample_download
from export_helpers import export_files

from celeb_datasets.cli import main
from celeb_datasets.engines import DatasetsEngine, DatasetsSettings, RayEngine, RaySettings
from celeb_datasets.hub import export
from celeb_datasets.skips import read_skip_report
from celeba_dialog import CelebADialog
from celebv_hq import CelebVHQ
from celebv_hq_lib.sample import make_celebv_hq_sample

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

    download = make_celebv_hq_sample(tmp_path / "download", width=128, height=64)
    (download / "raw" / "I2hf-H8Xumk.mp4").write_bytes(b"\0" * 4096)  # corrupt
    builder = CelebVHQ(config_name="clips", data_dir=str(download), cache_dir=str(tmp_path / "c"), on_missing="error")
    with pytest.raises(UnreadableMediaError, match=r"YouTube video I2hf-H8Xumk\): unreadable"):
        RayEngine().export(builder, tmp_path / "ray", RaySettings())
    assert not (tmp_path / "ray" / "clips").exists()


@pytest.mark.slow
def test_no_usable_video_is_refused_as_by_the_builder(local_ray: object, tmp_path: Path) -> None:
    from celeb_datasets.errors import CelebDatasetsError

    download = make_celebv_hq_sample(tmp_path / "download", width=128, height=64)
    for video in (download / "raw").iterdir():
        video.unlink()
    builder = CelebVHQ(config_name="clips", data_dir=str(download), cache_dir=str(tmp_path / "c"))
    # The builder's words (tests/test_celebv_hq.py): both end a build with skips.finish_build.
    kept = tmp_path / "ray" / ".celeb_datasets" / "skip_report.clips.refused.tsv"  # not among the export's files
    expected = r"^CelebV-HQ clips: 0 written, 6 skipped \(6 missing\); skip report: (?P<kept>.*)\. No row could be "
    expected += r"built\. Put processed clips in processed/\{clip_id\}\.mp4 or raw videos in raw/\{ytb_id\}\.mp4$"
    with pytest.raises(CelebDatasetsError, match=expected) as error:
        RayEngine().export(builder, tmp_path / "ray", RaySettings())
    assert f"skip report: {kept}." in str(error.value)
    assert len(kept.read_text().splitlines()) == 1 + 6


@pytest.mark.slow
def test_a_slice_that_names_no_clip_is_exported_as_present_without_shards_by_both_engines(
    local_ray: object, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    download = make_celebv_hq_sample(tmp_path / "download", width=128, height=64)
    # 10 slices of the sample's 6 YouTube videos: the last slices have none, and count as present once exported
    # (else 10 slices could never make the whole config).
    builder = CelebVHQ(config_name="clips", data_dir=str(download), cache_dir=str(tmp_path / "c"), slice="9/10")
    builder.download_and_prepare()
    for exported in (
        export(builder, tmp_path / "datasets"),
        RayEngine().export(builder, tmp_path / "ray", RaySettings()),
    ):
        assert exported.splits == () and exported.availability is not None
        assert exported.availability.slices_present == (9,) and exported.availability.named == 0
    assert caplog.text.count("celebv_hq/clips slice 9/10: no row could be built, so it has no shard") == 2
    assert export_files(tmp_path / "datasets") == export_files(tmp_path / "ray")
    assert not (tmp_path / "ray" / "clips").exists() and not (tmp_path / "ray" / "README.md").exists()


def both_engines(builder_class: type, config: str, data_dir: Path, folder: Path, **settings: object) -> list[dict]:
    """Export `config` with each engine into its own folder under `folder`; the two folders' files."""
    exports = []
    for engine, settings_class in ((DatasetsEngine(), DatasetsSettings), (RayEngine(), RaySettings)):
        builder = builder_class(config_name=config, data_dir=str(data_dir), cache_dir=str(folder / "cache"))
        engine.export(builder, folder / engine.name, settings_class(**settings))
        exports.append(export_files(folder / engine.name))
    return exports


@pytest.mark.slow
def test_both_engines_give_the_same_celeba_dialog_export_in_every_split(local_ray: object, tmp_path: Path) -> None:
    # A missing image (left out while planning) and a damaged one (left out by its work item).
    download = make_hq_download(tmp_path / "download", drop_images=(6,), replace={"image/3.jpg": b"not a jpeg"})
    by_datasets, by_ray = both_engines(CelebADialog, "hq", download, tmp_path, max_shard_size=4000)
    assert by_ray == by_datasets  # shards, card and skip report, byte for byte
    shards = [name for name in by_ray if name.endswith(".parquet")]
    assert {name.split("/")[1].split("-")[0] for name in shards} == {"train", "validation", "test"}
    assert len(shards) > 3  # several shards per split: the shard writer's boundaries agree too
    assert (
        "6.jpg\tno image" in by_ray["skip_report.hq.tsv"].decode()
        and "3.jpg\tunreadable" in by_ray["skip_report.hq.tsv"].decode()
    )


@pytest.mark.slow
def test_both_engines_give_the_same_annotations_export(local_ray: object, tmp_path: Path) -> None:
    download = write_sample_download(tmp_path / "download")
    by_datasets, by_ray = both_engines(CelebVHQ, "annotations", download, tmp_path)
    assert by_ray == by_datasets and "annotations/train-00000-of-00001.parquet" in by_ray


@pytest.mark.slow
def test_ray_slices_of_clips_make_the_datasets_engine_export(local_ray: object, tmp_path: Path) -> None:
    download = make_celebv_hq_sample(tmp_path / "download", width=128, height=64)
    (download / "raw" / "HV150LwK8Kc.mp4").unlink()  # missing
    common = ["export", "celebv_hq", "--config", "clips", "--data-dir", str(download), "--quiet"]
    common += ["--cache-dir", str(tmp_path / "cache"), "--preset", "ultrafast"]
    assert main([*common, "--output", str(tmp_path / "datasets")]) == 0
    for part in ("1/2", "0/2"):
        assert main([*common, "--output", str(tmp_path / "ray"), "--engine", "ray", "--slice", part]) == 0

    by_ray, by_datasets = rows(tmp_path / "ray"), rows(tmp_path / "datasets")
    without_video = [{key: value for key, value in row.items() if key != "video"} for row in by_ray]
    assert len(by_ray) == 5 and without_video == [
        {key: value for key, value in row.items() if key != "video"} for row in by_datasets
    ]
    skips = read_skip_report(tmp_path / "ray" / "skip_report.clips.tsv")
    assert skips == read_skip_report(tmp_path / "datasets" / "skip_report.clips.tsv") and len(skips) == 1
