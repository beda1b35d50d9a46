"""CelebV-HQ: 35,666 face video clips with 83 manual labels, as a typed Hugging Face dataset.

Build it from your own download (the annotation file, and the processed clips or the raw YouTube videos):

    >>> from celebv_hq import CelebVHQ
    >>> builder = CelebVHQ(config_name="annotations", data_dir="path/to/CelebV-HQ")
    >>> builder.download_and_prepare()
    >>> dataset = builder.as_dataset(split="train")

Configs: `annotations` (every label, no video) and `clips` (the same plus each clip's MP4, cut from the
raw videos in one pass per video when no processed clip is there).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import datasets
import numpy as np
import pyarrow as pa
from datasets.builder import Key

from celeb_datasets.builder import CelebBuilder, CelebBuilderConfig, arrow_table
from celeb_datasets.download import MANIFEST_FILE, YOUTUBE_URL_TEMPLATE, DownloadSettings, Manifest, download_video
from celeb_datasets.errors import MissingSourceError, SourceFileError, UnreadableMediaError
from celeb_datasets.skips import SkipLog
from celeb_datasets.slices import Slice, assign_slices, parse_slice
from celeb_datasets.sourcefiles import decode_text, loads_json
from celeb_datasets.video import BoundingBox, ClipRequest, EncoderSettings, cut_clips, video_problem

logger = logging.getLogger("celeb_datasets")

_CITATION = """\
@inproceedings{zhu2022celebvhq,
  title     = {{CelebV-HQ}: A Large-Scale Video Facial Attributes Dataset},
  author    = {Zhu, Hao and Wu, Wayne and Zhu, Wentao and Jiang, Liming and Tang, Siwei and Zhang, Li and
               Liu, Ziwei and Loy, Chen Change},
  booktitle = {European Conference on Computer Vision (ECCV)},
  year      = {2022}
}
"""

_DESCRIPTION = """\
CelebV-HQ is a large-scale video facial attributes dataset: 35,666 clips of 15,653 identities cut from
13,844 YouTube videos, at least 512x512, 1.35 s to 21 s long (64.4 hours in all). Every clip has 83
manual labels: 40 appearance attributes, 35 action attributes and 8 emotions, the emotions given for
the whole clip or as a timeline of segments.
"""

_HOMEPAGE = "https://celebv-hq.github.io/"

_LICENSE = """\
Non-commercial research and educational use only. The videos belong to their YouTube owners; CelebV-HQ
does not own their copyright. Do not redistribute the data or use it for commercial purposes, and do
not use it to identify or harm the people it shows. See the terms on the homepage.
"""

KNOWN_DEFECTS = (
    "Emotion segment times carry float noise (0.28000000000000114) and are kept as in the source.",
    "Some emotion segments have a negative end, 119 are zero-length, some leave gaps, and the last "
    "often ends before the clip does; `emotion` of a multi-segment clip is derived (see below). Rows are "
    "kept as annotated; the builder's skip report lists each segment with a negative time, no length, or "
    "a time past the clip's end.",
    "347 clip pairs of one video overlap in time (mostly different people); about 7 are near "
    "duplicates; 3 pairs share video and times but differ in box.",
    "Hundreds of the YouTube videos are no longer available, so `clips` holds fewer rows than "
    "`annotations`; the skip report lists every clip left out and why.",
    "There is no official split and no identity label: split by `ytb_id` to keep a video's clips together.",
)

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

ANNOTATION_FILE = "celebvhq_info.json"
# Where processed clips `{clip_id}.mp4` may be, in order of preference ("" is the folder itself).
PROCESSED_CLIP_FOLDERS = ("processed", "35666", "videos", "")
RAW_VIDEO_FOLDER = "raw"
RAW_VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm")
SKIP_REPORT_COLUMNS = ("clip_id", "ytb_id", "reason")
# Skip-report kind of an emotion segment whose times are known to be odd in the release (row kept).
ODD_SEGMENT = "odd emotion segment"
# Rows with video are megabytes each: write them in small batches so memory and shards stay bounded.
VIDEO_WRITER_BATCH_SIZE = 16
ANNOTATION_TABLE_ROWS = 10_000

_EMOTION_INDEX = {name: index for index, name in enumerate(EMOTION_NAMES)}


@dataclasses.dataclass
class CelebVHQConfig(CelebBuilderConfig):
    """A CelebV-HQ config (and `on_missing`, `media_check`: see CelebBuilderConfig).

    Args:
        with_video: add each clip's MP4 (`video`) and where it came from (`video_source`).
        crop: "official" (the official face square) or "none" (whole frames), for clips cut from raw videos.
        size: resize cut clips to `size` x `size` after the crop (None keeps the crop's own size).
        crf, preset: libx264 quality and speed of cut clips (ffmpeg's defaults, as the official script).
        seek_gap_sec: cutting seeks past a gap between clips longer than this; shorter gaps are decoded.
        slice: "I/N" builds only slice I (0 to N-1) of N, a fixed share of the YouTube videos balanced by
            clip seconds, so N jobs anywhere build the whole dataset (see celeb_datasets.slices).
        fetch: download a clip's raw video with yt-dlp when it is absent, right before cutting its clips.
        keep_raw: keep the raw videos fetched by the build (False deletes each once its clips are written).
        url_template, cookies, proxy, rate_limit, download_retries, retry_backoff_sec: how `fetch` downloads
            (see celeb_datasets.download.DownloadSettings).
    """

    with_video: bool = False
    crop: Literal["official", "none"] = "official"
    size: int | None = None
    crf: int = 23
    preset: str = "medium"
    seek_gap_sec: float = 5.0
    fetch: bool = False
    keep_raw: bool = True
    url_template: str = YOUTUBE_URL_TEMPLATE
    cookies: str | None = None
    proxy: str | None = None
    rate_limit: str | None = None
    download_retries: int = 3
    retry_backoff_sec: float = 5.0
    slice: str | None = None

    def validate(self) -> None:
        super().validate()
        self.encoder_settings()  # validates crop, size, crf and preset together
        if self.slice is not None:
            parse_slice(self.slice)
        if self.fetch:
            self.download_settings()

    @property
    def stores_media(self) -> bool:
        return self.with_video

    def features(self) -> datasets.Features:
        return celebv_hq_features(self.with_video)

    def encoder_settings(self) -> EncoderSettings:
        return EncoderSettings(crop=self.crop, size=self.size, crf=self.crf, preset=self.preset)

    def download_settings(self) -> DownloadSettings:
        return DownloadSettings(
            url_template=self.url_template,
            cookies=self.cookies,
            proxy=self.proxy,
            rate_limit=self.rate_limit,
            retries=self.download_retries,
            retry_backoff_sec=self.retry_backoff_sec,
        )


# One sentence per feature for the dataset card (the card adds each feature's type and label names).
FEATURE_DESCRIPTIONS = {
    "clip_id": "The clip's id in the release, `{ytb_id}_{k}` (also the processed clip's file name).",
    "ytb_id": "The YouTube video the clip was cut from; clips of one video show the same person.",
    "start_sec": "Start of the clip on the YouTube video's timeline, in seconds, as annotated.",
    "end_sec": "End of the clip on the YouTube video's timeline, in seconds, as annotated.",
    "duration_sec": "end_sec - start_sec.",
    "bbox": "The face box as fractions of the frame (top, bottom, left, right), before the official crop.",
    "appearance": "The 40 appearance attributes, named from the file's own mapping.",
    "action": "The 35 action attributes, named from the file's own mapping.",
    "emotion": "The clip's emotion; for a multi-segment clip, derived: the emotion covering the most time.",
    "emotion_segments": "The emotion timeline as annotated (times on the clip's own timeline, unchanged).",
    "multi_emotion": "Whether the clip has several emotion segments (the file's `sep_flag`).",
    "version": "The annotation version the file gives for the clip.",
    "video": "The clip's MP4 (H.264 + AAC), bytes stored in the shard; decode with PyAV or torchcodec.",
    "video_source": '"processed" when the release\'s own clip was used, "raw" when cut from the YouTube video.',
}


def celebv_hq_features(with_video: bool) -> datasets.Features:
    """The features of a config: every label typed, plus the video for `clips`."""
    emotion = datasets.ClassLabel(names=list(EMOTION_NAMES))
    features = {
        "clip_id": datasets.Value("string"),
        "ytb_id": datasets.Value("string"),
        "start_sec": datasets.Value("float64"),
        "end_sec": datasets.Value("float64"),
        "duration_sec": datasets.Value("float64"),
        "bbox": {side: datasets.Value("float64") for side in BoundingBox._fields},
        "appearance": {name: datasets.Value("bool") for name in APPEARANCE_NAMES},
        "action": {name: datasets.Value("bool") for name in ACTION_NAMES},
        "emotion": emotion,
        "emotion_segments": datasets.List(
            {"emotion": emotion, "start_sec": datasets.Value("float64"), "end_sec": datasets.Value("float64")}
        ),
        "multi_emotion": datasets.Value("bool"),
        "version": datasets.Value("string"),
    }
    if with_video:
        # decode=False: rows give {"bytes", "path"} without torch; see README for decoding.
        features["video"] = datasets.Video(decode=False)
        features["video_source"] = datasets.Value("string")
    return datasets.Features(features)


class CelebVHQ(CelebBuilder):
    """CelebV-HQ from a local download; `data_dir` is the folder holding `celebvhq_info.json`."""

    VERSION = datasets.Version("1.0.0")
    BUILDER_CONFIG_CLASS = CelebVHQConfig
    BUILDER_CONFIGS = [
        CelebVHQConfig(name="annotations", version=VERSION, description="Every label of every clip, no video."),
        CelebVHQConfig(
            name="clips",
            version=VERSION,
            with_video=True,
            description="Every label plus the clip's MP4 video.",
        ),
    ]
    DEFAULT_CONFIG_NAME = "annotations"
    config: CelebVHQConfig

    PRETTY_NAME = "CelebV-HQ"
    DESCRIPTION = _DESCRIPTION
    CITATION = _CITATION
    HOMEPAGE = _HOMEPAGE
    LICENSE = _LICENSE
    LICENSE_NAME = "celebv-hq-research-only"
    KNOWN_DEFECTS = KNOWN_DEFECTS
    TASK_CATEGORIES = ("video-classification", "text-to-video")
    TAGS = ("celebv-hq", "face-attributes", "emotion-recognition", "talking-faces", "video")
    FEATURE_DESCRIPTIONS = FEATURE_DESCRIPTIONS
    # Rows of the full-size release, for dataset_infos.json; `clips` holds what the user's videos give.
    SPLIT_SIZES = {"annotations": {"train": 35_666}, "clips": {"train": None}}

    SKIP_REPORT_COLUMNS = SKIP_REPORT_COLUMNS
    KEPT_KINDS = (ODD_SEGMENT,)
    NO_ROWS_HINT = (
        f"Put processed clips in processed/{{clip_id}}.mp4 or raw videos in {RAW_VIDEO_FOLDER}/{{ytb_id}}.mp4"
    )
    MEDIA_WRITER_BATCH_SIZE = VIDEO_WRITER_BATCH_SIZE

    @classmethod
    def source_paths(cls, config: CelebVHQConfig, data_dir: str | None) -> list[Path]:
        if data_dir is None:
            return []
        if config.with_video:
            return clip_source_paths(Path(data_dir), config.fetch)
        return [Path(data_dir) / ANNOTATION_FILE]

    def _split_generators(self, dl_manager: datasets.DownloadManager) -> list[datasets.SplitGenerator]:
        skips = self.skip_log(dl_manager)
        clips, videos = plan_clips(self.config, skips)
        self.expect_items([clip.clip_id for clip in clips])
        if not self.config.with_video:
            # A tuple: datasets would split a list between worker processes.
            gen_kwargs: dict[str, Any] = {"clips": tuple(clips)}
        else:
            gen_kwargs = {"videos": videos, "skip_folder": skips.folder and str(skips.folder)}
        return [datasets.SplitGenerator(name=datasets.Split.TRAIN, gen_kwargs=gen_kwargs)]

    def _generate_tables(
        self,
        clips: Sequence[ClipAnnotation] | None = None,
        videos: list[VideoClips] | None = None,
        skip_folder: str | None = None,
    ) -> Iterator[tuple[Key, pa.Table]]:
        features = self.info.features
        if clips is not None:
            for batch, first in enumerate(range(0, len(clips), ANNOTATION_TABLE_ROWS)):
                yield Key(0, batch), clips_table(clips[first : first + ANNOTATION_TABLE_ROWS], features)
            return
        skips = SkipLog(skip_folder, SKIP_REPORT_COLUMNS)
        for shard, video in enumerate(videos or []):
            for row, table in enumerate(video_tables(video, self.config, features, skips)):
                yield Key(shard, row), table


# ---------------------------------------------------------------------------------------------------
# Source files: one small pure parser each, usable without `datasets`.


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


def find_annotation_file(data_dir: str | os.PathLike[str] | None) -> Path:
    """`celebvhq_info.json` in the user's download folder, or a clear error saying what to get."""
    if data_dir is None:
        raise MissingSourceError(
            f"CelebV-HQ needs data_dir: the folder where you put {ANNOTATION_FILE} (from {_HOMEPAGE}) "
            "and, for the clips config, the videos (raw/{ytb_id}.mp4 or processed/{clip_id}.mp4)"
        )
    if Path(data_dir).exists() and not Path(data_dir).is_dir():
        raise MissingSourceError(f"data_dir {data_dir} is not a folder: give the folder holding {ANNOTATION_FILE}")
    path = Path(data_dir) / ANNOTATION_FILE
    if path.is_dir():
        raise MissingSourceError(f"{path} is a folder: expected the annotation file {ANNOTATION_FILE} itself")
    if not path.is_file():
        raise MissingSourceError(
            f"{path} not found: download {ANNOTATION_FILE} (about 19 MB) from {_HOMEPAGE} and put it in "
            f"{Path(data_dir)}"
        )
    return path


def read_annotation_file(path: str | os.PathLike[str]) -> list[ClipAnnotation]:
    """Parse `celebvhq_info.json` into validated clips, in file order.

    Raises SourceFileError naming the file, the clip and the field for malformed JSON, a duplicate
    clip id, a missing field, a label vector of the wrong length or values, an unknown emotion, a box
    outside [0, 1], or start >= end. Known defects of the real file (float noise, odd segments) are
    kept as they are.
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
        raise SourceFileError(f"{path}: 'clips' must map clip ids to records, found {type(clips).__name__}")
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
    if not isinstance(ytb_id, str) or not ytb_id:
        raise fields.error("ytb_id", f"expected a YouTube id, found {ytb_id!r}")
    start_sec, end_sec = fields.number("duration", "start_sec"), fields.number("duration", "end_sec")
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
        appearance=fields.flags("appearance", len(APPEARANCE_NAMES), appearance_order),
        action=fields.flags("action", len(ACTION_NAMES), action_order),
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

    def flags(self, key: str, size: int, order: list[int] | None) -> tuple[bool, ...]:
        values = self.get("attributes", key)
        if not isinstance(values, list) or len(values) != size or not _BINARY.issuperset(values):
            found = f"{len(values)} values" if isinstance(values, list) else repr(values)
            raise self.error(f"attributes.{key}", f"expected {size} values 0 or 1, found {found}")
        if order is not None:
            values = [values[i] for i in order]
        return tuple(value == 1 for value in values)

    def emotion(self, value: Any, field: str) -> str:
        if value not in _EMOTION_INDEX:
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


_BINARY = frozenset((0, 1))
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


def plan_clips(config: CelebVHQConfig, skips: SkipLog) -> tuple[list[ClipAnnotation], list[VideoClips]]:
    """The clips a build of `config` must account for (its slice's), and for `clips` their videos.

    Known odd values are recorded to `skips` (rows kept), and so are clips without any video. The builder
    and other engines (Ray) plan a build with this, then make each video's rows with `video_tables`.
    """
    annotation_file = find_annotation_file(config.data_dir)
    clips = read_annotation_file(annotation_file)
    if config.slice is not None:
        clips = clips_of_slice(clips, parse_slice(config.slice))
    for clip in clips:
        for oddity in segment_oddities(clip):
            skips.record(clip.clip_id, clip.ytb_id, f"{ODD_SEGMENT}: {oddity} (row kept as annotated)")
    if not config.with_video:
        return clips, []
    videos = locate_videos(annotation_file.parent, clips, skips, on_missing=config.on_missing, fetch=config.fetch)
    return clips, videos


def clips_of_slice(clips: Sequence[ClipAnnotation], part: Slice) -> list[ClipAnnotation]:
    """The clips of the YouTube videos in slice `part` (the assignment depends on all of `clips` only)."""
    assignment = assign_slices(((clip.ytb_id, clip.duration_sec) for clip in clips), part.count)
    return [clip for clip in clips if assignment[clip.ytb_id] == part.index]


def dominant_emotion(segments: Sequence[EmotionSegment]) -> str:
    """The emotion covering the most time (negative lengths count as zero; ties go to the earliest)."""
    covered: dict[str, float] = {}
    for segment in segments:
        covered[segment.emotion] = covered.get(segment.emotion, 0.0) + max(0.0, segment.end_sec - segment.start_sec)
    return max(covered, key=covered.__getitem__)


def clips_table(
    clips: Sequence[ClipAnnotation], features: datasets.Features, extra: dict[str, list[Any]] | None = None
) -> pa.Table:
    """The Arrow rows of `clips` in the schema of `features` (video columns given in `extra`)."""
    appearance = np.array([clip.appearance for clip in clips], dtype=bool).reshape(len(clips), -1)
    action = np.array([clip.action for clip in clips], dtype=bool).reshape(len(clips), -1)
    segments = [segment for clip in clips for segment in clip.emotion_segments]
    offsets = np.cumsum([0] + [len(clip.emotion_segments) for clip in clips], dtype=np.int32)
    columns: dict[str, pa.Array | list[Any]] = {
        "clip_id": [clip.clip_id for clip in clips],
        "ytb_id": [clip.ytb_id for clip in clips],
        "start_sec": [clip.start_sec for clip in clips],
        "end_sec": [clip.end_sec for clip in clips],
        "duration_sec": [clip.duration_sec for clip in clips],
        "bbox": pa.StructArray.from_arrays(
            [pa.array([clip.bbox[i] for clip in clips], pa.float64()) for i in range(4)], BoundingBox._fields
        ),
        "appearance": pa.StructArray.from_arrays(list(appearance.T), APPEARANCE_NAMES),
        "action": pa.StructArray.from_arrays(list(action.T), ACTION_NAMES),
        "emotion": [_EMOTION_INDEX[clip.emotion] for clip in clips],
        "emotion_segments": pa.ListArray.from_arrays(
            offsets,
            pa.StructArray.from_arrays(
                [
                    pa.array([_EMOTION_INDEX[s.emotion] for s in segments], pa.int64()),
                    pa.array([s.start_sec for s in segments], pa.float64()),
                    pa.array([s.end_sec for s in segments], pa.float64()),
                ],
                ["emotion", "start_sec", "end_sec"],
            ),
        ),
        "multi_emotion": [clip.multi_emotion for clip in clips],
        "version": [clip.version for clip in clips],
        **(extra or {}),
    }
    return arrow_table(columns, features)


@dataclasses.dataclass(frozen=True)
class VideoClips:
    """The clips of one YouTube video to write: each with its processed clip, or None to cut it from raw.

    `fetch_into` is the data folder to download the raw video into when `raw_video` is None (fetch=True).
    """

    ytb_id: str
    raw_video: str | None
    clips: tuple[tuple[ClipAnnotation, str | None], ...]
    fetch_into: str | None = None


def locate_videos(
    data_dir: Path, clips: Sequence[ClipAnnotation], skips: SkipLog, on_missing: str = "skip", fetch: bool = False
) -> list[VideoClips]:
    """Find each clip's video in the download folder, grouped by YouTube video in first-seen order.

    A processed clip `{clip_id}.mp4` (in processed/, 35666/, videos/ or the folder itself) wins over a
    raw video `raw/{ytb_id}.{mp4,mkv,webm}`. A clip with neither is skipped as missing (or an error),
    with the download manifest's reason when its video failed to download; with `fetch`, it is kept to be
    downloaded by `video_clips` unless the manifest says its video failed for good.
    """
    downloads = Manifest(data_dir).read()
    folder_listings = {folder: _file_names(data_dir / folder) for folder in (*PROCESSED_CLIP_FOLDERS, RAW_VIDEO_FOLDER)}
    grouped: dict[str, list[tuple[ClipAnnotation, str | None]]] = {}
    raw_videos: dict[str, str | None] = {}
    for clip in clips:
        processed = next(
            (
                str(data_dir / folder / f"{clip.clip_id}.mp4")
                for folder in PROCESSED_CLIP_FOLDERS
                if f"{clip.clip_id}.mp4" in folder_listings[folder]
            ),
            None,
        )
        if clip.ytb_id not in raw_videos:
            raw_videos[clip.ytb_id] = next(
                (
                    str(data_dir / RAW_VIDEO_FOLDER / f"{clip.ytb_id}{extension}")
                    for extension in RAW_VIDEO_EXTENSIONS
                    if f"{clip.ytb_id}{extension}" in folder_listings[RAW_VIDEO_FOLDER]
                ),
                None,
            )
        if processed is None and raw_videos[clip.ytb_id] is None:
            download = downloads.get(clip.ytb_id)
            if fetch and (download is None or download.state != "failed"):
                grouped.setdefault(clip.ytb_id, []).append((clip, None))
                continue
            reason = (
                f"missing: neither {RAW_VIDEO_FOLDER}/{clip.ytb_id}.{{mp4,mkv,webm}} nor a processed "
                f"{clip.clip_id}.mp4 in {data_dir}"
            )
            if download is not None and download.state != "done":
                reason += f"; the download {download.failure()}"
            if on_missing == "error":
                raise MissingSourceError(f"clip {clip.clip_id} (YouTube video {clip.ytb_id}): {reason}")
            skips.record(clip.clip_id, clip.ytb_id, reason)
            continue
        grouped.setdefault(clip.ytb_id, []).append((clip, processed))
    fetch_into = str(data_dir) if fetch else None
    return [VideoClips(ytb_id, raw_videos[ytb_id], tuple(group), fetch_into) for ytb_id, group in grouped.items()]


def clip_source_paths(data_dir: Path, fetch: bool) -> list[Path]:
    """What keys the cache of `clips`: the annotation file, the processed clips (processed/, 35666/,
    videos/ and *.mp4 in the folder itself) and the raw videos with the download manifest.

    With `fetch`, the raw videos and the manifest are left out: they change as the build fetches (and
    deletes) videos, and counting them would make the next run of the same build miss its own cache.
    Nothing else in the folder (an export, notes, a cache) makes a build miss its cache.
    """
    paths = [data_dir / ANNOTATION_FILE, *(data_dir / folder for folder in PROCESSED_CLIP_FOLDERS if folder)]
    paths += sorted(data_dir.glob("*.mp4"))
    if not fetch:
        paths += [data_dir / RAW_VIDEO_FOLDER, data_dir / MANIFEST_FILE]
    return paths


def video_tables(
    video: VideoClips, config: CelebVHQConfig, features: datasets.Features, skips: SkipLog
) -> Iterator[pa.Table]:
    """The rows (one Arrow table each) of one YouTube video's clips; clips that cannot be had are skipped.

    This is the one place where a clip's video is read or cut and its row built: the builder and any
    other engine (Ray, slices) call it per YouTube video.
    """
    for clip, video_bytes, source in video_clips(video, config, skips):
        extra = {"video": [{"bytes": video_bytes, "path": f"{clip.clip_id}.mp4"}], "video_source": [source]}
        yield clips_table([clip], features, extra)


def video_clips(
    video: VideoClips, config: CelebVHQConfig, skips: SkipLog
) -> Iterator[tuple[ClipAnnotation, bytes, str]]:
    """Each clip of one YouTube video with its MP4 bytes: processed clips as they are, others cut."""
    to_cut = {}
    for clip, processed in video.clips:
        if processed is None:
            to_cut[clip.clip_id] = clip
            continue
        try:
            data = Path(processed).read_bytes()
        except OSError as error:  # e.g. a folder named like the clip
            skip_clip(config, skips, clip, f"unreadable: {processed}: {error.strerror}")
            continue
        problem = video_problem(data, full_decode=config.media_check == "full")
        if problem is None:
            yield clip, data, "processed"
        else:
            skip_clip(config, skips, clip, f"unreadable: {processed}: {problem}")
    if not to_cut:
        return
    raw_video = video.raw_video
    if raw_video is None:
        raw_video = fetch_raw_video(video, to_cut.values(), config, skips)
        if raw_video is None:
            return
    requests = [ClipRequest(c.clip_id, c.start_sec, c.end_sec, c.bbox) for c in to_cut.values()]
    try:
        for result in cut_clips(raw_video, requests, config.encoder_settings(), seek_gap_sec=config.seek_gap_sec):
            clip = to_cut[result.clip_id]
            if result.video is None:
                skip_clip(config, skips, clip, f"{result.skip_reason} ({raw_video})")
            else:
                yield clip, result.video, "raw"
    finally:
        if video.raw_video is None and not config.keep_raw:
            # Fetched by this build and not wanted: disk holds only the videos being cut.
            Path(raw_video).unlink(missing_ok=True)


def fetch_raw_video(
    video: VideoClips, clips: Iterable[ClipAnnotation], config: CelebVHQConfig, skips: SkipLog
) -> str | None:
    """Download a video's raw file for its clips (fetch=True), through the data folder's manifest.

    Returns its path, or None after skipping every clip with the download's reason.
    """
    if video.fetch_into is None:
        raise MissingSourceError(f"YouTube video {video.ytb_id}: no raw video and no data folder to fetch it into")
    clips = list(clips)
    manifest = Manifest(video.fetch_into)
    previous = manifest.read().get(video.ytb_id)
    last_end = max(clip.end_sec for clip in clips)
    settings = config.download_settings()
    entry = download_video(
        video.fetch_into, video.ytb_id, last_end, settings, manifest, previous.attempts if previous else 0
    )
    if entry.state == "done":
        return str(Path(video.fetch_into) / entry.file)
    for clip in clips:
        skip_clip(config, skips, clip, f"missing: the download of {video.ytb_id} {entry.failure()}")
    return None


def skip_clip(config: CelebVHQConfig, skips: SkipLog, clip: ClipAnnotation, reason: str) -> None:
    """Leave a clip out with its reason in the skip report, or stop the build under on_missing="error"."""
    if config.on_missing == "error":
        raise UnreadableMediaError(f"clip {clip.clip_id} (YouTube video {clip.ytb_id}): {reason}")
    skips.record(clip.clip_id, clip.ytb_id, reason)


def _file_names(folder: Path) -> frozenset[str]:
    try:
        return frozenset(os.listdir(folder))
    except FileNotFoundError:
        return frozenset()
