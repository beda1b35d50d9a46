"""The datasets this package builds, by the name used on the command line and in exports.

A new builder plugs into the command line, export and publishing by one entry here. Each builder
class carries what a dataset card needs as class attributes: DESCRIPTION, CITATION, HOMEPAGE,
LICENSE and KNOWN_DEFECTS (a tuple of sentences).
"""

from __future__ import annotations

import importlib

import datasets

from celeb_datasets.errors import CelebDatasetsError

BUILDERS = {
    "celebv_hq": "celebv_hq:CelebVHQ",
    "celeba_dialog": "celeba_dialog:CelebADialog",
}


def builder_class(name: str) -> type[datasets.DatasetBuilder]:
    """The builder class registered as `name` (e.g. "celebv_hq")."""
    if name not in BUILDERS:
        raise CelebDatasetsError(f"unknown dataset {name!r}; known: {', '.join(BUILDERS)}")
    module_name, class_name = BUILDERS[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise CelebDatasetsError(f"dataset {name!r}: its builder module {module_name!r} is not installed") from error
    return getattr(module, class_name)


def config_names(name: str) -> list[str]:
    """The config names of the builder registered as `name`, default first."""
    builder = builder_class(name)
    names = [config.name for config in builder.BUILDER_CONFIGS]
    default = builder.DEFAULT_CONFIG_NAME
    return sorted(names, key=lambda config: config != default)
