"""Work items: how an engine other than datasets' own plans a build and makes its rows.

A builder follows the convention when its `_split_generators` gives each split's work in gen_kwargs as

    {"items": [item, ...], "skip_folder": folder, ...anything else, given to every item as it is}

and its `_generate_tables(items, skip_folder, ...)` makes the rows of any run of those items, in order,
each item on its own: the rows of `items[a:b]` are the rows of each item of it, one after the other.
Items must be picklable. Skips are recorded into `skip_folder`, which an engine replaces by a folder of
its own. Then datasets' engine runs `_generate_tables` on all the items of a split (split between
`num_proc` processes), and any other engine can plan with the same `_split_generators` and run
`_generate_tables` on one item per task, anywhere, and give the same rows in the same order.

Both datasets follow it: CelebV-HQ `clips` (an item is a YouTube video's clips, or a one-pass run of
a costly video's: celebv_hq_lib.clips), CelebV-HQ `annotations` (a table of 10,000 clips' labels), and
every CelebA-Dialog config (a shard of 1,000 images, in each of the three splits).

An item may say how much work it is with a `cost` attribute (a number, in any unit the builder likes:
CelebV-HQ's are modelled core-seconds of cutting); engines that schedule start the costliest items first
(`costliest_first`), so that no long item starts last and keeps every other core waiting.

`export_work_items` is all of such an engine but where the items run: it plans, streams the rows of
the items (made by a runner the engine gives, in any order) into the shards in the plan's order,
checks the build's accounting and installs the export. A runner is one function,
`run(builder, plan) -> Iterable[tuple[int, ItemRows]]`, that calls `item_rows(builder, plan, split,
item)` on each of `plan.items()` wherever it likes (a Ray task, a process) and gives back each item's
position in `plan.items()` with its rows, in any order; results that come early wait for their turn
(celeb_datasets.engines.reorder: in memory, or on the export's disk beyond 512 MB).
"""

from __future__ import annotations

import copy
import dataclasses
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa

from celeb_datasets.builder import CelebBuilder
from celeb_datasets.card import ExportedConfig
from celeb_datasets.engines.base import finish_build, item_configs
from celeb_datasets.engines.reorder import PlanOrder
from celeb_datasets.errors import CelebDatasetsError
from celeb_datasets.generation import surfaced
from celeb_datasets.hub import check_export_folder, install_export, registered_name, staging_folder
from celeb_datasets.shards import check_splits_written, write_splits
from celeb_datasets.skips import SkipLog, merge_skip_report, read_skip_report

ITEMS = "items"
SKIP_FOLDER = "skip_folder"


@dataclasses.dataclass(frozen=True)
class SplitWork:
    """One split's work items, in order, and the other gen_kwargs every item is made with."""

    name: str
    items: tuple[Any, ...]
    shared: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class BuildPlan:
    """A planned build: each split's work, and every item (id) the sources name (None: not checked)."""

    splits: tuple[SplitWork, ...]
    expected_items: Sequence[str] | None

    def items(self) -> list[tuple[int, Any]]:
        """Every work item as (its split's index in `splits`, the item), in the plan's order: an item's
        position in this list is where its rows go."""
        return [(index, item) for index, split in enumerate(self.splits) for item in split.items]


def item_cost(item: Any) -> float:
    """How much work an item is, as it says (its `cost`; 0 for an item that does not say)."""
    return float(getattr(item, "cost", 0.0))


def costliest_first(plan: BuildPlan) -> list[int]:
    """The positions of the plan's items, costliest first (longest processing time first); equal costs in
    the plan's order, so a plan whose items name no cost keeps its order."""
    items = plan.items()
    return sorted(range(len(items)), key=lambda position: (-item_cost(items[position][1]), position))


def plan_build(builder: CelebBuilder, skip_folder: Path) -> BuildPlan:
    """Plan a build with the builder's own `_split_generators`; skips found while planning go to `skip_folder`.

    Raises CelebDatasetsError for a builder whose splits do not give their work as items.
    """
    splits = []
    for generator in builder.plan_splits(skip_folder):
        shared = dict(generator.gen_kwargs)
        if ITEMS not in shared:
            # A builder that does not declare the config in CONFIGS_WITHOUT_ITEMS (checked before planning).
            raise CelebDatasetsError(
                f"{builder.PRETTY_NAME} {builder.config.name}: split {generator.name} gives no work items "
                f"(gen_kwargs {sorted(shared)}, expected {ITEMS!r}): only datasets' engine can build it; the configs "
                f"declared to give items: {', '.join(item_configs(builder))}"
            )
        items = tuple(shared.pop(ITEMS))
        splits.append(SplitWork(str(generator.name), items, shared))
    return BuildPlan(tuple(splits), builder.expected_items)


def item_tables(builder: CelebBuilder, split: SplitWork, item: Any, skip_folder: Path) -> Iterator[pa.Table]:
    """The rows of one work item, made by the builder's `_generate_tables`; its skips go to `skip_folder`.

    Raises the package's own errors as they were raised (not wrapped by datasets' generation error).
    """
    gen_kwargs = {**split.shared, ITEMS: [item]}
    if SKIP_FOLDER in gen_kwargs:
        gen_kwargs[SKIP_FOLDER] = str(skip_folder)
    try:
        for _, table in builder._generate_tables(**gen_kwargs):
            yield table
    except datasets.exceptions.DatasetGenerationError as error:
        raise surfaced(error, str(skip_folder)) from None


@dataclasses.dataclass(frozen=True)
class ItemRows:
    """What one work item gave: its split (an index into the plan's splits), its rows, its skip lines."""

    split: int
    rows: pa.Table
    skips: tuple[tuple[str, ...], ...]


def item_rows(builder: CelebBuilder, plan: BuildPlan, split: int, item: Any) -> ItemRows:
    """One work item of split `split` (an index into `plan.splits`) made into rows, with its skip lines.

    Raises the package's own errors as they were raised (under on_missing="error", say).
    """
    with tempfile.TemporaryDirectory(prefix="celeb-datasets-item-") as folder:
        tables = list(item_tables(builder, plan.splits[split], item, Path(folder)))
        report = merge_skip_report(folder, builder.SKIP_REPORT_COLUMNS)
        skips = tuple(tuple(line.values()) for line in read_skip_report(report))
    rows = pa.concat_tables(tables) if tables else builder.info.features.arrow_schema.empty_table()
    return ItemRows(split, rows, skips)


# A runner: every work item of the plan made into rows (each by `item_rows`), given back with its position
# in `plan.items()`, in any order.
Runner = Callable[[CelebBuilder, BuildPlan], Iterable[tuple[int, ItemRows]]]


def export_work_items(builder: CelebBuilder, export_dir: Path, max_bytes: int, run: Runner) -> ExportedConfig:
    """Plan the builder's config (or slice), have `run` make the rows of its work items, and export them.

    The folder is checked first (celeb_datasets.hub.check_export_folder). The rows stream into the shards
    in the plan's order as they come (celeb_datasets.shards; a result that comes before its turn waits,
    celeb_datasets.engines.reorder); the skip lines of planning and of every item make the skip report;
    every item the sources name must be a row or a skip line.
    """
    export_dir = check_export_folder(export_dir, builder)
    name, config_name = registered_name(builder), builder.config.name
    with tempfile.TemporaryDirectory(prefix="celeb-datasets-build-") as work:
        skip_folder = Path(work)
        plan = plan_build(builder, skip_folder)
        row_ids: list[str] = []
        with staging_folder(export_dir, builder) as staging:
            # Results waiting for their turn go beside the shards (the export's disk holds the export anyway).
            waiting = staging / ".waiting"
            in_order = _in_plan_order(run(_runner_copy(builder), plan), len(plan.items()), waiting)
            rows = _recorded(in_order, builder, plan, skip_folder, row_ids)
            split_names = [split.name for split in plan.splits]
            written = write_splits(rows, staging, builder.info.features, max_bytes, builder.config.slice, split_names)
            shutil.rmtree(waiting, ignore_errors=True)  # empty by now; the staging folder must hold only shards
            kept_in = export_dir / f"skip_report.{config_name}.tsv"
            report = finish_build(builder, plan.expected_items, row_ids, skip_folder, kept_in)
            check_splits_written(written, f"{name}/{config_name}", builder.config.slice)
            return install_export(export_dir, builder, staging, report)


def _in_plan_order(results: Iterable[tuple[int, ItemRows]], count: int, folder: Path) -> Iterator[ItemRows]:
    """The runner's results in the plan's order, each exactly once (ValueError for a runner that loses or
    repeats one)."""
    order = PlanOrder(count, folder)
    for position, result in results:
        yield from order.add(position, result)
    order.check_complete()


def _recorded(
    results: Iterable[ItemRows], builder: CelebBuilder, plan: BuildPlan, skip_folder: Path, row_ids: list[str]
) -> Iterator[tuple[str, pa.Table]]:
    """Each item's rows as (split name, rows); its skip lines recorded into `skip_folder`, its row ids kept."""
    skips = SkipLog(skip_folder, builder.SKIP_REPORT_COLUMNS)
    id_column = builder.SKIP_REPORT_COLUMNS[0]
    for result in results:
        skips.add_lines(result.skips)
        row_ids += result.rows.column(id_column).to_pylist()
        yield plan.splits[result.split].name, result.rows


def _runner_copy(builder: CelebBuilder) -> CelebBuilder:
    """The builder as runners get it: without the list of every item's id (the driver's business alone)."""
    copied = copy.copy(builder)
    copied._expected_items = None
    return copied
