"""The engine seam: every config built item by item gives the datasets engine's export, byte for byte.

An in-process runner stands in for a cluster here (tests/test_ray_engine.py runs the same on Ray): it
makes each work item's rows with `item_rows`, as a Ray task does, so every builder and config is
checked against the work-item convention without starting Ray.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pytest
from celeba_dialog_fixtures import make_hq_download, make_standard_download
from celebv_hq_fixtures import write_sample_download
from export_helpers import export_files, run_in_process

from celeb_datasets import engines
from celeb_datasets.card import ExportedConfig
from celeb_datasets.cli import main
from celeb_datasets.engines import DatasetsEngine, DatasetsSettings, EngineSettings
from celeb_datasets.engines.base import check_builds_items
from celeb_datasets.engines.reorder import PlanOrder
from celeb_datasets.engines.work import ItemRows, costliest_first, export_work_items, plan_build
from celeb_datasets.errors import CelebDatasetsError, MissingSourceError, OptionError
from celeb_datasets.hub import export
from celeb_datasets.options import option
from celeba_dialog import CelebADialog
from celebv_hq import CelebVHQ

# Every config of every dataset, with the download fixture it is built from.
CONFIGS = [
    (CelebVHQ, "annotations", "celebv_hq"),
    (CelebVHQ, "clips", "celebv_hq"),
    *((CelebADialog, config, "hq") for config in ("hq", "hq_masks", "hq_labels")),
    *((CelebADialog, config, "standard") for config in ("standard", "standard_labels")),
]


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Downloads with items left out while planning (missing files) and while making rows (damaged files)."""
    folder = tmp_path_factory.mktemp("downloads")
    celebv_hq = write_sample_download(folder / "celebv_hq", with_videos=True)
    (celebv_hq / "processed" / "M2Ohb0FAaJU_1.mp4").unlink()  # missing: found while planning
    (celebv_hq / "processed" / "_0tf2n3rlJU_0.mp4").write_bytes(b"\0" * 512)  # unreadable: found by its item
    hq = make_hq_download(folder / "hq", drop_images=(6,), replace={"image/3.jpg": b"not a jpeg"})
    return {"celebv_hq": celebv_hq, "hq": hq, "standard": make_standard_download(folder / "standard")}


@pytest.mark.parametrize(("builder_class", "config", "download"), CONFIGS, ids=[c for _, c, _ in CONFIGS])
@pytest.mark.parametrize("max_shard_size", ["500MB", 4000])
def test_every_config_built_item_by_item_gives_the_datasets_engine_export(
    builder_class: Any,
    config: str,
    download: str,
    max_shard_size: str | int,
    downloads: dict[str, Path],
    tmp_path: Path,
) -> None:
    def builder() -> Any:
        return builder_class(config_name=config, data_dir=str(downloads[download]), cache_dir=str(tmp_path / "c"))

    settings = DatasetsSettings(max_shard_size=max_shard_size)
    DatasetsEngine().export(builder(), tmp_path / "datasets", settings)
    export_work_items(builder(), tmp_path / "items", settings.max_shard_bytes, run_in_process)
    by_datasets, by_items = export_files(tmp_path / "datasets"), export_files(tmp_path / "items")
    assert list(by_items) == list(by_datasets) and by_items == by_datasets  # shards, card, skip report
    assert any(name.startswith("skip_report.") for name in by_items)


def test_planning_names_the_work_items_and_every_expected_item(downloads: dict[str, Path], tmp_path: Path) -> None:
    builder = CelebADialog(config_name="hq", data_dir=str(downloads["hq"]), cache_dir=str(tmp_path / "c"))
    plan = plan_build(builder, tmp_path / "skips")
    assert [split.name for split in plan.splits] == ["train", "validation", "test"]
    assert [len(split.items) for split in plan.splits] == [1, 1, 1]  # one shard of up to 1,000 images each
    assert sorted(plan.expected_items or ()) == sorted(f"{i}.jpg" for i in (0, 1, 2, 3, 4, 5, 6, 7, 5380))
    assert "skip_folder" in plan.splits[0].shared  # replaced by each item's own folder


def test_an_item_engine_stops_with_the_error_an_item_raised(downloads: dict[str, Path], tmp_path: Path) -> None:
    data_dir = str(downloads["hq"])
    builder = CelebADialog(config_name="hq", data_dir=data_dir, cache_dir=str(tmp_path / "c"), on_missing="error")
    with pytest.raises(CelebDatasetsError, match=r"3\.jpg"):
        export_work_items(builder, tmp_path / "out", 10**9, run_in_process)
    assert not (tmp_path / "out" / "hq").exists()


def test_a_builder_whose_splits_give_no_items_is_refused_by_item_engines(
    downloads: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datasets

    builder = CelebVHQ(config_name="annotations", data_dir=str(downloads["celebv_hq"]), cache_dir=str(tmp_path))
    generators = [datasets.SplitGenerator(name="train", gen_kwargs={"clips": ()})]
    monkeypatch.setattr(builder, "_split_generators", lambda manager: generators)
    with pytest.raises(CelebDatasetsError, match=r"split train gives no work items.*only datasets' engine"):
        plan_build(builder, tmp_path / "skips")


def test_no_usable_item_is_refused_as_by_the_builder(tmp_path: Path) -> None:
    download = write_sample_download(tmp_path / "download")  # labels, but no video at all
    builder = CelebVHQ(config_name="clips", data_dir=str(download), cache_dir=str(tmp_path / "c"))
    with pytest.raises(
        CelebDatasetsError, match=r"0 written, 6 skipped \(6 missing\); skip report: .*\. No row could be built"
    ):
        export_work_items(builder, tmp_path / "out", 10**9, run_in_process)


# ---------------------------------------------------------------------------------------------------
# The registry and the command line


@dataclasses.dataclass(frozen=True)
class RecordingSettings(EngineSettings):
    label: str = option("plain", "a setting of the recording engine")


class RecordingEngine:
    """An engine that records what it was asked, then exports as the datasets engine does."""

    name: ClassVar[str] = "recording"
    description: ClassVar[str] = "records its calls (tests)"
    settings_class: ClassVar[type[EngineSettings]] = RecordingSettings
    calls: ClassVar[list[tuple[str, Any]]] = []

    def export(self, builder: Any, export_dir: Path, settings: Any) -> ExportedConfig:
        self.calls.append((builder.config.name, settings))
        builder.download_and_prepare()
        return export(builder, export_dir, max_shard_size=settings.max_shard_size)


def test_an_engine_added_to_the_registry_is_a_choice_with_its_own_flags(
    downloads: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(engines.ENGINES, "recording", RecordingEngine())
    arguments = ["export", "celebv_hq", "--config", "annotations", "--data-dir", str(downloads["celebv_hq"])]
    arguments += ["--cache-dir", str(tmp_path / "c"), "--output", str(tmp_path / "out"), "--quiet"]
    assert main([*arguments, "--engine", "recording", "--label", "special", "--max-shard-size", "1MB"]) == 0
    assert RecordingEngine.calls == [("annotations", RecordingSettings(max_shard_size="1MB", label="special"))]


def test_a_setting_of_another_engine_is_refused(
    downloads: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["export", "celebv_hq", "--data-dir", str(downloads["celebv_hq"]), "--output", str(tmp_path)]
    assert main([*arguments, "--ray-address", "ray://head:10001", "--quiet"]) == 2
    assert "--ray-address is a setting of --engine ray, not of --engine datasets" in capsys.readouterr().err
    assert main([*arguments, "--engine", "ray", "--num-proc", "2", "--quiet"]) == 2
    assert "--num-proc is a setting of --engine datasets, not of --engine ray" in capsys.readouterr().err


def test_engine_settings_are_checked_when_made() -> None:
    with pytest.raises(OptionError, match="max_shard_size: expected a size such as 500MB"):
        EngineSettings(max_shard_size="lots")
    with pytest.raises(OptionError, match="option num_proc: expected a positive number of processes, found 0"):
        DatasetsSettings(num_proc=0)
    assert DatasetsSettings(max_shard_size="1MB").max_shard_bytes == 10**6


def test_an_unknown_engine_is_an_option_error() -> None:
    with pytest.raises(OptionError, match="no engine 'spark'; the engines: datasets, ray"):
        engines.engine_named("spark")


def test_a_missing_source_found_while_planning_is_raised_as_it_is(tmp_path: Path) -> None:
    builder = CelebVHQ(config_name="clips", data_dir=str(tmp_path / "nothing"), cache_dir=str(tmp_path / "c"))
    with pytest.raises(MissingSourceError, match=r"celebvhq_info\.json not found"):
        export_work_items(builder, tmp_path / "out", 10**9, run_in_process)
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------------
# Items run in any order (costliest first), rows written in the plan's order


def rows_of(position: int) -> ItemRows:
    return ItemRows(0, pa.table({"clip_id": [f"clip{position}"] * (position + 1)}), (("clip", "kind"),))


@pytest.mark.parametrize("memory_bytes", [10**9, 0, 60])
def test_results_in_any_order_come_back_in_the_plans_order_each_once_waiting_on_disk_beyond_the_memory(
    memory_bytes: int, tmp_path: Path
) -> None:
    order = PlanOrder(6, tmp_path / "waiting", memory_bytes=memory_bytes)
    given_back = [
        (result.rows.column(0).to_pylist(), result.skips)
        for arrival in (4, 1, 5, 0, 3, 2)
        for result in order.add(arrival, rows_of(arrival))
    ]
    assert given_back == [([f"clip{position}"] * (position + 1), (("clip", "kind"),)) for position in range(6)]
    order.check_complete()
    assert order.waiting == 0 and (order.spilled > 0) == (memory_bytes < 10**9)
    assert not list((tmp_path / "waiting").glob("*")) if memory_bytes < 10**9 else not (tmp_path / "waiting").exists()


def test_a_result_given_twice_or_never_is_an_error_not_a_duplicate_or_lost_row(tmp_path: Path) -> None:
    order = PlanOrder(3, tmp_path)
    assert len(list(order.add(0, rows_of(0)))) == 1
    with pytest.raises(ValueError, match="work item 0 was given twice"):
        list(order.add(0, rows_of(0)))
    list(order.add(2, rows_of(2)))
    with pytest.raises(ValueError, match="work item 2 was given twice"):
        list(order.add(2, rows_of(2)))
    with pytest.raises(ValueError, match="work item 3 is not in the plan"):
        list(order.add(3, rows_of(3)))
    with pytest.raises(ValueError, match="work item 1 of 3 never came"):
        order.check_complete()


def test_the_costliest_items_come_first_and_items_without_a_cost_keep_the_plans_order(
    downloads: dict[str, Path], tmp_path: Path
) -> None:
    builder = CelebADialog(config_name="hq", data_dir=str(downloads["hq"]), cache_dir=str(tmp_path / "c"))
    plan = plan_build(builder, tmp_path / "skips")
    assert costliest_first(plan) == list(range(len(plan.items())))

    @dataclasses.dataclass(frozen=True)
    class Costly:
        cost: float

    costly = dataclasses.replace(plan.splits[0], items=(Costly(1.0), Costly(5.0), "plain", Costly(5.0)))
    assert costliest_first(dataclasses.replace(plan, splits=(costly,))) == [1, 3, 0, 2]


def test_an_item_engine_asked_for_a_config_without_items_names_the_configs_it_builds(
    downloads: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(CelebVHQ, "CONFIGS_WITHOUT_ITEMS", ("annotations",))
    builder = CelebVHQ(config_name="annotations", data_dir=str(downloads["celebv_hq"]), cache_dir=str(tmp_path))
    expected = (
        "--engine ray cannot build celebv_hq's config 'annotations' (its work does not come as work items); it "
        "builds clips: build 'annotations' with --engine datasets"
    )
    with pytest.raises(OptionError, match=f"^{re.escape(expected)}$"):
        check_builds_items(builder, "ray")
    check_builds_items(
        CelebVHQ(config_name="clips", data_dir=str(downloads["celebv_hq"]), cache_dir=str(tmp_path)), "ray"
    )
