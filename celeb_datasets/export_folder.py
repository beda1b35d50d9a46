"""An export folder: where an export may go, and the record of every file the package wrote there.

An export goes into a new folder, an empty one, or one holding an export of the same dataset, which its
marker file (`.celeb_datasets_export.json`) says; any other folder is refused with one line naming it
and what it holds, before anything is written. The marker records what the package wrote, and an export
changes nothing else:

- each config's shards (`{config}/{split}-...parquet`, by name): an export of the config replaces them
  (an export of slice I, slice I's); any other file in the config folder stays;
- the card `README.md` and the skip reports `skip_report.{config}.tsv`, each with a digest of what was
  written: one found different (a user's own README.md, or one edited since) is kept aside as
  `README.user.md` (`README.user-2.md`, ...), with a warning, before the new one is written;
- the package's work folder `.celeb_datasets/` (the lock, each slice's skip report) and the staging
  folders `.{config}.staging.*`.

Every name the marker holds is checked when it is read (`check_record_names`): a marker naming anything
but those (`../../elsewhere`, an absolute path) is refused, so nothing outside the folder is ever
replaced, deleted or published. A config some of whose shards are gone is left out of the card until it
is exported again (`damaged_configs`).

For a config exported in slices, the record holds each present slice's fingerprint: the content of the
files its items are assigned from (CelebV-HQ's annotation file), the options that define the rows and
the package version. A slice whose fingerprint differs from a present slice's is refused, saying what
differs, so slices of two versions of an annotation file never load as one dataset.

Every change happens under the folder's lock (`folder_lock`), which exports on other hosts sharing the
folder respect too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import shutil
import socket
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import datasets

from celeb_datasets import __version__
from celeb_datasets.card import CARD_FILE, SHARD_NAME, Availability, ExportedConfig, read_exported_config, release_items
from celeb_datasets.errors import ExportFolderError, OptionError, StorageError
from celeb_datasets.fingerprint import EXPORT_MARKER, content_fingerprint, file_digest, text_digest
from celeb_datasets.folders import write_problem
from celeb_datasets.options import options_of
from celeb_datasets.skips import kinds_of_lines, read_skip_report
from celeb_datasets.slices import Slice

logger = logging.getLogger("celeb_datasets")

# The package's own work folder in an export folder: its lock, the skip reports of each export, the
# marker's next version while it is written. Never published.
WORK_FOLDER = ".celeb_datasets"
STAGING = ".staging."
# Longest file name when the file system does not say.
_NAME_MAX = 255


# ---------------------------------------------------------------------------------------------------
# The export folder's path, checked before anything is built or written.


def given_folder(export_dir: str | os.PathLike[str]) -> Path:
    """The export folder a caller named, as a Path: a leading `~` is the home folder (the one place it is
    expanded: the command line gives paths the shell expanded already). OptionError for an empty path,
    which an unset shell variable gives, and which would otherwise name the current folder."""
    text = os.fspath(export_dir)
    if not text.strip():
        raise OptionError(
            f"the export folder is an empty path ({text!r}: an unset shell variable?); name the folder to export into"
        )
    return Path(os.path.expanduser(text))


def check_export_path(export_dir: str | os.PathLike[str]) -> Path:
    """`export_dir` as a Path (see `given_folder`), once it is known that a folder can be there and be
    written; nothing is created.

    Raises OptionError for an empty path, ExportFolderError for a path that is a file, lies below a file,
    or has a name longer than the file system allows, and StorageError for a folder (or the folder it
    would be made in) this process cannot write in.
    """
    path = given_folder(export_dir)
    below = [path, *path.parents]
    existing = next((ancestor for ancestor in below if os.path.lexists(ancestor)), Path("."))
    if not existing.is_dir():
        where = "is a file" if existing == path else f"lies below {existing}, which is a file"
        raise ExportFolderError(f"the export folder {path} {where}: give a folder (created if absent)")
    longest = _longest_name(existing)
    for part in path.parts[len(existing.parts) :]:
        if len(os.fsencode(part)) > longest:
            raise ExportFolderError(
                f"the export folder {_short(path)}: a name of {len(os.fsencode(part))} bytes, more than the file "
                f"system allows ({longest}); give a shorter name"
            )
    _check_writable(path, existing)
    return path


def _check_writable(path: Path, existing: Path) -> None:
    """StorageError when the folders an export writes in, those that exist, refuse this process."""
    folders = [existing] if existing != path else [path, path / WORK_FOLDER]
    for folder in folders:
        why = write_problem(folder) if folder.is_dir() else None
        if why is not None:
            made = (
                ""
                if folder == path or folder.parent == path
                else f" (where the export folder {_short(path)} would be made)"
            )
            raise StorageError(f"cannot write in {_short(folder)}{made}: {why}; export into a folder you can write in")


def check_cache_outside(export_dir: Path, cache_dir: str | os.PathLike[str] | None) -> None:
    """Refuse a cache folder inside the export folder (ExportFolderError): an export must not hold its cache."""
    if cache_dir is None:
        return
    cache, folder = Path(cache_dir).resolve(), export_dir.resolve()
    if cache == folder or folder in cache.parents:
        raise ExportFolderError(
            f"the cache folder {cache_dir} lies inside the export folder {export_dir}: give --cache-dir (cache_dir) "
            "a folder outside it"
        )


def make_folder(export_dir: Path) -> None:
    """Create `export_dir` and its parents (StorageError in one line when the file system refuses)."""
    try:
        export_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StorageError(f"cannot create the export folder {_short(export_dir)}: {error.strerror}") from None


def _longest_name(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return _NAME_MAX


def _short(path: Path) -> str:
    text = str(path)
    return text if len(text) <= 80 else f"{text[:40]}...{text[-20:]} ({len(text)} characters)"


# ---------------------------------------------------------------------------------------------------
# The record of what the package wrote, kept in the marker file.


@dataclasses.dataclass(frozen=True)
class SliceFingerprint:
    """What defines the rows of one slice: the content of the files items are assigned to slices from
    (`sources`, a digest of `source_files`), the options that define the rows, the package version."""

    sources: str
    source_files: tuple[str, ...]
    options: dict[str, str]
    version: str

    def differences(self, other: SliceFingerprint | None, other_slice: str) -> list[str]:
        """What differs between this slice's fingerprint and that of `other_slice` (words, for a refusal)."""
        if other is None:
            return [f"slice {other_slice} was exported by an older version, which recorded no fingerprint"]
        found = []
        if self.sources != other.sources:
            names = ", ".join(self.source_files) or "the source files"
            found.append(f"{names} is not the one slice {other_slice} was built from (edited since, or another copy)")
        for name in sorted(set(self.options) | set(other.options)):
            mine, theirs = self.options.get(name, "absent"), other.options.get(name, "absent")
            if mine != theirs:
                found.append(f"option {name} is {mine} here, {theirs} in slice {other_slice}")
        if self.version != other.version:
            found.append(f"celeb-datasets {self.version} here, {other.version} in slice {other_slice}")
        return found

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"source_files": list(self.source_files)}

    @classmethod
    def from_json(cls, entry: Any) -> SliceFingerprint | None:
        if not isinstance(entry, dict):
            return None
        return cls(
            str(entry["sources"]),
            tuple(entry.get("source_files", ())),
            {str(k): str(v) for k, v in entry["options"].items()},
            str(entry["version"]),
        )


@dataclasses.dataclass
class ConfigRecord:
    """One config of the folder: the shards the package wrote in `{config}/`, and for an export in slices,
    the number of slices and each present slice's fingerprint (None: not recorded by an older version)."""

    shards: list[str] = dataclasses.field(default_factory=list)
    slice_count: int | None = None
    slices: dict[int, SliceFingerprint | None] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class FolderRecord:
    """The marker's content: the dataset the folder holds, the files the package wrote at its top
    (`README.md`, skip reports) with the digest of what it wrote, and every config's record."""

    dataset: str
    files: dict[str, str] = dataclasses.field(default_factory=dict)
    configs: dict[str, ConfigRecord] = dataclasses.field(default_factory=dict)
    # Rebuilt from a marker of an older version (which named the dataset only): not yet in this form.
    from_older_version: bool = False

    def to_json(self) -> dict[str, Any]:
        configs = {}
        for name, config in sorted(self.configs.items()):
            slices = None
            if config.slice_count is not None:
                present = {
                    str(index): None if fingerprint is None else fingerprint.to_json()
                    for index, fingerprint in sorted(config.slices.items())
                }
                slices = {"count": config.slice_count, "present": present}
            configs[name] = {"shards": sorted(config.shards), "slices": slices}
        return {"dataset": self.dataset, "files": dict(sorted(self.files.items())), "configs": configs}

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> FolderRecord:
        configs = {}
        for name, entry in document["configs"].items():
            slices = entry.get("slices") or {}
            present = {
                int(index): SliceFingerprint.from_json(value) for index, value in slices.get("present", {}).items()
            }
            configs[name] = ConfigRecord(list(entry["shards"]), slices.get("count"), present)
        return cls(str(document["dataset"]), dict(document.get("files") or {}), configs)


def read_record(export_dir: Path) -> FolderRecord | None:
    """The record in `export_dir`'s marker (None: no marker). ExportFolderError for a marker this package
    cannot read. A marker of an older version, which named the dataset only, gives a record rebuilt from
    the shard names in the folder, with no top-level file recorded (a README.md there is kept aside)."""
    marker = export_dir / EXPORT_MARKER
    if not marker.is_file():
        return None
    try:
        document = json.loads(marker.read_text(encoding="utf-8"))
        if "configs" not in document:
            return _older_record(export_dir, str(document["dataset"]))
        record = FolderRecord.from_json(document)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ExportFolderError(
            f"{marker} cannot be read ({type(error).__name__}: {error}): it is not a marker this version of "
            "celeb-datasets can read; export into a new folder"
        ) from None
    check_record_names(marker, record)
    return record


def check_record_names(marker: Path, record: FolderRecord) -> None:
    """Refuse (ExportFolderError, naming the marker and the entry) a record naming a file the package never
    writes: an export replaces and deletes the files its record names, so a marker edited to name
    `../../somewhere/else` or an absolute path must not be obeyed. Every name is checked: the top-level
    files (the card, skip reports), the config folders (one plain name each) and their shards."""

    def refuse(entry: str, name: str, expected: str) -> NoReturn:
        raise ExportFolderError(
            f"{marker}: {entry} names {name!r}, where the package writes only {expected}: the marker was edited "
            "or damaged, and is not obeyed (nothing was changed); restore it, or export into a new folder"
        )

    for name in record.files:
        config_name = name.removeprefix(SKIP_REPORT_PREFIX).removesuffix(SKIP_REPORT_SUFFIX)
        is_skip_report = name == skip_report_name(config_name) and _is_config_name(config_name)
        if name != CARD_FILE and not is_skip_report:
            refuse("files", name, f"{CARD_FILE} and skip_report.{{config}}.tsv")
    for config_name, config in record.configs.items():
        if not _is_config_name(config_name):
            refuse("configs", config_name, "config folders named by one plain name")
        for shard in config.shards:
            if not isinstance(shard, str) or SHARD_NAME.fullmatch(shard) is None:
                refuse(f"configs.{config_name}.shards", str(shard), "shards named {split}-NNNNN-of-NNNNN.parquet")


# A config folder's name: one path component, not hidden, no separator (`annotations`, `hq_masks`).
_CONFIG_NAME = re.compile(r"\w[\w.-]*")


def _is_config_name(name: str) -> bool:
    return _CONFIG_NAME.fullmatch(name) is not None


def write_record(export_dir: Path, record: FolderRecord) -> None:
    """Replace the marker by `record` (whole: a reader sees the old record or the new one)."""
    partial = export_dir / WORK_FOLDER / f"{EXPORT_MARKER}.{_process_tag()}.partial"
    partial.parent.mkdir(exist_ok=True)
    partial.write_text(json.dumps(record.to_json(), indent=1) + "\n", encoding="utf-8")
    os.replace(partial, export_dir / EXPORT_MARKER)


def _older_record(export_dir: Path, dataset: str) -> FolderRecord:
    record = FolderRecord(dataset, from_older_version=True)
    for folder in sorted(path for path in export_dir.iterdir() if path.is_dir() and not path.name.startswith(".")):
        matches = [match for path in folder.glob("*.parquet") if (match := SHARD_NAME.match(path.name))]
        if not matches:
            continue
        config = ConfigRecord(sorted(match.string for match in matches))
        sliced = [match for match in matches if match["slices"] is not None]
        if sliced:
            config.slice_count = int(sliced[0]["slices"])
            config.slices = dict.fromkeys(sorted({int(match["slice"]) for match in sliced}))
        record.configs[folder.name] = config
    return record


# ---------------------------------------------------------------------------------------------------
# Claiming a folder, and the only changes an export makes in it.


@contextlib.contextmanager
def folder_lock(export_dir: Path) -> Iterator[None]:
    """Hold the export folder's lock (a file lock, which also works between hosts on NFS).

    StorageError in one line when the lock cannot be made (a folder made read-only since it was checked).
    """
    import fcntl

    lock_path = export_dir / WORK_FOLDER / "lock"
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(lock_path, "a+")  # noqa: SIM115 (closed below, after the block)
    except OSError as error:
        raise StorageError(
            f"cannot take the lock of the export folder {_short(export_dir)} ({error.filename}: {error.strerror}); "
            "export into a folder you can write in"
        ) from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def check_folder_contents(export_dir: Path, dataset: str) -> FolderRecord | None:
    """Refuse (ExportFolderError) a folder that is neither absent, empty, nor an export of `dataset`;
    the folder's record when it is an export."""
    record = read_record(export_dir)
    if record is not None:
        if record.dataset != dataset:
            raise ExportFolderError(
                f"{export_dir} holds an export of {record.dataset!r}: export {dataset!r} to another folder"
            )
        return record
    if not export_dir.is_dir():
        return None
    held = sorted(
        f"{path.name}/" if path.is_dir() else path.name for path in export_dir.iterdir() if path.name != WORK_FOLDER
    )
    if held:
        shown = ", ".join(held[:5]) + (f" and {len(held) - 5} more" if len(held) > 5 else "")
        raise ExportFolderError(
            f"{export_dir} is not empty and holds no export of celeb-datasets (it holds {shown}): an export never "
            "writes among other files; export into a new or empty folder"
        )
    return None


def claim_folder(export_dir: Path, dataset: str) -> FolderRecord:
    """The record of `export_dir`, which becomes an export folder of `dataset` (call under `folder_lock`);
    ExportFolderError for a folder that is not empty and not such an export."""
    record = check_folder_contents(export_dir, dataset)
    if record is None or record.from_older_version:
        # A new export folder, or a marker of an older version: written in this version's form.
        record = record or FolderRecord(dataset)
        record.from_older_version = False
        write_record(export_dir, record)
    return record


def slice_fingerprint(builder: Any) -> SliceFingerprint | None:
    """The fingerprint of the builder's slice (None for a whole config): the content of the files its
    dataset assigns items to slices from (`slice_sources`), and the options that define the rows."""
    config = builder.config
    if config.slice is None:
        return None
    paths = builder.slice_sources(config, config.data_dir)
    options = {
        name: repr(getattr(config, name))
        for name, spec in options_of(type(config)).items()
        if spec.defines_rows and name != "slice"
    }
    return SliceFingerprint(content_fingerprint(paths), tuple(path.name for path in paths), options, __version__)


def check_slice(
    export_dir: Path, config_name: str, config: ConfigRecord | None, part: Slice | None, fingerprint: Any
) -> None:
    """Refuse (ExportFolderError) slice `part` of a config where it cannot join what is there: a whole
    export, slices of another count, or slices whose fingerprint differs. A whole export replaces anything."""
    if config is None or part is None:
        return
    where = export_dir / config_name
    if config.slice_count is None:
        if config.shards:
            raise ExportFolderError(
                f"{where} holds a whole export ({config.shards[0]}): export slices of {part.count} into another "
                "folder, or export the config whole"
            )
        return
    if config.slice_count != part.count:
        raise ExportFolderError(
            f"{where} holds slices of {config.slice_count}: export slices of {part.count} into another folder, "
            "or use the same number of slices"
        )
    for index, theirs in sorted(config.slices.items()):
        if index == part.index:
            continue  # exported again: replaced
        differences = fingerprint.differences(theirs, f"{index}/{part.count}")
        if differences:
            raise ExportFolderError(
                f"{where}: slice {part} cannot join slice {index}/{part.count} there: {'; '.join(differences)}. "
                "The slices of one folder must be built from the same file with the same options: export "
                "every slice into a new folder"
            )


def install_shards(
    export_dir: Path,
    record: FolderRecord,
    config_name: str,
    part: Slice | None,
    staging: Path,
    fingerprint: SliceFingerprint | None,
) -> None:
    """Put the shards of `staging` in the config's folder in place of those the package wrote there for the
    config (or for slice `part`), and record them (call under `folder_lock`).

    Nothing else in the config folder is touched: a shard name the record does not hold is refused.
    """
    config = record.configs.get(config_name)
    check_slice(export_dir, config_name, config, part, fingerprint)
    config = config or ConfigRecord()
    folder = export_dir / config_name
    if os.path.lexists(folder) and not folder.is_dir():
        raise ExportFolderError(f"{folder} is a file, where the export of config {config_name} goes: move it away")
    if folder.is_symlink():
        # Its shards would be replaced and deleted wherever it points: an export changes only its own folder.
        raise ExportFolderError(
            f"{folder} is a symbolic link to {os.readlink(folder)}, where the export of config {config_name} goes: "
            "an export writes and deletes only inside its folder; put a folder there"
        )
    new = sorted(path.name for path in staging.iterdir())
    strangers = [name for name in new if os.path.lexists(folder / name) and name not in config.shards]
    if strangers:
        raise ExportFolderError(
            f"{folder / strangers[0]} was not written by celeb-datasets, and the export would replace it: move it "
            f"out of {folder}"
        )
    replaced = [name for name in config.shards if part is None or _slice_index(name) == part.index]
    # Recorded before they are moved: an export killed below leaves no file of its own unrecorded.
    config.shards = sorted(set(config.shards) | set(new))
    record.configs[config_name] = config
    write_record(export_dir, record)
    if new:
        folder.mkdir(exist_ok=True)
    for name in new:
        os.replace(staging / name, folder / name)
    for name in replaced:
        if name not in new:
            (folder / name).unlink(missing_ok=True)
    config.shards = sorted((set(config.shards) - set(replaced)) | set(new))
    if part is None:
        config.slice_count, config.slices = None, {}
    else:
        config.slice_count = part.count
        config.slices[part.index] = fingerprint
    write_record(export_dir, record)


def _slice_index(shard: str) -> int | None:
    match = SHARD_NAME.match(shard)
    return None if match is None or match["slice"] is None else int(match["slice"])


def write_own_file(export_dir: Path, record: FolderRecord, name: str, text: str) -> Path:
    """Write `text` as the top-level file `name` of the folder and record it (the caller writes the record).

    A file already there that is not what the package wrote (a user's, or one edited since) is kept aside
    as `{stem}.user{-N}{suffix}` first, with a warning.
    """
    path = export_dir / name
    if os.path.lexists(path) and not _is_own(path, record.files.get(name)):
        kept = _keep_aside(path)
        logger.warning(
            "%s was not written by celeb-datasets (or was edited since): kept as %s, and the export wrote its own %s",
            path, kept.name, name,
        )  # fmt: skip
    partial = export_dir / WORK_FOLDER / f"{name}.{_process_tag()}.partial"
    partial.write_bytes(text.encode("utf-8"))
    os.replace(partial, path)
    record.files[name] = text_digest(text)
    return path


def remove_own_file(export_dir: Path, record: FolderRecord, name: str) -> None:
    """Remove the top-level file `name` if it is what the package wrote (anything else stays)."""
    path = export_dir / name
    if os.path.lexists(path) and _is_own(path, record.files.get(name)):
        path.unlink()
    record.files.pop(name, None)


def _is_own(path: Path, digest: str | None) -> bool:
    if digest is None or path.is_symlink() or not path.is_file():
        return False
    try:
        return file_digest(path) == digest
    except OSError:
        return False


def _keep_aside(path: Path) -> Path:
    stem, suffix = path.stem, path.suffix
    for number in range(1, 10_000):
        kept = path.with_name(f"{stem}.user{'' if number == 1 else f'-{number}'}{suffix}")
        if not os.path.lexists(kept):
            path.rename(kept)
            return kept
    raise ExportFolderError(f"{path} is not the package's, and no free name is left to keep it aside: move it away")


def merged_skip_report(export_dir: Path, config_name: str, part: Slice | None, report: Path | None) -> str | None:
    """The text the config's merged skip report will have once the build's `report` is kept: the reports of
    every present slice (a whole export's alone replaces them all); None when there is none. Nothing is
    written: ExportFolderError for reports whose columns differ, before the export changes anything."""
    own = _skip_report_part(config_name, part)
    folder = export_dir / WORK_FOLDER / "skip_reports"
    pieces = {}
    if part is not None and folder.is_dir():
        pieces = {piece.name: piece for piece in folder.glob(f"{config_name}.*tsv") if piece.name != own}
    if report is not None:
        pieces[own] = report
    header, rows = None, []
    for name, piece in sorted(pieces.items()):
        lines = piece.read_text(encoding="utf-8").splitlines(keepends=True)
        header = header or lines[0]
        if lines[0] != header:  # e.g. a slice exported by an older version, without the kind column
            found, expected = (line.rstrip("\n").replace("\t", ", ") for line in (lines[0], header))
            raise ExportFolderError(
                f"{folder / name}: a skip report with the columns {found}, where the other slices' have {expected}: "
                f"export every slice of {config_name} again with this version"
            )
        rows += lines[1:]
    return None if header is None else header + "".join(sorted(rows))


def keep_skip_report(export_dir: Path, config_name: str, part: Slice | None, report: Path | None) -> None:
    """Keep the build's skip report in the work folder, as the report of the config or of slice `part`."""
    folder = export_dir / WORK_FOLDER / "skip_reports"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(f"{config_name}.*") if part is None else [folder / _skip_report_part(config_name, part)]:
        old.unlink(missing_ok=True)
    if report is not None:
        shutil.copyfile(report, folder / _skip_report_part(config_name, part))


def _skip_report_part(config_name: str, part: Slice | None) -> str:
    return f"{config_name}.tsv" if part is None else f"{config_name}.slice-{part.index}-of-{part.count}.tsv"


SKIP_REPORT_PREFIX, SKIP_REPORT_SUFFIX = "skip_report.", ".tsv"


def skip_report_name(config_name: str) -> str:
    """The file name of a config's merged skip report in the export folder."""
    return f"{SKIP_REPORT_PREFIX}{config_name}{SKIP_REPORT_SUFFIX}"


# ---------------------------------------------------------------------------------------------------
# What the folder holds.


def exported_configs(
    export_dir: Path, record: FolderRecord, builder: type[datasets.DatasetBuilder], leave_out: Iterable[str] = ()
) -> dict[str, ExportedConfig]:
    """The configs of the folder that have shards, as the record names them, each with its Availability;
    but those in `leave_out` (damaged: see `damaged_configs`)."""
    configs = {}
    for name, config in sorted(record.configs.items()):
        if config.shards and name not in leave_out:
            exported = read_exported_config(export_dir / name, config.shards)
            configs[name] = dataclasses.replace(
                exported, availability=availability(export_dir, record, name, builder, exported.num_examples)
            )
    return configs


def damaged_configs(
    export_dir: Path, record: FolderRecord, exporting: str | None = None, part: Slice | None = None
) -> dict[str, list[str]]:
    """The configs of the folder some of whose shards are gone, with those shards, each with a warning that
    says how to repair it: such a config would load without their rows, so it is left out of the card until
    it is exported again. A config whose shards are all gone (its folder deleted) is left out of the record,
    with a warning.

    The shards an export of config `exporting` (or of its slice `part`) is about to replace do not count:
    exporting a damaged config again repairs it, and a damaged config never blocks exporting another. Only
    a slice of a config whose other slices lost shards is refused (ExportFolderError, see
    `check_exported_config_intact`): it would install into a config that cannot load.
    """
    check_exported_config_intact(export_dir, record, exporting, part)
    damaged = {}
    for name, gone in sorted(_gone_shards(export_dir, record, exporting, part).items()):
        config = record.configs[name]
        if len(gone) == len(config.shards):
            logger.warning("%s: every shard of config %s is gone: the export no longer holds it", export_dir, name)
            del record.configs[name]
            continue
        damaged[name] = gone
        again = _commands_again(record.dataset, name, config, gone)
        logger.warning(
            "%s: %s is left out of the card, so that it does not load without those rows, until it is exported "
            "into %s again (%s); or delete the folder %s to drop it",
            _gone_words(export_dir, name, config, gone), name, export_dir, again, export_dir / name,
        )  # fmt: skip
    return damaged


def check_exported_config_intact(
    export_dir: Path, record: FolderRecord, exporting: str | None, part: Slice | None
) -> None:
    """Refuse (ExportFolderError) exporting slice `part` of config `exporting` while shards of its other slices
    are gone, saying which slices to export again. A whole export replaces every shard: never refused."""
    if exporting is None or part is None or exporting not in record.configs:
        return
    gone = _gone_shards(export_dir, record, exporting, part).get(exporting)
    config = record.configs[exporting]
    if gone and len(gone) < len(config.shards):
        raise ExportFolderError(
            f"{_gone_words(export_dir, exporting, config, gone)}: slice {part} would join a config that cannot load; "
            f"export {exporting} there again first ({_commands_again(record.dataset, exporting, config, gone)}), or "
            f"delete the folder {export_dir / exporting} to start it over"
        )


def _gone_shards(
    export_dir: Path, record: FolderRecord, exporting: str | None, part: Slice | None
) -> dict[str, list[str]]:
    """The recorded shards that are gone, by config; but those an export of `exporting` (`part`) replaces."""
    found = {}
    for name, config in record.configs.items():
        replaced = set()
        if name == exporting:
            replaced = {shard for shard in config.shards if part is None or _slice_index(shard) == part.index}
        gone = [shard for shard in config.shards if shard not in replaced and not (export_dir / name / shard).is_file()]
        if gone:
            found[name] = gone
    return found


def _gone_words(export_dir: Path, name: str, config: ConfigRecord, gone: list[str]) -> str:
    return (
        f"{export_dir / name / gone[0]} is gone ({len(gone)} of the {len(config.shards)} shards the package wrote "
        f"for {name})"
    )


def _commands_again(dataset: str, name: str, config: ConfigRecord, gone: list[str]) -> str:
    """The export commands that write `gone` again: the config's, or those of the slices they belong to."""
    slices = sorted({index for index in map(_slice_index, gone) if index is not None})
    flags = [f" --slice {index}/{config.slice_count}" for index in slices] if config.slice_count else [""]
    return " and ".join(f"`celeb-datasets export {dataset} --config {name}{flag} ...`" for flag in flags)


def availability(
    export_dir: Path, record: FolderRecord, config_name: str, builder: type[datasets.DatasetBuilder], rows: int
) -> Availability | None:
    """What the config's export holds of the release: its rows, and the items left out by kind from the
    merged skip report the package wrote (None when that report was edited since)."""
    report = export_dir / skip_report_name(config_name)
    left_out: Counter[str] = Counter()
    kept: Counter[str] = Counter()
    if os.path.lexists(report):
        if not _is_own(report, record.files.get(report.name)):
            return None  # edited, or not the package's: what it says is not known
        for kind in kinds_of_lines(read_skip_report(report), getattr(builder, "SKIP_KINDS", ()), report):
            (kept if kind.keeps_row else left_out)[kind.name] += 1
    config = record.configs[config_name]
    return Availability(
        rows,
        dict(left_out),
        dict(kept),
        release_items(builder, config_name),
        config.slice_count,
        tuple(sorted(config.slices)),
    )


def _process_tag() -> str:
    return f"{socket.gethostname()}.{os.getpid()}"
