"""The generated parts of the documentation, rendered from the code so that they cannot drift from it.

A Markdown file marks each generated part with two comments, and everything between them is rewritten:

    <!-- generated: celebv_hq known defects -->
    - Emotion segment times carry float noise ...
    <!-- end generated -->

The parts, for every dataset in the registry (by its name, e.g. `celebv_hq`):

- `DATASET configs`: each config, its rows in the full release (`SPLIT_SIZES`) and its description;
- `DATASET features`: each feature, its type, the configs that have it, and `FEATURE_DESCRIPTIONS`;
- `DATASET options`: every option of its configs, from their declarations (`celeb_datasets.options`);
- `DATASET known defects`: `KNOWN_DEFECTS`, which the dataset card lists too;

and `skip kinds` (every dataset's `SKIP_KINDS`) and `options of MODULE:CLASS` (the options any dataclass
declares, e.g. `celebv_hq_lib.download:DownloadSettings`). Prose lives once, in the dataset scripts:
edit it there, then run `celeb-datasets docs` (`--check` writes nothing and exits 1 when a file is stale).
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import datasets

from celeb_datasets.errors import CelebDatasetsError
from celeb_datasets.options import OptionSpec, options_in_order
from celeb_datasets.registry import DATASETS, builder_class
from celeb_datasets.skips import skip_kinds_markdown

BEGIN = re.compile(r"^<!-- generated: (?P<name>.+?) -->$")
END = "<!-- end generated -->"
# The files `celeb-datasets docs` renders by default, relative to the repository root.
DOCUMENTATION_FILES = ("README.md", "docs/*.md")
# Label names longer than this are not listed in a type (CelebA-Dialog's degrees are whole sentences).
_SHORT_LABEL = 20


def documentation_files(root: str | Path = ".") -> list[Path]:
    """README.md and docs/*.md under `root`, those that exist."""
    root = Path(root)
    return sorted({path for pattern in DOCUMENTATION_FILES for path in root.glob(pattern) if path.is_file()})


def render(text: str, source: str = "<text>") -> str:
    """`text` with every generated part rewritten from the code; the rest is kept as it is.

    Raises CelebDatasetsError naming `source` and the line for an unknown part or a part never ended.
    """
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        out.append(line)
        index += 1
        begin = BEGIN.match(line.rstrip("\n"))
        if begin is None:
            continue
        start = index
        # The old content runs to the end line; another begin line first means the end line is missing.
        while index < len(lines) and lines[index].rstrip("\n") != END and not BEGIN.match(lines[index].rstrip("\n")):
            index += 1
        if index == len(lines) or lines[index].rstrip("\n") != END:
            raise CelebDatasetsError(
                f"{source}: line {start}: the generated part {begin['name']!r} has no {END!r} line after it"
            )
        try:
            out.append(generated_part(begin["name"]))
        except CelebDatasetsError as error:
            raise CelebDatasetsError(f"{source}: line {start}: {error}") from None
        out.append(lines[index])
        index += 1
    return "".join(out)


def stale_files(paths: Iterable[str | Path]) -> list[Path]:
    """The files among `paths` whose generated parts differ from what the code gives."""
    stale = []
    for path in paths:
        text = _read(path)
        if render(text, str(path)) != text:
            stale.append(Path(path))
    return stale


def write_docs(paths: Iterable[str | Path]) -> list[Path]:
    """Rewrite the generated parts of `paths`; the files that changed."""
    changed = []
    for path in paths:
        text = _read(path)
        rendered = render(text, str(path))
        if rendered != text:
            Path(path).write_text(rendered, encoding="utf-8")
            changed.append(Path(path))
    return changed


def part_names() -> list[str]:
    """The name of every generated part (but `options of MODULE:CLASS`, which takes any dataclass)."""
    names = [f"{dataset} {part}" for dataset in DATASETS for part in _DATASET_PARTS]
    return [*names, "skip kinds"]


def generated_part(name: str) -> str:
    """The Markdown of the generated part `name` (see the module docstring), ending with a newline."""
    if name == "skip kinds":
        return skip_kinds_markdown({dataset: builder_class(dataset).SKIP_KINDS for dataset in DATASETS})
    if name.startswith("options of "):
        return options_markdown(_dataclass_named(name.removeprefix("options of ")))
    dataset, _, part = name.partition(" ")
    if dataset not in DATASETS or part not in _DATASET_PARTS:
        known = ", ".join(repr(known) for known in part_names())
        raise CelebDatasetsError(f"no generated part is called {name!r}; the parts: {known}, 'options of MODULE:CLASS'")
    return _DATASET_PARTS[part](builder_class(dataset))


# ---------------------------------------------------------------------------------------------------
# The parts.


def configs_markdown(builder: Any) -> str:
    """A table of the builder's configs: name (default marked), rows in the full release, description."""
    sizes = getattr(builder, "SPLIT_SIZES", {}) or {}
    lines = ["| config | rows in the full release | what it holds |", "| --- | --- | --- |"]
    for config in builder.BUILDER_CONFIGS:
        default = " (default)" if config.name == builder.DEFAULT_CONFIG_NAME else ""
        lines.append(f"| `{config.name}`{default} | {_rows(sizes.get(config.name))} | {_cell(config.description)} |")
    return "\n".join(lines) + "\n"


def features_markdown(builder: Any) -> str:
    """A table of every feature of the builder's configs: type, the configs holding it, its description."""
    described = getattr(builder, "FEATURE_DESCRIPTIONS", {}) or {}
    configs = builder.BUILDER_CONFIGS
    features: dict[str, Any] = {}
    holders: dict[str, list[str]] = {}
    for config in configs:
        for name, feature in config.features().items():
            features.setdefault(name, feature)
            holders.setdefault(name, []).append(config.name)
    lines = ["| feature | type | in | what it is |", "| --- | --- | --- | --- |"]
    for name, feature in features.items():
        where = "every config" if len(holders[name]) == len(configs) else ", ".join(f"`{c}`" for c in holders[name])
        lines.append(f"| `{name}` | {_cell(feature_type(feature))} | {where} | {_cell(described.get(name, ''))} |")
    return "\n".join(lines) + "\n"


def builder_options_markdown(builder: Any) -> str:
    """The options of the builder's configs: those fixed by each config's name, then every other one."""
    fixed = builder.defining_options()
    lines = []
    if fixed:
        values = "; ".join(
            f"`{config.name}`: " + ", ".join(f"{name}={_value(getattr(config, name))}" for name in fixed)
            for config in builder.BUILDER_CONFIGS
        )
        lines += [f"Fixed by the config's name (choose another config to change them): {values}.", "", ""]
    return "\n".join(lines) + options_markdown(builder.BUILDER_CONFIG_CLASS, leave_out=fixed)


def options_markdown(declaring: type, leave_out: Sequence[str] = ()) -> str:
    """A table of the options `declaring` declares: flag, type, default, whether it changes the rows, help."""
    lines = [
        "| option | flag | type | default | changes the rows | what it does |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for spec in options_in_order(declaring):
        if spec.name in leave_out:
            continue
        flags = ", ".join(f"`{flag}`" for flag in (spec.flag, *("--" + a.replace("_", "-") for a in spec.aliases)))
        rows = "yes" if spec.defines_rows else "no"
        lines.append(
            f"| `{spec.name}` | {flags} | {_cell(option_type(spec))} | {_cell(_value(spec.default))} | {rows} "
            f"| {_cell(spec.help)} |"
        )
    return "\n".join(lines) + "\n"


def known_defects_markdown(builder: Any) -> str:
    """The builder's KNOWN_DEFECTS as a Markdown list (the dataset card lists the same)."""
    return "".join(f"- {defect}\n" for defect in getattr(builder, "KNOWN_DEFECTS", ()))


_DATASET_PARTS = {
    "configs": configs_markdown,
    "features": features_markdown,
    "options": builder_options_markdown,
    "known defects": known_defects_markdown,
}


# ---------------------------------------------------------------------------------------------------
# Types and values in words.


def feature_type(feature: Any) -> str:
    """A short description of a feature's type: `string`, `struct of 40 bool: blurry, ...`, `list of {...}`."""
    if isinstance(feature, datasets.ClassLabel):
        if all(len(label) <= _SHORT_LABEL for label in feature.names):
            return f"class label ({', '.join(feature.names)})"
        return f"class label ({feature.num_classes} names)"
    if isinstance(feature, datasets.Value):
        return feature.dtype
    if isinstance(feature, (datasets.Video, datasets.Image)):
        return type(feature).__name__ + ("" if feature.decode else " (not decoded: {bytes, path})")
    if isinstance(feature, dict):
        types = {feature_type(value) for value in feature.values()}
        if len(types) == 1:
            return f"struct of {len(feature)} {types.pop()}: {', '.join(feature)}"
        return "{" + "; ".join(f"{key}: {feature_type(value)}" for key, value in feature.items()) + "}"
    if isinstance(feature, (datasets.List, datasets.LargeList)):
        return f"list of {feature_type(feature.feature)}"
    return type(feature).__name__


def option_type(spec: OptionSpec) -> str:
    """An option's type in a few words: `bool`, `int or none`, `"skip" or "error"`, `I/N ...`."""
    return _type(spec.kind)


def _type(kind: Any) -> str:
    origin = typing.get_origin(kind)
    if origin is Literal:
        return " or ".join(f'"{choice}"' for choice in typing.get_args(kind))
    if origin in (typing.Union, type(int | None)):
        return " or ".join(_type(choice) for choice in typing.get_args(kind))
    if kind is type(None):
        return "none"
    return getattr(kind, "TEXT_FORM", None) or getattr(kind, "__name__", str(kind))


def _value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def _rows(sizes: dict[str, int | None] | None) -> str:
    if not sizes:
        return ""
    if any(count is None for count in sizes.values()):
        return "depends on your download"
    if len(sizes) == 1:
        return f"{next(iter(sizes.values())):,}"
    total = sum(count or 0 for count in sizes.values())
    return f"{total:,}: " + " / ".join(f"{split} {count:,}" for split, count in sizes.items())


def _cell(text: str) -> str:
    """Text for a Markdown table cell: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _dataclass_named(location: str) -> type:
    module_name, _, class_name = location.partition(":")
    try:
        declaring = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError):
        raise CelebDatasetsError(f"options of {location!r}: expected MODULE:CLASS of an importable dataclass") from None
    if not dataclasses.is_dataclass(declaring):
        raise CelebDatasetsError(f"options of {location!r}: {class_name} is not a dataclass of options")
    return declaring


def _read(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise CelebDatasetsError(f"{path}: cannot be read ({error.strerror or error})") from None
