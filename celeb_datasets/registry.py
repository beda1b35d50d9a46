"""The datasets this package builds, by the name used on the command line and in exports.

A dataset plugs into the command line, export and publishing by one entry in DATASETS: where its
builder class is, and optionally a module adding its own commands (`add_commands(commands, common)`)
and a function laying out its bundled sample (`make_sample(folder) -> data_dir`). Each builder class
carries what a dataset card needs as class attributes (see celeb_datasets.builder.CelebBuilder).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets

from celeb_datasets.errors import CelebDatasetsError


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Where a dataset's code is: `builder` as "module:Class", its `commands` module, its `sample` function."""

    builder: str
    commands: str | None = None
    sample: str | None = None


DATASETS = {
    "celebv_hq": Dataset(
        "celebv_hq:CelebVHQ", commands="celebv_hq_lib.commands", sample="celebv_hq_lib.sample:make_celebv_hq_sample"
    ),
    "celeba_dialog": Dataset("celeba_dialog:CelebADialog"),
}
BUILDERS = {name: dataset.builder for name, dataset in DATASETS.items()}


def builder_class(name: str) -> type[datasets.DatasetBuilder]:
    """The builder class registered as `name` (e.g. "celebv_hq")."""
    if name not in DATASETS:
        raise CelebDatasetsError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return _load(name, DATASETS[name].builder)


def sample_maker(name: str) -> Callable[[str | Path], Path] | None:
    """The function that lays out dataset `name`'s bundled sample in a folder (None: it has none)."""
    location = DATASETS[name].sample
    return None if location is None else _load(name, location)


def command_module(name: str) -> Any | None:
    """The module adding dataset `name`'s own commands (`add_commands(commands, common)`); None: it has none.
    CelebDatasetsError when the module is not installed."""
    location = DATASETS[name].commands
    return None if location is None else _load(name, f"{location}:")


def installed_datasets() -> tuple[list[str], list[CelebDatasetsError]]:
    """The registered datasets whose builder is installed, in registry order, and an error for each other."""
    installed, missing = [], []
    for name in DATASETS:
        try:
            builder_class(name)
        except CelebDatasetsError as error:
            missing.append(error)
        else:
            installed.append(name)
    return installed, missing


def config_names(name: str) -> list[str]:
    """The config names of the builder registered as `name`, default first."""
    builder = builder_class(name)
    names = [config.name for config in builder.BUILDER_CONFIGS]
    default = builder.DEFAULT_CONFIG_NAME
    return sorted(names, key=lambda config: config != default)


def _load(name: str, location: str) -> Any:
    """The attribute at "module:attribute" (the module itself for "module:")."""
    module_name, attribute = location.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing_itself = error.name is None or f"{module_name}.".startswith(f"{error.name}.")
        if not missing_itself:  # it is there, and imports another module that is not
            raise CelebDatasetsError(
                f"dataset {name!r}: its module {module_name!r} cannot be imported: {error}"
            ) from error
        raise CelebDatasetsError(f"dataset {name!r}: its module {module_name!r} is not installed") from error
    return getattr(module, attribute) if attribute else module
