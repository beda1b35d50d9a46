"""Small CelebA-Dialog downloads in the real file formats, written by the tests (and the benchmark).

The label rows are hand-written below so that tests can check exact values; images and masks are
generated with numpy and PIL (each image different, so stored bytes can be traced back to their file).
`make_hq_download` and `make_standard_download` write the layout of the release, zipped or not, with
switches for each variant the builder must accept or refuse.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from celeba_dialog import ATTRIBUTE_NAMES
from celeba_dialog_lib.labels import FINE_GRAINED_COLUMNS, MASK_PALETTE

# CelebA-HQ images of the fixture: HQ index -> 0-based CelebA index. 5380 is the image without a
# caption or fine-grained row in the release. Derived splits: train 0 1 3 6 5380, validation 4 7, test 2 5.
HQ_TO_CELEBA = {0: 119613, 1: 99094, 2: 200121, 3: 81059, 4: 170000, 5: 190000, 6: 2, 7: 175000, 5380: 150000}
HQ_SPLITS = {"train": [0, 1, 3, 6, 5380], "validation": [4, 7], "test": [2, 5]}

# combined_annotation_hq.txt rows: Bangs Eyeglasses No_Beard Smiling Young (no row for 5380).
HQ_FINE_GRAINED = {
    0: (2, 0, 0, 3, 1),
    1: (0, 4, 1, 0, 2),
    2: (5, 0, 0, 5, 0),
    3: (1, 1, 5, 2, 5),
    4: (0, 2, 2, 1, 3),
    5: (3, 3, 3, 4, 4),
    6: (4, 5, 4, 0, 1),
    7: (0, 0, 0, 1, 2),
}
# The attributes present (1) in image 0.jpg; the others have pseudo-random attributes.
HQ_0_ATTRIBUTES = ("Attractive", "Bangs", "Brown_Hair", "No_Beard", "Smiling", "Wearing_Lipstick", "Young")
HQ_CAPTIONS = {
    0: {
        "overall_caption": "This young lady has middle-length bangs and a big smile with teeth showing.",
        "attribute_wise_captions": {
            "Bangs": "Her bangs cover about half of her forehead.",
            "Eyeglasses": "She is not wearing any eyeglasses.",
            "No_Beard": "",
            "Smiling": "She is smiling and we can see the entire row of her teeth.",
            "Young": "She is a teenager.",
        },
    },
    1: {
        "overall_caption": "The man wears thin-frame sunglasses and does not smile.",
        "attribute_wise_captions": {
            "Bangs": None,
            "Eyeglasses": "He is wearing sunglasses with thin frames.",
            "No_Beard": "He has a very short, just shaved beard.",
            "Smiling": None,
            "Young": "He looks like a young adult.",
        },
    },
}
HQ_REQUESTS = {0: "Make the bangs slightly longer.", 1: "Remove the eyeglasses.", 3: "Let him look younger."}
HQ_REQUEST_ANNOTATIONS = {
    0: {
        "text": "Make the bangs slightly longer.",
        "user_mode": "start",
        "request_mode": "change_definite",
        "attribute": "Bangs",
        "score_change_direction": "positive",
        "score_change_value": 1,
        "target_score": None,
    },
    1: {"text": "Remove the eyeglasses.", "request_mode": "target", "attribute": "Eyeglasses", "target_score": 0},
}
HQ_IDENTITIES = {0: 2880, 1: 2937, 2: 8692, 3: 5805, 4: 9295, 5: 1011, 6: 2880, 7: 4153, 5380: 6329}
# Face-parsing parts drawn for every HQ image's binary masks; image 7 has no colorized mask.
HQ_PARTS = ("skin", "nose", "l_eye", "hair")
HQ_WITHOUT_COLORIZED_MASK = 7
# Where the release's colorized mask archive stores its PNGs (a server path, kept as it is).
MASK_ARCHIVE_FOLDER = "mnt/lustre/share/jiangyuming/CelebAMask-HQ/CelebAMask-HQ-mask-color-palette"

# Standard CelebA images of the fixture and their official split (000005.jpg is unlabeled).
STANDARD_SPLITS = {
    "train": ["000001.jpg", "000002.jpg", "000003.jpg", "000004.jpg", "000005.jpg"],
    "validation": ["162771.jpg"],
    "test": ["182638.jpg"],
}
STANDARD_FINE_GRAINED = {
    "000001.jpg": (0, 0, 0, 2, 1),
    "000002.jpg": (1, 0, 3, 0, 2),
    "000003.jpg": (0, 3, 0, 4, 3),
    "000004.jpg": (2, 0, 0, 1, 1),
    "162771.jpg": (0, 1, 2, 0, 4),
    "182638.jpg": (5, 0, 0, 3, 0),
}
STANDARD_UNLABELED = "000005.jpg"
STANDARD_IDENTITIES = {"000001.jpg": 2880, "000002.jpg": 2937, "000003.jpg": 8692, "000004.jpg": 5805}
STANDARD_REQUESTS = {"000001.jpg": "Make the smile a bit bigger.", "000002.jpg": "Add a longer beard."}


def hq_name(index: int) -> str:
    return f"{index}.jpg"


def celeba_name(celeba_index: int) -> str:
    return f"{celeba_index + 1:06d}.jpg"


def jpeg_bytes(seed: int, width: int, height: int, quality: int = 90) -> bytes:
    """A JPEG of smooth colour gradients plus noise, different for every seed."""
    buffer = io.BytesIO()
    Image.fromarray(_pixels(seed, width, height)).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def png_bytes(seed: int, width: int, height: int) -> bytes:
    """The picture of `jpeg_bytes(seed, ...)` as an RGB PNG (as in CelebA's PNG release)."""
    buffer = io.BytesIO()
    Image.fromarray(_pixels(seed, width, height)).save(buffer, format="PNG")
    return buffer.getvalue()


def image_bytes(seed: int, width: int, height: int, suffix: str) -> bytes:
    """A JPEG or PNG, as the file suffix (any case) says."""
    return png_bytes(seed, width, height) if suffix.lower() == ".png" else jpeg_bytes(seed, width, height)


def _pixels(seed: int, width: int, height: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([(x * rng.uniform(0.1, 1)) % 256, (y * rng.uniform(0.1, 1)) % 256, (x + y) % 256], axis=-1)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def colorized_mask(index: int, size: int = 512) -> bytes:
    """A palette PNG whose pixel values are label ids: every id 0..18 appears, in bands shifted by `index`."""
    y, x = np.mgrid[0:size, 0:size]
    labels = ((x + y + index) * len(MASK_PALETTE) // (2 * size)) % len(MASK_PALETTE)
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    image.putpalette([channel for colour in MASK_PALETTE for channel in colour])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def part_mask(index: int, part_number: int, size: int = 512) -> bytes:
    """A binary part mask (0 or 255, grayscale PNG) with a square that depends on the image and part."""
    pixels = np.zeros((size, size), dtype=np.uint8)
    corner = (index + 5 * part_number) % (size // 2)
    pixels[corner : corner + size // 2, corner : corner + size // 2] = 255
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def mask_as_rgb(mask: bytes) -> bytes:
    """A colorized mask drawn in its colours as an RGB PNG (a colour rendering, not the release's palette PNG)."""
    return png_of(Image.open(io.BytesIO(mask)).convert("RGB"))


def mask_with_value(mask: bytes, value: int, rows: int = 4) -> bytes:
    """A palette or grey mask with its first `rows` rows of pixels set to `value` (same mode and palette)."""
    original = Image.open(io.BytesIO(mask))
    pixels = np.array(original)
    pixels[:rows] = value
    image = Image.fromarray(pixels, mode=original.mode)
    if original.mode == "P":
        image.putpalette(original.getpalette())
    return png_of(image)


def png_of(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def hq_attributes(index: int) -> tuple[int, ...]:
    """The 40 attribute values (-1 or 1) of an HQ image of the fixture."""
    if index == 0:
        return tuple(1 if name in HQ_0_ATTRIBUTES else -1 for name in ATTRIBUTE_NAMES)
    return tuple(int(value) for value in np.random.default_rng(index).choice([-1, 1], len(ATTRIBUTE_NAMES)))


def standard_attributes(name: str) -> tuple[int, ...]:
    return tuple(int(v) for v in np.random.default_rng(int(name[:6])).choice([-1, 1], len(ATTRIBUTE_NAMES)))


def caption_entry(index: int | str) -> dict[str, object]:
    if index in HQ_CAPTIONS:
        return HQ_CAPTIONS[index]  # type: ignore[index]
    return {
        "overall_caption": f"A face ({index}) with a calm look.",
        "attribute_wise_captions": {
            column: f"{column} caption of {index}." for column in FINE_GRAINED_COLUMNS.values()
        },
    }


def attribute_file(rows: Sequence[tuple[str, tuple[int, ...]]], celeba_style: bool) -> str:
    """`list_attr_celeba.txt` (values padded to 3 characters) or `CelebAMask-HQ-attribute-anno.txt`."""
    lines = [str(len(rows)), " ".join(ATTRIBUTE_NAMES) + " "]
    for name, values in rows:
        if celeba_style:
            lines.append(name + "".join(f"{value:>3}" for value in values))
        else:
            lines.append(f"{name}  " + " ".join(str(value) for value in values))
    return "\n".join(lines) + "\n"


def fine_grained_file(rows: Iterable[tuple[str, Sequence[object]]], separator: str, header: bool = True) -> str:
    lines = [separator.join(["img_name", *FINE_GRAINED_COLUMNS.values()])] if header else []
    lines += [separator.join([name, *map(str, values)]) for name, values in rows]
    return "\n".join(lines) + "\n"


def mapping_file(mapping: dict[int, int], header: bool = True) -> str:
    lines = [f"{'idx':<12}{'orig_idx':<12}{'orig_file':<12}"] if header else []
    lines += [f"{index:<12}{origin:<12}{celeba_name(origin):<12}" for index, origin in mapping.items()]
    return "\n".join(lines) + "\n"


def partition_file(celeba_splits: dict[str, list[str]]) -> str:
    """CelebA's list_eval_partition.txt for these CelebA files (split name -> file names)."""
    split_number = {"train": 0, "validation": 1, "test": 2}
    rows = {name: split_number[split] for split, names in celeba_splits.items() for name in names}
    return "".join(f"{name} {rows[name]}\n" for name in sorted(rows))


def write_download(root: Path, files: dict[str, bytes], archives: dict[str, tuple[str, str]]) -> Path:
    """Write `files` (layout path -> bytes) under `root`; a file under an archive's layout folder goes into it.

    `archives` maps a zip's path to (the layout folder it holds, the folder its members are stored under).
    """
    root.mkdir(parents=True, exist_ok=True)
    zipped: dict[str, list[tuple[str, bytes]]] = {archive: [] for archive in archives}
    for path, content in files.items():
        archive = next((a for a, (folder, _) in archives.items() if path.startswith(folder + "/")), None)
        if archive is None:
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(content)
        else:
            folder, member_folder = archives[archive]
            member = path[len(folder) + 1 :]
            zipped[archive].append((f"{member_folder}/{member}" if member_folder else member, content))
    for archive, members in zipped.items():
        if not members:
            continue
        (root / archive).parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(root / archive, "w") as output:
            for member, content in members:
                output.writestr(member, content)
    return root


def make_hq_download(
    root: Path,
    *,
    zipped: bool = True,
    text_zipped: bool = False,
    mapping_header: bool = True,
    one_based: bool = False,
    masks: bool = True,
    optional: bool = True,
    drop_images: Sequence[int] = (),
    image_size: int = 64,
    image_suffix: str = ".jpg",
    image_folder: str = "image",
    replace: Mapping[str, bytes] | None = None,
) -> Path:
    """The CelebA-HQ part of CelebA-Dialog as downloaded, plus CelebA's list_eval_partition.txt.

    The partition lists only the CelebA files the fixture's HQ images come from, so each part of the
    fixture goes in its own folder.

    zipped: images in image.zip (else the unzipped image/ folder); text_zipped: text/ as text.zip;
    one_based: name the images 00001.jpg ... like other CelebA-HQ copies; masks: the colorized mask
    archive (nested server path) and the binary masks; optional: requests and identities;
    drop_images: leave these images out (their label rows stay); image_suffix: the images' suffix (".JPG"
    as some unpackers leave it); image_folder: where the images are (`image/image` is one level too deep;
    inside image.zip when zipped); replace: files written instead of the generated ones, by layout path
    (e.g. damaged `image/3.jpg` bytes), zipped where the layout zips them.
    """
    indices = list(HQ_TO_CELEBA)
    files: dict[str, bytes] = {}
    for index in indices:
        if index not in drop_images:
            name = f"{index + 1:05d}" if one_based else str(index)
            files[f"{image_folder}/{name}{image_suffix}"] = image_bytes(index, image_size, image_size, image_suffix)
    files["classification_label/combined_annotation_hq.txt"] = fine_grained_file(
        ((hq_name(index), values) for index, values in HQ_FINE_GRAINED.items()), separator="\t"
    ).encode()
    files["classification_label/CelebAMask-HQ-attribute-anno.txt"] = attribute_file(
        [(hq_name(index), hq_attributes(index)) for index in indices], celeba_style=False
    ).encode()
    captions = {hq_name(index): caption_entry(index) for index in indices if index != 5380}
    files["text/captions_hq.json"] = json.dumps(captions, indent=2).encode()
    files["CelebA-HQ-to-CelebA-mapping.txt"] = mapping_file(HQ_TO_CELEBA, header=mapping_header).encode()
    hq_origins = {
        split: [celeba_name(HQ_TO_CELEBA[index]) for index in indices] for split, indices in HQ_SPLITS.items()
    }
    files["list_eval_partition.txt"] = partition_file(hq_origins).encode()
    if optional:
        requests = {hq_name(index): text for index, text in HQ_REQUESTS.items()}
        annotated = {hq_name(index): entry for index, entry in HQ_REQUEST_ANNOTATIONS.items()}
        files["text/request_hq.json"] = json.dumps(requests, indent=2).encode()
        files["text/request_annotated_hq.json"] = json.dumps(annotated, indent=2).encode()
        files["identity/identity_CelebA-HQ.txt"] = "".join(
            f"{hq_name(index)} {identity}\n" for index, identity in HQ_IDENTITIES.items()
        ).encode()
    if masks:
        for index in indices:
            if index != HQ_WITHOUT_COLORIZED_MASK:
                files[f"mask/CelebAMask-HQ-mask-color-palette/{index}.png"] = colorized_mask(index)
            for number, part in enumerate(HQ_PARTS):
                path = f"CelebAMask-HQ-mask-anno/{index // 2000}/{index:05d}_{part}.png"
                files[path] = part_mask(index, number)
    archives = {
        "mask/CelebAMask-HQ-mask-color-palette.zip": ("mask/CelebAMask-HQ-mask-color-palette", MASK_ARCHIVE_FOLDER),
        "mask/CelebAMask-HQ-mask-anno.zip": ("CelebAMask-HQ-mask-anno", "CelebAMask-HQ-mask-anno"),
    }
    if zipped:
        archives["image.zip"] = ("image", "image")
    if text_zipped:
        archives["text.zip"] = ("text", "text")
    return write_download(root, files | dict(replace or {}), archives)


def make_standard_download(
    root: Path,
    *,
    zipped: bool = True,
    optional: bool = True,
    image_folder: str = "img_align_celeba",
    image_suffix: str = ".jpg",
) -> Path:
    """The standard part: CelebA's aligned images and label files, and CelebA-Dialog's standard files.

    000005.jpg's fine-grained row is "unlabeled" (-1 in every column); requests come as request.txt.
    image_folder: where the images are (`img_align_celeba_png` for CelebA's PNG release, `img_celeba` for
    its in-the-wild images, `img_align_celeba/img_align_celeba` as Kaggle's copy has them); zipped: in
    `<first folder>.zip`; image_suffix: ".png" writes PNGs, ".JPG" upper-case names.
    """
    names = [name for split in STANDARD_SPLITS.values() for name in split]
    files: dict[str, bytes] = {
        f"{image_folder}/{name[:6]}{image_suffix}": image_bytes(int(name[:6]), 178, 218, image_suffix) for name in names
    }
    files["list_attr_celeba.txt"] = attribute_file(
        [(name, standard_attributes(name)) for name in names], celeba_style=True
    ).encode()
    files["list_eval_partition.txt"] = partition_file(STANDARD_SPLITS).encode()
    fine_grained = [(name, STANDARD_FINE_GRAINED.get(name, (-1,) * 5)) for name in names]
    files["celeba_dialog/combined_annotation.txt"] = fine_grained_file(fine_grained, separator=" ").encode()
    files["celeba_dialog/celeba_caption/captions.json"] = json.dumps(
        {name: caption_entry(name) for name in names}
    ).encode()
    files["celeba_dialog/metadata.txt"] = b"content unknown, ignored\n"
    if optional:
        files["identity_CelebA.txt"] = "".join(f"{n} {i}\n" for n, i in STANDARD_IDENTITIES.items()).encode()
        files["celeba_dialog/celeba_request/request.txt"] = "".join(
            f"{name}\t{text}\n" for name, text in STANDARD_REQUESTS.items()
        ).encode()
    top = image_folder.split("/")[0]
    archives = {f"{top}.zip": (top, top)} if zipped else {}
    return write_download(root, files, archives)


def drive_zip(download: Path, zip_path: Path, compress_archives: bool = False) -> Path:
    """`download` as Google Drive gives a folder download: one zip holding the folder, archives inside it.

    The zips of the download become members of this zip, stored as they are unless `compress_archives`.
    """
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(download.rglob("*")):
            if path.is_file():
                is_archive = path.suffix == ".zip"
                compression = zipfile.ZIP_STORED if is_archive and not compress_archives else zipfile.ZIP_DEFLATED
                member = f"{download.name}/{path.relative_to(download).as_posix()}"
                archive.write(path, member, compress_type=compression)
    return zip_path


def make_large_hq_download(root: Path, jpegs: Sequence[Path], seed: int = 0) -> Path:
    """An HQ download of the given JPEG files (named 0.jpg ... in order), zipped as released, with labels.

    Label files cover every image (but 5380.jpg's fine-grained row and caption, as in the release);
    each image maps to a distinct CelebA file, whose split follows CelebA's index ranges.
    """
    rng = np.random.default_rng(seed)
    count = len(jpegs)
    origins = rng.choice(202_599, size=count, replace=False)
    root.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(root / "image.zip", "w") as archive:
        for index, jpeg in enumerate(jpegs):
            archive.write(jpeg, f"image/{index}.jpg")
    labelled = [index for index in range(count) if index != 5380]
    degrees = rng.integers(0, 6, size=(count, 5))
    files = {
        "classification_label/combined_annotation_hq.txt": fine_grained_file(
            ((hq_name(index), degrees[index]) for index in labelled), separator="\t"
        ),
        "classification_label/CelebAMask-HQ-attribute-anno.txt": attribute_file(
            [(hq_name(index), tuple(rng.choice([-1, 1], len(ATTRIBUTE_NAMES)))) for index in range(count)],
            celeba_style=False,
        ),
        "text/captions_hq.json": json.dumps({hq_name(index): caption_entry(index) for index in labelled}),
        "CelebA-HQ-to-CelebA-mapping.txt": mapping_file({index: int(origins[index]) for index in range(count)}),
        "list_eval_partition.txt": "".join(
            f"{celeba_name(int(origin))} {0 if origin < 162_770 else 1 if origin < 182_637 else 2}\n"
            for origin in sorted(origins)
        ),
    }
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root
