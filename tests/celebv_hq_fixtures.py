"""Factories for CelebV-HQ download folders in the real file forms."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import celebv_hq
from celebv_hq import CelebVHQ
from celebv_hq_lib.sample import sample_annotation_file, write_indexed_video


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
    """A CelebV-HQ download of the 6 bundled real records; with tiny processed clips when asked.

    Each processed clip `{clip_id}.mp4` is 5 frames of 64x64 whose frame k shows index k.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "celebvhq_info.json").write_bytes(sample_annotation_file().read_bytes())
    if with_videos:
        for clip_id in json.loads(sample_annotation_file().read_text())["clips"]:
            write_indexed_video(
                folder / "processed" / f"{clip_id}.mp4", duration_sec=0.5, width=64, height=64, fps=10, audio_rate=None
            )
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
