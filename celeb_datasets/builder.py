"""What both builders share: the options every config has, and the builder base.

A builder of this package subclasses `CelebBuilder` and keeps only its dataset: its configs, the card
attributes, `_split_generators` and `_generate_tables`. The base gives it, once for all builders:

- options checked by their declared type, and a named config's defining options kept fixed;
- a cache keyed by the absolute data folder and a fingerprint of the sources that define the rows;
- errors found while generating (in this process or a worker) raised as the package's own exception;
- a skip report, and an accounting check that every item the sources name is a row or a skip line;
- a clean start after an interrupted run, and worker processes that end with their parent;
- `as_dataset()` that gives an empty split (0 rows) rather than failing on it;
- `plan_splits`, with which other engines (celeb_datasets.engines) plan a build as the builder does.
"""

from __future__ import annotations

import copy
import dataclasses
import gc
import hashlib
import inspect
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

import datasets
import pyarrow as pa

from celeb_datasets import __version__, datasets_internals
from celeb_datasets.errors import OptionError, StorageError
from celeb_datasets.fingerprint import sources_fingerprint
from celeb_datasets.generation import (
    STORAGE_ERRNOS,
    carried,
    interruption_behind,
    storage_error,
    surfaced,
    surfacing_errors,
)
from celeb_datasets.options import (
    check_options,
    coerce_option_value,
    option,
    option_named,
    option_types,
    options_of,
    parse_byte_size,
    unknown_option_error,
)
from celeb_datasets.skips import (
    SKIP_REPORT_FILE,
    SkipKind,
    SkipLog,
    SkipSummary,
    count_kinds,
    finish_build,
    finish_skip_report,
    summarize_skip_report,
)
from celeb_datasets.slices import Slice
from celeb_datasets.workers import leaving_signals_to_the_build

logger = logging.getLogger("celeb_datasets")


@dataclasses.dataclass
class CelebBuilderConfig(datasets.BuilderConfig):
    """Options every config of this package has.

    Args:
        on_missing: "skip" (default) leaves out an item (clip, image) whose media is missing or unusable
            and lists it with its reason in the skip report; "error" stops at the first one.
        media_check: how media are checked before they are stored: "fast" (default) reads their
            structure (every packet of a video demuxed, an image's markers and PIL's verify); "full"
            also decodes every frame and pixel, which is slower but finds damage inside the data.
        slice: build only slice I of N ("I/N" or a `Slice`); N slices exported into one folder make the
            whole config. Only configs whose class sets BUILT_IN_SLICES take it.
    """

    # Whether the dataset divides its sources between slices (its `_split_generators` keeps only the
    # work items of `slice`); configs of other datasets refuse the option.
    BUILT_IN_SLICES: ClassVar[bool] = False

    on_missing: Literal["skip", "error"] = option(
        "skip", "skip: leave out an item whose media is missing or unusable, listed in the skip report; error: stop"
    )
    media_check: Literal["fast", "full"] = option(
        "fast", "how media are checked before they are stored: fast reads their structure, full decodes them"
    )
    slice: Slice | None = option(
        None,
        "build only slice I of N (e.g. $SLURM_ARRAY_TASK_ID/16); N slices in one export folder make the whole config",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        self.validate()

    def validate(self) -> None:
        """Refuse impossible options now rather than mid-build: each option must have its declared type."""
        check_options(self)
        if self.slice is not None and not self.BUILT_IN_SLICES:
            raise OptionError(
                f"option slice: config {self.name!r} is not built in slices (its dataset does not divide its sources "
                "between jobs): build it whole"
            )

    @property
    def stores_media(self) -> bool:
        """Whether rows hold media bytes (written in small batches to keep memory bounded)."""
        return False

    def features(self) -> datasets.Features:
        """The features of this config's rows."""
        raise NotImplementedError


def arrow_table(columns: dict[str, Any], features: datasets.Features) -> pa.Table:
    """A table of `columns` (values per feature name: lists or Arrow arrays) in the schema of `features`."""
    schema = features.arrow_schema
    arrays = [pa.array(columns[name], schema.field(name).type) for name in schema.names]
    return pa.Table.from_arrays(arrays, schema=schema)


class CelebBuilder(datasets.ArrowBasedBuilder):
    """The base of this package's builders (see the module docstring for what it gives).

    A subclass sets the card attributes below, SKIP_REPORT_COLUMNS (the item id first, then "kind" and
    "reason" last) and SKIP_KINDS, and in `_split_generators` calls `self.expect_items(ids)` with every
    item the sources name and records skips to `self.skip_log()`. Giving each split's work as independent
    items, `gen_kwargs={"items": [...], "skip_folder": ...}` (celeb_datasets.engines.work), lets every
    engine build it, one item per task.
    """

    # The dataset card (card.py): what the dataset is, where it comes from, its terms and known defects.
    PRETTY_NAME: ClassVar[str]
    DESCRIPTION: ClassVar[str]
    CITATION: ClassVar[str]
    HOMEPAGE: ClassVar[str]
    LICENSE: ClassVar[str]
    LICENSE_NAME: ClassVar[str]
    KNOWN_DEFECTS: ClassVar[tuple[str, ...]] = ()
    TASK_CATEGORIES: ClassVar[tuple[str, ...]] = ()
    TAGS: ClassVar[tuple[str, ...]] = ()
    FEATURE_DESCRIPTIONS: ClassVar[dict[str, str]] = {}
    # Rows of the full-size release per config and split, for dataset_infos.json (None: depends on the download).
    SPLIT_SIZES: ClassVar[dict[str, dict[str, int | None]]] = {}
    # Items the full release has per config and split, for the card's availability section, where they differ
    # from SPLIT_SIZES (a config whose rows depend on the download still has the release's items to hold).
    RELEASE_SIZES: ClassVar[dict[str, dict[str, int]]] = {}

    SKIP_REPORT_COLUMNS: ClassVar[tuple[str, ...]]
    # Every kind of line the dataset's skip report may hold (declared once in the dataset's package).
    SKIP_KINDS: ClassVar[tuple[SkipKind, ...]]
    # Kinds whose item a rerun may still get (a download left to retry): a cached build holding some is not
    # served as complete (see `rebuilds_for_retries`).
    RETRY_KINDS: ClassVar[tuple[SkipKind, ...]] = ()
    # What to do when a build has no row at all: where the media belong.
    NO_ROWS_HINT: ClassVar[str] = ""
    # Rows per Arrow record batch when the config stores media (megabytes per row).
    MEDIA_WRITER_BATCH_SIZE: ClassVar[int] = 16
    # Configs whose splits do not give their work as items (celeb_datasets.engines.work): engines other than
    # datasets' own refuse them, naming the configs they build.
    CONFIGS_WITHOUT_ITEMS: ClassVar[tuple[str, ...]] = ()

    BUILDER_CONFIG_CLASS: type[CelebBuilderConfig]
    config: CelebBuilderConfig

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_generate_tables" in cls.__dict__:
            cls._generate_tables = surfacing_errors(cls.__dict__["_generate_tables"])  # type: ignore[method-assign]

    def __init__(
        self,
        *args: Any,
        config_name: str | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        hash: str | None = None,
        **kwargs: Any,
    ) -> None:
        # An absolute data folder keys the cache: `data/` in two working folders are two datasets.
        if data_dir is not None:
            data_dir = os.path.abspath(os.path.expanduser(os.fspath(data_dir)))
        kwargs = _current_option_names(self.BUILDER_CONFIG_CLASS, kwargs)
        self.check_keywords(kwargs)
        config = self.resolve_config(config_name, data_dir, kwargs)
        # The cache key holds the options that define the rows, and only those: a proxy or a retry
        # count reuses the build.
        kwargs.setdefault("config_id", cache_config_id(config, self.builder_configs[config.name]))
        if hash is None:
            # The cache follows what defines the rows: the sources, the options (in the config id) and this code.
            hash = sources_fingerprint(self.source_paths(config, data_dir), __version__)
        if config.stores_media:
            kwargs.setdefault("writer_batch_size", self.MEDIA_WRITER_BATCH_SIZE)
        try:
            super().__init__(*args, config_name=config_name, data_dir=data_dir, hash=hash, **kwargs)
        except OSError as error:
            if error.errno not in STORAGE_ERRNOS:
                raise
            where = kwargs.get("cache_dir") or datasets.config.HF_DATASETS_CACHE
            raise StorageError(f"cannot use {where} as the cache folder: {error}") from None
        # datasets sets options given to the builder after the config was made: check them again.
        self.config.validate()
        self.skip_summary: str | None = None
        # After `download_and_prepare`: how many items of the build wait for a rerun, and what to do.
        self.items_to_retry = 0
        self.retry_summary: str | None = None
        self._expected_items: list[str] | None = None
        self._built: SkipSummary | None = None
        self._planning_skip_folder: str | None = None
        self.build_pid = os.getpid()

    @classmethod
    def resolve_config(cls, config_name: str | None, data_dir: str | None, kwargs: dict[str, Any]) -> Any:
        """The config that `config_name` and the options in `kwargs` give, checked (OptionError if not).

        A named config's defining options (those that differ between the named configs, e.g. `with_video`)
        cannot be changed: that would be another dataset under the same name.
        """
        name = config_name or cls.DEFAULT_CONFIG_NAME
        named = cls.builder_configs.get(name)
        if named is None:
            raise OptionError(f"{cls.__name__} has no config {name!r}; its configs: {', '.join(cls.builder_configs)}")
        types = option_types(cls.BUILDER_CONFIG_CLASS)
        options = {
            key: coerce_option_value(key, value, types[key])
            for key, value in kwargs.items()
            if key in types and value is not None
        }
        kwargs.update(options)
        for key in _defining_options(cls):
            if key in options and options[key] != getattr(named, key):
                others = [c.name for c in cls.BUILDER_CONFIGS if getattr(c, key) == options[key]]
                hint = f"; use the config {others[0]!r}" if len(others) == 1 else ""
                raise OptionError(
                    f"option {key}={options[key]!r} would change the config {name!r} (it has {key}="
                    f"{getattr(named, key)!r}) into another dataset under the same name{hint}"
                )
        config = copy.deepcopy(named)
        for key, value in {**options, "data_dir": data_dir}.items():
            setattr(config, key, value)
        config.validate()
        return config

    @classmethod
    def check_keywords(cls, kwargs: dict[str, Any]) -> None:
        """Refuse (OptionError, naming the closest name and every option) a keyword that is neither an option
        of the config nor an argument of datasets' builder: datasets would raise a bare ValueError."""
        config_fields = {field.name for field in dataclasses.fields(cls.BUILDER_CONFIG_CLASS)}
        builder_arguments = _parameters(datasets.DatasetBuilder.__init__)
        for key in kwargs:
            if key in config_fields or key in builder_arguments:
                continue
            if key in _parameters(datasets.DatasetBuilder.download_and_prepare):
                raise OptionError(f"{key} is an argument of download_and_prepare, not of {cls.__name__}: give it there")
            error = unknown_option_error(key, cls.__name__, cls.option_names(), also=builder_arguments)
            raise OptionError(f"option {key}: {error}")

    @classmethod
    def option_names(cls) -> list[str]:
        """Every option of this builder's configs (declared with celeb_datasets.options.option)."""
        return list(options_of(cls.BUILDER_CONFIG_CLASS))

    @classmethod
    def defining_options(cls) -> list[str]:
        """The options that tell the named configs apart (fixed by the config's name: `with_video`, `part`)."""
        return _defining_options(cls)

    @classmethod
    def source_paths(cls, config: Any, data_dir: str | None) -> list[Path]:
        """The files and folders whose content defines `config`'s rows (for the cache fingerprint).

        Files named like label files (.json, .txt, .csv, .tsv) are fingerprinted by content; other files
        by size and modification time; folders by the same for every file under them.
        """
        return [] if data_dir is None else [Path(data_dir)]

    @classmethod
    def slice_sources(cls, config: Any, data_dir: str | None) -> list[Path]:
        """The files from which a config built in slices assigns its items to slices (by their content).

        Every slice of one export folder must come from the same content of these files: an export records
        their fingerprint with each slice and refuses a slice whose fingerprint differs. By default, the
        files of `source_paths`; a dataset whose slices follow one annotation file names that file alone.
        """
        return [path for path in cls.source_paths(config, data_dir) if path.is_file()]

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description=self.DESCRIPTION,
            features=self.config.features(),
            homepage=self.HOMEPAGE,
            license=self.LICENSE,
            citation=self.CITATION,
        )

    # -----------------------------------------------------------------------------------------------
    # Skips and accounting, for the subclass's `_split_generators`.

    def skip_log(self, dl_manager: datasets.DownloadManager) -> SkipLog:
        """Where this build records what it leaves out (the log only, when streaming)."""
        streaming = isinstance(dl_manager, datasets.StreamingDownloadManager)
        folder = None if streaming else self._planning_skip_folder or datasets_internals.output_dir(self)
        return SkipLog(folder, self.SKIP_REPORT_COLUMNS)

    def expect_items(self, item_ids: list[str]) -> None:
        """Every item the sources name: the build must end with each as a row or a skip-report line."""
        self._expected_items = item_ids

    @property
    def expected_items(self) -> list[str] | None:
        """Every item the last planning of the splits named (None: not planned, or the builder names none)."""
        return self._expected_items

    def plan_splits(self, skip_folder: str | os.PathLike[str]) -> list[datasets.SplitGenerator]:
        """The splits `_split_generators` plans, for an engine that makes the rows itself (not in the cache).

        Skips found while planning are recorded into `skip_folder`; `expected_items` then names every item.
        """
        self._planning_skip_folder = os.fspath(skip_folder)
        try:
            manager = datasets.DownloadManager(dataset_name=self.dataset_name, data_dir=self.config.data_dir)
            return self._split_generators(manager)
        finally:
            self._planning_skip_folder = None

    @property
    def skip_report(self) -> Path:
        """The TSV of items left out or kept incomplete (id, ..., reason), after `download_and_prepare`."""
        return Path(datasets_internals.output_dir(self)) / SKIP_REPORT_FILE

    @property
    def refused_skip_report(self) -> Path:
        """Where the skip report of a refused build is kept: beside the cache folder, which a refusal never
        creates (the build's own folder, datasets' `.incomplete`, is deleted when the refusal is raised)."""
        return Path(f"{datasets_internals.prepared_dir(self)}.{SKIP_REPORT_FILE}")

    # -----------------------------------------------------------------------------------------------
    # Preparing.

    def download_and_prepare(self, *args: Any, **kwargs: Any) -> None:
        """Prepare the dataset (or reuse its cache), write the skip report and log a one-line summary.

        Raises the package's own error (CelebDatasetsError and its kinds) for anything wrong with the
        sources or the disk, whichever process found it; a failed build leaves nothing in the cache.
        """
        arguments = _parameters(datasets.DatasetBuilder.download_and_prepare)
        for key in kwargs:
            if key in arguments:
                continue
            if key in self.option_names():
                raise OptionError(
                    f"{key} is an option of the config, not an argument of download_and_prepare: give it to the "
                    f"builder, {type(self).__name__}(..., {key}=...)"
                )
            raise OptionError(f"download_and_prepare has no argument {key!r}; its arguments: {', '.join(arguments)}")
        num_proc = kwargs.get("num_proc")
        if num_proc is not None and (not isinstance(num_proc, int) or num_proc < 1):
            raise OptionError(f"num_proc must be a positive number of processes, not {num_proc!r}")
        if kwargs.get("max_shard_size") is not None:
            kwargs["max_shard_size"] = parse_byte_size("max_shard_size", kwargs["max_shard_size"])
        # Worker processes are forked. A PyAV codec left for the garbage collector in this process would
        # be freed in a child, where joining its decoder threads (which were not forked) hangs forever.
        gc.collect()
        self.build_pid = os.getpid()
        self._built = None
        reusing = kwargs.get("download_mode") in (None, datasets.DownloadMode.REUSE_DATASET_IF_EXISTS)
        waiting = self._count_items_to_retry() if reusing else 0
        if waiting and self.rebuilds_for_retries():
            logger.warning(
                "%s %s: the cached build left %s item(s) to retry: building again to retry them",
                self.PRETTY_NAME, self.config.name, f"{waiting:,}",
            )  # fmt: skip
            kwargs["download_mode"] = datasets.DownloadMode.REUSE_CACHE_IF_EXISTS
        if kwargs.get("download_mode") not in (None, datasets.DownloadMode.REUSE_DATASET_IF_EXISTS):
            # Built again: the cached build's split sizes (read from its info) are no longer what to expect.
            self.info.splits = None
        try:
            with leaving_signals_to_the_build():
                super().download_and_prepare(*args, **kwargs)
        except datasets.exceptions.DatasetGenerationError as error:
            raise surfaced(error, datasets_internals.output_dir(self)) from None
        except OSError as error:
            if error.errno not in STORAGE_ERRNOS:
                raise
            raise storage_error(error, datasets_internals.output_dir(self)) from error
        except Exception as error:
            # Interrupted while waiting for its workers, datasets' pool raises a TimeoutError of its own in
            # place of the KeyboardInterrupt (Ctrl-C, or SIGTERM on the command line): the interruption is
            # what happened.
            interruption = interruption_behind(error)
            if interruption is None:
                raise
            raise interruption from None
        self.refused_skip_report.unlink(missing_ok=True)  # the report of an earlier, refused build
        summary = self._built
        if summary is None:  # served from the cache: its report is summed up again
            summary = summarize_skip_report(self._what(), self._written(), self.skip_report, self.SKIP_KINDS)
        self.skip_summary = summary.text
        summary.log()
        self.note_items_to_retry(self.skip_report)

    def note_items_to_retry(self, report: Path, shown: Path | None = None) -> None:
        """Set `items_to_retry` and `retry_summary` from a finished build's skip report (any engine's; named as
        `shown`, where the user finds it), and warn when some items wait for a rerun."""
        self.items_to_retry = count_kinds(report, self.RETRY_KINDS)
        self.retry_summary = None
        if self.items_to_retry:
            kinds = ", ".join(kind.name for kind in self.RETRY_KINDS)
            self.retry_summary = (
                f"{self.PRETTY_NAME} {self.config.name}: {self.items_to_retry:,} item(s) wait for a download to retry "
                f"(kind {kinds} in {shown or report}): {self.retry_advice()}"
            )
            logger.warning(self.retry_summary)

    def rebuilds_for_retries(self) -> bool:
        """Whether a cached build with items to retry is built again by the same call (True), or served as it
        is with a warning (False: building again would cost too much; `retry_advice` says what to do)."""
        return True

    def retry_advice(self) -> str:
        """What to do about items left to retry, for the warning after a build."""
        return "run the same command again to retry them (it builds again)"

    def _count_items_to_retry(self) -> int:
        """Items to retry in the cached build's skip report (0 when nothing is cached)."""
        report = self.skip_report
        return count_kinds(report, self.RETRY_KINDS) if report.is_file() else 0

    def _download_and_prepare(self, dl_manager: Any, verification_mode: Any, **prepare_split_kwargs: Any) -> None:
        # Runs inside datasets' `.incomplete` folder, which becomes the cache only when this returns.
        datasets_internals.clear_incomplete_folder(self)
        self._expected_items = None
        super()._download_and_prepare(dl_manager, verification_mode, **prepare_split_kwargs)
        report = finish_skip_report(datasets_internals.output_dir(self), self.SKIP_REPORT_COLUMNS)
        item_column = self.SKIP_REPORT_COLUMNS[0]
        self._built = finish_build(
            self._what(),
            expected_ids=self._expected_items,
            row_ids=datasets_internals.written_column(self, item_column),
            report=report,
            item_column=item_column,
            kinds=self.SKIP_KINDS,
            no_rows_hint=self.NO_ROWS_HINT,
            report_shown=Path(datasets_internals.prepared_dir(self)) / SKIP_REPORT_FILE,
            refused_report=self.refused_skip_report,
            rows_required=self.config.slice is None,  # a slice's items may all be gone: its skip lines remain
        )

    def _prepare_split_single(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        # In a worker, an error of datasets' own writer (a full disk, a file-size limit) would reach the main
        # process rebuilt from its message alone, its cause lost: it crosses as the package's error instead.
        try:
            yield from super()._prepare_split_single(*args, **kwargs)
        except datasets.exceptions.DatasetGenerationError as error:
            raise carried(error, datasets_internals.output_dir(self)) from error

    def _what(self) -> str:
        return f"{self.PRETTY_NAME} {self.config.name}"

    def _written(self) -> int:
        return sum(split.num_examples or 0 for split in self.info.splits.values())

    def as_dataset(self, split: Any = None, **kwargs: Any) -> Any:
        """Like datasets' `as_dataset`, and a split with no rows (a partial download) is an empty dataset."""
        empty = [name for name, info in (self.info.splits or {}).items() if not info.num_examples]
        if not empty or (split is not None and str(split) not in empty):
            return super().as_dataset(split=split, **kwargs)
        if split is not None:
            return self._empty_split(str(split))
        parts = {name: self.as_dataset(split=name, **kwargs) for name in self.info.splits}
        return datasets.DatasetDict(parts)

    def _empty_split(self, split: str) -> datasets.Dataset:
        table = datasets_internals.InMemoryTable(self.info.features.arrow_schema.empty_table())
        return datasets.Dataset(table, info=self.info.copy(), split=datasets.Split(split))


def cache_config_id(config: CelebBuilderConfig, named: CelebBuilderConfig) -> str:
    """The config's part of the cache folder name: its name, and a digest of the data folder and of the
    options that define the rows where they differ from the named config (other options never count)."""
    if config == named:
        return named.name
    defining = {
        name: repr(getattr(config, name))
        for name, spec in options_of(type(config)).items()
        if spec.defines_rows and getattr(config, name) != getattr(named, name)
    }
    key = json.dumps({"data_dir": config.data_dir, "options": defining}, sort_keys=True)
    return f"{named.name}-{hashlib.blake2b(key.encode(), digest_size=8).hexdigest()}"


def _current_option_names(config_class: type[CelebBuilderConfig], kwargs: dict[str, Any]) -> dict[str, Any]:
    """`kwargs` with options given under an older name (`download_retries`) under their current one."""
    renamed = {}
    for key, value in kwargs.items():
        spec = option_named(config_class, key)
        renamed[spec.name if spec is not None else key] = value
    return renamed


def _parameters(method: Any) -> list[str]:
    """The named parameters of one of datasets' public methods (not `self`, not its `**kwargs`)."""
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [
        name
        for name, parameter in inspect.signature(method).parameters.items()
        if name != "self" and parameter.kind in named
    ]


def _defining_options(builder: type[CelebBuilder]) -> list[str]:
    """The options whose values differ between the builder's named configs."""
    types = option_types(builder.BUILDER_CONFIG_CLASS)
    return [key for key in types if len({repr(getattr(c, key)) for c in builder.BUILDER_CONFIGS}) > 1]
