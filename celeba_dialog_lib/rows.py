"""Joining a CelebA-Dialog part's label files by image name into rows, and reading each row's media.

Every image the sources name ends as a row or a skip-report line: `join_rows` reports label rows without
an image and images without a split (left out), and images missing some label (kept with None values);
`read_media` reads and checks each row's image and masks. An image found in several copies of its folder
(an unzipped folder and its zip) is read from the first copy where it is whole (`image_files`).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any, Literal, Protocol

from celeb_datasets.errors import SourceFileError, UnreadableMediaError
from celeb_datasets.skips import SkipKind, SkipLog
from celeba_dialog_lib.files import FolderReaders, SourceFile, SourceFolder
from celeba_dialog_lib.images import CANNOT_BE_DECODED, colorized_mask_problem, image_problem, part_mask_problem
from celeba_dialog_lib.labels import FINE_GRAINED_COLUMNS, MASK_PART_NAMES
from celeba_dialog_lib.parsers import (
    Captions,
    CelebAFile,
    RequestAnnotation,
    index_masks,
    index_part_masks,
    parse_attributes,
    parse_captions,
    parse_fine_grained,
    parse_hq_mapping,
    parse_identities,
    parse_partition,
    parse_request_annotations,
    parse_request_lines,
    parse_requests,
    whole_number,
)
from celeba_dialog_lib.skip_kinds import (
    NO_IMAGE,
    NO_LABEL,
    NO_MASK,
    NO_SPLIT,
    UNEXPECTED_MASK,
    UNREADABLE,
    UNREADABLE_MASK,
)
from celeba_dialog_lib.sources import IMAGE_SUFFIXES, ImageFolders

logger = logging.getLogger("celeb_datasets")

# An image file: the folder it is in and its name there.
ImageFile = tuple[SourceFolder, str]


class MediaOptions(Protocol):
    """The options of a build that decide how media are read (every CelebA-Dialog config has them)."""

    with_images: bool
    with_masks: bool
    media_check: Literal["fast", "full"]
    on_missing: Literal["skip", "error"]


@dataclasses.dataclass
class PartLabels:
    """The label files of one part, parsed and keyed by image file name (None: optional file absent)."""

    sources: dict[str, str]
    fine_grained: dict[str, tuple[int | None, ...]]
    attributes: dict[str, tuple[bool, ...]]
    captions: dict[str, Captions]
    splits: dict[str, str]
    split_source: str
    celeba_files: dict[str, CelebAFile] | None = None
    identities: dict[str, int] | None = None
    requests: dict[str, str | None] | None = None
    request_annotations: dict[str, RequestAnnotation] | None = None
    masks: dict[str, str] | None = None
    part_masks: dict[str, tuple[tuple[str, str], ...]] | None = None
    # The fine-grained values, as written, of rows that leave some degrees unlabeled.
    unlabeled: dict[str, str] = dataclasses.field(default_factory=dict)


def read_part_labels(found: Mapping[str, SourceFile | SourceFolder | ImageFolders | None], part: str) -> PartLabels:
    """Parse every label source found for `part` ("hq" or "standard")."""

    def parsed(role: str, parse: Any) -> Any:
        source = found.get(role)
        return None if source is None else parse(source.read_text(), str(source))  # type: ignore[union-attr]

    partition = parsed("partition", parse_partition)
    celeba_identities = parsed("celeba_identities", parse_identities)
    requests = parsed("requests", parse_requests)
    if requests is None:
        requests = parsed("request_lines", parse_request_lines)
    fine_grained = parsed("fine_grained", parse_fine_grained)
    labels = PartLabels(
        sources={role: str(source) for role, source in found.items() if source is not None},
        fine_grained=fine_grained.degrees,
        unlabeled=fine_grained.unlabeled,
        attributes=parsed("attributes", parse_attributes),
        captions=parsed("captions", parse_captions),
        splits=partition,
        split_source=_file_name(str(found["partition"])),
        identities=parsed("identities", parse_identities),
        requests=requests,
        request_annotations=parsed("request_annotations", parse_request_annotations),
    )
    if part == "hq":
        labels.celeba_files = parsed("mapping", parse_hq_mapping)
        labels.splits = derive_hq_splits(labels.celeba_files, partition)
        labels.split_source = f"{_file_name(str(found['mapping']))} and {labels.split_source}"
        if labels.identities is None and celeba_identities is not None:
            labels.identities = {
                name: celeba_identities[origin.file]
                for name, origin in labels.celeba_files.items()
                if origin.file in celeba_identities
            }
    masks, part_masks = found.get("masks"), found.get("part_masks")
    if isinstance(masks, SourceFolder):
        refuse_folders_named_like_files(masks, ".png")
        labels.masks = index_masks(masks.list_files(), str(masks))
    if isinstance(part_masks, SourceFolder):
        labels.part_masks = index_part_masks(part_masks.list_files(recursive=True), str(part_masks))
    return labels


def image_files(images: ImageFolders, part: str, what: str = "CelebA-Dialog") -> dict[str, tuple[ImageFile, ...]]:
    """Each image's files in the copies of `images`, best copy first, keyed by its name in the labels, in image order.

    A file is named in the labels by its stem and `.jpg`, whatever its suffix and case (`0.JPG`,
    `000001.png` are `0.jpg`, `000001.jpg`); a folder holding two files for one image (`0.jpg`, `0.png`)
    gives the JPEG, with a warning. HQ names are checked to be 0-based. Logs which copies the images are
    read from, and warns of a copy holding fewer images than another (an interrupted unzip).
    """
    found: dict[str, list[ImageFile]] = {}
    for folder, files in zip(images.folders, images.files, strict=True):
        refuse_folders_named_like_files(folder, IMAGE_SUFFIXES)
        for image_id, file in _files_by_image(folder, files).items():
            found.setdefault(image_id, []).append((folder, file))
    image_ids = sorted(found, key=image_order)
    if part == "hq":
        check_hq_image_names(image_ids, str(images))
    _log_image_copies(found, images, what)
    return {image_id: tuple(found[image_id]) for image_id in image_ids}


def _files_by_image(folder: SourceFolder, files: Sequence[str]) -> dict[str, str]:
    """The image file of each image name (`0.jpg`) in one folder; of several files for one image, the JPEG."""
    by_image: dict[str, list[str]] = {}
    for file in files:
        by_image.setdefault(f"{file.rsplit('.', 1)[0]}.jpg", []).append(file)
    several = [choices for choices in by_image.values() if len(choices) > 1]
    if several:
        logger.warning(
            "%s: %d image(s) have several files (e.g. %s): the JPEG is read",
            folder,
            len(several),
            " and ".join(several[0]),
        )
    return {image_id: min(choices, key=_suffix_preference) for image_id, choices in by_image.items()}


def _suffix_preference(file: str) -> tuple[int, bool, str]:
    suffix = "." + file.rsplit(".", 1)[-1]
    return IMAGE_SUFFIXES.index(suffix.lower()), suffix != suffix.lower(), file


def _log_image_copies(found: Mapping[str, Sequence[ImageFile]], images: ImageFolders, what: str) -> None:
    """Say where the images are read from, and warn of a copy that holds fewer images than another."""
    read_from = Counter(files[0][0] for files in found.values())
    counts = Counter(folder for files in found.values() for folder, _ in files)
    fullest = max(images.folders, key=lambda folder: counts[folder])
    logger.info(
        "%s: %s images found (%s); read from %s",
        what,
        f"{len(found):,}",
        images.release.description,
        ", ".join(f"{folder} ({read_from[folder]:,})" for folder in images.folders if read_from[folder]),
    )
    for folder in images.folders:
        if counts[folder] < counts[fullest]:
            logger.warning(
                "%s: %s holds %s of the %s images of %s (an interrupted unzip or copy?): the images it lacks "
                "are read from the other copies",
                what,
                folder,
                f"{counts[folder]:,}",
                f"{counts[fullest]:,}",
                fullest,
            )
    renamed = {image_id: files[0][1] for image_id, files in found.items() if files[0][1] != image_id}
    if renamed:
        image_id, file = next(iter(renamed.items()))
        logger.info(
            "%s: %s image files are not named as in the labels (e.g. %s for %s): each is stored as it is, "
            "under its name in the labels in image_id",
            what,
            f"{len(renamed):,}",
            file,
            image_id,
        )


def refuse_folders_named_like_files(folder: SourceFolder, suffixes: str | tuple[str, ...]) -> None:
    """Refuse a subfolder named like the folder's files (`12.jpg/`): its image would silently go missing."""
    misnamed = [name for name in folder.list_folders() if name.lower().endswith(suffixes)]
    if misnamed:
        suffix = "." + misnamed[0].rsplit(".", 1)[-1]
        raise SourceFileError(
            f"{folder}/{misnamed[0]}: a folder, where a {suffix} file was expected "
            f"({len(misnamed)} such folder(s) in {folder}); put the file itself there"
        )


def check_hq_image_names(names: Sequence[str], source: str) -> None:
    """Refuse 1-based CelebA-HQ names (00001.jpg ...): CelebA-Dialog numbers its HQ images from 0.jpg."""
    stems = {name.rsplit(".", 1)[0] for name in names}
    padded = sorted(stem for stem in stems if whole_number(stem) and len(stem) > 1 and stem.startswith("0"))
    one_based = "0" not in stems and str(len(stems)) in stems
    if padded or one_based:
        example = f"{padded[0]}.jpg" if padded else f"{len(stems)}.jpg"
        raise SourceFileError(
            f"{source}: found {example}, a 1-based CelebA-HQ file name; CelebA-Dialog's labels use 0-based "
            "names without padding (0.jpg ... 29999.jpg, in image.zip from the CelebA-Dialog download). "
            "Use that image.zip: renaming a 1-based copy risks an off-by-one dataset"
        )


def image_order(name: str) -> tuple[int, str]:
    """Sort key of image file names: by number (0.jpg, 1.jpg, ..., 10.jpg), then by name."""
    stem = name.rsplit(".", 1)[0]
    return (int(stem), name) if whole_number(stem) else (-1, name)


@dataclasses.dataclass(frozen=True)
class ImageRow:
    """One image with its labels joined from every source file; None where a source has nothing for it."""

    image_id: str
    split: str
    fine_grained: tuple[int | None, ...] | None
    attributes: tuple[bool, ...] | None
    captions: Captions | None
    celeba_file: CelebAFile | None = None
    identity: int | None = None
    request: str | None = None
    request_annotation: RequestAnnotation | None = None
    mask: str | None = None
    part_masks: tuple[tuple[str, str], ...] = ()
    # The image's file in each copy of the image folder that holds it, best first.
    image_files: tuple[ImageFile, ...] = ()


@dataclasses.dataclass(frozen=True)
class ImageShard:
    """A work item: rows made on their own (by one writer job or engine task), each knowing its image files,
    and the folders their masks are read from."""

    rows: tuple[ImageRow, ...]
    masks: SourceFolder | None = None
    part_masks: SourceFolder | None = None


def named_images(image_ids: Sequence[str], labels: PartLabels) -> list[str]:
    """Every image the sources name: the images found and every image a label file has a row for."""
    named = dict.fromkeys(image_ids)
    for rows in (
        labels.fine_grained,
        labels.attributes,
        labels.captions,
        labels.celeba_files,
        labels.identities,
        labels.requests,
        labels.request_annotations,
    ):
        named.update(dict.fromkeys(rows or ()))
    return list(named)


def join_rows(
    image_ids: Sequence[str],
    universe: str,
    labels: PartLabels,
    skips: SkipLog,
    files: Mapping[str, tuple[ImageFile, ...]] | None = None,
) -> list[ImageRow]:
    """Join the labels of each image by file name (and its image `files`, if given); report what does not line up.

    An image with no split is left out ("no split"), and so is a label row whose image is not among
    `image_ids` ("no image"; `universe` says where the images were listed). An image missing from a
    required label file, or with unlabeled fine-grained values, is kept with None values ("no label"),
    and one without a colorized mask while the masks are there is kept too ("no mask").
    """
    report_rows_without_image(image_ids, universe, labels, skips)
    joined = []
    for name in image_ids:
        split = labels.splits.get(name)
        if split is None:
            skips.record(name, kind=NO_SPLIT, reason=f"no split: not found through {labels.split_source}")
            continue
        report_missing_labels(name, labels, skips)
        joined.append(image_row(name, split, labels, (files or {}).get(name, ())))
    return joined


def report_rows_without_image(image_ids: Sequence[str], universe: str, labels: PartLabels, skips: SkipLog) -> None:
    """Record each image that has label rows but is not among `image_ids`, naming the files with rows."""
    known = set(image_ids)
    by_role = {
        "fine_grained": labels.fine_grained,
        "attributes": labels.attributes,
        "captions": labels.captions,
        "mapping": labels.celeba_files,
        # Identities taken from CelebA's file through the mapping add nothing the mapping does not report.
        "identities": labels.identities if "identities" in labels.sources else None,
        "requests": labels.requests,
        "request_annotations": labels.request_annotations,
    }
    without_image: dict[str, list[str]] = {}
    for role, rows in by_role.items():
        for name in rows or ():
            if name not in known:
                without_image.setdefault(name, []).append(_file_name(labels.sources.get(role, role)))
    for name in sorted(without_image, key=image_order):
        reason = f"no image: rows in {', '.join(without_image[name])} but no such image in {universe}"
        skips.record(name, kind=NO_IMAGE, reason=reason)


def report_missing_labels(name: str, labels: PartLabels, skips: SkipLog) -> None:
    """Record what image `name` will hold as None: rows missing from a required file, unlabeled degrees, its mask."""
    required = {"fine_grained": labels.fine_grained, "attributes": labels.attributes, "captions": labels.captions}
    problems = []
    without_row = [_file_name(labels.sources[role]) for role, rows in required.items() if name not in rows]
    if without_row:
        problems.append(f"no row in {', '.join(without_row)}")
    if name in labels.unlabeled:
        degrees = labels.fine_grained[name]
        columns = [
            column for column, degree in zip(FINE_GRAINED_COLUMNS.values(), degrees, strict=True) if degree is None
        ]
        what = "an unlabeled row" if len(columns) == len(degrees) else f"no degree for {', '.join(columns)}"
        written = labels.unlabeled[name] or "none"
        problems.append(f"{what} in {_file_name(labels.sources['fine_grained'])} (values as written: {written})")
    if problems:
        skips.record(name, kind=NO_LABEL, reason=f"no label: {'; '.join(problems)}")
    if labels.masks is not None and name not in labels.masks:
        reason = f"no mask: no {name.removesuffix('.jpg')}.png in {labels.sources['masks']}"
        skips.record(name, kind=NO_MASK, reason=reason)


def image_row(name: str, split: str, labels: PartLabels, files: tuple[ImageFile, ...] = ()) -> ImageRow:
    """Image `name`'s row: its labels from every source file (None where a file has nothing for it)."""
    request_annotation = (labels.request_annotations or {}).get(name)
    request = (labels.requests or {}).get(name)
    if request is None and request_annotation is not None:
        request = request_annotation.text
    return ImageRow(
        image_id=name,
        split=split,
        fine_grained=labels.fine_grained.get(name),
        attributes=labels.attributes.get(name),
        captions=labels.captions.get(name),
        celeba_file=None if labels.celeba_files is None else labels.celeba_files.get(name),
        identity=None if labels.identities is None else labels.identities.get(name),
        request=request,
        request_annotation=request_annotation,
        mask=None if labels.masks is None else labels.masks.get(name),
        part_masks=(labels.part_masks or {}).get(name, ()),
        image_files=files,
    )


def _file_name(source: str) -> str:
    return PurePosixPath(source.replace(os.sep, "/")).name


def derive_hq_splits(mapping: dict[str, CelebAFile], partition: dict[str, str]) -> dict[str, str]:
    """The split of each CelebA-HQ image: the official split of the CelebA image it was made from."""
    return {name: partition[origin.file] for name, origin in mapping.items() if origin.file in partition}


def read_media(
    rows: Sequence[ImageRow],
    readers: FolderReaders,
    masks: SourceFolder | None,
    part_masks: SourceFolder | None,
    config: MediaOptions,
    skips: SkipLog,
) -> tuple[list[ImageRow], dict[str, list[Any]]]:
    """The rows whose media are usable, and their image and mask columns (each file's bytes as stored).

    Each file is checked first (`config.media_check`: "full" decodes every pixel); an image is taken from
    the first of its copies that is whole. An unusable image leaves its whole row out ("unreadable" in
    the skip report), so the rows returned and the media columns stay aligned; an unusable mask is stored
    as None ("unreadable mask"), and so is one unlike CelebAMask-HQ's ("unexpected mask": another format,
    size or mode, label values beyond 0..18, or, under "full", a part mask that is not binary). Under
    `config.on_missing == "error"` either raises UnreadableMediaError instead.
    """
    columns = (["image"] if config.with_images else []) + (["mask", "part_masks"] if config.with_masks else [])
    kept: list[ImageRow] = []
    media: dict[str, list[Any]] = {column: [] for column in columns}
    for row in rows:
        values = _row_media(row, readers, masks, part_masks, config, skips)
        if values is not None:
            kept.append(row)
            for column in columns:
                media[column].append(values[column])
    return kept, media


def _row_media(
    row: ImageRow,
    readers: FolderReaders,
    masks: SourceFolder | None,
    part_masks: SourceFolder | None,
    config: MediaOptions,
    skips: SkipLog,
) -> dict[str, Any] | None:
    """The media values of one row; None when its image is unusable (recorded, or raised under "error")."""
    values: dict[str, Any] = {}
    if config.with_images:
        image = _checked_file(readers, row.image_files, row, config, skips, UNREADABLE)
        if image is None:
            return None
        values["image"] = image
    if config.with_masks:
        values["mask"] = None
        if masks is not None and row.mask is not None:
            values["mask"] = _checked_file(
                readers, ((masks, row.mask),), row, config, skips, UNREADABLE_MASK, colorized_mask_problem
            )
        values["part_masks"] = dict.fromkeys(MASK_PART_NAMES)
        # A face has a dozen part masks: their values (binary) are checked by the full check only.
        part_mask_check = functools.partial(part_mask_problem, check_values=config.media_check == "full")
        if part_masks is not None:
            for label, path in row.part_masks:
                values["part_masks"][label] = _checked_file(
                    readers, ((part_masks, path),), row, config, skips, UNREADABLE_MASK, part_mask_check
                )
    return values


def _checked_file(
    readers: FolderReaders,
    files: Sequence[ImageFile],
    row: ImageRow,
    config: MediaOptions,
    skips: SkipLog,
    kind: SkipKind,
    content_problem: Callable[[bytes], str | None] | None = None,
) -> dict[str, Any] | None:
    """`{"bytes", "path"}` of the first of `files` that is usable, or None when none is (recorded as `kind`, or raised).

    `content_problem` checks what a whole file holds (a mask's size, mode and values); a file failing it is
    recorded as UNEXPECTED_MASK. A zip member failing its CRC is tried in the next copy, and raised if none
    is whole.
    """
    problems: list[tuple[SourceFile, str]] = []
    damaged: SourceFileError | None = None
    for folder, relative in files:
        source = folder.file(relative)
        try:
            data = readers.read(folder, relative)
        except SourceFileError as error:
            damaged = damaged or error
            problems.append((source, "damaged in its zip (it fails its CRC or its data is corrupt)"))
            continue
        # A content check that decodes the pixels finds what a full decode would: no need to decode twice.
        problem = image_problem(data, full_decode=config.media_check == "full" and content_problem is None)
        if problem is None and content_problem is not None:
            problem = content_problem(data)
            if problem is not None and not problem.startswith(CANNOT_BE_DECODED):
                kind = UNEXPECTED_MASK
        if problem is None:
            if problems:
                logger.warning("image %s: %s; read from %s instead", row.image_id, _listed(problems), source)
            return {"bytes": data, "path": PurePosixPath(relative).name}
        problems.append((source, problem))
    if damaged is not None:
        raise damaged
    (first, problem), others = problems[0], problems[1:]
    if config.on_missing == "error":
        raise UnreadableMediaError(
            f"{first} (image {row.image_id}): {problem}{'; ' if others else ''}{_listed(others)}; replace it from "
            "a fresh download, or build with on_missing=skip to leave it out and list it in the skip report"
        )
    skips.record(row.image_id, kind=kind, reason=f"{kind.name}: {_listed(problems)}")
    return None


def _listed(problems: Sequence[tuple[SourceFile, str]]) -> str:
    return "; ".join(f"{source}: {problem}" for source, problem in problems)
