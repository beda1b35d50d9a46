"""Cutting clips from raw videos: crop geometry, frame-accurate trims, audio, one decoding pass."""

from __future__ import annotations

import gc
import io
import math
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import av
import pytest

from celeb_datasets.errors import CelebDatasetsError
from celeb_datasets.sample import read_frame_index, write_indexed_video
from celeb_datasets.video import (
    BoundingBox,
    ClipRequest,
    CropWindow,
    CutStatistics,
    EncoderSettings,
    cut_clips,
    official_crop_window,
)

FPS = 25
WIDTH, HEIGHT = 320, 240
FACE = BoundingBox(top=0.0, bottom=0.8, left=0.3, right=0.7)
FAST = EncoderSettings(preset="ultrafast", crf=18)


@pytest.fixture(scope="module")
def raw_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_indexed_video(
        tmp_path_factory.mktemp("raw") / "video.mp4", duration_sec=30, width=WIDTH, height=HEIGHT, fps=FPS
    )


class StreamFacts(NamedTuple):
    width: int
    height: int
    average_rate: Fraction


def decode(mp4: bytes) -> tuple[list[av.VideoFrame], StreamFacts, int]:
    """Frames, video stream facts and decoded audio sample count of an MP4 held in memory."""
    with av.open(io.BytesIO(mp4)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        facts = StreamFacts(stream.width, stream.height, stream.average_rate)
    with av.open(io.BytesIO(mp4)) as container:
        samples = sum(frame.samples for frame in container.decode(audio=0)) if container.streams.audio else 0
    return frames, facts, samples


def frame_indices(frames: list[av.VideoFrame], window: CropWindow | None) -> list[int]:
    x, y = (window.x, window.y) if window else (0, 0)
    return [read_frame_index(frame.to_ndarray(format="gray"), x, y) for frame in frames]


def expected_indices(start_sec: float, end_sec: float) -> list[int]:
    return list(range(math.ceil(start_sec * FPS - 1e-6), math.ceil(end_sec * FPS - 1e-6)))


def test_official_crop_matches_the_worked_example_of_the_release() -> None:
    box = BoundingBox(top=0.0, bottom=0.8815, left=0.1964, right=0.6922)  # M2Ohb0FAaJU_1
    assert official_crop_window(box, 1920, 1080) == CropWindow(x=366, y=0, side=974)


@pytest.mark.parametrize(
    ("right", "x"),
    [(0.48225, 654), (0.4825, 654), (0.48275, 656)],
    ids=["654.5 rounds to 654", "655 floors to even 654", "655.5 rounds to 656"],
)
def test_official_crop_rounds_half_pixel_offsets_as_ffmpeg_does_for_yuv420(right: float, x: int) -> None:
    # A 4000x1000 frame, full-height box widened to 0..1: the side is 1000, x = 300 + (w - 1000) / 2.
    box = BoundingBox(top=0.02, bottom=0.98, left=0.095, right=right)
    assert official_crop_window(box, 4000, 1000) == CropWindow(x=x, y=0, side=1000)


def test_official_crop_of_an_empty_box_is_an_error() -> None:
    with pytest.raises(CelebDatasetsError, match="empty"):
        official_crop_window(BoundingBox(0.5, 0.5, 0.5, 0.5), 10, 10)


def test_cut_clips_hold_exactly_the_source_frames_of_their_range_cropped_at_the_official_square(
    raw_video: Path,
) -> None:
    requests = [ClipRequest("a", 1.0, 3.0, FACE), ClipRequest("b", 2.02, 4.5, FACE)]
    results = {result.clip_id: result for result in cut_clips(str(raw_video), requests, FAST)}
    window = official_crop_window(FACE, WIDTH, HEIGHT)
    for request in requests:
        frames, stream, samples = decode(results[request.clip_id].video)
        assert (stream.width, stream.height) == (window.side, window.side)
        assert stream.average_rate == FPS
        assert frame_indices(frames, window) == expected_indices(request.start_sec, request.end_sec)
        assert frames[0].time == 0.0
        # AAC keeps whole 1024-sample packets: at most one packet more than the range.
        duration_samples = (request.end_sec - request.start_sec) * 16000
        assert duration_samples <= samples <= duration_samples + 2048


def test_clips_of_one_video_are_decoded_in_one_pass_sharing_frames_and_seeking_over_long_gaps(
    raw_video: Path,
) -> None:
    requests = [
        ClipRequest("overlapping_1", 1.0, 4.0, FACE),
        ClipRequest("overlapping_2", 2.0, 5.0, FACE),
        ClipRequest("close_after", 6.0, 7.0, FACE),
        ClipRequest("far_away", 25.0, 26.0, FACE),
    ]
    statistics = CutStatistics()
    results = list(cut_clips(str(raw_video), reversed(requests), FAST, seek_gap_sec=5, statistics=statistics))
    assert [result.skip_reason for result in results] == [None] * 4
    # One seek to the first clip, one over the 19 s gap; the short gap is decoded through.
    assert statistics.seeks == 2
    frames_in_ranges = len(range(25, 175)) + len(range(625, 650))
    assert statistics.decoded_video_frames < frames_in_ranges + 2 * 2 * FPS  # plus at most a GOP per seek
    assert statistics.clip_frames == {"overlapping_1": 75, "overlapping_2": 75, "close_after": 25, "far_away": 25}


def test_crop_none_keeps_whole_frames_and_size_resizes_after_the_crop(raw_video: Path) -> None:
    whole = EncoderSettings(crop="none", preset="ultrafast")
    resized = EncoderSettings(size=64, preset="ultrafast")
    [full] = cut_clips(str(raw_video), [ClipRequest("full", 10.0, 10.4, FACE)], whole)
    [small] = cut_clips(str(raw_video), [ClipRequest("small", 10.0, 10.4, FACE)], resized)
    full_frames, full_stream, _ = decode(full.video)
    _, small_stream, _ = decode(small.video)
    assert (full_stream.width, full_stream.height) == (WIDTH, HEIGHT)
    assert frame_indices(full_frames, None) == expected_indices(10.0, 10.4)
    assert (small_stream.width, small_stream.height) == (64, 64)


def test_a_clip_beyond_the_end_of_the_video_is_skipped_with_the_reason(raw_video: Path) -> None:
    requests = [ClipRequest("inside", 28.0, 29.0, FACE), ClipRequest("ends_late", 29.0, 33.0, FACE)]
    requests.append(ClipRequest("starts_late", 31.0, 32.0, FACE))
    results = {result.clip_id: result for result in cut_clips(str(raw_video), requests, FAST)}
    assert results["inside"].video is not None
    assert results["ends_late"].skip_reason.startswith("range beyond the video: the clip ends at 33.00 s")
    assert results["starts_late"].skip_reason.startswith("range beyond the video: the clip starts at 31.00 s")


def av_objects_left_for_the_garbage_collector() -> list[str]:
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        return sorted({type(found).__name__ for found in gc.garbage if type(found).__module__.startswith("av.")})
    finally:
        gc.garbage.clear()
        gc.set_debug(0)


def test_skipped_and_abandoned_clips_close_their_encoders(raw_video: Path) -> None:
    # An encoder left in a reference cycle is freed by the collector of whichever process runs it next:
    # in a forked `num_proc` worker, freeing libx264's threads there hangs the whole prepare.
    gc.collect()
    requests = [ClipRequest("inside", 28.0, 29.0, FACE), ClipRequest("ends_late", 29.0, 33.0, FACE)]
    assert [result.clip_id for result in cut_clips(str(raw_video), requests, FAST)] == ["inside", "ends_late"]
    assert av_objects_left_for_the_garbage_collector() == []
    stopped_early = cut_clips(
        str(raw_video), [ClipRequest("a", 1.0, 3.0, FACE), ClipRequest("b", 2.0, 4.0, FACE)], FAST
    )
    next(stopped_early)
    stopped_early.close()
    assert av_objects_left_for_the_garbage_collector() == []


def test_an_unreadable_video_skips_every_clip_as_unreadable(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    results = list(cut_clips(str(corrupt), [ClipRequest("a", 0.0, 1.0), ClipRequest("b", 1.0, 2.0)]))
    assert [r.clip_id for r in results] == ["a", "b"]
    assert all(r.video is None and r.skip_reason.startswith("unreadable: ") for r in results)


def test_a_source_without_audio_gives_clips_without_audio_and_vp9_webm_sources_work(tmp_path: Path) -> None:
    silent = write_indexed_video(
        tmp_path / "silent.webm", duration_sec=2, width=128, height=96, fps=FPS, audio_rate=None, codec="libvpx-vp9"
    )
    [result] = cut_clips(str(silent), [ClipRequest("a", 0.4, 1.2, None)], FAST)
    frames, _, samples = decode(result.video)
    assert samples == 0
    assert frame_indices(frames, None) == expected_indices(0.4, 1.2)


def test_encoder_settings_reject_impossible_values() -> None:
    with pytest.raises(CelebDatasetsError, match="crop"):
        EncoderSettings(crop="square")  # type: ignore[arg-type]
    with pytest.raises(CelebDatasetsError, match="size"):
        EncoderSettings(size=511)
    with pytest.raises(CelebDatasetsError, match="crf"):
        EncoderSettings(crf=60)
    with pytest.raises(CelebDatasetsError, match="preset must be one of libx264's"):
        EncoderSettings(preset="fastest")
