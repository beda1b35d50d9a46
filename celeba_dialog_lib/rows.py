"""Joining a CelebA-Dialog part's label files by image name into rows, and reading each row's media.

Every image the sources name ends as a row or a skip-report line: `join_rows` reports label rows without
an image and images without a split (left out), and images missing some label (kept with None values);
`read_media` reads and checks each row's image and masks.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any, Literal, Protocol

from celeb_datasets.errors import SourceFileError, UnreadableMediaError
from celeb_datasets.skips import SkipLog
from celeba_dialog_lib.files import FolderReader, SourceFile, SourceFolder
from celeba_dialog_lib.images import image_problem
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


class MediaOptions(Protocol):
    """The options of a build that decide how media are read (every CelebA-Dialog config has them)."""

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


def read_part_labels(found: dict[str, SourceFile | SourceFolder | None], part: str) -> PartLabels:
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


def image_names(folder: SourceFolder, part: str) -> list[str]:
    """The JPEG file names of an image folder, in image order (HQ names are checked to be 0-based)."""
    refuse_folders_named_like_files(folder, ".jpg")
    names = sorted((name for name in folder.list_files() if name.endswith(".jpg")), key=image_order)
    if part == "hq":
        check_hq_image_names(names, str(folder))
    return names


def refuse_folders_named_like_files(folder: SourceFolder, suffix: str) -> None:
    """Refuse a subfolder named like the folder's files (`12.jpg/`): its image would silently go missing."""
    misnamed = [name for name in folder.list_folders() if name.lower().endswith(suffix)]
    if misnamed:
        raise SourceFileError(
            f"{folder}/{misnamed[0]}: a folder, where a {suffix} file was expected "
            f"({len(misnamed)} such folder(s) in {folder}); put the file itself there"
        )


def check_hq_image_names(names: Sequence[str], source: str) -> None:
    """Refuse 1-based CelebA-HQ names (00001.jpg ...): CelebA-Dialog numbers its HQ images from 0.jpg."""
    stems = {name.removesuffix(".jpg") for name in names}
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


@dataclasses.dataclass(frozen=True)
class ImageShard:
    """The rows one writer job handles, and the folders their images and masks are read from."""

    rows: tuple[ImageRow, ...]
    images: SourceFolder | None = None
    masks: SourceFolder | None = None
    part_masks: SourceFolder | None = None
    # Where the build's skip report is written (None when streaming: skips are logged only).
    skip_folder: str | None = None


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


def join_rows(image_ids: Sequence[str], universe: str, labels: PartLabels, skips: SkipLog) -> list[ImageRow]:
    """Join the labels of each image by file name; report whatever does not line up.

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
            skips.record(name, f"no split: not found through {labels.split_source}")
            continue
        report_missing_labels(name, labels, skips)
        joined.append(image_row(name, split, labels))
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
        skips.record(name, f"no image: rows in {', '.join(without_image[name])} but no such image in {universe}")


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
        skips.record(name, f"no label: {'; '.join(problems)}")
    if labels.masks is not None and name not in labels.masks:
        skips.record(name, f"no mask: no {name.removesuffix('.jpg')}.png in {labels.sources['masks']}")


def image_row(name: str, split: str, labels: PartLabels) -> ImageRow:
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
    )


def _file_name(source: str) -> str:
    return PurePosixPath(source.replace(os.sep, "/")).name


def derive_hq_splits(mapping: dict[str, CelebAFile], partition: dict[str, str]) -> dict[str, str]:
    """The split of each CelebA-HQ image: the official split of the CelebA image it was made from."""
    return {name: partition[origin.file] for name, origin in mapping.items() if origin.file in partition}


def read_media(
    rows: Sequence[ImageRow],
    images: FolderReader | None,
    masks: FolderReader | None,
    part_masks: FolderReader | None,
    config: MediaOptions,
    skips: SkipLog,
) -> tuple[list[ImageRow], dict[str, list[Any]]]:
    """The rows whose media are usable, and their image and mask columns (each file's bytes as stored).

    Each file is checked first (`config.media_check`: "full" decodes every pixel). An unusable image
    leaves its whole row out ("unreadable" in the skip report), so the rows returned and the media
    columns stay aligned; an unusable mask is stored as None ("unreadable mask"). Under
    `config.on_missing == "error"` either raises UnreadableMediaError instead.
    """
    columns = (["image"] if images is not None else []) + (["mask", "part_masks"] if config.with_masks else [])
    kept: list[ImageRow] = []
    media: dict[str, list[Any]] = {column: [] for column in columns}
    for row in rows:
        values = _row_media(row, images, masks, part_masks, config, skips)
        if values is not None:
            kept.append(row)
            for column in columns:
                media[column].append(values[column])
    return kept, media


def _row_media(
    row: ImageRow,
    images: FolderReader | None,
    masks: FolderReader | None,
    part_masks: FolderReader | None,
    config: MediaOptions,
    skips: SkipLog,
) -> dict[str, Any] | None:
    """The media values of one row; None when its image is unusable (recorded, or raised under "error")."""
    values: dict[str, Any] = {}
    if images is not None:
        image = _checked_file(images, row.image_id, row, config, skips, "unreadable")
        if image is None:
            return None
        values["image"] = image
    if config.with_masks:
        values["mask"] = None
        if masks is not None and row.mask is not None:
            values["mask"] = _checked_file(masks, row.mask, row, config, skips, "unreadable mask")
        values["part_masks"] = dict.fromkeys(MASK_PART_NAMES)
        if part_masks is not None:
            for label, path in row.part_masks:
                values["part_masks"][label] = _checked_file(part_masks, path, row, config, skips, "unreadable mask")
    return values


def _checked_file(
    folder: FolderReader, relative: str, row: ImageRow, config: MediaOptions, skips: SkipLog, kind: str
) -> dict[str, Any] | None:
    """`{"bytes", "path"}` of a media file, or None when it is unusable (recorded as `kind`, or raised)."""
    data = folder.read(relative)
    problem = image_problem(data, full_decode=config.media_check == "full")
    if problem is None:
        return {"bytes": data, "path": PurePosixPath(relative).name}
    source = folder.folder.file(relative)
    if config.on_missing == "error":
        raise UnreadableMediaError(
            f"{source} (image {row.image_id}): {problem}; replace it from a fresh download, "
            "or build with on_missing=skip to leave it out and list it in the skip report"
        )
    skips.record(row.image_id, f"{kind}: {source}: {problem}")
    return None
