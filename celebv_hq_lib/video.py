"""Cutting face clips out of raw videos with PyAV, in one decoding pass per video.

The official CelebV-HQ tooling runs one ffmpeg process per clip with the seek after the input, so every
clip decodes its raw video from the start. Here one raw video is opened once for all its clips: the
clips are sorted by start, the decoder seeks to the keyframe before a clip only when the gap from the
current position is long, decodes straight through short gaps, and every decoded frame is handed to all
the clips that contain it, so overlapping clips share their decoding.

Each clip is faithful to the official processing by default: the face box widened by 0.02 on every
side, a centred even square inside it (ffmpeg's crop rounding), the frames whose source timestamps lie
in [start, end), at the source frame rate, re-encoded to H.264 + AAC in MP4. A video shown rotated is
cut upright, as ffmpeg shows it. Damage in a raw video skips only the clips it reaches, with the reason.

`video_problem` checks a finished video file (a processed clip) before it is stored.
"""

from __future__ import annotations

import functools
import gc
import importlib
import io
import math
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal, NamedTuple

import av
import av.filter
import av.sidedata.sidedata
import numpy as np

from celeb_datasets.errors import CelebDatasetsError, OptionError, UnreadableMediaError
from celeb_datasets.options import check_options, option
from celeb_datasets.skips import SkipKind
from celebv_hq_lib.skip_kinds import CORRUPT, RANGE_BEYOND_THE_VIDEO, UNREADABLE, UNSUPPORTED, UNUSABLE_BOX

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


@dataclass
class EncoderSettings:
    """How cut clips are cropped and encoded (options of the `clips` config; the defaults are ffmpeg's,
    which the official script used)."""

    crop: Literal["official", "none"] = option(
        "official", "official: the official face square of each clip; none: whole frames (clips cut from raw videos)"
    )
    size: int | None = option(None, "resize cut clips to SIZE x SIZE after the crop (none: the crop's own size)")
    crf: int = option(23, "libx264 quality of cut clips (0..51, lower is better)")
    preset: str = option("medium", "libx264 speed of cut clips, ultrafast ... placebo (slower is smaller)")
    audio_bitrate: int = option(128_000, "AAC bit rate of cut clips, bits per second")

    def __post_init__(self) -> None:
        check_options(self)
        if self.size is not None and (self.size < 16 or self.size % 2):
            raise OptionError(f"size must be an even number of pixels >= 16, not {self.size!r}")
        if not 0 <= self.crf <= 51:
            raise OptionError(f"crf must be in 0..51 (libx264), not {self.crf!r}")
        if self.preset not in X264_PRESETS:
            raise OptionError(f"preset must be one of libx264's ({', '.join(X264_PRESETS)}), not {self.preset!r}")
        if self.audio_bitrate < 8_000:
            raise OptionError(f"audio_bitrate must be at least 8000 bits per second, not {self.audio_bitrate!r}")


@dataclass(frozen=True)
class ClipResult:
    """A cut clip: its MP4 bytes, or why it was skipped (its kind, and a reason for people)."""

    clip_id: str
    video: bytes | None = None
    skip_kind: SkipKind | None = None
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

    Yields exactly one `ClipResult` per request, as clips finish (in order of their end), so memory
    holds only the clips being cut. A clip the video cannot give is not an exception but a result with
    a `skip_kind` (celebv_hq_lib.skip_kinds) and a `skip_reason` that begins with its name:
    "unreadable: ..." (the file cannot be opened or read on), "corrupt: ... at 12.34 s" (the video or
    audio cannot be decoded inside the clip's range: clips before and after the damage are still cut),
    "range beyond the video: ...", "unsupported: ..." (a display rotation that is not a quarter turn)
    or "unusable box: ...". A video shown rotated (phone videos: a display matrix) is
    cut upright, as players and ffmpeg show it, with the box in those upright coordinates.
    """
    settings = settings or EncoderSettings()
    statistics = statistics if statistics is not None else CutStatistics()
    pending = deque(sorted(requests, key=lambda request: (request.start_sec, request.end_sec)))
    if not pending:
        return
    try:
        container = av.open(raw_video)
    except (av.FFmpegError, OSError) as error:
        yield from _skip_all(pending, UNREADABLE, f"unreadable: {_error_text(error)}")
        return
    with container:
        if not container.streams.video:
            yield from _skip_all(pending, UNREADABLE, "unreadable: the file has no video stream")
            return
        yield from _OnePassCutter(container, pending, settings, seek_gap_sec, statistics).results()


def _skip_all(requests: Iterable[ClipRequest], kind: SkipKind, reason: str) -> Iterator[ClipResult]:
    for request in requests:
        yield ClipResult(request.clip_id, skip_kind=kind, skip_reason=reason)


def _error_text(error: Exception) -> str:
    # PyAV's str() carries an errno and the C function's name; its strerror is the readable part.
    return getattr(error, "strerror", None) or str(error)


def video_problem(
    data: bytes,
    full_decode: bool = False,
    inspect: Callable[[av.container.InputContainer, av.VideoFrame], None] | None = None,
) -> str | None:
    """What makes a video file (its bytes) unfit to store as a clip, in one line; None when it is fit.

    The default checks cost far less than decoding: the file opens and has a video stream; every
    packet of its video and audio streams can be read and lies whole inside the file; all packets are
    there (as many as an MP4's index lists, reaching the duration the file declares); the first video
    frame decodes. They find truncated files (index first or last), garbage and files without video.
    `full_decode` also decodes every video and audio frame, which finds damage inside the coded data.
    `inspect`, when given, is called with the open file and its first video frame once the file passed,
    so that more checks (celebv_hq_lib.checks) need not open and decode it again.
    """
    try:
        with av.open(io.BytesIO(data)) as container:
            if not container.streams.video:
                return "the file has no video stream"
            first_frame = _check_packets(container, len(data), full_decode)
            if inspect is not None:
                inspect(container, first_frame)
            del first_frame
    except UnreadableMediaError as problem:
        return str(problem)
    except (av.FFmpegError, OSError) as error:
        return f"the file cannot be read as a video: {_error_text(error)}"
    return None


def _check_packets(container: av.container.InputContainer, size: int, full_decode: bool) -> av.VideoFrame:
    """Read every packet once, decoding the first video frame (or every frame): raise at the first problem.
    Returns the first video frame."""
    streams = [stream for stream in container.streams if stream.type in ("video", "audio")]
    video = container.streams.video[0]
    # Seconds per tick as floats: Fraction arithmetic on every packet would cost more than the check.
    ticks = {stream: float(stream.time_base) for stream in streams}
    counts = dict.fromkeys(streams, 0)
    ends = dict.fromkeys(streams, 0.0)
    longest_packet = 0.0
    first_frame: av.VideoFrame | None = None
    try:
        for packet in container.demux(streams):
            stream = packet.stream
            if packet.size:
                stamp = packet.pts if packet.pts is not None else packet.dts
                time, duration = (stamp or 0) * ticks[stream], (packet.duration or 0) * ticks[stream]
                _check_packet(packet, size, time)
                counts[stream] += 1
                ends[stream] = max(ends[stream], time + duration)
                longest_packet = max(longest_packet, duration)
            if full_decode or (stream is video and first_frame is None):
                decoded = _decode_checked(packet)
                if stream is video and first_frame is None and decoded:
                    first_frame = decoded[0]
    except av.FFmpegError as error:
        raise UnreadableMediaError(
            f"the file cannot be read after {max(ends.values()):.2f} s: {_error_text(error)}"
        ) from None
    if first_frame is None:
        raise UnreadableMediaError(f"no video frame can be decoded from its {counts[video]} video packets")
    _check_all_packets_there(container, counts, ends, longest_packet)
    return first_frame


def _check_packet(packet: av.Packet, size: int, time: float) -> None:
    if packet.pos is not None and packet.pos >= 0 and packet.pos + packet.size > size:
        raise UnreadableMediaError(
            f"the {packet.stream.type} packet at {time:.2f} s ends at byte {packet.pos + packet.size}, "
            f"beyond the end of the file ({size} bytes): truncated"
        )
    if packet.is_corrupt:
        raise UnreadableMediaError(f"the {packet.stream.type} packet at {time:.2f} s is incomplete or damaged")


def _decode_checked(packet: av.Packet) -> list[av.AudioFrame | av.VideoFrame]:
    """Decode one packet; the frames it gave. Raises at a decoding error or a damaged frame."""
    try:
        frames = packet.decode()
    except av.FFmpegError as error:
        time = _packet_time(packet, presentation=True)
        where = f"at {time:.2f} s" if time is not None else "at its end"
        raise UnreadableMediaError(
            f"the {packet.stream.type} {where} cannot be decoded: {_error_text(error)}"
        ) from None
    for frame in frames:
        if frame.is_corrupt:
            raise UnreadableMediaError(f"the {packet.stream.type} frame at {frame.time:.2f} s is damaged")
    return frames


def _check_all_packets_there(
    container: av.container.InputContainer,
    counts: dict[av.stream.Stream, int],
    ends: dict[av.stream.Stream, float],
    longest_packet: float,
) -> None:
    for stream, count in counts.items():
        # An MP4's index lists every packet: fewer read means the file stops short of its data.
        if stream.frames and count < stream.frames:
            raise UnreadableMediaError(
                f"the file holds {count} of the {stream.frames} {stream.type} packets its index lists "
                f"(up to {ends[stream]:.2f} s): truncated"
            )
    if container.duration:
        declared = ((container.start_time or 0) + container.duration) / av.time_base
        reached = max(ends.values())
        # Streams end within a packet of each other; a file cut short misses more than that.
        if reached < declared - 1.5 * longest_packet:
            raise UnreadableMediaError(
                f"its packets stop at {reached:.2f} s, its header declares {declared:.2f} s: truncated or damaged"
            )


# How much longer than its video a file's audio may run (yt-dlp merges two separate downloads).
_AUDIO_OVERHANG_SEC = 0.5
# Frame threads report a packet's decoding error a few packets late; ffmpeg starts at most 16 of them.
_DECODER_LAG_PACKETS = 17


@dataclass(frozen=True)
class _Damage:
    """A stretch of the video that cannot be trusted: from `start_sec` to the next clean keyframe (the
    clips it reaches are skipped as `corrupt`)."""

    start_sec: float
    reason: str


class _OnePassCutter:
    """The state of one pass over an open raw video: clips waiting, clips being cut, results ready.

    Every request is in exactly one place, `pending` (not started), `active` (being cut) or `ready`
    (its result made), and `results` empties all three whatever happens, so no clip is ever lost.
    """

    def __init__(
        self,
        container: av.container.InputContainer,
        pending: deque[ClipRequest],
        settings: EncoderSettings,
        seek_gap_sec: float,
        statistics: CutStatistics,
    ) -> None:
        self.container = container
        self.video_stream = container.streams.video[0]
        self.video_stream.thread_type = "AUTO"
        self.audio_stream = container.streams.audio[0] if container.streams.audio else None
        self.pending = pending
        self.active: list[_ClipEncoder] = []
        self.ready: deque[ClipResult] = deque()
        self.settings, self.seek_gap_sec, self.statistics = settings, seek_gap_sec, statistics
        rate = self.video_stream.guessed_rate or self.video_stream.average_rate or 25
        self.frame_duration = 1 / float(rate)
        self.position: float | None = None  # time of the last decoded video frame
        self.last_frame_time = -math.inf
        self.video_time = self.audio_time = -math.inf  # how far this stretch of decoding has come
        # After a seek, no other seek until a clip has started: the keyframe found may lie far back.
        self.seeking = False
        self.damage: _Damage | None = None
        self.recent_packet_times: deque[float] = deque(maxlen=_DECODER_LAG_PACKETS)
        self.upright: tuple[str, ...] = ()  # the filters that turn frames upright (see upright_filters)
        self.upright_problem: str | None = None

    def results(self) -> Iterator[ClipResult]:
        """Cut all clips: one pass, seeking over long gaps; every request comes out once."""
        try:
            self._read_display_matrix()
            while self.pending or self.active:
                if self._far_from_next_clip():
                    self._seek_before(self.pending[0])
                reached_end = yield from self._decode_stretch()
                if reached_end:
                    self._finish_at_end()
                yield from self._drain()
        except av.FFmpegError as error:
            # Demuxing or seeking failed: the file cannot be read on from here.
            where = f"after {self.position:.2f} s" if self.position is not None else "before its first frame"
            self._skip_remaining(UNREADABLE, f"unreadable: reading the video failed {where}: {_error_text(error)}")
            yield from self._drain()
        finally:
            # An encoder left to the garbage collector may be freed in a forked process, where freeing
            # libx264's threads hangs: close every clip not finished (skipped, or the caller stopped early).
            for clip in self.active:
                clip.abandon()

    def _read_display_matrix(self) -> None:
        try:
            self.upright = upright_filters(_first_display_matrix(self.container, self.video_stream))
        except UnreadableMediaError as error:
            self.upright_problem = f"unsupported: {error}"

    def _drain(self) -> Iterator[ClipResult]:
        while self.ready:
            yield self.ready.popleft()

    def _far_from_next_clip(self) -> bool:
        if self.active or self.seeking or not self.pending:
            return False
        return self.position is None or self.pending[0].start_sec - self.position > self.seek_gap_sec

    def _seek_before(self, request: ClipRequest) -> None:
        target = max(0.0, request.start_sec - self.frame_duration)
        self.container.seek(int(target / self.video_stream.time_base), stream=self.video_stream, backward=True)
        self.statistics.seeks += 1
        self.seeking = True
        # Decoding restarts at a keyframe: damage found before the seek does not reach past it.
        self.damage = None
        self.recent_packet_times.clear()

    def _decode_stretch(self) -> Generator[ClipResult, None, bool]:
        """Decode from here until the next clip is far away (False) or the video ends (True)."""
        self.video_time = self.audio_time = -math.inf
        streams = [self.video_stream] if self.audio_stream is None else [self.video_stream, self.audio_stream]
        for packet in self.container.demux(streams):
            self._decode_packet(packet)
            self._finish_complete_clips()
            yield from self._drain()
            if not self.pending and not self.active:
                return False
            if self._far_from_next_clip():
                return False
        return True

    def _decode_packet(self, packet: av.Packet) -> None:
        is_video = packet.stream is self.video_stream
        if is_video and (packet_time := _packet_time(packet)) is not None:
            self.recent_packet_times.append(packet_time)
        try:
            frames = packet.decode()
        except av.FFmpegError as error:
            self._decoding_failed(packet, is_video, error)
            return
        for frame in frames:
            if frame.time is None:
                continue
            if is_video:
                self._add_video_frame(frame, frame.time)
            else:
                self._add_audio_frame(frame, frame.time)

    def _decoding_failed(self, packet: av.Packet, is_video: bool, error: av.FFmpegError) -> None:
        if is_video:
            # The packet at fault may be any of the last few sent to the decoder's threads.
            failed_at = _packet_time(packet)
            failed_at = (self.position or 0.0) if failed_at is None else failed_at
            start = min(self.recent_packet_times, default=failed_at)
            where = f"between {start:.2f} s and {failed_at:.2f} s"
            self._open_damage(start, f"corrupt: the video cannot be decoded {where} ({_error_text(error)})")
            return
        # Audio frames overlap their neighbours (AAC's MDCT): the damage is the packet and the next one.
        start = _packet_time(packet)
        start = max(self.audio_time, 0.0) if start is None else start
        duration = float(packet.duration * packet.time_base) if packet.duration and packet.time_base else 0.0
        reason = f"corrupt: the audio cannot be decoded at {start:.2f} s ({_error_text(error)})"
        self._skip_overlapping(start, start + max(2 * duration, _TIME_EPSILON), CORRUPT, reason)

    def _open_damage(self, start: float, reason: str) -> None:
        if self.damage is None or start < self.damage.start_sec:
            self.damage = _Damage(start, reason)
        self._skip_overlapping(self.damage.start_sec, math.inf, CORRUPT, self.damage.reason, pending=False)

    def _close_damage(self, keyframe_time: float) -> None:
        # Clips that start before this clean keyframe lack frames the decoder could not give.
        self._skip_overlapping(self.damage.start_sec, keyframe_time - _TIME_EPSILON, CORRUPT, self.damage.reason)
        self.damage = None

    def _skip_overlapping(self, start: float, end: float, kind: SkipKind, reason: str, *, pending: bool = True) -> None:
        """Skip the clips being cut (and, with `pending`, those waiting) whose range meets [start, end)."""
        for clip in [clip for clip in self.active if _overlaps(clip.request, start, end)]:
            self._skip_active(clip, kind, reason)
        if pending:
            kept = [request for request in self.pending if not _overlaps(request, start, end)]
            self.ready.extend(_skip_all([r for r in self.pending if _overlaps(r, start, end)], kind, reason))
            self.pending = deque(kept)

    def _skip_active(self, clip: _ClipEncoder, kind: SkipKind, reason: str) -> None:
        self.active.remove(clip)
        clip.abandon()
        self.ready.append(ClipResult(clip.request.clip_id, skip_kind=kind, skip_reason=reason))

    def _skip_remaining(self, kind: SkipKind, reason: str) -> None:
        for clip in self.active:
            clip.abandon()
        self.ready.extend(_skip_all([clip.request for clip in self.active], kind, reason))
        self.ready.extend(_skip_all(self.pending, kind, reason))
        self.active.clear()
        self.pending.clear()

    def _add_video_frame(self, frame: av.VideoFrame, time: float) -> None:
        self.statistics.decoded_video_frames += 1
        if frame.is_corrupt:
            start = min(_frame_decode_time(frame, time), time)
            self._open_damage(start, f"corrupt: the video frame at {time:.2f} s is damaged")
        elif self.damage is not None and frame.key_frame:
            self._close_damage(time)
        self._start_clips_before(time)
        for clip in list(self.active):
            self._feed(clip, clip.add_video_frame, frame, time)
        self.position = self.video_time = self.last_frame_time = time

    def _add_audio_frame(self, frame: av.AudioFrame, time: float) -> None:
        frame_end = time + frame.samples / frame.sample_rate
        if frame.is_corrupt:
            self._skip_overlapping(time, frame_end, CORRUPT, f"corrupt: the audio at {time:.2f} s is damaged")
        self._start_clips_before(frame_end)
        for clip in list(self.active):
            self._feed(clip, clip.add_audio_frame, frame, time)
        self.audio_time = frame_end

    def _feed(self, clip: _ClipEncoder, add: Callable[[Any, float], None], frame: av.Frame, time: float) -> None:
        try:
            add(frame, time)
        except av.FFmpegError as error:
            reason = f"corrupt: the frame at {time:.2f} s cannot be cropped or encoded ({_error_text(error)})"
            self._skip_active(clip, CORRUPT, reason)

    def _start_clips_before(self, time: float) -> None:
        while self.pending and self.pending[0].start_sec - _TIME_EPSILON <= time:
            request = self.pending.popleft()
            self.seeking = False
            if self.damage is not None and request.end_sec > self.damage.start_sec:
                self.ready.append(ClipResult(request.clip_id, skip_kind=CORRUPT, skip_reason=self.damage.reason))
            elif self.upright_problem is not None:
                problem = self.upright_problem
                self.ready.append(ClipResult(request.clip_id, skip_kind=UNSUPPORTED, skip_reason=problem))
            else:
                self._start_clip(request)

    def _start_clip(self, request: ClipRequest) -> None:
        try:
            clip = _ClipEncoder(request, self.video_stream, self.audio_stream, self.settings, self.upright)
        except CelebDatasetsError as error:
            self.ready.append(ClipResult(request.clip_id, skip_kind=UNUSABLE_BOX, skip_reason=f"unusable box: {error}"))
            return
        self.active.append(clip)

    def _finish_complete_clips(self) -> None:
        audio_time = self.audio_time if self.audio_stream is not None else math.inf
        for clip in [clip for clip in self.active if clip.is_complete(self.video_time, audio_time)]:
            self._finish(clip)

    def _finish(self, clip: _ClipEncoder) -> None:
        self.active.remove(clip)
        self.statistics.clip_frames[clip.request.clip_id] = clip.frame_count
        try:
            self.ready.append(clip.finish())
        except av.FFmpegError as error:
            clip.abandon()
            reason = f"corrupt: the clip's last frames cannot be encoded ({_error_text(error)})"
            self.ready.append(ClipResult(clip.request.clip_id, skip_kind=CORRUPT, skip_reason=reason))

    def _finish_at_end(self) -> None:
        """The video has ended: finish the clips it covers, skip those it does not."""
        if self.damage is not None:
            # Undecodable up to the end: what lies after the damage is unknown, not missing.
            self._skip_overlapping(self.damage.start_sec, math.inf, CORRUPT, self.damage.reason)
        video_end = self.last_frame_time + self.frame_duration
        cut_short = self._cut_short_reason(video_end)
        # A video that stops before its declared end is unreadable there; else the clip lies beyond it.
        kind = RANGE_BEYOND_THE_VIDEO if cut_short is None else UNREADABLE
        for clip in list(self.active):
            if clip.request.end_sec > video_end + self.frame_duration:
                beyond = f"the clip ends at {clip.request.end_sec:.2f} s, the video at {video_end:.2f} s"
                self._skip_active(clip, kind, cut_short or f"range beyond the video: {beyond}")
            else:
                self._finish(clip)
        for request in self.pending:
            beyond = f"the clip starts at {request.start_sec:.2f} s, the video ends at {video_end:.2f} s"
            reason = cut_short or f"range beyond the video: {beyond}"
            self.ready.append(ClipResult(request.clip_id, skip_kind=kind, skip_reason=reason))
        self.pending.clear()

    def _cut_short_reason(self, video_end: float) -> str | None:
        """Why the video stops before its declared end (None: it is simply shorter than the clips)."""
        if self.last_frame_time == -math.inf:
            return "unreadable: no video frame can be decoded"
        stream, container = self.video_stream, self.container
        if stream.duration and stream.time_base is not None:
            declared = float(((stream.start_time or 0) + stream.duration) * stream.time_base)
            slack = 2 * self.frame_duration
        elif container.duration:
            # Matroska and WebM declare only the file's duration, which the audio may pass by a little.
            declared = ((container.start_time or 0) + container.duration) / av.time_base
            slack = max(2 * self.frame_duration, _AUDIO_OVERHANG_SEC)
        else:
            return None
        if video_end >= declared - slack:
            return None
        return (
            f"unreadable: the video stops at {video_end:.2f} s, the file declares {declared:.2f} s "
            "(truncated or damaged)"
        )


def _overlaps(request: ClipRequest, start: float, end: float) -> bool:
    return request.start_sec < end and request.end_sec > start


def _packet_time(packet: av.Packet, *, presentation: bool = False) -> float | None:
    """The packet's decoding time (no frame decoded after it is shown earlier), or its presentation time."""
    first, second = (packet.pts, packet.dts) if presentation else (packet.dts, packet.pts)
    stamp = first if first is not None else second
    return None if stamp is None or packet.time_base is None else stamp * float(packet.time_base)


def _frame_decode_time(frame: av.VideoFrame, time: float) -> float:
    return float(frame.dts * frame.time_base) if frame.dts is not None and frame.time_base else time


def upright_filters(display_matrix: Sequence[int] | None) -> tuple[str, ...]:
    """The ffmpeg filters that turn a decoded picture the way players show it, from its display matrix.

    A display matrix (9 integers as in an MP4 track header; phone videos have one) says how the decoded
    picture is to be rotated and mirrored for display. This chooses what ffmpeg's autorotate does: a
    quarter turn is a `transpose` (mirrored when the matrix mirrors), a half turn an `hflip` and/or a
    `vflip`, an upright picture mirrored upside down a `vflip`. Raises UnreadableMediaError for a
    rotation that is not a multiple of 90 degrees (ffmpeg would turn it inside a frame of the same size).
    """
    if display_matrix is None:
        return ()
    a, b, _, c, d = display_matrix[:5]
    scale_x, scale_y = math.hypot(a, c), math.hypot(b, d)
    if not scale_x or not scale_y:
        raise UnreadableMediaError(f"the display matrix {tuple(display_matrix)} is degenerate")
    # Clockwise degrees, rounded half away from zero as ffmpeg's C round() does.
    angle = math.degrees(math.atan2(b / scale_y, a / scale_x))
    clockwise = int(math.copysign(math.floor(abs(angle) + 0.5), angle)) % 360
    if clockwise == 90:
        return ("transpose=cclock_flip",) if c > 0 else ("transpose=clock",)
    if clockwise == 180:
        return (("hflip",) if a < 0 else ()) + (("vflip",) if d < 0 else ())
    if clockwise == 270:
        return ("transpose=clock_flip",) if c < 0 else ("transpose=cclock",)
    if clockwise == 0:
        return ("vflip",) if d < 0 else ()
    raise UnreadableMediaError(f"a display rotation of {clockwise} degrees is not a quarter turn")


def display_matrix(frame: av.VideoFrame) -> tuple[int, ...] | None:
    """The display matrix a decoded frame carries (None: shown as decoded)."""
    for side_data in frame.side_data:
        if side_data.type == av.sidedata.sidedata.Type.DISPLAYMATRIX:
            return tuple(np.frombuffer(bytes(side_data), dtype=np.int32)[:9].tolist())
    return None


def _first_display_matrix(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> tuple[int, ...] | None:
    # The matrix belongs to the stream, and PyAV shows it only on decoded frames: decode the first one.
    # The cutting pass seeks before its first clip, so this costs one keyframe's decoding.
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.FFmpegError:
            continue  # damage is reported by the cutting pass, where it lies
        if frames:
            matrix = display_matrix(frames[0])
            # PyAV's side data and its frame refer to each other: free them here, not in whichever
            # process collects garbage next (a forked worker), with the decoder's buffers they hold.
            del frames
            gc.collect(0)
            return matrix
    return None


class _ClipEncoder:
    """One clip being written: crop filter, H.264 video and AAC audio streams, MP4 in memory."""

    def __init__(
        self,
        request: ClipRequest,
        video_stream: av.video.stream.VideoStream,
        audio_stream: av.audio.stream.AudioStream | None,
        settings: EncoderSettings,
        upright: tuple[str, ...] = (),
    ) -> None:
        self.request = request
        self.frame_count = 0
        self._buffer = io.BytesIO()
        self._output = av.open(self._buffer, mode="w", format="mp4")
        self._time_base = video_stream.time_base
        self._first_pts: int | None = None
        self._graph, width, height = _crop_graph(request, video_stream, settings, upright)
        self._video = self._output.add_stream("libx264", rate=video_stream.guessed_rate or video_stream.average_rate)
        self._video.width, self._video.height, self._video.pix_fmt = width, height, "yuv420p"
        self._video.time_base = self._video.codec_context.time_base = self._time_base
        self._video.options = {"crf": str(settings.crf), "preset": settings.preset, "x264-params": _x264_params()}
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
            reason = "range beyond the video: no frame in the clip's range"
            return ClipResult(self.request.clip_id, skip_kind=RANGE_BEYOND_THE_VIDEO, skip_reason=reason)
        self._output.mux(self._video.encode(None))
        if self._audio is not None:
            self._output.mux(self._audio.encode(None))
        self._output.close()
        return ClipResult(self.request.clip_id, video=self._buffer.getvalue())


# libx264 derives two settings from the machine, and both change the bytes it writes; both are fixed here.
# - Threads: by default one per CPU the process may use, and each number of frame threads gives its own
#   stream (a frame's motion search sees only the rows of its references already encoded). 2 is what the
#   default gave on the 2-core machines of our figures.
# - CPU features: x264's AVX-512 macroblock-tree propagation (mbtree_propagate_list) works on 8
#   macroblocks at a time and, unlike its C and AVX2 versions, also spreads the lanes past the end of a
#   row, which hold memory nothing wrote. For a clip whose width in macroblocks is not a multiple of 8
#   (almost every face square), the quantisers, and so the bytes, followed whatever the heap held there,
#   which the decoder's threads leave differently in each run (glibc's MALLOC_PERTURB_ shows it at will).
#   Held to its AVX2 code, x264 writes the bytes SSSE3 to AVX2 machines write. (Turning the macroblock
#   tree off instead costs about half as many bytes again at the same CRF.)
_X264_THREADS = 2


@functools.cache
def _x264_params() -> str:
    """libx264's `x264-params`: the fixed thread count, and no AVX-512 code on a CPU that has it."""
    if _cpu_has_avx512():
        # Every CPU with AVX-512 has all of x264's "AVX2" set (AVX2, FMA3, BMI2 and what they extend).
        return f"threads={_X264_THREADS}:asm=AVX2"
    return f"threads={_X264_THREADS}"


def _cpu_has_avx512() -> bool:
    """Whether the CPU and OS offer the AVX-512 subsets x264 uses (F, CD, BW, DQ, VL: numpy's "AVX512_SKX")."""
    for module in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):  # numpy 2, numpy 1
        try:
            return bool(importlib.import_module(module).__cpu_features__.get("AVX512_SKX"))
        except (ImportError, AttributeError):
            continue
    return False


def _crop_graph(
    request: ClipRequest,
    video_stream: av.video.stream.VideoStream,
    settings: EncoderSettings,
    upright: tuple[str, ...],
) -> tuple[av.filter.Graph, int, int]:
    """An ffmpeg filter graph that turns one clip's frames upright, crops (and resizes) them to yuv420p."""
    width, height = video_stream.codec_context.width, video_stream.codec_context.height
    graph = av.filter.Graph()
    nodes = [graph.add_buffer(template=video_stream)]
    for name, _, arguments in (spec.partition("=") for spec in upright):
        nodes.append(graph.add(name, arguments or None))
        if name == "transpose":
            width, height = height, width
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
