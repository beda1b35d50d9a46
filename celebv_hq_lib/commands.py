"""CelebV-HQ's own commands: `download` (the raw YouTube videos), `verify` (a copy, clip by clip) and
`status` (where a download stands).

    celeb-datasets download celebv_hq --data-dir ~/CelebV-HQ --check     # what a long run needs, one line each
    celeb-datasets download celebv_hq --data-dir ~/CelebV-HQ [--raw-dir /mnt/torrent]
    celeb-datasets verify celebv_hq --data-dir ~/CelebV-HQ [--raw-dir R] [--processed-dir P] [--workers 2]
    celeb-datasets status celebv_hq --data-dir ~/CelebV-HQ

The download options are DownloadSettings' (the same a `fetch=true` build takes), as flags.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from celeb_datasets.errors import OptionError
from celeb_datasets.options import add_option_flags, given_options, path_argument
from celebv_hq_lib import download
from celebv_hq_lib.annotations import read_annotation_file
from celebv_hq_lib.layout import ANNOTATION_FILE, find_annotation_file
from celebv_hq_lib.preflight import AUTO_CHECK_VIDEOS, preflight
from celebv_hq_lib.session import stop_message
from celebv_hq_lib.sources import find_video_sources, refuse_raw_dir_as_download_target
from celebv_hq_lib.verify import REPORT_FILE, SUMMARY_FILE, read_summary, verify_copy

logger = logging.getLogger("celeb_datasets")


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add `download`, `verify` and `status` to the command line's subcommands."""
    fetch = commands.add_parser(
        "download", parents=[common], help="fetch the raw YouTube videos into DATA_DIR/raw with yt-dlp (resumable)"
    )
    fetch.add_argument("dataset", choices=["celebv_hq"], help="the dataset whose videos to fetch")
    fetch.add_argument(
        "--data-dir", type=path_argument, required=True, help=f"your download folder (with {ANNOTATION_FILE})"
    )
    fetch.add_argument(
        "--ids", type=path_argument, metavar="FILE", help="only these videos: one YouTube id or clip id a line"
    )
    fetch.add_argument("--limit", type=int, metavar="N", help="at most N videos (after --ids)")
    fetch.add_argument(
        "--raw-dir",
        type=path_argument,
        metavar="FOLDER",
        help="your copy of raw videos (a torrent; only read): videos found there at any depth are not fetched",
    )
    fetch.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="parallel downloads (default 1); they share the session's pace, so more help only while one "
        "video takes longer to download than the pace allows between starts",
    )
    fetch.add_argument("--retry-failed", action="store_true", help="also retry videos that failed for good")
    fetch.add_argument(
        "--check",
        action="store_true",
        help="only check what the download needs (yt-dlp, JavaScript runtime, cookies, ffmpeg, disk); exit 0 or 1",
    )
    fetch.add_argument(
        "--skip-check", action="store_true", help=f"do not run the check before a run of {AUTO_CHECK_VIDEOS}+ videos"
    )
    add_option_flags(fetch.add_argument_group("how videos are fetched"), download.DownloadSettings)
    fetch.set_defaults(run=run_download)

    verify = commands.add_parser(
        "verify",
        parents=[common],
        help="check every processed clip and raw video against the annotation file, without building; "
        "write a QC report (exit 1 if it lists problems)",
    )
    verify.add_argument("dataset", choices=["celebv_hq"], help="the dataset")
    verify.add_argument(
        "--data-dir", type=path_argument, required=True, help=f"your download folder (with {ANNOTATION_FILE})"
    )
    add_copy_arguments(verify)
    verify.add_argument(
        "--report-dir",
        type=path_argument,
        metavar="FOLDER",
        help=f"where {REPORT_FILE} and {SUMMARY_FILE} go (default: the download folder; never a folder of videos)",
    )
    verify.add_argument(
        "--media-check",
        choices=["fast", "full"],
        default="fast",
        help="fast (default): read each clip's structure and each raw video's header; full: decode every frame "
        "of each clip and read each raw video to its end",
    )
    verify.add_argument(
        "--no-first-frames",
        action="store_true",
        help="do not compare each processed clip's first frame with a cut of its raw video",
    )
    verify.add_argument("--workers", type=int, default=1, metavar="N", help="processes sharing the videos (default 1)")
    verify.set_defaults(run=run_verify)

    status = commands.add_parser(
        "status",
        parents=[common],
        help="videos done / failed by reason / pending, buildable clips, bytes on disk, the last verify",
    )
    status.add_argument("dataset", choices=["celebv_hq"], help="the dataset")
    status.add_argument("--data-dir", type=path_argument, required=True, help="your download folder")
    add_copy_arguments(status)
    status.add_argument(
        "--report-dir",
        type=path_argument,
        metavar="FOLDER",
        help="where verify wrote its report (default: the download folder)",
    )
    status.set_defaults(run=run_status)


def add_copy_arguments(parser: argparse.ArgumentParser) -> None:
    """--raw-dir and --processed-dir: the user's copies of the videos, searched at any depth, only read."""
    parser.add_argument(
        "--raw-dir",
        type=path_argument,
        metavar="FOLDER",
        help="your copy of raw videos {ytb_id}.{mp4,mkv,webm} (only read)",
    )
    parser.add_argument(
        "--processed-dir",
        type=path_argument,
        metavar="FOLDER",
        help="your copy of processed clips {clip_id}.mp4 (only read)",
    )


def run_download(arguments: argparse.Namespace) -> int:
    # Everything the user gave is checked here, before the first video is fetched.
    settings = download.DownloadSettings(**given_options(arguments, download.DownloadSettings))
    clips = read_annotation_file(find_annotation_file(arguments.data_dir))
    ids = None if arguments.ids is None else download.read_id_list(arguments.ids, clips)
    videos = download.select_videos(download.needed_ends(clips), ids)
    if arguments.raw_dir is not None:
        # Downloads go to DATA_DIR/raw, never into the user's copy: the chosen videos it holds are not fetched.
        refuse_raw_dir_as_download_target(arguments.data_dir, str(arguments.raw_dir))
        copied = find_video_sources(arguments.data_dir, arguments.raw_dir).shared_raw_videos
        found = sum(ytb_id in copied for ytb_id in videos)
        videos = {ytb_id: end for ytb_id, end in videos.items() if ytb_id not in copied}
        print(f"{found:,} video(s) found under --raw-dir {arguments.raw_dir}: not fetched", flush=True)
    videos = download.select_videos(videos, limit=arguments.limit)
    if arguments.workers < 1:
        raise OptionError(f"--workers must be >= 1, not {arguments.workers}")
    download.check_download_settings(settings)
    if not arguments.check:
        download.check_download_folder(arguments.data_dir)
    if arguments.check or (len(videos) >= AUTO_CHECK_VIDEOS and not arguments.skip_check):
        lines = preflight(arguments.data_dir, settings, _to_fetch(arguments.data_dir, videos, arguments.retry_failed))
        failed = [line for line in lines if not line.ok]
        if arguments.check:
            print("\n".join(map(str, lines)))
            return 1 if failed else 0
        if failed:
            print("\n".join(map(str, failed)), file=sys.stderr)
            print("the check before a long download failed: fix the above, or pass --skip-check", file=sys.stderr)
            return 1

    def report(entry: download.ManifestEntry) -> None:
        detail = f"{entry.size / 1e6:,.1f} MB, {entry.duration_sec:,.1f} s" if entry.state == "done" else entry.reason
        logger.info("%s %s: %s", entry.ytb_id, entry.state, detail)

    print(f"{len(videos):,} video(s) chosen; manifest: {download.Manifest(arguments.data_dir).path}", flush=True)
    print(_pace_line(settings, arguments.workers), flush=True)
    # SIGTERM and SIGHUP end the download as Ctrl-C does (the command line's main sets that up): workers
    # finish the video in hand, private cookie copies are removed, and the command exits 130.
    summary = download.download_videos(
        arguments.data_dir, videos, settings, arguments.workers, arguments.retry_failed, on_finish=report
    )
    print(summary.line())
    if summary.stopped is not None:
        print(f"stopped: {stop_message(summary.stopped, summary.refusals)}", file=sys.stderr)
        return 1
    left = sum(entry.state == download.RETRY for entry in summary.entries)
    if left:
        # Videos gone for good are normal; videos that may still come are not done: say so in the exit code.
        print(f"{left:,} video(s) may succeed later: run the same command again to retry them", file=sys.stderr)
        return 1
    return 0


def _to_fetch(data_dir: Path, videos: dict[str, float], retry_failed: bool) -> dict[str, float]:
    entries = download.Manifest(data_dir).read()
    return {
        ytb_id: end
        for ytb_id, end in videos.items()
        if download.wants_download(ytb_id, entries.get(ytb_id), data_dir, retry_failed)
    }


def _pace_line(settings: download.DownloadSettings, workers: int) -> str:
    mean = (settings.pace_min_sec + settings.pace_max_sec) / 2
    rate = f"about {3600 / mean:,.0f} an hour" if mean else "no limit"
    return (
        f"pace: one video start every {settings.pace_min_sec:g} to {settings.pace_max_sec:g} s ({rate}), "
        f"shared by {workers} worker(s)"
    )


def run_verify(arguments: argparse.Namespace) -> int:
    def progress(done: int, total: int) -> None:
        if done == total or done % 500 == 0:
            logger.info("verified %s of %s videos", f"{done:,}", f"{total:,}")

    summary = verify_copy(
        arguments.data_dir,
        arguments.raw_dir,
        arguments.processed_dir,
        report_dir=arguments.report_dir,
        full=arguments.media_check == "full",
        compare_first_frames=not arguments.no_first_frames,
        workers=arguments.workers,
        progress=progress,
    )
    print("\n".join(summary.lines()))
    # Like a test run: problems found are not an error of the command, but not success either.
    return 1 if summary.clips_with_problems else 0


def run_status(arguments: argparse.Namespace) -> int:
    clips = read_annotation_file(find_annotation_file(arguments.data_dir))
    print(f"CelebV-HQ download in {arguments.data_dir} (manifest: {download.Manifest(arguments.data_dir).path})")
    copies = None
    if arguments.raw_dir is not None or arguments.processed_dir is not None:
        clip_ids = frozenset(clip.clip_id for clip in clips)
        copies = find_video_sources(arguments.data_dir, arguments.raw_dir, arguments.processed_dir, clip_ids)
    print("\n".join(download.download_status(arguments.data_dir, clips, copies).lines()))
    summary = read_summary(arguments.report_dir or arguments.data_dir)
    if summary is None:
        print(f"not verified yet: celeb-datasets verify celebv_hq --data-dir {arguments.data_dir}")
    else:
        print("\n".join(summary.lines()))
    return 0
