"""The files of a CelebA-Dialog download, by role, and finding them under the user's data folder.

A config reads a part's sources (`HQ_SOURCES` or `STANDARD_SOURCES`): each file or folder has a name,
the download it comes from and where it usually sits. They are found by name anywhere under the data
folder, on disk or inside zip archives (see `files`).
"""

from __future__ import annotations

import dataclasses
import logging
import os

from celeb_datasets.errors import MissingSourceError
from celeba_dialog_lib.files import DataFolder, SourceFile, SourceFolder

logger = logging.getLogger("celeb_datasets")

HOMEPAGE = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA/CelebA_Dialog.html"
CELEBA_HOMEPAGE = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"
_HQ_PART = f"the CelebA-Dialog CelebA-HQ download ({HOMEPAGE})"
_STANDARD_PART = f"the CelebA-Dialog CelebA download ({HOMEPAGE})"
_CELEBA_PART = f"the CelebA download ({CELEBA_HOMEPAGE})"
_CELEBAMASK_PART = "the CelebAMask-HQ download (https://github.com/switchablenorms/CelebAMask-HQ)"


@dataclasses.dataclass(frozen=True)
class SourceSpec:
    """One file or folder of the download: its name, where it comes from and where it usually sits."""

    name: str
    origin: str
    usual_place: str
    required: bool = True
    folder: bool = False


# What each part reads, by role. Requests come from the JSON, or from the TXT when the JSON is absent.
HQ_SOURCES = {
    "images": SourceSpec("image", _HQ_PART, "image.zip, holding image/0.jpg ... image/29999.jpg", folder=True),
    "fine_grained": SourceSpec("combined_annotation_hq.txt", _HQ_PART, "classification_label/"),
    "attributes": SourceSpec("CelebAMask-HQ-attribute-anno.txt", _HQ_PART, "classification_label/"),
    "captions": SourceSpec("captions_hq.json", _HQ_PART, "text/"),
    "mapping": SourceSpec("CelebA-HQ-to-CelebA-mapping.txt", _HQ_PART, "the top folder"),
    "partition": SourceSpec("list_eval_partition.txt", _CELEBA_PART, "Eval/ (it defines the derived split)"),
    "requests": SourceSpec("request_hq.json", _HQ_PART, "text/", required=False),
    "request_lines": SourceSpec("request_hq.txt", _HQ_PART, "text/", required=False),
    "request_annotations": SourceSpec("request_annotated_hq.json", _HQ_PART, "text/", required=False),
    "identities": SourceSpec("identity_CelebA-HQ.txt", _HQ_PART, "identity/", required=False),
    "celeba_identities": SourceSpec("identity_CelebA.txt", _CELEBA_PART, "Anno/", required=False),
    "masks": SourceSpec(
        "CelebAMask-HQ-mask-color-palette", _HQ_PART, "mask/CelebAMask-HQ-mask-color-palette.zip", False, True
    ),
    "part_masks": SourceSpec(
        "CelebAMask-HQ-mask-anno",
        _CELEBAMASK_PART,
        "CelebAMask-HQ-mask-anno/<k // 2000>/<k:05d>_<part>.png",
        False,
        True,
    ),
}
STANDARD_SOURCES = {
    "images": SourceSpec(
        "img_align_celeba", _CELEBA_PART, "img_align_celeba.zip, holding img_align_celeba/000001.jpg ...", folder=True
    ),
    "fine_grained": SourceSpec("combined_annotation.txt", _STANDARD_PART, "celeba_dialog/"),
    "attributes": SourceSpec("list_attr_celeba.txt", _CELEBA_PART, "Anno/"),
    "captions": SourceSpec("captions.json", _STANDARD_PART, "celeba_dialog/celeba_caption/"),
    "partition": SourceSpec("list_eval_partition.txt", _CELEBA_PART, "Eval/"),
    "requests": SourceSpec("request.json", _STANDARD_PART, "celeba_dialog/celeba_request/", required=False),
    "request_lines": SourceSpec("request.txt", _STANDARD_PART, "celeba_dialog/celeba_request/", required=False),
    "request_annotations": SourceSpec(
        "request_annotated.json", _STANDARD_PART, "celeba_dialog/celeba_request/", required=False
    ),
    "identities": SourceSpec("identity_CelebA.txt", _CELEBA_PART, "Anno/", required=False),
}
# Roles a config reads only when it stores images or masks.
IMAGE_ROLES = ("images",)
MASK_ROLES = ("masks", "part_masks")


def locate_sources(
    data_dir: str | os.PathLike[str] | None, sources: dict[str, SourceSpec], what: str = "CelebA-Dialog"
) -> dict[str, SourceFile | SourceFolder | None]:
    """Each source of `sources` found under `data_dir` (None for an optional one that is absent).

    A missing required source is an error saying what it is, where it comes from and where it belongs;
    missing optional ones are logged once, together. A damaged zip archive that might hold a source
    is an error naming it (see DataFolder).
    """
    if data_dir is None:
        raise MissingSourceError(
            f"CelebA-Dialog needs data_dir: the folder holding your download from {HOMEPAGE} "
            "(zipped or unzipped; files are found by name anywhere under it)"
        )
    download = DataFolder(data_dir)
    found: dict[str, SourceFile | SourceFolder | None] = dict.fromkeys(sources)
    # Folders first: a damaged `image.zip` is then named as what should hold the images, rather than
    # as an archive that could not be searched for some label file.
    for role, spec in sorted(sources.items(), key=lambda item: not item[1].folder):
        preferred = _FALLBACK_FOR.get(role)
        if preferred is not None and found.get(preferred) is not None:
            continue
        found[role] = download.find_folder(spec.name) if spec.folder else download.find_file(spec.name)
        if found[role] is None and spec.required:
            kind = "folder" if spec.folder else "file"
            raise MissingSourceError(
                f"the {kind} {spec.name} was not found anywhere under {download.root} (folders and zip "
                f"archives were searched). It is part of {spec.origin}, usually at {spec.usual_place}; "
                f"put it, zipped or not, anywhere under {download.root}"
            )
    absent = [spec.name for role, spec in sources.items() if found[role] is None and _still_missing(role, found)]
    if absent:
        logger.warning("%s: not found under %s, their values stay None: %s", what, download.root, ", ".join(absent))
    return found


def folder_of(found: dict[str, SourceFile | SourceFolder | None], role: str) -> SourceFolder | None:
    source = found.get(role)
    return source if isinstance(source, SourceFolder) else None


# Sources read only when the one they stand in for is absent (see read_part_labels), so only then looked for.
_FALLBACK_FOR = {"request_lines": "requests", "celeba_identities": "identities"}


def _still_missing(role: str, found: dict[str, SourceFile | SourceFolder | None]) -> bool:
    """Whether an absent optional source leaves values None (False when another source stands in for it)."""
    stand_ins = {
        "requests": ("request_lines", "request_annotations"),
        "request_lines": ("requests", "request_annotations"),
        "identities": ("celeba_identities",),
        "celeba_identities": ("identities",),
    }
    return not any(found.get(other) is not None for other in stand_ins.get(role, ()))
