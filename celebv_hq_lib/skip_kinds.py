"""The kinds of CelebV-HQ skip-report lines: why a clip is left out, or kept with a value listed.

Declared once here; the builder lists them (`CelebVHQ.SKIP_KINDS`), the code that skips a clip names
one, and docs/skip-reports.md is rendered from them.
"""

from __future__ import annotations

from celeb_datasets.skips import SkipKind

MISSING = SkipKind(
    "missing",
    keeps_row=False,
    meaning="The clip's video is neither a processed clip nor a raw video in the download folder (a YouTube "
    "video taken down, or a download that failed: the reason says whether for good or to be retried).",
)
UNREADABLE = SkipKind(
    "unreadable",
    keeps_row=False,
    meaning="The clip's video file cannot be opened or read on: not a video, no video stream, truncated, "
    "or a processed clip that fails the media check.",
)
CORRUPT = SkipKind(
    "corrupt",
    keeps_row=False,
    meaning="The raw video cannot be decoded (or the clip encoded) inside the clip's range; clips before "
    "and after the damage are still cut.",
)
RANGE_BEYOND_THE_VIDEO = SkipKind(
    "range beyond the video",
    keeps_row=False,
    meaning="The clip's times lie past the end of its raw video (an upload shorter than the annotated one).",
)
UNSUPPORTED = SkipKind(
    "unsupported",
    keeps_row=False,
    meaning="The raw video is shown rotated by an angle that is not a quarter turn.",
)
UNUSABLE_BOX = SkipKind(
    "unusable box",
    keeps_row=False,
    meaning="The clip's face box gives an empty crop on its video's frames.",
)
ODD_EMOTION_SEGMENT = SkipKind(
    "odd emotion segment",
    keeps_row=True,
    meaning="An emotion segment has a negative time, no length or a time past the clip's end; the row is "
    "kept as annotated.",
)

MISMATCHED = SkipKind(
    "mismatched",
    keeps_row=False,
    meaning="A processed clip does not match its annotation (its duration, square, size, audio or first frame: "
    "the reason lists what was measured and expected) and there is no raw video to cut it from; "
    "`on_mismatch=keep` stores such clips instead.",
)
RECUT = SkipKind(
    "recut",
    keeps_row=True,
    meaning="A processed clip failed its checks or could not be read, so the row's video was cut from the raw "
    'video instead (`video_source` "recut"); the reason says what the processed clip failed.',
)
KEPT_MISMATCHED = SkipKind(
    "kept mismatched",
    keeps_row=True,
    meaning="A processed clip does not match its annotation and there is no raw video: `on_mismatch=keep` "
    'stored it as it is (`video_source` "processed"); the reason says what it failed.',
)

TO_RETRY = SkipKind(
    "to retry",
    keeps_row=False,
    meaning="A fetch build could not download the clip's video for now (a network error, YouTube refusing "
    "the session): running the same build again retries it.",
)

SKIP_KINDS = (
    MISSING,
    TO_RETRY,
    UNREADABLE,
    CORRUPT,
    RANGE_BEYOND_THE_VIDEO,
    UNSUPPORTED,
    UNUSABLE_BOX,
    MISMATCHED,
    RECUT,
    KEPT_MISMATCHED,
    ODD_EMOTION_SEGMENT,
)
# Kinds whose clips a rerun of the same build may still get: a cached build holding some is built again.
RETRY_KINDS = (TO_RETRY,)
