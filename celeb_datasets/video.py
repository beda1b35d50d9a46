"""Cutting face clips out of raw videos with PyAV, in one decoding pass per video.

The official CelebV-HQ tooling runs one ffmpeg process per clip with the seek after the input, so every
clip decodes its raw video from the start. Here one raw video is opened once for all its clips: the
clips are sorted by start, the decoder seeks to the keyframe before a clip only when the gap from the
current position is long, decodes straight through short gaps, and every decoded frame is handed to all
the clips that contain it, so overlapping clips share their decoding.

Each clip is faithful to the official processing by default: the face box widened by 0.02 on every
side, a centred even square inside it (ffmpeg's crop rounding), the frames whose source timestamps lie
in [start, end), at the source frame rate, re-encoded to H.264 + AAC in MP4.
"""

from __future__ import annotations

import io
import math
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal, NamedTuple

import av
import av.filter
import numpy as np

from celeb_datasets.errors import CelebDatasetsError

# How much the official processing widens the face box on every side, in normalised units.
OFFICIAL_BOX_MARGIN = 0.02
# Frame times and annotation times are compared with this slack: both are rounded decimals.
_TIME_EPSILON = 1e-6


class BoundingBox(NamedTuple):
    """A face box as fractions of the frame: top/bottom of the height, left/right of the width."""

    top: float
    bottom: float
    left: float
    right: float


@dataclass(frozen=True)
class CropWindow:
    """A square crop in pixels of the source frame."""

    x: int
    y: int
    side: int


def official_crop_window(box: BoundingBox, width: int, height: int) -> CropWindow:
    """The square the official CelebV-HQ processing crops from a `width` x `height` frame.

    Widen the box by 0.02 on every side (clamped to the frame), round to pixels with Python's
    `round()`, take the centred square whose side is the shorter box side floored to even, then place
    it as ffmpeg's crop filter does for 4:2:0 video: offsets rounded half to even, kept inside the
    frame, then floored to even.
    """
    top = max(0.0, box.top - OFFICIAL_BOX_MARGIN)
    bottom = min(1.0, box.bottom + OFFICIAL_BOX_MARGIN)
    left = max(0.0, box.left - OFFICIAL_BOX_MARGIN)
    right = min(1.0, box.right + OFFICIAL_BOX_MARGIN)
    top_px, bottom_px = round(top * height), round(bottom * height)
    left_px, right_px = round(left * width), round(right * width)
    box_height, box_width = bottom_px - top_px, right_px - left_px
    side = 2 * (min(box_height, box_width) // 2)
    if side <= 0:
        raise CelebDatasetsError(f"the box {tuple(box)} is empty on a {width}x{height} frame")
    x = _ffmpeg_crop_offset(left_px + (box_width - side) / 2, side, width)
    y = _ffmpeg_crop_offset(top_px + (box_height - side) / 2, side, height)
    return CropWindow(x, y, side)


def _ffmpeg_crop_offset(offset: float, side: int, frame_extent: int) -> int:
    # ffmpeg's crop filter: lrint (half to even, as Python's round), clamp, then even for 4:2:0 chroma.
    pixel = min(max(round(offset), 0), frame_extent - side)
    return pixel & ~1


@dataclass(frozen=True)
class ClipRequest:
    """One clip to cut: its times on the source timeline and its face box (None: no crop)."""

    clip_id: str
    start_sec: float
    end_sec: float
    box: BoundingBox | None = None


X264_PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo",
)  # fmt: skip


@dataclass(frozen=True)
class EncoderSettings:
    """How cut clips are cropped and encoded.

    `crop` is "official" (the official face square) or "none" (the whole frame). `size`, when set,
    resizes the square to `size` x `size` after the crop (with crop "none": the longer side). `crf` and
    `preset` are libx264's quality and speed; the defaults are ffmpeg's, as the official script used.
    """

    crop: Literal["official", "none"] = "official"
    size: int | None = None
    crf: int = 23
    preset: str = "medium"
    audio_bitrate: int = 128_000

    def __post_init__(self) -> None:
        if self.crop not in ("official", "none"):
            raise CelebDatasetsError(f"crop must be 'official' or 'none', not {self.crop!r}")
        if self.size is not None and (self.size < 16 or self.size % 2):
            raise CelebDatasetsError(f"size must be an even number of pixels >= 16, not {self.size!r}")
        if not 0 <= self.crf <= 51:
            raise CelebDatasetsError(f"crf must be in 0..51 (libx264), not {self.crf!r}")
        if self.preset not in X264_PRESETS:
            raise CelebDatasetsError(
                f"preset must be one of libx264's ({', '.join(X264_PRESETS)}), not {self.preset!r}"
            )


@dataclass(frozen=True)
class ClipResult:
    """A cut clip: its MP4 bytes, or why it was skipped."""

    clip_id: str
    video: bytes | None = None
    skip_reason: str | None = None


@dataclass
class CutStatistics:
    """What cutting one raw video cost, for tests and benchmarks."""

    decoded_video_frames: int = 0
    seeks: int = 0
    clip_frames: dict[str, int] = field(default_factory=dict)


def cut_clips(
    raw_video: str,
    requests: Iterable[ClipRequest],
    settings: EncoderSettings | None = None,
    *,
    seek_gap_sec: float = 5.0,
    statistics: CutStatistics | None = None,
) -> Iterator[ClipResult]:
    """Cut every requested clip out of one raw video, decoding the video once.

    Results come as clips finish, in order of their end, so memory holds only the clips being cut.
    A clip the video cannot give is not an exception but a `ClipResult` with a `skip_reason`: the file
    is unreadable, or the clip's range goes beyond the end of the video.
    """
    settings = settings or EncoderSettings()
    statistics = statistics if statistics is not None else CutStatistics()
    pending = deque(sorted(requests, key=lambda request: (request.start_sec, request.end_sec)))
    try:
        container = av.open(raw_video)
    except (av.FFmpegError, OSError) as error:
        yield from _skip_all(pending, f"unreadable: {error}")
        return
    with container:
        if not container.streams.video:
            yield from _skip_all(pending, "unreadable: the file has no video stream")
            return
        active: list[_ClipEncoder] = []
        try:
            yield from _cut_open_video(container, pending, active, settings, seek_gap_sec, statistics)
        except av.FFmpegError as error:
            # The clips being cut when reading failed are skipped too, not lost.
            yield from _skip_all([clip.request for clip in active], f"unreadable: {error}")
            yield from _skip_all(pending, f"unreadable: {error}")


def _skip_all(requests: Iterable[ClipRequest], reason: str) -> Iterator[ClipResult]:
    for request in requests:
        yield ClipResult(request.clip_id, skip_reason=reason)


def _cut_open_video(
    container: av.container.InputContainer,
    pending: deque[ClipRequest],
    active: list[_ClipEncoder],
    settings: EncoderSettings,
    seek_gap_sec: float,
    statistics: CutStatistics,
) -> Iterator[ClipResult]:
    video_stream = container.streams.video[0]
    video_stream.thread_type = "AUTO"
    audio_stream = container.streams.audio[0] if container.streams.audio else None
    try:
        yield from _decode_through_clips(
            container, video_stream, audio_stream, pending, active, settings, seek_gap_sec, statistics
        )
    finally:
        # An encoder left to the garbage collector may be freed in a forked process, where freeing
        # libx264's threads hangs: close every clip not finished (skipped, or the caller stopped early).
        for clip in active:
            clip.abandon()


def _decode_through_clips(
    container: av.container.InputContainer,
    video_stream: av.video.stream.VideoStream,
    audio_stream: av.audio.stream.AudioStream | None,
    pending: deque[ClipRequest],
    active: list[_ClipEncoder],
    settings: EncoderSettings,
    seek_gap_sec: float,
    statistics: CutStatistics,
) -> Iterator[ClipResult]:
    streams = [video_stream] if audio_stream is None else [video_stream, audio_stream]
    frame_duration = 1 / float(video_stream.guessed_rate or video_stream.average_rate or 25)
    position: float | None = None  # time of the last decoded video frame
    last_frame_time = -math.inf
    # After a seek, no other seek until a clip has started: the keyframe found may lie far back.
    seeking = False

    def start_clips_before(time: float) -> None:
        nonlocal seeking
        while pending and pending[0].start_sec - _TIME_EPSILON <= time:
            active.append(_ClipEncoder(pending.popleft(), video_stream, audio_stream, settings))
            seeking = False

    def far_from_next_clip() -> bool:
        return not active and not seeking and (position is None or pending[0].start_sec - position > seek_gap_sec)

    def finished_clips(video_time: float, audio_time: float) -> Iterator[ClipResult]:
        for clip in [clip for clip in active if clip.is_complete(video_time, audio_time)]:
            active.remove(clip)
            statistics.clip_frames[clip.request.clip_id] = clip.frame_count
            yield clip.finish()

    while pending or active:
        if far_from_next_clip():
            target = max(0.0, pending[0].start_sec - frame_duration)
            container.seek(int(target / video_stream.time_base), stream=video_stream, backward=True)
            statistics.seeks += 1
            seeking = True
        video_time = audio_time = -math.inf
        reached_end = True
        for packet in container.demux(streams):
            for frame in packet.decode():
                time = frame.time
                if time is None:
                    continue
                if packet.stream is video_stream:
                    statistics.decoded_video_frames += 1
                    start_clips_before(time)
                    for clip in active:
                        clip.add_video_frame(frame, time)
                    position = video_time = last_frame_time = time
                else:
                    frame_end = time + frame.samples / frame.sample_rate
                    start_clips_before(frame_end)
                    for clip in active:
                        clip.add_audio_frame(frame, time)
                    audio_time = frame_end
            yield from finished_clips(video_time, audio_time if audio_stream else math.inf)
            if not pending and not active:
                return
            if pending and far_from_next_clip():
                reached_end = False
                break
        if reached_end:
            video_end = last_frame_time + frame_duration
            for clip in active:
                statistics.clip_frames[clip.request.clip_id] = clip.frame_count
                if clip.request.end_sec > video_end + frame_duration:
                    clip.abandon()
                    yield ClipResult(
                        clip.request.clip_id,
                        skip_reason=f"range beyond the video: the clip ends at {clip.request.end_sec:.2f} s, "
                        f"the video at {video_end:.2f} s",
                    )
                else:
                    yield clip.finish()
            active.clear()
            for request in pending:
                yield ClipResult(
                    request.clip_id,
                    skip_reason=f"range beyond the video: the clip starts at {request.start_sec:.2f} s, "
                    f"the video ends at {video_end:.2f} s",
                )
            pending.clear()


class _ClipEncoder:
    """One clip being written: crop filter, H.264 video and AAC audio streams, MP4 in memory."""

    def __init__(
        self,
        request: ClipRequest,
        video_stream: av.video.stream.VideoStream,
        audio_stream: av.audio.stream.AudioStream | None,
        settings: EncoderSettings,
    ) -> None:
        self.request = request
        self.frame_count = 0
        self._buffer = io.BytesIO()
        self._output = av.open(self._buffer, mode="w", format="mp4")
        self._time_base = video_stream.time_base
        self._first_pts: int | None = None
        self._graph, width, height = _crop_graph(request, video_stream, settings)
        self._video = self._output.add_stream("libx264", rate=video_stream.guessed_rate or video_stream.average_rate)
        self._video.width, self._video.height, self._video.pix_fmt = width, height, "yuv420p"
        self._video.time_base = self._video.codec_context.time_base = self._time_base
        self._video.options = {"crf": str(settings.crf), "preset": settings.preset}
        self._audio = None
        if audio_stream is not None:
            layout = audio_stream.layout.name
            rate = audio_stream.rate
            self._audio = self._output.add_stream("aac", rate=rate, layout=layout)
            self._audio.bit_rate = settings.audio_bitrate
            self._audio_resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
            self._audio_rate = rate
        self._audio_done = self._audio is None

    def is_complete(self, video_time: float, audio_time: float) -> bool:
        """Whether both streams have moved past the clip's end."""
        end = self.request.end_sec - _TIME_EPSILON
        return video_time >= end and (self._audio_done or audio_time >= end)

    def add_video_frame(self, frame: av.VideoFrame, time: float) -> None:
        if not (self.request.start_sec - _TIME_EPSILON <= time < self.request.end_sec - _TIME_EPSILON):
            return
        if self._first_pts is None:
            self._first_pts = frame.pts
        self._graph.push(frame)
        for cropped in _pull_all(self._graph):
            cropped.pts = cropped.pts - self._first_pts
            cropped.time_base = self._time_base
            # Keyframes are the encoder's choice, as with ffmpeg, not copies of the source's.
            cropped.pict_type = av.video.frame.PictureType.NONE
            self._output.mux(self._video.encode(cropped))
        self.frame_count += 1

    def add_audio_frame(self, frame: av.AudioFrame, time: float) -> None:
        if self._audio is None:
            return
        for planar in self._audio_resampler.resample(frame):
            count = planar.samples
            first = max(0, math.ceil((self.request.start_sec - time) * self._audio_rate - _TIME_EPSILON))
            last = min(count, math.ceil((self.request.end_sec - time) * self._audio_rate - _TIME_EPSILON))
            if last > first:
                if first == 0 and last == count:
                    piece = planar  # wholly inside the clip: encoded as it is, no copy
                else:
                    piece = av.AudioFrame.from_ndarray(
                        np.ascontiguousarray(planar.to_ndarray()[:, first:last]),
                        format="fltp",
                        layout=planar.layout.name,
                    )
                    piece.sample_rate = self._audio_rate
                piece.pts = round((time - self.request.start_sec) * self._audio_rate) + first
                piece.time_base = Fraction(1, self._audio_rate)
                self._output.mux(self._audio.encode(piece))
            time += count / self._audio_rate

    def abandon(self) -> None:
        """Close the output without finishing the clip (safe to call after `finish`)."""
        self._output.close()

    def finish(self) -> ClipResult:
        if self.frame_count == 0:
            self._output.close()
            return ClipResult(self.request.clip_id, skip_reason="range beyond the video: no frame in the clip's range")
        self._output.mux(self._video.encode(None))
        if self._audio is not None:
            self._output.mux(self._audio.encode(None))
        self._output.close()
        return ClipResult(self.request.clip_id, video=self._buffer.getvalue())


def _crop_graph(
    request: ClipRequest, video_stream: av.video.stream.VideoStream, settings: EncoderSettings
) -> tuple[av.filter.Graph, int, int]:
    """An ffmpeg filter graph that crops (and resizes) one clip's frames to yuv420p."""
    width, height = video_stream.codec_context.width, video_stream.codec_context.height
    graph = av.filter.Graph()
    nodes = [graph.add_buffer(template=video_stream)]
    if settings.crop == "official" and request.box is not None:
        window = official_crop_window(request.box, width, height)
        nodes.append(graph.add("crop", f"{window.side}:{window.side}:{window.x}:{window.y}:exact=1"))
        width = height = window.side
    if settings.size is not None:
        scale = settings.size / max(width, height)
        width, height = (2 * round(width * scale / 2), 2 * round(height * scale / 2))
        nodes.append(graph.add("scale", f"{width}:{height}"))
    else:
        width, height = width - width % 2, height - height % 2
        nodes.append(graph.add("crop", f"{width}:{height}:0:0"))
    nodes.append(graph.add("format", "yuv420p"))
    nodes.append(graph.add("buffersink"))
    graph.link_nodes(*nodes).configure()
    return graph, width, height


def _pull_all(graph: av.filter.Graph) -> Iterator[av.VideoFrame]:
    while True:
        try:
            yield graph.vpull()
        except (BlockingIOError, av.EOFError):
            return
