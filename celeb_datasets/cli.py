"""The `celeb-datasets` command line: prepare, export and publish the datasets of this package.

    celeb-datasets prepare celebv_hq --sample                 # the bundled sample, end to end
    celeb-datasets prepare celebv_hq --config clips --data-dir ~/CelebV-HQ --num-proc 8
    celeb-datasets export celebv_hq --config annotations --data-dir ~/CelebV-HQ --output celebv_hq_export
    celeb-datasets publish celebv_hq_export --repo my-org/celebv-hq        # private unless --public
    celeb-datasets dataset-infos                               # rewrite dataset_infos.json
    celeb-datasets download celebv_hq --data-dir ~/CelebV-HQ --workers 8   # the raw YouTube videos
    celeb-datasets status celebv_hq --data-dir ~/CelebV-HQ

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
    except KeyboardInterrupt:
        # A half-done build is not kept (datasets removes it); finished downloads are in the manifest.
        print("interrupted: run the same command again (a build starts over, a download resumes)", file=sys.stderr)
        return 130


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
    export_sample_help = (
        "generate the bundled CelebV-HQ sample (6 real records, generated raw videos) in FOLDER "
        "(default ./celebv_hq_sample) and export it: both configs unless --config is given"
    )
    export.add_argument("--sample", nargs="?", const="celebv_hq_sample", metavar="FOLDER", help=export_sample_help)
    export.add_argument(
        "--output", type=Path, required=True, help="the export folder (one per dataset; configs accumulate in it)"
    )
    export.add_argument(
        "--engine",
        choices=("datasets", "ray"),
        default="datasets",
        help="datasets (default): build in the cache, then export; ray: cut CelebV-HQ clips on a Ray cluster "
        "and write the export directly (pip install 'celeb-datasets[ray]')",
    )
    export.add_argument(
        "--ray-address", metavar="ADDR", help="with --engine ray: the cluster (default: RAY_ADDRESS, or local)"
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
    add_download_commands(commands, common)
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
        "--slice",
        metavar="I/N",
        help="CelebV-HQ: build only slice I (0 to N-1) of N of the YouTube videos; N slices exported into one "
        "folder make the whole config (e.g. --slice $SLURM_ARRAY_TASK_ID/16)",
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
    if getattr(arguments, "slice", None) is not None:
        if "slice" not in types:
            raise OptionError(f"--slice: {arguments.dataset} is not built in slices (only celebv_hq is)")
        options["slice"] = arguments.slice
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

    # The sample is small: without --config, export both of its configs.
    configs = config_names(arguments.dataset) if arguments.sample and not arguments.config else [arguments.config]
    overrides = _sample_overrides(arguments)
    for config in configs:
        arguments.config = config
        builder = make_builder(arguments, **overrides)
        if arguments.engine == "ray":
            from celeb_datasets.ray_engine import export_with_ray

            exported = export_with_ray(
                builder, arguments.output, max_shard_size=arguments.max_shard_size, address=arguments.ray_address
            )
        else:
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


def add_download_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """The `download` and `status` commands (CelebV-HQ's raw YouTube videos)."""
    from celebv_hq_lib.download import YOUTUBE_URL_TEMPLATE

    download = commands.add_parser(
        "download", parents=[common], help="fetch the raw YouTube videos into DATA_DIR/raw with yt-dlp (resumable)"
    )
    download.add_argument("dataset", choices=["celebv_hq"], help="the dataset whose videos to fetch")
    download.add_argument("--data-dir", type=Path, required=True, help="your download folder (with celebvhq_info.json)")
    download.add_argument(
        "--ids", type=Path, metavar="FILE", help="only these videos: one YouTube id or clip id a line"
    )
    download.add_argument("--limit", type=int, metavar="N", help="at most N videos (after --ids)")
    download.add_argument("--workers", type=int, default=1, metavar="N", help="parallel downloads (default 1)")
    download.add_argument("--retry-failed", action="store_true", help="also retry videos that failed for good")
    download.add_argument("--cookies", metavar="FILE", help="a Netscape cookies.txt for yt-dlp (age-restricted videos)")
    download.add_argument("--proxy", metavar="URL", help="a proxy for yt-dlp, e.g. socks5://127.0.0.1:1080")
    download.add_argument("--rate-limit", metavar="RATE", help="largest rate per video, e.g. 2M (bytes per second)")
    download.add_argument("--js-runtime", metavar="NAME[:PATH]", help="yt-dlp's JavaScript runtime (default: deno)")
    download.add_argument("--retries", type=int, default=3, help="retries of a transient failure (default 3)")
    download.add_argument(
        "--retry-backoff", type=float, default=5.0, metavar="SECONDS", help="first retry's wait, doubled each time"
    )
    download.add_argument(
        "--url-template", default=YOUTUBE_URL_TEMPLATE, help=f"a video's page (default {YOUTUBE_URL_TEMPLATE})"
    )
    download.set_defaults(run=run_download)

    status = commands.add_parser(
        "status", parents=[common], help="videos done / failed by reason / pending, buildable clips, bytes on disk"
    )
    status.add_argument("dataset", choices=["celebv_hq"], help="the dataset")
    status.add_argument("--data-dir", type=Path, required=True, help="your download folder")
    status.set_defaults(run=run_status)


def run_download(arguments: argparse.Namespace) -> int:
    from celebv_hq_lib import download
    from celebv_hq_lib.annotations import read_annotation_file
    from celebv_hq_lib.clips import find_annotation_file

    clips = read_annotation_file(find_annotation_file(arguments.data_dir))
    ids = None if arguments.ids is None else download.read_id_list(arguments.ids, clips)
    videos = download.select_videos(download.needed_ends(clips), ids, arguments.limit)
    settings = download.DownloadSettings(
        url_template=arguments.url_template,
        cookies=arguments.cookies,
        proxy=arguments.proxy,
        rate_limit=arguments.rate_limit,
        js_runtime=arguments.js_runtime,
        retries=arguments.retries,
        retry_backoff_sec=arguments.retry_backoff,
    )

    def report(entry: download.ManifestEntry) -> None:
        detail = f"{entry.size / 1e6:,.1f} MB, {entry.duration_sec:,.1f} s" if entry.state == "done" else entry.reason
        logger.info("%s %s: %s", entry.ytb_id, entry.state, detail)

    print(f"{len(videos):,} video(s) chosen; manifest: {download.Manifest(arguments.data_dir).path}", flush=True)
    summary = download.download_videos(
        arguments.data_dir, videos, settings, arguments.workers, arguments.retry_failed, on_finish=report
    )
    print(summary.line())
    left = sum(entry.state == download.RETRY for entry in summary.entries)
    if left:
        # Videos gone for good are normal; videos that may still come are not done: say so in the exit code.
        print(f"{left:,} video(s) may succeed later: run the same command again to retry them", file=sys.stderr)
        return 1
    return 0


def run_status(arguments: argparse.Namespace) -> int:
    from celebv_hq_lib.annotations import read_annotation_file
    from celebv_hq_lib.clips import find_annotation_file
    from celebv_hq_lib.download import Manifest, download_status

    clips = read_annotation_file(find_annotation_file(arguments.data_dir))
    print(f"CelebV-HQ download in {arguments.data_dir} (manifest: {Manifest(arguments.data_dir).path})")
    print("\n".join(download_status(arguments.data_dir, clips).lines()))
    return 0


def _sample_overrides(arguments: argparse.Namespace) -> dict[str, Any]:
    """With --sample: generate the bundled CelebV-HQ sample and build from it."""
    if not arguments.sample:
        return {}
    from celebv_hq_lib.sample import make_celebv_hq_sample

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
