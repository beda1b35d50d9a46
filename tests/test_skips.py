"""Skip reports (celeb_datasets/skips.py): typed kinds, the accounting check, the summary, the end of a build."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from celeba_dialog_fixtures import make_hq_download

from celeb_datasets.errors import CelebDatasetsError
from celeb_datasets.registry import DATASETS, builder_class
from celeb_datasets.skips import (
    SkipKind,
    SkipLog,
    finish_build,
    merge_skip_report,
    read_skip_report,
)
from celeba_dialog import CelebADialog

GONE = SkipKind("gone", keeps_row=False, meaning="The item's file is gone.")
ODD = SkipKind("odd", keeps_row=True, meaning="A value is odd; the row is kept.")
COLUMNS = ("item_id", "kind", "reason")


def report_of(folder: Path, lines: list[tuple[str, SkipKind, str]]) -> Path:
    skips = SkipLog(folder, COLUMNS)
    for item, kind, reason in lines:
        skips.record(item, kind=kind, reason=reason)
    return merge_skip_report(folder, COLUMNS)


def finish(report: Path, expected: list[str] | None, rows: list[str], kinds: tuple[SkipKind, ...] = (GONE, ODD)) -> Any:
    return finish_build(
        "Things t",
        expected_ids=expected,
        row_ids=rows,
        report=report,
        item_column="item_id",
        kinds=kinds,
        no_rows_hint="Put the things in things/.",
    )


# --- the kind column, not the reason, decides ------------------------------------------------------------


def test_a_report_names_each_line_s_kind_beside_its_reason(tmp_path: Path) -> None:
    report = report_of(tmp_path, [("b", GONE, "gone: not in things/"), ("a", ODD, "odd: -1 as written")])
    assert report.read_text() == "item_id\tkind\treason\na\todd\todd: -1 as written\nb\tgone\tgone: not in things/\n"


def test_accounting_and_summary_follow_the_kind_column_whatever_the_reasons_say(tmp_path: Path) -> None:
    # Reasons that begin with another kind's name, or with none: only the kind column counts.
    report = report_of(
        tmp_path,
        [("b", GONE, "odd: reworded, and misleading"), ("a", ODD, "gone: reworded too"), ("c", ODD, "no colon")],
    )
    summary = finish(report, expected=["a", "b", "c"], rows=["a", "c"])
    assert summary.text == (
        f"Things t: 2 written, 1 skipped (1 gone); skip report: {report}; "
        f"kept with values listed in the report: 2 odd ({report})"
    )
    assert summary.left_out == 1


def test_a_kept_line_does_not_account_for_a_missing_row(tmp_path: Path) -> None:
    report = report_of(tmp_path, [("b", ODD, "gone: the reason says gone, the kind says kept")])
    expected = r"\(2 items named, 1 rows, 0 left out\): neither row nor skip line: b;"
    with pytest.raises(CelebDatasetsError, match=expected):
        finish(report, expected=["a", "b"], rows=["a"])


def test_an_item_both_a_row_and_left_out_fails_the_accounting(tmp_path: Path) -> None:
    report = report_of(tmp_path, [("a", GONE, "gone: not in things/")])
    with pytest.raises(CelebDatasetsError, match=r"twice or unknown: a\. This is a bug"):
        finish(report, expected=["a"], rows=["a"])


def test_an_undeclared_kind_in_a_report_is_refused_naming_the_line(tmp_path: Path) -> None:
    report = report_of(tmp_path, [("a", ODD, "odd: kept"), ("b", SkipKind("vanished", False, "?"), "vanished")])
    expected = f"{re.escape(str(report))}: line 3: the skip kind 'vanished' is not one this dataset declares "
    expected += r"\(gone, odd\)$"
    with pytest.raises(CelebDatasetsError, match=expected):
        finish(report, expected=["a", "b"], rows=["a"])


def test_a_kind_with_a_declared_name_but_another_meaning_is_refused_too(tmp_path: Path) -> None:
    # The report holds names; a dataset's declared kinds say what they mean: "odd" here is not kept.
    report = report_of(tmp_path, [("a", ODD, "odd: kept")])
    left_out_odd = SkipKind("odd", keeps_row=False, meaning="Left out.")
    with pytest.raises(CelebDatasetsError, match=r"twice or unknown: a\."):
        finish(report, expected=["a"], rows=["a"], kinds=(GONE, left_out_odd))


def test_a_report_without_a_kind_column_is_refused_with_what_to_do(tmp_path: Path) -> None:
    old = tmp_path / "skip_report.tsv"
    old.write_text("item_id\treason\nb\tgone: not in things/\n")
    with pytest.raises(CelebDatasetsError, match=r"line 2 has no 'kind' column .* download_mode='force_redownload'"):
        finish(old, expected=["a", "b"], rows=["a"])


# --- the end of a build: one summary, one "no row" error -------------------------------------------------


def test_a_build_with_no_row_is_refused_with_its_skips_by_kind_and_the_hint(tmp_path: Path) -> None:
    report = report_of(
        tmp_path, [("a", GONE, "gone: x"), ("b", GONE, "gone: y"), ("c", ODD, "odd: z"), ("c", GONE, "gone: z")]
    )
    with pytest.raises(CelebDatasetsError) as refused:
        finish(report, expected=["a", "b", "c"], rows=[])
    expected = "Things t: 0 written, 3 skipped (3 gone). No row could be built. Put the things in things/."
    assert str(refused.value) == expected


def test_a_build_that_names_nothing_is_not_refused_for_having_no_row(tmp_path: Path) -> None:
    assert finish(report_of(tmp_path, []), expected=[], rows=[]).text == "Things t: 0 written, none skipped"


def test_the_summary_counts_the_most_frequent_kind_first_and_names_the_report_where_it_is_shown(
    tmp_path: Path,
) -> None:
    other = SkipKind("another", keeps_row=False, meaning="Another reason.")
    report = report_of(tmp_path, [("a", GONE, "x"), ("b", other, "y"), ("c", GONE, "z"), ("d", other, "w")])
    shown = tmp_path / "export" / "skip_report.t.tsv"
    summary = finish_build(
        "Things t",
        expected_ids=None,
        row_ids=["e"],
        report=report,
        item_column="item_id",
        kinds=(GONE, other),
        report_shown=shown,
    )
    assert summary.text == f"Things t: 1 written, 4 skipped (2 another, 2 gone); skip report: {shown}"


def test_a_skip_log_checks_its_columns_and_the_item_it_is_given(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="end with 'kind', 'reason'"):
        SkipLog(tmp_path, ("item_id", "reason"))
    with pytest.raises(ValueError, match=r"names its item by \('item_id',\)"):
        SkipLog(tmp_path, COLUMNS).record("a", "extra", kind=GONE, reason="gone")
    with pytest.raises(ValueError, match="has the columns"):
        SkipLog(tmp_path, COLUMNS).add_lines([("a", "gone")])


def test_lines_added_from_another_report_are_merged_as_they_are(tmp_path: Path) -> None:
    task = report_of(tmp_path / "task", [("b", GONE, "gone: b"), ("a", ODD, "odd: a")])
    SkipLog(tmp_path / "driver", COLUMNS).add_lines(tuple(line.values()) for line in read_skip_report(task))
    assert merge_skip_report(tmp_path / "driver", COLUMNS).read_text() == task.read_text()


# --- rewording a dataset's reasons changes nothing but the text ------------------------------------------


def test_rewording_every_reason_of_a_build_keeps_its_accounting_and_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Left out ("no image", "unreadable") and kept ("no label", "no mask") lines in one build.
    download = make_hq_download(tmp_path / "download", drop_images=[3], replace={"image/6.jpg": b"<html>"})
    as_written = CelebADialog(config_name="hq_masks", data_dir=str(download), cache_dir=str(tmp_path / "one"))
    as_written.download_and_prepare()
    record = SkipLog.record

    def reworded(self: SkipLog, *item: str, kind: SkipKind, reason: str) -> None:
        record(self, *item, kind=kind, reason=f"reworded: {len(reason)} characters of text")

    monkeypatch.setattr(SkipLog, "record", reworded)
    builder = CelebADialog(config_name="hq_masks", data_dir=str(download), cache_dir=str(tmp_path / "two"))
    builder.download_and_prepare()

    lines = read_skip_report(builder.skip_report)
    assert {line["kind"] for line in lines} == {"no image", "unreadable", "no label", "no mask"}
    assert all(line["reason"].startswith("reworded: ") for line in lines)
    strip = lambda line: {k: v for k, v in line.items() if k != "reason"}  # noqa: E731
    assert [strip(line) for line in lines] == [strip(line) for line in read_skip_report(as_written.skip_report)]
    same = as_written.skip_summary.replace(str(as_written.skip_report), str(builder.skip_report))
    assert builder.skip_summary == same
    assert "2 skipped (1 no image, 1 unreadable)" in builder.skip_summary


def test_a_build_recording_an_undeclared_kind_is_refused_and_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    download = make_hq_download(tmp_path / "download", masks=False)
    record = SkipLog.record
    vanished = SkipKind("vanished", keeps_row=True, meaning="Not declared by CelebA-Dialog.")

    def undeclared(self: SkipLog, *item: str, kind: SkipKind, reason: str) -> None:
        record(self, *item, kind=vanished, reason=reason)

    monkeypatch.setattr(SkipLog, "record", undeclared)
    builder = CelebADialog(config_name="hq", data_dir=str(download), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(CelebDatasetsError, match=r"skip_report\.tsv: line 2: the skip kind 'vanished' is not one"):
        builder.download_and_prepare()
    assert not list((tmp_path / "cache").rglob("dataset_info.json"))


# --- every dataset declares its kinds (docs/skip-reports.md lists them: tests/test_docs.py) --------------


@pytest.mark.parametrize("name", list(DATASETS))
def test_each_dataset_declares_its_kinds_once_with_a_meaning(name: str) -> None:
    builder = builder_class(name)
    names = [kind.name for kind in builder.SKIP_KINDS]
    assert len(names) == len(set(names)), names
    assert builder.SKIP_REPORT_COLUMNS[-2:] == ("kind", "reason")
    for kind in builder.SKIP_KINDS:
        assert kind.name and ":" not in kind.name and "\t" not in kind.name, kind
        assert kind.meaning.endswith("."), kind
