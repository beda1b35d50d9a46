"""CelebV-HQ's own commands: `download` (the raw YouTube videos) and `status` (where a download stands).

    celeb-datasets download celebv_hq --data-dir ~/CelebV-HQ --workers 2
    celeb-datasets status celebv_hq --data-dir ~/CelebV-HQ

The download options are DownloadSettings' (the same a `fetch=true` build takes), as flags.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from celeb_datasets.options import add_option_flags, given_options
from celebv_hq_lib import download
from celebv_hq_lib.annotations import read_annotation_file
from celebv_hq_lib.layout import ANNOTATION_FILE, find_annotation_file

logger = logging.getLogger("celeb_datasets")


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add `download` and `status` to the command line's subcommands."""
    fetch = commands.add_parser(
        "download", parents=[common], help="fetch the raw YouTube videos into DATA_DIR/raw with yt-dlp (resumable)"
    )
    fetch.add_argument("dataset", choices=["celebv_hq"], help="the dataset whose videos to fetch")
    fetch.add_argument("--data-dir", type=Path, required=True, help=f"your download folder (with {ANNOTATION_FILE})")
    fetch.add_argument("--ids", type=Path, metavar="FILE", help="only these videos: one YouTube id or clip id a line")
    fetch.add_argument("--limit", type=int, metavar="N", help="at most N videos (after --ids)")
    fetch.add_argument("--workers", type=int, default=1, metavar="N", help="parallel downloads (default 1)")
    fetch.add_argument("--retry-failed", action="store_true", help="also retry videos that failed for good")
    add_option_flags(fetch.add_argument_group("how videos are fetched"), download.DownloadSettings)
    fetch.set_defaults(run=run_download)

    status = commands.add_parser(
        "status", parents=[common], help="videos done / failed by reason / pending, buildable clips, bytes on disk"
    )
    status.add_argument("dataset", choices=["celebv_hq"], help="the dataset")
    status.add_argument("--data-dir", type=Path, required=True, help="your download folder")
    status.set_defaults(run=run_status)


def run_download(arguments: argparse.Namespace) -> int:
    settings = download.DownloadSettings(**given_options(arguments, download.DownloadSettings))
    clips = read_annotation_file(find_annotation_file(arguments.data_dir))
    ids = None if arguments.ids is None else download.read_id_list(arguments.ids, clips)
    videos = download.select_videos(download.needed_ends(clips), ids, arguments.limit)

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
    clips = read_annotation_file(find_annotation_file(arguments.data_dir))
    print(f"CelebV-HQ download in {arguments.data_dir} (manifest: {download.Manifest(arguments.data_dir).path})")
    print("\n".join(download.download_status(arguments.data_dir, clips).lines()))
    return 0
