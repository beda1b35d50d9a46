"""Where things are in a CelebV-HQ download folder, and finding them.

    data_dir/
      celebvhq_info.json                 the annotation file (from the homepage)
      processed/{clip_id}.mp4            the release's processed clips, if you have them (also 35666/,
                                         videos/ or the folder itself)
      raw/{ytb_id}.{mp4,mkv,webm}        the raw YouTube videos the clips are cut from
      raw/.partial/{ytb_id}/             downloads in progress (never read as a source)
      download_manifest.jsonl            what `celeb-datasets download` fetched, failed or left to retry

Every module that needs a path of this layout takes it from here.
"""

from __future__ import annotations

import os
from pathlib import Path

from celeb_datasets.errors import MissingSourceError

HOMEPAGE = "https://celebv-hq.github.io/"
ANNOTATION_FILE = "celebvhq_info.json"
# Where processed clips `{clip_id}.mp4` may be, in order of preference ("" is the folder itself).
PROCESSED_CLIP_FOLDERS = ("processed", "35666", "videos", "")
RAW_VIDEO_FOLDER = "raw"
RAW_VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm")
PARTIAL_FOLDER = ".partial"
MANIFEST_FILE = "download_manifest.jsonl"


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
    return next(
        (folder / f"{ytb_id}{ext}" for ext in RAW_VIDEO_EXTENSIONS if (folder / f"{ytb_id}{ext}").is_file()), None
    )


def file_names(folder: Path) -> frozenset[str]:
    """The names in `folder` (empty when it does not exist)."""
    try:
        return frozenset(os.listdir(folder))
    except FileNotFoundError:
        return frozenset()


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
