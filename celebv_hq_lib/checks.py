"""Whether a copy's videos match the annotation file: the checks of `verify` and of the `clips` build.

Community copies of CelebV-HQ hold processed clips with scene changes (times rounded to whole seconds),
clips not cropped to a square or not centred on the face, mp4s without audio, and truncated files.
These checks find them, each cheap next to cutting a clip (celebv_hq_lib.video):

| check | a processed clip ... | expected |
| --- | --- | --- |
| `readable` | opens, every packet is there, the first frame decodes (`video_problem`) | a complete video |
| `duration` | lasts `end_sec - start_sec` | within one frame (+ 0.02 s) |
| `square` | is as wide as high | width = height |
| `size` | is at least 512 px wide | >= 512 |
| `audio` | has an audio stream (unless its raw video has none) | audio |
| `first frame` | shows what a cut of the raw video shows at `start_sec` (raw video there) | a small difference |

and a raw video:

| check | a raw video ... | expected |
| --- | --- | --- |
| `raw readable` | opens and has a video stream | a video |
| `raw length` | reaches the end of each of its clips | within 0.1 s |

Each failed check is one `Problem` (check, measured, expected), a line of the QC report.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

import av
import numpy as np

from celebv_hq_lib.annotations import ClipAnnotation
from celebv_hq_lib.download import COVER_TOLERANCE_SEC, check_raw_video
from celebv_hq_lib.video import ClipRequest, EncoderSettings, cut_clips, video_problem

# The release's clips are at least 512x512 (the official crop is never scaled down).
MIN_CLIP_SIDE = 512
# A clip may be a frame longer or shorter than its annotated range (frames are whole), and the official
# script truncates the times to centiseconds (10 ms early at each end).
DURATION_SLACK_SEC = 0.02
# First frames are compared as thumbnails of this side (RGB), so that the encoder's noise, the clip's
# own size and a re-encode do not count, and a shifted crop or another moment does.
THUMBNAIL_SIDE = 32
# Largest mean absolute difference (0..255 per channel) between the thumbnails of two first frames that
# still agree. On a generated 640x360 video (tests/test_checks.py), re-encoding the same crop gives 0.5
# (1.6 resized to 512 px at CRF 40); the square moved by 4 % of the frame width 22, a start 0.5 s or
# 1 s early 17 and 21, the whole frame 56. Provisional: real faces may need another value (docs/celebv_hq.md).
FIRST_FRAME_TOLERANCE = 8.0
# The reference cut spans this much on each side of the clip's start: the official script's early start,
# and a frame or two of slack, so the comparison is with the nearest frame.
_REFERENCE_SPAN_SEC = 0.12
# Lossless (CRF 0): the reference's pixels are the cut's whatever x264's threads do, so a report is the
# same on every run.
_REFERENCE_SETTINGS = EncoderSettings(crf=0, preset="ultrafast", audio_bitrate=32_000)

READABLE, DURATION, SQUARE, SIZE, AUDIO, FIRST_FRAME = "readable", "duration", "square", "size", "audio", "first frame"
RAW_READABLE, RAW_LENGTH = "raw readable", "raw length"
# Every check, in the order the documentation and the summary give them.
CHECKS = (READABLE, DURATION, SQUARE, SIZE, AUDIO, FIRST_FRAME, RAW_READABLE, RAW_LENGTH)


@dataclasses.dataclass(frozen=True)
class Problem:
    """One check a video fails: which, what was measured, what was expected (a line of the QC report)."""

    check: str
    measured: str
    expected: str

    def __str__(self) -> str:
        return f"{self.check}: {self.measured}, expected {self.expected}"


@dataclasses.dataclass(frozen=True)
class RawVideoFacts:
    """What a raw video's header says (or its packets, with `full`): how long it is, whether it has audio;
    `problem` when it cannot be opened or has no video stream."""

    path: str
    end_sec: float = 0.0
    has_audio: bool = False
    problem: str | None = None


@dataclasses.dataclass(frozen=True)
class ClipFacts:
    """What a processed clip's file says of itself: picture size, frame rate, length, audio, first frame."""

    width: int
    height: int
    frame_rate: float
    duration_sec: float
    has_audio: bool
    thumbnail: np.ndarray

    @classmethod
    def read(cls, container: av.container.InputContainer, first_frame: av.VideoFrame) -> ClipFacts:
        """The facts of an open clip whose first video frame is `first_frame`."""
        stream = container.streams.video[0]
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        else:
            duration = (container.duration or 0) / av.time_base
        return cls(
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            frame_rate=float(stream.average_rate or stream.guessed_rate or 25),
            duration_sec=duration,
            has_audio=bool(container.streams.audio),
            thumbnail=thumbnail_of(first_frame),
        )


@dataclasses.dataclass(frozen=True)
class ClipVerdict:
    """A processed clip and the checks it fails (none: it matches its annotation)."""

    clip: ClipAnnotation
    path: str
    problems: tuple[Problem, ...]

    @property
    def readable(self) -> bool:
        """Whether the file itself is a complete video (it may still fail the other checks)."""
        return all(problem.check != READABLE for problem in self.problems)

    def reason(self) -> str:
        """The problems in one line, for a skip report."""
        return "; ".join(map(str, self.problems))


def raw_video_facts(path: str | Path, *, full: bool = False, needed_end_sec: float = 0.0) -> RawVideoFacts:
    """Open a raw video and read how long it is from its header; `full` demuxes it to its end instead
    (slow: the whole file is read), which also finds a file cut short behind an intact header."""
    path = str(path)
    try:
        with av.open(path) as container:
            if not container.streams.video:
                return RawVideoFacts(path, problem="the file has no video stream")
            has_audio = bool(container.streams.audio)
            stream = container.streams.video[0]
            end = 0.0
            if stream.duration and stream.time_base:
                end = float((stream.start_time or 0) * stream.time_base + stream.duration * stream.time_base)
            elif container.duration:
                end = ((container.start_time or 0) + container.duration) / av.time_base
    except (av.FFmpegError, OSError) as error:
        return RawVideoFacts(path, problem=f"the file cannot be opened as a video: {_error_text(error)}")
    if full:
        end, problem = check_raw_video(path, needed_end_sec)
        if problem is not None and not problem.startswith("too short"):
            return RawVideoFacts(path, end, has_audio, problem)
    return RawVideoFacts(path, end, has_audio)


def raw_video_problems(facts: RawVideoFacts, clips: Iterable[ClipAnnotation]) -> list[tuple[ClipAnnotation, Problem]]:
    """The clips a raw video cannot give: all of them when it is unreadable, else those ending after it."""
    if facts.problem is not None:
        return [(clip, Problem(RAW_READABLE, facts.problem, "a video file with a video stream")) for clip in clips]
    return [
        (clip, Problem(RAW_LENGTH, f"the raw video ends at {facts.end_sec:.2f} s", f"at least {clip.end_sec:.2f} s"))
        for clip in clips
        if facts.end_sec + COVER_TOLERANCE_SEC < clip.end_sec
    ]


def check_processed_clips(
    processed: Sequence[tuple[ClipAnnotation, str]],
    raw: RawVideoFacts | None = None,
    *,
    full_decode: bool = False,
    compare_first_frames: bool = True,
) -> list[ClipVerdict]:
    """Check each processed clip `(clip, path)` of one YouTube video against its annotation.

    `raw` is the video's raw file (None: not there): an audio-less raw video excuses a clip without
    audio, and with `compare_first_frames` each clip's first frame is compared with a cut of the raw
    video at the clip's start (one pass over the raw video for all the clips). `full_decode` decodes
    every frame of each clip (media_check="full") rather than reading its structure.
    """
    raw_usable = raw is not None and raw.problem is None
    verdicts: list[ClipVerdict] = []
    thumbnails: dict[str, np.ndarray] = {}
    for clip, path in processed:
        problems, thumbnail = _processed_clip_problems(clip, path, full_decode, raw if raw_usable else None)
        verdicts.append(ClipVerdict(clip, path, tuple(problems)))
        if thumbnail is not None and not problems:
            thumbnails[clip.clip_id] = thumbnail
    if raw_usable and compare_first_frames and thumbnails:
        assert raw is not None
        clips = [verdict.clip for verdict in verdicts if verdict.clip.clip_id in thumbnails]
        differences = first_frame_differences(raw.path, clips, thumbnails)
        for index, verdict in enumerate(verdicts):
            difference = differences.get(verdict.clip.clip_id)
            if difference is not None and difference > FIRST_FRAME_TOLERANCE:
                problem = Problem(
                    FIRST_FRAME,
                    f"differs from a cut of the raw video at {verdict.clip.start_sec:.2f} s by {difference:.1f}",
                    f"at most {FIRST_FRAME_TOLERANCE:g} (mean of 0..255 over {THUMBNAIL_SIDE}-pixel thumbnails)",
                )
                verdicts[index] = dataclasses.replace(verdict, problems=(problem,))
    return verdicts


def _processed_clip_problems(
    clip: ClipAnnotation, path: str, full_decode: bool, raw: RawVideoFacts | None
) -> tuple[list[Problem], np.ndarray | None]:
    """The checks one processed clip fails, and its first frame as a thumbnail (None when unreadable)."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:  # e.g. a folder named like the clip
        return [Problem(READABLE, f"cannot be read: {error.strerror}", "a complete video file")], None
    found: list[ClipFacts] = []
    problem = video_problem(
        data, full_decode=full_decode, inspect=lambda container, frame: found.append(ClipFacts.read(container, frame))
    )
    if problem is not None:
        return [Problem(READABLE, problem, "a complete video file")], None
    facts = found[0]
    problems = []
    expected = clip.duration_sec
    slack = 1 / facts.frame_rate + DURATION_SLACK_SEC
    if abs(facts.duration_sec - expected) > slack:
        measured = f"{facts.duration_sec:.2f} s"
        problems.append(Problem(DURATION, measured, f"{expected:.2f} s (end_sec - start_sec) ± {slack:.2f}"))
    size = f"{facts.width}x{facts.height}"
    if facts.width != facts.height:
        problems.append(Problem(SQUARE, size, "a square (the official crop)"))
    if min(facts.width, facts.height) < MIN_CLIP_SIDE:
        problems.append(Problem(SIZE, size, f"at least {MIN_CLIP_SIDE}x{MIN_CLIP_SIDE}"))
    if not facts.has_audio and (raw is None or raw.has_audio):
        problems.append(Problem(AUDIO, "no audio stream", "an audio stream"))
    return problems, facts.thumbnail


def thumbnail_of(frame: av.VideoFrame) -> np.ndarray:
    """A picture as a THUMBNAIL_SIDE square of RGB area averages (float32), for comparing pictures."""
    small = frame.reformat(width=THUMBNAIL_SIDE, height=THUMBNAIL_SIDE, format="rgb24", interpolation="AREA")
    return small.to_ndarray().astype(np.float32)


def first_frame_differences(
    raw_video: str, clips: Sequence[ClipAnnotation], thumbnails: dict[str, np.ndarray]
) -> dict[str, float]:
    """For each clip, how far its first frame (`thumbnails[clip_id]`) is from the nearest frame of a cut of
    the raw video around its start: the least mean absolute difference of thumbnails, 0..255.

    The cut is the build's own (`cut_clips`: the official crop, upright, frame-accurate), of a few frames
    around the start, all clips in one pass over the raw video. A clip the raw video cannot give (its
    range past the end, damage) has no entry: the raw video's own checks report that.
    """
    requests = [
        ClipRequest(
            clip.clip_id,
            max(0.0, clip.start_sec - _REFERENCE_SPAN_SEC),
            max(clip.start_sec, _REFERENCE_SPAN_SEC) + _REFERENCE_SPAN_SEC,
            clip.bbox,
        )
        for clip in clips
    ]
    differences = {}
    for result in cut_clips(raw_video, requests, _REFERENCE_SETTINGS):
        if result.video is None:
            continue
        with av.open(io.BytesIO(result.video)) as container:
            frames = [thumbnail_of(frame) for frame in container.decode(video=0)]
        target = thumbnails[result.clip_id]
        differences[result.clip_id] = min(float(np.abs(frame - target).mean()) for frame in frames)
    return differences


def _error_text(error: Exception) -> str:
    return getattr(error, "strerror", None) or str(error)
