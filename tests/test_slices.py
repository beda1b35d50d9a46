"""Deterministic slices: a stable, balanced assignment, and N slices exported into one folder."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
from celebv_hq_fixtures import write_sample_download

from celeb_datasets.cli import main
from celeb_datasets.errors import CelebDatasetsError, ExportFolderError, OptionError
from celeb_datasets.hub import EXPORT_MANIFEST, export, install_export, staging_folder
from celeb_datasets.skips import read_skip_report
from celeb_datasets.slices import Slice, assign_slices
from celebv_hq import CelebVHQ
from celebv_hq_lib.annotations import read_annotation_file
from celebv_hq_lib.clips import clips_of_slice

REPO_ROOT = Path(__file__).resolve().parents[1]
BARRIER_SCRIPT = Path(__file__).with_name("export_with_barrier.py")


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


@pytest.mark.slow
def test_slices_exported_at_once_by_separate_processes_give_the_whole_export(
    download: Path, whole: tuple[CelebVHQ, Path], tmp_path: Path
) -> None:
    # Three processes meet at a barrier inside the export folder's lock (tests/export_with_barrier.py): without
    # the lock, all would read the folder's record before any writes it, and two slices would be lost.
    for index in range(3):
        prepared(download, tmp_path / "cache", f"{index}/3")  # each process exports from its cache
    folder = tmp_path / "export"
    arguments = ["export", "celebv_hq", "--config", "clips", "--data-dir", str(download), "--output", str(folder)]
    arguments += ["--cache-dir", str(tmp_path / "cache"), "--quiet"]
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    processes = [
        subprocess.Popen(
            [sys.executable, str(BARRIER_SCRIPT), str(tmp_path / "barrier"), "3", *arguments, "--slice", f"{index}/3"],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(3)
    ]
    outputs = [process.communicate(timeout=300) for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], outputs
    assert len(list((tmp_path / "barrier").glob("record-read.*"))) == 3  # every process met the barrier
    assert rows(folder) == rows(whole[1])
    record = json.loads((folder / EXPORT_MANIFEST).read_text())
    assert sorted(record["configs"]["clips"]["slices"]["present"]) == ["0", "1", "2"]
    assert "- `clips`: 5 of the 6 clips the sources name (the release has 35,666), in slices 0 to 2 of 3." in (
        (folder / "README.md").read_text()
    )
    assert read_skip_report(folder / "skip_report.clips.tsv") == read_skip_report(whole[0].skip_report)


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
    before = files_of(folder)
    with pytest.raises(CelebDatasetsError, match=expected):
        export(builder, folder)
    assert files_of(folder) == before  # refused before anything changed


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


# ---------------------------------------------------------------------------------------------------
# Slices that cannot mix, and what a folder of slices says it holds


def export_slice(download: Path, folder: Path, cache: Path, part: str, *extra: str) -> int:
    arguments = ["export", "celebv_hq", "--config", "clips", "--data-dir", str(download), "--slice", part]
    return main([*arguments, "--output", str(folder), "--cache-dir", str(cache), "--quiet", *extra])


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def test_a_slice_of_an_edited_annotation_file_is_refused_saying_what_differs(
    download: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = shutil.copytree(download, tmp_path / "download")
    folder, cache = tmp_path / "export", tmp_path / "cache"
    assert export_slice(data, folder, cache, "0/2") == 0
    before = files_of(folder)
    document = json.loads((data / "celebvhq_info.json").read_text())
    first = next(iter(document["clips"]))
    document["clips"][first]["attributes"]["appearance"][0] = (
        1 - document["clips"][first]["attributes"]["appearance"][0]
    )
    document["clips"]["M2Ohb0FAaJU_9"] = document["clips"]["M2Ohb0FAaJU_1"]  # a clip added
    (data / "celebvhq_info.json").write_text(json.dumps(document))
    capsys.readouterr()
    assert export_slice(data, folder, cache, "1/2") == 2
    expected = (
        f"error: {folder / 'clips'}: slice 1/2 cannot join slice 0/2 there: celebvhq_info.json is not the one slice "
        "0/2 was built from (edited since, or another copy). The slices of one folder must be built from the same "
        "file with the same options: export every slice into a new folder"
    )
    assert capsys.readouterr().err.strip() == expected
    assert files_of(folder) == before


def test_a_slice_refused_when_it_is_put_in_place_leaves_the_folder_as_it_was(download: Path, tmp_path: Path) -> None:
    # Two jobs start together (the folder holds no slice yet, so both pass the first check); the other file's
    # slice is put in place first: this one is refused when it comes to put its shards in place.
    edited = shutil.copytree(download, tmp_path / "edited")
    document = json.loads((edited / "celebvhq_info.json").read_text())
    del document["clips"]["HV150LwK8Kc_8"]
    (edited / "celebvhq_info.json").write_text(json.dumps(document))
    folder = tmp_path / "export"
    late = prepared(download, tmp_path / "cache", "1/2")
    with staging_folder(folder, late) as staging:
        export(prepared(edited, tmp_path / "cache", "0/2"), folder)
        before = files_of(folder)
        (staging / "train-slice00001of00002-00000-of-00001.parquet").write_bytes(b"refused before it is read")
        with pytest.raises(ExportFolderError, match=r"slice 1/2 cannot join slice 0/2 there: celebvhq_info\.json is"):
            install_export(folder, late, staging, late.skip_report)
    assert files_of(folder) == before


def test_a_slice_with_other_options_that_define_rows_is_refused_naming_them(
    download: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, cache = tmp_path / "export", tmp_path / "cache"
    assert export_slice(download, folder, cache, "0/2") == 0
    capsys.readouterr()
    assert export_slice(download, folder, cache, "1/2", "--crf", "30", "--media-check", "full") == 2
    error = capsys.readouterr().err
    assert "option crf is 30 here, 23 in slice 0/2; option media_check is 'full' here, 'fast' in slice 0/2" in error
    assert export_slice(download, folder, cache, "1/2", "--seek-gap-sec", "2") == 0  # how, not what: it joins


def test_a_partial_union_of_slices_says_so_in_the_output_the_card_and_the_loaded_description(
    download: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, cache = tmp_path / "export", tmp_path / "cache"
    assert export_slice(download, folder, cache, "2/3") == 0
    partial = f"celebv_hq/clips: {folder} holds slices 2 of 3 (absent: 0, 1): a partial dataset until every slice"
    assert partial in capsys.readouterr().out
    card = (folder / "README.md").read_text()
    assert "- `clips`: **partial**, only slices 2 of 3 (absent: 0, 1): the clips of absent slices are counted" in card
    loaded = datasets.load_dataset_builder(str(folder), "clips").config.description
    assert loaded == "PARTIAL: only slices 2 of 3 (absent: 0, 1). Every label plus the clip's MP4 video."
    assert export_slice(download, folder, cache, "0/3") == 0 and export_slice(download, folder, cache, "1/3") == 0
    assert f"celebv_hq/clips: {folder} holds every slice (slices 0 to 2 of 3)" in capsys.readouterr().out
    assert "partial" not in (folder / "README.md").read_text().lower()
    assert (
        datasets.load_dataset_builder(str(folder), "clips").config.description
        == CelebVHQ.BUILDER_CONFIGS[1].description
    )


def test_a_slice_whose_every_video_is_missing_exports_its_skip_lines_with_a_warning(
    download: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    data = shutil.copytree(download, tmp_path / "download")
    gone = clips_of_slice(read_annotation_file(data / "celebvhq_info.json"), Slice(1, 2))
    for clip in gone:
        (data / "processed" / f"{clip.clip_id}.mp4").unlink(missing_ok=True)
    folder, cache = tmp_path / "export", tmp_path / "cache"
    assert export_slice(data, folder, cache, "1/2") == 0
    assert "celebv_hq/clips slice 1/2: no row could be built, so it has no shard" in caplog.text
    out = capsys.readouterr().out
    assert f"celebv_hq/clips: slice 1/2 has no row (see {folder}/skip_report.clips.tsv)" in out
    # No card, no shard: the output says what is true, not how to load the folder.
    assert out.endswith(
        f"export folder: {folder} (no rows of celebv_hq/clips in it yet, so nothing to load: the config loads once a "
        "slice with rows is exported into the folder)\n"
    )
    assert not (folder / "clips").exists() and not (folder / "README.md").exists()
    assert export_slice(data, folder, cache, "0/2") == 0
    assert f"(load it with datasets.load_dataset({str(folder)!r}, 'clips'))" in capsys.readouterr().out
    # The slice with no row exported again, into a folder whose config has rows: both said.
    assert export_slice(data, folder, cache, "1/2") == 0
    out = capsys.readouterr().out
    assert "slice 1/2 has no row" in out and f"(load it with datasets.load_dataset({str(folder)!r}, 'clips'))" in out
    merged = {line["clip_id"]: line["kind"] for line in read_skip_report(folder / "skip_report.clips.tsv")}
    assert {clip.clip_id for clip in gone} <= set(merged) and set(merged.values()) == {"missing"}
    rows_left = 6 - len(merged)
    assert datasets.load_dataset(str(folder), "clips", split="train").num_rows == rows_left
    card = (folder / "README.md").read_text()
    expected = (
        f"- `clips`: {rows_left} of the 6 clips the sources name (the release has 35,666), in slices 0 to 1 of 2."
    )
    assert f"{expected} Left out: {len(merged)} missing." in card


def test_a_slice_that_lost_its_shards_is_repaired_by_exporting_that_slice_again(
    download: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, cache = tmp_path / "export", tmp_path / "cache"
    assert export_slice(download, folder, cache, "0/2") == 0 and export_slice(download, folder, cache, "1/2") == 0
    lost = sorted((folder / "clips").glob("train-slice00001of00002-*.parquet"))
    for shard in lost:
        shard.unlink()
    before = files_of(folder)
    capsys.readouterr()
    # Another slice would join a config that cannot load: refused (before its build), saying which slice to export.
    assert export_slice(download, folder, cache, "0/2") == 2
    assert capsys.readouterr().err == (
        f"error: {lost[0]} is gone (1 of the 2 shards the package wrote for clips): slice 0/2 would join a config "
        "that cannot load; export clips there again first (`celeb-datasets export celebv_hq --config clips --slice "
        f"1/2 ...`), or delete the folder {folder / 'clips'} to start it over\n"
    )
    assert files_of(folder) == before
    assert export_slice(download, folder, cache, "1/2") == 0  # as the advice says: repaired
    assert all(shard.is_file() for shard in lost)
    assert export_slice(download, folder, cache, "0/2") == 0
    assert datasets.load_dataset(str(folder), "clips", split="train").num_rows == 5
