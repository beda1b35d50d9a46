"""CelebV-HQ's labels and the parser of its annotation file, `celebvhq_info.json`.

    >>> from celebv_hq_lib.annotations import read_annotation_file
    >>> clips = read_annotation_file("CelebV-HQ/celebvhq_info.json")     # validated ClipAnnotation, file order

The file (about 19 MB) maps each clip id to its YouTube video, times, face box and labels; its
`meta_info` names the 40 appearance and 35 action attributes in the order of the label vectors.
Known defects of the real file (float noise, odd emotion segments) are kept as they are; anything
else malformed is a SourceFileError naming the file, the clip and the field.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from celeb_datasets.errors import MissingSourceError, SourceFileError
from celeb_datasets.sourcefiles import decode_text, loads_json
from celebv_hq_lib.layout import ANNOTATION_FILE, clip_id_problem, youtube_id_problem
from celebv_hq_lib.video import BoundingBox

logger = logging.getLogger("celeb_datasets")

APPEARANCE_NAMES = (
    "blurry", "male", "young", "chubby", "pale_skin", "rosy_cheeks", "oval_face", "receding_hairline",
    "bald", "bangs", "black_hair", "blonde_hair", "gray_hair", "brown_hair", "straight_hair", "wavy_hair",
    "long_hair", "arched_eyebrows", "bushy_eyebrows", "bags_under_eyes", "eyeglasses", "sunglasses",
    "narrow_eyes", "big_nose", "pointy_nose", "high_cheekbones", "big_lips", "double_chin", "no_beard",
    "5_o_clock_shadow", "goatee", "mustache", "sideburns", "heavy_makeup", "wearing_earrings",
    "wearing_hat", "wearing_lipstick", "wearing_necklace", "wearing_necktie", "wearing_mask",
)  # fmt: skip
ACTION_NAMES = (
    "blow", "chew", "close_eyes", "cough", "cry", "drink", "eat", "frown", "gaze", "glare",
    "head_wagging", "kiss", "laugh", "listen_to_music", "look_around", "make_a_face", "nod",
    "play_instrument", "read", "shake_head", "shout", "sigh", "sing", "sleep", "smile", "smoke", "sneer",
    "sneeze", "sniff", "talk", "turn", "weep", "whisper", "wink", "yawn",
)  # fmt: skip
# The order of the official tooling; the annotation file itself has no emotion list.
EMOTION_NAMES = ("neutral", "happy", "anger", "sadness", "contempt", "fear", "disgust", "surprise")
EMOTION_INDEX = {name: index for index, name in enumerate(EMOTION_NAMES)}


@dataclasses.dataclass(frozen=True)
class EmotionSegment:
    """One emotion over [start_sec, end_sec), in seconds from the clip start (raw values)."""

    emotion: str
    start_sec: float
    end_sec: float


@dataclasses.dataclass(frozen=True)
class ClipAnnotation:
    """One clip of `celebvhq_info.json`, validated and typed.

    `appearance` and `action` are booleans in the order of APPEARANCE_NAMES and ACTION_NAMES.
    `emotion` is the clip's emotion; for a multi-segment clip, the one covering the most time.
    """

    clip_id: str
    ytb_id: str
    start_sec: float
    end_sec: float
    bbox: BoundingBox
    appearance: tuple[bool, ...]
    action: tuple[bool, ...]
    emotion: str
    emotion_segments: tuple[EmotionSegment, ...]
    multi_emotion: bool
    version: str

    @property
    def duration_sec(self) -> float:
        # Source times have 2 decimals: round away the float noise of the difference.
        return round(self.end_sec - self.start_sec, 2)


def read_annotation_file(path: str | os.PathLike[str]) -> list[ClipAnnotation]:
    """Parse `celebvhq_info.json` into validated clips, in file order.

    Raises SourceFileError naming the file, the clip and the field for malformed JSON, no clips at all,
    a duplicate clip id, a `ytb_id` that is not a YouTube id (11 letters, digits, - or _), a clip id that
    is not `{ytb_id}_{k}` or `{ytb_id}_{k}_{m}`, a missing field, a label vector of the wrong length, a
    label value other than 0 or 1 (naming the label), an unknown emotion, a box outside [0, 1], or
    start >= end. Known defects of the real file (float noise, odd segments) are kept as they are.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise MissingSourceError(f"cannot read {path}: {error.strerror}") from None
    document = loads_json(decode_text(data, str(path)), str(path))
    del data
    if not isinstance(document, dict) or "clips" not in document:
        raise SourceFileError(f"{path}: expected an object with 'meta_info' and 'clips' at the top level")
    meta = document.get("meta_info")
    if meta is None and "mete_info" in document:
        logger.warning("%s: the top-level key is spelled 'mete_info'; read as 'meta_info'", path)
        meta = document["mete_info"]
    if not isinstance(meta, dict):
        raise SourceFileError(f"{path}: missing 'meta_info' with 'appearance_mapping' and 'action_mapping'")
    appearance_order = _label_order(path, meta, "appearance_mapping", APPEARANCE_NAMES)
    action_order = _label_order(path, meta, "action_mapping", ACTION_NAMES)
    clips = document["clips"]
    if not isinstance(clips, dict):
        raise SourceFileError(
            f"{path}: holds no clips: 'clips' must map clip ids to records, found {type(clips).__name__}"
        )
    if not clips:
        # The release has 35,666: an empty object is a damaged or stub file, never a dataset to build.
        raise SourceFileError(
            f"{path}: holds no clips ('clips' is empty): get celebvhq_info.json again from the homepage"
        )
    source = str(path)  # once: inside a datasets build, `path` may be a slow path-like object
    return [
        parse_clip_record(clip_id, record, appearance_order, action_order, source=source)
        for clip_id, record in clips.items()
    ]


def _label_order(path: Path, meta: dict[str, Any], key: str, known: Sequence[str]) -> list[int] | None:
    """Where each known name sits in the file's mapping (None when the order is the known one)."""
    names = meta.get(key)
    if names == list(known):
        return None
    if not isinstance(names, list) or sorted(map(str, names)) != sorted(known) or len(names) != len(known):
        unknown = sorted(set(map(str, names or [])) - set(known))
        absent = sorted(set(known) - set(map(str, names or [])))
        raise SourceFileError(
            f"{path}: meta_info.{key} does not hold the {len(known)} known CelebV-HQ labels "
            f"(unknown: {unknown or 'none'}; absent: {absent or 'none'}); refusing to relabel"
        )
    logger.warning("%s: meta_info.%s lists the labels in another order; values are reordered to match", path, key)
    return [names.index(name) for name in known]


def parse_clip_record(
    clip_id: str,
    record: Any,
    appearance_order: list[int] | None = None,
    action_order: list[int] | None = None,
    source: str | os.PathLike[str] = ANNOTATION_FILE,
) -> ClipAnnotation:
    """Validate and type one record of the `clips` object (see `read_annotation_file`)."""
    fields = _RecordFields(clip_id, record, source if isinstance(source, str) else str(source))
    if not isinstance(record, dict):
        raise fields.error("record", f"expected an object, found {type(record).__name__}")
    ytb_id = fields.get("ytb_id")
    # Ids become file names (raw/{ytb_id}.mp4, processed/{clip_id}.mp4): only the release's forms pass.
    problem = youtube_id_problem(ytb_id)
    if problem is not None:
        raise fields.error("ytb_id", problem)
    problem = clip_id_problem(clip_id, ytb_id)
    if problem is not None:
        raise fields.error("clip id", problem)
    start_sec, end_sec = fields.number("duration", "start_sec"), fields.number("duration", "end_sec")
    if start_sec < 0:
        # The release has none: a negative time is a damaged or edited file, never a clip to cut.
        raise fields.error("duration.start_sec", f"{start_sec} is before the video's start (0)")
    if not start_sec < end_sec:
        raise fields.error("duration", f"start_sec {start_sec} must be before end_sec {end_sec}")
    bbox = BoundingBox(*(fields.number("bbox", side) for side in BoundingBox._fields))
    for side, value in zip(BoundingBox._fields, bbox, strict=True):
        if not 0.0 <= value <= 1.0:
            raise fields.error(f"bbox.{side}", f"{value} is outside [0, 1]")
    if not (bbox.top < bbox.bottom and bbox.left < bbox.right):
        raise fields.error("bbox", f"empty box {dict(bbox._asdict())}: top < bottom and left < right expected")
    multi_emotion = fields.get("attributes", "emotion", "sep_flag")
    if not isinstance(multi_emotion, bool):
        raise fields.error("attributes.emotion.sep_flag", f"expected true or false, found {multi_emotion!r}")
    segments = _emotion_segments(fields, round(end_sec - start_sec, 2))
    version = fields.get("version")
    if not isinstance(version, str):
        raise fields.error("version", f"expected a string, found {version!r}")
    return ClipAnnotation(
        clip_id=clip_id,
        ytb_id=ytb_id,
        start_sec=start_sec,
        end_sec=end_sec,
        bbox=bbox,
        appearance=fields.flags("appearance", APPEARANCE_NAMES, appearance_order),
        action=fields.flags("action", ACTION_NAMES, action_order),
        emotion=dominant_emotion(segments),
        emotion_segments=segments,
        multi_emotion=multi_emotion,
        version=version,
    )


@dataclasses.dataclass(slots=True)
class _RecordFields:
    """Typed access to the fields of one clip record, with errors naming the file, the clip and the field."""

    clip_id: str
    record: Any
    source: str

    def error(self, field: str, problem: str) -> SourceFileError:
        return SourceFileError(f"{self.source}: clip {self.clip_id}: {field}: {problem}")

    def get(self, *keys: str) -> Any:
        value = self.record
        try:
            for key in keys:
                value = value[key]
        except (KeyError, TypeError, IndexError):
            value = self.record
            for depth, key in enumerate(keys):
                if not isinstance(value, dict) or key not in value:
                    raise self.error(".".join(keys[: depth + 1]), "missing") from None
                value = value[key]
        return value

    def number(self, *keys: str) -> float:
        value = self.get(*keys)
        if not _is_finite_number(value):
            raise self.error(".".join(keys), f"expected a finite number, found {value!r}")
        return float(value)

    def flags(self, key: str, names: Sequence[str], order: list[int] | None) -> tuple[bool, ...]:
        """The label vector `attributes.{key}`, in the order of `names` (`order`: where each sits in the file)."""
        values = self.get("attributes", key)
        if not isinstance(values, list) or len(values) != len(names):
            found = f"{len(values)} values" if isinstance(values, list) else repr(values)
            raise self.error(f"attributes.{key}", f"expected {len(names)} values 0 or 1, found {found}")
        for index, value in enumerate(values):
            if value not in _BINARY:
                name = names[index] if order is None else names[order.index(index)]
                raise self.error(f"attributes.{key}[{index}] ({name})", f"found {value!r}; expected 0 or 1")
        if order is not None:
            values = [values[i] for i in order]
        return tuple(value == 1 for value in values)

    def emotion(self, value: Any, field: str) -> str:
        if not isinstance(value, str) or value not in EMOTION_INDEX:
            raise self.error(field, f"unknown emotion {value!r}; expected one of {', '.join(EMOTION_NAMES)}")
        return value


def _emotion_segments(fields: _RecordFields, duration_sec: float) -> tuple[EmotionSegment, ...]:
    """The clip's emotion timeline: one segment over the whole clip, or the annotated segments as they are."""
    labels = fields.get("attributes", "emotion", "labels")
    if isinstance(labels, str):
        return (EmotionSegment(fields.emotion(labels, "attributes.emotion.labels"), 0.0, duration_sec),)
    if not isinstance(labels, list) or not labels:
        raise fields.error("attributes.emotion.labels", f"expected an emotion or a list of segments, found {labels!r}")
    segments = []
    for index, segment in enumerate(labels):
        where = f"attributes.emotion.labels[{index}]"
        if not isinstance(segment, dict) or not {"emotion", "start_sec", "end_sec"} <= segment.keys():
            raise fields.error(where, f"expected {{emotion, start_sec, end_sec}}, found {segment!r}")
        times = (segment["start_sec"], segment["end_sec"])
        if not all(_is_finite_number(time) for time in times):
            raise fields.error(where, f"segment times must be finite numbers, found {times}")
        name = fields.emotion(segment["emotion"], f"{where}.emotion")
        segments.append(EmotionSegment(name, float(times[0]), float(times[1])))
    return tuple(segments)


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# A tuple: `in` compares with ==, so an unhashable value (a list, an object) is refused, not a TypeError.
_BINARY = (0, 1)
# Segment times are whole source seconds minus the clip start: a boundary may be off by up to a second.
_SEGMENT_SLACK_SEC = 1.0


def segment_oddities(clip: ClipAnnotation) -> list[str]:
    """The emotion segments of `clip` with the release's known odd times: a negative time, a zero or negative
    length, a time past the clip's end. They are kept as annotated (`emotion` gives them no weight) and
    listed in the skip report. Gaps, and a last segment ending before the clip does, are normal."""
    latest = clip.end_sec - clip.start_sec + _SEGMENT_SLACK_SEC
    if all(0 <= s.start_sec < s.end_sec <= latest for s in clip.emotion_segments):
        return []  # the common case, checked without building anything
    odd = []
    for index, segment in enumerate(clip.emotion_segments):
        problems = []
        if segment.start_sec < 0 or segment.end_sec < 0:
            problems.append("a negative time")
        if segment.end_sec <= segment.start_sec:
            problems.append("no length")
        if max(segment.start_sec, segment.end_sec) > clip.duration_sec + _SEGMENT_SLACK_SEC:
            problems.append(f"a time past the clip's end ({clip.duration_sec} s)")
        if problems:
            where = f"labels[{index}] {segment.emotion} {segment.start_sec}..{segment.end_sec} s"
            odd.append(f"{where}: {' and '.join(problems)}")
    return odd


def dominant_emotion(segments: Sequence[EmotionSegment]) -> str:
    """The emotion covering the most time (negative lengths count as zero; ties go to the earliest)."""
    covered: dict[str, float] = {}
    for segment in segments:
        covered[segment.emotion] = covered.get(segment.emotion, 0.0) + max(0.0, segment.end_sec - segment.start_sec)
    return max(covered, key=covered.__getitem__)
