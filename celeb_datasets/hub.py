"""Export prepared datasets in the Hugging Face Hub layout (celeb_datasets.publish sends them to the Hub).

    >>> from celebv_hq import CelebVHQ
    >>> from celeb_datasets.hub import export
    >>> from celeb_datasets.publish import publish
    >>> builder = CelebVHQ(config_name="annotations", data_dir="path/to/CelebV-HQ")
    >>> builder.download_and_prepare()
    >>> export(builder, "celebv_hq_export")                  # celebv_hq_export/annotations/train-*.parquet
    >>> publish("celebv_hq_export", "my-org/celebv-hq")       # private unless private=False

An export folder holds one dataset, any number of its configs: `{config}/{split}-NNNNN-of-NNNNN.parquet`
shards with the media bytes inside, and a `README.md` card listing every config and what it holds of
the release. It loads as it is with `datasets.load_dataset(folder, config)`, and publishing it gives the
same on the Hub. An export writes only into a new, empty or export folder, and changes only the files it
wrote there (celeb_datasets.export_folder keeps the record).
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
import pyarrow as pa

from celeb_datasets.card import CARD_FILE, ExportedConfig, card_text
from celeb_datasets.errors import CelebDatasetsError, StorageError
from celeb_datasets.export_folder import (
    STAGING,
    availability,
    check_cache_outside,
    check_export_path,
    check_exported_config_intact,
    check_folder_contents,
    check_slice,
    claim_folder,
    damaged_configs,
    exported_configs,
    folder_lock,
    install_shards,
    keep_skip_report,
    make_folder,
    merged_skip_report,
    read_record,
    remove_own_file,
    skip_report_name,
    slice_fingerprint,
    write_own_file,
    write_record,
)
from celeb_datasets.fingerprint import EXPORT_MARKER
from celeb_datasets.generation import STORAGE_ERRNOS, storage_error
from celeb_datasets.options import parse_byte_size
from celeb_datasets.registry import BUILDERS, builder_class
from celeb_datasets.shards import check_splits_written, write_splits

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

    `export_dir` is a new folder, an empty one, or an export folder of the same dataset; anything else
    is refused (see celeb_datasets.export_folder: an export touches only the files it wrote). The shards
    the package wrote for the config are replaced (other files in the config folder stay); other configs
    already in the folder stay, and the card is rewritten to list them all. Shards hold at most
    `max_shard_size` of Arrow data ("500MB", "2GB" or bytes; see celeb_datasets.shards for where they
    end) and carry the media bytes, so the folder is self-contained. A builder of one slice
    (`slice="I/N"`) replaces only that slice's shards, so N slices exported into one folder, in any order
    or at once, make the whole config; a slice built from another annotation file or with other options
    than those there is refused. The build's skip report is kept in the folder as
    `skip_report.{config}.tsv` (all slices merged), and the card says what the export holds of the
    release.

    This is the second step of the `datasets` engine (celeb_datasets.engines); other engines write the
    same shards with the same steps (`check_export_folder`, `staging_folder`, `write_splits`,
    `install_export`).

    Raises CelebDatasetsError when the builder was never prepared, and ExportFolderError (or OptionError,
    for an empty path) when the folder is not one to export into.
    """
    max_bytes = parse_byte_size("max_shard_size", max_shard_size)
    export_dir = check_export_folder(export_dir, builder)
    name = registered_name(builder)
    what = f"{name}/{builder.config.name}"
    splits = _prepared_splits(builder, name)
    with staging_folder(export_dir, builder) as staging:
        rows = _prepared_rows(builder, what, splits)
        written = write_splits(rows, staging, builder.info.features, max_bytes, builder.config.slice, splits)
        check_splits_written(written, what, builder.config.slice)
        return install_export(export_dir, builder, staging, _skip_report_of(builder))


def check_export_folder(export_dir: str | os.PathLike[str], builder: Any) -> Path:
    """Check, before anything is built or written, that the builder's config (or slice) may be exported
    into `export_dir`; the folder as a Path. Every engine calls it first.

    Raises OptionError for an empty path; StorageError for a folder this process cannot write in;
    ExportFolderError for a path that cannot be a folder, a cache folder inside it, a folder that is
    neither new, empty nor an export of the builder's dataset, and a slice that cannot join the slices
    there (other slices, other files or options, other slices of its config that lost shards).
    """
    path = check_export_path(export_dir)
    check_cache_outside(path, getattr(builder, "cache_dir", None))
    record = check_folder_contents(path, registered_name(builder))
    if record is not None:
        config_name, part = builder.config.name, builder.config.slice
        check_slice(path, config_name, record.configs.get(config_name), part, slice_fingerprint(builder))
        check_exported_config_intact(path, record, config_name, part)
    return path


@contextlib.contextmanager
def staging_folder(export_dir: Path, builder: Any) -> Iterator[Path]:
    """A fresh staging folder in `export_dir` (claimed for the builder's dataset) for the shards of one export.

    Shards are written beside the config folder and moved in by `install_export`, so an interrupted
    export leaves the config as it was; the folder is removed when the block ends. Its name says which
    process on which host writes there. ExportFolderError for a folder that is not one to export into;
    StorageError, naming the export folder, for a write in the block that the disk refuses (full, a
    file-size limit, read-only).
    """
    export_dir = check_export_path(export_dir)
    make_folder(export_dir)
    with folder_lock(export_dir):  # other exports into the folder may be starting too
        claim_folder(export_dir, registered_name(builder))
        remove_abandoned_staging(export_dir)
        try:
            staging = Path(tempfile.mkdtemp(prefix=f".{builder.config.name}{STAGING}{_process_tag()}.", dir=export_dir))
        except OSError as error:
            raise StorageError(f"cannot write in the export folder {export_dir}: {error.strerror}") from None
    staging.chmod(0o755)  # mkdtemp's 0o700 would otherwise stay on the published folder
    try:
        yield staging
    except OSError as error:
        # pyarrow's Parquet writer meeting a full disk or a file-size limit, say: one line naming the folder.
        if error.errno not in STORAGE_ERRNOS:
            raise
        raise storage_error(error, str(export_dir)) from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def install_export(export_dir: Path, builder: Any, staging: Path, skip_report: Path | None) -> ExportedConfig:
    """Put the shards in `staging` in place (the builder's config, or its slice), keep the skip report, and
    rewrite the card; exports of other configs or slices finishing at the same moment wait their turn.

    Only files the package wrote are replaced (see celeb_datasets.export_folder); a slice that cannot join
    the slices in the folder is refused (ExportFolderError) and the folder is left as it was.
    """
    config_name, part = builder.config.name, builder.config.slice
    name, builder_type = registered_name(builder), type(builder)
    fingerprint = slice_fingerprint(builder)
    with folder_lock(export_dir):
        record = claim_folder(export_dir, name)  # read again: other exports may have changed it
        # Every refusal comes before the first change.
        damaged = damaged_configs(export_dir, record, config_name, part)
        check_slice(export_dir, config_name, record.configs.get(config_name), part, fingerprint)
        merged = merged_skip_report(export_dir, config_name, part, skip_report)
        install_shards(export_dir, record, config_name, part, staging, fingerprint)
        keep_skip_report(export_dir, config_name, part, skip_report)
        if merged is not None:
            write_own_file(export_dir, record, skip_report_name(config_name), merged)
        configs = exported_configs(export_dir, record, builder_type, leave_out=damaged)
        if configs:
            write_own_file(export_dir, record, CARD_FILE, card_text(builder_type, name, configs))
        else:  # no config has rows yet (a slice whose every item was left out): no card to write
            remove_own_file(export_dir, record, CARD_FILE)
        write_record(export_dir, record)
    exported = configs.get(config_name) or ExportedConfig(
        config_name, builder.info.features, (), availability(export_dir, record, config_name, builder_type, 0)
    )
    held = exported.availability
    splits = ", ".join(f"{s.name} {s.num_examples:,} rows in {len(s.shards)} shard(s)" for s in exported.splits)
    logger.info(
        "exported %s/%s%s to %s: %s%s",
        name,
        config_name,
        "" if part is None else f" slice {part}",
        export_dir,
        splits or "no rows",
        f"; the folder holds {held.slices_text()} of {config_name}" if held is not None and held.slice_count else "",
    )
    return exported


def _skip_report_of(builder: Any) -> Path | None:
    report = getattr(builder, "skip_report", None)
    return Path(report) if report is not None and Path(report).is_file() else None


def _prepared_splits(builder: datasets.DatasetBuilder, name: str) -> list[str]:
    """The prepared splits of `builder` (registered as `name`); CelebDatasetsError if it was never prepared."""
    if not builder.info.splits:
        config_name = builder.config.name
        raise CelebDatasetsError(
            f"{name}/{config_name} was never prepared (no build in {builder.cache_dir}): run "
            f"`celeb-datasets prepare {name} --config {config_name} --data-dir ...` (or "
            "builder.download_and_prepare()) first"
        )
    return [str(split) for split in builder.info.splits]


def _prepared_rows(builder: datasets.DatasetBuilder, what: str, splits: list[str]) -> Iterator[tuple[str, pa.Table]]:
    """The rows of each prepared split with rows, read from the cache (memory-mapped) a batch at a time."""
    for split in splits:
        if not builder.info.splits[split].num_examples:
            continue  # datasets 5 cannot load a split with no rows: it is left out
        try:
            dataset = builder.as_dataset(split=split)
        except FileNotFoundError as error:
            raise CelebDatasetsError(
                f"{what}: the prepared files of split {split!r} are missing ({error}); prepare the config again"
            ) from None
        for table in dataset.with_format("arrow").iter(batch_size=_READ_BATCH_ROWS):
            yield split, table


# Rows read from the cache at a time: slices of the memory-mapped files, never copied until written.
_READ_BATCH_ROWS = 1_000


def _process_tag() -> str:
    return f"{socket.gethostname()}.{os.getpid()}"


def remove_abandoned_staging(export_dir: Path) -> list[Path]:
    """Remove the staging folders that exports killed on this host left in `export_dir`; return them.

    A staging folder `.{config}.staging.{host}.{pid}.XXXX` is removed only when it was made on this host
    by a process that is gone: exports running now, here or on other hosts sharing the folder, keep theirs.
    """
    removed = []
    host = socket.gethostname()
    for folder in export_dir.glob(f".*{STAGING}*"):
        made_on, _, rest = folder.name.split(STAGING, 1)[1].rpartition(".")[0].rpartition(".")
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


def exported_dataset(export_dir: Path) -> str:
    """The dataset an export folder holds (CelebDatasetsError for a folder that is not an export)."""
    record = read_record(export_dir)
    if record is None:
        raise CelebDatasetsError(
            f"{export_dir} is not an export folder (no {EXPORT_MANIFEST}): run `celeb-datasets export` first"
        )
    return record.dataset


def configs_of_export(export_dir: Path) -> dict[str, ExportedConfig]:
    """The configs an export folder holds (those the package wrote shards for), each with its Availability;
    a config that lost some of its shards is left out, with a warning saying how to repair it."""
    record = read_record(export_dir)
    if record is None:
        raise CelebDatasetsError(
            f"{export_dir} is not an export folder (no {EXPORT_MANIFEST}): run `celeb-datasets export` first"
        )
    damaged = damaged_configs(export_dir, record)
    return exported_configs(export_dir, record, builder_class(record.dataset), leave_out=damaged)


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
