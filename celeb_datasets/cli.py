"""The `celeb-datasets` command line: prepare, export and publish the datasets of this package.

    celeb-datasets export celebv_hq --sample --output celebv_hq_export   # the bundled sample, end to end
    celeb-datasets prepare celebv_hq --config clips --data-dir ~/CelebV-HQ --num-proc 8
    celeb-datasets export celebv_hq --config annotations --data-dir ~/CelebV-HQ --output celebv_hq_export
    celeb-datasets publish celebv_hq_export --repo my-org/celebv-hq        # private unless --public
    celeb-datasets dataset-infos                               # rewrite dataset_infos.json
    celeb-datasets docs                                        # rewrite the generated parts of the docs
    celeb-datasets prepare celebv_hq --help                    # every option of a dataset's configs

A dataset's config options are flags of `prepare DATASET` and `export DATASET` (`--crf 18`, `--fetch`),
derived from their declarations; `--option NAME=VALUE` also works. Datasets add their own commands
(CelebV-HQ: `download`, `status`) through the registry.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import select
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from celeb_datasets.engines import DEFAULT_ENGINE, ENGINES, DatasetsEngine, DatasetsSettings, Engine, EngineSettings
from celeb_datasets.errors import CelebDatasetsError, OptionError
from celeb_datasets.options import (
    add_option_flags,
    given_options,
    option_named,
    options_of,
    path_argument,
    unknown_option_error,
)
from celeb_datasets.registry import (
    DATASETS,
    builder_class,
    command_module,
    config_names,
    installed_datasets,
    sample_maker,
)
from celeb_datasets.shards import shard_prefix

logger = logging.getLogger("celeb_datasets")


class CommandLineParser(argparse.ArgumentParser):
    """argparse, with a mistake reported as one `error:` line (exit 2) rather than a usage block."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    try:
        try:
            arguments = build_parser().parse_args(argv)
        except SystemExit as exit:
            sys.stdout.flush()  # `--help | head`: a closed stdout is met here, not at exit
            return int(exit.code or 0)
        _configure_output(quiet=arguments.quiet)
        with _signals_interrupt():
            exit_code = arguments.run(arguments)
        sys.stdout.flush()
        return exit_code
    except CelebDatasetsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # A half-done build is not kept (datasets removes it); finished downloads are in the manifest.
        print("interrupted: run the same command again (a build starts over, a download resumes)", file=sys.stderr)
        return 130
    except BrokenPipeError:
        if not _stdout_closed():
            raise  # another pipe (a child process's): a real error
        # The reader of stdout is gone (`| head -5`): stop quietly, as Unix tools do on SIGPIPE.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the flush at exit must not fail again
        return 128 + signal.SIGPIPE


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP (`kill`, a closed terminal, a batch system's time limit) end a command as Ctrl-C
    does: a build's workers are ended, downloads finish the video in hand, and the command exits 130 with
    one line. A process forked by the command ends as the signal would, not with the command's line."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set in the main thread
        return
    owner = os.getpid()

    def interrupt(number: int, frame: object) -> None:
        if os.getpid() != owner:
            signal.signal(number, signal.SIG_DFL)
            os.kill(os.getpid(), number)
            return
        raise KeyboardInterrupt(signal.Signals(number).name)

    previous = {number: signal.signal(number, interrupt) for number in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reading end was closed."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):
        return False


def build_parser() -> argparse.ArgumentParser:
    parser = CommandLineParser(prog="celeb-datasets", description=__doc__.split("\n\n")[0])
    common = CommandLineParser(add_help=False)
    common.add_argument(
        "--quiet", action="store_true", help="no progress bars; only warnings and errors (of Ray and the Hub: errors)"
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=CommandLineParser)

    # A registered dataset whose code is missing leaves only its own commands out.
    installed, missing = installed_datasets()
    for error in missing:
        print(f"warning: {error}: its commands are left out", file=sys.stderr)

    prepare = commands.add_parser("prepare", help="build a dataset config into Arrow shards in the cache")
    add_dataset_parsers(prepare, common, run_prepare, add_prepare_arguments, installed)

    export = commands.add_parser(
        "export", help="prepare a config (if needed) and write it as Parquet shards + dataset card in the Hub layout"
    )
    add_dataset_parsers(export, common, run_export, add_export_arguments, installed)

    publish = commands.add_parser(
        "publish", parents=[common], help="push an export folder to a Hugging Face Hub dataset repo"
    )
    publish.add_argument("export_dir", type=path_argument, help="a folder written by `export`")
    publish.add_argument("--repo", required=True, metavar="ORG/NAME", help="the Hub dataset repo (created if absent)")
    publish.add_argument(
        "--config",
        action="append",
        dest="configs",
        metavar="NAME",
        help="publish only this config (repeatable; default: every config in the folder)",
    )
    publish.add_argument("--public", action="store_true", help="create the repo public (default: private)")
    publish.add_argument("--revision", help="a branch to commit to (created from main if absent), or refs/pr/N")
    publish.add_argument("--create-pr", action="store_true", help="open a pull request instead of committing")
    publish.add_argument("--message", help="the commit message")
    publish.add_argument(
        "--timeout-sec",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long each request waits for the Hub's answer (default 60)",
    )
    publish.set_defaults(run=run_publish)

    infos = commands.add_parser(
        "dataset-infos",
        parents=[common],
        help="write dataset_infos.json: features, splits and sizes of every config of every dataset",
    )
    infos.add_argument(
        "--output", type=path_argument, default=Path("dataset_infos.json"), help="default ./dataset_infos.json"
    )
    infos.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the file differs from what the builders give"
    )
    infos.set_defaults(run=run_dataset_infos)

    docs = commands.add_parser(
        "docs",
        parents=[common],
        help="rewrite the generated parts of README.md and docs/*.md (known defects, features, options) from the code",
    )
    docs.add_argument(
        "files", nargs="*", type=path_argument, help="Markdown files (default: README.md and docs/*.md here)"
    )
    docs.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a file's generated parts differ from the code"
    )
    docs.set_defaults(run=run_docs)
    for name in installed:
        try:
            module = command_module(name)
        except CelebDatasetsError as error:
            print(f"warning: {error}: its commands are left out", file=sys.stderr)
            continue
        if module is not None:
            module.add_commands(commands, common)
    return parser


def add_dataset_parsers(
    command: argparse.ArgumentParser,
    common: argparse.ArgumentParser,
    run: Any,
    extra: Any = None,
    names: Sequence[str] | None = None,
) -> None:
    """One parser per dataset (`names`, default every registered one) under `command`, each with the builder
    arguments and its configs' options."""
    datasets = command.add_subparsers(dest="dataset", required=True, metavar="DATASET", parser_class=CommandLineParser)
    for name in DATASETS if names is None else names:
        builder = builder_class(name)
        parser = datasets.add_parser(name, parents=[common], help=f"{builder.PRETTY_NAME} ({name})")
        add_builder_arguments(parser, name)
        if extra is not None:
            extra(parser, name)
        options = parser.add_argument_group(f"options of {name}'s configs (also --option NAME=VALUE)")
        add_option_flags(options, builder.BUILDER_CONFIG_CLASS, exclude=builder.defining_options())
        parser.set_defaults(run=run)


def add_builder_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """The arguments that choose and configure a builder, shared by every command that builds."""
    parser.add_argument("--config", help=f"config name: {', '.join(config_names(name))} (default: the first)")
    parser.add_argument("--data-dir", type=path_argument, help="your download folder")
    parser.add_argument("--cache-dir", type=path_argument, help="where the Arrow shards go (default: datasets' cache)")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a config option by name, e.g. on_missing=error (the same as its flag)",
    )
    if sample_maker(name) is not None:
        parser.add_argument(
            "--sample",
            nargs="?",
            type=path_argument,
            const=f"{name}_sample",
            metavar="FOLDER",
            help=f"lay out the bundled sample in FOLDER (default ./{name}_sample: new, empty, or laid out by "
            "--sample before) and build from it; export builds every config unless --config is given",
        )


def add_prepare_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    # Preparing is the datasets engine's first step: its settings are the flags.
    add_option_flags(parser.add_argument_group("how the cache is built"), DatasetsSettings)


def add_export_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument(
        "--output",
        required=True,
        type=path_argument,
        help="the export folder: new, empty, or an export of the same dataset (configs and slices accumulate in it)",
    )
    parser.add_argument(
        "--engine",
        choices=list(ENGINES),
        default=DEFAULT_ENGINE,
        help="; ".join(f"{engine.name}: {engine.description}" for engine in ENGINES.values())
        + f" (default: {DEFAULT_ENGINE})",
    )
    add_option_flags(parser.add_argument_group("settings of every engine"), EngineSettings)
    added = set(options_of(EngineSettings))
    for engine in ENGINES.values():
        # Engines declaring the same setting share its flag.
        own = [option_name for option_name in options_of(engine.settings_class) if option_name not in added]
        if own:
            group = parser.add_argument_group(f"settings of --engine {engine.name}")
            add_option_flags(group, engine.settings_class, exclude=set(options_of(engine.settings_class)) - set(own))
            added.update(own)


def engine_settings(engine: Engine, arguments: argparse.Namespace) -> EngineSettings:
    """The settings of `engine` given as flags (OptionError for a flag of another engine: it would do nothing)."""
    own = options_of(engine.settings_class)
    for other in ENGINES.values():
        for name in given_options(arguments, other.settings_class):
            if name not in own:
                flag = options_of(other.settings_class)[name].flag
                raise OptionError(f"{flag} is a setting of --engine {other.name}, not of --engine {engine.name}")
    return engine.settings_class(**given_options(arguments, engine.settings_class))


def make_builder(arguments: argparse.Namespace, **overrides: Any) -> Any:
    """The builder chosen by `add_builder_arguments`' arguments (options parsed by their declared types)."""
    builder = builder_class(arguments.dataset)
    configs = config_names(arguments.dataset)
    if arguments.config is not None and arguments.config not in configs:
        raise OptionError(f"{arguments.dataset} has no config {arguments.config!r}; its configs: {', '.join(configs)}")
    config_class = builder.BUILDER_CONFIG_CLASS
    options: dict[str, Any] = given_options(arguments, config_class)
    for text in arguments.option:
        name, separator, value = text.partition("=")
        if not separator or not name:
            raise OptionError(f"--option {text!r}: expected NAME=VALUE")
        spec = option_named(config_class, name)
        if spec is None:
            error = unknown_option_error(name, arguments.dataset, builder.option_names())
            raise OptionError(f"--option {name}: {error}")
        options[spec.name] = spec.parse(value)
    options |= overrides
    data_dir = options.pop("data_dir", None) or arguments.data_dir
    if arguments.cache_dir is not None and arguments.cache_dir.exists() and not arguments.cache_dir.is_dir():
        raise OptionError(f"--cache-dir {arguments.cache_dir}: a file is there; give a folder (created if absent)")
    return builder(
        config_name=arguments.config,
        data_dir=None if data_dir is None else str(data_dir),
        cache_dir=None if arguments.cache_dir is None else str(arguments.cache_dir),
        **options,
    )


def run_prepare(arguments: argparse.Namespace) -> int:
    settings = DatasetsSettings(**given_options(arguments, DatasetsSettings))
    builder = make_builder(arguments, **_sample_overrides(arguments))
    DatasetsEngine().prepare(builder, settings)
    dataset = builder.as_dataset()
    for split, rows in dataset.items():
        files = len(rows.cache_files)
        print(f"{arguments.dataset}/{builder.config.name} {split}: {rows.num_rows:,} rows in {files} Arrow file(s)")
    print(f"cache: {builder.cache_dir}")
    return _retry_exit_code(builder)


def _retry_exit_code(builder: Any) -> int:
    """1, with the builder's line on stderr, when the build left items to retry (a network problem must not
    look like success); else 0."""
    if getattr(builder, "retry_summary", None):
        print(builder.retry_summary, file=sys.stderr)
        return 1
    return 0


def run_export(arguments: argparse.Namespace) -> int:
    from celeb_datasets.export_folder import check_cache_outside, check_export_path

    engine = ENGINES[arguments.engine]
    settings = engine_settings(engine, arguments)
    # Checked before a builder is made: datasets creates its cache folder when a builder is made.
    output = check_export_path(arguments.output)
    check_cache_outside(output, arguments.cache_dir)
    # The sample is small: without --config, export every config of it.
    sample = getattr(arguments, "sample", None)
    configs = config_names(arguments.dataset) if sample and not arguments.config else [arguments.config]
    overrides = _sample_overrides(arguments)
    exit_code = 0
    loadable = []
    for config in configs:
        arguments.config = config
        builder = make_builder(arguments, **overrides)
        exported = engine.export(builder, output, settings)
        exit_code = max(exit_code, _retry_exit_code(builder))
        for split in exported.splits:
            print(
                f"{arguments.dataset}/{exported.name} {split.name}: {split.num_examples:,} rows in "
                f"{len(split.shards)} Parquet shard(s), {split.file_bytes / 1e6:,.1f} MB"
            )
        _print_slices(arguments.dataset, exported, builder.config.slice, output)
        if exported.splits:
            loadable.append(exported.name)
    if loadable:
        print(f"export folder: {output} (load it with datasets.load_dataset({str(output)!r}, {loadable[-1]!r}))")
    else:  # a slice whose every item was left out, into a folder without rows of the config yet
        print(
            f"export folder: {output} (no rows of {arguments.dataset}/{exported.name} in it yet, so nothing to load: "
            "the config loads once a slice with rows is exported into the folder)"
        )
    return exit_code


def _print_slices(dataset: str, exported: Any, part: Any, output: Path) -> None:
    """For a config exported in slices: whether this slice has rows, which slices the folder holds, and
    whether the config is whole."""
    held = exported.availability
    if held is None or held.slice_count is None:
        return
    own_shards = [
        shard
        for split in exported.splits
        for shard in split.shards
        if part is not None and shard.name.startswith(f"{shard_prefix(split.name, part)}-")
    ]
    if part is not None and not own_shards:
        print(f"{dataset}/{exported.name}: slice {part} has no row (see {output}/skip_report.{exported.name}.tsv)")
    if held.partial:
        print(
            f"{dataset}/{exported.name}: {output} holds {held.slices_text()}: a partial dataset until every "
            "slice is exported into it"
        )
    else:
        print(f"{dataset}/{exported.name}: {output} holds every slice ({held.slices_text()})")


def run_publish(arguments: argparse.Namespace) -> int:
    from celeb_datasets.publish import publish

    result = publish(
        arguments.export_dir,
        arguments.repo,
        configs=arguments.configs,
        private=not arguments.public,
        revision=arguments.revision,
        create_pr=arguments.create_pr,
        commit_message=arguments.message,
        timeout_sec=arguments.timeout_sec,
    )
    visibility = "private" if result.private else "PUBLIC"
    print(f"published {', '.join(result.configs)} to {result.repo_id} ({visibility}): {result.commit_url}")
    if result.pull_request_url:
        print(f"pull request: {result.pull_request_url}")
    return 0


def run_dataset_infos(arguments: argparse.Namespace) -> int:
    from celeb_datasets.hub import dataset_infos_text

    text = dataset_infos_text()
    if arguments.check:
        current = arguments.output.read_text(encoding="utf-8") if arguments.output.exists() else ""
        if current != text:
            print(f"{arguments.output} is out of date: run `celeb-datasets dataset-infos`", file=sys.stderr)
            return 1
        print(f"{arguments.output} is up to date")
        return 0
    arguments.output.write_text(text, encoding="utf-8")
    print(f"wrote {arguments.output}")
    return 0


def run_docs(arguments: argparse.Namespace) -> int:
    from celeb_datasets.docs import documentation_files, stale_files, write_docs

    files = arguments.files or documentation_files()
    if not files:
        raise CelebDatasetsError(
            f"no README.md or docs/*.md in {Path.cwd()}: run it at the repository's root, or name the files"
        )
    if arguments.check:
        stale = stale_files(files)
        for path in stale:
            print(f"{path} is out of date: run `celeb-datasets docs`", file=sys.stderr)
        if stale:
            return 1
        print(f"{len(files)} file(s) up to date")
        return 0
    changed = write_docs(files)
    print(f"rewrote {', '.join(map(str, changed))}" if changed else f"{len(files)} file(s) already up to date")
    return 0


def _sample_overrides(arguments: argparse.Namespace) -> dict[str, Any]:
    """With --sample: lay out the dataset's bundled sample and build from it."""
    folder = getattr(arguments, "sample", None)
    if not folder:
        return {}
    make_sample = sample_maker(arguments.dataset)
    assert make_sample is not None  # --sample exists only for datasets with a sample
    builder = builder_class(arguments.dataset)
    arguments.config = arguments.config or getattr(builder, "SAMPLE_CONFIG", None)
    print(f"Laying out the {builder.PRETTY_NAME} sample in {folder} ...", flush=True)
    return {"data_dir": make_sample(folder)}


def _configure_output(quiet: bool) -> None:
    """The package's messages at info (its summaries are part of a command's output), or only its warnings
    and errors with --quiet, which also leaves only errors of the libraries: no progress bars, no warnings
    of datasets or huggingface_hub (Ray's follow the package's logger: engines.ray_engine)."""
    import datasets
    from huggingface_hub.utils import disable_progress_bars
    from huggingface_hub.utils import logging as hub_logging

    logging.basicConfig(format="%(message)s", level=logging.WARNING)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    # Both libraries print through a handler of their own: passed on to ours as well, each line would show twice.
    datasets.utils.logging.disable_propagation()
    logging.getLogger("huggingface_hub").propagate = False
    if quiet:
        datasets.disable_progress_bars()
        datasets.utils.logging.set_verbosity_error()
        disable_progress_bars()
        hub_logging.set_verbosity_error()


if __name__ == "__main__":
    sys.exit(main())
