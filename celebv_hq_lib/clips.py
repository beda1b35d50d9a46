"""Where each CelebV-HQ clip's video comes from, and its MP4 bytes.

A clip's video is the release's processed clip when the download folder has it, else it is cut from
its raw YouTube video (downloaded first when the build fetches). `plan_clips` decides this for every
clip of a build, grouped by YouTube video; `video_clips` then gives one video's clips with their bytes,
skipping (with the reason) those that cannot be had. The builder and every engine go through these two.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Literal, Protocol

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


class ClipOptions(Protocol):
    """The options of a build that decide how clips are had (the `clips` config has them all)."""

    data_dir: str | None
    with_video: bool
    on_missing: Literal["skip", "error"]
    media_check: Literal["fast", "full"]
    seek_gap_sec: float
    fetch: bool
    keep_raw: bool
    slice: Slice | None
    raw_dir: str | None
    processed_dir: str | None
    on_mismatch: Literal["skip", "keep"]

    def encoder_settings(self) -> EncoderSettings: ...

    def download_settings(self) -> DownloadSettings: ...


def plan_clips(config: ClipOptions, skips: SkipLog) -> tuple[list[ClipAnnotation], list[VideoClips]]:
    """The clips a build of `config` must account for (its slice's), and for `clips` their videos.

    Known odd values are recorded to `skips` (rows kept), and so are clips without any video. The builder
    and other engines (Ray) plan a build with this, then make each video's rows with `video_clips`.
    """
    annotation_file = find_annotation_file(config.data_dir)
    clips = read_annotation_file(annotation_file)
    if config.slice is not None:
        clips = clips_of_slice(clips, config.slice)
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
    return clips, videos


def clips_of_slice(clips: Sequence[ClipAnnotation], part: Slice) -> list[ClipAnnotation]:
    """The clips of the YouTube videos in slice `part` (the assignment depends on all of `clips` only)."""
    assignment = assign_slices(((clip.ytb_id, clip.duration_sec) for clip in clips), part.count)
    return [clip for clip in clips if assignment[clip.ytb_id] == part.index]


@dataclasses.dataclass(frozen=True)
class VideoClips:
    """The clips of one YouTube video to write: each with its processed clip, or None to cut it from raw.

    `fetch_into` is the data folder to download the raw video into when `raw_video` is None (fetch=True);
    `fetch_session` names the build, whose videos share one download session per process.
    """

    ytb_id: str
    raw_video: str | None
    clips: tuple[tuple[ClipAnnotation, str | None], ...]
    fetch_into: str | None = None
    fetch_session: str = ""


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
    """Each clip of one YouTube video with its MP4 bytes and where they come from (`video_source`).

    A processed clip that passes its checks (celebv_hq_lib.checks: readable, duration, square, size, audio,
    first frame against the raw video when it is there) is stored as it is ("processed"); a clip without
    one is cut from the raw video ("raw"). A processed clip that fails them is cut from the raw video when
    there is one or the build fetches it ("recut", listed in the skip report), else skipped with what it
    failed, or stored as it is under `on_mismatch="keep"` (an unreadable file is never stored).
    """
    to_cut = {clip.clip_id: clip for clip, processed in video.clips if processed is None}
    processed_clips = [(clip, processed) for clip, processed in video.clips if processed is not None]
    # The raw video's header (its length, whether it has sound), read only when processed clips are checked.
    raw = raw_video_facts(video.raw_video) if video.raw_video is not None and processed_clips else None
    can_recut = raw.problem is None if raw is not None else video.fetch_into is not None
    failed: dict[str, str] = {}  # clip id: what its processed clip failed, for clips cut again
    for verdict in check_processed_clips(processed_clips, raw, full_decode=config.media_check == "full"):
        clip = verdict.clip
        if not verdict.problems:
            yield clip, Path(verdict.path).read_bytes(), "processed"
        elif can_recut:
            to_cut[clip.clip_id] = clip
            failed[clip.clip_id] = f"the processed clip {verdict.path} failed: {verdict.reason()}"
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
    if to_cut:
        yield from _cut_from_raw(video, to_cut, failed, config, skips)


def _cut_from_raw(
    video: VideoClips, to_cut: dict[str, ClipAnnotation], failed: dict[str, str], config: ClipOptions, skips: SkipLog
) -> Iterator[tuple[ClipAnnotation, bytes, str]]:
    """Cut `to_cut` from the video's raw file (fetched first when absent); `failed` names the clips whose
    processed clip failed its checks, which come out as "recut"."""
    raw_video = video.raw_video
    if raw_video is None:
        raw_video = fetch_raw_video(video, to_cut.values(), config, skips)
        if raw_video is None:
            return
    requests = [ClipRequest(c.clip_id, c.start_sec, c.end_sec, c.bbox) for c in to_cut.values()]
    try:
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
    finally:
        if video.raw_video is None and not config.keep_raw:
            # Fetched by this build and not wanted: disk holds only the videos being cut.
            Path(raw_video).unlink(missing_ok=True)


def fetch_raw_video(
    video: VideoClips, clips: Iterable[ClipAnnotation], config: ClipOptions, skips: SkipLog
) -> str | None:
    """Download a video's raw file for its clips (fetch=True), through the data folder's manifest, in the
    build's download session (its pace and circuit breaker, shared by the build's workers).

    Returns its path, or None after skipping every clip with the download's reason: "missing" when the
    video failed for good, TO_RETRY when a rerun may fetch it. Raises FolderBusyError while a `download`
    runs on the folder, and SessionStopped when YouTube kept refusing the session.
    """
    if video.fetch_into is None:
        raise MissingSourceError(f"YouTube video {video.ytb_id}: no raw video and no data folder to fetch it into")
    clips = list(clips)
    manifest = Manifest(video.fetch_into)
    previous = manifest.read().get(video.ytb_id)
    last_end = max(clip.end_sec for clip in clips)
    settings = config.download_settings()
    session = fetch_session(video.fetch_session, video.fetch_into, settings)
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
