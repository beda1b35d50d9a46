"""Deterministic slices of CelebV-HQ's YouTube videos, so any batch system can build the dataset in parts.

Slice I of N (`--slice I/N`, I from 0 to N-1, as a Slurm array task id) holds a fixed set of YouTube
videos: every job computes the same assignment from the annotation file alone (not from what was
downloaded), so N jobs anywhere cover every clip exactly once. Videos are balanced by the seconds of
clips they hold, not by their count: the longest first, each to the slice with the fewest seconds so
far, ties broken by a hash of the YouTube id and then the lowest slice number.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable
from typing import NamedTuple

from celeb_datasets.errors import OptionError


class Slice(NamedTuple):
    """Slice `index` (0-based) of `count`, written "I/N" (`--slice 3/16`); `Slice.parse` reads that text."""

    index: int
    count: int

    TEXT_FORM = "I/N with 0 <= I < N (e.g. 0/8 ... 7/8)"
    METAVAR = "I/N"

    @classmethod
    def parse(cls, text: str) -> Slice:
        """`"I/N"` as a Slice; OptionError unless 0 <= I < N. The one place a slice's text is read."""
        index, separator, count = str(text).partition("/")
        try:
            parsed = cls(int(index), int(count))
        except ValueError:
            parsed = None
        if not separator or parsed is None or not 0 <= parsed.index < parsed.count:
            raise OptionError(f"slice: expected {cls.TEXT_FORM}, found {text!r}")
        return parsed

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def assign_slices(seconds_by_video: Iterable[tuple[str, float]], count: int) -> dict[str, int]:
    """The slice of each video (by YouTube id), balanced by seconds of clips; the same for any input order.

    `seconds_by_video` gives each video's total clip seconds (a video named twice has its seconds added).
    """
    totals: dict[str, float] = {}
    for video, seconds in seconds_by_video:
        totals[video] = totals.get(video, 0.0) + seconds
    order = sorted(totals, key=lambda video: (-round(totals[video], 6), _stable_hash(video), video))
    loads = [(0.0, index) for index in range(count)]  # a heap of (seconds so far, slice)
    assignment = {}
    for video in order:
        load, index = heapq.heappop(loads)
        assignment[video] = index
        heapq.heappush(loads, (round(load + totals[video], 6), index))
    return assignment


def _stable_hash(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
