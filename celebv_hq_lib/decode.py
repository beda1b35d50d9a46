"""Frames from a `video` value as the datasets give it: `{"bytes": <MP4 file>, "path": name}`.

The `video` feature is `datasets.Video(decode=False)`, so rows carry the MP4 file untouched and need
neither torch nor ffmpeg to load. This decodes them with PyAV, which the package depends on anyway:

    >>> from celebv_hq_lib.decode import decode_frames
    >>> frames = decode_frames(row["video"], max_frames=16)   # uint8 array (frames, height, width, 3)

With torchcodec installed, `dataset.cast_column("video", datasets.Video())` makes `datasets` decode
instead (rows then hold torchcodec `VideoDecoder`s).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import av
import numpy as np

from celeb_datasets.errors import CelebDatasetsError


def decode_frames(
    video: Mapping[str, Any] | bytes, *, max_frames: int | None = None, pixel_format: str = "rgb24"
) -> np.ndarray:
    """Decode the frames of one video row, in presentation order, as a (frames, height, width, 3) array.

    `video` is a row's `{"bytes", "path"}` dict (or the bytes alone). `max_frames` stops after that
    many frames (decoding a long clip whole takes memory: 21 s at 512x512 is about 400 MB of RGB).
    `pixel_format` is any PyAV format name with 3 channels ("rgb24", "bgr24").
    """
    data = video.get("bytes") if isinstance(video, Mapping) else video
    name = video.get("path") if isinstance(video, Mapping) else None
    if not data:
        raise CelebDatasetsError(f"video {name or ''}: the row holds no bytes (was it exported with the media?)")
    frames = []
    try:
        with av.open(io.BytesIO(data)) as container:
            if not container.streams.video:
                raise CelebDatasetsError(f"video {name or ''}: the file has no video stream")
            for frame in container.decode(video=0):
                frames.append(frame.to_ndarray(format=pixel_format))
                if max_frames is not None and len(frames) >= max_frames:
                    break
    except av.FFmpegError as error:
        raise CelebDatasetsError(f"video {name or ''}: cannot be decoded: {error}") from None
    if not frames:
        raise CelebDatasetsError(f"video {name or ''}: decoded no frame")
    return np.stack(frames)
