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
import gc
import json
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import datasets
import numpy as np
import pyarrow as pa
from datasets.builder import Key

from celeb_datasets import __version__
from celeb_datasets.builder import CelebBuilderConfig
from celeb_datasets.errors import CelebDatasetsError
from celeb_datasets.skips import SKIP_REPORT_FILE, SkipLog, finish_skip_report, summarize_skips
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
    "often ends before the clip does; `emotion` of a multi-segment clip is derived (see below).",
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
    """

    with_video: bool = False
    crop: Literal["official", "none"] = "official"
    size: int | None = None
    crf: int = 23
    preset: str = "medium"
    seek_gap_sec: float = 5.0

    def validate(self) -> None:
        """Refuse impossible options now rather than mid-build (also run by the builder: datasets sets
        options given to the builder after the config is made)."""
        super().validate()
        self.encoder_settings()  # validates crop, size, crf and preset

    def encoder_settings(self) -> EncoderSettings:
        return EncoderSettings(crop=self.crop, size=self.size, crf=self.crf, preset=self.preset)


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


class CelebVHQ(datasets.ArrowBasedBuilder):
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

    CITATION = _CITATION
    DESCRIPTION = _DESCRIPTION
    HOMEPAGE = _HOMEPAGE
    LICENSE = _LICENSE
    KNOWN_DEFECTS = KNOWN_DEFECTS
    PRETTY_NAME = "CelebV-HQ"
    LICENSE_NAME = "celebv-hq-research-only"
    TASK_CATEGORIES = ("video-classification", "text-to-video")
    TAGS = ("celebv-hq", "face-attributes", "emotion-recognition", "talking-faces", "video")
    FEATURE_DESCRIPTIONS = FEATURE_DESCRIPTIONS
    # Rows of the full-size release, for dataset_infos.json; `clips` holds what the user's videos give.
    SPLIT_SIZES = {"annotations": {"train": 35_666}, "clips": {"train": None}}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The package version keys the cache, so an upgrade never serves rows built by older code.
        kwargs.setdefault("hash", __version__)
        if isinstance(kwargs.get("data_dir"), str):
            kwargs["data_dir"] = os.path.expanduser(kwargs["data_dir"])
        super().__init__(*args, **kwargs)
        self.config.validate()
        if self.config.with_video and self._writer_batch_size is None:
            self._writer_batch_size = VIDEO_WRITER_BATCH_SIZE
        self.skip_summary: str | None = None

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description=_DESCRIPTION,
            features=celebv_hq_features(self.config.with_video),
            homepage=_HOMEPAGE,
            license=_LICENSE,
            citation=_CITATION,
        )

    def _split_generators(self, dl_manager: datasets.DownloadManager) -> list[datasets.SplitGenerator]:
        annotation_file = find_annotation_file(self.config.data_dir)
        if not self.config.with_video:
            gen_kwargs: dict[str, Any] = {"annotation_file": str(annotation_file)}
        else:
            streaming = isinstance(dl_manager, datasets.StreamingDownloadManager)
            skips = SkipLog(None if streaming else self._output_dir, SKIP_REPORT_COLUMNS)
            clips = read_annotation_file(annotation_file)
            videos = locate_videos(annotation_file.parent, clips, skips, on_missing=self.config.on_missing)
            gen_kwargs = {"videos": videos, "skip_folder": skips.folder and str(skips.folder)}
        return [datasets.SplitGenerator(name=datasets.Split.TRAIN, gen_kwargs=gen_kwargs)]

    def _generate_tables(
        self,
        annotation_file: str | None = None,
        videos: list[VideoClips] | None = None,
        skip_folder: str | None = None,
    ) -> Iterator[tuple[Key, pa.Table]]:
        features = self.info.features
        if annotation_file is not None:
            clips = read_annotation_file(annotation_file)
            for batch, first in enumerate(range(0, len(clips), ANNOTATION_TABLE_ROWS)):
                yield Key(0, batch), clips_table(clips[first : first + ANNOTATION_TABLE_ROWS], features)
            return
        skips = SkipLog(skip_folder, SKIP_REPORT_COLUMNS)
        for shard, video in enumerate(videos or []):
            for row, table in enumerate(video_tables(video, self.config, features, skips)):
                yield Key(shard, row), table

    def download_and_prepare(self, *args: Any, **kwargs: Any) -> None:
        """Prepare the dataset; for `clips`, also write the skip report and log a one-line summary."""
        # Worker processes are forked. A PyAV codec left for the garbage collector in this process would
        # be freed in a child, where joining its decoder threads (which were not forked) hangs forever.
        gc.collect()
        super().download_and_prepare(*args, **kwargs)
        if not self.config.with_video:
            return
        report, counts = finish_skip_report(self._output_dir, SKIP_REPORT_COLUMNS)
        written = self.info.splits["train"].num_examples
        self.skip_summary = summarize_skips(f"CelebV-HQ {self.config.name}", written, counts, report)
        if written:
            logger.log(logging.WARNING if counts else logging.INFO, self.skip_summary)
        else:
            raise CelebDatasetsError(
                f"{self.skip_summary}. No clip has a usable video under {self.config.data_dir}: put processed "
                f"clips in processed/{{clip_id}}.mp4 or raw videos in {RAW_VIDEO_FOLDER}/{{ytb_id}}.mp4"
            )

    @property
    def skip_report(self) -> Path:
        """The TSV of clips left out of `clips` (clip_id, ytb_id, reason), after `download_and_prepare`."""
        return Path(self._output_dir) / SKIP_REPORT_FILE


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
        raise CelebDatasetsError(
            f"CelebV-HQ needs data_dir: the folder where you put {ANNOTATION_FILE} (from {_HOMEPAGE}) "
            "and, for the clips config, the videos (raw/{ytb_id}.mp4 or processed/{clip_id}.mp4)"
        )
    path = Path(data_dir) / ANNOTATION_FILE
    if not path.is_file():
        raise CelebDatasetsError(
            f"{path} not found: download {ANNOTATION_FILE} (about 19 MB) from {_HOMEPAGE} and put it in "
            f"{Path(data_dir)}"
        )
    return path


def read_annotation_file(path: str | os.PathLike[str]) -> list[ClipAnnotation]:
    """Parse `celebvhq_info.json` into validated clips, in file order.

    Raises CelebDatasetsError naming the file, the clip and the field for malformed JSON, a duplicate
    clip id, a missing field, a label vector of the wrong length or values, an unknown emotion, a box
    outside [0, 1], or start >= end. Known defects of the real file (float noise, odd segments) are
    kept as they are.
    """
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as source:
            document = json.load(source, object_pairs_hook=_dict_without_duplicates)
    except json.JSONDecodeError as error:
        raise CelebDatasetsError(f"{path} is not valid JSON: {error}") from None
    except _DuplicateKey as duplicate:
        raise CelebDatasetsError(f"{path}: the key {duplicate} appears twice (a clip id must be unique)") from None
    if not isinstance(document, dict) or "clips" not in document:
        raise CelebDatasetsError(f"{path}: expected an object with 'meta_info' and 'clips' at the top level")
    meta = document.get("meta_info")
    if meta is None and "mete_info" in document:
        logger.warning("%s: the top-level key is spelled 'mete_info'; read as 'meta_info'", path)
        meta = document["mete_info"]
    if not isinstance(meta, dict):
        raise CelebDatasetsError(f"{path}: missing 'meta_info' with 'appearance_mapping' and 'action_mapping'")
    appearance_order = _label_order(path, meta, "appearance_mapping", APPEARANCE_NAMES)
    action_order = _label_order(path, meta, "action_mapping", ACTION_NAMES)
    clips = document["clips"]
    if not isinstance(clips, dict):
        raise CelebDatasetsError(f"{path}: 'clips' must map clip ids to records, found {type(clips).__name__}")
    return [
        parse_clip_record(clip_id, record, appearance_order, action_order, source=path)
        for clip_id, record in clips.items()
    ]


class _DuplicateKey(Exception):
    pass


def _dict_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        raise _DuplicateKey(next(repr(k) for k, _ in pairs if k in seen or seen.add(k)))
    return result


def _label_order(path: Path, meta: dict[str, Any], key: str, known: Sequence[str]) -> list[int] | None:
    """Where each known name sits in the file's mapping (None when the order is the known one)."""
    names = meta.get(key)
    if names == list(known):
        return None
    if not isinstance(names, list) or sorted(map(str, names)) != sorted(known) or len(names) != len(known):
        unknown = sorted(set(map(str, names or [])) - set(known))
        absent = sorted(set(known) - set(map(str, names or [])))
        raise CelebDatasetsError(
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

    def fail(field: str, problem: str) -> CelebDatasetsError:
        return CelebDatasetsError(f"{source}: clip {clip_id}: {field}: {problem}")

    def field(*keys: str) -> Any:
        value = record
        for depth, key in enumerate(keys):
            if not isinstance(value, dict) or key not in value:
                raise fail(".".join(keys[: depth + 1]), "missing")
            value = value[key]
        return value

    def number(*keys: str) -> float:
        value = field(*keys)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail(".".join(keys), f"expected a number, found {value!r}")
        return float(value)

    def flags(key: str, size: int, order: list[int] | None) -> tuple[bool, ...]:
        values = field("attributes", key)
        if not isinstance(values, list) or len(values) != size or not _BINARY.issuperset(values):
            found = f"{len(values)} values" if isinstance(values, list) else repr(values)
            raise fail(f"attributes.{key}", f"expected {size} values 0 or 1, found {found}")
        if order is not None:
            values = [values[i] for i in order]
        return tuple(value == 1 for value in values)

    def emotion_name(value: Any, field_name: str) -> str:
        if value not in _EMOTION_INDEX:
            raise fail(field_name, f"unknown emotion {value!r}; expected one of {', '.join(EMOTION_NAMES)}")
        return value

    if not isinstance(record, dict):
        raise fail("record", f"expected an object, found {type(record).__name__}")
    ytb_id = field("ytb_id")
    if not isinstance(ytb_id, str) or not ytb_id:
        raise fail("ytb_id", f"expected a YouTube id, found {ytb_id!r}")
    start_sec, end_sec = number("duration", "start_sec"), number("duration", "end_sec")
    if not start_sec < end_sec:
        raise fail("duration", f"start_sec {start_sec} must be before end_sec {end_sec}")
    bbox = BoundingBox(*(number("bbox", side) for side in BoundingBox._fields))
    for side, value in zip(BoundingBox._fields, bbox, strict=True):
        if not 0.0 <= value <= 1.0:
            raise fail(f"bbox.{side}", f"{value} is outside [0, 1]")
    if not (bbox.top < bbox.bottom and bbox.left < bbox.right):
        raise fail("bbox", f"empty box {dict(bbox._asdict())}: top < bottom and left < right expected")
    labels = field("attributes", "emotion", "labels")
    multi_emotion = field("attributes", "emotion", "sep_flag")
    if not isinstance(multi_emotion, bool):
        raise fail("attributes.emotion.sep_flag", f"expected true or false, found {multi_emotion!r}")
    if isinstance(labels, str):
        whole = emotion_name(labels, "attributes.emotion.labels")
        segments: tuple[EmotionSegment, ...] = (EmotionSegment(whole, 0.0, round(end_sec - start_sec, 2)),)
    elif isinstance(labels, list) and labels:
        parsed = []
        for index, segment in enumerate(labels):
            where = f"attributes.emotion.labels[{index}]"
            if not isinstance(segment, dict) or not {"emotion", "start_sec", "end_sec"} <= segment.keys():
                raise fail(where, f"expected {{emotion, start_sec, end_sec}}, found {segment!r}")
            times = (segment["start_sec"], segment["end_sec"])
            if any(isinstance(t, bool) or not isinstance(t, (int, float)) for t in times):
                raise fail(where, f"segment times must be numbers, found {times}")
            name = emotion_name(segment["emotion"], f"{where}.emotion")
            parsed.append(EmotionSegment(name, float(times[0]), float(times[1])))
        segments = tuple(parsed)
    else:
        raise fail("attributes.emotion.labels", f"expected an emotion or a list of segments, found {labels!r}")
    version = field("version")
    if not isinstance(version, str):
        raise fail("version", f"expected a string, found {version!r}")
    return ClipAnnotation(
        clip_id=clip_id,
        ytb_id=ytb_id,
        start_sec=start_sec,
        end_sec=end_sec,
        bbox=bbox,
        appearance=flags("appearance", len(APPEARANCE_NAMES), appearance_order),
        action=flags("action", len(ACTION_NAMES), action_order),
        emotion=dominant_emotion(segments),
        emotion_segments=segments,
        multi_emotion=multi_emotion,
        version=version,
    )


_BINARY = frozenset((0, 1))


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
    schema = features.arrow_schema
    return pa.Table.from_arrays(
        [pa.array(columns[name], schema.field(name).type) for name in schema.names], schema=schema
    )


@dataclasses.dataclass(frozen=True)
class VideoClips:
    """The clips of one YouTube video to write: each with its processed clip, or None to cut it from raw."""

    ytb_id: str
    raw_video: str | None
    clips: tuple[tuple[ClipAnnotation, str | None], ...]


def locate_videos(
    data_dir: Path, clips: Sequence[ClipAnnotation], skips: SkipLog, on_missing: str = "skip"
) -> list[VideoClips]:
    """Find each clip's video in the download folder, grouped by YouTube video in first-seen order.

    A processed clip `{clip_id}.mp4` (in processed/, 35666/, videos/ or the folder itself) wins over a
    raw video `raw/{ytb_id}.{mp4,mkv,webm}`. A clip with neither is skipped as missing (or an error).
    """
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
            reason = (
                f"missing: neither {RAW_VIDEO_FOLDER}/{clip.ytb_id}.{{mp4,mkv,webm}} nor a processed "
                f"{clip.clip_id}.mp4 in {data_dir}"
            )
            if on_missing == "error":
                raise CelebDatasetsError(f"clip {clip.clip_id} (YouTube video {clip.ytb_id}): {reason}")
            skips.record(clip.clip_id, clip.ytb_id, reason)
            continue
        grouped.setdefault(clip.ytb_id, []).append((clip, processed))
    return [VideoClips(ytb_id, raw_videos[ytb_id], tuple(group)) for ytb_id, group in grouped.items()]


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
        data = Path(processed).read_bytes()
        problem = video_problem(data, full_decode=config.media_check == "full")
        if problem is None:
            yield clip, data, "processed"
        else:
            skip_clip(config, skips, clip, f"unreadable: {processed}: {problem}")
    if not to_cut:
        return
    requests = [ClipRequest(c.clip_id, c.start_sec, c.end_sec, c.bbox) for c in to_cut.values()]
    for result in cut_clips(video.raw_video, requests, config.encoder_settings(), seek_gap_sec=config.seek_gap_sec):
        clip = to_cut[result.clip_id]
        if result.video is None:
            skip_clip(config, skips, clip, f"{result.skip_reason} ({video.raw_video})")
        else:
            yield clip, result.video, "raw"


def skip_clip(config: CelebVHQConfig, skips: SkipLog, clip: ClipAnnotation, reason: str) -> None:
    """Leave a clip out with its reason in the skip report, or stop the build under on_missing="error"."""
    if config.on_missing == "error":
        raise CelebDatasetsError(f"clip {clip.clip_id} (YouTube video {clip.ytb_id}): {reason}")
    skips.record(clip.clip_id, clip.ytb_id, reason)


def _file_names(folder: Path) -> frozenset[str]:
    try:
        return frozenset(os.listdir(folder))
    except FileNotFoundError:
        return frozenset()
