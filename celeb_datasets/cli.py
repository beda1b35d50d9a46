"""The `celeb-datasets` command line: prepare, export and publish the datasets of this package.

    celeb-datasets prepare celebv_hq --sample                 # the bundled sample, end to end
    celeb-datasets prepare celebv_hq --config clips --data-dir ~/CelebV-HQ --num-proc 8

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

from celeb_datasets.errors import CelebDatasetsError
from celeb_datasets.registry import BUILDERS, builder_class

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
    prepare.add_argument(
        "--sample",
        nargs="?",
        const="celebv_hq_sample",
        metavar="FOLDER",
        help="generate the bundled CelebV-HQ sample (6 real records, generated raw videos) in FOLDER "
        "(default ./celebv_hq_sample) and build it; implies --config clips unless --config is given",
    )
    prepare.set_defaults(run=run_prepare)
    return parser


def add_builder_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments that choose and configure a builder, shared by every command that builds."""
    parser.add_argument("dataset", choices=sorted(BUILDERS), help="which dataset")
    parser.add_argument("--config", help="config name (default: the builder's default config)")
    parser.add_argument("--data-dir", type=Path, help="your download folder")
    parser.add_argument("--cache-dir", type=Path, help="where the Arrow shards go (default: datasets' cache)")
    parser.add_argument("--num-proc", type=int, help="worker processes (shards are split between them)")
    parser.add_argument("--max-shard-size", default="500MB", help="largest Arrow shard (default 500MB)")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a builder config option, e.g. on_missing=error, size=512, crop=none, crf=18, preset=fast",
    )


def make_builder(arguments: argparse.Namespace, **overrides: Any) -> Any:
    """The builder chosen by `add_builder_arguments`' arguments."""
    builder = builder_class(arguments.dataset)
    options = dict(_parse_option(text) for text in arguments.option) | overrides
    data_dir = options.pop("data_dir", None) or arguments.data_dir
    return builder(
        config_name=arguments.config,
        data_dir=None if data_dir is None else str(data_dir),
        cache_dir=None if arguments.cache_dir is None else str(arguments.cache_dir),
        **options,
    )


def prepare_builder(builder: Any, arguments: argparse.Namespace) -> None:
    builder.download_and_prepare(num_proc=arguments.num_proc, max_shard_size=arguments.max_shard_size)


def run_prepare(arguments: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {}
    if arguments.sample:
        from celeb_datasets.sample import make_celebv_hq_sample

        if arguments.dataset != "celebv_hq":
            raise CelebDatasetsError("--sample is the CelebV-HQ sample: use it with celebv_hq")
        arguments.config = arguments.config or "clips"
        print(f"Generating the CelebV-HQ sample in {arguments.sample} ...", flush=True)
        overrides["data_dir"] = make_celebv_hq_sample(arguments.sample)
    builder = make_builder(arguments, **overrides)
    prepare_builder(builder, arguments)
    dataset = builder.as_dataset()
    for split, rows in dataset.items():
        files = len(rows.cache_files)
        print(f"{arguments.dataset}/{builder.config.name} {split}: {rows.num_rows:,} rows in {files} Arrow file(s)")
    print(f"cache: {builder.cache_dir}")
    return 0


def _parse_option(text: str) -> tuple[str, Any]:
    name, separator, value = text.partition("=")
    if not separator or not name:
        raise CelebDatasetsError(f"--option {text!r}: expected NAME=VALUE")
    for convert in (int, float):
        try:
            return name, convert(value)
        except ValueError:
            pass
    return name, {"true": True, "false": False, "none": None}.get(value.lower(), value)


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
