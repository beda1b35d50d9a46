"""The private parts of `datasets` the builder base relies on (celeb_datasets/datasets_internals.py).

If one of these fails after upgrading datasets, adapt datasets_internals.py (and only it).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path

import datasets
import pytest
from celebv_hq_fixtures import write_sample_download
from datasets.builder import ArrowBasedBuilder, DatasetBuilder
from datasets.exceptions import DatasetGenerationError

from celeb_datasets import datasets_internals
from celebv_hq import CelebVHQ


class PlainBuilder(datasets.GeneratorBasedBuilder):
    """A builder of datasets' own kind that overrides none of the private names (ours overrides some)."""

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(features=datasets.Features({"number": datasets.Value("int64")}))

    def _split_generators(self, dl_manager: datasets.DownloadManager) -> list[datasets.SplitGenerator]:
        return []

    def _generate_examples(self) -> Iterator[tuple[int, dict[str, int]]]:
        yield from ()


@pytest.mark.parametrize("name", datasets_internals.PRIVATE_NAMES)
def test_each_private_name_is_still_datasets_own(tmp_path: Path, name: str) -> None:
    # Checked on datasets' classes and a builder of datasets' own: on CelebVHQ, a name the package defines
    # itself (it overrides `_download_and_prepare`) would be found even after datasets dropped it.
    builder = PlainBuilder(cache_dir=str(tmp_path / "cache"))
    from_datasets = [cls for cls in type(builder).__mro__ if cls.__module__.split(".")[0] == "datasets"]
    assert name in vars(builder) or any(name in vars(cls) for cls in from_datasets), (
        f"datasets {datasets.__version__} no longer has DatasetBuilder.{name}"
    )


def test_download_and_prepare_step_keeps_its_signature() -> None:
    parameters = list(inspect.signature(DatasetBuilder._download_and_prepare).parameters)
    assert parameters[:3] == ["self", "dl_manager", "verification_mode"], parameters


def test_the_split_step_of_each_worker_is_a_generator_of_datasets_arrow_builder() -> None:
    # The builder base overrides it (in every worker) to carry the writer's errors out intact.
    step = ArrowBasedBuilder._prepare_split_single
    assert inspect.isgeneratorfunction(step)
    assert list(inspect.signature(step).parameters)[:2] == ["self", "gen_kwargs"]


def test_the_output_dir_is_the_cache_dir_outside_a_build(tmp_path: Path) -> None:
    builder = CelebVHQ(data_dir=str(tmp_path), cache_dir=str(tmp_path / "cache"))
    assert datasets_internals.output_dir(builder) == builder.cache_dir


def test_while_preparing_the_output_dir_is_the_incomplete_folder_and_the_prepared_dir_the_cache_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = []
    real = CelebVHQ._split_generators

    def spying(self: CelebVHQ, dl_manager: datasets.DownloadManager) -> list[datasets.SplitGenerator]:
        seen.append((datasets_internals.output_dir(self), datasets_internals.prepared_dir(self)))
        return real(self, dl_manager)

    monkeypatch.setattr(CelebVHQ, "_split_generators", spying)
    builder = CelebVHQ(data_dir=str(write_sample_download(tmp_path / "download")), cache_dir=str(tmp_path / "cache"))
    builder.download_and_prepare()
    assert seen == [(builder.cache_dir + datasets_internals.INCOMPLETE_SUFFIX, builder.cache_dir)]


def test_a_generation_error_from_a_generator_is_re_raised_as_it_is() -> None:
    # The carrier of the package's errors relies on this branch of datasets' split preparation.
    source = inspect.getsource(ArrowBasedBuilder._prepare_split_single)
    assert "isinstance(e, DatasetGenerationError)" in source
    assert issubclass(DatasetGenerationError, Exception)
