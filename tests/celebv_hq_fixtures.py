"""Factories for CelebV-HQ download folders in the real file forms."""

from __future__ import annotations

import atexit
import copy
import dataclasses
import functools
import json
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from video_fixtures import remux

import celebv_hq
from celebv_hq import CelebVHQ
from celebv_hq_lib.sample import make_celebv_hq_sample, sample_annotation_file, write_indexed_video
from celebv_hq_lib.video import BoundingBox, ClipRequest, EncoderSettings, cut_clips


def sample_document() -> dict[str, Any]:
    """The bundled 6 real records, as the parsed JSON document."""
    return json.loads(sample_annotation_file().read_text())


def make_record(
    ytb_id: str,
    start_sec: float,
    end_sec: float,
    *,
    bbox: tuple[float, float, float, float] = (0.0, 0.8, 0.3, 0.7),
    emotion: str | list[dict[str, Any]] = "neutral",
    appearance: list[int] | None = None,
    action: list[int] | None = None,
) -> dict[str, Any]:
    """One record of `celebvhq_info.json` with the real keys and value types."""
    top, bottom, left, right = bbox
    return {
        "ytb_id": ytb_id,
        "duration": {"start_sec": start_sec, "end_sec": end_sec},
        "bbox": {"top": top, "bottom": bottom, "left": left, "right": right},
        "attributes": {
            "appearance": appearance if appearance is not None else [0] * 40,
            "action": action if action is not None else [0] * 35,
            "emotion": {"sep_flag": not isinstance(emotion, str), "labels": emotion},
        },
        "version": "v0.1",
    }


def write_annotation_file(folder: Path, clips: dict[str, Any], meta_key: str = "meta_info") -> Path:
    """Write `celebvhq_info.json` as the release does: json.dump, default separators, one line."""
    folder.mkdir(parents=True, exist_ok=True)
    document = {
        meta_key: {
            "appearance_mapping": list(celebv_hq.APPEARANCE_NAMES),
            "action_mapping": list(celebv_hq.ACTION_NAMES),
        },
        "clips": clips,
    }
    path = folder / "celebvhq_info.json"
    with open(path, "w") as out:
        json.dump(document, out)
    return path


def sample_clips() -> dict[str, Any]:
    """A deep copy of the 6 real records, free to modify."""
    return copy.deepcopy(sample_document()["clips"])


def write_sample_download(folder: Path, with_videos: bool = False) -> Path:
    """A CelebV-HQ download of the 6 bundled real records; with processed clips when asked.

    Each processed clip `{clip_id}.mp4` is as the release's are (512x512, its annotated duration, with
    audio), at 5 frames a second to stay small; its frame k shows index k.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "celebvhq_info.json").write_bytes(sample_annotation_file().read_bytes())
    if with_videos:
        (folder / "processed").mkdir(exist_ok=True)
        for clip in sample_processed_clips().iterdir():
            shutil.copyfile(clip, folder / "processed" / clip.name)
    return folder


def add_overlapping_clip(download: Path) -> str:
    """Add a clip overlapping M2Ohb0FAaJU_1, with another box, to a `make_celebv_hq_sample` download; its id.

    Both clips are then cut from the frames of one decoding pass: a byte-exact comparison of two builds
    covers clips that share decoded frames. The raw video already reaches past the new clip's end.
    """
    path = download / "celebvhq_info.json"
    document = json.loads(path.read_text())
    document["clips"]["M2Ohb0FAaJU_2"] = make_record("M2Ohb0FAaJU", 83.5, 86.9, bbox=(0.05, 0.95, 0.45, 0.95))
    path.write_text(json.dumps(document))
    return "M2Ohb0FAaJU_2"


@functools.cache
def sample_processed_clips() -> Path:
    """A folder of the 6 sample records' processed clips, written once per test session and copied from."""
    folder = Path(tempfile.mkdtemp(prefix="celebv-hq-processed-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    for clip_id, record in sample_document()["clips"].items():
        duration = record["duration"]["end_sec"] - record["duration"]["start_sec"]
        write_processed_clip(folder / f"{clip_id}.mp4", duration)
    return folder


def write_processed_clip(
    path: Path, duration_sec: float, *, side: int = 512, width: int | None = None, audio: bool = True
) -> Path:
    """A processed clip as the release has them (square, `side` pixels, with audio), at 5 frames a second;
    `width` makes it not square, `audio=False` silent (defects community copies have)."""
    return write_indexed_video(
        path, duration_sec=duration_sec, width=width or side, height=side, fps=5, audio_rate=8000 if audio else None
    )


def prepared_builder(folder: Path, config: str) -> CelebVHQ:
    """A CelebV-HQ builder of `config` prepared from the sample download in `folder` (made if absent)."""
    data_dir = folder / "download"
    if not (data_dir / "celebvhq_info.json").exists() or (config == "clips" and not (data_dir / "processed").exists()):
        write_sample_download(data_dir, with_videos=config == "clips")
    builder = CelebVHQ(config_name=config, data_dir=str(data_dir), cache_dir=str(folder / "cache"))
    builder.download_and_prepare()
    return builder


def unique_repo_id(stem: str) -> str:
    """A repo id no other test uses on the session's loopback Hub."""
    return f"test-org/{stem}-{uuid.uuid4().hex[:8]}"


# A copy with the defects users of community copies report, and what each clip has (tests of verify and
# of the checks in the clips build).
DEFECTIVE_COPY_RAW_SIZE = (640, 360)
DEFECTIVE_COPY_CLIPS = {
    # clip id: (ytb_id, start, end, box, what the processed clip is)
    "aaaaaaaaaaa_0": ("aaaaaaaaaaa", 1.0, 3.0, (0.0, 0.8, 0.3, 0.7), "good"),
    "aaaaaaaaaaa_1": ("aaaaaaaaaaa", 3.4, 5.2, (0.0, 0.8, 0.3, 0.7), "whole seconds"),  # cut from 3 to 5 s
    "aaaaaaaaaaa_2": ("aaaaaaaaaaa", 5.0, 7.0, (0.0, 0.8, 0.3, 0.7), "uncropped"),
    "aaaaaaaaaaa_3": ("aaaaaaaaaaa", 7.0, 8.5, (0.0, 0.8, 0.3, 0.7), "not centred"),
    "aaaaaaaaaaa_4": ("aaaaaaaaaaa", 1.5, 2.5, (0.1, 0.9, 0.2, 0.6), "no audio"),
    "aaaaaaaaaaa_5": ("aaaaaaaaaaa", 8.0, 9.0, (0.0, 0.8, 0.3, 0.7), "truncated"),
    "aaaaaaaaaaa_6": ("aaaaaaaaaaa", 2.0, 3.0, (0.0, 0.8, 0.3, 0.7), "small"),
    "bbbbbbbbbbb_0": ("bbbbbbbbbbb", 0.0, 2.0, (0.0, 0.8, 0.3, 0.7), "good"),  # no raw video
    "bbbbbbbbbbb_1": ("bbbbbbbbbbb", 2.0, 4.0, (0.0, 0.8, 0.3, 0.7), "no audio"),  # no raw video
    "ccccccccccc_0": ("ccccccccccc", 1.0, 2.0, (0.0, 0.8, 0.3, 0.7), None),  # raw video only
    "ccccccccccc_1": ("ccccccccccc", 2.5, 5.0, (0.0, 0.8, 0.3, 0.7), None),  # past the end of its 3 s raw video
    "ddddddddddd_0": ("ddddddddddd", 0.0, 1.0, (0.0, 0.8, 0.3, 0.7), None),  # no video at all
}


def write_defective_copy(folder: Path) -> Path:
    """A download folder with raw videos in raw/ and the processed clips of DEFECTIVE_COPY_CLIPS in processed/
    (made once per test session, then copied). Returns the folder."""
    shutil.copytree(defective_copy_template(), folder, dirs_exist_ok=True)
    return folder


@functools.cache
def defective_copy_template() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="celebv-hq-defective-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    records = {
        clip_id: make_record(ytb_id, start, end, bbox=box)
        for clip_id, (ytb_id, start, end, box, _) in DEFECTIVE_COPY_CLIPS.items()
    }
    write_annotation_file(folder, records)
    width, height = DEFECTIVE_COPY_RAW_SIZE
    raw = write_indexed_video(folder / "raw" / "aaaaaaaaaaa.mp4", duration_sec=10, width=width, height=height)
    write_indexed_video(folder / "raw" / "ccccccccccc.mp4", duration_sec=3, width=width, height=height)
    processed = folder / "processed"
    processed.mkdir()
    as_released = EncoderSettings(size=512, preset="ultrafast")
    for clip_id, (ytb_id, start, end, box, kind) in DEFECTIVE_COPY_CLIPS.items():
        path = processed / f"{clip_id}.mp4"
        if kind is None:
            continue
        if ytb_id == "bbbbbbbbbbb":
            write_processed_clip(path, end - start, audio=kind != "no audio")
            continue
        request, settings = ClipRequest(clip_id, start, end, BoundingBox(*box)), as_released
        if kind == "whole seconds":
            request = dataclasses.replace(request, start_sec=3.0, end_sec=5.0)
        elif kind == "uncropped":
            request, settings = dataclasses.replace(request, box=None), EncoderSettings(preset="ultrafast")
        elif kind == "not centred":
            request = dataclasses.replace(request, box=BoundingBox(0.0, 0.8, 0.34, 0.74))
        elif kind == "small":
            settings = EncoderSettings(size=256, preset="ultrafast")
        (result,) = cut_clips(str(raw), [request], settings)
        assert result.video is not None, result.skip_reason
        path.write_bytes(result.video)
        if kind == "no audio":
            remux(path, path.with_suffix(".tmp.mp4"), "-an").replace(path)
        elif kind == "truncated":
            path.write_bytes(result.video[: len(result.video) // 2])
    return folder


def copy_of_the_sample(folder: Path, **size: int) -> Path:
    """The bundled sample in the new folder `folder`, as `make_celebv_hq_sample(folder, **size)` lays it out
    (its marker included, so `--sample folder` takes it as laid out): made once per test session and size,
    then copied, since generating its long raw videos takes seconds."""
    shutil.copytree(_sample_template(tuple(sorted(size.items()))), folder)
    return folder


@functools.cache
def _sample_template(size: tuple[tuple[str, int], ...]) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="celebv-hq-sample-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return make_celebv_hq_sample(folder / "sample", **dict(size))
