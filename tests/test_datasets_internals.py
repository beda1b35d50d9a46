"""The private parts of `datasets` the builder base relies on (celeb_datasets/datasets_internals.py).

If one of these fails after upgrading datasets, adapt datasets_internals.py (and only it).
"""

from __future__ import annotations

import inspect
from pathlib import Path

import datasets
import pytest
from datasets.builder import ArrowBasedBuilder, DatasetBuilder
from datasets.exceptions import DatasetGenerationError

from celeb_datasets import datasets_internals
from celebv_hq import CelebVHQ


@pytest.mark.parametrize("name", datasets_internals.PRIVATE_NAMES)
def test_each_private_name_still_exists(tmp_path: Path, name: str) -> None:
    builder = CelebVHQ(data_dir=str(tmp_path), cache_dir=str(tmp_path / "cache"))
    assert hasattr(builder, name), f"datasets {datasets.__version__} no longer has DatasetBuilder.{name}"


def test_download_and_prepare_step_keeps_its_signature() -> None:
    parameters = list(inspect.signature(DatasetBuilder._download_and_prepare).parameters)
    assert parameters[:3] == ["self", "dl_manager", "verification_mode"], parameters


def test_the_output_dir_is_the_cache_dir_outside_a_build(tmp_path: Path) -> None:
    builder = CelebVHQ(data_dir=str(tmp_path), cache_dir=str(tmp_path / "cache"))
    assert datasets_internals.output_dir(builder) == builder.cache_dir


def test_a_generation_error_from_a_generator_is_re_raised_as_it_is() -> None:
    # The carrier of the package's errors relies on this branch of datasets' split preparation.
    source = inspect.getsource(ArrowBasedBuilder._prepare_split_single)
    assert "isinstance(e, DatasetGenerationError)" in source
    assert issubclass(DatasetGenerationError, Exception)
