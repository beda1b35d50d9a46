"""CelebV-HQ: 35,666 face video clips with 83 manual labels, as a typed Hugging Face dataset.

Build it from your own download (the annotation file, and the processed clips or the raw YouTube videos):

    >>> from celebv_hq import CelebVHQ
    >>> builder = CelebVHQ(config_name="annotations", data_dir="path/to/CelebV-HQ")
    >>> builder.download_and_prepare()
    >>> dataset = builder.as_dataset(split="train")

Configs: `annotations` (every label, no video) and `clips` (the same plus each clip's MP4, cut from the
raw videos, in one pass per work item of a video, when no processed clip is there).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Sequence
from operator import attrgetter
from pathlib import Path
from typing import Any, Literal

import datasets
import numpy as np
import pyarrow as pa
from datasets.builder import Key

from celeb_datasets.builder import CelebBuilder, CelebBuilderConfig, arrow_table
from celeb_datasets.errors import OptionError
from celeb_datasets.options import option, settings_from
from celeb_datasets.skips import SkipLog
from celebv_hq_lib.annotations import (
    ACTION_NAMES,
    APPEARANCE_NAMES,
    EMOTION_INDEX,
    EMOTION_NAMES,
    ClipAnnotation,
)
from celebv_hq_lib.clips import VideoClips, plan_clips, video_clips
from celebv_hq_lib.download import DownloadSettings
from celebv_hq_lib.layout import ANNOTATION_FILE, HOMEPAGE, RAW_VIDEO_FOLDER, clip_source_paths
from celebv_hq_lib.skip_kinds import RETRY_KINDS, SKIP_KINDS
from celebv_hq_lib.sources import refuse_raw_dir_as_download_target
from celebv_hq_lib.splits import VideoSplit, by_split
from celebv_hq_lib.video import BoundingBox, EncoderSettings
from celebv_hq_lib.work_items import DEFAULT_MAX_ITEM_COST

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

_HOMEPAGE = HOMEPAGE

_LICENSE = """\
Non-commercial research and educational use only. The videos belong to their YouTube owners; CelebV-HQ
does not own their copyright. Do not redistribute the data or use it for commercial purposes, and do
not use it to identify or harm the people it shows. See the terms on the homepage.
"""

KNOWN_DEFECTS = (
    "Emotion segment times carry float noise (0.28000000000000114) and are kept as in the source.",
    "Some emotion segments have a negative end, 119 are zero-length, some leave gaps, and the last "
    "often ends before the clip does. Rows are kept as annotated; `emotion` of a multi-segment clip is derived "
    "from them (the emotion covering the most time; a segment of no or negative length counts for nothing). "
    "The skip report lists each segment with a negative time, no length, or a time more than a second past the "
    "clip's end as `odd emotion segment` (the row is kept); gaps and an early last end are normal and not listed.",
    "A time that is not a finite number (NaN, Infinity) cannot be right: it is an error naming the clip and "
    "the field, not a row.",
    "347 clip pairs of one video overlap in time (mostly different people); about 7 are near "
    "duplicates; 3 pairs share video and times but differ in box.",
    "Hundreds of the YouTube videos are no longer available, so `clips` holds fewer rows than "
    "`annotations`; the skip report lists every clip left out and why.",
    "There is no official split and no identity label. Without the `video_split` option a config has one `train` "
    "split; `video_split=80/10/10` gives `train`, `validation` and `test` by YouTube video (percentages of the "
    "videos): a keyed BLAKE2b hash of each `ytb_id` decides its split, so a video's clips are never on two sides, "
    "and adding or losing videos never moves a clip from one split to another. The same person can still appear "
    "in several videos.",
)


# The 83 labels (APPEARANCE_NAMES, ACTION_NAMES, EMOTION_NAMES) are those of the annotation file: see
# celebv_hq_lib.annotations, which parses it.
# The skip report's columns (its kinds: celebv_hq_lib.skip_kinds).
SKIP_REPORT_COLUMNS = ("clip_id", "ytb_id", "kind", "reason")
# Rows with video are megabytes each: write them in small batches so memory and shards stay bounded.
VIDEO_WRITER_BATCH_SIZE = 16
ANNOTATION_TABLE_ROWS = 10_000


@dataclasses.dataclass
class CelebVHQConfig(CelebBuilderConfig, EncoderSettings, DownloadSettings):
    """A CelebV-HQ config: its own options below, how clips are encoded (EncoderSettings), how `fetch`
    downloads (DownloadSettings), and `on_missing`, `media_check` (CelebBuilderConfig). Every option is
    listed with its help by `celeb-datasets prepare celebv_hq --help`.

    A slice (`slice="I/N"`) holds a fixed share of the YouTube videos, balanced by clip seconds
    (celeb_datasets.slices)."""

    BUILT_IN_SLICES = True

    with_video: bool = option(False, "add each clip's MP4 (video) and where it came from (video_source)")
    seek_gap_sec: float = option(
        5.0, "cutting seeks past a gap between clips longer than this; shorter gaps are decoded", defines_rows=False
    )
    max_item_cost: float | None = option(
        DEFAULT_MAX_ITEM_COST,
        "split a video's clips to cut into work items of at most this many modelled core-seconds, each cut in one "
        "pass, so that no task bounds a cluster's time (none: one item per video; every engine cuts the same items)",
    )
    fetch: bool = option(False, "download a clip's raw video with yt-dlp when it is absent, right before cutting it")
    keep_raw: bool = option(
        True, "keep the raw videos a fetch build downloads (false: delete each once its clips are written)",
        defines_rows=False,
    )  # fmt: skip
    # Copies kept elsewhere, used in place: their files key the cache (source_paths), not their names.
    raw_dir: str | None = option(
        None, "also take raw videos {ytb_id}.{mp4,mkv,webm} from this folder, at any depth (a torrent or shared "
        "copy; only read: downloads go to DATA_DIR/raw)", defines_rows=False,
    )  # fmt: skip
    processed_dir: str | None = option(
        None, "also take processed clips {clip_id}.mp4 from this folder, at any depth (only read)", defines_rows=False
    )
    on_mismatch: Literal["skip", "keep"] = option(
        "skip", "a processed clip failing its checks (duration, square, size, audio, first frame) with no raw video "
        "to cut it from: skip it (listed with what it failed) or keep it as it is",
    )  # fmt: skip
    video_split: VideoSplit | None = option(
        None, "train/validation/test splits by YouTube video, percentages T/V/T of the videos (e.g. 80/10/10), "
        "decided by a hash of the video id; none: one train split",
    )  # fmt: skip

    def validate(self) -> None:
        super().validate()
        self.encoder_settings()  # validates crop, size, crf and preset together
        if self.seek_gap_sec < 0:
            raise OptionError(f"seek_gap_sec must be >= 0, not {self.seek_gap_sec}")
        if self.max_item_cost is not None and self.max_item_cost <= 0:
            raise OptionError(
                f"max_item_cost must be a positive number of core-seconds (or none), not {self.max_item_cost}"
            )
        if self.fetch:
            self.download_settings()
            refuse_raw_dir_as_download_target(self.data_dir, self.raw_dir)

    @property
    def stores_media(self) -> bool:
        return self.with_video

    def features(self) -> datasets.Features:
        return celebv_hq_features(self.with_video)

    def encoder_settings(self) -> EncoderSettings:
        return settings_from(EncoderSettings, self)

    def download_settings(self) -> DownloadSettings:
        return settings_from(DownloadSettings, self)


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
    "video_source": '"processed" when the release\'s own clip was used, "raw" when cut from the YouTube video, '
    '"recut" when cut from it because the processed clip failed its checks (the skip report says what failed).',
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
        # decode=False: rows give {"bytes", "path"} without torch; see docs/decoding.md.
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
    # Both configs have the release's 35,666 clips to hold (the card says how many an export holds).
    RELEASE_SIZES = {"annotations": {"train": 35_666}, "clips": {"train": 35_666}}

    SKIP_REPORT_COLUMNS = SKIP_REPORT_COLUMNS
    SKIP_KINDS = SKIP_KINDS
    RETRY_KINDS = RETRY_KINDS
    NO_ROWS_HINT = (
        f"Put processed clips in processed/{{clip_id}}.mp4 or raw videos in {RAW_VIDEO_FOLDER}/{{ytb_id}}.mp4"
    )
    MEDIA_WRITER_BATCH_SIZE = VIDEO_WRITER_BATCH_SIZE
    # The config `--sample` builds when none is named (the bundled sample has raw videos to cut).
    SAMPLE_CONFIG = "clips"

    @classmethod
    def source_paths(cls, config: CelebVHQConfig, data_dir: str | None) -> list[Path]:
        if data_dir is None:
            return []
        if config.with_video:
            copies = [config.raw_dir, config.processed_dir]
            return clip_source_paths(Path(data_dir), config.fetch) + [
                Path(folder).expanduser().absolute() for folder in copies if folder
            ]
        return [Path(data_dir) / ANNOTATION_FILE]

    @classmethod
    def slice_sources(cls, config: CelebVHQConfig, data_dir: str | None) -> list[Path]:
        # Slices hold YouTube videos assigned from the annotation file alone (celeb_datasets.slices).
        return [] if data_dir is None else [Path(data_dir) / ANNOTATION_FILE]

    def rebuilds_for_retries(self) -> bool:
        # With keep_raw=False the raw videos of the cached build are gone: building again would fetch
        # every video again, so the same command serves the cache and says how to retry instead.
        return self.config.keep_raw

    def retry_advice(self) -> str:
        if self.config.keep_raw:
            return "run the same command again to retry them (it builds again, cutting from the raw videos kept)"
        return (
            "the same command serves this build as it is; add --force to build again and retry them, which "
            "downloads every video again (keep_raw=false deleted them)"
        )

    def _split_generators(self, dl_manager: datasets.DownloadManager) -> list[datasets.SplitGenerator]:
        skips = self.skip_log(dl_manager)
        clips, videos = plan_clips(self.config, skips)
        self.expect_items([clip.clip_id for clip in clips])
        # Work items, each made into rows on its own (by any engine): a YouTube video's clips for `clips`,
        # tables of labels for `annotations`; each split (`video_split`) takes whole videos.
        split = self.config.video_split
        parts: dict[str, list[VideoClips]] | dict[str, list[tuple[ClipAnnotation, ...]]]
        if self.config.with_video:
            parts = by_split(videos, split, attrgetter("ytb_id"))
        else:
            clips_by_split = by_split(clips, split, attrgetter("ytb_id"))
            parts = {name: annotation_tables(part) for name, part in clips_by_split.items()}
        skip_folder = skips.folder and str(skips.folder)
        return [
            datasets.SplitGenerator(name=name, gen_kwargs={"items": items, "skip_folder": skip_folder})
            for name, items in parts.items()
        ]

    def _generate_tables(
        self, items: Sequence[VideoClips] | Sequence[tuple[ClipAnnotation, ...]], skip_folder: str | None = None
    ) -> Iterator[tuple[Key, pa.Table]]:
        features = self.info.features
        skips = SkipLog(skip_folder, SKIP_REPORT_COLUMNS)
        for index, item in enumerate(items):
            if isinstance(item, VideoClips):
                for row, table in enumerate(video_tables(item, self.config, features, skips)):
                    yield Key(index, row), table
            else:
                yield Key(index, 0), clips_table(item, features)


def annotation_tables(clips: Sequence[ClipAnnotation]) -> list[tuple[ClipAnnotation, ...]]:
    """The work items of `annotations`: the clips in runs of ANNOTATION_TABLE_ROWS, in order."""
    rows = ANNOTATION_TABLE_ROWS
    return [tuple(clips[first : first + rows]) for first in range(0, len(clips), rows)]


# ---------------------------------------------------------------------------------------------------
# Rows: the Arrow tables of the clips, in the schema of the config's features.


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
        "emotion": [EMOTION_INDEX[clip.emotion] for clip in clips],
        "emotion_segments": pa.ListArray.from_arrays(
            offsets,
            pa.StructArray.from_arrays(
                [
                    pa.array([EMOTION_INDEX[s.emotion] for s in segments], pa.int64()),
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


def video_tables(
    video: VideoClips, config: CelebVHQConfig, features: datasets.Features, skips: SkipLog
) -> Iterator[pa.Table]:
    """The rows (one Arrow table each) of one work item's clips; clips that cannot be had are skipped.

    This is the one place where a clip's video is read or cut and its row built: the builder and any
    other engine (Ray, slices) call it per work item (a YouTube video's clips, or a one-pass part of them).
    """
    for clip, video_bytes, source in video_clips(video, config, skips):
        extra = {"video": [{"bytes": video_bytes, "path": f"{clip.clip_id}.mp4"}], "video_source": [source]}
        yield clips_table([clip], features, extra)
