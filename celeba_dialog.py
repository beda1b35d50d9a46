"""CelebA-Dialog: face images with fine-grained attribute degrees, 40 attributes, captions and editing requests.

Build it from your own download (the CelebA-HQ part, the CelebA part, or both, zipped or unzipped):

    >>> from celeba_dialog import CelebADialog
    >>> builder = CelebADialog(config_name="hq", data_dir="path/to/CelebA-Dialog")
    >>> builder.download_and_prepare(num_proc=4)
    >>> dataset = builder.as_dataset(split="train")
    >>> row = dataset[0]
    >>> dataset.features["fine_grained"]["smiling"].int2str(row["fine_grained"]["smiling"])
    'Has a small smile. Cannot see the teeth.'

or from the command line: `celeb-datasets prepare celeba_dialog --config hq --data-dir path/to/CelebA-Dialog`.

Configs: `hq` (the 30,000 CelebA-HQ images with every label), `hq_masks` (the same plus CelebAMask-HQ's
face-parsing masks), `standard` (the 202,599 aligned CelebA images with every label), and `hq_labels`,
`standard_labels` (every label, no image bytes). Files are found by name anywhere under `data_dir`,
inside folders or zip archives; images are copied from there into the Arrow shards as they are read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import PurePosixPath
from typing import Any, Literal, NamedTuple

import datasets
import pyarrow as pa
from datasets.builder import Key

from celeb_datasets.builder import CelebBuilder, CelebBuilderConfig, arrow_table
from celeb_datasets.errors import (
    MissingSourceError,
    OptionError,
    SourceFileError,
    UnreadableMediaError,
)
from celeb_datasets.files import DataFolder, FolderReader, SourceFile, SourceFolder
from celeb_datasets.images import image_problem
from celeb_datasets.skips import SkipLog
from celeb_datasets.sourcefiles import loads_json

logger = logging.getLogger("celeb_datasets")

_CITATION = """\
@inproceedings{jiang2021talkedit,
  title     = {Talk-to-Edit: Fine-Grained Facial Editing via Dialog},
  author    = {Jiang, Yuming and Huang, Ziqi and Pan, Xingang and Loy, Chen Change and Liu, Ziwei},
  booktitle = {IEEE/CVF International Conference on Computer Vision (ICCV)},
  year      = {2021}
}
@inproceedings{liu2015faceattributes,
  title     = {Deep Learning Face Attributes in the Wild},
  author    = {Liu, Ziwei and Luo, Ping and Wang, Xiaogang and Tang, Xiaoou},
  booktitle = {IEEE International Conference on Computer Vision (ICCV)},
  year      = {2015}
}
@inproceedings{karras2018progressive,
  title     = {Progressive Growing of {GAN}s for Improved Quality, Stability, and Variation},
  author    = {Karras, Tero and Aila, Timo and Laine, Samuli and Lehtinen, Jaakko},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year      = {2018}
}
@inproceedings{lee2020maskgan,
  title     = {{MaskGAN}: Towards Diverse and Interactive Facial Image Manipulation},
  author    = {Lee, Cheng-Han and Liu, Ziwei and Wu, Lingyun and Luo, Ping},
  booktitle = {IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  year      = {2020}
}
"""

_DESCRIPTION = """\
CelebA-Dialog is a language-vision face dataset built on CelebA. Each image has the degree (0 to 5) of
five attributes (bangs, eyeglasses, beard, smiling, age), the 40 binary CelebA attributes, an overall
caption and one caption per fine-grained attribute, and a user editing request ("Make the bangs slightly
longer."), with its structure where annotated. The CelebA-HQ part covers the 30,000 CelebA-HQ images
(1024x1024), with CelebAMask-HQ's face-parsing masks; the standard part the 202,599 aligned CelebA
images (178x218) with CelebA's official split.
"""

_HOMEPAGE = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA/CelebA_Dialog.html"
_CELEBA_HOMEPAGE = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"

_LICENSE = """\
Non-commercial research purposes only, under the CelebA, CelebA-HQ, CelebAMask-HQ and CelebA-Dialog
agreements: no commercial use, no redistribution beyond internal copies at one site, and no use that
identifies or harms the people shown. See the terms on the homepage.
"""

KNOWN_DEFECTS = (
    "CelebA-HQ image 5380.jpg has no caption and no fine-grained label (the image is corrupted upstream): "
    "its `caption`, `attribute_captions` and `fine_grained` values are None (if its file also fails the image "
    "check, it is left out and listed in the skip report).",
    "21 standard CelebA images are unlabeled in the fine-grained file (how they are marked is not documented): "
    "a value that is not a whole number, or is negative (such as -1), counts as unlabeled and becomes None, "
    "and the row is listed in the skip report with its values as written; a whole number above 5 is refused.",
    "The CelebA-HQ numbering here is 0-based (0.jpg to 29999.jpg); other CelebA-HQ copies are 1-based "
    "(00001.jpg): a folder of 1-based names is refused, never read off by one.",
    "The source columns of `beard` and `age` are called No_Beard and Young, but their degrees mean beard "
    "length and age: higher is more beard, older.",
    "There is no official CelebA-HQ split: the `hq` splits are derived from CelebA's official split through "
    "the CelebA-HQ-to-CelebA mapping (24,183 / 2,993 / 2,824 images).",
    "CelebA's label noise (e.g. `male`) is inherited, and a few CelebAMask-HQ masks are wrong.",
)

# One sentence per feature for the dataset card (the card adds each feature's type and label names).
FEATURE_DESCRIPTIONS = {
    "image": "The original JPEG file, byte for byte (1024x1024 for `hq`, 178x218 for `standard`).",
    "image_id": "The image's file name (0-based `0.jpg` ... for CelebA-HQ, `000001.jpg` ... for CelebA).",
    "celeba_file": "The CelebA image this CelebA-HQ image was made from (from CelebA-HQ-to-CelebA-mapping.txt).",
    "celeba_index": "The 0-based index of that CelebA image.",
    "identity": "CelebA's identity number of the person, None when no identity file was found.",
    "fine_grained": "The degree 0..5 of bangs, eyeglasses, beard length, smiling and age; None where unlabeled.",
    "attributes": "CelebA's 40 binary attributes; None when the image has no row in the attribute file.",
    "caption": "The overall caption; None for 5380.jpg.",
    "attribute_captions": "One caption per fine-grained attribute; None where the source is empty or null.",
    "request": "A user's editing request for the image (from request*.json or request*.txt); None if absent.",
    "request_annotation": "The request's structure where the release annotates it; every field optional.",
    "mask": "CelebAMask-HQ's colorized face-parsing PNG; `np.array(mask)` gives the label ids 0..18.",
    "part_masks": "CelebAMask-HQ's binary mask (0 or 255) of each face part; None where the part is absent.",
}

# The 40 CelebA attributes in the order of the attribute files; features use them lowercased.
ATTRIBUTE_NAMES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips",
    "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby",
    "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male",
    "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose",
    "Receding_Hairline", "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair",
    "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)  # fmt: skip

# The five fine-grained attributes, named for what their degrees mean, and their columns in the source files.
FINE_GRAINED_COLUMNS = {
    "bangs": "Bangs",
    "eyeglasses": "Eyeglasses",
    "beard": "No_Beard",
    "smiling": "Smiling",
    "age": "Young",
}
FINE_GRAINED_NAMES = tuple(FINE_GRAINED_COLUMNS)
# What each degree 0..5 means, from the release; these are the ClassLabel names of `fine_grained`.
DEGREE_NAMES = {
    "bangs": (
        "Has no bangs. Can see 100% of the forehead.",
        "Has very short bangs. Can see 80% of the forehead.",
        "Has middle short bangs. Can see 60% of the forehead.",
        "Has middle-length bangs. Can see 40% of the forehead.",
        "Has middle long bangs. Can see 20% of the forehead.",
        "Has long bangs. Can see 0% of the forehead.",
    ),
    "eyeglasses": (
        "No eyeglasses.",
        "With eyeglasses that are rimless or have very thin metal frames.",
        "With eyeglasses that have middle-thickness metal frames or thin plastic frames.",
        "With eyeglasses that have thick plastic frames.",
        "With thin-frame sunglasses.",
        "With thick-frame sunglasses.",
    ),
    "beard": (
        "Has no beard.",
        "Has a beard that is just shaved and very short.",
        "Hasn't shaved for a while and has a middle-short beard.",
        "Has grown a beard that is middle-length.",
        "Has grown a beard that is long and well-groomed.",
        "Has a bushy beard that is long and not groomed.",
    ),
    "smiling": (
        "Is not smiling.",
        "Has a small smile. Cannot see the teeth.",
        "Has a small smile. Can see some teeth.",
        "Is smiling. Can see the entire row of teeth.",
        "Has a big smile. Can see the entire row of teeth. The mouth is slightly open.",
        "Has a very big smile. Can see the entire row of teeth. The mouth is wide open.",
    ),
    "age": (
        "Is less than 15 years old. Has a childlike look on the face.",
        "Is between 15 and 30 years old. Teenager.",
        "Is between 30 and 40 years old. Young adults.",
        "Is between 40 and 50 years old. Middle-aged.",
        "Is between 50 and 60 years old. Aged.",
        "Is above 60. The elderly.",
    ),
}
DEGREES = range(6)

# CelebAMask-HQ's face-parsing labels: the pixel values 0..18 of `mask`, in the source's own names
# (eye_g: eyeglasses, l_/r_: left/right, ear_r: earring, neck_l: necklace, cloth: clothes).
MASK_LABEL_NAMES = (
    "background", "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear", "mouth",
    "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l", "neck", "cloth",
)  # fmt: skip
# The colour the colorized masks draw each label in (RGB, by label id).
MASK_PALETTE = (
    (0, 0, 0), (204, 0, 0), (76, 153, 0), (204, 204, 0), (51, 51, 255), (204, 0, 204), (0, 255, 255),
    (255, 204, 204), (102, 51, 0), (255, 0, 0), (102, 204, 0), (255, 255, 0), (0, 0, 153), (0, 0, 204),
    (255, 51, 153), (0, 204, 204), (0, 51, 0), (255, 153, 51), (0, 204, 0),
)  # fmt: skip
# The 18 binary part masks, one per label but the background.
MASK_PART_NAMES = MASK_LABEL_NAMES[1:]

SPLITS = ("train", "validation", "test")
# CelebA's list_eval_partition.txt numbers the splits 0, 1, 2.
_PARTITION_SPLITS = {"0": "train", "1": "validation", "2": "test"}

SKIP_REPORT_COLUMNS = ("image_id", "reason")
# Kinds of report lines for images kept with some values None (the other kinds are left out).
KEPT_KINDS = ("no label", "no mask", "unreadable mask")

# Images per gen_kwargs shard (the unit `num_proc` splits), and per Arrow table: images are written
# in small batches so memory stays flat however many images there are.
SHARD_IMAGES = 1_000
IMAGE_TABLE_ROWS = 32
IMAGE_WRITER_BATCH_SIZE = 32

_HQ_PART = f"the CelebA-Dialog CelebA-HQ download ({_HOMEPAGE})"
_STANDARD_PART = f"the CelebA-Dialog CelebA download ({_HOMEPAGE})"
_CELEBA_PART = f"the CelebA download ({_CELEBA_HOMEPAGE})"
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
_IMAGE_ROLES = ("images",)
_MASK_ROLES = ("masks", "part_masks")


@dataclasses.dataclass
class CelebADialogConfig(CelebBuilderConfig):
    """A CelebA-Dialog config (and `on_missing`, `media_check`: see CelebBuilderConfig).

    Args:
        part: "hq" (the 30,000 CelebA-HQ images, 1024x1024) or "standard" (the 202,599 aligned CelebA
            images, 178x218).
        with_images: store each image's original JPEG bytes in `image`; False gives the labels alone.
        with_masks: add CelebAMask-HQ's colorized face-parsing mask (`mask`) and the 18 binary part masks
            (`part_masks`); HQ only.
    """

    part: Literal["hq", "standard"] = "hq"
    with_images: bool = True
    with_masks: bool = False

    def validate(self) -> None:
        super().validate()
        if self.with_masks and self.part != "hq":
            raise OptionError("with_masks needs part='hq': CelebAMask-HQ masks exist for CelebA-HQ only")

    @property
    def stores_media(self) -> bool:
        return self.with_images or self.with_masks

    def features(self) -> datasets.Features:
        return celeba_dialog_features(self.part, self.with_images, self.with_masks)

    @property
    def sources(self) -> dict[str, SourceSpec]:
        """The files and folders this config reads, by role."""
        sources = HQ_SOURCES if self.part == "hq" else STANDARD_SOURCES
        skipped = (() if self.with_images else _IMAGE_ROLES) + (() if self.with_masks else _MASK_ROLES)
        return {role: spec for role, spec in sources.items() if role not in skipped}


def celeba_dialog_features(part: str = "hq", with_images: bool = True, with_masks: bool = False) -> datasets.Features:
    """The features of a config: every label typed, plus the image and masks when the config stores them."""
    text = datasets.Value("string")
    features: dict[str, Any] = {}
    if with_images:
        features["image"] = datasets.Image()
    features["image_id"] = text
    if part == "hq":
        features["celeba_file"] = text
        features["celeba_index"] = datasets.Value("int32")
    features["identity"] = datasets.Value("int32")
    features["fine_grained"] = {
        name: datasets.ClassLabel(names=list(DEGREE_NAMES[name])) for name in FINE_GRAINED_NAMES
    }
    features["attributes"] = {name.lower(): datasets.Value("bool") for name in ATTRIBUTE_NAMES}
    features["caption"] = text
    features["attribute_captions"] = {name: text for name in FINE_GRAINED_NAMES}
    features["request"] = text
    features["request_annotation"] = {
        "user_mode": text,
        "request_mode": text,
        "attribute": datasets.ClassLabel(names=list(FINE_GRAINED_NAMES)),
        "target_score": datasets.Value("int8"),
        "score_change_direction": text,
        "score_change_value": datasets.Value("int8"),
    }
    if with_masks:
        # Palette PNGs whose pixel values are the label ids: np.array(PIL image) gives the label map.
        features["mask"] = datasets.Image()
        features["part_masks"] = {name: datasets.Image() for name in MASK_PART_NAMES}
    return datasets.Features(features)


class CelebADialog(CelebBuilder):
    """CelebA-Dialog from a local download; `data_dir` is the folder holding it (files are found by name)."""

    VERSION = datasets.Version("1.0.0")
    BUILDER_CONFIG_CLASS = CelebADialogConfig
    BUILDER_CONFIGS = [
        CelebADialogConfig(
            name="hq",
            version=VERSION,
            description="The 30,000 CelebA-HQ images (1024x1024 JPEG) with every label; splits derived from CelebA's.",
        ),
        CelebADialogConfig(
            name="hq_masks",
            version=VERSION,
            with_masks=True,
            description="`hq` plus CelebAMask-HQ's colorized face-parsing mask and 18 binary part masks.",
        ),
        CelebADialogConfig(
            name="hq_labels",
            version=VERSION,
            with_images=False,
            description="Every label of the 30,000 CelebA-HQ images, without image bytes.",
        ),
        CelebADialogConfig(
            name="standard",
            version=VERSION,
            part="standard",
            description="The 202,599 aligned CelebA images (178x218 JPEG) with every label and CelebA's split.",
        ),
        CelebADialogConfig(
            name="standard_labels",
            version=VERSION,
            part="standard",
            with_images=False,
            description="Every label of the 202,599 aligned CelebA images, without image bytes.",
        ),
    ]
    DEFAULT_CONFIG_NAME = "hq"
    config: CelebADialogConfig

    PRETTY_NAME = "CelebA-Dialog"
    DESCRIPTION = _DESCRIPTION
    CITATION = _CITATION
    HOMEPAGE = _HOMEPAGE
    LICENSE = _LICENSE
    LICENSE_NAME = "celeba-dialog-research-only"
    KNOWN_DEFECTS = KNOWN_DEFECTS
    TASK_CATEGORIES = ("image-classification", "image-to-text", "text-to-image", "image-segmentation")
    TAGS = ("celeba", "celeba-hq", "celebamask-hq", "face-attributes", "face-editing", "captions")
    FEATURE_DESCRIPTIONS = FEATURE_DESCRIPTIONS
    # Rows of the full-size release, for dataset_infos.json.
    SPLIT_SIZES = {
        config: {"train": 24_183, "validation": 2_993, "test": 2_824} if config.startswith("hq")
        else {"train": 162_770, "validation": 19_867, "test": 19_962}
        for config in ("hq", "hq_masks", "hq_labels", "standard", "standard_labels")
    }  # fmt: skip

    SKIP_REPORT_COLUMNS = SKIP_REPORT_COLUMNS
    KEPT_KINDS = KEPT_KINDS
    NO_ROWS_HINT = "Check that the images are the ones the label files name."
    MEDIA_WRITER_BATCH_SIZE = IMAGE_WRITER_BATCH_SIZE

    def _split_generators(self, dl_manager: datasets.DownloadManager) -> list[datasets.SplitGenerator]:
        skips = self.skip_log(dl_manager)
        skip_folder = None if skips.folder is None else str(skips.folder)
        found = locate_sources(self.config.data_dir, self.config.sources, what=f"CelebA-Dialog {self.config.name}")
        labels = read_part_labels(found, self.config.part)
        images, masks, part_masks = (_folder(found, role) for role in ("images", "masks", "part_masks"))
        if images is not None:
            image_ids = image_names(images, self.config.part)
            universe = f"the image folder {images}"
        else:
            # Without images, the file that gives every image its split lists the images: the HQ mapping,
            # or CelebA's partition.
            listing = labels.celeba_files if labels.celeba_files is not None else labels.splits
            image_ids = sorted(listing, key=image_order)
            universe = labels.sources["mapping" if labels.celeba_files is not None else "partition"]
        self.expect_items(named_images(image_ids, labels))
        rows = join_rows(image_ids, universe, labels, skips)
        generators = []
        for split in SPLITS:
            split_rows = [row for row in rows if row.split == split]
            shards = [
                ImageShard(tuple(split_rows[first : first + SHARD_IMAGES]), images, masks, part_masks, skip_folder)
                for first in range(0, len(split_rows), SHARD_IMAGES)
            ]
            generators.append(datasets.SplitGenerator(name=split, gen_kwargs={"shards": shards}))
        return generators

    def _generate_tables(self, shards: list[ImageShard]) -> Iterator[tuple[Key, pa.Table]]:
        features = self.info.features
        with contextlib.ExitStack() as stack:
            # One reader per folder for all the shards of this job: opening a zip reads its whole
            # member list, which for 30,000 images costs as much as copying hundreds of them.
            readers: dict[SourceFolder, FolderReader] = {}

            def reader(folder: SourceFolder | None) -> FolderReader | None:
                if folder is not None and folder not in readers:
                    readers[folder] = stack.enter_context(folder.open_reader())
                return None if folder is None else readers[folder]

            for shard_index, shard in enumerate(shards):
                if not (self.config.with_images or self.config.with_masks):
                    yield Key(shard_index, 0), image_rows_table(shard.rows, features)
                    continue
                folders = (reader(shard.images), reader(shard.masks), reader(shard.part_masks))
                for batch, first in enumerate(range(0, len(shard.rows), IMAGE_TABLE_ROWS)):
                    rows = shard.rows[first : first + IMAGE_TABLE_ROWS]
                    skips = SkipLog(shard.skip_folder, SKIP_REPORT_COLUMNS)
                    rows, media = read_media(rows, *folders, self.config, skips)
                    yield Key(shard_index, batch), image_rows_table(rows, features, media)


# ---------------------------------------------------------------------------------------------------
# Finding the download's files, and joining them by image name.


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
            f"CelebA-Dialog needs data_dir: the folder holding your download from {_HOMEPAGE} "
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


def _folder(found: dict[str, SourceFile | SourceFolder | None], role: str) -> SourceFolder | None:
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
    padded = sorted(stem for stem in stems if stem.isdigit() and len(stem) > 1 and stem.startswith("0"))
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
    return (int(stem), name) if stem.isdigit() else (-1, name)


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


# ---------------------------------------------------------------------------------------------------
# Writing: one Arrow table per batch of rows, in the features' schema.


def read_media(
    rows: Sequence[ImageRow],
    images: FolderReader | None,
    masks: FolderReader | None,
    part_masks: FolderReader | None,
    config: CelebADialogConfig,
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
    config: CelebADialogConfig,
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
    folder: FolderReader, relative: str, row: ImageRow, config: CelebADialogConfig, skips: SkipLog, kind: str
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


def image_rows_table(
    rows: Sequence[ImageRow], features: datasets.Features, media: dict[str, list[Any]] | None = None
) -> pa.Table:
    """The Arrow rows of `rows` in the schema of `features` (image and mask columns given in `media`)."""
    columns: dict[str, list[Any]] = {
        "image_id": [row.image_id for row in rows],
        "celeba_file": [row.celeba_file and row.celeba_file.file for row in rows],
        "celeba_index": [row.celeba_file and row.celeba_file.index for row in rows],
        "identity": [row.identity for row in rows],
        "fine_grained": [
            dict(zip(FINE_GRAINED_NAMES, row.fine_grained or (None,) * len(FINE_GRAINED_NAMES), strict=True))
            for row in rows
        ],
        "attributes": [
            None
            if row.attributes is None
            else dict(zip((name.lower() for name in ATTRIBUTE_NAMES), row.attributes, strict=True))
            for row in rows
        ],
        "caption": [row.captions and row.captions.overall for row in rows],
        "attribute_captions": [
            dict.fromkeys(FINE_GRAINED_NAMES)
            if row.captions is None
            else dict(zip(FINE_GRAINED_NAMES, row.captions.attribute_wise, strict=True))
            for row in rows
        ],
        "request": [row.request for row in rows],
        "request_annotation": [_request_annotation_value(row.request_annotation) for row in rows],
        **(media or {}),
    }
    return arrow_table(columns, features)


def _request_annotation_value(annotation: RequestAnnotation | None) -> dict[str, Any] | None:
    if annotation is None:
        return None
    value = annotation._asdict()
    del value["text"]  # the text is the `request` column
    if annotation.attribute is not None:
        value["attribute"] = FINE_GRAINED_NAMES.index(annotation.attribute)
    return value


# ---------------------------------------------------------------------------------------------------
# Source files: one small pure parser each, on the file's text; `source` names the file in errors.


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
    """A degree 0..5, or None for a value that marks "unlabeled" (anything but a whole number >= 0)."""
    if not value.isdigit():
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
    if len(fields) != 1 or not fields[0].isdigit():
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
        if index == 0 and not fields[0].isdigit():
            continue
        if len(fields) != 3 or not (fields[0].isdigit() and fields[1].isdigit()):
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
        if len(fields) != 2 or fields[1] not in _PARTITION_SPLITS:
            raise _line_error(source, line, "an image name and its split 0, 1 or 2", " ".join(fields))
        _add_row(rows, source, line, fields[0], _PARTITION_SPLITS[fields[1]])
    return rows


def parse_identities(text: str, source: str = "identity_CelebA-HQ.txt") -> dict[str, int]:
    """The identity number of each image (`<image>.jpg <identity>` lines; a header line is skipped)."""
    rows: dict[str, int] = {}
    for index, (line, fields) in enumerate(_table_lines(text)):
        if index == 0 and not fields[0].endswith(".jpg"):
            continue
        if len(fields) != 2 or not fields[1].isdigit():
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
            if isinstance(value, str) and value.isdigit():
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
        if extension == "png" and stem.isdigit():
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
        if not number.isdigit() or part not in MASK_PART_NAMES:
            raise SourceFileError(
                f"{source}/{name}: expected a part mask named <5-digit image number>_<part>.png with a part "
                f"among {', '.join(MASK_PART_NAMES)}"
            )
        parts.setdefault(f"{int(number)}.jpg", []).append((part, name))
    return {image: tuple(sorted(found)) for image, found in parts.items()}
