"""Skip reports: what a build left out and why, written as it happens and summed up at the end.

Skipping is right for data that is normally missing (a YouTube video taken down); it is never silent.
Each worker process appends to its own part file in the report folder, so `num_proc` needs no locks;
`merge_skip_report` joins the parts into one TSV and returns a one-line summary.
"""

from __future__ import annotations

import csv
import logging
import os
import shutil
from collections import Counter
from pathlib import Path

logger = logging.getLogger("celeb_datasets")

SKIP_REPORT_FILE = "skip_report.tsv"
_PARTS_FOLDER = "skip_report_parts"


def skip_category(reason: str) -> str:
    """The kind of a skip: its reason up to the first colon ("missing", "unreadable", ...)."""
    return reason.split(":", 1)[0]


class SkipLog:
    """Records skipped items of one build into a report folder (None: log only, e.g. when streaming)."""

    def __init__(self, folder: str | os.PathLike[str] | None, columns: tuple[str, ...]) -> None:
        self.folder = None if folder is None else Path(folder)
        self.columns = columns

    def record(self, *values: str) -> None:
        """Record one skipped item: one value per column, the last being the reason."""
        if len(values) != len(self.columns):
            raise ValueError(f"a skip has the columns {self.columns}, got {values}")
        logger.info("skipped %s", ", ".join(f"{c}={v}" for c, v in zip(self.columns, values, strict=True)))
        if self.folder is None:
            return
        parts = self.folder / _PARTS_FOLDER
        parts.mkdir(parents=True, exist_ok=True)
        with open(parts / f"{os.getpid()}.tsv", "a", newline="", encoding="utf-8") as part:
            csv.writer(part, delimiter="\t", lineterminator="\n").writerow(values)


def merge_skip_report(folder: str | os.PathLike[str], columns: tuple[str, ...]) -> tuple[Path, Counter[str]]:
    """Join the part files under `folder` into `folder/skip_report.tsv`, sorted; count skips by kind."""
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
    return report, Counter(skip_category(row[-1]) for row in rows)


def finish_skip_report(folder: str | os.PathLike[str], columns: tuple[str, ...]) -> tuple[Path, Counter[str]]:
    """The build's skip report in `folder` and its counts by kind, after `download_and_prepare`.

    A build that just ran left part files: they are merged. A build served from the cache left its
    merged report (a prepared folder is replaced whole when it is built again): it is read.
    """
    folder = Path(folder)
    report = folder / SKIP_REPORT_FILE
    if (folder / _PARTS_FOLDER).exists() or not report.exists():
        return merge_skip_report(folder, columns)
    return report, Counter(skip_category(row[columns[-1]]) for row in read_skip_report(report))


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


def summarize_skips(what: str, written: int, counts: Counter[str], report: Path) -> str:
    """One line: how many items were written and skipped, by kind, and where the report is."""
    skipped = sum(counts.values())
    if not skipped:
        return f"{what}: {written:,} written, none skipped"
    return f"{what}: {written:,} written, {skipped:,} skipped ({count_by_kind(counts)}); skip report: {report}"


def count_by_kind(counts: Counter[str]) -> str:
    """ "3 missing, 1 unreadable": the most frequent kind first, ties by name."""
    return ", ".join(f"{n:,} {kind}" for kind, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])))
