"""One small pure parser per CelebA-Dialog label file, on the file's text; `source` names the file in errors.

    >>> from celeba_dialog_lib.parsers import parse_fine_grained
    >>> labels = parse_fine_grained(Path("combined_annotation_hq.txt").read_text())

Each returns the file's rows keyed by image file name (`0.jpg`, `000001.jpg`) and raises SourceFileError
naming the file and line for anything malformed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import PurePosixPath
from typing import Any, NamedTuple

from celeb_datasets.errors import SourceFileError
from celeb_datasets.sourcefiles import loads_json
from celeba_dialog_lib.labels import (
    ATTRIBUTE_NAMES,
    DEGREES,
    FINE_GRAINED_COLUMNS,
    FINE_GRAINED_NAMES,
    MASK_PART_NAMES,
    PARTITION_SPLITS,
)


class CelebAFile(NamedTuple):
    """Where a CelebA-HQ image comes from in CelebA: its 0-based index and its file name."""

    index: int
    file: str


class Captions(NamedTuple):
    """An image's overall caption and its five attribute-wise captions (in FINE_GRAINED_NAMES order)."""

    overall: str | None
    attribute_wise: tuple[str | None, ...]


class RequestAnnotation(NamedTuple):
    """The structure of an editing request, every field optional (`attribute` is one of FINE_GRAINED_NAMES)."""

    text: str | None = None
    user_mode: str | None = None
    request_mode: str | None = None
    attribute: str | None = None
    target_score: int | None = None
    score_change_direction: str | None = None
    score_change_value: int | None = None


def whole_number(text: str) -> bool:
    """Whether `text` is a whole number written in ASCII digits (str.isdigit also accepts '²' and '٣')."""
    return text.isascii() and text.isdigit()


def _line_error(source: str, line: int, expected: str, found: object) -> SourceFileError:
    return SourceFileError(f"{source}, line {line}: expected {expected}, found {found!r}")


def _table_lines(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, whitespace-separated fields) of each non-blank line: TABs and runs of spaces alike."""
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if fields:
            yield number, fields


def _add_row(rows: dict[str, Any], source: str, line: int, name: str, value: Any) -> None:
    if not name.endswith(".jpg"):
        raise _line_error(source, line, "an image file name such as 0.jpg or 000001.jpg first", name)
    if name in rows:
        raise SourceFileError(f"{source}, line {line}: a second row for {name} (each image has one row)")
    rows[name] = value


class FineGrainedLabels(NamedTuple):
    """The rows of a fine-grained label file.

    `degrees` holds each image's degrees in FINE_GRAINED_NAMES order (None where unlabeled);
    `unlabeled` the values, as written, of each row with an unlabeled value (for the skip report).
    """

    degrees: dict[str, tuple[int | None, ...]]
    unlabeled: dict[str, str]


def parse_fine_grained(text: str, source: str = "combined_annotation_hq.txt") -> FineGrainedLabels:
    """The fine-grained degrees of each image, and the rows that leave some unlabeled.

    Reads `combined_annotation_hq.txt` (TAB-separated), `combined_annotation.txt` (space-separated) and
    the headerless `*_attr_list.txt` files. The release marks its unlabeled images with values that are
    not degrees (how exactly is not documented): a value that is not a whole number, or is negative,
    gives None, and so does a row that holds no value at all. A whole number above 5 cannot be a
    degree nor such a mark, so it is an error naming the line; so is a row with degrees but not five.
    """
    header = ["img_name", *FINE_GRAINED_COLUMNS.values()]
    labels = FineGrainedLabels({}, {})
    for index, (line, fields) in enumerate(_table_lines(text)):
        if index == 0 and fields[0] == header[0]:
            if fields != header:
                raise _line_error(source, line, f"the header {' '.join(header)}", " ".join(fields))
            continue
        degrees = tuple(_degree(value, source, line) for value in fields[1:])
        if len(degrees) != len(FINE_GRAINED_NAMES):
            if any(degree is not None for degree in degrees):
                raise _line_error(
                    source, line, f"an image name and {len(FINE_GRAINED_NAMES)} degrees 0..5", " ".join(fields)
                )
            degrees = (None,) * len(FINE_GRAINED_NAMES)
        _add_row(labels.degrees, source, line, fields[0], degrees)
        if None in degrees:
            labels.unlabeled[fields[0]] = " ".join(fields[1:])
    return labels


def _degree(value: str, source: str, line: int) -> int | None:
    """A degree 0..5, or None for a value that marks "unlabeled" (anything but a whole number >= 0).

    A digit that is not ASCII ('²') is no mark the release uses but an edited or mis-encoded file: an error.
    """
    if value.isdigit() and not value.isascii():
        raise _line_error(source, line, "degrees 0..5 in ASCII digits", value)
    if not whole_number(value):
        return None
    if int(value) not in DEGREES:
        raise _line_error(source, line, "degrees 0..5 (or a mark such as -1 for unlabeled)", value)
    return int(value)


def parse_attributes(text: str, source: str = "CelebAMask-HQ-attribute-anno.txt") -> dict[str, tuple[bool, ...]]:
    """The 40 binary attributes of each image (True where the file says 1), in ATTRIBUTE_NAMES order.

    Reads `list_attr_celeba.txt` and `CelebAMask-HQ-attribute-anno.txt`: the image count, the 40 names
    (in any order; values are reordered to ATTRIBUTE_NAMES), then one row per image of -1 or 1 values.
    """
    lines = _table_lines(text)
    line, fields = next(lines, (1, []))
    if len(fields) != 1 or not whole_number(fields[0]):
        raise _line_error(source, line, "the number of images on the first line", " ".join(fields))
    announced = int(fields[0])
    line, names = next(lines, (2, []))
    if sorted(names) != sorted(ATTRIBUTE_NAMES):
        raise _line_error(source, line, f"the {len(ATTRIBUTE_NAMES)} CelebA attribute names", " ".join(names))
    order = [names.index(name) for name in ATTRIBUTE_NAMES]
    rows: dict[str, tuple[bool, ...]] = {}
    for line, fields in lines:
        values = fields[1:]
        if len(values) != len(ATTRIBUTE_NAMES) or not set(values) <= {"1", "-1"}:
            raise _line_error(
                source, line, f"an image name and {len(ATTRIBUTE_NAMES)} values -1 or 1", " ".join(fields)
            )
        _add_row(rows, source, line, fields[0], tuple(values[i] == "1" for i in order))
    if len(rows) != announced:
        raise SourceFileError(f"{source}, line 1: announces {announced} images but {len(rows)} rows follow")
    return rows


def parse_hq_mapping(text: str, source: str = "CelebA-HQ-to-CelebA-mapping.txt") -> dict[str, CelebAFile]:
    """The CelebA image each CelebA-HQ image (`<idx>.jpg`) was made from; the header line is optional."""
    rows: dict[str, CelebAFile] = {}
    for index, (line, fields) in enumerate(_table_lines(text)):
        # Any digit, ASCII or not, starts a row: a row numbered '²' is an error below, not a header to skip.
        if index == 0 and not fields[0][0].isdigit():
            continue
        if len(fields) != 3 or not (whole_number(fields[0]) and whole_number(fields[1])):
            raise _line_error(source, line, "idx orig_idx orig_file (two integers and a file name)", " ".join(fields))
        origin = CelebAFile(int(fields[1]), fields[2])
        if origin.file != f"{origin.index + 1:06d}.jpg":
            raise _line_error(
                source, line, f"orig_file {origin.index + 1:06d}.jpg for orig_idx {origin.index}", origin.file
            )
        _add_row(rows, source, line, f"{int(fields[0])}.jpg", origin)
    return rows


def parse_partition(text: str, source: str = "list_eval_partition.txt") -> dict[str, str]:
    """CelebA's official split of each image: "train", "validation" or "test" (0, 1, 2 in the file)."""
    rows: dict[str, str] = {}
    for line, fields in _table_lines(text):
        if len(fields) != 2 or fields[1] not in PARTITION_SPLITS:
            raise _line_error(source, line, "an image name and its split 0, 1 or 2", " ".join(fields))
        _add_row(rows, source, line, fields[0], PARTITION_SPLITS[fields[1]])
    return rows


def parse_identities(text: str, source: str = "identity_CelebA-HQ.txt") -> dict[str, int]:
    """The identity number of each image (`<image>.jpg <identity>` lines; a header line is skipped)."""
    rows: dict[str, int] = {}
    for index, (line, fields) in enumerate(_table_lines(text)):
        if index == 0 and not fields[0].endswith(".jpg"):
            continue
        if len(fields) != 2 or not whole_number(fields[1]):
            raise _line_error(source, line, "an image name and its identity number", " ".join(fields))
        _add_row(rows, source, line, fields[0], int(fields[1]))
    return rows


def _json_object(text: str, source: str) -> dict[str, Any]:
    document = loads_json(text, source)
    if not isinstance(document, dict):
        raise SourceFileError(f"{source}: expected an object keyed by image file name, found {type(document).__name__}")
    for name in document:
        if not name.endswith(".jpg"):
            raise SourceFileError(f"{source}: expected image file names such as 0.jpg as keys, found {name!r}")
    return document


def _optional_text(value: Any, source: str, where: str) -> str | None:
    """A text field: "" and null both mean none."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise SourceFileError(f"{source}: {where}: expected text or null, found {value!r}")
    return value


def parse_captions(text: str, source: str = "captions_hq.json") -> dict[str, Captions]:
    """Each image's captions from `captions_hq.json` / `captions.json`; "" and null captions become None."""
    captions = {}
    for name, entry in _json_object(text, source).items():
        if not isinstance(entry, dict):
            raise SourceFileError(
                f"{source}: {name}: expected {{overall_caption, attribute_wise_captions}}, found {entry!r}"
            )
        attribute_wise = entry.get("attribute_wise_captions") or {}
        if not isinstance(attribute_wise, dict) or not set(attribute_wise) <= set(FINE_GRAINED_COLUMNS.values()):
            raise SourceFileError(
                f"{source}: {name}: attribute_wise_captions: expected an object with the keys "
                f"{', '.join(FINE_GRAINED_COLUMNS.values())}, found {attribute_wise!r}"
            )
        captions[name] = Captions(
            _optional_text(entry.get("overall_caption"), source, f"{name}: overall_caption"),
            tuple(
                _optional_text(attribute_wise.get(column), source, f"{name}: attribute_wise_captions.{column}")
                for column in FINE_GRAINED_COLUMNS.values()
            ),
        )
    return captions


def parse_requests(text: str, source: str = "request_hq.json") -> dict[str, str | None]:
    """Each image's editing request from `request_hq.json` / `request.json` (`{"<image>.jpg": text}`)."""
    return {name: _optional_text(request, source, name) for name, request in _json_object(text, source).items()}


def parse_request_lines(text: str, source: str = "request_hq.txt") -> dict[str, str | None]:
    """Each image's editing request from `request_hq.txt` / `request.txt` (`<image>.jpg<TAB><text>` lines)."""
    rows: dict[str, str | None] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.strip().split(None, 1)
        if len(fields) != 2:
            raise _line_error(source, number, "an image name, a TAB and the request text", line)
        _add_row(rows, source, number, fields[0], fields[1])
    return rows


# Spellings of the five attributes a request annotation may use: ours, the source columns, the README's.
_ATTRIBUTE_SPELLINGS = {
    spelling.lower(): name
    for name, column in FINE_GRAINED_COLUMNS.items()
    for spelling in (name, column, column.removeprefix("No_"))
}


def parse_request_annotations(text: str, source: str = "request_annotated_hq.json") -> dict[str, RequestAnnotation]:
    """The structure of each image's request from `request_annotated_hq.json` / `request_annotated.json`.

    Every key is optional and unknown keys are ignored (the release does not document the key set);
    known keys are checked: `attribute` must name one of the five attributes, `target_score` and
    `score_change_value` must be integers 0..5.
    """
    annotations = {}
    for name, entry in _json_object(text, source).items():
        if not isinstance(entry, dict):
            raise SourceFileError(f"{source}: {name}: expected an object describing the request, found {entry!r}")

        def scalar_text(key: str, entry: dict[str, Any] = entry, name: str = name) -> str | None:
            value = entry.get(key)
            if isinstance(value, (int, float, bool)):
                value = str(value)
            return _optional_text(value, source, f"{name}: {key}")

        def score(key: str, entry: dict[str, Any] = entry, name: str = name) -> int | None:
            value = entry.get(key)
            if isinstance(value, str) and whole_number(value):
                value = int(value)
            if value is None or (isinstance(value, int) and not isinstance(value, bool) and value in DEGREES):
                return value
            raise SourceFileError(f"{source}: {name}: {key}: expected an integer 0..5 or null, found {value!r}")

        attribute = scalar_text("attribute")
        if attribute is not None and attribute.lower() not in _ATTRIBUTE_SPELLINGS:
            raise SourceFileError(
                f"{source}: {name}: attribute: expected one of {', '.join(FINE_GRAINED_COLUMNS.values())}, "
                f"found {attribute!r}"
            )
        annotations[name] = RequestAnnotation(
            text=scalar_text("text"),
            user_mode=scalar_text("user_mode"),
            request_mode=scalar_text("request_mode"),
            attribute=None if attribute is None else _ATTRIBUTE_SPELLINGS[attribute.lower()],
            target_score=score("target_score"),
            score_change_direction=scalar_text("score_change_direction"),
            score_change_value=score("score_change_value"),
        )
    return annotations


def index_masks(names: Iterable[str], source: str = "CelebAMask-HQ-mask-color-palette") -> dict[str, str]:
    """The colorized mask file (`<idx>.png`) of each CelebA-HQ image (`<idx>.jpg`); other files are ignored."""
    masks = {}
    for name in names:
        stem, _, extension = name.rpartition(".")
        if extension == "png" and whole_number(stem):
            masks[f"{int(stem)}.jpg"] = name
    return masks


def index_part_masks(
    names: Iterable[str], source: str = "CelebAMask-HQ-mask-anno"
) -> dict[str, tuple[tuple[str, str], ...]]:
    """The binary part masks (`<k // 2000>/<k:05d>_<part>.png`) of each CelebA-HQ image, as (part, file) pairs.

    A PNG whose name is not an image number and one of MASK_PART_NAMES is an error.
    """
    parts: dict[str, list[tuple[str, str]]] = {}
    for name in names:
        if not name.endswith(".png"):
            continue
        number, _, part = PurePosixPath(name).stem.partition("_")
        if not whole_number(number) or part not in MASK_PART_NAMES:
            raise SourceFileError(
                f"{source}/{name}: expected a part mask named <5-digit image number>_<part>.png with a part "
                f"among {', '.join(MASK_PART_NAMES)}"
            )
        parts.setdefault(f"{int(number)}.jpg", []).append((part, name))
    return {image: tuple(sorted(found)) for image, found in parts.items()}
