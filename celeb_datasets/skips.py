"""Skip reports: what a build left out or kept incomplete, and why, written as it happens and summed up at the end.

Skipping is right for data that is normally missing (a YouTube video taken down); it is never silent.
Each dataset declares its kinds of skip once (`SkipKind`: its name, whether the item is left out or kept
as a row with a value listed, what it means), and every line of a report names its kind in the `kind`
column beside a free-text `reason` for people. Counting, summaries and the accounting check read the
`kind` column and the declared kinds only, so rewording a reason changes nothing but the text.

Each worker process appends to its own part file in the report folder, so `num_proc` needs no locks;
`merge_skip_report` joins the parts into one TSV. `finish_build` ends every build (any engine): each
item the sources name is a row or a left-out line, at least one row was built, and a one-line summary.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import os
import shutil
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from celeb_datasets.errors import CelebDatasetsError

logger = logging.getLogger("celeb_datasets")

SKIP_REPORT_FILE = "skip_report.tsv"
# The last two columns of every skip report; the columns before them name the item.
KIND_COLUMN, REASON_COLUMN = "kind", "reason"
_PARTS_FOLDER = "skip_report_parts"


@dataclasses.dataclass(frozen=True)
class SkipKind:
    """One kind of skip-report line, declared once by its dataset.

    `name` is written in the report's `kind` column (and begins the reason, by convention); `keeps_row`
    says whether the item still is a row (with a value None or odd, listed in the report) or is left out;
    `meaning` is one sentence for the documentation.
    """

    name: str
    keeps_row: bool
    meaning: str


class SkipLog:
    """Records skipped items of one build into a report folder (None: log only, e.g. when streaming).

    `columns` are the report's header: the columns naming the item, then "kind" and "reason".
    """

    def __init__(self, folder: str | os.PathLike[str] | None, columns: tuple[str, ...]) -> None:
        if columns[-2:] != (KIND_COLUMN, REASON_COLUMN):
            raise ValueError(f"a skip report's columns end with {KIND_COLUMN!r}, {REASON_COLUMN!r}, not {columns}")
        self.folder = None if folder is None else Path(folder)
        self.columns = columns

    def record(self, *item: str, kind: SkipKind, reason: str) -> None:
        """Record one item (a value per column naming it) with its kind and a reason for people."""
        if len(item) != len(self.columns) - 2:
            raise ValueError(f"a skip names its item by {self.columns[:-2]}, got {item}")
        line = (*item, kind.name, reason)
        logger.info("skipped %s", ", ".join(f"{c}={v}" for c, v in zip(self.columns, line, strict=True)))
        self._write([line])

    def add_lines(self, lines: Iterable[Sequence[str]]) -> None:
        """Add the lines of another report with the same columns (e.g. a Ray task's), as they are."""
        lines = [tuple(line) for line in lines]
        for line in lines:
            if len(line) != len(self.columns):
                raise ValueError(f"a skip-report line has the columns {self.columns}, got {line}")
        self._write(lines)

    def _write(self, lines: list[tuple[str, ...]]) -> None:
        if self.folder is None or not lines:
            return
        parts = self.folder / _PARTS_FOLDER
        parts.mkdir(parents=True, exist_ok=True)
        with open(parts / f"{os.getpid()}.tsv", "a", newline="", encoding="utf-8") as part:
            csv.writer(part, delimiter="\t", lineterminator="\n").writerows(lines)


def merge_skip_report(folder: str | os.PathLike[str], columns: tuple[str, ...]) -> Path:
    """Join the part files under `folder` into `folder/skip_report.tsv`, sorted; its path."""
    folder = Path(folder)
    rows: list[list[str]] = []
    parts = folder / _PARTS_FOLDER
    if parts.is_dir():
        for part in sorted(parts.iterdir()):
            with open(part, newline="", encoding="utf-8") as lines:
                rows.extend(csv.reader(lines, delimiter="\t"))
            part.unlink()
        parts.rmdir()
    rows.sort()
    report = folder / SKIP_REPORT_FILE
    with open(report, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, delimiter="\t", lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
    return report


def finish_skip_report(folder: str | os.PathLike[str], columns: tuple[str, ...]) -> Path:
    """The build's skip report in `folder`, after `download_and_prepare`.

    A build that just ran left part files: they are merged. A build served from the cache left its
    merged report (a prepared folder is replaced whole when it is built again): it is kept.
    """
    folder = Path(folder)
    report = folder / SKIP_REPORT_FILE
    if (folder / _PARTS_FOLDER).exists() or not report.exists():
        return merge_skip_report(folder, columns)
    return report


def keep_skip_report(report: str | os.PathLike[str], kept: str | os.PathLike[str]) -> Path:
    """Copy `report` to `kept` (replacing it whole) and return that path.

    A refused build's report is written where the build was (datasets' `.incomplete` folder, deleted when
    the refusal is raised): the refusal names this copy instead, which the user can still open.
    """
    kept = Path(kept)
    kept.parent.mkdir(parents=True, exist_ok=True)
    partial = kept.with_name(f".{kept.name}.{os.getpid()}")
    shutil.copyfile(report, partial)
    os.replace(partial, kept)
    return kept


def read_skip_report(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """The rows of a skip report, as dicts keyed by its header."""
    with open(path, newline="", encoding="utf-8") as lines:
        return list(csv.DictReader(lines, delimiter="\t"))


def kinds_of_lines(
    lines: Sequence[Mapping[str, str]], kinds: Sequence[SkipKind], report: str | os.PathLike[str]
) -> list[SkipKind]:
    """The declared kind of each line of `report` (read by its `kind` column); CelebDatasetsError for a
    line whose kind is not among `kinds`, or a report without a `kind` column (written by an older version)."""
    by_name = {kind.name: kind for kind in kinds}
    found = []
    for number, line in enumerate(lines, start=2):  # line 1 is the header
        name = line.get(KIND_COLUMN)
        if name is None:
            raise CelebDatasetsError(
                f"{report}: line {number} has no {KIND_COLUMN!r} column (a report of an older version of this "
                "package?): prepare the dataset again (--force, or download_mode='force_redownload')"
            )
        if name not in by_name:
            raise CelebDatasetsError(
                f"{report}: line {number}: the skip kind {name!r} is not one this dataset declares "
                f"({', '.join(by_name)})"
            )
        found.append(by_name[name])
    return found


@dataclasses.dataclass(frozen=True)
class SkipSummary:
    """A build's one-line summary (`text`), and how many items it left out (then it is logged as a warning)."""

    text: str
    left_out: int

    def log(self) -> None:
        logger.log(logging.WARNING if self.left_out else logging.INFO, self.text)


def summarize_skip_report(
    what: str, written: int, report: str | os.PathLike[str], kinds: Sequence[SkipKind]
) -> SkipSummary:
    """The summary of a build that wrote `written` rows and the skip report `report` (see `skip_summary`)."""
    return skip_summary(what, written, kinds_of_lines(read_skip_report(report), kinds, report), report)


def skip_summary(
    what: str, written: int, line_kinds: Iterable[SkipKind], report: str | os.PathLike[str]
) -> SkipSummary:
    """One line: how many items were written, how many left out and kept incomplete, by kind, and where
    the report is (`line_kinds`: the kind of each line of the report)."""
    left_out, kept = _counts(line_kinds)
    text = f"{what}: {written:,} written, {_skipped(left_out)}"
    if left_out:
        text += f"; skip report: {report}"
    if kept:
        text += f"; kept with values listed in the report: {count_by_kind(kept)} ({report})"
    return SkipSummary(text, sum(left_out.values()))


def finish_build(
    what: str,
    *,
    expected_ids: Iterable[str] | None,
    row_ids: Iterable[str],
    report: str | os.PathLike[str],
    item_column: str,
    kinds: Sequence[SkipKind],
    no_rows_hint: str = "",
    report_shown: str | os.PathLike[str] | None = None,
    refused_report: str | os.PathLike[str] | None = None,
    rows_required: bool = True,
) -> SkipSummary:
    """End a build, whatever engine made it: check it, and give its one-line summary (`skip_summary`).

    Raises CelebDatasetsError when a line of `report` has an undeclared kind; when the items the sources
    name (`expected_ids`; None: not checked) are not each exactly one row (`row_ids`) or one left-out line
    (the accounting check: a bug if it fails); and when no row could be built although items were named.
    The summary names the report as `report_shown` (default: `report`), where the user will find it. A
    build refused for having no row keeps its report at `refused_report` and names it, as the place where
    the report was written may be gone by the time the user reads the message. `rows_required=False`
    (a slice of a build, whose every item may be gone) accepts a build with no row.
    """
    lines = read_skip_report(report)
    line_kinds = kinds_of_lines(lines, kinds, report)
    rows = Counter(row_ids)
    if expected_ids is not None:
        expected = list(expected_ids)
        left_out_ids = [line[item_column] for line, kind in zip(lines, line_kinds, strict=True) if not kind.keeps_row]
        check_accounting(what, expected, rows, left_out_ids)
        if expected and not rows and rows_required:
            left_out, _ = _counts(line_kinds)
            kept = "" if refused_report is None else f"; skip report: {keep_skip_report(report, refused_report)}"
            message = f"{what}: 0 written, {_skipped(left_out)}{kept}. No row could be built. {no_rows_hint}"
            raise CelebDatasetsError(message.rstrip())
    return skip_summary(what, sum(rows.values()), line_kinds, report if report_shown is None else report_shown)


def count_kinds(report: str | os.PathLike[str], kinds: Sequence[SkipKind]) -> int:
    """How many lines of the skip report `report` are of one of `kinds`."""
    if not kinds:
        return 0
    names = {kind.name for kind in kinds}
    return sum(line.get("kind") in names for line in read_skip_report(report))


def check_accounting(
    what: str, expected_ids: Iterable[str], row_ids: Iterable[str], left_out_ids: Iterable[str]
) -> None:
    """Raise CelebDatasetsError unless each expected id is exactly one row or one left-out skip line."""
    rows, left_out, expected = Counter(row_ids), Counter(left_out_ids), Counter(expected_ids)
    accounted = rows + left_out
    if accounted != expected:
        missing = sorted((expected - accounted).keys())
        extra = sorted((accounted - expected).keys())
        raise CelebDatasetsError(
            f"{what}: the build does not account for its sources ({sum(expected.values()):,} items named, "
            f"{sum(rows.values()):,} rows, {sum(left_out.values()):,} left out): neither row nor skip line: "
            f"{_some(missing)}; twice or unknown: {_some(extra)}. This is a bug: please report it with this message"
        )


def count_by_kind(counts: Counter[SkipKind]) -> str:
    """ "3 missing, 1 unreadable": the most frequent kind first, ties by name."""
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0].name))
    return ", ".join(f"{n:,} {kind.name}" for kind, n in ordered)


def skip_kinds_markdown(kinds_by_dataset: Mapping[str, Sequence[SkipKind]]) -> str:
    """The Markdown list of each dataset's skip kinds with their meaning (for docs/skip-reports.md)."""
    out = []
    for dataset, kinds in kinds_by_dataset.items():
        out += [f"### {dataset}", "", "| kind | the item | meaning |", "| --- | --- | --- |"]
        for kind in kinds:
            item = "kept, a value listed" if kind.keeps_row else "left out"
            out.append(f"| `{kind.name}` | {item} | {kind.meaning} |")
        out.append("")
    return "\n".join(out)


def _counts(kinds: Iterable[SkipKind]) -> tuple[Counter[SkipKind], Counter[SkipKind]]:
    """Lines left out and lines kept, by kind."""
    counts = Counter(kinds)
    left_out = Counter({kind: n for kind, n in counts.items() if not kind.keeps_row})
    kept = Counter({kind: n for kind, n in counts.items() if kind.keeps_row})
    return left_out, kept


def _skipped(left_out: Counter[SkipKind]) -> str:
    if not left_out:
        return "none skipped"
    return f"{sum(left_out.values()):,} skipped ({count_by_kind(left_out)})"


def _some(names: list[str], limit: int = 5) -> str:
    if not names:
        return "none"
    more = f" and {len(names) - limit:,} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more
