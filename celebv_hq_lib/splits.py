"""Train, validation and test splits of CelebV-HQ by YouTube video, decided by a stable hash of the id.

CelebV-HQ has no official split. `video_split=80/10/10` (percentages of train/validation/test) puts each
YouTube video, with all of its clips, in one split chosen from its id alone: the id's BLAKE2b hash
(`split_of_video`) is a number in [0, 1); below the test share the video is in `test`, below test plus
validation in `validation`, else in `train`. So:

- the clips of one video are never on two sides (clips of one video show the same person);
- adding or losing videos (a download missing what YouTube took down) never moves another clip: a
  video's split depends on its id and the percentages only, never on which other videos are there;
- every engine, slice and machine gives the same split (the hash is not Python's `hash`, which changes
  between runs);
- `test` depends on the test percentage alone: changing the validation share never moves a test video.

The shares are of videos, in expectation; the clips per split follow them closely on the full release
(docs/celebv_hq.md gives the measured shares).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import NamedTuple, TypeVar

from celeb_datasets.errors import OptionError

SPLIT_NAMES = ("train", "validation", "test")
# Part of what is hashed: another dataset hashing the same ids this way gets an unrelated split.
_HASH_KEY = b"celebv-hq video split"
_HASH_BYTES = 8
_Item = TypeVar("_Item")


class VideoSplit(NamedTuple):
    """Percentages of YouTube videos in train, validation and test, written "80/10/10" (they sum to 100)."""

    train: int
    validation: int
    test: int

    TEXT_FORM = "TRAIN/VALIDATION/TEST whole percentages summing to 100 (e.g. 80/10/10)"
    METAVAR = "T/V/T"

    @classmethod
    def parse(cls, text: str) -> VideoSplit:
        """`"80/10/10"` as a VideoSplit; OptionError unless three whole percentages >= 0 sum to 100."""
        parts = str(text).split("/")
        try:
            numbers = [int(part) for part in parts]
        except ValueError:
            numbers = []
        if len(numbers) != 3 or min(numbers) < 0 or sum(numbers) != 100:
            raise OptionError(f"video_split: expected {cls.TEXT_FORM}, found {text!r}")
        return cls(*numbers)

    def __str__(self) -> str:
        return f"{self.train}/{self.validation}/{self.test}"

    @property
    def names(self) -> tuple[str, ...]:
        """The splits with a share above 0, in the order train, validation, test."""
        return tuple(name for name, share in zip(SPLIT_NAMES, self, strict=True) if share > 0)


def video_position(ytb_id: str) -> int:
    """Where a video falls in [0, 2**64): the first 8 bytes of the keyed BLAKE2b hash of its id."""
    digest = hashlib.blake2b(ytb_id.encode(), digest_size=_HASH_BYTES, key=_HASH_KEY).digest()
    return int.from_bytes(digest, "big")


def split_of_video(ytb_id: str, shares: VideoSplit) -> str:
    """The split ("train", "validation" or "test") of the YouTube video `ytb_id` under `shares`."""
    # Integer arithmetic: position / 2**64 < test / 100, without rounding at the boundaries.
    scaled = video_position(ytb_id) * 100
    whole = 1 << (8 * _HASH_BYTES)
    if scaled < shares.test * whole:
        return "test"
    if scaled < (shares.test + shares.validation) * whole:
        return "validation"
    return "train"


def by_split(
    items: Iterable[_Item], shares: VideoSplit | None, ytb_id_of: Callable[[_Item], str]
) -> dict[str, list[_Item]]:
    """`items` grouped by the split of their video, order kept within each; every split of `shares` is a
    key, even when it holds nothing. `shares` None: everything in "train"."""
    if shares is None:
        return {"train": list(items)}
    grouped: dict[str, list[_Item]] = {name: [] for name in shares.names}
    for item in items:
        grouped[split_of_video(ytb_id_of(item), shares)].append(item)
    return grouped
