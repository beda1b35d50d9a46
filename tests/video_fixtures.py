"""Videos for the cutter's and the checker's tests, made in code: rotated, remuxed, damaged, audio only."""

from __future__ import annotations

import random
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import imageio_ffmpeg
import numpy as np


def ffmpeg(*arguments: str | Path) -> None:
    """Run the ffmpeg that imageio-ffmpeg ships (an independent reference for our PyAV pipeline)."""
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    subprocess.run([*command, *map(str, arguments)], check=True, timeout=120)


def with_display_matrix(source: Path, target: Path, rotation: int, *, hflip: bool = False, vflip: bool = False) -> Path:
    """A copy of `source` whose video carries a display matrix: `rotation` degrees counter-clockwise, then flips.

    This is how phone videos come: the picture is stored as the sensor saw it, and players turn it.
    """
    flips = [*(["-display_hflip"] if hflip else []), *(["-display_vflip"] if vflip else [])]
    ffmpeg("-display_rotation", str(rotation), *flips, "-i", source, "-c", "copy", target)
    return target


def remux(source: Path, target: Path, *options: str) -> Path:
    """The same packets in another container or layout (e.g. `-movflags +faststart`: the index first)."""
    ffmpeg("-i", source, "-c", "copy", *options, target)
    return target


def packet_position(path: Path, kind: str, time: float) -> tuple[int, int]:
    """The byte offset and size of the `kind` ("video"/"audio") packet shown at `time` seconds."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0] if kind == "video" else container.streams.audio[0]
        for packet in container.demux(stream):
            if packet.pts is not None and float(packet.pts * packet.time_base) >= time - 1e-6:
                return packet.pos, packet.size
    raise ValueError(f"no {kind} packet at {time} s in {path}")


def overwrite(data: bytes, start: int, length: int, seed: int = 0) -> bytes:
    """`data` with `length` bytes from `start` replaced by (reproducible) random bytes."""
    damaged = bytearray(data)
    damaged[start : start + length] = random.Random(seed).randbytes(length)
    return bytes(damaged)


def write_audio_only(path: Path, duration_sec: float = 1.0, rate: int = 16000) -> Path:
    """An MP4 with one AAC stream and no video (a tone)."""
    with av.open(str(path), mode="w") as output:
        stream = output.add_stream("aac", rate=rate, layout="mono")
        samples = round(duration_sec * rate)
        wave = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / rate)).astype(np.float32)
        for first in range(0, samples, 1024):
            frame = av.AudioFrame.from_ndarray(wave[None, first : first + 1024].copy(), format="fltp", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, first, Fraction(1, rate)
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return path
