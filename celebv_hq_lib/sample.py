"""The small sample bundled with the package, and synthetic raw videos whose frames carry their index.

The package ships the 6 real CelebV-HQ records of `sample/celebvhq_info.json`; the YouTube videos they
come from cannot be shipped, so `make_celebv_hq_sample` generates small stand-in raw videos, long
enough to hold every clip, in the real download layout (`raw/{ytb_id}.mp4`). Every frame draws its own
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

    Returns the folder, ready to be the builder's `data_dir`. Videos already there are kept.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sample_annotation_file(), folder / "celebvhq_info.json")
    clips = json.loads(sample_annotation_file().read_text())["clips"]
    video_ends: dict[str, float] = {}
    for record in clips.values():
        end = record["duration"]["end_sec"]
        video_ends[record["ytb_id"]] = max(video_ends.get(record["ytb_id"], 0.0), end)
    for ytb_id, end in video_ends.items():
        raw = folder / "raw" / f"{ytb_id}.mp4"
        if not raw.exists():
            write_indexed_video(
                raw, duration_sec=end + 1, width=width, height=height, fps=fps, audio_rate=8000, gop_sec=10
            )
    return folder
