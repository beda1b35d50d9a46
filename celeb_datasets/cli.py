"""The `celeb-datasets` command line: prepare, export and publish the datasets of this package.

    celeb-datasets prepare celebv_hq --sample                 # the bundled sample, end to end
    celeb-datasets prepare celebv_hq --config clips --data-dir ~/CelebV-HQ --num-proc 8
    celeb-datasets export celebv_hq --config annotations --data-dir ~/CelebV-HQ --output celebv_hq_export
    celeb-datasets publish celebv_hq_export --repo my-org/celebv-hq        # private unless --public
    celeb-datasets dataset-infos                               # rewrite dataset_infos.json

Builder options that are not flags of their own go through `--option name=value` (repeatable), so a
new builder's options need no change here.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from celeb_datasets.errors import CelebDatasetsError, OptionError
from celeb_datasets.registry import BUILDERS, builder_class, config_names

logger = logging.getLogger("celeb_datasets")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    _configure_output(quiet=arguments.quiet)
    try:
        return arguments.run(arguments)
    except CelebDatasetsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="celeb-datasets", description=__doc__.split("\n\n")[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quiet", action="store_true", help="no progress bars, only warnings and errors")
    commands = parser.add_subparsers(dest="command", required=True)

    prepare = commands.add_parser(
        "prepare", parents=[common], help="build a dataset config into Arrow shards in the cache"
    )
    add_builder_arguments(prepare)
    prepare_sample_help = (
        "generate the bundled CelebV-HQ sample (6 real records, generated raw videos) in FOLDER "
        "(default ./celebv_hq_sample) and build it; implies --config clips unless --config is given"
    )
    prepare.add_argument("--sample", nargs="?", const="celebv_hq_sample", metavar="FOLDER", help=prepare_sample_help)
    prepare.set_defaults(run=run_prepare)

    export = commands.add_parser(
        "export",
        parents=[common],
        help="prepare a config (if needed) and write it as Parquet shards + dataset card in the Hub layout",
    )
    add_builder_arguments(export)
    export.add_argument("--sample", nargs="?", const="celebv_hq_sample", metavar="FOLDER", help=prepare_sample_help)
    export.add_argument(
        "--output", type=Path, required=True, help="the export folder (one per dataset; configs accumulate in it)"
    )
    export.set_defaults(run=run_export)

    publish = commands.add_parser(
        "publish", parents=[common], help="push an export folder to a Hugging Face Hub dataset repo"
    )
    publish.add_argument("export_dir", type=Path, help="a folder written by `export`")
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
    publish.set_defaults(run=run_publish)

    infos = commands.add_parser(
        "dataset-infos",
        parents=[common],
        help="write dataset_infos.json: features, splits and sizes of every config of every dataset",
    )
    infos.add_argument("--output", type=Path, default=Path("dataset_infos.json"), help="default ./dataset_infos.json")
    infos.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the file differs from what the builders give"
    )
    infos.set_defaults(run=run_dataset_infos)
    return parser


def add_builder_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments that choose and configure a builder, shared by every command that builds."""
    parser.add_argument("dataset", choices=sorted(BUILDERS), help="which dataset")
    parser.add_argument("--config", help="config name (default: the builder's default config)")
    parser.add_argument("--data-dir", type=Path, help="your download folder")
    parser.add_argument("--cache-dir", type=Path, help="where the Arrow shards go (default: datasets' cache)")
    parser.add_argument("--num-proc", type=_positive_int, help="worker processes (shards are split between them)")
    parser.add_argument(
        "--force", action="store_true", help="build again even when the cache holds a build of the same sources"
    )
    parser.add_argument(
        "--max-shard-size",
        default="500MB",
        help="largest shard: Arrow in the cache, Parquet in exports (default 500MB)",
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a builder config option, e.g. on_missing=error, size=512, crop=none, crf=18, preset=fast",
    )


def make_builder(arguments: argparse.Namespace, **overrides: Any) -> Any:
    """The builder chosen by `add_builder_arguments`' arguments (options parsed by their declared types)."""
    from celeb_datasets.builder import option_types, parse_option_value

    builder = builder_class(arguments.dataset)
    configs = config_names(arguments.dataset)
    if arguments.config is not None and arguments.config not in configs:
        raise OptionError(f"{arguments.dataset} has no config {arguments.config!r}; its configs: {', '.join(configs)}")
    types = option_types(builder.BUILDER_CONFIG_CLASS)
    options: dict[str, Any] = {}
    for text in arguments.option:
        name, separator, value = text.partition("=")
        if not separator or not name:
            raise OptionError(f"--option {text!r}: expected NAME=VALUE")
        if name not in types:
            raise OptionError(
                f"--option {name}: {arguments.dataset} has no such option; its options: {', '.join(sorted(types))}"
            )
        options[name] = parse_option_value(name, value, types[name])
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


def prepare_builder(builder: Any, arguments: argparse.Namespace) -> None:
    """Build the chosen config into the cache (reused when its sources and options are unchanged)."""
    builder.download_and_prepare(
        num_proc=arguments.num_proc,
        max_shard_size=arguments.max_shard_size,
        download_mode="force_redownload" if arguments.force else None,
    )


def run_prepare(arguments: argparse.Namespace) -> int:
    builder = make_builder(arguments, **_sample_overrides(arguments))
    prepare_builder(builder, arguments)
    dataset = builder.as_dataset()
    for split, rows in dataset.items():
        files = len(rows.cache_files)
        print(f"{arguments.dataset}/{builder.config.name} {split}: {rows.num_rows:,} rows in {files} Arrow file(s)")
    print(f"cache: {builder.cache_dir}")
    return 0


def run_export(arguments: argparse.Namespace) -> int:
    from celeb_datasets.hub import export

    builder = make_builder(arguments, **_sample_overrides(arguments))
    # Preparing again is a no-op when the cache already holds this config.
    prepare_builder(builder, arguments)
    exported = export(builder, arguments.output, max_shard_size=arguments.max_shard_size)
    for split in exported.splits:
        print(
            f"{arguments.dataset}/{exported.name} {split.name}: {split.num_examples:,} rows in "
            f"{len(split.shards)} Parquet shard(s), {split.file_bytes / 1e6:,.1f} MB"
        )
    print(
        f"export folder: {arguments.output} (load it with datasets.load_dataset({str(arguments.output)!r}, "
        f"{exported.name!r}))"
    )
    return 0


def run_publish(arguments: argparse.Namespace) -> int:
    from celeb_datasets.hub import publish

    result = publish(
        arguments.export_dir,
        arguments.repo,
        configs=arguments.configs,
        private=not arguments.public,
        revision=arguments.revision,
        create_pr=arguments.create_pr,
        commit_message=arguments.message,
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


def _sample_overrides(arguments: argparse.Namespace) -> dict[str, Any]:
    """With --sample: generate the bundled CelebV-HQ sample and build from it."""
    if not arguments.sample:
        return {}
    from celeb_datasets.sample import make_celebv_hq_sample

    if arguments.dataset != "celebv_hq":
        raise OptionError("--sample is the CelebV-HQ sample: use it with celebv_hq")
    arguments.config = arguments.config or "clips"
    print(f"Generating the CelebV-HQ sample in {arguments.sample} ...", flush=True)
    return {"data_dir": make_celebv_hq_sample(arguments.sample)}


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of processes, found {text!r}")
    return value


def _configure_output(quiet: bool) -> None:
    import datasets

    logging.basicConfig(format="%(message)s", level=logging.WARNING)
    # The package's own summaries (e.g. what a build skipped) are part of the command's output.
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    if quiet:
        datasets.disable_progress_bars()
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()


if __name__ == "__main__":
    sys.exit(main())
