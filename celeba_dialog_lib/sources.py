"""The files of a CelebA-Dialog download, by role, and finding them under the user's data folder.

A config reads a part's sources (`HQ_SOURCES` or `STANDARD_SOURCES`): each file or folder has a name,
the download it comes from and where it usually sits. They are found by name anywhere under the data
folder, on disk or inside zip archives (see `files`).

Images are found as whichever of the image releases (`IMAGE_RELEASES`) the part accepts, JPEG or PNG,
whatever the case of their names, in the release's folder or one folder level deeper, and in every copy
of that folder (an unzipped folder and the zip beside it): `locate_images` gives them all, best first.
A release other than the one the labels are for is an error saying which was found and which is needed.
"""

from __future__ import annotations

import dataclasses
import logging
import os

from celeb_datasets.errors import MissingSourceError, SourceFileError
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
    # For the images: the image releases (IMAGE_RELEASES) the labels accept, best first.
    releases: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class ImageRelease:
    """One of the image sets CelebA-HQ and CelebA come as: the folder its files are in, what it is, where to get it."""

    folder: str
    description: str
    where: str


IMAGE_RELEASES = {
    release.folder: release
    for release in (
        ImageRelease(
            "image",
            "CelebA-Dialog's CelebA-HQ images (1024x1024 JPEG, 0.jpg ... 29999.jpg)",
            f"image.zip from {_HQ_PART}",
        ),
        ImageRelease(
            "img_align_celeba",
            "CelebA's aligned and cropped images (178x218 JPEG, 000001.jpg ...)",
            f"Img/img_align_celeba.zip from {_CELEBA_PART}",
        ),
        ImageRelease(
            "img_align_celeba_png",
            "CelebA's aligned and cropped images as PNG (178x218, 000001.png ...)",
            f"Img/img_align_celeba_png.7z from {_CELEBA_PART}",
        ),
        ImageRelease(
            "img_celeba",
            "CelebA's in-the-wild images (not aligned nor cropped, in their original sizes)",
            f"Img/img_celeba.7z from {_CELEBA_PART}",
        ),
    )
}
# Image files, whatever the case of their suffix (`0.JPG` from some unpackers and Windows copies).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


# What each part reads, by role. Requests come from the JSON, or from the TXT when the JSON is absent.
HQ_SOURCES = {
    "images": SourceSpec(
        "image", _HQ_PART, "image.zip, holding image/0.jpg ... image/29999.jpg", folder=True, releases=("image",)
    ),
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
        "img_align_celeba",
        _CELEBA_PART,
        "img_align_celeba.zip, holding img_align_celeba/000001.jpg ... (or the PNG release, img_align_celeba_png)",
        folder=True,
        releases=("img_align_celeba", "img_align_celeba_png"),
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
) -> dict[str, SourceFile | SourceFolder | ImageFolders | None]:
    """Each source of `sources` found under `data_dir` (None for an optional one that is absent).

    The images (a source with `releases`) are an ImageFolders (see `locate_images`). A missing required
    source is an error saying what it is, where it comes from and where it belongs, and naming the
    archives that could not be searched; missing optional ones are logged once, together. A damaged zip
    archive that might hold a source is an error naming it (see DataFolder).
    """
    if data_dir is None:
        raise MissingSourceError(
            f"CelebA-Dialog needs data_dir: the folder holding your download from {HOMEPAGE} "
            "(zipped or unzipped; files are found by name anywhere under it)"
        )
    download = DataFolder(data_dir)
    found: dict[str, SourceFile | SourceFolder | ImageFolders | None] = dict.fromkeys(sources)
    # Folders first: a damaged `image.zip` is then named as what should hold the images, rather than
    # as an archive that could not be searched for some label file.
    for role, spec in sorted(sources.items(), key=lambda item: not item[1].folder):
        preferred = _FALLBACK_FOR.get(role)
        if preferred is not None and found.get(preferred) is not None:
            continue
        if spec.releases:
            found[role] = locate_images(download, spec, what)
        else:
            found[role] = download.find_folder(spec.name) if spec.folder else download.find_file(spec.name)
        if found[role] is None and spec.required:
            kind = "folder" if spec.folder else "file"
            unsearched = download.archives_to_extract()
            note = f"; not searched, as they must be extracted first: {'; '.join(map(str, unsearched))}"
            raise MissingSourceError(
                f"the {kind} {spec.name} was not found anywhere under {download.root} (folders and zip "
                f"archives were searched). It is part of {spec.origin}, usually at {spec.usual_place}; "
                f"put it, zipped or not, anywhere under {download.root}{note if unsearched else ''}"
            )
    absent = [spec.name for role, spec in sources.items() if found[role] is None and _still_missing(role, found)]
    if absent:
        logger.warning("%s: not found under %s, their values stay None: %s", what, download.root, ", ".join(absent))
    return found


@dataclasses.dataclass(frozen=True)
class ImageFolders:
    """Every copy found of a part's images, best first (on disk before archives), and the image files each holds.

    `files` are each folder's image file names (any of IMAGE_SUFFIXES, whatever their case).
    """

    release: ImageRelease
    folders: tuple[SourceFolder, ...]
    files: tuple[tuple[str, ...], ...]

    def __str__(self) -> str:
        if len(self.folders) == 1:
            return f"the image folder {self.folders[0]}"
        return f"the image folders {', '.join(map(str, self.folders))}"


def locate_images(download: DataFolder, spec: SourceSpec, what: str = "CelebA-Dialog") -> ImageFolders | None:
    """The copies of the first of `spec.releases` found under `download` that hold images; None if none is there.

    A copy is a folder named like the release (whatever its case) holding image files, or whose only
    subfolder holds them (`img_align_celeba/img_align_celeba/`, as `unzip -d` and Kaggle's copy leave
    it). Raises SourceFileError when the release is only in an archive that must be extracted first, or
    only as a folder without images; MissingSourceError, saying which was found and which is needed,
    when only another release is there (CelebA's in-the-wild images where the aligned ones are needed).
    """
    accepted = [IMAGE_RELEASES[name] for name in spec.releases]
    for release in accepted:
        copies = _image_copies(download, release.folder)
        if copies:
            images = ImageFolders(release, tuple(folder for folder, _ in copies), tuple(files for _, files in copies))
            _log_unread_copies(download, images, accepted, what)
            return images
    for release in accepted:
        download.refuse_archives_to_extract(release.folder)
    needed = accepted[0]
    for release in IMAGE_RELEASES.values():
        if release in accepted:
            continue
        copies = _image_copies(download, release.folder)
        archives = [archive for archive in download.archives_to_extract() if _names(archive.folder, release.folder)]
        if copies or archives:
            where = copies[0][0] if copies else archives[0].path
            raise MissingSourceError(
                f"{what}: found {release.description} at {where}, but its labels are for {needed.description}: "
                f"get {needed.where} and put it, zipped or not, anywhere under {download.root}"
            )
    for release in accepted:
        folders = download.find_folders(release.folder)
        if folders:
            raise SourceFileError(
                f"{folders[0]}: holds no image file ({', '.join(IMAGE_SUFFIXES)}){_contents(folders[0])}; "
                f"it should hold {release.description}, from {release.where}"
            )
    return None


def is_image_file(name: str) -> bool:
    """Whether a file name is an image's (.jpg, .jpeg or .png, whatever the case)."""
    return name.lower().endswith(IMAGE_SUFFIXES)


def _image_copies(download: DataFolder, name: str) -> list[tuple[SourceFolder, tuple[str, ...]]]:
    """Each folder called `name` that holds image files (itself or its only subfolder), with those files."""
    copies: dict[SourceFolder, tuple[str, ...]] = {}
    for folder in download.find_folders(name):
        files = tuple(file for file in folder.list_files() if is_image_file(file))
        if not files:
            subfolders = folder.list_folders()
            if len(subfolders) != 1:
                continue
            folder = folder.subfolder(subfolders[0])
            files = tuple(file for file in folder.list_files() if is_image_file(file))
        if files and folder not in copies:
            copies[folder] = files
    return list(copies.items())


def _log_unread_copies(download: DataFolder, images: ImageFolders, accepted: list[ImageRelease], what: str) -> None:
    """Say which other accepted releases are there but not read, and warn of archives of the images left unread."""
    for release in accepted:
        if release != images.release and _image_copies(download, release.folder):
            logger.info("%s: reading %s; %s is there too and is not read", what, images, release.description)
    for archive in download.archives_to_extract():
        if any(_names(archive.folder, release.folder) for release in accepted):
            logger.warning(
                "%s: %s may hold more images but is not read: %s. The images are read from %s",
                what,
                archive.path,
                archive,
                images,
            )


def _names(found: str, expected: str) -> bool:
    return found.casefold() == expected.casefold()


def _contents(folder: SourceFolder) -> str:
    """What a folder holds instead of images, briefly (its first files and subfolders)."""
    files, subfolders = folder.list_files(), folder.list_folders()
    if not files and not subfolders:
        return ": it is empty"
    held = [f"{len(files):,} file(s) such as {files[0]}"] if files else []
    held += [f"{len(subfolders):,} subfolder(s) such as {subfolders[0]}/"] if subfolders else []
    return f": it holds {' and '.join(held)}"


def folder_of(found: dict[str, SourceFile | SourceFolder | ImageFolders | None], role: str) -> SourceFolder | None:
    source = found.get(role)
    return source if isinstance(source, SourceFolder) else None


# Sources read only when the one they stand in for is absent (see read_part_labels), so only then looked for.
_FALLBACK_FOR = {"request_lines": "requests", "celeba_identities": "identities"}


def _still_missing(role: str, found: dict[str, SourceFile | SourceFolder | ImageFolders | None]) -> bool:
    """Whether an absent optional source leaves values None (False when another source stands in for it)."""
    stand_ins = {
        "requests": ("request_lines", "request_annotations"),
        "request_lines": ("requests", "request_annotations"),
        "identities": ("celeba_identities",),
        "celeba_identities": ("identities",),
    }
    return not any(found.get(other) is not None for other in stand_ins.get(role, ()))
