"""Deterministic slices: a stable, balanced assignment, and N slices exported into one folder."""

from __future__ import annotations

import random
import shutil
import threading
from pathlib import Path

import datasets
import pytest
from celebv_hq_fixtures import write_sample_download

from celeb_datasets.cli import main
from celeb_datasets.errors import CelebDatasetsError, OptionError
from celeb_datasets.hub import export
from celeb_datasets.skips import read_skip_report
from celeb_datasets.slices import Slice, assign_slices
from celebv_hq import CelebVHQ
from celebv_hq_lib.annotations import read_annotation_file
from celebv_hq_lib.clips import clips_of_slice


@pytest.mark.parametrize(("text", "expected"), [("0/8", Slice(0, 8)), ("7/8", Slice(7, 8)), ("0/1", Slice(0, 1))])
def test_a_slice_is_written_i_of_n(text: str, expected: Slice) -> None:
    assert Slice.parse(text) == expected and str(expected) == text


@pytest.mark.parametrize("text", ["8/8", "-1/8", "1", "a/b", "1/0", "1/8/2"])
def test_an_impossible_slice_is_an_option_error(text: str) -> None:
    with pytest.raises(OptionError, match=r"slice: expected I/N with 0 <= I < N"):
        Slice.parse(text)


def realistic_videos(count: int, seed: int = 0) -> list[tuple[str, float]]:
    """Videos with 1 to many clips of 1.3 to 21 s, as in the release (most videos hold one clip)."""
    rng = random.Random(seed)
    videos = []
    for index in range(count):
        clips = rng.choice((1, 1, 1, 1, 2, 3, 5, 15))
        videos += [(f"video{index:05d}", rng.uniform(1.3, 21.0)) for _ in range(clips)]
    return videos


def test_the_assignment_is_stable_complete_and_balanced_by_seconds() -> None:
    videos = realistic_videos(2_000)
    assignment = assign_slices(videos, 16)
    shuffled = videos[:]
    random.Random(1).shuffle(shuffled)
    assert assign_slices(shuffled, 16) == assignment  # any order of the annotation file
    assert set(assignment) == {video for video, _ in videos} and set(assignment.values()) == set(range(16))
    loads = [0.0] * 16
    for video, seconds in videos:
        loads[assignment[video]] += seconds
    largest_video = max(sum(s for v, s in videos if v == video) for video in assignment)
    assert max(loads) - min(loads) <= largest_video


def test_the_slices_of_the_clips_partition_them_by_video(tmp_path: Path) -> None:
    clips = read_annotation_file(write_sample_download(tmp_path) / "celebvhq_info.json")
    parts = [clips_of_slice(clips, Slice(index, 3)) for index in range(3)]
    assert sorted(clip.clip_id for part in parts for clip in part) == sorted(clip.clip_id for clip in clips)
    for part in parts:
        others = {clip.ytb_id for other in parts if other is not part for clip in other}
        assert not {clip.ytb_id for clip in part} & others


@pytest.fixture(scope="module")
def download(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = write_sample_download(tmp_path_factory.mktemp("slices") / "download", with_videos=True)
    (folder / "processed" / "M2Ohb0FAaJU_1.mp4").unlink()  # a skip line, in whichever slice it falls
    return folder


def prepared(download: Path, cache: Path, part: str | None) -> CelebVHQ:
    builder = CelebVHQ(config_name="clips", data_dir=str(download), cache_dir=str(cache), slice=part)
    builder.download_and_prepare()
    return builder


@pytest.fixture(scope="module")
def whole(download: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[CelebVHQ, Path]:
    folder = tmp_path_factory.mktemp("whole") / "export"
    builder = prepared(download, folder.parent / "cache", None)
    export(builder, folder)
    return builder, folder


def rows(folder: Path) -> list[tuple[str, bytes]]:
    loaded = datasets.load_dataset(str(folder), "clips", split="train")
    return sorted((row["clip_id"], row["video"]["bytes"]) for row in loaded)


@pytest.mark.parametrize("order", [[0, 1, 2], [2, 0, 1]])
def test_slices_exported_into_one_folder_load_as_the_whole_export(
    download: Path, whole: tuple[CelebVHQ, Path], tmp_path: Path, order: list[int]
) -> None:
    builder, whole_folder = whole
    folder = tmp_path / "export"
    for index in order:
        export(prepared(download, tmp_path / "cache", f"{index}/3"), folder)
    assert rows(folder) == rows(whole_folder)
    card = (folder / "README.md").read_text()
    assert "num_examples: 5" in card and card.count("num_examples") == (whole_folder / "README.md").read_text().count(
        "num_examples"
    )
    merged = read_skip_report(folder / "skip_report.clips.tsv")
    assert merged == read_skip_report(builder.skip_report)
    assert [(line["clip_id"], line["kind"]) for line in merged] == [("M2Ohb0FAaJU_1", "missing")]
    shards = sorted(path.name for path in (folder / "clips").glob("*.parquet"))
    assert all(name.startswith("train-slice0000") and name.endswith("of-00001.parquet") for name in shards)


def test_slices_exported_at_once_give_the_whole_export(
    download: Path, whole: tuple[CelebVHQ, Path], tmp_path: Path
) -> None:
    builders = [prepared(download, tmp_path / "cache", f"{index}/3") for index in range(3)]
    folder = tmp_path / "export"
    errors: list[BaseException] = []

    def export_slice(builder: CelebVHQ) -> None:
        try:
            export(builder, folder)
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=export_slice, args=(builder,)) for builder in builders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert rows(folder) == rows(whole[1])


def test_a_slice_report_with_other_columns_is_refused_when_the_reports_are_merged(
    download: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "export"
    builder = CelebVHQ(data_dir=str(download), cache_dir=str(tmp_path / "cache"), slice="0/2")
    builder.download_and_prepare()
    export(builder, folder)
    # A slice exported by a version without the kind column.
    older = folder / ".celeb_datasets" / "skip_reports" / "annotations.slice-1-of-2.tsv"
    older.write_text("clip_id\tytb_id\treason\nx_0\tx\tmissing: gone\n")
    expected = (
        r"annotations\.slice-1-of-2\.tsv: a skip report with the columns clip_id, ytb_id, reason, where the other "
        r"slices' have clip_id, ytb_id, kind, reason: export every slice of annotations again with this version"
    )
    with pytest.raises(CelebDatasetsError, match=expected):
        export(builder, folder)


def test_a_slice_is_refused_where_other_slicing_or_a_whole_export_is(
    download: Path, whole: tuple[CelebVHQ, Path], tmp_path: Path
) -> None:
    folder = tmp_path / "export"
    shutil.copytree(whole[1], folder)
    with pytest.raises(CelebDatasetsError, match=r"holds a whole export \(train-00000-of-00001\.parquet\)"):
        export(prepared(download, tmp_path / "cache", "0/2"), folder)
    other = tmp_path / "other"
    export(prepared(download, tmp_path / "cache", "0/2"), other)
    with pytest.raises(CelebDatasetsError, match="holds slices of 2"):
        export(prepared(download, tmp_path / "cache", "0/3"), other)


def test_the_command_line_exports_a_slice(download: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    arguments = ["export", "celebv_hq", "--config", "clips", "--data-dir", str(download), "--slice", "1/3"]
    assert main([*arguments, "--output", str(tmp_path / "e"), "--cache-dir", str(tmp_path / "c"), "--quiet"]) == 0
    assert "celebv_hq/clips train:" in capsys.readouterr().out
    arguments = ["prepare", "celeba_dialog", "--data-dir", str(download), "--slice", "1/3", "--quiet"]
    assert main(arguments) == 2
    assert "option slice: config 'hq' is not built in slices" in capsys.readouterr().err
