"""The dataset card (`README.md`) of an export folder, written from the builder and the exported data.

The card is a function of the folder: its YAML lists every config found there (data files, features,
splits) and its body explains every feature and shows attribute frequency tables computed from the
Parquet shards. Nothing here names a dataset's fields: what a card says about a dataset comes from the
builder class (DESCRIPTION, CITATION, HOMEPAGE, LICENSE, KNOWN_DEFECTS, the configs' descriptions, and
optionally PRETTY_NAME, LICENSE_NAME, TASK_CATEGORIES, TAGS and FEATURE_DESCRIPTIONS, a mapping of
feature name to one sentence) and from the features themselves, so a new builder needs no card code.

The card also says what the export holds of the release (`Availability`: rows, items left out by skip
kind, the slices present), from the builder's release size (RELEASE_SIZES, else SPLIT_SIZES) and the
export's skip report; celeb_datasets.hub computes it.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from huggingface_hub import DatasetCard, DatasetCardData

from celeb_datasets import datasets_internals
from celeb_datasets.registry import DATASETS
from celeb_datasets.shards import local_file

# `{split}-NNNNN-of-NNNNN.parquet`; an export of slice I of N names its shards `{split}-sliceIIIIIofNNNNN-...`.
SHARD_NAME = re.compile(
    r"^(?P<split>\w+)-(?:slice(?P<slice>\d{5})of(?P<slices>\d{5})-)?(?P<index>\d{5})-of-(?P<count>\d{5})\.parquet$"
)
CARD_FILE = "README.md"
# The Hub's size buckets, by the largest config's row count.
_SIZE_CATEGORIES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
)


@dataclasses.dataclass(frozen=True)
class ExportedSplit:
    """One split of an exported config: its shards in order, rows, and sizes in bytes."""

    name: str
    shards: tuple[Path, ...]
    num_examples: int
    num_bytes: int
    file_bytes: int


@dataclasses.dataclass(frozen=True)
class Availability:
    """What an exported config holds of the release, and why the rest is not there.

    `rows` were exported; `left_out` counts the items left out by skip kind and `kept` the skip-report
    lines of rows kept with a value listed (both from the export's merged skip report); `release_items`
    is how many items the full release has for the config (None: the builder does not say). An export
    in slices has `slice_count` and the `slices_present`; items of absent slices are counted nowhere.
    """

    rows: int
    left_out: dict[str, int]
    kept: dict[str, int]
    release_items: int | None
    slice_count: int | None = None
    slices_present: tuple[int, ...] = ()

    @property
    def named(self) -> int:
        """Items the sources of the exported builds name (every one is a row or left out)."""
        return self.rows + sum(self.left_out.values())

    @property
    def slices_absent(self) -> tuple[int, ...]:
        if self.slice_count is None:
            return ()
        return tuple(index for index in range(self.slice_count) if index not in self.slices_present)

    @property
    def partial(self) -> bool:
        """Whether slices of the config are absent (the export holds only part of what its sources name)."""
        return bool(self.slices_absent)

    def slices_text(self) -> str:
        """ "slices 0, 2 of 3 (absent: 1)", "slices 0 to 2 of 3" ("" for a whole export)."""
        if self.slice_count is None:
            return ""
        if not self.partial:
            return f"slices 0 to {self.slice_count - 1} of {self.slice_count}"
        present = ", ".join(map(str, self.slices_present)) or "none"
        return f"slices {present} of {self.slice_count} (absent: {', '.join(map(str, self.slices_absent))})"

    def to_yaml(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "rows": self.rows,
            "left_out": dict(self.left_out),
            "kept": dict(self.kept),
            "release_items": self.release_items,
        }
        if self.slice_count is not None:
            entry["slices"] = {"count": self.slice_count, "present": list(self.slices_present)}
        return entry

    @classmethod
    def from_yaml(cls, entry: Any) -> Availability | None:
        """An Availability from `to_yaml`'s form; None for anything else (a card this package did not write)."""
        try:
            slices = entry.get("slices") or {}
            return cls(
                int(entry["rows"]),
                {str(kind): int(count) for kind, count in (entry.get("left_out") or {}).items()},
                {str(kind): int(count) for kind, count in (entry.get("kept") or {}).items()},
                None if entry.get("release_items") is None else int(entry["release_items"]),
                None if not slices else int(slices["count"]),
                tuple(int(index) for index in slices.get("present", ())) if slices else (),
            )
        except (AttributeError, KeyError, TypeError, ValueError):
            return None


@dataclasses.dataclass(frozen=True)
class ExportedConfig:
    """One config folder of an export: features (from the shards' own schema), splits, and, when known,
    what it holds of the release."""

    name: str
    features: datasets.Features
    splits: tuple[ExportedSplit, ...]
    availability: Availability | None = None

    @property
    def num_examples(self) -> int:
        return sum(split.num_examples for split in self.splits)

    @property
    def has_shards_at_hand(self) -> bool:
        """Whether its shards are here to read (not so for a config described by a repo's card alone)."""
        return any(split.shards for split in self.splits)


def read_exported_config(folder: Path, shards: Iterable[str] | None = None) -> ExportedConfig:
    """Describe the config folder `folder` from its Parquet shards' metadata (no row is read).

    `shards` names the shards (default: every file named like one); FileNotFoundError when there is none.
    """
    names = sorted(path.name for path in folder.glob("*.parquet")) if shards is None else sorted(shards)
    by_split: dict[str, list[Path]] = {}
    for name in names:
        match = SHARD_NAME.match(name)
        if match:
            by_split.setdefault(match["split"], []).append(folder / name)
    if not by_split:
        raise FileNotFoundError(f"{folder} holds no {{split}}-NNNNN-of-NNNNN.parquet shard")
    splits = []
    features = None
    for split, shards in by_split.items():
        rows = num_bytes = file_bytes = 0
        for shard in shards:
            with local_file(shard) as source:
                metadata = pq.read_metadata(source)
            rows += metadata.num_rows
            num_bytes += sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
            file_bytes += shard.stat().st_size
            # The `huggingface` schema metadata written with the shard holds the exact features.
            features = features or datasets.Features.from_arrow_schema(metadata.schema.to_arrow_schema())
        splits.append(ExportedSplit(split, tuple(shards), rows, num_bytes, file_bytes))
    assert features is not None
    return ExportedConfig(folder.name, features, tuple(splits))


def exported_configs(export_dir: Path) -> dict[str, ExportedConfig]:
    """Every config folder of an export folder, by name."""
    configs = {}
    for folder in sorted(path for path in export_dir.iterdir() if path.is_dir() and not path.name.startswith(".")):
        if any(SHARD_NAME.match(path.name) for path in folder.glob("*.parquet")):
            configs[folder.name] = read_exported_config(folder)
    return configs


def configs_in_card(card_text: str) -> dict[str, ExportedConfig]:
    """The configs a card's YAML describes (features, split sizes), without shards: what a repo already
    holds. Entries that are not ours to read (no features or no splits) are left out."""
    data = DatasetCard(card_text).data.to_dict()
    entries = data.get("dataset_info") or []
    held = data.get(AVAILABILITY_KEY) if isinstance(data.get(AVAILABILITY_KEY), dict) else {}
    configs = {}
    for entry in [entries] if isinstance(entries, dict) else entries:
        if not entry.get("features") or not entry.get("config_name"):
            continue
        info = datasets_internals.info_from_yaml(dict(entry))
        # The card gives file sizes per config only: the first split carries them.
        split_infos = list((info.splits or {}).values())
        file_bytes = [info.download_size or 0] + [0] * (len(split_infos) - 1)
        splits = tuple(
            ExportedSplit(split.name, (), split.num_examples, split.num_bytes, size)
            for split, size in zip(split_infos, file_bytes, strict=False)
        )
        if splits:  # a config without splits has no data files to list
            name = entry["config_name"]
            configs[name] = ExportedConfig(name, info.features, splits, Availability.from_yaml(held.get(name)))
    return configs


@dataclasses.dataclass(frozen=True)
class CardPart:
    """One dataset's share of a card: its registry name, its builder class and its configs."""

    dataset_name: str
    builder: type[datasets.DatasetBuilder]
    configs: dict[str, ExportedConfig]


# The card's YAML key naming each dataset's configs, so a repo holding several datasets is described whole.
DATASETS_KEY = "celeb_datasets"
# The card's YAML key holding each config's Availability, so publishing keeps it for configs not sent again.
AVAILABILITY_KEY = "celeb_datasets_availability"


def write_card(
    export_dir: Path,
    builder: type[datasets.DatasetBuilder],
    dataset_name: str,
    repo_id: str | None = None,
    *,
    configs: dict[str, ExportedConfig] | None = None,
    path: Path | None = None,
    others: Sequence[CardPart] = (),
) -> Path:
    """Write the card of `configs` (default: every config in `export_dir`) to `path` (default: the
    folder's README.md); examples use `repo_id` when known. `others` are other datasets the same repo
    holds: the card then describes each (description, configs, fields, terms and citation)."""
    configs = exported_configs(export_dir) if configs is None else configs
    path = export_dir / CARD_FILE if path is None else path
    path.write_text(card_text(builder, dataset_name, configs, repo_id, others=others), encoding="utf-8")
    return path


def card_text(
    builder: type[datasets.DatasetBuilder],
    dataset_name: str,
    configs: dict[str, ExportedConfig],
    repo_id: str | None = None,
    *,
    others: Sequence[CardPart] = (),
) -> str:
    """The card `write_card` writes: YAML and body for `configs` of `dataset_name` and the `others`."""
    # In the registry's order, so the repo's default config does not depend on which dataset came last.
    order = list(DATASETS)
    parts = sorted(
        [CardPart(dataset_name, builder, configs), *others],
        key=lambda part: order.index(part.dataset_name) if part.dataset_name in order else len(order),
    )
    return str(DatasetCard(f"---\n{card_data(parts).to_yaml()}\n---\n\n{card_body(parts, repo_id)}"))


def card_data(parts: Sequence[CardPart]) -> DatasetCardData:
    """The card's YAML: license, task, tags, size, and `configs` + `dataset_info` for every config."""
    first = parts[0]
    default = _default_config(first)
    config_entries = []
    info_entries = []
    held = {}
    for part in parts:
        descriptions = {config.name: config.description or "" for config in part.builder.BUILDER_CONFIGS}
        for name, config in part.configs.items():
            entry: dict[str, Any] = {"config_name": name}
            description = config_description(descriptions.get(name, ""), config.availability)
            if description:  # datasets gives it as the builder's `config.description` when the folder is loaded
                entry["description"] = description
            entry["data_files"] = [{"split": split.name, "path": f"{name}/{split.name}-*"} for split in config.splits]
            if config.availability is not None:
                held[name] = config.availability.to_yaml()
            if name == default:
                entry["default"] = True
            config_entries.append(entry)
            info = datasets.DatasetInfo(
                config_name=name,
                features=config.features,
                splits=datasets.SplitDict(),
                download_size=sum(split.file_bytes for split in config.splits),
                dataset_size=sum(split.num_bytes for split in config.splits),
            )
            for split in config.splits:
                info.splits.add(
                    datasets.SplitInfo(split.name, num_bytes=split.num_bytes, num_examples=split.num_examples)
                )
            info_entries.append(datasets_internals.info_to_yaml(info))
    largest = max(config.num_examples for part in parts for config in part.configs.values())
    categories: dict[str, None] = {}
    for part in parts:
        categories.update(
            dict.fromkeys(getattr(part.builder, "TASK_CATEGORIES", None) or _task_categories(part.configs))
        )
    data = DatasetCardData(
        pretty_name=" and ".join(pretty_name(part.builder) for part in parts),
        license="other",
        license_name="-and-".join(_license_name(part.builder) for part in parts),
        license_link=getattr(first.builder, "HOMEPAGE", None),
        task_categories=list(categories),
        tags=sorted({"faces", *(tag for part in parts for tag in getattr(part.builder, "TAGS", ()))}),
        size_categories=[next((label for limit, label in _SIZE_CATEGORIES if largest < limit), "n>10M")],
        configs=config_entries,
        dataset_info=info_entries,
    )
    if len(parts) > 1:
        setattr(data, DATASETS_KEY, {part.dataset_name: list(part.configs) for part in parts})
    if held:
        setattr(data, AVAILABILITY_KEY, held)
    return data


def config_description(description: str, availability: Availability | None) -> str:
    """A config's description for the card's YAML: a partial export in slices says so first."""
    if availability is None or not availability.partial:
        return description
    return f"PARTIAL: only {availability.slices_text()}. {description}".strip()


def release_items(builder: type[datasets.DatasetBuilder], config_name: str) -> int | None:
    """How many items the full release has for the config: the builder's RELEASE_SIZES ({config: {split:
    count}}), else its SPLIT_SIZES when they give every split's count; None when neither says."""
    for sizes in (getattr(builder, "RELEASE_SIZES", None) or {}, getattr(builder, "SPLIT_SIZES", None) or {}):
        counts = sizes.get(config_name)
        if counts and all(isinstance(count, int) for count in counts.values()):
            return sum(counts.values())
    return None


def datasets_in_card(card_text: str) -> dict[str, list[str]]:
    """Which configs of a card belong to which dataset, as its YAML says ({} for a one-dataset card)."""
    described = DatasetCard(card_text).data.to_dict().get(DATASETS_KEY) or {}
    if not isinstance(described, dict):
        return {}
    return {str(name): [str(config) for config in configs or ()] for name, configs in described.items()}


def _default_config(part: CardPart) -> str:
    default = part.builder.DEFAULT_CONFIG_NAME
    return default if default in part.configs else next(iter(part.configs))


def _license_name(builder: type[datasets.DatasetBuilder]) -> str:
    return getattr(builder, "LICENSE_NAME", None) or _slug(pretty_name(builder)) + "-license"


def pretty_name(builder: type[datasets.DatasetBuilder]) -> str:
    """The dataset's display name: PRETTY_NAME, else the builder module's title (`Name: ...`)."""
    explicit = getattr(builder, "PRETTY_NAME", None)
    if explicit:
        return explicit
    module_doc = (sys.modules[builder.__module__].__doc__ or "").strip()
    title, separator, _ = module_doc.partition(":")
    return title.strip() if separator and "\n" not in title else builder.__name__


def card_body(parts: Sequence[CardPart], repo_id: str | None) -> str:
    """The card's Markdown below the YAML: one dataset's sections, or one part per dataset the repo holds."""
    # The repo's one default config (the YAML's `default: true`): the first dataset's.
    repo_default = _default_config(parts[0])
    if len(parts) == 1:
        return "\n".join(dataset_sections(parts[0], repo_id, level=1, repo_default=repo_default)) + "\n"
    names = [pretty_name(part.builder) for part in parts]
    lines = [
        f"# {' and '.join(names)}",
        "",
        f"This repository holds {len(parts)} datasets, each under its own terms: "
        + "; ".join(
            f"{name} (configs {', '.join(f'`{c}`' for c in part.configs)})"
            for name, part in zip(names, parts, strict=True)
        )
        + ". Each is described below.",
    ]
    for part in parts:
        lines += [
            "",
            *dataset_sections(part, repo_id, level=2, repo_default=repo_default if part is parts[0] else None),
        ]
    return "\n".join(lines) + "\n"


def dataset_sections(part: CardPart, repo_id: str | None, level: int, repo_default: str | None = None) -> list[str]:
    """One dataset's description, configs, usage, fields, label frequencies, defects, terms and citation;
    its title at heading `level` (1 for a one-dataset card), its sections one level below. Its config
    `repo_default` (None: another dataset's) is marked as the repo's default."""
    builder, dataset_name, configs = part.builder, part.dataset_name, part.configs
    title, section = "#" * level, "#" * (level + 1)
    name = pretty_name(builder)
    where = repo_id or f"<your-name>/{_slug(name)}"
    default = _default_config(part)  # the config the examples load
    descriptions = {config.name: config.description for config in builder.BUILDER_CONFIGS}
    lines = [f"{title} {name}", "", _text(getattr(builder, "DESCRIPTION", "")), ""]
    homepage = getattr(builder, "HOMEPAGE", None)
    if homepage:
        lines += [f"Homepage: {homepage}", ""]
    lines += [
        f"Built by the `celeb-datasets` package (`celeb-datasets export {dataset_name}`) from the original "
        "release, which is used under its own terms (see below).",
        "",
        f"{section} Configs",
        "",
        "| config | what it holds | rows per split |",
        "| --- | --- | --- |",
    ]
    for config in configs.values():
        rows = ", ".join(f"{split.name} {split.num_examples:,}" for split in config.splits)
        marker = " (default)" if config.name == repo_default else ""
        description = config_description(descriptions.get(config.name) or "", config.availability)
        lines.append(f"| `{config.name}`{marker} | {description} | {rows} |")
    held = [config for config in configs.values() if config.availability is not None]
    if held:
        lines += ["", f"{section} Availability", ""]
        lines += [availability_line(config.name, config.availability, builder) for config in held]
        if any(config.availability and config.availability.left_out for config in held):
            lines += [
                "",
                "The export folder's `skip_report.{config}.tsv` lists every item left out with its reason "
                "(it is not published).",
            ]
    lines += ["", *_usage(where, configs, default, section), "", f"{section} Fields", ""]
    lines += _field_lines(builder, configs)
    for config in configs.values():
        if not config.has_shards_at_hand:
            lines += [
                "",
                f"{section} Label frequencies in `{config.name}`",
                "",
                _NOT_RECOUNTED.format(config=config.name),
            ]
            continue
        tables = frequency_tables(config)
        if tables:
            lines += ["", f"{section} Label frequencies in `{config.name}`", ""]
            lines.append(f"Computed from the {config.num_examples:,} exported rows (all splits).")
            for table in tables:
                lines += ["", *table.markdown()]
    defects = getattr(builder, "KNOWN_DEFECTS", ())
    if defects:
        lines += ["", f"{section} Known defects of the annotations", "", *(f"- {defect}" for defect in defects)]
    license_text = getattr(builder, "LICENSE", "")
    if license_text:
        lines += ["", f"{section} License and terms of use", "", _text(license_text)]
    citation = getattr(builder, "CITATION", "")
    if citation:
        lines += ["", f"{section} Citation", "", "```bibtex", citation.strip(), "```"]
    return lines


# A config kept on the Hub as it was when another is published: its rows are not at hand to count.
_NOT_RECOUNTED = (
    "Not shown: this card was written when other configs were published, and `{config}` was kept on the Hub as "
    "it was, without its rows at hand to count them. Publish `{config}` again to have its tables here."
)


def availability_line(config_name: str, availability: Availability, builder: type[datasets.DatasetBuilder]) -> str:
    """One line of the card's Availability section: how many of the release's items the config holds, the
    slices present, and by skip kind why the others are left out."""
    columns = getattr(builder, "SKIP_REPORT_COLUMNS", None) or ("item_id",)
    items = columns[0].removesuffix("_id") + "s"  # clip_id: clips, image_id: images
    release = availability.release_items
    line = f"- `{config_name}`: "
    if availability.partial:
        line += f"**partial**, only {availability.slices_text()}: the {items} of absent slices are counted nowhere. "
    if release is not None and not availability.partial and availability.named == release:
        if availability.rows == release:
            line += f"all {release:,} {items} of the release"
        else:
            line += f"{availability.rows:,} of the release's {release:,} {items} ({availability.rows / release:.1%})"
    else:
        sources = "the slices present name" if availability.partial else "the sources name"
        line += f"{availability.rows:,} of the {availability.named:,} {items} {sources}"
        line += "" if release is None else f" (the release has {release:,})"
    if availability.slice_count is not None and not availability.partial:
        line += f", in {availability.slices_text()}"
    line += f". Left out: {_by_kind(availability.left_out)}." if availability.left_out else "."
    if availability.kept:
        line += f" Kept with a value listed in the skip report: {_by_kind(availability.kept)}."
    return line


def _by_kind(counts: dict[str, int]) -> str:
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{count:,} {kind}" for kind, count in ordered)


def _usage(where: str, configs: dict[str, ExportedConfig], default: str, section: str = "##") -> list[str]:
    features = configs[default].features
    media = [name for name, feature in features.items() if isinstance(feature, (datasets.Video, datasets.Image))]
    labels = [name for name in features if name not in media][:3]
    # The code blocks are written as `ruff format` writes them (at its default 88 columns), so that a
    # repository formatting its Markdown's Python (ruff 0.17 does) accepts an export folder as it is: the
    # repo id, whose length is not known, goes in a name of its own, and lists are written in double quotes.
    lines = [
        f"{section} Load and stream",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        f"repo = {_python_text(where)}",
        f'rows = load_dataset(repo, {_python_text(default)}, split="train")',
        "",
        "# Streaming reads the Parquet shards as you iterate: nothing is downloaded up front.",
        f'stream = load_dataset(repo, {_python_text(default)}, split="train", streaming=True)',
        f"labels_only = stream.select_columns([{', '.join(map(_python_text, labels))}])",
        "first_ten, rest = stream.take(10), stream.skip(10)",
        "",
        "# One share of the rows per training process (rank 0 of 4 here):",
        "from datasets.distributed import split_dataset_by_node",
        "",
        "mine = split_dataset_by_node(stream, rank=0, world_size=4)",
        "```",
    ]
    videos = [
        config.name
        for config in configs.values()
        if any(isinstance(f, datasets.Video) for f in config.features.values())
    ]
    if videos:
        lines += [
            "",
            f'Video rows (`{videos[0]}`) come as `{{"bytes": ..., "path": ...}}` (the MP4 file as it is, not '
            "decoded), so reading them needs neither torch nor ffmpeg. Decode frames with PyAV:",
            "",
            "```python",
            "import io",
            "",
            "import av",
            "from datasets import load_dataset",
            "",
            f"repo = {_python_text(where)}",
            f'row = next(iter(load_dataset(repo, {_python_text(videos[0])}, split="train", streaming=True)))',
            'with av.open(io.BytesIO(row["video"]["bytes"])) as container:',
            '    frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]',
            "```",
            "",
            "or, with torchcodec installed, have `datasets` decode them: "
            '`rows.cast_column("video", datasets.Video())` gives `torchcodec` video decoders.',
        ]
    return lines


def _python_text(text: str) -> str:
    """`text` as a Python string literal in double quotes, as `ruff format` writes it."""
    return json.dumps(text, ensure_ascii=False)


def _field_lines(builder: type[datasets.DatasetBuilder], configs: dict[str, ExportedConfig]) -> list[str]:
    explained = getattr(builder, "FEATURE_DESCRIPTIONS", {}) or {}
    where: dict[str, list[str]] = {}
    features: dict[str, Any] = {}
    for config in configs.values():
        for name, feature in config.features.items():
            where.setdefault(name, []).append(config.name)
            features.setdefault(name, feature)
    lines = []
    for name, feature in features.items():
        only = "" if len(where[name]) == len(configs) else f" Only in {', '.join(f'`{c}`' for c in where[name])}."
        sentence = explained.get(name, "")
        lines.append(f"- `{name}` ({describe_feature(feature)}).{' ' + sentence if sentence else ''}{only}")
    return lines


def describe_feature(feature: Any) -> str:
    """A short human description of a feature's type, with label names where it has them."""
    if isinstance(feature, datasets.ClassLabel):
        return "class label: " + ", ".join(f"{i} {label}" for i, label in enumerate(feature.names))
    if isinstance(feature, datasets.Value):
        return {"bool": "true/false", "string": "text"}.get(feature.dtype, feature.dtype)
    if isinstance(feature, datasets.Video):
        return "video: the MP4 file as {bytes, path}" + ("" if feature.decode else ", not decoded")
    if isinstance(feature, datasets.Image):
        return "image" + ("" if feature.decode else ": the file as {bytes, path}, not decoded")
    if isinstance(feature, dict):
        if feature and all(_is_bool(value) for value in feature.values()):
            return f"{len(feature)} true/false flags: " + ", ".join(f"`{key}`" for key in feature)
        return "{" + "; ".join(f"`{key}`: {describe_feature(value)}" for key, value in feature.items()) + "}"
    if isinstance(feature, (datasets.List, datasets.LargeList)):
        return f"list of {describe_feature(feature.feature)}"
    return type(feature).__name__


@dataclasses.dataclass
class FrequencyTable:
    """How often each label or flag occurs: `counts[label]` out of `totals[label]` values."""

    title: str
    labels: list[str]
    counts: Counter[str] = dataclasses.field(default_factory=Counter)
    totals: Counter[str] = dataclasses.field(default_factory=Counter)

    def markdown(self) -> list[str]:
        lines = [f"**{self.title}**", "", "| label | count | share |", "| --- | ---: | ---: |"]
        for label in self.labels:
            share = self.counts[label] / self.totals[label] if self.totals[label] else 0.0
            lines.append(f"| {label} | {self.counts[label]:,} | {share:.1%} |")
        return lines


_LONE_FLAGS = "Other true/false fields (true in)"


def frequency_tables(config: ExportedConfig) -> list[FrequencyTable]:
    """A table for every struct of booleans and every ClassLabel (also inside structs and lists), and
    one for the remaining lone true/false fields; counted from the shards, reading only those columns."""
    columns = [name for name, feature in config.features.items() if _has_counted_values(feature)]
    tables: dict[str, FrequencyTable] = {}
    for split in config.splits:
        for shard in split.shards:
            with local_file(shard) as source:
                for batch in pq.ParquetFile(source).iter_batches(columns=columns, batch_size=65_536):
                    for name in columns:
                        _count(config.features[name], batch.column(name), name, tables)
    # The lone flags' table goes last, after the tables of named label sets.
    return sorted(tables.values(), key=lambda table: table.title == _LONE_FLAGS)


def _has_counted_values(feature: Any) -> bool:
    if isinstance(feature, datasets.ClassLabel) or _is_bool(feature):
        return True
    if isinstance(feature, dict):
        return any(_has_counted_values(value) for value in feature.values())
    if isinstance(feature, (datasets.List, datasets.LargeList)):
        return _has_counted_values(feature.feature)
    return False


def _count(feature: Any, array: pa.Array, path: str, tables: dict[str, FrequencyTable]) -> None:
    """Add the values of `array` (typed by `feature`, at `path`) to the tables they belong to."""
    if isinstance(feature, datasets.ClassLabel):
        table = tables.setdefault(path, FrequencyTable(f"`{path}`", list(feature.names)))
        values = array.drop_null()
        counted = pc.value_counts(values)
        for index, count in zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True):
            table.counts[feature.names[index]] += count
        for label in feature.names:
            table.totals[label] += len(values)
    elif _is_bool(feature):
        _count_flag(tables.setdefault(_LONE_FLAGS, FrequencyTable(_LONE_FLAGS, [])), path, array)
    elif isinstance(feature, dict) and feature and all(_is_bool(value) for value in feature.values()):
        table = tables.setdefault(path, FrequencyTable(f"`{path}` (true in)", list(feature)))
        for key in feature:
            _count_flag(table, key, pc.struct_field(array, key))
    elif isinstance(feature, dict):
        for key, value in feature.items():
            _count(value, pc.struct_field(array, key), f"{path}.{key}", tables)
    elif isinstance(feature, (datasets.List, datasets.LargeList)):
        _count(feature.feature, pc.list_flatten(array), f"{path}[]", tables)


def _count_flag(table: FrequencyTable, label: str, values: pa.Array) -> None:
    if label not in table.labels:
        table.labels.append(label)
    table.counts[label] += int(pc.sum(values).as_py() or 0)
    table.totals[label] += len(values) - values.null_count


def _is_bool(feature: Any) -> bool:
    return isinstance(feature, datasets.Value) and feature.dtype == "bool"


def _task_categories(configs: dict[str, ExportedConfig]) -> list[str]:
    kinds = {type(feature) for config in configs.values() for feature in config.features.values()}
    categories = []
    if datasets.Video in kinds:
        categories.append("video-classification")
    if datasets.Image in kinds:
        categories.append("image-classification")
    return categories or ["tabular-classification"]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _text(text: str) -> str:
    """Source text wrapped at fixed width, joined into paragraphs for Markdown."""
    paragraphs = [" ".join(part.split()) for part in text.strip().split("\n\n")]
    return "\n\n".join(paragraphs)
