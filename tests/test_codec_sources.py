"""The cutter on the other codecs YouTube serves: AV1 in MP4 (decoded with libdav1d) and VP9 in WebM with Opus.

yt-dlp picks AV1 where YouTube offers it, so most raw videos may be AV1; the cost benchmark measures
them, and this checks that `cut_clips` cuts them frame-exactly, with the seeks the work-item model counts.
"""

from __future__ import annotations

import io
import math
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from celebv_hq_lib.sample import index_pattern, read_frame_index
from celebv_hq_lib.video import ClipRequest, CutStatistics, EncoderSettings, cut_clips
from celebv_hq_lib.work_items import Clip, pass_work

# SVT-AV1 prints its settings to stderr unless told to print errors only.
os.environ.setdefault("SVT_LOG", "1")
FPS, WIDTH, HEIGHT, DURATION_SEC = 25, 320, 240, 12
FAST = EncoderSettings(crop="none", preset="ultrafast", crf=18)
VP9_OPTIONS = {"deadline": "realtime", "cpu-used": "8", "crf": "20", "b": "0"}
SOURCES = {
    # codec: (container, video encoder, its options, audio encoder, audio rate, the decoder PyAV must pick)
    "h264": ("mp4", "libx264", {"preset": "ultrafast", "crf": "18"}, "aac", 44_100, "h264"),
    "av1": ("mp4", "libsvtav1", {"preset": "12", "crf": "20"}, "aac", 44_100, "libdav1d"),
    "vp9": ("webm", "libvpx-vp9", VP9_OPTIONS, "libopus", 48_000, "vp9"),
}
# Decoded through a 0.4 s gap, then a seek over a 6 s one (more than seek_gap_sec, 5 s).
CLIPS = [ClipRequest("a", 0.4, 1.6), ClipRequest("b", 2.0, 3.0), ClipRequest("c", 9.0, 10.2)]


def write_source(path: Path, codec: str) -> Path:
    """A raw video whose frame k shows index k (a keyframe every 2 s), with a tone as audio."""
    container, encoder, options, audio_encoder, rate, _ = SOURCES[codec]
    with av.open(str(path), mode="w", format=container) as output:
        video = output.add_stream(encoder, rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.options = {**options, "g": str(2 * FPS)}
        audio = output.add_stream(audio_encoder, rate=rate, layout="mono")
        chroma = np.full((HEIGHT // 2, WIDTH), 128, dtype=np.uint8)
        for index in range(DURATION_SEC * FPS):
            frame = av.VideoFrame.from_ndarray(np.concatenate([index_pattern(index, WIDTH, HEIGHT), chroma]), "yuv420p")
            frame.pts = index
            output.mux(video.encode(frame))
        for first in range(0, DURATION_SEC * rate, 1024):
            wave = (0.2 * np.sin(2 * np.pi * 440 * np.arange(first, first + 1024) / rate)).astype(np.float32)
            sound = av.AudioFrame.from_ndarray(wave[None, :], format="fltp", layout="mono")
            sound.sample_rate, sound.pts, sound.time_base = rate, first, Fraction(1, rate)
            output.mux(audio.encode(sound))
        output.mux(video.encode(None))
        output.mux(audio.encode(None))
    return path


@pytest.mark.parametrize("codec", ["av1", "vp9"])
def test_av1_in_mp4_and_vp9_in_webm_are_cut_frame_exactly_with_the_modelled_seeks(codec: str, tmp_path: Path) -> None:
    source = write_source(tmp_path / f"raw.{SOURCES[codec][0]}", codec)
    with av.open(str(source)) as container:
        assert container.streams.video[0].codec_context.name == SOURCES[codec][5]
    statistics = CutStatistics()
    results = {result.clip_id: result for result in cut_clips(str(source), CLIPS, FAST, statistics=statistics)}
    for request in CLIPS:
        assert results[request.clip_id].skip_reason is None
        with av.open(io.BytesIO(results[request.clip_id].video)) as clip:
            indices = [read_frame_index(frame.to_ndarray(format="gray")) for frame in clip.decode(video=0)]
        with av.open(io.BytesIO(results[request.clip_id].video)) as clip:
            samples = sum(frame.samples for frame in clip.decode(audio=0))
        first, end = (math.ceil(time * FPS - 1e-6) for time in (request.start_sec, request.end_sec))
        assert indices == list(range(first, end))
        assert samples == pytest.approx((request.end_sec - request.start_sec) * SOURCES[codec][4], abs=2048)
    modelled = pass_work([Clip(r.clip_id, r.start_sec, r.end_sec) for r in CLIPS], seek_gap_sec=5.0)
    assert statistics.seeks == modelled.seeks == 2


def video_frames(mp4: bytes) -> list[np.ndarray]:
    with av.open(io.BytesIO(mp4)) as clip:
        return [frame.to_ndarray() for frame in clip.decode(video=0)]


@pytest.mark.parametrize("codec", sorted(SOURCES))
def test_a_clip_cut_in_an_item_of_its_own_has_the_pictures_of_the_one_pass(codec: str, tmp_path: Path) -> None:
    # What splitting a video into work items keeps: the same frames, encoded the same. (The audio can
    # differ in its last bits: the decoders carry state along a pass, so items must be the same everywhere.)
    source = write_source(tmp_path / f"raw.{SOURCES[codec][0]}", codec)
    one_pass = {result.clip_id: result.video for result in cut_clips(str(source), CLIPS, FAST)}
    for request in CLIPS:
        [alone] = cut_clips(str(source), [request], FAST)
        pictures = video_frames(alone.video)
        assert len(pictures) == len(video_frames(one_pass[request.clip_id]))
        assert all(np.array_equal(a, b) for a, b in zip(pictures, video_frames(one_pass[request.clip_id]), strict=True))
