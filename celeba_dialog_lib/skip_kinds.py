"""The kinds of CelebA-Dialog skip-report lines: why an image is left out, or kept with values None.

Declared once here; the builder lists them (`CelebADialog.SKIP_KINDS`), the code that skips an image
names one, and docs/skip-reports.md is rendered from them.
"""

from __future__ import annotations

from celeb_datasets.skips import SkipKind

NO_IMAGE = SkipKind(
    "no image",
    keeps_row=False,
    meaning="A label file has rows for an image that is not among the images (e.g. a partial download).",
)
NO_SPLIT = SkipKind(
    "no split",
    keeps_row=False,
    meaning="The image is missing from the file that gives its split (the CelebA-HQ mapping or "
    "`list_eval_partition.txt`).",
)
UNREADABLE = SkipKind(
    "unreadable",
    keeps_row=False,
    meaning="The image file fails the image check (truncated, empty, or not a JPEG or PNG).",
)
NO_LABEL = SkipKind(
    "no label",
    keeps_row=True,
    meaning="The image has no row in a required label file, or unlabeled fine-grained values (listed as "
    "written); those values are None.",
)
NO_MASK = SkipKind(
    "no mask",
    keeps_row=True,
    meaning="A CelebA-HQ image has no colorized mask while the masks are there; its `mask` is None.",
)
UNREADABLE_MASK = SkipKind(
    "unreadable mask",
    keeps_row=True,
    meaning="A mask file fails the image check; that mask is None.",
)

UNEXPECTED_MASK = SkipKind(
    "unexpected mask",
    keeps_row=True,
    meaning="A mask file is whole but unlike CelebAMask-HQ's (another size or mode, or label values outside "
    "0..18); that mask is None.",
)

SKIP_KINDS = (NO_IMAGE, NO_SPLIT, UNREADABLE, NO_LABEL, NO_MASK, UNREADABLE_MASK, UNEXPECTED_MASK)
