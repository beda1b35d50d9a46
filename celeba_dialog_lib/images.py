"""Check image files (JPEG, PNG) before they are stored, so that a damaged file never becomes a row.

    >>> from celeba_dialog_lib.images import image_problem
    >>> image_problem(jpeg_bytes)                      # None: the file is whole
    >>> image_problem(jpeg_bytes[:5000])
    'truncated: no end-of-image marker (FF D9) after the image data (5,000 bytes)'

The default check reads the file's structure without decoding any pixel, at a small fraction of the
cost of a decode: a JPEG's segments from its start-of-image marker to its first scan, then its
end-of-image marker; a PNG's chunks, each with its CRC, up to IEND (what PIL's `verify()` checks, with
messages that say where). It finds truncated files, garbage and files that are not images. Damage
inside the compressed pixels of a whole file needs `full_decode=True`, which decodes every pixel
with PIL.

Masks are also checked against what CelebAMask-HQ ships: `colorized_mask_problem` wants a 512x512
palette ("P") PNG whose values are label ids 0..18, `part_mask_problem` a 512x512 PNG with at most two
values, one of them 0. Format, size and mode come from the header; values need the pixels decoded
(about half a millisecond for a 512x512 mask, see benchmarks/bench_mask_check.py).
"""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

from celeba_dialog_lib.labels import MASK_LABEL_NAMES

JPEG_SIGNATURE = b"\xff\xd8"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_JPEG_END = b"\xff\xd9"
_JPEG_START_OF_SCAN = 0xDA
_JPEG_END_OF_IMAGE = 0xD9
# Markers without a length field: TEM and the restart markers RST0-RST7.
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
# Frame headers SOF0-SOF15; C4 (DHT), C8 (reserved) and CC (DAC) share the range but are not frames.
_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}

# How a problem found by decoding the pixels starts (the file is damaged, not merely unlike the release's).
CANNOT_BE_DECODED = "cannot be decoded"
# CelebAMask-HQ's masks: 512x512 PNGs (the face-parsing annotations were drawn at that size).
MASK_SIZE = (512, 512)


def image_problem(data: bytes, full_decode: bool = False) -> str | None:
    """What is wrong with the bytes of a JPEG or PNG file, in a short phrase; None when they are fine.

    By default only the file's structure is read (cheap: no pixel is decoded); `full_decode=True`
    also decodes every pixel with PIL, which finds damage inside the compressed data too.
    """
    if not data:
        return "empty file (0 bytes)"
    if data.startswith(JPEG_SIGNATURE):
        problem = jpeg_problem(data)
    elif data.startswith(PNG_SIGNATURE):
        problem = png_problem(data)
    else:
        return f"not a JPEG or PNG file (it starts with {data[:8].hex(' ')})"
    if problem is None and full_decode:
        problem = decode_problem(data)
    return problem


def jpeg_problem(data: bytes) -> str | None:
    """What is wrong with a JPEG's structure: its header segments, a frame header, a scan, the end marker."""
    size = len(data)
    position = len(JPEG_SIGNATURE)
    has_frame = False
    while True:
        if position >= size:
            return f"truncated: ends after {size:,} bytes, before any image data"
        if data[position] != 0xFF:
            return f"garbage at byte {position:,}: {data[position]:02x} where a JPEG marker (FF ..) was expected"
        while position < size and data[position] == 0xFF:  # a marker may be preceded by fill bytes FF
            position += 1
        if position >= size:
            return f"truncated: ends after {size:,} bytes, inside a marker"
        marker = data[position]
        position += 1
        if marker in _JPEG_STANDALONE:
            continue
        if marker == _JPEG_END_OF_IMAGE:
            return f"holds no image data: the end-of-image marker comes at byte {position - 2:,}, before any scan"
        if position + 2 > size:
            return f"truncated: ends after {size:,} bytes, inside the length of segment FF {marker:02X}"
        (length,) = struct.unpack_from(">H", data, position)
        if length < 2:
            return f"garbage at byte {position:,}: segment FF {marker:02X} has the impossible length {length}"
        if position + length > size:
            return f"truncated: segment FF {marker:02X} at byte {position - 2:,} runs past the end ({size:,} bytes)"
        position += length
        has_frame = has_frame or marker in _JPEG_FRAMES
        if marker == _JPEG_START_OF_SCAN:
            break
    if not has_frame:
        return "no frame header (SOF marker) before the image data"
    # Compressed data never holds FF D9 (an FF there is followed by 00 or a restart marker), so the
    # last FF D9 after the first scan is the end of the image; bytes after it are tolerated.
    if data.rfind(_JPEG_END, position) < 0:
        return f"truncated: no end-of-image marker (FF D9) after the image data ({size:,} bytes)"
    return None


def png_problem(data: bytes) -> str | None:
    """What is wrong with a PNG's chunks: each chunk's length and CRC, IHDR first, image data, IEND last."""
    view = memoryview(data)
    size = len(data)
    position = len(PNG_SIGNATURE)
    has_data = False
    first = True
    while True:
        if position + 8 > size:
            return f"truncated: ends after {size:,} bytes, before the IEND chunk"
        length, kind = struct.unpack_from(">I4s", data, position)
        name = kind.decode("latin-1")
        if not kind.isalpha():
            return f"garbage at byte {position:,}: {kind.hex(' ')} where a chunk type was expected"
        if first and kind != b"IHDR":
            return f"the first chunk is {name}, not IHDR"
        end = position + 8 + length
        if end + 4 > size:
            return f"truncated: chunk {name} at byte {position:,} runs past the end ({size:,} bytes)"
        (stored_crc,) = struct.unpack_from(">I", data, end)
        if zlib.crc32(view[position + 4 : end]) != stored_crc:
            return f"chunk {name} at byte {position:,} fails its CRC (the file is damaged)"
        has_data = has_data or kind == b"IDAT"
        if kind == b"IEND":
            return None if has_data else "holds no image data (no IDAT chunk)"
        position = end + 4
        first = False


def decode_problem(data: bytes) -> str | None:
    """Why PIL cannot decode every pixel of the image file `data` (None when it can)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except Image.UnidentifiedImageError:
        return f"{CANNOT_BE_DECODED}: PIL does not recognise it as an image"
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, Image.DecompressionBombError) as error:
        return f"{CANNOT_BE_DECODED}: {error}"
    return None


def colorized_mask_problem(data: bytes) -> str | None:
    """What makes a whole PNG unlike CelebA-Dialog's colorized masks; None when it is like them.

    They are 512x512 palette ("P") PNGs whose pixel values are the label ids 0..18 (MASK_LABEL_NAMES);
    the palette only colours them for display and is not checked. Decodes the pixels once.
    """
    highest = len(MASK_LABEL_NAMES) - 1
    with Image.open(io.BytesIO(data)) as image:
        problem = _mask_header_problem(image) or _pixels_problem(image)
        if problem is None and image.mode != "P":
            rendering = " (a colour rendering of the labels?)" if image.mode in ("RGB", "RGBA") else ""
            expected = f"a palette (P) PNG whose values are the label ids 0..{highest}"
            problem = f"mode {image.mode}{rendering}, where {expected} is expected"
        if problem is None and image.getextrema()[1] > highest:
            problem = f"holds the value {image.getextrema()[1]}, where the label ids are 0..{highest}"
    return problem


def part_mask_problem(data: bytes, check_values: bool = True) -> str | None:
    """What makes a whole PNG unlike CelebAMask-HQ's binary part masks; None when it is like them.

    They are 512x512 PNGs with at most two values, one of them 0 (nonzero is the part). Their mode is not
    documented, so any is accepted (a grey value, or a colour whose channels are 0). The values need the
    pixels decoded, about as costly as the colorized mask's check for each of a face's dozen parts:
    `check_values=False` checks the format and size alone (read from the header).
    """
    with Image.open(io.BytesIO(data)) as image:
        problem = _mask_header_problem(image)
        if problem is not None or not check_values or image.mode == "1":
            return problem
        problem = _pixels_problem(image)
        if problem is not None:
            return problem
        values = _two_values(image)
        bands = len(image.getbands()) - ("A" in image.getbands())
    if values is None:
        return "holds more than two values, where a binary part mask (0 and the part's value) is expected"
    if len(values) == 2 and not any(_is_zero(value, bands) for value in values):
        return f"holds the values {values[0]} and {values[1]}, where a binary part mask has 0 and the part's value"
    return None


def _two_values(image: Image.Image) -> list[int | tuple[int, ...]] | None:
    """The one or two pixel values of a decoded image, lowest first; None when it has more."""
    if image.mode != "L":
        colours = image.getcolors(2)
        return None if colours is None else sorted(value for _, value in colours)
    # A grey image (the usual mask): its extrema, then whether any pixel lies between them. A lookup
    # table and a bounding box are C loops, several times cheaper than counting every value.
    low, high = image.getextrema()
    between = image.point([0 if value in (low, high) else 255 for value in range(256)]).getbbox()
    return None if between is not None else sorted({low, high})


def _mask_header_problem(image: Image.Image) -> str | None:
    if image.format != "PNG":
        return f"a {image.format} file, where CelebAMask-HQ's masks are PNG"
    if image.size != MASK_SIZE:
        return f"{image.width}x{image.height}, where CelebAMask-HQ's masks are {MASK_SIZE[0]}x{MASK_SIZE[1]}"
    return None


def _pixels_problem(image: Image.Image) -> str | None:
    """Why the pixels of an opened image cannot be decoded (None: they are, and are loaded)."""
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error) as error:
        return f"{CANNOT_BE_DECODED}: {error}"
    return None


def _is_zero(value: int | tuple[int, ...], bands: int) -> bool:
    return value == 0 if isinstance(value, int) else not any(value[:bands])


__all__ = [
    "CANNOT_BE_DECODED",
    "colorized_mask_problem",
    "decode_problem",
    "image_problem",
    "jpeg_problem",
    "part_mask_problem",
    "png_problem",
]
