"""Export prepared datasets in the Hugging Face Hub layout, publish them, and describe every config.

    >>> from celebv_hq import CelebVHQ
    >>> from celeb_datasets.hub import export
    >>> from celeb_datasets.publish import publish
    >>> builder = CelebVHQ(config_name="annotations", data_dir="path/to/CelebV-HQ")
    >>> builder.download_and_prepare()
    >>> export(builder, "celebv_hq_export")                  # celebv_hq_export/annotations/train-*.parquet
    >>> publish("celebv_hq_export", "my-org/celebv-hq")       # private unless private=False

An export folder holds one dataset, any number of its configs: `{config}/{split}-NNNNN-of-NNNNN.parquet`
shards with the media bytes inside, and a `README.md` card listing every config. It loads as it is with
`datasets.load_dataset(folder, config)`, and publishing it gives the same on the Hub.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import datasets
import pyarrow.parquet as pq

from celeb_datasets import datasets_internals
from celeb_datasets.card import (
    SHARD_NAME,
    ExportedConfig,
    exported_configs,
    read_exported_config,
    write_card,
)
from celeb_datasets.datasets_internals import (
    embed_table_storage,
    get_parquet_column_options,
    get_writer_batch_size_from_data_size,
    get_writer_batch_size_from_features,
    require_storage_embed,
)
from celeb_datasets.errors import CelebDatasetsError
from celeb_datasets.fingerprint import EXPORT_MARKER
from celeb_datasets.options import parse_byte_size
from celeb_datasets.registry import BUILDERS, builder_class
from celeb_datasets.slices import Slice, parse_slice

logger = logging.getLogger("celeb_datasets")

DEFAULT_MAX_SHARD_SIZE = "500MB"
# Names the dataset an export folder holds; never uploaded (publish sends only the card and shards).
EXPORT_MANIFEST = EXPORT_MARKER
DATASET_INFOS_FILE = "dataset_infos.json"


def registered_name(builder: datasets.DatasetBuilder | type[datasets.DatasetBuilder]) -> str:
    """The registry name of a builder (e.g. "celebv_hq"), found without importing other builders."""
    cls = builder if isinstance(builder, type) else type(builder)
    target = f"{cls.__module__}:{cls.__name__}"
    for name, location in BUILDERS.items():
        if location == target:
            return name
    raise CelebDatasetsError(f"{target} is not in celeb_datasets.registry.BUILDERS: register it to export it")


def export(
    builder: datasets.DatasetBuilder,
    export_dir: str | os.PathLike[str],
    *,
    max_shard_size: str | int = DEFAULT_MAX_SHARD_SIZE,
) -> ExportedConfig:
    """Write the prepared config of `builder` into `export_dir` in the Hub layout, and the card.

    The config's folder is replaced as a whole (its old shards go); other configs already in the folder
    stay, and the card is rewritten to list them all. Shards hold at most about `max_shard_size` of
    Arrow data ("500MB", "2GB" or bytes) and carry the media bytes, so the folder is self-contained.
    A builder of one slice (`slice="I/N"`) replaces only that slice's shards, so N slices exported into
    one folder, in any order or at once, make the whole config. The build's skip report is kept in the
    folder as `skip_report.{config}.tsv` (all slices merged).

    Raises CelebDatasetsError when the builder was never prepared, or when the folder holds another
    dataset's export.
    """
    export_dir = Path(export_dir)
    name = registered_name(builder)
    config_name = builder.config.name
    max_bytes = parse_byte_size("max_shard_size", max_shard_size)
    splits = _splits_to_export(builder, name)
    part = _slice_of(builder)
    staging = new_staging(export_dir, name, builder)
    try:
        for split in splits:
            try:
                dataset = builder.as_dataset(split=split)
            except FileNotFoundError as error:
                raise CelebDatasetsError(
                    f"{name}/{config_name}: the prepared files of split {split!r} are missing ({error}); "
                    "prepare the config again"
                ) from None
            prefix = split if part is None else f"{split}-slice{part.index:05d}of{part.count:05d}"
            _write_split(dataset, staging, prefix, max_bytes)
        exported = install_export(export_dir, type(builder), staging, config_name, part, _skip_report_of(builder))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info(
        "exported %s/%s%s to %s: %s",
        name,
        config_name,
        "" if part is None else f" slice {part}",
        export_dir,
        ", ".join(f"{s.name} {s.num_examples:,} rows in {len(s.shards)} shard(s)" for s in exported.splits),
    )
    return exported


def new_staging(export_dir: Path, name: str, builder: Any) -> Path:
    """A fresh staging folder in `export_dir` (claimed for dataset `name`) for the shards of one export.

    Shards are written beside the config folder and swapped in at the end, so an interrupted export never
    leaves a config half-replaced. The folder's name says which process on which host writes there.
    """
    export_dir.mkdir(parents=True, exist_ok=True)
    with _folder_lock(export_dir):  # other exports into the folder may be starting too
        _claim_folder(export_dir, name, builder)
        remove_abandoned_staging(export_dir)
        staging = Path(tempfile.mkdtemp(prefix=f".{builder.config.name}{_STAGING}{_process_tag()}.", dir=export_dir))
    staging.chmod(0o755)  # mkdtemp's 0o700 would otherwise stay on the published folder
    return staging


def install_export(
    export_dir: Path,
    builder_class: type[datasets.DatasetBuilder],
    staging: Path,
    config_name: str,
    part: Slice | None,
    skip_report: Path | None,
) -> ExportedConfig:
    """Put the shards in `staging` in place (the config, or one slice of it), keep the skip report, and
    rewrite the card; exports of other configs or slices finishing at the same moment wait their turn."""
    with _folder_lock(export_dir):
        _move_into_place(staging, export_dir / config_name, part)
        if skip_report is not None:
            _keep_skip_report(skip_report, export_dir, config_name, part)
        write_card(export_dir, builder_class, registered_name(builder_class))
        return read_exported_config(export_dir / config_name)


def _skip_report_of(builder: Any) -> Path | None:
    report = getattr(builder, "skip_report", None)
    return Path(report) if report is not None and Path(report).is_file() else None


def _splits_to_export(builder: datasets.DatasetBuilder, name: str) -> list[str]:
    """The prepared splits that have rows (datasets 5 cannot load a split with none: they are left out)."""
    config_name = builder.config.name
    if not builder.info.splits:
        raise CelebDatasetsError(
            f"{name}/{config_name} was never prepared (no build in {builder.cache_dir}): run "
            f"`celeb-datasets prepare {name} --config {config_name} --data-dir ...` (or "
            "builder.download_and_prepare()) first"
        )
    splits = [str(split) for split, info in builder.info.splits.items() if info.num_examples]
    empty = [str(split) for split in builder.info.splits if split not in splits]
    if not splits:
        raise CelebDatasetsError(f"{name}/{config_name} has no rows to export (see its skip report)")
    if empty:
        logger.warning(
            "%s/%s: split(s) %s have no rows (a partial download?) and are left out of the export",
            name,
            config_name,
            ", ".join(empty),
        )
    return splits


def _slice_of(builder: datasets.DatasetBuilder) -> Slice | None:
    text = getattr(builder.config, "slice", None)
    return None if text is None else parse_slice(text)


@contextlib.contextmanager
def _folder_lock(export_dir: Path) -> Iterator[None]:
    """Hold the export folder's lock (a file lock, which also works between hosts on NFS)."""
    import fcntl

    (export_dir / _EXPORT_WORK).mkdir(parents=True, exist_ok=True)
    with open(export_dir / _EXPORT_WORK / "lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _move_into_place(staging: Path, target: Path, part: Slice | None) -> None:
    """Replace the config folder `target` by `staging`, or only its shards of slice `part`."""
    if part is None:
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
        return
    target.mkdir(exist_ok=True)
    for shard in target.glob("*.parquet"):
        match = SHARD_NAME.match(shard.name)
        if match is None:
            continue
        if match["slices"] is None or int(match["slices"]) != part.count:
            held = "a whole export" if match["slices"] is None else f"slices of {int(match['slices'])}"
            raise CelebDatasetsError(
                f"{target} holds {held} ({shard.name}): export slices of {part.count} into another folder, "
                "or use the same number of slices"
            )
        if int(match["slice"]) == part.index:
            shard.unlink()
    for shard in staging.iterdir():
        os.replace(shard, target / shard.name)


def _keep_skip_report(report: Path, export_dir: Path, config_name: str, part: Slice | None) -> None:
    """Copy the build's skip report into the folder, and merge the reports of all its slices."""
    parts = export_dir / _EXPORT_WORK / "skip_reports"
    parts.mkdir(parents=True, exist_ok=True)
    if part is None:
        for old in parts.glob(f"{config_name}.*"):
            old.unlink()
    suffix = "" if part is None else f".slice-{part.index}-of-{part.count}"
    shutil.copyfile(report, parts / f"{config_name}{suffix}.tsv")
    header, rows = None, []
    for piece in sorted(parts.glob(f"{config_name}.*tsv")):
        lines = piece.read_text(encoding="utf-8").splitlines(keepends=True)
        header = header or lines[0]
        if lines[0] != header:  # e.g. a slice exported by an older version, without the kind column
            found, expected = (line.rstrip("\n").replace("\t", ", ") for line in (lines[0], header))
            raise CelebDatasetsError(
                f"{piece}: a skip report with the columns {found}, where the other slices' have {expected}: "
                f"export every slice of {config_name} again with this version"
            )
        rows += lines[1:]
    (export_dir / f"skip_report.{config_name}.tsv").write_text((header or "") + "".join(sorted(rows)), encoding="utf-8")


# The export's own files: its lock and the skip reports of each export (never published).
_EXPORT_WORK = ".celeb_datasets"
_STAGING = ".staging."


def _process_tag() -> str:
    return f"{socket.gethostname()}.{os.getpid()}"


def remove_abandoned_staging(export_dir: Path) -> list[Path]:
    """Remove the staging folders that exports killed on this host left in `export_dir`; return them.

    A staging folder `.{config}.staging.{host}.{pid}.XXXX` is removed only when it was made on this host
    by a process that is gone: exports running now, here or on other hosts sharing the folder, keep theirs.
    """
    removed = []
    host = socket.gethostname()
    for folder in export_dir.glob(f".*{_STAGING}*"):
        made_on, _, rest = folder.name.split(_STAGING, 1)[1].rpartition(".")[0].rpartition(".")
        if made_on == host and rest.isdigit() and not _process_alive(int(rest)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
            logger.info("removed %s, left by an export that was killed", folder)
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _claim_folder(export_dir: Path, name: str, builder: datasets.DatasetBuilder) -> None:
    """Make `export_dir` an export folder of dataset `name`, refusing one that holds another dataset."""
    export_dir.mkdir(parents=True, exist_ok=True)
    manifest = export_dir / EXPORT_MANIFEST
    if manifest.exists():
        holds = json.loads(manifest.read_text(encoding="utf-8"))["dataset"]
        if holds != name:
            raise CelebDatasetsError(f"{export_dir} holds an export of {holds!r}: export {name!r} to another folder")
    else:
        known = {config.name for config in builder.BUILDER_CONFIGS}
        strangers = [config for config in exported_configs(export_dir) if config not in known]
        if strangers:
            raise CelebDatasetsError(
                f"{export_dir} already holds configs {strangers} that {name} does not have: use an empty folder"
            )
        partial = manifest.with_name(f"{manifest.name}.{_process_tag()}.partial")
        partial.write_text(json.dumps({"dataset": name}) + "\n", encoding="utf-8")
        os.replace(partial, manifest)


def _write_split(dataset: datasets.Dataset, folder: Path, prefix: str, max_bytes: int) -> None:
    """Write one split as `{prefix}-NNNNN-of-NNNNN.parquet` shards of about `max_bytes` each."""
    # The same estimate push_to_hub uses: Arrow bytes, plus media files referenced by path.
    nbytes = datasets_internals.estimated_bytes(dataset)
    num_shards = max(1, min(len(dataset), nbytes // max_bytes + 1))
    features = dataset.features
    rows_per_group = get_writer_batch_size_from_features(features) or get_writer_batch_size_from_data_size(
        len(dataset), nbytes
    )
    embed = any(require_storage_embed(feature) for feature in features.values())
    arrow_rows = dataset.with_format("arrow")
    for index in range(num_shards):
        shard = arrow_rows.shard(num_shards, index, contiguous=True)
        path = folder / f"{prefix}-{index:05d}-of-{num_shards:05d}.parquet"
        with parquet_writer(path, features) as writer:
            for first in range(0, len(shard), rows_per_group):
                table = shard[first : first + rows_per_group]
                writer.write_table(embed_table_storage(table) if embed else table)


def parquet_writer(path: Path, features: datasets.Features) -> pq.ParquetWriter:
    """A Parquet writer of rows of `features`, with the features in the schema metadata.

    datasets' own Parquet options: content-defined chunks (deduplicated by Xet), a page index, and media
    columns stored uncompressed.
    """
    schema = features.arrow_schema
    return pq.ParquetWriter(
        path,
        schema,
        use_content_defined_chunking=datasets_internals.content_defined_chunking(),
        write_page_index=True,
        **get_parquet_column_options(features, schema),
    )


def exported_dataset(export_dir: Path) -> str:
    manifest = export_dir / EXPORT_MANIFEST
    if not manifest.is_file():
        raise CelebDatasetsError(
            f"{export_dir} is not an export folder (no {EXPORT_MANIFEST}): run `celeb-datasets export` first"
        )
    return json.loads(manifest.read_text(encoding="utf-8"))["dataset"]


def dataset_infos() -> dict[str, dict[str, Any]]:
    """Features, splits and example counts of every config of every registered builder.

    Features come from each builder's own `info.features`. Example counts are the full-size release's,
    from the builder's optional `SPLIT_SIZES` ({config: {split: count or None}}); None means the count
    depends on the user's download. A builder whose module is not installed yet is left out (warning).
    """
    infos: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="celeb-datasets-infos-") as cache_dir:
        for name in BUILDERS:
            try:
                builder = builder_class(name)
            except CelebDatasetsError as error:
                logger.warning("%s: left out of %s", error, DATASET_INFOS_FILE)
                continue
            sizes = getattr(builder, "SPLIT_SIZES", {}) or {}
            infos[name] = {}
            for config in builder.BUILDER_CONFIGS:
                features = builder(config_name=config.name, cache_dir=cache_dir).info.features
                entry: dict[str, Any] = {
                    "description": config.description,
                    "default": config.name == builder.DEFAULT_CONFIG_NAME,
                    "features": features.to_dict(),
                }
                if config.name in sizes:
                    entry["splits"] = {split: {"num_examples": count} for split, count in sizes[config.name].items()}
                    if any(count is None for count in sizes[config.name].values()):
                        entry["num_examples_note"] = "null: the count depends on the download the config is built from"
                else:
                    entry["splits"] = None
                    entry["num_examples_note"] = f"{builder.__name__} declares no SPLIT_SIZES for this config"
                infos[name][config.name] = entry
    return infos


def write_dataset_infos(path: str | os.PathLike[str] = DATASET_INFOS_FILE) -> Path:
    """Write `dataset_infos()` as JSON to `path` (stable formatting, so a diff shows a real change)."""
    path = Path(path)
    path.write_text(dataset_infos_text(), encoding="utf-8")
    return path


def dataset_infos_text() -> str:
    """The exact text `write_dataset_infos` writes."""
    return json.dumps(dataset_infos(), indent=2, ensure_ascii=False) + "\n"
