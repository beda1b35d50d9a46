"""Cutting clips from raw videos: crop geometry, frame-accurate trims, audio, one decoding pass."""

from __future__ import annotations

import gc
import io
import json
import math
import os
import random
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import av
import numpy as np
import pytest
from video_fixtures import ffmpeg, overwrite, packet_position, remux, with_display_matrix, write_audio_only

import celeb_datasets
from celeb_datasets.errors import CelebDatasetsError, UnreadableMediaError
from celebv_hq_lib.sample import read_frame_index, write_indexed_video
from celebv_hq_lib.skip_kinds import CORRUPT, RANGE_BEYOND_THE_VIDEO, UNREADABLE, UNSUPPORTED, UNUSABLE_BOX
from celebv_hq_lib.video import (
    BoundingBox,
    ClipRequest,
    CropWindow,
    CutStatistics,
    EncoderSettings,
    cut_clips,
    display_matrix,
    official_crop_window,
    upright_filters,
    video_problem,
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
    assert [(result.skip_kind, result.skip_reason) for result in results] == [(None, None)] * 4
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
    assert results["ends_late"].skip_kind is results["starts_late"].skip_kind is RANGE_BEYOND_THE_VIDEO


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
    assert all(r.skip_kind is UNREADABLE for r in results)


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


# --- The same bytes on every run, process and CPU count --------------------------------------------------


def box_for(window: CropWindow) -> BoundingBox:
    """The face box whose official square is `window` on a WIDTH x HEIGHT frame."""
    x, y, side = window.x, window.y, window.side
    margin = 0.02  # the official widening, taken back
    return BoundingBox(
        y / HEIGHT + margin, (y + side) / HEIGHT - margin, x / WIDTH + margin, (x + side) / WIDTH - margin
    )


# Squares of odd and even chroma sides and offsets, none a multiple of 128 pixels wide (the widths x264's
# AVX-512 macroblock-tree code got wrong), one tall enough for two x264 threads; all at preset medium
# (macroblock tree on), several overlapping, so that they share decoded frames.
SPREAD = [
    (CropWindow(60, 10, 50), 0.0, 1.2),
    (CropWindow(62, 10, 52), 0.2, 1.4),
    (CropWindow(118, 34, 46), 0.4, 1.6),
    (CropWindow(174, 46, 64), 0.4, 1.2),
    (CropWindow(206, 96, 112), 0.8, 2.0),
    (CropWindow(62, 90, 144), 1.0, 2.2),
]
CUT_AND_HASH = """
import hashlib, json, os, sys
cpus = json.loads(sys.argv[1])
if cpus:
    os.sched_setaffinity(0, cpus)
from celebv_hq_lib.video import BoundingBox, ClipRequest, cut_clips
requests = [ClipRequest(clip_id, start, end, BoundingBox(*box)) for clip_id, start, end, box in json.loads(sys.argv[3])]
results = list(cut_clips(sys.argv[2], requests))
assert all(r.video for r in results), [r.skip_reason for r in results]
print(json.dumps({r.clip_id: hashlib.sha256(r.video).hexdigest() for r in results}))
"""


def test_clips_are_byte_identical_in_fresh_processes_whatever_their_cpus_and_leftover_memory(raw_video: Path) -> None:
    windows = [window for window, _, _ in SPREAD]
    assert [official_crop_window(box_for(window), WIDTH, HEIGHT) for window in windows] == windows
    requests = [(f"clip_{k}", start, end, box_for(window)) for k, (window, start, end) in enumerate(SPREAD)]
    # The children import the package this test imports (not an installed copy elsewhere).
    package_root = str(Path(celeb_datasets.__file__).resolve().parents[1])
    python_path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    all_cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    hashes = []
    # glibc's MALLOC_PERTURB_ fills new and freed heap memory with a byte of its own: code that reads
    # memory it never wrote then gives other bytes in each process, not only now and then.
    for cpus, perturb in [(all_cpus, None), (all_cpus[-1:], "85"), (all_cpus, "170"), (all_cpus[:1], "255")]:
        environment = {**os.environ, "PYTHONPATH": python_path}
        environment.pop("MALLOC_PERTURB_", None)
        if perturb:
            environment["MALLOC_PERTURB_"] = perturb
        arguments = [json.dumps(cpus), str(raw_video), json.dumps(requests)]
        run = subprocess.run(
            [sys.executable, "-c", CUT_AND_HASH, *arguments],
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
        hashes.append(json.loads(run.stdout))
    assert len(hashes[0]) == len(SPREAD)
    different = {clip_id for run in hashes[1:] for clip_id in run if run[clip_id] != hashes[0][clip_id]}
    assert not different, f"{sorted(different)} differ between processes"


def test_libx264_is_given_a_fixed_thread_count_and_kept_off_its_avx512_code(raw_video: Path) -> None:
    level = av.logging.get_level()
    av.logging.set_level(av.logging.INFO)
    try:
        with av.logging.Capture() as logs:
            [result] = cut_clips(str(raw_video), [ClipRequest("whole", 1.0, 1.2)], EncoderSettings(crop="none"))
    finally:
        av.logging.set_level(level)
    capabilities = [message for _, name, message in logs if name == "libx264" and "cpu capabilities" in message]
    assert capabilities and "AVX512" not in capabilities[0]
    # x264 writes its settings into the stream: 2 threads whatever the CPU count (240 rows allow 3).
    assert b" threads=2 lookahead_threads=2 " in result.video


# --- Videos shown rotated: cut upright, as ffmpeg shows them -------------------------------------------

ROTATIONS = [
    pytest.param(90, False, False, id="90 counter-clockwise"),
    pytest.param(180, False, False, id="180"),
    pytest.param(-90, False, False, id="90 clockwise"),
    pytest.param(90, True, False, id="90 and mirrored"),
    pytest.param(0, False, True, id="upside down mirror"),
]
# Off-centre, so that a box applied before turning the picture, or a wrong turn, crops elsewhere.
UPRIGHT_BOX = BoundingBox(top=0.1, bottom=0.55, left=0.05, right=0.75)


@pytest.fixture(scope="module")
def short_raw_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_indexed_video(
        tmp_path_factory.mktemp("short") / "video.mp4", duration_sec=3, width=WIDTH, height=HEIGHT, fps=FPS
    )


def rgb_frames(mp4: bytes | Path) -> list[np.ndarray]:
    source = io.BytesIO(mp4) if isinstance(mp4, bytes) else str(mp4)
    with av.open(source) as container:
        return [frame.to_ndarray(format="rgb24").astype(np.int16) for frame in container.decode(video=0)]


@pytest.mark.parametrize(("rotation", "hflip", "vflip"), ROTATIONS)
def test_a_rotated_video_is_cut_upright_with_the_box_in_upright_coordinates_as_ffmpeg_does(
    short_raw_video: Path, tmp_path: Path, rotation: int, hflip: bool, vflip: bool
) -> None:
    rotated = with_display_matrix(short_raw_video, tmp_path / "rotated.mp4", rotation, hflip=hflip, vflip=vflip)
    [ours] = cut_clips(str(rotated), [ClipRequest("a", 0.6, 1.4, UPRIGHT_BOX)], FAST)
    upright_width, upright_height = (HEIGHT, WIDTH) if rotation % 180 else (WIDTH, HEIGHT)
    window = official_crop_window(UPRIGHT_BOX, upright_width, upright_height)
    reference = tmp_path / "ffmpeg.mp4"
    crop = f"crop={window.side}:{window.side}:{window.x}:{window.y}"
    ffmpeg("-i", rotated, "-ss", "0.6", "-to", "1.4", "-vf", crop, "-an", "-c:v", "libx264", "-crf", "18", reference)
    our_frames, their_frames = rgb_frames(ours.video), rgb_frames(reference)
    assert len(our_frames) == len(their_frames) == 20
    assert our_frames[0].shape == (window.side, window.side, 3)
    differences = [np.abs(a - b).mean() for a, b in zip(our_frames, their_frames, strict=True)]
    assert max(differences) < 3, differences
    # The picture is asymmetric enough that a wrong turn would be far off.
    assert np.abs(our_frames[5] - np.rot90(their_frames[5], 2)).mean() > 20
    with av.open(io.BytesIO(ours.video)) as container:
        assert display_matrix(next(container.decode(video=0))) is None  # already upright: not turned again


def test_a_turn_between_quarter_turns_and_an_empty_box_skip_their_clips_with_their_kinds(
    short_raw_video: Path, tmp_path: Path
) -> None:
    turned = with_display_matrix(short_raw_video, tmp_path / "turned.mp4", 45)
    [result] = cut_clips(str(turned), [ClipRequest("a", 0.6, 1.4, UPRIGHT_BOX)], FAST)
    assert result.skip_kind is UNSUPPORTED
    assert result.skip_reason == "unsupported: a display rotation of 315 degrees is not a quarter turn"
    empty = BoundingBox(top=0.9, bottom=0.1, left=0.3, right=0.7)
    [result] = cut_clips(str(short_raw_video), [ClipRequest("empty", 0.6, 1.4, empty)], FAST)
    assert result.skip_kind is UNUSABLE_BOX
    assert result.skip_reason == "unusable box: the box (0.9, 0.1, 0.3, 0.7) is empty on a 320x240 frame"


def test_upright_filters_follow_ffmpeg_autorotate_and_refuse_angles_between_quarter_turns() -> None:
    one = 1 << 16
    assert upright_filters(None) == ()
    assert upright_filters((one, 0, 0, 0, one, 0, 0, 0, 1 << 30)) == ()
    assert upright_filters((0, -one, 0, one, 0, 0, 0, 0, 1 << 30)) == ("transpose=cclock",)
    assert upright_filters((0, one, 0, -one, 0, 0, 0, 0, 1 << 30)) == ("transpose=clock",)
    assert upright_filters((-one, 0, 0, 0, -one, 0, 0, 0, 1 << 30)) == ("hflip", "vflip")
    assert upright_filters((-one, 0, 0, 0, one, 0, 0, 0, 1 << 30)) == ("hflip",)
    half = round(one / math.sqrt(2))
    with pytest.raises(UnreadableMediaError, match="315 degrees is not a quarter turn"):
        upright_filters((half, -half, 0, half, half, 0, 0, 0, 1 << 30))


# --- Damaged raw videos: exactly one result per clip, damage skips only the clips it reaches -------------

DAMAGE_REQUESTS = [
    ClipRequest("before", 6.0, 9.0, FACE),
    ClipRequest("across", 9.5, 10.5, FACE),
    ClipRequest("inside", 10.5, 11.5, FACE),
    ClipRequest("after", 12.5, 13.5, FACE),
    ClipRequest("around_audio", 15.5, 16.5, FACE),
    ClipRequest("far_after", 20.0, 21.0, FACE),
    ClipRequest("past_the_end", 29.5, 31.0, FACE),
]
SKIP_KINDS = (UNREADABLE, CORRUPT, RANGE_BEYOND_THE_VIDEO)


def damaged_videos(raw: Path, folder: Path) -> dict[str, Path]:
    """The raw video damaged in every way the cutter must survive (keyframes every 2 s)."""
    data = raw.read_bytes()
    keyframe, keyframe_size = packet_position(raw, "video", 10.0)
    audio, audio_size = packet_position(raw, "audio", 16.0)
    faststart = remux(raw, folder / "faststart.mp4", "-movflags", "+faststart").read_bytes()
    matroska = remux(raw, folder / "remuxed.mkv").read_bytes()
    variants = {
        "keyframe overwritten.mp4": overwrite(data, keyframe, keyframe_size),
        "bytes flipped in a keyframe.mp4": overwrite(data, keyframe + keyframe_size // 4, 16),
        "audio packet overwritten.mp4": overwrite(data, audio, audio_size),
        "truncated, index last.mp4": data[: len(data) // 2],
        "truncated, index first.mp4": faststart[: len(faststart) // 2],
        "truncated.mkv": matroska[: len(matroska) // 2],
        "garbage.mp4": random.Random(1).randbytes(50_000),
        "zero bytes.mp4": b"",
    }
    for name, content in variants.items():
        (folder / name).write_bytes(content)
    write_audio_only(folder / "audio only.mp4")
    return {path.name: path for path in folder.iterdir() if path.name in {*variants, "audio only.mp4"}}


@pytest.fixture(scope="module")
def damaged(raw_video: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return damaged_videos(raw_video, tmp_path_factory.mktemp("damaged"))


@pytest.fixture(scope="module")
def clean_clips(raw_video: Path) -> dict[str, bytes | None]:
    return {result.clip_id: result.video for result in cut_clips(str(raw_video), DAMAGE_REQUESTS, FAST)}


def test_cut_clips_gives_exactly_one_result_per_request_whatever_the_damage(damaged: dict[str, Path]) -> None:
    for name, path in damaged.items():
        results = list(cut_clips(str(path), DAMAGE_REQUESTS, FAST))
        assert sorted(result.clip_id for result in results) == sorted(r.clip_id for r in DAMAGE_REQUESTS), name
        for result in results:
            assert (result.video is None) != (result.skip_reason is None), (name, result)
            assert (result.skip_kind is None) == (result.skip_reason is None), (name, result)
            if result.skip_kind is not None:
                assert result.skip_kind in SKIP_KINDS, (name, result)
                assert result.skip_reason.startswith(f"{result.skip_kind.name}: "), (name, result)


@pytest.mark.parametrize("damage", ["keyframe overwritten.mp4", "bytes flipped in a keyframe.mp4"])
def test_a_damaged_keyframe_skips_the_clips_up_to_the_next_keyframe_and_says_where(
    damaged: dict[str, Path], clean_clips: dict[str, bytes | None], damage: str
) -> None:
    results = {result.clip_id: result for result in cut_clips(str(damaged[damage]), DAMAGE_REQUESTS, FAST)}
    for clip_id in ("across", "inside"):
        reason = results[clip_id].skip_reason
        assert reason.startswith("corrupt: the video"), reason
        assert results[clip_id].skip_kind is CORRUPT, reason
        first_time = float(re.search(r"(\d+\.\d+) s", reason).group(1))
        assert 9.0 <= first_time <= 10.0, reason
    window = official_crop_window(FACE, WIDTH, HEIGHT)
    for request in DAMAGE_REQUESTS:
        if request.clip_id in ("before", "after", "around_audio", "far_after"):
            frames, _, samples = decode(results[request.clip_id].video)
            _, _, clean_samples = decode(clean_clips[request.clip_id])
            assert frame_indices(frames, window) == expected_indices(request.start_sec, request.end_sec)
            assert samples == clean_samples
    assert results["past_the_end"].skip_reason.startswith("range beyond the video")


def test_a_damaged_audio_packet_skips_only_the_clip_around_it(
    damaged: dict[str, Path], clean_clips: dict[str, bytes | None]
) -> None:
    results = list(cut_clips(str(damaged["audio packet overwritten.mp4"]), DAMAGE_REQUESTS, FAST))
    skipped = {result.clip_id: result.skip_reason for result in results if result.video is None}
    assert skipped.keys() == {"around_audio", "past_the_end"}
    assert skipped["around_audio"].startswith("corrupt: the audio cannot be decoded at 16.00 s")
    assert {result.clip_id: result.skip_kind for result in results if result.video is None} == {
        "around_audio": CORRUPT,
        "past_the_end": RANGE_BEYOND_THE_VIDEO,
    }
    written = {result.clip_id: result.video for result in results if result.video is not None}
    for clip_id, video in written.items():
        assert rgb_frames(video)[0].tolist() == rgb_frames(clean_clips[clip_id])[0].tolist(), clip_id


def test_a_truncated_video_gives_the_clips_before_the_cut_and_calls_the_rest_unreadable(
    damaged: dict[str, Path],
) -> None:
    for name in ("truncated, index first.mp4", "truncated.mkv"):
        results = {result.clip_id: result for result in cut_clips(str(damaged[name]), DAMAGE_REQUESTS, FAST)}
        assert results["before"].video is not None, name
        assert results["far_after"].skip_reason.startswith("unreadable: the video stops at"), name
        assert results["far_after"].skip_kind is UNREADABLE, name
    results = list(cut_clips(str(damaged["truncated, index last.mp4"]), DAMAGE_REQUESTS, FAST))
    assert all(result.skip_reason.startswith("unreadable: ") for result in results)
    assert all(result.skip_kind is UNREADABLE for result in results)


# --- Checking a video file before it is stored ------------------------------------------------------------


@pytest.fixture(scope="module")
def processed_clip(raw_video: Path) -> bytes:
    [result] = cut_clips(str(raw_video), [ClipRequest("clip", 4.0, 8.0, FACE)], FAST)
    return result.video


@pytest.mark.parametrize("kept", [0.01, 0.3, 0.6, 0.9, 0.99])
def test_video_problem_finds_a_truncated_clip_whether_its_index_comes_last_or_first(
    processed_clip: bytes, tmp_path: Path, kept: float
) -> None:
    (tmp_path / "clip.mp4").write_bytes(processed_clip)
    faststart = remux(tmp_path / "clip.mp4", tmp_path / "faststart.mp4", "-movflags", "+faststart").read_bytes()
    for data in (processed_clip, faststart):
        problem = video_problem(data[: round(len(data) * kept)])
        assert problem is not None and any(word in problem for word in ("truncated", "cannot be read", "incomplete"))


def test_video_problem_refuses_garbage_empty_files_and_files_without_video(tmp_path: Path) -> None:
    assert video_problem(b"").startswith("the file cannot be read as a video")
    assert video_problem(random.Random(2).randbytes(20_000)).startswith("the file cannot be read as a video")
    assert video_problem(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100).startswith("the file cannot be read")
    assert video_problem(write_audio_only(tmp_path / "audio.mp4").read_bytes()) == "the file has no video stream"


def test_video_problem_passes_good_clips_and_full_decode_finds_damage_inside_the_data(
    processed_clip: bytes, tmp_path: Path
) -> None:
    (tmp_path / "clip.mp4").write_bytes(processed_clip)
    matroska = remux(tmp_path / "clip.mp4", tmp_path / "clip.mkv").read_bytes()
    for good in (processed_clip, matroska):
        assert video_problem(good) is None
        assert video_problem(good, full_decode=True) is None
    keyframe, size = packet_position(tmp_path / "clip.mp4", "video", 2.0)
    damaged = overwrite(processed_clip, keyframe, size)
    assert "cannot be decoded" in video_problem(damaged, full_decode=True)
