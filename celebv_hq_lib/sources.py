"""Where a clip's videos are: the download folder's own layout, and copies kept elsewhere, used in place.

Many users never download from YouTube: they have an academic torrent of the raw videos or a shared copy
of the processed clips, often on a read-only disk, in folders of their own. `raw_dir` and
`processed_dir` name such copies; they are searched with all their subfolders for `{ytb_id}.{mp4,mkv,
webm}` and `{clip_id}.mp4`, and are only ever read: nothing (no download, no report, no lock) is
written there. The download folder is searched as before (celebv_hq_lib.layout), and first.

`VideoSources` answers "which raw video has this YouTube id, which processed clip has this clip id"
from one listing of each folder, made once per build or verification.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from celeb_datasets.errors import MissingSourceError, OptionError
from celebv_hq_lib.layout import (
    PROCESSED_CLIP_FOLDERS,
    RAW_VIDEO_EXTENSIONS,
    RAW_VIDEO_FOLDER,
    YOUTUBE_ID,
    file_names,
)

PROCESSED_CLIP_EXTENSION = ".mp4"

logger = logging.getLogger("celeb_datasets")


@dataclasses.dataclass(frozen=True)
class VideoSources:
    """The raw videos (by YouTube id) and processed clips (by clip id) found, each with its path.

    `downloaded_raw_videos` are the download folder's own (`raw/`, which a download's manifest may know);
    `shared_raw_videos` those of `raw_dir`, the user's copy, never changed by this package.
    """

    downloaded_raw_videos: dict[str, Path]
    shared_raw_videos: dict[str, Path]
    processed_clips: dict[str, Path]
    # Files whose names are neither a YouTube id nor a clip id (in raw_dir and processed_dir only).
    unmatched_files: int = 0
    # raw_dir and processed_dir, as absolute paths: the user's copies, where nothing is ever written.
    copy_folders: tuple[Path, ...] = ()
    # Folders under raw_dir and processed_dir that could not be listed (no permission): left out.
    unreadable_folders: tuple[Path, ...] = ()

    def raw_video(self, ytb_id: str) -> Path | None:
        """The video's raw file: the download folder's own first, else raw_dir's (None: neither has it)."""
        return self.downloaded_raw_videos.get(ytb_id) or self.shared_raw_videos.get(ytb_id)

    def processed_clip(self, clip_id: str) -> Path | None:
        return self.processed_clips.get(clip_id)


def find_video_sources(
    data_dir: str | os.PathLike[str],
    raw_dir: str | os.PathLike[str] | None = None,
    processed_dir: str | os.PathLike[str] | None = None,
    clip_ids: frozenset[str] | set[str] | None = None,
) -> VideoSources:
    """List the videos of a download folder and of the optional `raw_dir` and `processed_dir`.

    In the download folder: `raw/{ytb_id}.{mp4,mkv,webm}` and `{clip_id}.mp4` in processed/, 35666/,
    videos/ or the folder itself (as `celebv_hq_lib.layout` says). In `raw_dir` and `processed_dir`: the
    same names at any depth (hidden folders, such as partial downloads, left out). Where one video or clip
    is found twice, the download folder wins, then the extension order (.mp4, .mkv, .webm), then the path
    that sorts first. `clip_ids` (the annotation file's) tells clip ids from other .mp4 names, for the
    count of unmatched files. Raises MissingSourceError for a `raw_dir` or `processed_dir` that is not a folder.
    Folders under them that cannot be listed (no permission: not ours to change) are left out, with one warning.
    """
    data_dir = Path(data_dir).expanduser()
    raw_listing = file_names(data_dir / RAW_VIDEO_FOLDER)
    downloaded: dict[str, Path] = {}
    for extension in RAW_VIDEO_EXTENSIONS:
        for name in sorted(raw_listing):
            stem, suffix = os.path.splitext(name)
            if suffix == extension and YOUTUBE_ID.fullmatch(stem) and stem not in downloaded:
                downloaded[stem] = data_dir / RAW_VIDEO_FOLDER / name
    processed: dict[str, Path] = {}
    for folder in PROCESSED_CLIP_FOLDERS:
        for name in sorted(file_names(data_dir / folder)):
            stem, suffix = os.path.splitext(name)
            if suffix == PROCESSED_CLIP_EXTENSION and stem not in processed:
                processed[stem] = data_dir / folder / name
    shared: dict[str, Path] = {}
    unmatched = 0
    copies: list[Path] = []
    unreadable: list[Path] = []
    if raw_dir is not None:
        copies.append(checked_folder("raw_dir", raw_dir))
        shared, unmatched = _raw_videos_under(copies[-1], unreadable)
    if processed_dir is not None:
        copies.append(checked_folder("processed_dir", processed_dir))
        for path in sorted(_files_under(copies[-1], unreadable)):
            stem, suffix = os.path.splitext(path.name)
            if suffix != PROCESSED_CLIP_EXTENSION or (clip_ids is not None and stem not in clip_ids):
                unmatched += 1
                continue
            processed.setdefault(stem, path)
    if unreadable:
        logger.warning(
            "%s folder(s) under %s could not be read (no permission), e.g. %s: videos in them are not used",
            f"{len(unreadable):,}", " and ".join(map(str, copies)), unreadable[0],
        )  # fmt: skip
    return VideoSources(downloaded, shared, processed, unmatched, tuple(copies), tuple(unreadable))


def checked_folder(option: str, folder: str | os.PathLike[str]) -> Path:
    """`folder` as an absolute path, or MissingSourceError naming `option` when it is not a folder."""
    path = Path(folder).expanduser().absolute()
    if not path.is_dir():
        what = "not a folder" if path.exists() else "not found"
        raise MissingSourceError(f"{option} {path}: {what}; give the folder that holds your copy of the videos")
    return path


def refuse_raw_dir_as_download_target(data_dir: str | os.PathLike[str] | None, raw_dir: str | None) -> None:
    """OptionError when `raw_dir` is the download folder's own raw/, where downloads write: `raw_dir` is read
    only, so it cannot also be where a download (or a fetch build) puts its videos."""
    if data_dir is None or raw_dir is None:
        return
    target = (Path(data_dir).expanduser() / RAW_VIDEO_FOLDER).absolute()
    if os.path.normpath(Path(raw_dir).expanduser().absolute()) == os.path.normpath(target):
        raise OptionError(
            f"raw_dir {raw_dir} is the download folder's own {RAW_VIDEO_FOLDER}/, where downloads are written; "
            "raw_dir names a copy that is only read: leave it out (that folder is searched anyway)"
        )


def _raw_videos_under(folder: Path, unreadable: list[Path]) -> tuple[dict[str, Path], int]:
    """The raw videos `{ytb_id}.{mp4,mkv,webm}` at any depth of `folder`, and how many other files it holds."""
    found: dict[str, tuple[int, str, Path]] = {}
    unmatched = 0
    for path in _files_under(folder, unreadable):
        stem, suffix = os.path.splitext(path.name)
        if suffix not in RAW_VIDEO_EXTENSIONS or YOUTUBE_ID.fullmatch(stem) is None:
            unmatched += 1
            continue
        rank = (RAW_VIDEO_EXTENSIONS.index(suffix), str(path), path)
        if stem not in found or rank[:2] < found[stem][:2]:
            found[stem] = rank
    return {ytb_id: rank[2] for ytb_id, rank in found.items()}, unmatched


def _files_under(folder: Path, unreadable: list[Path]) -> Iterator[Path]:
    """Every file at any depth of `folder`, links followed (each folder listed once), hidden names left out.
    Folders that cannot be listed are added to `unreadable`."""
    seen: set[tuple[int, int]] = set()

    def refused(error: OSError) -> None:
        if isinstance(error, PermissionError):
            unreadable.append(Path(error.filename))  # others: gone since its parent was listed

    for root, folders, files in os.walk(folder, onerror=refused, followlinks=True):
        try:
            status = os.stat(root)
        except OSError as error:
            refused(error)
            continue
        if (status.st_dev, status.st_ino) in seen:
            folders[:] = []  # a link back to a folder already listed must not loop
            continue
        seen.add((status.st_dev, status.st_ino))
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(root) / name
