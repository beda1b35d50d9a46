"""Image checks before storing: truncated, garbage and damaged JPEG and PNG files are named, whole ones pass."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

import numpy as np
import pytest
from celeba_dialog_fixtures import colorized_mask, jpeg_bytes, mask_as_rgb, mask_with_value, part_mask, png_of
from PIL import Image

from celeba_dialog_lib.images import colorized_mask_problem, image_problem, part_mask_problem

JPEG = jpeg_bytes(1, 64, 48)
PNG = colorized_mask(3)


def progressive_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.open(io.BytesIO(JPEG)).save(buffer, format="JPEG", progressive=True, quality=90)
    return buffer.getvalue()


def jpeg_with_thumbnail_in_exif() -> bytes:
    """A JPEG whose EXIF segment holds another JPEG (a thumbnail) with its own end-of-image marker."""
    thumbnail = jpeg_bytes(2, 8, 8)
    exif = b"Exif\x00\x00" + thumbnail
    return JPEG[:2] + b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif + JPEG[2:]


def with_byte_changed(data: bytes, at: int) -> bytes:
    changed = bytearray(data)
    changed[at] ^= 0x55
    return bytes(changed)


def png_with_damaged_pixels() -> bytes:
    """The PNG with garbage in its compressed pixels but a recomputed (valid) CRC: only a decode sees it."""
    start = PNG.find(b"IDAT") - 4
    (length,) = struct.unpack_from(">I", PNG, start)
    garbage = b"\x00" * length
    chunk = struct.pack(">I", length) + b"IDAT" + garbage + struct.pack(">I", zlib.crc32(b"IDAT" + garbage))
    return PNG[:start] + chunk + PNG[start + 12 + length :]


def jpeg_with_a_broken_huffman_table() -> bytes:
    table = JPEG.find(b"\xff\xc4")
    return JPEG[: table + 5] + b"\xff" * 16 + JPEG[table + 21 :]


@pytest.mark.parametrize(
    "make",
    [
        lambda: JPEG,
        progressive_jpeg,
        jpeg_with_thumbnail_in_exif,
        lambda: JPEG + b"\x00" * 100,
        lambda: PNG,
        lambda: part_mask(4, 2),
    ],
    ids=[
        "jpeg",
        "progressive-jpeg",
        "jpeg-with-exif-thumbnail",
        "jpeg-with-bytes-after-its-end",
        "palette-png",
        "gray-png",
    ],
)
@pytest.mark.parametrize("full_decode", [False, True], ids=["fast", "full"])
def test_whole_images_pass_both_checks(make: Callable[[], bytes], full_decode: bool) -> None:
    assert image_problem(make(), full_decode=full_decode) is None


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "empty file (0 bytes)"),
        (b"<html>Not Found</html>", "not a JPEG or PNG file (it starts with 3c 68 74 6d 6c 3e 4e 6f)"),
        (JPEG[:2], "truncated: ends after 2 bytes, before any image data"),
        (JPEG[:100], "truncated: segment FF DB at byte 89 runs past the end (100 bytes)"),
        (
            JPEG[: len(JPEG) // 2],
            f"truncated: no end-of-image marker (FF D9) after the image data ({len(JPEG) // 2:,} bytes)",
        ),
        (JPEG[:-2], "truncated: no end-of-image marker (FF D9)"),
        (JPEG[:2] + b"garbage" * 20, "garbage at byte 2: 67 where a JPEG marker (FF ..) was expected"),
        (JPEG[:2] + b"\xff\xd9", "holds no image data: the end-of-image marker comes at byte 2, before any scan"),
        (PNG[:8], "truncated: ends after 8 bytes, before the IEND chunk"),
        (PNG[:-2], f"truncated: chunk IEND at byte {len(PNG) - 12:,} runs past the end"),
        (PNG[:60], "truncated: chunk PLTE at byte 33 runs past the end (60 bytes)"),
        (with_byte_changed(PNG, 45), "chunk PLTE at byte 33 fails its CRC (the file is damaged)"),
        (PNG[:8] + PNG[33:], "the first chunk is PLTE, not IHDR"),
    ],
    ids=[
        "empty",
        "html-named-jpg",
        "jpeg-signature-only",
        "jpeg-cut-in-its-header",
        "jpeg-cut-in-half",
        "jpeg-without-end-marker",
        "jpeg-garbage-after-signature",
        "jpeg-without-scan",
        "png-signature-only",
        "png-cut-before-iend",
        "png-cut-in-a-chunk",
        "png-bit-flip",
        "png-without-header-chunk",
    ],
)
@pytest.mark.parametrize("full_decode", [False, True], ids=["fast", "full"])
def test_damaged_images_are_named_by_the_fast_check_and_the_full_one(
    data: bytes, expected: str, full_decode: bool
) -> None:
    problem = image_problem(data, full_decode=full_decode)

    assert problem is not None and problem.startswith(expected)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (png_with_damaged_pixels, "cannot be decoded: "),
        (jpeg_with_a_broken_huffman_table, "cannot be decoded: "),
    ],
    ids=["png-pixels-with-valid-crc", "jpeg-huffman-table"],
)
def test_damage_inside_the_compressed_data_needs_the_full_decode(make: Callable[[], bytes], expected: str) -> None:
    data = make()

    assert image_problem(data) is None
    assert image_problem(data, full_decode=True).startswith(expected)


# ---------------------------------------------------------------------------------------------------
# Masks against CelebAMask-HQ's: 512x512 PNGs; colorized ones palette PNGs of label ids 0..18; part masks binary


def grey_mask_of_labels() -> bytes:
    """The label ids of a colorized mask as a grey (L) PNG, the form CelebAMask-HQ's own scripts write."""
    return png_of(Image.fromarray(np.array(Image.open(io.BytesIO(colorized_mask(3)))), mode="L"))


def part_mask_in(mode: str, values: tuple[int, int] = (0, 255)) -> bytes:
    pixels = np.full((512, 512), values[0], dtype=np.uint8)
    pixels[100:200, 100:200] = values[1]
    return png_of(Image.fromarray(pixels, mode="L").convert(mode))


def test_the_releases_masks_pass_their_checks() -> None:
    assert colorized_mask_problem(colorized_mask(3)) is None
    assert colorized_mask_problem(mask_with_value(colorized_mask(3), 18)) is None
    assert part_mask_problem(part_mask(3, 1)) is None


@pytest.mark.parametrize("mode", ["1", "L", "RGB", "RGBA"])
def test_a_binary_part_mask_passes_in_any_mode_as_its_mode_is_not_documented(mode: str) -> None:
    assert part_mask_problem(part_mask_in(mode)) is None
    assert part_mask_problem(part_mask_in(mode, (0, 0))) is None


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (colorized_mask(3, size=256), "256x256, where CelebAMask-HQ's masks are 512x512"),
        (
            mask_as_rgb(colorized_mask(3)),
            "mode RGB (a colour rendering of the labels?), where a palette (P) PNG whose values are the label ids "
            "0..18 is expected",
        ),
        (grey_mask_of_labels(), "mode L, where a palette (P) PNG whose values are the label ids 0..18 is expected"),
        (mask_with_value(colorized_mask(3), 19), "holds the value 19, where the label ids are 0..18"),
        (jpeg_bytes(3, 512, 512), "a JPEG file, where CelebAMask-HQ's masks are PNG"),
    ],
    ids=["256x256", "rgb-rendering", "grey-label-ids", "label-19", "jpeg"],
)
def test_a_colorized_mask_unlike_the_releases_is_named_with_what_differs(data: bytes, expected: str) -> None:
    assert colorized_mask_problem(data) == expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (part_mask(3, 1, size=511), "511x511, where CelebAMask-HQ's masks are 512x512"),
        (
            mask_with_value(part_mask(3, 1), 7, rows=3),
            "holds more than two values, where a binary part mask (0 and the part's value) is expected",
        ),
        (part_mask_in("L", (40, 255)), "holds the values 40 and 255, where a binary part mask has 0 and the part's"),
    ],
    ids=["511x511", "three-values", "no-zero"],
)
def test_a_part_mask_unlike_the_releases_is_named_with_what_differs(data: bytes, expected: str) -> None:
    assert part_mask_problem(data).startswith(expected)


def test_a_mask_whose_pixels_cannot_be_decoded_says_so() -> None:
    assert colorized_mask_problem(png_with_damaged_pixels()).startswith("cannot be decoded: ")
