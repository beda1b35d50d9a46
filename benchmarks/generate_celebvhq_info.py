"""Generate a full-size `celebvhq_info.json` in the exact form of the release, for benchmarks.

The real annotation file cannot be shipped, but its size and shape drive the cost of parsing, building
and loading. This writes one with the same structure and proportions: one line written by `json.dump`
with default separators, `meta_info` then `clips`; clip ids `{ytb_id}_{k}` with 11-character YouTube
ids (letters, digits, `_` and `-`); about 2.6 clips per video; about 20% of clips with a timeline of
emotion segments whose times carry the float noise of the original (0.28000000000000114).

    python benchmarks/generate_celebvhq_info.py /tmp/celebvhq_full            # 35,666 clips
    python benchmarks/generate_celebvhq_info.py /tmp/small --clips 1000 --seed 3
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import string
from pathlib import Path
from typing import Any

from celebv_hq import ACTION_NAMES, ANNOTATION_FILE, APPEARANCE_NAMES, EMOTION_NAMES

_YOUTUBE_ID_CHARACTERS = string.ascii_letters + string.digits + "_-"
_MULTI_EMOTION_SHARE = 0.2
# Label rates roughly in the proportions of the real file: common traits set, rare ones not.
_COMMON_LABELS = {"young": 0.7, "no_beard": 0.75, "male": 0.5, "talk": 0.6, "smile": 0.25, "head_wagging": 0.2}
# Neutral and happy dominate the real emotion labels.
_EMOTION_WEIGHTS = (0.55, 0.2, 0.05, 0.07, 0.03, 0.03, 0.02, 0.05)


def write_full_size_annotation_file(path: str | Path, clips: int = 35666, seed: int = 0) -> Path:
    """Write a synthetic `celebvhq_info.json` with `clips` records to `path` (a file or a folder).

    The same `clips` and `seed` always give the same bytes. Returns the file written.
    """
    path = Path(path)
    if path.suffix != ".json":
        path = path / ANNOTATION_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    rates = {
        name: _COMMON_LABELS.get(name, round(rng.uniform(0.01, 0.3), 3)) for name in (*APPEARANCE_NAMES, *ACTION_NAMES)
    }
    records: list[tuple[str, dict[str, Any]]] = []
    used_ids: set[str] = set()
    while len(records) < clips:
        ytb_id = _new_youtube_id(rng, used_ids)
        # 1 + geometric with mean 1.6 gives ~2.6 clips per video, as 35,666 clips over 13,844 videos.
        count = 1
        while rng.random() < 1.6 / 2.6 and count < 40:
            count += 1
        clock = round(rng.uniform(0.0, 60.0), 2)
        for k in range(min(count, clips - len(records))):
            start = round(clock + rng.uniform(0.5, 30.0), 2)
            end = round(start + rng.uniform(1.35, 21.0), 2)
            clock = end
            records.append((f"{ytb_id}_{k}", _clip_record(rng, ytb_id, start, end, rates)))
    # The release lists clips in no particular order of video.
    rng.shuffle(records)
    document = {
        "meta_info": {"appearance_mapping": list(APPEARANCE_NAMES), "action_mapping": list(ACTION_NAMES)},
        "clips": dict(records),
    }
    with open(path, "w", encoding="utf-8") as output:
        json.dump(document, output)
    return path


def _new_youtube_id(rng: random.Random, used: set[str]) -> str:
    while True:
        candidate = "".join(rng.choice(_YOUTUBE_ID_CHARACTERS) for _ in range(11))
        if candidate not in used:
            used.add(candidate)
            return candidate


def _clip_record(rng: random.Random, ytb_id: str, start: float, end: float, rates: dict[str, float]) -> dict[str, Any]:
    top, left = round(rng.uniform(0.0, 0.2), 4), round(rng.uniform(0.0, 0.5), 4)
    bbox = {
        "top": top,
        "bottom": round(rng.uniform(top + 0.4, 1.0), 4),
        "left": left,
        "right": round(min(1.0, left + rng.uniform(0.3, 0.5)), 4),
    }
    emotion: dict[str, Any]
    if rng.random() < _MULTI_EMOTION_SHARE:
        emotion = {"sep_flag": True, "labels": _emotion_segments(rng, start, end)}
    else:
        emotion = {"sep_flag": False, "labels": _pick_emotion(rng)}
    return {
        "ytb_id": ytb_id,
        "duration": {"start_sec": start, "end_sec": end},
        "bbox": bbox,
        "attributes": {
            "appearance": [int(rng.random() < rates[name]) for name in APPEARANCE_NAMES],
            "action": [int(rng.random() < rates[name]) for name in ACTION_NAMES],
            "emotion": emotion,
        },
        "version": "v0.1",
    }


def _emotion_segments(rng: random.Random, start: float, end: float) -> list[dict[str, Any]]:
    """2 to 4 segments; times are absolute times minus the clip start, hence the float noise."""
    cuts = sorted(round(rng.uniform(start, end), 2) for _ in range(rng.randint(1, 3)))
    bounds = [start, *cuts, end]
    segments = []
    for index, (first, last) in enumerate(itertools.pairwise(bounds)):
        segment_start: float = 0 if index == 0 else first - start
        segments.append({"emotion": _pick_emotion(rng), "start_sec": segment_start, "end_sec": last - start})
    return segments


def _pick_emotion(rng: random.Random) -> str:
    return rng.choices(EMOTION_NAMES, weights=_EMOTION_WEIGHTS)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="the folder (or .json file) to write")
    parser.add_argument("--clips", type=int, default=35666, help="how many clips (default 35,666, the release)")
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    written = write_full_size_annotation_file(arguments.path, clips=arguments.clips, seed=arguments.seed)
    print(f"{written}: {arguments.clips:,} clips, {written.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
