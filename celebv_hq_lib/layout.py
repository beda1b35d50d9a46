"""Where things are in a CelebV-HQ download folder, and finding them.

    data_dir/
      celebvhq_info.json                 the annotation file (from the homepage)
      processed/{clip_id}.mp4            the release's processed clips, if you have them (also 35666/,
                                         videos/ or the folder itself)
      raw/{ytb_id}.{mp4,mkv,webm}        the raw YouTube videos the clips are cut from
      raw/.partial/{ytb_id}/             downloads in progress (never read as a source)
      download_manifest.jsonl            what `celeb-datasets download` fetched, failed or left to retry
      .download.lock                     held by the one `download` running on the folder (and shared by
                                         fetch=true builds)
      .download_pace                     when the folder's download session may start its next video

Every module that needs a path of this layout takes it from here. Ids are checked before they become
names (`check_youtube_id`): a YouTube id is 11 letters, digits, `-` or `_`, so no path built from one can
leave its folder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from celeb_datasets.errors import MissingSourceError, OptionError

HOMEPAGE = "https://celebv-hq.github.io/"
ANNOTATION_FILE = "celebvhq_info.json"
# Where processed clips `{clip_id}.mp4` may be, in order of preference ("" is the folder itself).
PROCESSED_CLIP_FOLDERS = ("processed", "35666", "videos", "")
RAW_VIDEO_FOLDER = "raw"
RAW_VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm")
PARTIAL_FOLDER = ".partial"
MANIFEST_FILE = "download_manifest.jsonl"
DOWNLOAD_LOCK_FILE = ".download.lock"
PACE_FILE = ".download_pace"

# What YouTube's video ids are: 11 characters of the URL-safe base64 alphabet.
YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}")
# A clip id is its video's id, then `_{k}` or `_{k}_{m}` (both forms are in the release).
_CLIP_ID_SUFFIX = re.compile(r"_[0-9]+(?:_[0-9]+)?")


def youtube_id_problem(ytb_id: object) -> str | None:
    """Why `ytb_id` is not a YouTube video id (11 letters, digits, `-` or `_`), or None when it is one."""
    if not isinstance(ytb_id, str):
        return f"expected a YouTube id (11 letters, digits, - or _), found {ytb_id!r}"
    if YOUTUBE_ID.fullmatch(ytb_id) is None:
        return f"expected a YouTube id (11 letters, digits, - or _), found {ytb_id!r} ({len(ytb_id)} characters)"
    return None


def clip_id_problem(clip_id: str, ytb_id: str) -> str | None:
    """Why `clip_id` is not a clip id of the video `ytb_id` (`{ytb_id}_{k}` or `{ytb_id}_{k}_{m}`), or None."""
    if not clip_id.startswith(ytb_id) or _CLIP_ID_SUFFIX.fullmatch(clip_id, len(ytb_id)) is None:
        return f"expected {ytb_id}_{{k}} or {ytb_id}_{{k}}_{{m}} (k, m whole numbers), found {clip_id!r}"
    return None


def check_youtube_id(ytb_id: str) -> str:
    """`ytb_id` itself, or OptionError when it is not a YouTube id (it would not be a safe file name)."""
    problem = youtube_id_problem(ytb_id)
    if problem is not None:
        raise OptionError(f"YouTube video id: {problem}")
    return ytb_id


def find_annotation_file(data_dir: str | os.PathLike[str] | None) -> Path:
    """`celebvhq_info.json` in the user's download folder, or a clear error saying what to get."""
    if data_dir is None:
        raise MissingSourceError(
            f"CelebV-HQ needs data_dir: the folder where you put {ANNOTATION_FILE} (from {HOMEPAGE}) "
            "and, for the clips config, the videos (raw/{ytb_id}.mp4 or processed/{clip_id}.mp4)"
        )
    if Path(data_dir).exists() and not Path(data_dir).is_dir():
        raise MissingSourceError(f"data_dir {data_dir} is not a folder: give the folder holding {ANNOTATION_FILE}")
    path = Path(data_dir) / ANNOTATION_FILE
    if path.is_dir():
        raise MissingSourceError(f"{path} is a folder: expected the annotation file {ANNOTATION_FILE} itself")
    if not path.is_file():
        raise MissingSourceError(
            f"{path} not found: download {ANNOTATION_FILE} (about 19 MB) from {HOMEPAGE} and put it in {Path(data_dir)}"
        )
    return path


def raw_video_path(data_dir: str | os.PathLike[str], ytb_id: str) -> Path | None:
    """The raw video `raw/{ytb_id}.{mp4,mkv,webm}` of a download folder, or None."""
    folder = Path(data_dir).expanduser() / RAW_VIDEO_FOLDER
    check_youtube_id(ytb_id)
    return next(
        (folder / f"{ytb_id}{ext}" for ext in RAW_VIDEO_EXTENSIONS if (folder / f"{ytb_id}{ext}").is_file()), None
    )


def raw_video_obstacle(data_dir: str | os.PathLike[str], ytb_id: str) -> Path | None:
    """A `raw/{ytb_id}.{mp4,mkv,webm}` that is there but is no file (a folder, a link to nothing), or None.

    A download of the video would be written at that name; it is not ours to replace.
    """
    folder = Path(data_dir).expanduser() / RAW_VIDEO_FOLDER
    check_youtube_id(ytb_id)
    return next(
        (
            folder / f"{ytb_id}{ext}"
            for ext in RAW_VIDEO_EXTENSIONS
            if os.path.lexists(folder / f"{ytb_id}{ext}") and not (folder / f"{ytb_id}{ext}").is_file()
        ),
        None,
    )


def raw_video_target(data_dir: str | os.PathLike[str], ytb_id: str, suffix: str) -> Path:
    """Where a checked download of `ytb_id` goes: `raw/{ytb_id}{suffix}` (suffix one of RAW_VIDEO_EXTENSIONS)."""
    if suffix not in RAW_VIDEO_EXTENSIONS:
        raise OptionError(f"raw video {ytb_id}{suffix}: expected one of {', '.join(RAW_VIDEO_EXTENSIONS)}")
    return Path(data_dir).expanduser() / RAW_VIDEO_FOLDER / f"{check_youtube_id(ytb_id)}{suffix}"


def partial_download_folder(data_dir: str | os.PathLike[str], ytb_id: str | None = None) -> Path:
    """`raw/.partial/`, where downloads in progress are; with `ytb_id`, that video's own folder in it."""
    folder = Path(data_dir).expanduser() / RAW_VIDEO_FOLDER / PARTIAL_FOLDER
    return folder if ytb_id is None else folder / check_youtube_id(ytb_id)


def file_names(folder: Path) -> frozenset[str]:
    """The names in `folder` (empty when it does not exist or is not a folder); MissingSourceError when it
    cannot be read. A folder named like a video is listed: the build says what is wrong with it."""
    try:
        return frozenset(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return frozenset()
    except OSError as error:
        raise MissingSourceError(f"cannot read the folder {folder}: {error.strerror}") from None


def processed_clip_names(data_dir: Path) -> frozenset[str]:
    """The names in every folder where processed clips may be."""
    return frozenset().union(*(file_names(data_dir / folder) for folder in PROCESSED_CLIP_FOLDERS))


def clip_source_paths(data_dir: Path, fetch: bool) -> list[Path]:
    """What keys the cache of `clips`: the annotation file, the processed clips (processed/, 35666/,
    videos/ and *.mp4 in the folder itself) and the raw videos with the download manifest.

    With `fetch`, the raw videos and the manifest are left out: they change as the build fetches (and
    deletes) videos, and counting them would make the next run of the same build miss its own cache.
    Nothing else in the folder (an export, notes, a cache) makes a build miss its cache.
    """
    paths = [data_dir / ANNOTATION_FILE, *(data_dir / folder for folder in PROCESSED_CLIP_FOLDERS if folder)]
    paths += sorted(data_dir.glob("*.mp4"))
    if not fetch:
        paths += [data_dir / RAW_VIDEO_FOLDER, data_dir / MANIFEST_FILE]
    return paths
