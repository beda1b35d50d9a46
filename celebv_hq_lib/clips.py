"""Where each CelebV-HQ clip's video comes from, and its MP4 bytes.

A clip's video is the release's processed clip when the download folder has it, else it is cut from
its raw YouTube video (downloaded first when the build fetches). `plan_clips` decides this for every
clip of a build and gives the build's work items: a YouTube video's clips, those to cut split into
one-pass items of bounded cost (celebv_hq_lib.work_items); `video_clips` then gives one item's clips with
their bytes, skipping (with the reason) those that cannot be had. The builder and every engine go
through these two, so every engine cuts the same items and gives the same bytes.
"""

from __future__ import annotations

import dataclasses
import math
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from celeb_datasets.errors import MissingSourceError, UnreadableMediaError
from celeb_datasets.skips import SkipKind, SkipLog
from celeb_datasets.slices import Slice, assign_slices
from celebv_hq_lib.annotations import ClipAnnotation, read_annotation_file, segment_oddities
from celebv_hq_lib.checks import check_processed_clips, raw_video_facts
from celebv_hq_lib.download import (
    CHANGED,
    DONE,
    FAILED,
    DownloadSettings,
    Manifest,
    check_download_folder,
    check_download_settings,
    download_video,
    fetch_session,
    raw_video_state,
)
from celebv_hq_lib.layout import DOWNLOAD_LOCK_FILE, RAW_VIDEO_FOLDER, find_annotation_file
from celebv_hq_lib.session import FolderLock, SessionStopped, stop_message
from celebv_hq_lib.skip_kinds import (
    KEPT_MISMATCHED,
    MISMATCHED,
    MISSING,
    ODD_EMOTION_SEGMENT,
    RECUT,
    TO_RETRY,
    UNREADABLE,
)
from celebv_hq_lib.sources import find_video_sources
from celebv_hq_lib.video import ClipRequest, EncoderSettings, cut_clips
from celebv_hq_lib.work_items import CUTTING_COST, Clip, split_video


class ClipOptions(Protocol):
    """The options of a build that decide how clips are had (the `clips` config has them all)."""

    data_dir: str | None
    with_video: bool
    on_missing: Literal["skip", "error"]
    media_check: Literal["fast", "full"]
    seek_gap_sec: float
    max_item_cost: float | None
    fetch: bool
    keep_raw: bool
    slice: Slice | None
    raw_dir: str | None
    processed_dir: str | None
    on_mismatch: Literal["skip", "keep"]

    def encoder_settings(self) -> EncoderSettings: ...

    def download_settings(self) -> DownloadSettings: ...


def plan_clips(config: ClipOptions, skips: SkipLog) -> tuple[list[ClipAnnotation], list[VideoClips]]:
    """The clips a build of `config` must account for (its slice's), and for `clips` its work items.

    Known odd values are recorded to `skips` (rows kept), and so are clips without any video. The builder
    and other engines (Ray) plan a build with this, then make each item's rows with `video_clips`.
    """
    annotation_file = find_annotation_file(config.data_dir)
    clips = read_annotation_file(annotation_file)
    if config.slice is not None:
        clips = clips_of_slice(clips, config.slice, config.max_item_cost, config.seek_gap_sec)
    for clip in clips:
        for oddity in segment_oddities(clip):
            reason = f"{ODD_EMOTION_SEGMENT.name}: {oddity} (row kept as annotated)"
            skips.record(clip.clip_id, clip.ytb_id, kind=ODD_EMOTION_SEGMENT, reason=reason)
    if not config.with_video:
        return clips, []
    if config.fetch:
        # yt-dlp installed, cookies that parse: checked once, before any video is fetched.
        check_download_settings(config.download_settings())
    videos = locate_videos(
        annotation_file.parent,
        clips,
        skips,
        on_missing=config.on_missing,
        fetch=config.fetch,
        raw_dir=config.raw_dir,
        processed_dir=config.processed_dir,
    )
    return clips, split_videos(videos, config.max_item_cost, config.seek_gap_sec)


def clips_of_slice(
    clips: Sequence[ClipAnnotation], part: Slice, max_item_cost: float | None = None, seek_gap_sec: float = 5.0
) -> list[ClipAnnotation]:
    """The clips of the YouTube videos in slice `part`, videos balanced by their modelled cost of cutting
    (`cutting_cost`); the assignment depends on all of `clips` and the options given only."""
    by_video: dict[str, list[ClipAnnotation]] = {}
    for clip in clips:
        by_video.setdefault(clip.ytb_id, []).append(clip)
    costs = ((ytb_id, cutting_cost(group, max_item_cost, seek_gap_sec)) for ytb_id, group in by_video.items())
    assignment = assign_slices(costs, part.count)
    return [clip for clip in clips if assignment[clip.ytb_id] == part.index]


def cutting_cost(clips: Sequence[ClipAnnotation], max_item_cost: float | None, seek_gap_sec: float) -> float:
    """Modelled core-seconds of cutting `clips` (of one YouTube video) in the items a build splits them into."""
    return sum(item.cost for item in _cutting_passes(clips, max_item_cost, seek_gap_sec))


def _cutting_passes(clips: Iterable[ClipAnnotation], max_item_cost: float | None, seek_gap_sec: float) -> list[Any]:
    """The one-pass work items of one video's clips to cut (celebv_hq_lib.work_items.split_video)."""
    positions = [Clip(clip.clip_id, clip.start_sec, clip.end_sec) for clip in clips]
    # No maximum: one pass over the whole video (an item as large as the video's own cost).
    maximum = max_item_cost if max_item_cost is not None else math.inf
    return split_video(positions, maximum, CUTTING_COST, seek_gap_sec=seek_gap_sec)


@dataclasses.dataclass(frozen=True)
class VideoClips:
    """A work item of `clips`: clips of one YouTube video, each with its processed clip, or None to cut it.

    `passes` lists the clips to cut (by id) in the cutting passes the item makes, one after the other
    (empty: all of them in one pass): one pass per item below a video, and all the video's passes in one
    item when its raw video must be fetched first, so that it is downloaded once. `cost` is the item's
    modelled core-seconds of cutting (celebv_hq_lib.work_items.CUTTING_COST): engines start costly
    items first. `fetch_into` is the data folder to download the raw video into when `raw_video` is None
    (fetch=True); `fetch_session` names the build, whose videos share one download session per process.
    """

    ytb_id: str
    raw_video: str | None
    clips: tuple[tuple[ClipAnnotation, str | None], ...]
    fetch_into: str | None = None
    fetch_session: str = ""
    passes: tuple[tuple[str, ...], ...] = ()
    cost: float = 0.0

    @property
    def name(self) -> str:
        """The item as messages name it: its YouTube video and clips."""
        return f"YouTube video {self.ytb_id} (clips {', '.join(clip.clip_id for clip, _ in self.clips)})"

    def cutting_passes(self) -> list[list[ClipAnnotation]]:
        """The clips to cut, pass by pass (each pass's clips in the item's order)."""
        to_cut = [clip for clip, processed in self.clips if processed is None]
        if not self.passes:
            return [to_cut] if to_cut else []
        by_id = {clip.clip_id: clip for clip in to_cut}
        return [[by_id[clip_id] for clip_id in clip_ids] for clip_ids in self.passes]


def split_videos(videos: Iterable[VideoClips], max_item_cost: float | None, seek_gap_sec: float) -> list[VideoClips]:
    """The build's work items: each video's clips to cut split into one-pass items of at most `max_item_cost`
    (celebv_hq_lib.work_items.split_video; None: one pass per video), in the videos' order.

    A video's processed clips go with its first item. A video whose raw video is still to be fetched
    stays one item making all its passes, one after the other: one download, and the same passes, so the
    same bytes, as a build from the downloaded file.
    """
    items = []
    for video in videos:
        to_cut = [clip for clip, processed in video.clips if processed is None]
        passes = _cutting_passes(to_cut, max_item_cost, seek_gap_sec)
        if len(passes) <= 1 or video.raw_video is None:
            clip_ids = tuple(item.clip_ids for item in passes)
            items.append(dataclasses.replace(video, passes=clip_ids, cost=sum(item.cost for item in passes)))
            continue
        processed = [(clip, path) for clip, path in video.clips if path is not None]
        for index, item in enumerate(passes):
            ids = set(item.clip_ids)
            clips = [(clip, path) for clip, path in video.clips if clip.clip_id in ids]
            clips = processed + clips if index == 0 else clips
            items.append(dataclasses.replace(video, clips=tuple(clips), passes=(item.clip_ids,), cost=item.cost))
    return items


def locate_videos(
    data_dir: Path,
    clips: Sequence[ClipAnnotation],
    skips: SkipLog,
    on_missing: str = "skip",
    fetch: bool = False,
    raw_dir: str | None = None,
    processed_dir: str | None = None,
) -> list[VideoClips]:
    """Find each clip's video, grouped by YouTube video in first-seen order.

    A processed clip `{clip_id}.mp4` (in processed/, 35666/, videos/ or the folder itself, then anywhere
    under `processed_dir`) wins over a raw video (`raw/{ytb_id}.{mp4,mkv,webm}`, then anywhere under
    `raw_dir`: celebv_hq_lib.sources). A clip with neither is skipped as missing (or an error), with the
    download manifest's reason when its video failed to download; with `fetch`, it is kept to be
    downloaded by `video_clips` unless the manifest says its video failed for good.
    """
    downloads = Manifest(data_dir).read()
    sources = find_video_sources(data_dir, raw_dir, processed_dir, frozenset(clip.clip_id for clip in clips))
    downloaded = sources.downloaded_raw_videos
    if fetch:
        # A downloaded video whose file changed in size since (truncated, replaced) is fetched again.
        downloaded = {
            ytb_id: path
            for ytb_id, path in downloaded.items()
            if (entry := downloads.get(ytb_id)) is None
            or entry.state != DONE
            or raw_video_state(data_dir, entry.ytb_id, entry) != CHANGED
        }
    grouped: dict[str, list[tuple[ClipAnnotation, str | None]]] = {}
    raw_videos: dict[str, str | None] = {}
    for clip in clips:
        processed_path = sources.processed_clip(clip.clip_id)
        processed = None if processed_path is None else str(processed_path)
        if clip.ytb_id not in raw_videos:
            raw_path = downloaded.get(clip.ytb_id) or sources.shared_raw_videos.get(clip.ytb_id)
            raw_videos[clip.ytb_id] = None if raw_path is None else str(raw_path)
        if processed is None and raw_videos[clip.ytb_id] is None:
            download = downloads.get(clip.ytb_id)
            if fetch and (download is None or download.state != FAILED):
                grouped.setdefault(clip.ytb_id, []).append((clip, None))
                continue
            reason = (
                f"missing: neither {RAW_VIDEO_FOLDER}/{clip.ytb_id}.{{mp4,mkv,webm}} nor a processed "
                f"{clip.clip_id}.mp4 in {data_dir}"
            )
            for option, folder in (("raw_dir", raw_dir), ("processed_dir", processed_dir)):
                if folder is not None:
                    reason += f" nor under {option} {folder}"
            if download is not None and download.state != DONE:
                reason += f"; the download {download.failure()}"
            if on_missing == "error":
                raise MissingSourceError(f"clip {clip.clip_id} (YouTube video {clip.ytb_id}): {reason}")
            skips.record(clip.clip_id, clip.ytb_id, kind=MISSING, reason=reason)
            continue
        grouped.setdefault(clip.ytb_id, []).append((clip, processed))
    fetch_into = str(data_dir) if fetch else None
    build = uuid.uuid4().hex if fetch else ""
    return [
        VideoClips(ytb_id, raw_videos[ytb_id], tuple(group), fetch_into, build) for ytb_id, group in grouped.items()
    ]


def video_clips(video: VideoClips, config: ClipOptions, skips: SkipLog) -> Iterator[tuple[ClipAnnotation, bytes, str]]:
    """Each clip of one work item with its MP4 bytes and where they come from (`video_source`).

    A processed clip that passes its checks (celebv_hq_lib.checks: readable, duration, square, size, audio,
    first frame against the raw video when it is there) is stored as it is ("processed"); the clips without
    one are cut from the raw video ("raw"), pass by pass as the item plans them. A processed clip that fails
    its checks is cut from the raw video, in one more pass, when there is one or the build fetches it
    ("recut", listed in the skip report), else skipped with what it failed, or stored as it is under
    `on_mismatch="keep"` (an unreadable file is never stored).
    """
    processed_clips = [(clip, processed) for clip, processed in video.clips if processed is not None]
    # The raw video's header (its length, whether it has sound), read only when processed clips are checked.
    raw = raw_video_facts(video.raw_video) if video.raw_video is not None and processed_clips else None
    can_recut = raw.problem is None if raw is not None else video.fetch_into is not None
    recut: dict[str, tuple[ClipAnnotation, str]] = {}  # clip id: the clip, and what its processed clip failed
    for verdict in check_processed_clips(processed_clips, raw, full_decode=config.media_check == "full"):
        clip = verdict.clip
        if not verdict.problems:
            yield clip, Path(verdict.path).read_bytes(), "processed"
        elif can_recut:
            recut[clip.clip_id] = (clip, f"the processed clip {verdict.path} failed: {verdict.reason()}")
        elif not verdict.readable:
            skip_clip(config, skips, clip, UNREADABLE, f"unreadable: {verdict.path}: {verdict.problems[0].measured}")
        elif config.on_mismatch == "keep":
            reason = f"{KEPT_MISMATCHED.name}: {verdict.path}: {verdict.reason()} (no raw video; on_mismatch=keep)"
            skips.record(clip.clip_id, clip.ytb_id, kind=KEPT_MISMATCHED, reason=reason)
            yield clip, Path(verdict.path).read_bytes(), "processed"
        else:
            no_raw = "no raw video to cut it from" if raw is None else f"its raw video cannot be read: {raw.problem}"
            reason = f"{MISMATCHED.name}: {verdict.path}: {verdict.reason()} ({no_raw}; on_mismatch=keep stores it)"
            skip_clip(config, skips, clip, MISMATCHED, reason)
    passes = video.cutting_passes()
    if recut:  # one more pass, after the planned ones, whatever engine makes the item
        passes.append([clip for clip, _ in recut.values()])
    if not passes:
        return
    raw_video = video.raw_video
    if raw_video is None:
        raw_video = fetch_raw_video(video, [clip for clips in passes for clip in clips], config, skips)
        if raw_video is None:
            return
    try:
        for clips in passes:
            yield from _cut_pass(raw_video, clips, config, skips, {key: why for key, (_, why) in recut.items()})
    finally:
        if video.raw_video is None and not config.keep_raw:
            # Fetched by this build and not wanted: disk holds only the videos being cut.
            Path(raw_video).unlink(missing_ok=True)


def _cut_pass(
    raw_video: str,
    clips: Sequence[ClipAnnotation],
    config: ClipOptions,
    skips: SkipLog,
    failed: dict[str, str],
) -> Iterator[tuple[ClipAnnotation, bytes, str]]:
    """The clips of one cutting pass over `raw_video` (one `cut_clips` call), as they finish; `failed` says
    what the processed clip of each clip cut again failed (those come out as "recut")."""
    to_cut = {clip.clip_id: clip for clip in clips}
    requests = [ClipRequest(c.clip_id, c.start_sec, c.end_sec, c.bbox) for c in clips]
    for result in cut_clips(raw_video, requests, config.encoder_settings(), seek_gap_sec=config.seek_gap_sec):
        clip = to_cut[result.clip_id]
        processed_failure = failed.get(clip.clip_id)
        if result.video is None:
            reason = f"{result.skip_reason} ({raw_video})"
            if processed_failure is not None:
                reason += f"; {processed_failure}"
            skip_clip(config, skips, clip, result.skip_kind, reason)
        elif processed_failure is not None:
            reason = f"{RECUT.name}: {processed_failure}; cut from {raw_video} instead"
            skips.record(clip.clip_id, clip.ytb_id, kind=RECUT, reason=reason)
            yield clip, result.video, "recut"
        else:
            yield clip, result.video, "raw"


def fetch_raw_video(
    video: VideoClips, clips: Iterable[ClipAnnotation], config: ClipOptions, skips: SkipLog
) -> str | None:
    """Download a video's raw file for its clips (fetch=True), through the data folder's manifest, in the
    build's download session (its pace and circuit breaker, shared by the build's workers).

    Returns its path, or None after skipping every clip with the download's reason: "missing" when the
    video failed for good, TO_RETRY when a rerun may fetch it. Raises FolderBusyError while a `download`
    runs on the folder, SessionStopped when YouTube kept refusing the session, and StorageError when the data
    folder cannot take downloads.
    """
    if video.fetch_into is None:
        raise MissingSourceError(f"YouTube video {video.ytb_id}: no raw video and no data folder to fetch it into")
    clips = list(clips)
    manifest = Manifest(video.fetch_into)
    previous = manifest.read().get(video.ytb_id)
    last_end = max(clip.end_sec for clip in clips)
    settings = config.download_settings()
    session = fetch_session(video.fetch_session, video.fetch_into, settings)
    check_download_folder(video.fetch_into)
    # Shared between the build's workers; a `download` on the same folder holds it exclusively.
    try:
        with FolderLock(Path(video.fetch_into) / DOWNLOAD_LOCK_FILE, exclusive=False):
            entry = download_video(
                video.fetch_into, video.ytb_id, last_end, settings, manifest, previous, session=session
            )
    except SessionStopped:
        breaker = session.breaker
        if breaker.stopped is None:
            raise
        message = stop_message(breaker.stopped, len(breaker.refusals))
        raise SessionStopped(f"{message}. The build stopped; run the same command again later") from None
    if entry.state == DONE:
        return str(Path(video.fetch_into) / entry.file)
    kind = MISSING if entry.state == FAILED else TO_RETRY
    for clip in clips:
        skip_clip(config, skips, clip, kind, f"{kind.name}: the download of {video.ytb_id} {entry.failure()}")
    return None


def skip_clip(config: ClipOptions, skips: SkipLog, clip: ClipAnnotation, kind: SkipKind, reason: str) -> None:
    """Leave a clip out with its kind and reason in the skip report, or stop the build under on_missing="error"."""
    if config.on_missing == "error":
        raise UnreadableMediaError(f"clip {clip.clip_id} (YouTube video {clip.ytb_id}): {reason}")
    skips.record(clip.clip_id, clip.ytb_id, kind=kind, reason=reason)
