"""The small sample bundled with the package, and synthetic raw videos whose frames carry their index.

The package ships the 6 real CelebV-HQ records of `sample/celebvhq_info.json`; the YouTube videos they
come from cannot be shipped, so `make_celebv_hq_sample` generates small stand-in raw videos, long
enough to hold every clip, in the real download layout (`raw/{ytb_id}.mp4`). It lays them out only in a
new or empty folder, or one it laid out before (its marker file, `.celeb_datasets_sample`, says so):
pointed at a folder of the user's own (a real download), it refuses rather than mixing into it or
overwriting its annotation file. Every frame draws its own
index as a repeating pattern of 32x32 tiles (16 bits, 8x8 cells), with the x and y position in the
chroma planes, so that whoever cuts a clip can check which frames, and which part of them, it holds.
"""

from __future__ import annotations

import json
import shutil
from fractions import Fraction
from importlib import resources
from pathlib import Path

import av
import numpy as np

from celeb_datasets.errors import OptionError
from celebv_hq_lib.layout import ANNOTATION_FILE, RAW_VIDEO_FOLDER

# Written first into a folder the sample lays out: the folder is the sample's, to lay out again.
SAMPLE_MARKER = ".celeb_datasets_sample"
TILE = 32
_CELL = TILE // 4
_DARK, _LIGHT = 48, 208


def sample_annotation_file() -> Path:
    """The bundled `celebvhq_info.json` with 6 real records, in the exact form of the release."""
    return Path(str(resources.files("celebv_hq_lib") / "sample" / "celebvhq_info.json"))


def index_pattern(index: int, width: int, height: int) -> np.ndarray:
    """The luma plane of frame `index`: 16 bits of the index in every 32x32 tile."""
    bits = (index >> np.arange(16)) & 1
    cells = np.where(bits.reshape(4, 4) == 1, _LIGHT, _DARK).astype(np.uint8)
    tile = np.kron(cells, np.ones((_CELL, _CELL), dtype=np.uint8))
    return np.tile(tile, (height // TILE + 1, width // TILE + 1))[:height, :width]


def read_frame_index(luma: np.ndarray, x: int = 0, y: int = 0) -> int:
    """The index drawn by `index_pattern` into a frame, from its luma plane cropped at (x, y)."""
    top, left = -y % TILE, -x % TILE
    value = 0
    for bit in range(16):
        row, column = divmod(bit, 4)
        cy, cx = top + row * _CELL + _CELL // 2, left + column * _CELL + _CELL // 2
        if luma[cy - 2 : cy + 2, cx - 2 : cx + 2].mean() > (_DARK + _LIGHT) / 2:
            value |= 1 << bit
    return value


def write_indexed_video(
    path: str | Path,
    *,
    duration_sec: float,
    width: int = 320,
    height: int = 240,
    fps: int = 25,
    audio_rate: int | None = 16000,
    codec: str = "libx264",
    gop_sec: float = 2.0,
    preset: str = "ultrafast",
) -> Path:
    """Write a raw video whose frame k shows index k (see `index_pattern`), with a tone as audio.

    `audio_rate` None writes no audio.

    Chroma carries the position: U rises with x and V with y, so a crop's offset can be checked.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame_count = round(duration_sec * fps)
    chroma_u = np.tile(np.linspace(16, 240, width // 2, dtype=np.uint8), (height // 2, 1))
    chroma_v = np.tile(np.linspace(16, 240, height // 2, dtype=np.uint8)[:, None], (1, width // 2))
    chroma = np.concatenate([chroma_u.reshape(-1, width), chroma_v.reshape(-1, width)])
    with av.open(str(path), mode="w") as output:
        video = output.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"g": str(max(1, round(gop_sec * fps)))}
        if codec == "libx264":
            video.options |= {"preset": preset, "crf": "18"}
        tone = None
        if audio_rate:
            tone = output.add_stream("aac", rate=audio_rate, layout="mono")
            tone.options = {"aac_coder": "fast"}
            samples_per_frame = Fraction(audio_rate, fps)
        for index in range(frame_count):
            planes = np.concatenate([index_pattern(index, width, height), chroma])
            frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            frame.pts = index
            output.mux(video.encode(frame))
            if tone is not None:
                first, last = round(index * samples_per_frame), round((index + 1) * samples_per_frame)
                t = np.arange(first, last) / audio_rate
                wave = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
                sound = av.AudioFrame.from_ndarray(wave, format="fltp", layout="mono")
                sound.sample_rate, sound.pts = audio_rate, first
                output.mux(tone.encode(sound))
        output.mux(video.encode(None))
        if tone is not None:
            output.mux(tone.encode(None))
    return path


def make_celebv_hq_sample(folder: str | Path, *, width: int = 320, height: int = 180, fps: int = 10) -> Path:
    """Lay out a CelebV-HQ download folder with the bundled records and generated raw videos.

    Returns the folder, ready to be the builder's `data_dir`. Videos already there are kept. `folder` must
    be new, empty, or one the sample laid out before; OptionError, naming what is there, for any other
    (nothing is written into it).
    """
    folder = Path(folder)
    records = sample_annotation_file().read_bytes()
    video_ends: dict[str, float] = {}
    for record in json.loads(records)["clips"].values():
        end = record["duration"]["end_sec"]
        video_ends[record["ytb_id"]] = max(video_ends.get(record["ytb_id"], 0.0), end)
    check_sample_folder(folder, records, set(video_ends))
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / SAMPLE_MARKER
    if not marker.exists():
        marker.write_text("laid out by celeb-datasets: the CelebV-HQ sample (it may lay it out again)\n")
    if not (folder / ANNOTATION_FILE).exists():
        shutil.copyfile(sample_annotation_file(), folder / ANNOTATION_FILE)
    for ytb_id, end in video_ends.items():
        raw = folder / RAW_VIDEO_FOLDER / f"{ytb_id}.mp4"
        if not raw.exists():
            write_indexed_video(
                raw, duration_sec=end + 1, width=width, height=height, fps=fps, audio_rate=8000, gop_sec=10
            )
    return folder


def check_sample_folder(folder: Path, records: bytes, ytb_ids: set[str]) -> None:
    """Refuse (OptionError) to lay out the sample in `folder` unless it is absent, empty, or the sample's own.

    The sample's own: its marker is there, or (laid out by a version without the marker) it holds nothing
    but the sample's files. Either way its annotation file must be the sample's `records`: the sample never
    overwrites an annotation file of the user's.
    """
    if not folder.exists():
        return
    if not folder.is_dir():
        raise OptionError(f"{folder} is a file: the sample is laid out in a folder (new or empty)")
    annotation = folder / ANNOTATION_FILE
    if annotation.exists() and not (annotation.is_file() and annotation.read_bytes() == records):
        raise OptionError(
            f"{annotation} is not the sample's annotation file (your own, or edited): the sample never overwrites "
            "it; lay the sample out in a new or empty folder"
        )
    if (folder / SAMPLE_MARKER).is_file():
        return
    videos = {f"{ytb_id}.mp4" for ytb_id in ytb_ids}
    raw = folder / RAW_VIDEO_FOLDER
    foreign = [entry.name for entry in folder.iterdir() if entry.name not in (ANNOTATION_FILE, RAW_VIDEO_FOLDER)]
    if raw.is_dir():
        foreign += [f"{RAW_VIDEO_FOLDER}/{entry.name}" for entry in raw.iterdir() if entry.name not in videos]
    elif raw.exists():
        foreign.append(RAW_VIDEO_FOLDER)
    if foreign:
        shown = ", ".join(sorted(foreign)[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise OptionError(
            f"{folder} holds files the sample did not write ({shown}): the sample is laid out in a new or empty "
            "folder, or one it laid out before, never among your own files"
        )
