"""`celeb-datasets verify celebv_hq`: every clip of a copy checked, a QC report and summary, `status` showing it."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from celebv_hq_fixtures import write_defective_copy, write_sample_download

from celeb_datasets.cli import main
from celebv_hq_lib.verify import REPORT_COLUMNS, read_report, read_summary, verify_copy

# Every line the defective copy's report must hold (clip, check), from tests/test_checks.py's expectations.
EXPECTED_LINES = {
    ("aaaaaaaaaaa_1", "duration"),
    ("aaaaaaaaaaa_2", "square"),
    ("aaaaaaaaaaa_2", "size"),
    ("aaaaaaaaaaa_3", "first frame"),
    ("aaaaaaaaaaa_4", "audio"),
    ("aaaaaaaaaaa_5", "readable"),
    ("aaaaaaaaaaa_6", "size"),
    ("bbbbbbbbbbb_1", "audio"),
    ("ccccccccccc_1", "raw length"),
}


def lines_of(report: Path) -> set[tuple[str, str]]:
    return {(line["clip_id"], line["check"]) for line in read_report(report)}


def tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every entry under `folder`: size and modification time (what writing anything there would change)."""
    return {str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns) for path in folder.rglob("*")}


def test_verify_lists_each_problem_with_what_was_measured_and_status_shows_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    copy = write_defective_copy(tmp_path / "copy")
    assert main(["verify", "celebv_hq", "--data-dir", str(copy)]) == 1  # problems found
    out = capsys.readouterr().out
    assert f"QC report: {copy.absolute() / 'verify_report.tsv'}" in out
    report = copy / "verify_report.tsv"
    assert report.read_text().splitlines()[0].split("\t") == list(REPORT_COLUMNS)
    assert lines_of(report) == EXPECTED_LINES
    duration = next(line for line in read_report(report) if line["check"] == "duration")
    assert duration == {
        "clip_id": "aaaaaaaaaaa_1",
        "ytb_id": "aaaaaaaaaaa",
        "check": "duration",
        "measured": "2.00 s",
        "expected": "1.80 s (end_sec - start_sec) ± 0.06",
        "file": str(copy / "processed" / "aaaaaaaaaaa_1.mp4"),
    }
    summary = json.loads((copy / "verify_summary.json").read_text())
    assert (summary["clips"], summary["clips_without_video"], summary["clips_with_problems"]) == (12, 1, 8)
    assert (summary["processed_checked"], summary["processed_passed"]) == (9, 2)
    assert (summary["raw_checked"], summary["raw_passed"]) == (2, 1)
    assert summary["problems_by_check"]["size"] == 2 and summary["problems_by_check"]["first frame"] == 1
    assert main(["status", "celebv_hq", "--data-dir", str(copy)]) == 0
    status = capsys.readouterr().out
    assert "processed clips checked: 9, passed: 2" in status
    assert "clips with a problem: 8 (1 readable, 1 duration, 1 square, 2 size, 2 audio, 1 first frame, 1 raw" in status


def test_a_copy_that_matches_its_annotations_verifies_with_exit_0(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    download = write_sample_download(tmp_path / "download", with_videos=True)
    assert main(["status", "celebv_hq", "--data-dir", str(download)]) == 0
    assert "not verified yet: celeb-datasets verify celebv_hq" in capsys.readouterr().out
    assert main(["verify", "celebv_hq", "--data-dir", str(download), "--quiet"]) == 0
    assert "processed clips checked: 6, passed: 6" in capsys.readouterr().out
    assert lines_of(download / "verify_report.tsv") == set()


def test_full_decodes_everything_and_first_frames_can_be_left_uncompared(tmp_path: Path) -> None:
    copy = write_defective_copy(tmp_path / "copy")
    summary = verify_copy(copy, full=True, compare_first_frames=False)
    assert (summary.media_check, summary.first_frames_compared) == ("full", False)
    assert lines_of(copy / "verify_report.tsv") == EXPECTED_LINES - {("aaaaaaaaaaa_3", "first frame")}
    assert read_summary(copy) == summary


def test_copies_elsewhere_are_read_in_place_at_any_depth_and_nothing_is_written_beside_them(tmp_path: Path) -> None:
    copy = write_defective_copy(tmp_path / "copy")
    torrent, clips = tmp_path / "torrent" / "CelebV-HQ" / "part 1", tmp_path / "shared clips" / "35666"
    shutil.move(copy / "raw", torrent)
    shutil.move(copy / "processed", clips)
    before = {"torrent": tree(tmp_path / "torrent"), "clips": tree(tmp_path / "shared clips")}
    arguments = ["verify", "celebv_hq", "--data-dir", str(copy), "--raw-dir", str(tmp_path / "torrent")]
    assert main([*arguments, "--processed-dir", str(tmp_path / "shared clips"), "--quiet"]) == 1
    assert lines_of(copy / "verify_report.tsv") == EXPECTED_LINES
    assert {line["file"] for line in read_report(copy / "verify_report.tsv")} >= {
        str(torrent / "ccccccccccc.mp4"),
        str(clips / "aaaaaaaaaaa_1.mp4"),
    }
    assert {"torrent": tree(tmp_path / "torrent"), "clips": tree(tmp_path / "shared clips")} == before


def test_the_report_never_goes_into_a_folder_of_videos(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    copy = write_defective_copy(tmp_path / "copy")
    for clip in (copy / "processed").iterdir():  # a flat copy: clips beside the annotation file
        clip.rename(copy / clip.name)
    assert main(["verify", "celebv_hq", "--data-dir", str(copy), "--quiet"]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: the QC report would be written into {copy.absolute()}, which holds your videos")
    assert error.rstrip().endswith("name another folder with --report-dir")
    arguments = ["verify", "celebv_hq", "--data-dir", str(tmp_path / "copy"), "--quiet", "--raw-dir", str(copy / "raw")]
    assert main([*arguments, "--report-dir", str(copy / "raw" / "reports")]) == 2
    assert not (copy / "raw" / "reports").exists()
    assert main([*arguments, "--report-dir", str(tmp_path / "reports")]) == 1
    assert lines_of(tmp_path / "reports" / "verify_report.tsv") == EXPECTED_LINES
    assert not any(name.startswith("verify_") for name in os.listdir(copy))
    assert main(["status", "celebv_hq", "--data-dir", str(copy), "--report-dir", str(tmp_path / "reports")]) == 0
    assert "clips with a problem: 8" in capsys.readouterr().out


def test_workers_share_the_videos_and_give_the_same_report(tmp_path: Path) -> None:
    one, two = write_defective_copy(tmp_path / "one"), write_defective_copy(tmp_path / "two")
    verify_copy(one)
    verify_copy(two, workers=2)
    reports = [(folder / "verify_report.tsv").read_text().replace(str(folder), "") for folder in (one, two)]
    assert reports[0] == reports[1]
