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
inside folders or zip archives (a zip inside a zip too, as a Google Drive folder download makes it);
images are copied from there into the Arrow shards as they are read, JPEG or PNG as found. See
docs/celeba_dialog.md for the layouts recognised and how masks are checked.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import datasets
import pyarrow as pa
from datasets.builder import Key

from celeb_datasets.builder import CelebBuilder, CelebBuilderConfig, arrow_table
from celeb_datasets.errors import OptionError
from celeb_datasets.options import option
from celeb_datasets.skips import SkipLog
from celeba_dialog_lib.files import FolderReaders
from celeba_dialog_lib.labels import (
    ATTRIBUTE_NAMES,
    DEGREE_NAMES,
    FINE_GRAINED_NAMES,
    MASK_PART_NAMES,
    SPLITS,
)
from celeba_dialog_lib.parsers import RequestAnnotation
from celeba_dialog_lib.rows import (
    ImageRow,
    ImageShard,
    image_files,
    image_order,
    join_rows,
    named_images,
    read_media,
    read_part_labels,
)
from celeba_dialog_lib.skip_kinds import SKIP_KINDS
from celeba_dialog_lib.sources import (
    HOMEPAGE,
    HQ_SOURCES,
    IMAGE_ROLES,
    MASK_ROLES,
    STANDARD_SOURCES,
    ImageFolders,
    SourceSpec,
    folder_of,
    locate_sources,
)

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

_HOMEPAGE = HOMEPAGE

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
    "The key set of `request_annotated*.json` is not documented: unknown keys are ignored and every known key "
    "is optional.",
)

# One sentence per feature for the dataset card (the card adds each feature's type and label names).
FEATURE_DESCRIPTIONS = {
    "image": "The image file as found, byte for byte: JPEG (1024x1024 for `hq`, 178x218 for `standard`), or PNG "
    "when built from CelebA's PNG release; its `path` is the file's name (`000001.png`).",
    "image_id": "The image's name in the label files (0-based `0.jpg` ... for CelebA-HQ, `000001.jpg` ... for "
    "CelebA), whatever the suffix of the file stored.",
    "celeba_file": "The CelebA image this CelebA-HQ image was made from (from CelebA-HQ-to-CelebA-mapping.txt).",
    "celeba_index": "The 0-based index of that CelebA image.",
    "identity": "CelebA's identity number of the person, None when no identity file was found.",
    "fine_grained": "The degree 0..5 of bangs, eyeglasses, beard length, smiling and age; None where unlabeled.",
    "attributes": "CelebA's 40 binary attributes; None when the image has no row in the attribute file.",
    "caption": "The overall caption; None for 5380.jpg.",
    "attribute_captions": "One caption per fine-grained attribute; None where the source is empty or null.",
    "request": "A user's editing request for the image (from request*.json or request*.txt); None if absent.",
    "request_annotation": "The request's structure where the release annotates it; every field optional.",
    "mask": "CelebAMask-HQ's colorized face-parsing PNG (512x512, palette); `np.array(mask)` gives the label ids "
    "0..18. None where absent or unlike the release's (listed in the skip report).",
    "part_masks": "CelebAMask-HQ's binary mask (0 or 255, 512x512) of each face part; None where the part is absent.",
}


# The skip report's columns (its kinds: celeba_dialog_lib.skip_kinds).
SKIP_REPORT_COLUMNS = ("image_id", "kind", "reason")

# Images per gen_kwargs shard (the unit `num_proc` splits), and per Arrow table: images are written
# in small batches so memory stays flat however many images there are.
SHARD_IMAGES = 1_000
IMAGE_TABLE_ROWS = 32
IMAGE_WRITER_BATCH_SIZE = 32


@dataclasses.dataclass
class CelebADialogConfig(CelebBuilderConfig):
    """A CelebA-Dialog config: its part and media below, and `on_missing`, `media_check` (CelebBuilderConfig)."""

    part: Literal["hq", "standard"] = option(
        "hq", "hq: the 30,000 CelebA-HQ images (1024x1024); standard: the 202,599 aligned CelebA images (178x218)"
    )
    with_images: bool = option(True, "store each image's original file bytes in `image` (false: the labels alone)")
    with_masks: bool = option(
        False, "add CelebAMask-HQ's colorized face-parsing mask and the 18 binary part masks (hq only)"
    )

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
        skipped = (() if self.with_images else IMAGE_ROLES) + (() if self.with_masks else MASK_ROLES)
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
    SKIP_KINDS = SKIP_KINDS
    NO_ROWS_HINT = "Check that the images are the ones the label files name."
    MEDIA_WRITER_BATCH_SIZE = IMAGE_WRITER_BATCH_SIZE

    def _split_generators(self, dl_manager: datasets.DownloadManager) -> list[datasets.SplitGenerator]:
        skips = self.skip_log(dl_manager)
        skip_folder = None if skips.folder is None else str(skips.folder)
        what = f"CelebA-Dialog {self.config.name}"
        found = locate_sources(self.config.data_dir, self.config.sources, what=what)
        labels = read_part_labels(found, self.config.part)
        images = found.get("images")
        masks, part_masks = (folder_of(found, role) for role in ("masks", "part_masks"))
        files = None
        if isinstance(images, ImageFolders):
            files = image_files(images, self.config.part, what)
            image_ids = list(files)
            universe = str(images)
        else:
            # Without images, the file that gives every image its split lists the images: the HQ mapping,
            # or CelebA's partition.
            listing = labels.celeba_files if labels.celeba_files is not None else labels.splits
            image_ids = sorted(listing, key=image_order)
            universe = labels.sources["mapping" if labels.celeba_files is not None else "partition"]
        self.expect_items(named_images(image_ids, labels))
        rows = join_rows(image_ids, universe, labels, skips, files)
        generators = []
        for split in SPLITS:
            split_rows = [row for row in rows if row.split == split]
            # Work items, each made into rows on its own (by any engine): shards of SHARD_IMAGES images.
            shards = [
                ImageShard(tuple(split_rows[first : first + SHARD_IMAGES]), masks, part_masks)
                for first in range(0, len(split_rows), SHARD_IMAGES)
            ]
            gen_kwargs = {"items": shards, "skip_folder": skip_folder}
            generators.append(datasets.SplitGenerator(name=split, gen_kwargs=gen_kwargs))
        return generators

    def _generate_tables(
        self, items: list[ImageShard], skip_folder: str | None = None
    ) -> Iterator[tuple[Key, pa.Table]]:
        features = self.info.features
        skips = SkipLog(skip_folder, SKIP_REPORT_COLUMNS)
        # One reader per folder for all the shards of this job (see FolderReaders).
        with FolderReaders() as readers:
            for shard_index, shard in enumerate(items):
                if not (self.config.with_images or self.config.with_masks):
                    yield Key(shard_index, 0), image_rows_table(shard.rows, features)
                    continue
                for batch, first in enumerate(range(0, len(shard.rows), IMAGE_TABLE_ROWS)):
                    rows = shard.rows[first : first + IMAGE_TABLE_ROWS]
                    rows, media = read_media(rows, readers, shard.masks, shard.part_masks, self.config, skips)
                    yield Key(shard_index, batch), image_rows_table(rows, features, media)


# ---------------------------------------------------------------------------------------------------
# Rows: one Arrow table per batch of rows, in the schema of the config's features.


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
