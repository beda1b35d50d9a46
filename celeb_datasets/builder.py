"""What both builders share: the options every config has, and (as it grows) the builder base."""

from __future__ import annotations

import dataclasses
from typing import Literal

import datasets

from celeb_datasets.errors import OptionError


@dataclasses.dataclass
class CelebBuilderConfig(datasets.BuilderConfig):
    """Options every config of this package has.

    Args:
        on_missing: "skip" (default) leaves out an item (clip, image) whose media is missing or unusable
            and lists it with its reason in the skip report; "error" stops at the first one.
        media_check: how media are checked before they are stored: "fast" (default) reads their
            structure (every packet of a video demuxed, an image's markers and PIL's verify); "full"
            also decodes every frame and pixel, which is slower but finds damage inside the data.
    """

    on_missing: Literal["skip", "error"] = "skip"
    media_check: Literal["fast", "full"] = "fast"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.validate()

    def validate(self) -> None:
        """Refuse impossible options now rather than mid-build."""
        if self.on_missing not in ("skip", "error"):
            raise OptionError(f"on_missing must be 'skip' or 'error', not {self.on_missing!r}")
        if self.media_check not in ("fast", "full"):
            raise OptionError(f"media_check must be 'fast' or 'full', not {self.media_check!r}")
