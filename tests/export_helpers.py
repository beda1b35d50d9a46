"""Helpers for comparing exports made by different engines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from celeb_datasets.engines.work import BuildPlan, ItemRows, costliest_first, item_rows


def export_files(folder: Path) -> dict[str, bytes]:
    """Every file of an export folder that is published or kept (not its lock), by relative path."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and ".celeb_datasets" not in path.relative_to(folder).parts
    }


def run_in_process(builder: Any, plan: BuildPlan) -> Iterator[tuple[int, ItemRows]]:
    """A runner making every work item here, one after the other, as a cluster's tasks would."""
    for position, (split, item) in enumerate(plan.items()):
        yield position, item_rows(builder, plan, split, item)


def run_costliest_first(builder: Any, plan: BuildPlan) -> Iterator[tuple[int, ItemRows]]:
    """A runner making the costliest items first, so that results come out of the plan's order."""
    items = plan.items()
    for position in costliest_first(plan):
        split, item = items[position]
        yield position, item_rows(builder, plan, split, item)
