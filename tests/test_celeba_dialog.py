"""The CelebA-Dialog builder: parsers on hand-written rows, then whole builds of generated downloads."""

from __future__ import annotations

import logging
import re
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import datasets
import numpy as np
import pytest
from celeba_dialog_fixtures import (
    HQ_FINE_GRAINED,
    HQ_PARTS,
    HQ_SPLITS,
    HQ_TO_CELEBA,
    HQ_WITHOUT_COLORIZED_MASK,
    MASK_ARCHIVE_FOLDER,
    STANDARD_SPLITS,
    attribute_file,
    colorized_mask,
    drive_zip,
    hq_attributes,
    jpeg_bytes,
    make_hq_download,
    make_standard_download,
    mask_as_rgb,
    mask_with_value,
    part_mask,
    png_bytes,
)
from PIL import Image

import celeba_dialog
from celeb_datasets.cli import main as command_line
from celeb_datasets.errors import CelebDatasetsError, MissingSourceError, SourceFileError, UnreadableMediaError
from celeb_datasets.skips import read_skip_report
from celeba_dialog import ATTRIBUTE_NAMES, MASK_PART_NAMES, CelebADialog, CelebADialogConfig, celeba_dialog_features
from celeba_dialog_lib.parsers import (
    Captions,
    CelebAFile,
    RequestAnnotation,
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
)
from celeba_dialog_lib.rows import check_hq_image_names, image_order

HEADER = "img_name Bangs Eyeglasses No_Beard Smiling Young"


def build(data_dir: Path, config: str, cache_dir: Path, **prepare: object) -> CelebADialog:
    builder = CelebADialog(config_name=config, data_dir=str(data_dir), cache_dir=str(cache_dir))
    builder.download_and_prepare(**prepare)
    return builder


def without_decoding(dataset: datasets.Dataset | datasets.IterableDataset) -> list[dict]:
    """Rows with images as {"bytes", "path"} dicts, for exact comparison."""
    for name, feature in dataset.features.items():
        if isinstance(feature, datasets.Image):
            dataset = dataset.cast_column(name, datasets.Image(decode=False))
        elif name == "part_masks":
            dataset = dataset.cast_column(name, {part: datasets.Image(decode=False) for part in feature})
    return list(dataset)


@pytest.fixture(scope="module")
def hq_download(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_hq_download(tmp_path_factory.mktemp("hq_download"))


@pytest.fixture(scope="module")
def standard_download(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_standard_download(tmp_path_factory.mktemp("standard_download"))


@pytest.fixture(scope="module")
def hq_masks(hq_download: Path, tmp_path_factory: pytest.TempPathFactory) -> CelebADialog:
    return build(hq_download, "hq_masks", tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def hq(hq_download: Path, tmp_path_factory: pytest.TempPathFactory) -> CelebADialog:
    return build(hq_download, "hq", tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def standard(standard_download: Path, tmp_path_factory: pytest.TempPathFactory) -> CelebADialog:
    return build(standard_download, "standard", tmp_path_factory.mktemp("cache"))


# ---------------------------------------------------------------------------------------------------
# Parsers


@pytest.mark.parametrize(
    "text",
    [
        f"{HEADER.replace(' ', chr(9))}\n0.jpg\t2\t0\t0\t3\t1\n5381.jpg\t0\t5\t0\t0\t4\n",
        f"{HEADER}\n0.jpg 2 0 0 3 1\n5381.jpg 0 5 0 0 4\n",
        "0.jpg 2 0 0 3 1\n\n5381.jpg   0 5 0 0 4\n",
    ],
    ids=["tab-with-header", "space-with-header", "no-header-padded"],
)
def test_fine_grained_rows_read_the_same_with_tabs_or_spaces_and_with_or_without_header(text: str) -> None:
    labels = parse_fine_grained(text)

    assert labels.degrees == {"0.jpg": (2, 0, 0, 3, 1), "5381.jpg": (0, 5, 0, 0, 4)}
    assert labels.unlabeled == {}


def test_fine_grained_marks_that_are_not_whole_numbers_mean_unlabeled_and_are_kept_as_written() -> None:
    text = f"{HEADER}\n000005.jpg -1 -1 -1 -1 -1\n000006.jpg unlabeled\n000007.jpg\n000008.jpg 1 2 -1 3 x\n"

    labels = parse_fine_grained(text, "combined_annotation.txt")

    assert labels.degrees == {
        "000005.jpg": (None,) * 5,
        "000006.jpg": (None,) * 5,
        "000007.jpg": (None,) * 5,
        "000008.jpg": (1, 2, None, 3, None),
    }
    assert labels.unlabeled == {
        "000005.jpg": "-1 -1 -1 -1 -1",
        "000006.jpg": "unlabeled",
        "000007.jpg": "",
        "000008.jpg": "1 2 -1 3 x",
    }


@pytest.mark.parametrize("value", ["6", "9", "10", "255"])
def test_a_fine_grained_degree_above_5_is_an_error_naming_file_line_and_value(value: str) -> None:
    text = f"{HEADER}\n0.jpg\t2\t0\t0\t3\t1\n1.jpg\t2\t0\t{value}\t3\t1\n"

    with pytest.raises(
        SourceFileError,
        match=rf"combined_annotation_hq\.txt, line 3: expected degrees 0\.\.5 \(or a mark such as -1 for unlabeled\), "
        rf"found '{value}'",
    ):
        parse_fine_grained(text, "combined_annotation_hq.txt")


def test_a_fine_grained_row_with_degrees_but_not_five_is_an_error_naming_file_and_line() -> None:
    text = f"{HEADER}\n0.jpg\t2\t0\t0\t3\t1\n1.jpg\t2\t0\t0\n"

    with pytest.raises(CelebDatasetsError, match=r"combined_annotation_hq\.txt, line 3: expected an image name and 5"):
        parse_fine_grained(text, "combined_annotation_hq.txt")


def test_a_fine_grained_header_with_other_columns_is_an_error() -> None:
    with pytest.raises(
        CelebDatasetsError, match=r"line 1: expected the header img_name Bangs .* found 'img_name Bangs"
    ):
        parse_fine_grained("img_name Bangs Eyeglasses Beard Smiling Age\n0.jpg 1 1 1 1 1\n", "x.txt")


def test_a_second_row_for_an_image_is_an_error_naming_the_line() -> None:
    with pytest.raises(CelebDatasetsError, match=r"x\.txt, line 3: a second row for 0\.jpg"):
        parse_fine_grained("0.jpg 1 1 1 1 1\n1.jpg 1 1 1 1 1\n0.jpg 2 2 2 2 2\n", "x.txt")


def test_a_row_not_starting_with_an_image_name_is_an_error() -> None:
    with pytest.raises(CelebDatasetsError, match=r"line 1: expected an image file name .* found '0'"):
        parse_fine_grained("0 1 1 1 1 1\n", "x.txt")


def test_both_attribute_file_layouts_give_booleans_in_celeba_order() -> None:
    rows = [("0.jpg", hq_attributes(0)), ("1.jpg", hq_attributes(1))]
    hq_style = attribute_file(rows, celeba_style=False)
    celeba_style = attribute_file(rows, celeba_style=True)
    assert hq_style.splitlines()[2].startswith("0.jpg  -1 -1 1 -1")
    assert celeba_style.splitlines()[2].startswith("0.jpg -1 -1  1 -1")

    parsed = parse_attributes(hq_style)

    assert parsed == parse_attributes(celeba_style)
    present = {name for name, value in zip(ATTRIBUTE_NAMES, parsed["0.jpg"], strict=True) if value}
    assert present == {"Attractive", "Bangs", "Brown_Hair", "No_Beard", "Smiling", "Wearing_Lipstick", "Young"}


def test_attribute_names_in_another_order_are_reordered_to_celeba_order() -> None:
    names = list(ATTRIBUTE_NAMES)
    names[0], names[1] = names[1], names[0]
    values = ["-1"] * 40
    values[0] = "1"  # the file's first column is now Arched_Eyebrows
    text = f"1\n{' '.join(names)}\n0.jpg {' '.join(values)}\n"

    assert parse_attributes(text)["0.jpg"][:2] == (False, True)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("0.jpg " + " ".join(["1"] * 39) + " 0", r"line 3: expected an image name and 40 values -1 or 1"),
        ("0.jpg " + " ".join(["1"] * 39), r"line 3: expected an image name and 40 values -1 or 1"),
        ("0.jpg " + " ".join(["yes"] * 40), r"line 3: expected an image name and 40 values -1 or 1"),
    ],
    ids=["zero", "39-values", "non-numeric"],
)
def test_a_malformed_attribute_row_is_an_error_naming_file_and_line(row: str, message: str) -> None:
    text = f"1\n{' '.join(ATTRIBUTE_NAMES)} \n{row}\n"

    with pytest.raises(CelebDatasetsError, match=rf"list_attr_celeba\.txt, {message}"):
        parse_attributes(text, "list_attr_celeba.txt")


def test_an_attribute_file_with_fewer_rows_than_announced_is_an_error() -> None:
    text = f"2\n{' '.join(ATTRIBUTE_NAMES)}\n0.jpg {' '.join(['1'] * 40)}\n"

    with pytest.raises(CelebDatasetsError, match=r"line 1: announces 2 images but 1 rows follow"):
        parse_attributes(text)


def test_an_attribute_file_without_the_count_line_is_an_error() -> None:
    with pytest.raises(CelebDatasetsError, match=r"line 1: expected the number of images"):
        parse_attributes(f"{' '.join(ATTRIBUTE_NAMES)}\n")


@pytest.mark.parametrize("header", [True, False])
def test_the_hq_mapping_reads_with_or_without_its_header(header: bool) -> None:
    text = ("idx         orig_idx    orig_file   \n" if header else "") + "0  119613  119614.jpg\n3 81059 081060.jpg\n"

    assert parse_hq_mapping(text) == {
        "0.jpg": CelebAFile(119613, "119614.jpg"),
        "3.jpg": CelebAFile(81059, "081060.jpg"),
    }


def test_a_mapping_row_whose_file_disagrees_with_its_index_is_an_error() -> None:
    with pytest.raises(
        CelebDatasetsError, match=r"mapping\.txt, line 2: expected orig_file 119614\.jpg .* '119613\.jpg'"
    ):
        parse_hq_mapping("idx orig_idx orig_file\n0 119613 119613.jpg\n", "mapping.txt")


def test_a_mapping_row_with_a_missing_column_is_an_error() -> None:
    with pytest.raises(CelebDatasetsError, match=r"line 2: expected idx orig_idx orig_file"):
        parse_hq_mapping("0 119613 119614.jpg\n1 99094\n")


def test_the_partition_gives_split_names_and_refuses_other_numbers() -> None:
    assert parse_partition("000001.jpg 0\n162771.jpg 1\n182638.jpg 2\n") == {
        "000001.jpg": "train",
        "162771.jpg": "validation",
        "182638.jpg": "test",
    }
    with pytest.raises(CelebDatasetsError, match=r"list_eval_partition\.txt, line 2: expected .* split 0, 1 or 2"):
        parse_partition("000001.jpg 0\n000002.jpg 3\n")


def test_captions_that_are_empty_or_null_become_none() -> None:
    text = """{"0.jpg": {"overall_caption": "She smiles.", "attribute_wise_captions":
        {"Bangs": "", "Eyeglasses": null, "No_Beard": "No beard.", "Smiling": "A big smile.", "Young": "Young."}},
      "1.jpg": {"overall_caption": null, "attribute_wise_captions": {}}}"""

    assert parse_captions(text) == {
        "0.jpg": Captions("She smiles.", (None, None, "No beard.", "A big smile.", "Young.")),
        "1.jpg": Captions(None, (None,) * 5),
    }


def test_invalid_caption_json_is_an_error_naming_file_and_line() -> None:
    with pytest.raises(CelebDatasetsError, match=r"captions_hq\.json, line 3: not valid JSON"):
        parse_captions('{\n"0.jpg": {"overall_caption": "a"},\n"1.jpg": oops\n}', "captions_hq.json")


def test_captions_with_an_unknown_attribute_are_an_error_naming_the_image() -> None:
    with pytest.raises(CelebDatasetsError, match=r"captions_hq\.json: 7\.jpg: attribute_wise_captions: expected"):
        parse_captions(
            '{"7.jpg": {"overall_caption": "a", "attribute_wise_captions": {"Hat": "b"}}}', "captions_hq.json"
        )


def test_an_image_twice_in_a_json_file_is_an_error() -> None:
    with pytest.raises(CelebDatasetsError, match=r"request_hq\.json: the key '0\.jpg' appears twice"):
        parse_requests('{"0.jpg": "a", "0.jpg": "b"}', "request_hq.json")


def test_requests_read_the_same_from_json_and_from_tab_separated_lines() -> None:
    as_json = '{"0.jpg": "Make the bangs slightly longer.", "12.jpg": "Remove all the bangs."}'
    as_lines = "0.jpg\tMake the bangs slightly longer.\n12.jpg\tRemove all the bangs.\n"

    assert (
        parse_requests(as_json)
        == parse_request_lines(as_lines)
        == {
            "0.jpg": "Make the bangs slightly longer.",
            "12.jpg": "Remove all the bangs.",
        }
    )
    with pytest.raises(CelebDatasetsError, match=r"request_hq\.txt, line 2: expected an image name, a TAB"):
        parse_request_lines("0.jpg\tok\n12.jpg\n", "request_hq.txt")


def test_request_annotations_keep_known_keys_whatever_the_attribute_spelling() -> None:
    text = """{
      "0.jpg": {"text": "Make the bangs slightly longer.", "request_mode": "change_definite", "attribute": "Bangs",
                "score_change_direction": "positive", "score_change_value": 1, "target_score": null, "extra": 3},
      "1.jpg": {"attribute": "No_Beard", "target_score": 0},
      "2.jpg": {"attribute": "age", "user_mode": 2},
      "3.jpg": {}
    }"""

    assert parse_request_annotations(text) == {
        "0.jpg": RequestAnnotation(
            text="Make the bangs slightly longer.",
            request_mode="change_definite",
            attribute="bangs",
            score_change_direction="positive",
            score_change_value=1,
        ),
        "1.jpg": RequestAnnotation(attribute="beard", target_score=0),
        "2.jpg": RequestAnnotation(attribute="age", user_mode="2"),
        "3.jpg": RequestAnnotation(),
    }


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('{"attribute": "Hat"}', r"5\.jpg: attribute: expected one of Bangs, Eyeglasses, No_Beard, Smiling, Young"),
        ('{"target_score": 6}', r"5\.jpg: target_score: expected an integer 0\.\.5 or null, found 6"),
        ('{"score_change_value": "much"}', r"5\.jpg: score_change_value: expected an integer"),
        ('"Make it so."', r"5\.jpg: expected an object describing the request"),
    ],
)
def test_a_bad_request_annotation_is_an_error_naming_file_image_and_key(entry: str, message: str) -> None:
    with pytest.raises(CelebDatasetsError, match=rf"request_annotated_hq\.json: {message}"):
        parse_request_annotations(f'{{"5.jpg": {entry}}}', "request_annotated_hq.json")


def test_identities_are_read_and_a_bad_row_names_its_line() -> None:
    assert parse_identities("0.jpg 2880\n1.jpg 2937\n") == {"0.jpg": 2880, "1.jpg": 2937}
    assert parse_identities("image identity\n0.jpg 2880\n") == {"0.jpg": 2880}
    with pytest.raises(CelebDatasetsError, match=r"identity_CelebA-HQ\.txt, line 2: expected an image name and its"):
        parse_identities("0.jpg 2880\n1.jpg Bob\n", "identity_CelebA-HQ.txt")


def test_part_masks_are_indexed_by_image_and_a_strange_name_is_an_error() -> None:
    names = ["0/00000_skin.png", "0/00000_l_brow.png", "2/05380_hair.png", "0/readme.txt"]

    assert index_part_masks(names) == {
        "0.jpg": (("l_brow", "0/00000_l_brow.png"), ("skin", "0/00000_skin.png")),
        "5380.jpg": (("hair", "2/05380_hair.png"),),
    }
    with pytest.raises(CelebDatasetsError, match=r"anno/0/00000_beard\.png: expected a part mask named"):
        index_part_masks(["0/00000_beard.png"], "anno")


@pytest.mark.parametrize("names", [["00000.jpg", "00001.jpg"], ["1.jpg", "2.jpg", "3.jpg"]], ids=["padded", "unpadded"])
def test_one_based_hq_names_are_refused_with_an_explanation_of_the_0_based_naming(names: list[str]) -> None:
    with pytest.raises(
        CelebDatasetsError, match=r"1-based CelebA-HQ file name; .* 0-based names .*0\.jpg \.\.\. 29999"
    ):
        check_hq_image_names(names, "image.zip/image")


def test_0_based_hq_names_are_accepted() -> None:
    check_hq_image_names(["0.jpg", "1.jpg", "10.jpg", "29999.jpg"], "image")


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (
            parse_fine_grained,
            f"{HEADER}\n0.jpg 2 0 \u00b2 3 1\n",
            r"x\.txt, line 2: expected degrees 0\.\.5 in ASCII digits, found '\u00b2'",
        ),
        (
            parse_hq_mapping,
            "idx orig_idx orig_file\n\u00b2 119613 119614.jpg\n",
            r"x\.txt, line 2: expected idx orig_idx",
        ),
        (parse_hq_mapping, "\u00b2 119613 119614.jpg\n", r"x\.txt, line 1: expected idx orig_idx"),
        (parse_identities, "0.jpg 2880\n1.jpg 29\u00b37\n", r"x\.txt, line 2: expected an image name and its identity"),
        (parse_request_annotations, '{"0.jpg": {"target_score": "\u00b2"}}', r"x\.txt: 0\.jpg: target_score: expected"),
        (parse_attributes, f"\u00b2\n{' '.join(ATTRIBUTE_NAMES)}\n", r"x\.txt, line 1: expected the number of images"),
    ],
    ids=["degree", "mapping-index", "mapping-first-line", "identity", "target-score", "attribute-count"],
)
def test_a_superscript_digit_as_a_degree_or_number_is_an_error_naming_file_and_line(
    parse: Callable[[str, str], object], text: str, message: str
) -> None:
    assert "\u00b2".isdigit()  # what made these a ValueError traceback: int() refuses what isdigit accepts

    with pytest.raises(SourceFileError, match=message):
        parse(text, "x.txt")


def test_an_image_named_with_a_superscript_digit_sorts_without_error() -> None:
    assert sorted(["10.jpg", "\u00b25.jpg", "2.jpg"], key=image_order) == ["\u00b25.jpg", "2.jpg", "10.jpg"]


# ---------------------------------------------------------------------------------------------------
# Builds


def test_an_hq_row_holds_the_exact_hand_written_labels(hq: CelebADialog) -> None:
    dataset = hq.as_dataset(split="train")
    row = dataset[0]

    assert row["image_id"] == "0.jpg"
    assert (row["celeba_file"], row["celeba_index"], row["identity"]) == ("119614.jpg", 119613, 2880)
    assert row["fine_grained"] == {"bangs": 2, "eyeglasses": 0, "beard": 0, "smiling": 3, "age": 1}
    assert dataset.features["fine_grained"]["smiling"].int2str(3) == "Is smiling. Can see the entire row of teeth."
    assert dataset.features["fine_grained"]["age"].int2str(1) == "Is between 15 and 30 years old. Teenager."
    assert {name for name, present in row["attributes"].items() if present} == {
        "attractive",
        "bangs",
        "brown_hair",
        "no_beard",
        "smiling",
        "wearing_lipstick",
        "young",
    }
    assert row["caption"] == "This young lady has middle-length bangs and a big smile with teeth showing."
    assert row["attribute_captions"] == {
        "bangs": "Her bangs cover about half of her forehead.",
        "eyeglasses": "She is not wearing any eyeglasses.",
        "beard": None,
        "smiling": "She is smiling and we can see the entire row of her teeth.",
        "age": "She is a teenager.",
    }
    assert row["request"] == "Make the bangs slightly longer."
    assert row["request_annotation"] == {
        "user_mode": "start",
        "request_mode": "change_definite",
        "attribute": 0,
        "target_score": None,
        "score_change_direction": "positive",
        "score_change_value": 1,
    }
    assert row["image"].size == (64, 64)


def test_an_hq_row_without_a_request_has_none(hq: CelebADialog) -> None:
    rows = {row["image_id"]: row for row in hq.as_dataset(split="validation")}

    assert rows["4.jpg"]["request"] is None
    assert rows["4.jpg"]["request_annotation"] is None
    assert rows["4.jpg"]["fine_grained"] == dict(
        zip(["bangs", "eyeglasses", "beard", "smiling", "age"], HQ_FINE_GRAINED[4], strict=True)
    )


def test_hq_images_are_stored_as_the_original_jpeg_bytes(hq: CelebADialog, hq_download: Path) -> None:
    with zipfile.ZipFile(hq_download / "image.zip") as archive:
        originals = {Path(name).name: archive.read(name) for name in archive.namelist()}

    stored = {}
    for split in HQ_SPLITS:
        for row in without_decoding(hq.as_dataset(split=split)):
            stored[row["image_id"]] = row["image"]

    assert {name: image["bytes"] for name, image in stored.items()} == originals
    assert all(image["path"] == name for name, image in stored.items())


def test_hq_splits_are_derived_from_celebas_split_through_the_mapping(hq: CelebADialog) -> None:
    dataset = hq.as_dataset()

    assert {split: dataset[split]["image_id"] for split in dataset} == {
        split: [f"{index}.jpg" for index in indices] for split, indices in HQ_SPLITS.items()
    }
    assert dataset["test"]["celeba_file"] == ["200122.jpg", "190001.jpg"]


def test_image_5380_keeps_none_for_its_missing_labels_and_is_listed_in_the_report(hq: CelebADialog) -> None:
    row = next(row for row in hq.as_dataset(split="train") if row["image_id"] == "5380.jpg")

    assert row["fine_grained"] == dict.fromkeys(["bangs", "eyeglasses", "beard", "smiling", "age"])
    assert row["caption"] is None
    assert row["attribute_captions"] == dict.fromkeys(["bangs", "eyeglasses", "beard", "smiling", "age"])
    assert row["attributes"]["male"] is not None
    assert read_skip_report(hq.skip_report) == [
        {
            "image_id": "5380.jpg",
            "kind": "no label",
            "reason": "no label: no row in combined_annotation_hq.txt, captions_hq.json",
        }
    ]
    assert hq.skip_summary.startswith(
        "CelebA-Dialog hq: 9 written, none skipped; kept with values listed in the report: 1 no label"
    )


def test_colorized_masks_keep_their_label_ids_and_part_masks_their_pixels(hq_masks: CelebADialog) -> None:
    rows = {row["image_id"]: row for split in HQ_SPLITS for row in hq_masks.as_dataset(split=split)}

    mask = rows["3.jpg"]["mask"]
    assert mask.mode == "P"
    expected = np.array(Image.open(__import__("io").BytesIO(colorized_mask(3))))
    assert np.array_equal(np.array(mask), expected)
    assert set(np.unique(np.array(mask))) == set(range(19))
    assert rows[f"{HQ_WITHOUT_COLORIZED_MASK}.jpg"]["mask"] is None
    parts = rows["5380.jpg"]["part_masks"]
    assert {name for name, image in parts.items() if image is not None} == set(HQ_PARTS)
    assert set(parts) == set(MASK_PART_NAMES)
    hair = np.array(Image.open(__import__("io").BytesIO(part_mask(5380, HQ_PARTS.index("hair")))))
    assert np.array_equal(np.array(parts["hair"]), hair)
    assert "7.jpg\tno mask\tno mask: no 7.png in " in hq_masks.skip_report.read_text()
    assert MASK_ARCHIVE_FOLDER in hq_masks.skip_report.read_text()


def test_mask_bytes_are_stored_unchanged(hq_masks: CelebADialog, hq_download: Path) -> None:
    row = next(row for row in without_decoding(hq_masks.as_dataset(split="train")) if row["image_id"] == "0.jpg")

    with zipfile.ZipFile(hq_download / "mask" / "CelebAMask-HQ-mask-color-palette.zip") as archive:
        assert row["mask"] == {"bytes": archive.read(f"{MASK_ARCHIVE_FOLDER}/0.png"), "path": "0.png"}
    with zipfile.ZipFile(hq_download / "mask" / "CelebAMask-HQ-mask-anno.zip") as archive:
        skin = archive.read("CelebAMask-HQ-mask-anno/0/00000_skin.png")
    assert row["part_masks"]["skin"] == {"bytes": skin, "path": "00000_skin.png"}
    assert row["part_masks"]["hat"] is None


def test_the_hq_config_stays_light_without_mask_columns(hq: CelebADialog, hq_masks: CelebADialog) -> None:
    light, heavy = hq.as_dataset(split="train"), hq_masks.as_dataset(split="train")

    assert set(heavy.column_names) - set(light.column_names) == {"mask", "part_masks"}
    assert (
        light.select_columns(["image_id", "fine_grained"]).to_list()
        == heavy.select_columns(["image_id", "fine_grained"]).to_list()
    )


def test_labels_only_configs_have_the_same_labels_without_image_bytes(
    hq: CelebADialog, hq_download: Path, tmp_path: Path
) -> None:
    labels = build(hq_download, "hq_labels", tmp_path)

    for split in HQ_SPLITS:
        with_images = hq.as_dataset(split=split).remove_columns("image")
        assert labels.as_dataset(split=split).to_list() == with_images.to_list()
    assert "image" not in labels.info.features


def test_unzipped_images_zipped_text_and_a_headerless_mapping_give_the_same_rows(
    hq: CelebADialog, tmp_path: Path
) -> None:
    download = make_hq_download(tmp_path / "download", zipped=False, text_zipped=True, mapping_header=False)
    assert (download / "image" / "0.jpg").is_file()
    assert (download / "text.zip").is_file()

    other = build(download, "hq", tmp_path / "cache")

    for split in HQ_SPLITS:
        assert without_decoding(other.as_dataset(split=split)) == without_decoding(hq.as_dataset(split=split))


def test_standard_rows_use_celebas_split_and_unlabeled_images_get_none(standard: CelebADialog) -> None:
    dataset = standard.as_dataset()
    rows = {row["image_id"]: row for split in dataset for row in dataset[split]}

    assert {split: dataset[split]["image_id"] for split in dataset} == STANDARD_SPLITS
    assert "celeba_file" not in dataset["train"].column_names
    assert rows["000001.jpg"]["fine_grained"] == {"bangs": 0, "eyeglasses": 0, "beard": 0, "smiling": 2, "age": 1}
    assert rows["000005.jpg"]["fine_grained"] == dict.fromkeys(["bangs", "eyeglasses", "beard", "smiling", "age"])
    assert rows["000001.jpg"]["request"] == "Make the smile a bit bigger."
    assert rows["000001.jpg"]["request_annotation"] is None
    assert (rows["000002.jpg"]["identity"], rows["162771.jpg"]["identity"]) == (2937, None)
    assert rows["182638.jpg"]["image"].size == (178, 218)
    assert read_skip_report(standard.skip_report) == [
        {
            "image_id": "000005.jpg",
            "kind": "no label",
            "reason": "no label: an unlabeled row in combined_annotation.txt (values as written: -1 -1 -1 -1 -1)",
        }
    ]


def test_standard_images_are_stored_as_the_original_jpeg_bytes(standard: CelebADialog, standard_download: Path) -> None:
    with zipfile.ZipFile(standard_download / "img_align_celeba.zip") as archive:
        original = archive.read("img_align_celeba/162771.jpg")

    (row,) = without_decoding(standard.as_dataset(split="validation"))

    assert row["image"] == {"bytes": original, "path": "162771.jpg"}


def test_streaming_gives_the_same_rows_as_the_prepared_dataset(hq_masks: CelebADialog) -> None:
    streamed = hq_masks.as_streaming_dataset()

    for split in HQ_SPLITS:
        assert without_decoding(streamed[split]) == without_decoding(hq_masks.as_dataset(split=split))


def test_two_worker_processes_give_the_same_rows(
    hq: CelebADialog, hq_download: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two images per shard, so every split has shards to share between the workers.
    monkeypatch.setattr(celeba_dialog, "SHARD_IMAGES", 2)

    parallel = build(hq_download, "hq", tmp_path, num_proc=2)

    assert parallel.info.splits["train"].shard_lengths is None or sum(parallel.info.splits["train"].shard_lengths) == 5
    for split in HQ_SPLITS:
        assert without_decoding(parallel.as_dataset(split=split)) == without_decoding(hq.as_dataset(split=split))


def test_a_label_row_without_its_image_is_left_out_and_reported(tmp_path: Path) -> None:
    download = make_hq_download(tmp_path / "download", drop_images=[3], masks=False)

    builder = build(download, "hq", tmp_path / "cache")

    assert "3.jpg" not in builder.as_dataset(split="train")["image_id"]
    lines = {row["image_id"]: row for row in read_skip_report(builder.skip_report)}
    report = {image_id: line["reason"] for image_id, line in lines.items()}
    assert lines["3.jpg"]["kind"] == "no image"
    assert report["3.jpg"].startswith(
        "no image: rows in combined_annotation_hq.txt, CelebAMask-HQ-attribute-anno.txt, captions_hq.json, "
        "CelebA-HQ-to-CelebA-mapping.txt, identity_CelebA-HQ.txt, request_hq.json but no such image in "
        "the image folder"
    )
    assert builder.skip_summary.startswith("CelebA-Dialog hq: 8 written, 1 skipped (1 no image); skip report: ")


def test_an_image_missing_from_the_mapping_has_no_split_and_is_reported(tmp_path: Path) -> None:
    download = make_hq_download(tmp_path / "download", masks=False)
    with zipfile.ZipFile(download / "image.zip", "a") as archive:
        archive.writestr("image/8.jpg", b"\xff\xd8 not labelled anywhere")

    builder = build(download, "hq", tmp_path / "cache")

    lines = {row["image_id"]: row for row in read_skip_report(builder.skip_report)}
    report = {image_id: line["reason"] for image_id, line in lines.items()}
    assert lines["8.jpg"]["kind"] == "no split"
    assert report["8.jpg"] == (
        "no split: not found through CelebA-HQ-to-CelebA-mapping.txt and list_eval_partition.txt"
    )
    assert sum(split.num_examples for split in builder.info.splits.values()) == len(HQ_TO_CELEBA)


def test_one_based_hq_image_names_stop_the_build_with_an_explanation(tmp_path: Path) -> None:
    download = make_hq_download(tmp_path / "download", one_based=True, masks=False)

    with pytest.raises(CelebDatasetsError, match=r"image\.zip/image: found 00001\.jpg, a 1-based CelebA-HQ file name"):
        build(download, "hq", tmp_path / "cache")


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("classification_label/combined_annotation_hq.txt", r"the file combined_annotation_hq\.txt was not found"),
        ("list_eval_partition.txt", r"list_eval_partition\.txt was not found .* part of the CelebA download"),
        ("image.zip", r"the folder image was not found .* usually at image\.zip, holding image/0\.jpg"),
    ],
)
def test_a_missing_required_file_is_an_error_naming_it_its_origin_and_place(
    tmp_path: Path, missing: str, message: str
) -> None:
    download = make_hq_download(tmp_path / "download", masks=False)
    (download / missing).unlink()

    with pytest.raises(CelebDatasetsError, match=message) as error:
        build(download, "hq", tmp_path / "cache")
    assert str(download) in str(error.value)


def test_labels_only_configs_need_no_images(tmp_path: Path) -> None:
    download = make_hq_download(tmp_path / "download", masks=False)
    (download / "image.zip").unlink()

    builder = build(download, "hq_labels", tmp_path / "cache")

    assert builder.as_dataset(split="validation")["image_id"] == ["4.jpg", "7.jpg"]


def test_missing_optional_files_leave_none_and_are_named_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    download = make_hq_download(tmp_path / "download", optional=False, masks=False)

    with caplog.at_level(logging.WARNING, logger="celeb_datasets"):
        builder = build(download, "hq_masks", tmp_path / "cache")

    row = builder.as_dataset(split="train")[0]
    assert (row["request"], row["request_annotation"], row["identity"], row["mask"]) == (None, None, None, None)
    assert set(row["part_masks"].values()) == {None}
    warnings = [record.getMessage() for record in caplog.records if "not found under" in record.getMessage()]
    assert len(warnings) == 1
    for name in ("request_hq.json", "request_hq.txt", "request_annotated_hq.json", "identity_CelebA-HQ.txt"):
        assert name in warnings[0]
    assert "CelebAMask-HQ-mask-color-palette" in warnings[0]


def test_hq_identity_comes_from_celebas_identity_file_through_the_mapping_when_the_hq_file_is_absent(
    tmp_path: Path,
) -> None:
    download = make_hq_download(tmp_path / "download", masks=False)
    (download / "identity" / "identity_CelebA-HQ.txt").unlink()
    (download / "identity_CelebA.txt").write_text("119614.jpg 77\n099095.jpg 78\n")

    row = build(download, "hq_labels", tmp_path / "cache").as_dataset(split="train")[0]

    assert (row["image_id"], row["identity"]) == ("0.jpg", 77)


def test_a_malformed_label_line_stops_the_build_naming_file_and_line(tmp_path: Path) -> None:
    download = make_hq_download(tmp_path / "download", masks=False)
    labels = download / "classification_label" / "combined_annotation_hq.txt"
    labels.write_text(labels.read_text() + "9.jpg\t1\t2\n")

    with pytest.raises(CelebDatasetsError, match=rf"{re.escape(str(labels))}, line 10: expected an image name and 5"):
        build(download, "hq", tmp_path / "cache")


# ---------------------------------------------------------------------------------------------------
# Damaged and edited downloads

TRUNCATED_JPEG = jpeg_bytes(3, 64, 64)[:700]
BAD_IMAGES = {
    "truncated-jpeg": (TRUNCATED_JPEG, "truncated: no end-of-image marker (FF D9) after the image data (700 bytes)"),
    "html-named-jpg": (b"<html>Not Found</html>", "not a JPEG or PNG file (it starts with 3c 68 74 6d 6c 3e 4e 6f)"),
    "empty": (b"", "empty file (0 bytes)"),
}


def image_source(download: Path, name: str, zipped: bool) -> str:
    return f"{download / 'image.zip'}/image/{name}" if zipped else str(download / "image" / name)


@pytest.mark.parametrize("zipped", [True, False], ids=["zip", "folder"])
@pytest.mark.parametrize(("data", "problem"), BAD_IMAGES.values(), ids=list(BAD_IMAGES))
def test_an_unreadable_image_leaves_its_row_out_with_the_reason_and_the_other_rows_stay_aligned(
    tmp_path: Path, data: bytes, problem: str, zipped: bool
) -> None:
    download = make_hq_download(tmp_path / "download", zipped=zipped, masks=False, replace={"image/3.jpg": data})

    builder = build(download, "hq", tmp_path / "cache")

    train = without_decoding(builder.as_dataset(split="train"))
    assert [row["image_id"] for row in train] == ["0.jpg", "1.jpg", "6.jpg", "5380.jpg"]
    for row in train:
        index = int(row["image_id"].removesuffix(".jpg"))
        assert row["image"] == {"bytes": jpeg_bytes(index, 64, 64), "path": row["image_id"]}
        assert row["fine_grained"]["bangs"] == HQ_FINE_GRAINED.get(index, (None,))[0]
    lines = {row["image_id"]: row for row in read_skip_report(builder.skip_report)}
    report = {image_id: line["reason"] for image_id, line in lines.items()}
    assert lines["3.jpg"]["kind"] == "unreadable"
    assert report["3.jpg"] == f"unreadable: {image_source(download, '3.jpg', zipped)}: {problem}"
    assert builder.skip_summary.startswith("CelebA-Dialog hq: 8 written, 1 skipped (1 unreadable); skip report: ")


def test_an_unreadable_image_gives_the_same_rows_in_two_worker_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(celeba_dialog, "SHARD_IMAGES", 2)
    download = make_hq_download(tmp_path / "download", masks=False, replace={"image/3.jpg": TRUNCATED_JPEG})

    one = build(download, "hq", tmp_path / "one")
    two = build(download, "hq", tmp_path / "two", num_proc=2)

    assert without_decoding(two.as_dataset(split="train")) == without_decoding(one.as_dataset(split="train"))
    assert read_skip_report(two.skip_report) == read_skip_report(one.skip_report)


@pytest.mark.parametrize("num_proc", [None, 2], ids=["one-process", "two-processes"])
def test_under_on_missing_error_an_unreadable_image_stops_the_build_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, num_proc: int | None
) -> None:
    monkeypatch.setattr(celeba_dialog, "SHARD_IMAGES", 2)
    download = make_hq_download(tmp_path / "download", masks=False, replace={"image/3.jpg": b"<html>"})
    builder = CelebADialog(config_name="hq", data_dir=str(download), cache_dir=str(tmp_path), on_missing="error")

    expected = f"{image_source(download, '3.jpg', True)} (image 3.jpg): not a JPEG or PNG file"
    with pytest.raises(UnreadableMediaError, match=re.escape(expected)):
        builder.download_and_prepare(num_proc=num_proc)


def test_the_full_media_check_finds_damage_inside_the_compressed_data(tmp_path: Path) -> None:
    good = jpeg_bytes(3, 64, 64)
    table = good.find(b"\xff\xc4")
    damaged = good[: table + 5] + b"\xff" * 16 + good[table + 21 :]
    download = make_hq_download(tmp_path / "download", masks=False, replace={"image/3.jpg": damaged})

    fast = CelebADialog(config_name="hq", data_dir=str(download), cache_dir=str(tmp_path / "fast"))
    full = CelebADialog(config_name="hq", data_dir=str(download), cache_dir=str(tmp_path / "full"), media_check="full")
    fast.download_and_prepare()
    full.download_and_prepare()

    assert "3.jpg" in fast.as_dataset(split="train")["image_id"]
    assert "3.jpg" not in full.as_dataset(split="train")["image_id"]
    reasons = [row["reason"] for row in read_skip_report(full.skip_report) if row["image_id"] == "3.jpg"]
    assert reasons == [
        f"unreadable: {image_source(download, '3.jpg', True)}: cannot be decoded: broken data stream "
        "when reading image file"
    ]


def test_an_unreadable_mask_is_none_with_its_reason_and_the_image_is_kept(tmp_path: Path) -> None:
    bad_mask = colorized_mask(3)[:-20]
    download = make_hq_download(
        tmp_path / "download", replace={"mask/CelebAMask-HQ-mask-color-palette/3.png": bad_mask}
    )

    builder = build(download, "hq_masks", tmp_path / "cache")

    rows = {row["image_id"]: row for row in without_decoding(builder.as_dataset(split="train"))}
    assert rows["3.jpg"]["mask"] is None
    assert rows["3.jpg"]["part_masks"]["hair"] is not None
    assert rows["1.jpg"]["mask"]["bytes"] == colorized_mask(1)
    lines = {row["image_id"]: row for row in read_skip_report(builder.skip_report)}
    report = {image_id: line["reason"] for image_id, line in lines.items()}
    assert lines["3.jpg"]["kind"] == "unreadable mask"
    assert report["3.jpg"] == (
        f"unreadable mask: {download / 'mask' / 'CelebAMask-HQ-mask-color-palette.zip'}/{MASK_ARCHIVE_FOLDER}/3.png: "
        f"truncated: chunk IDAT at byte 102 runs past the end ({len(bad_mask):,} bytes)"
    )
    assert "kept with values listed in the report: 1 no label, 1 no mask, 1 unreadable mask" in builder.skip_summary


def damage_member(archive: Path, member: str) -> None:
    """Change one byte of a stored (uncompressed) member's data, so that it fails its CRC."""
    with zipfile.ZipFile(archive) as opened:
        content = opened.read(member)
    data = bytearray(archive.read_bytes())
    data[data.index(content) + len(content) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))


def test_an_image_failing_its_crc_in_the_zip_stops_the_build_naming_archive_and_member(tmp_path: Path) -> None:
    download = make_hq_download(tmp_path / "download", masks=False)
    damage_member(download / "image.zip", "image/3.jpg")

    expected = rf"{re.escape(str(download / 'image.zip'))}: the member image/3\.jpg is damaged \(Bad CRC-32.*again"
    with pytest.raises(SourceFileError, match=expected):
        build(download, "hq", tmp_path / "cache")


@pytest.mark.parametrize(
    ("archive", "config"),
    [("image.zip", "hq"), ("mask/CelebAMask-HQ-mask-color-palette.zip", "hq_masks")],
    ids=["images", "colorized-masks"],
)
def test_an_archive_that_is_not_a_zip_is_reported_as_such_not_as_missing(
    tmp_path: Path, archive: str, config: str
) -> None:
    download = make_hq_download(tmp_path / "download")
    (download / archive).write_bytes((download / archive).read_bytes()[:1000])

    expected = f"{download / archive}: a zip archive cut short (its end, the list of its files, is missing"
    with pytest.raises(SourceFileError, match=re.escape(expected)):
        build(download, config, tmp_path / "cache")


def test_a_labels_only_config_builds_beside_a_damaged_image_zip_when_every_file_it_reads_is_found(
    tmp_path: Path,
) -> None:
    download = make_hq_download(tmp_path / "download", masks=False)
    (download / "image.zip").write_bytes(b"<html>")

    builder = build(download, "hq_labels", tmp_path / "cache")

    assert builder.as_dataset(split="validation")["image_id"] == ["4.jpg", "7.jpg"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda download: (download / "text" / "captions_hq.json").write_bytes(
                (download / "text" / "captions_hq.json").read_bytes().replace(b"calm", b"cal\xe9", 1)
            ),
            r"captions_hq\.json, line \d+: not UTF-8 text \(byte 0xe9",
        ),
        (
            lambda download: (download / "classification_label" / "combined_annotation_hq.txt").write_bytes(
                (download / "classification_label" / "combined_annotation_hq.txt").read_bytes()
                + b"9.jpg\t1\t1\t1\t1\t7\n"
            ),
            r"combined_annotation_hq\.txt, line 10: expected degrees 0\.\.5 .*found '7'",
        ),
        (
            lambda download: (download / "identity" / "identity_CelebA-HQ.txt").write_bytes(
                b"0.jpg 12\n1.jpg Jos\xe9\n"
            ),
            r"identity_CelebA-HQ\.txt, line 2: not UTF-8 text \(byte 0xe9",
        ),
    ],
    ids=["latin1-in-json", "degree-7", "latin1-in-text"],
)
def test_an_edited_label_file_stops_the_build_naming_file_and_line(
    tmp_path: Path, edit: Callable[[Path], object], message: str
) -> None:
    download = make_hq_download(tmp_path / "download", masks=False)
    edit(download)

    with pytest.raises(SourceFileError, match=message):
        build(download, "hq_labels", tmp_path / "cache")


def test_a_folder_named_like_a_label_file_is_an_error_not_a_missing_file(tmp_path: Path) -> None:
    download = make_hq_download(tmp_path / "download", masks=False)
    (download / "text" / "captions_hq.json").unlink()
    (download / "text" / "captions_hq.json").mkdir()

    with pytest.raises(SourceFileError, match=r"text/captions_hq\.json: a folder, where the file captions_hq\.json"):
        build(download, "hq_labels", tmp_path / "cache")


def test_a_folder_named_like_an_image_is_an_error_naming_it(tmp_path: Path) -> None:
    download = make_hq_download(tmp_path / "download", zipped=False, masks=False)
    (download / "image" / "3.jpg").unlink()
    (download / "image" / "3.jpg").mkdir()

    with pytest.raises(SourceFileError, match=r"image/3\.jpg: a folder, where a \.jpg file was expected"):
        build(download, "hq", tmp_path / "cache")


def test_a_missing_data_folder_is_a_missing_source_error(tmp_path: Path) -> None:
    with pytest.raises(MissingSourceError, match="does not exist"):
        build(tmp_path / "nowhere", "hq", tmp_path / "cache")


def test_masks_are_refused_for_the_standard_part() -> None:
    with pytest.raises(CelebDatasetsError, match="with_masks needs part='hq'"):
        CelebADialogConfig(name="custom", part="standard", with_masks=True)
    with pytest.raises(CelebDatasetsError, match="would change the config 'standard'"):
        CelebADialog(config_name="standard", with_masks=True)


def test_builder_features_are_the_features_function_of_each_config() -> None:
    for config in CelebADialog.BUILDER_CONFIGS:
        builder = CelebADialog(config_name=config.name)
        assert builder.info.features == celeba_dialog_features(config.part, config.with_images, config.with_masks)
    assert "image" not in celeba_dialog_features("standard", with_images=False)
    assert "celeba_file" not in celeba_dialog_features("standard")


def test_the_command_line_prepares_hq(hq_download: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = command_line(
        [
            "prepare",
            "celeba_dialog",
            "--config",
            "hq",
            "--data-dir",
            str(hq_download),
            "--cache-dir",
            str(tmp_path),
            "--quiet",
        ]
    )

    assert code == 0
    output = capsys.readouterr().out
    assert "celeba_dialog/hq train: 5 rows" in output
    assert "celeba_dialog/hq test: 2 rows" in output


def test_the_command_line_reports_a_missing_download_as_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = command_line(
        ["prepare", "celeba_dialog", "--data-dir", str(tmp_path), "--cache-dir", str(tmp_path), "--quiet"]
    )

    assert code == 2
    assert "was not found anywhere under" in capsys.readouterr().err


def test_hq_and_hq_masks_export_and_load_back_with_load_dataset_unchanged(
    hq: CelebADialog, hq_masks: CelebADialog, tmp_path: Path
) -> None:
    from celeb_datasets.hub import export

    for builder in (hq, hq_masks):
        export(builder, tmp_path / "export")

    for builder in (hq, hq_masks):
        loaded = datasets.load_dataset(str(tmp_path / "export"), builder.config.name)
        assert loaded["train"].features == builder.info.features
        for split in HQ_SPLITS:
            assert without_decoding(loaded[split]) == without_decoding(builder.as_dataset(split=split))
    assert "CelebA-Dialog" in (tmp_path / "export" / "README.md").read_text()


# ---------------------------------------------------------------------------------------------------
# Downloads as users have them: other image releases, names' case, one folder deeper, Google Drive
# zips, a half-extracted folder beside its zip


def prepare(data_dir: Path, config: str, cache_dir: Path, *options: str) -> int:
    """`celeb-datasets prepare celeba_dialog` (log lines at INFO, as a user sees them without --quiet)."""
    arguments = ["--config", config, "--data-dir", str(data_dir), "--cache-dir", str(cache_dir), *options]
    return command_line(["prepare", "celeba_dialog", *arguments])


def images_by_id(builder: CelebADialog, splits: tuple[str, ...] = tuple(HQ_SPLITS)) -> dict[str, dict]:
    return {
        row["image_id"]: row["image"] for split in splits for row in without_decoding(builder.as_dataset(split=split))
    }


def test_celebas_png_release_builds_standard_storing_each_png_as_it_is_and_exports(
    standard: CelebADialog, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from celeb_datasets.hub import export

    download = make_standard_download(
        tmp_path / "download", zipped=False, image_folder="img_align_celeba_png", image_suffix=".png"
    )

    with caplog.at_level(logging.INFO, logger="celeb_datasets"):
        assert prepare(download, "standard", tmp_path / "cache") == 0

    builder = build(download, "standard", tmp_path / "cache")
    (row,) = without_decoding(builder.as_dataset(split="validation"))
    assert row["image_id"] == "162771.jpg"
    assert row["image"] == {"bytes": png_bytes(162771, 178, 218), "path": "162771.png"}
    assert builder.as_dataset(split="validation")[0]["image"].format == "PNG"
    for split in STANDARD_SPLITS:
        labels = builder.as_dataset(split=split).remove_columns("image").to_list()
        assert labels == standard.as_dataset(split=split).remove_columns("image").to_list()
    assert "7 images found (CelebA's aligned and cropped images as PNG" in caplog.text
    assert "7 image files are not named as in the labels (e.g. 000001.png for 000001.jpg)" in caplog.text
    export(builder, tmp_path / "export")
    loaded = datasets.load_dataset(str(tmp_path / "export"), "standard", split="validation")
    assert loaded[0]["image"].format == "PNG"
    assert without_decoding(loaded) == [row]


@pytest.mark.parametrize(
    ("config", "layout"),
    [
        ("hq", {"image_suffix": ".JPG", "zipped": False}),
        ("hq", {"image_suffix": ".JPG", "zipped": True}),
        ("hq", {"image_folder": "image/image", "zipped": False}),
        ("hq", {"image_folder": "image/image", "zipped": True}),
        ("standard", {"image_folder": "img_align_celeba/img_align_celeba", "zipped": False}),
        ("standard", {"image_folder": "img_align_celeba/img_align_celeba", "zipped": True}),
        ("standard", {"image_folder": "IMG_ALIGN_CELEBA", "image_suffix": ".Jpg", "zipped": False}),
    ],
    ids=["hq-upper-case", "hq-upper-case-zip", "hq-deeper", "hq-deeper-zip", "kaggle", "kaggle-zip", "all-cases"],
)
def test_images_are_found_whatever_their_case_and_one_folder_deeper(
    hq: CelebADialog, standard: CelebADialog, tmp_path: Path, config: str, layout: dict
) -> None:
    make = make_hq_download if config == "hq" else make_standard_download
    download = make(tmp_path / "download", **layout)

    assert prepare(download, config, tmp_path / "cache", "--quiet") == 0

    built = build(download, config, tmp_path / "cache")
    reference = hq if config == "hq" else standard
    splits = tuple(HQ_SPLITS if config == "hq" else STANDARD_SPLITS)
    expected = {image_id: image["bytes"] for image_id, image in images_by_id(reference, splits).items()}
    assert {image_id: image["bytes"] for image_id, image in images_by_id(built, splits).items()} == expected
    suffix = layout.get("image_suffix", ".jpg")
    assert {image["path"].rsplit(".", 1)[1] for image in images_by_id(built, splits).values()} == {suffix[1:]}
    assert read_skip_report(built.skip_report) == read_skip_report(reference.skip_report)


def without_images(download: Path, config: str) -> Path:
    """Remove the images a fixture download holds for `config`."""
    (download / ("image.zip" if config == "hq" else "img_align_celeba.zip")).unlink()
    return download


@pytest.mark.parametrize(
    ("config", "found", "message"),
    [
        (
            "standard",
            "img_celeba/000001.jpg",
            r"found CelebA's in-the-wild images \(not aligned nor cropped, in their original sizes\) at "
            r"{download}/img_celeba, but its labels are for CelebA's aligned and cropped images \(178x218 JPEG, "
            r"000001\.jpg \.\.\.\): get Img/img_align_celeba\.zip from the CelebA download",
        ),
        (
            "standard",
            "img_celeba.7z/img_celeba.7z.001",
            r"found CelebA's in-the-wild images .* at {download}/img_celeba\.7z/img_celeba\.7z\.001, but its labels",
        ),
        (
            "hq",
            "img_align_celeba/000001.jpg",
            r"found CelebA's aligned and cropped images \(178x218 JPEG, 000001\.jpg \.\.\.\) at "
            r"{download}/img_align_celeba, but its labels are for CelebA-Dialog's CelebA-HQ images \(1024x1024 JPEG, "
            r"0\.jpg \.\.\. 29999\.jpg\): get image\.zip from the CelebA-Dialog CelebA-HQ download",
        ),
        (
            "standard",
            "image/0.jpg",
            r"found CelebA-Dialog's CelebA-HQ images .* at {download}/image, but its labels are for CelebA's aligned",
        ),
    ],
    ids=["in-the-wild-for-standard", "in-the-wild-7z-for-standard", "aligned-for-hq", "hq-for-standard"],
)
def test_images_of_another_release_are_one_error_line_saying_which_was_found_and_which_is_needed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: str, found: str, message: str
) -> None:
    make = make_hq_download if config == "hq" else make_standard_download
    download = without_images(make(tmp_path / "download", **({"masks": False} if config == "hq" else {})), config)
    (download / found).parent.mkdir(parents=True, exist_ok=True)
    (download / found).write_bytes(jpeg_bytes(1, 16, 16))

    assert prepare(download, config, tmp_path / "cache", "--quiet") == 2

    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert re.match(rf"error: CelebA-Dialog {config}: {message.format(download=re.escape(str(download)))}", error)


def test_the_7z_parts_of_the_png_release_are_an_error_saying_to_extract_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    download = without_images(make_standard_download(tmp_path / "download"), "standard")
    parts = download / "Img" / "img_align_celeba_png.7z"
    parts.mkdir(parents=True)
    for number in (1, 2):
        (parts / f"img_align_celeba_png.7z.00{number}").write_bytes(b"7z\xbc\xaf\x27\x1c")

    assert prepare(download, "standard", tmp_path / "cache", "--quiet") == 2

    first = parts / "img_align_celeba_png.7z.001"
    assert capsys.readouterr().err == (
        f"error: {first}: a 7z archive, which cannot be read in place; it should hold the folder "
        f"img_align_celeba_png: extract it under {download} (e.g. `7z x {first} -o{download}`) and run again\n"
    )


def test_with_both_of_celebas_releases_the_jpeg_one_is_read_and_the_png_one_named(
    standard: CelebADialog, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    download = make_standard_download(tmp_path / "download")
    make_standard_download(tmp_path / "png", zipped=False, image_folder="img_align_celeba_png", image_suffix=".png")
    (tmp_path / "png" / "img_align_celeba_png").rename(download / "img_align_celeba_png")

    with caplog.at_level(logging.INFO, logger="celeb_datasets"):
        builder = build(download, "standard", tmp_path / "cache")

    splits = tuple(STANDARD_SPLITS)
    assert images_by_id(builder, splits) == images_by_id(standard, splits)
    assert "CelebA's aligned and cropped images as PNG (178x218, 000001.png ...) is there too and is not read" in (
        caplog.text
    )


def test_a_missing_label_file_names_the_archives_that_could_not_be_searched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make_hq_download(tmp_path / "CelebA-Dialog", masks=False)
    (folder / "text" / "captions_hq.json").unlink()
    download = tmp_path / "download"
    download.mkdir()
    drive = drive_zip(folder, download / "drive.zip", compress_archives=True)
    (download / "more.7z").write_bytes(b"7z")

    assert prepare(download, "hq_labels", tmp_path / "cache", "--quiet") == 2

    error = capsys.readouterr().err
    assert "the file captions_hq.json was not found anywhere under" in error
    assert error.endswith(
        f"; not searched, as they must be extracted first: {download / 'more.7z'} (a 7z archive: extract it, e.g. "
        f"`7z x {download / 'more.7z'} -o{download}`); {drive}/CelebA-Dialog/image.zip (a zip compressed inside "
        f"drive.zip: extract it, e.g. `unzip {drive} 'CelebA-Dialog/image.zip' -d {download}`)\n"
    )


def test_a_google_drive_folder_zip_is_read_in_place_with_the_archives_inside_it(
    hq_masks: CelebADialog, tmp_path: Path
) -> None:
    folder = make_hq_download(tmp_path / "CelebA-Dialog")
    download = tmp_path / "download"
    download.mkdir()
    drive_zip(folder, download / "CelebA-Dialog-20240101T000000Z-001.zip")

    assert prepare(download, "hq_masks", tmp_path / "cache", "--quiet") == 0

    built = build(download, "hq_masks", tmp_path / "cache")
    assert [path.name for path in download.iterdir()] == ["CelebA-Dialog-20240101T000000Z-001.zip"]
    for split in HQ_SPLITS:
        assert without_decoding(built.as_dataset(split=split)) == without_decoding(hq_masks.as_dataset(split=split))


def test_an_archive_compressed_inside_the_drive_zip_is_an_error_saying_to_extract_it_and_builds_once_extracted(
    hq: CelebADialog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make_hq_download(tmp_path / "CelebA-Dialog", masks=False)
    download = tmp_path / "download"
    download.mkdir()
    drive = drive_zip(folder, download / "CelebA-Dialog-20240101T000000Z-001.zip", compress_archives=True)

    assert prepare(download, "hq", tmp_path / "cache", "--quiet") == 2

    inner = "CelebA-Dialog/image.zip"
    assert capsys.readouterr().err == (
        f"error: {drive}/{inner}: a zip compressed inside {drive.name}, which cannot be read in place; it should "
        f"hold the folder image: extract it under {download} (e.g. `unzip {drive} '{inner}' -d {download}`) "
        "and run again\n"
    )
    with zipfile.ZipFile(drive) as archive:
        archive.extract(inner, download)
    assert prepare(download, "hq", tmp_path / "cache", "--quiet") == 0
    assert images_by_id(build(download, "hq", tmp_path / "cache")) == images_by_id(hq)


def half_extract(download: Path, count: int) -> list[str]:
    """Extract the first `count` images of image.zip into image/, the last one cut short (an interrupted unzip)."""
    with zipfile.ZipFile(download / "image.zip") as archive:
        members = sorted(archive.namelist(), key=lambda name: image_order(Path(name).name))[:count]
        for member in members:
            archive.extract(member, download)
    last = download / members[-1]
    last.write_bytes(last.read_bytes()[:300])
    return [Path(member).name for member in members]


def test_a_half_extracted_folder_beside_its_zip_gives_each_image_from_where_it_is_whole_and_is_named(
    hq: CelebADialog, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    download = make_hq_download(tmp_path / "download", masks=False)
    extracted = half_extract(download, 5)
    assert extracted == ["0.jpg", "1.jpg", "2.jpg", "3.jpg", "4.jpg"]

    with caplog.at_level(logging.INFO, logger="celeb_datasets"):
        assert prepare(download, "hq", tmp_path / "cache") == 0

    assert images_by_id(build(download, "hq", tmp_path / "cache")) == images_by_id(hq)
    folder, archive = download / "image", f"{download / 'image.zip'}/image"
    assert "9 images found (CelebA-Dialog's CelebA-HQ images" in caplog.text
    assert f"read from {folder} (5), {archive} (4)" in caplog.text
    assert f"{folder} holds 5 of the 9 images of {archive} (an interrupted unzip or copy?)" in caplog.text
    assert (
        f"image 4.jpg: {folder}/4.jpg: truncated: segment FF C4 at byte 210 runs past the end (300 bytes); "
        f"read from {archive}/4.jpg instead"
    ) in caplog.text
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 2


def test_images_read_while_a_copy_of_them_must_be_extracted_first_warn_of_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = make_hq_download(tmp_path / "CelebA-Dialog", masks=False)
    download = tmp_path / "download"
    download.mkdir()
    drive = drive_zip(folder, download / "CelebA-Dialog-20240101T000000Z-001.zip", compress_archives=True)
    with zipfile.ZipFile(drive) as archive:
        archive.extract("CelebA-Dialog/image.zip", tmp_path / "unzipped")
    half_extract(tmp_path / "unzipped" / "CelebA-Dialog", 3)
    (tmp_path / "unzipped" / "CelebA-Dialog" / "image").rename(download / "image")

    with caplog.at_level(logging.WARNING, logger="celeb_datasets"):
        builder = build(download, "hq", tmp_path / "cache")

    assert f"{drive}/CelebA-Dialog/image.zip may hold more images but is not read: " in caplog.text
    assert f"The images are read from the image folder {download / 'image'}" in caplog.text
    assert builder.skip_summary.startswith("CelebA-Dialog hq: 2 written, 7 skipped (6 no image, 1 unreadable)")


def test_an_image_damaged_in_every_copy_is_left_out_naming_each_copy(tmp_path: Path) -> None:
    download = make_hq_download(tmp_path / "download", masks=False, replace={"image/3.jpg": TRUNCATED_JPEG})
    half_extract(download, 5)
    (download / "image" / "4.jpg").write_bytes(jpeg_bytes(4, 64, 64))

    builder = build(download, "hq", tmp_path / "cache")

    report = {row["image_id"]: row["reason"] for row in read_skip_report(builder.skip_report)}
    assert report["3.jpg"] == (
        f"unreadable: {download / 'image' / '3.jpg'}: {BAD_IMAGES['truncated-jpeg'][1]}; "
        f"{download / 'image.zip'}/image/3.jpg: {BAD_IMAGES['truncated-jpeg'][1]}"
    )
    assert builder.skip_summary.startswith("CelebA-Dialog hq: 8 written, 1 skipped (1 unreadable)")


def test_two_files_for_one_image_give_the_jpeg_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    download = make_hq_download(tmp_path / "download", zipped=False, masks=False)
    (download / "image" / "0.png").write_bytes(png_bytes(0, 64, 64))

    with caplog.at_level(logging.WARNING, logger="celeb_datasets"):
        builder = build(download, "hq", tmp_path / "cache")

    assert images_by_id(builder)["0.jpg"] == {"bytes": jpeg_bytes(0, 64, 64), "path": "0.jpg"}
    assert f"{download / 'image'}: 1 image(s) have several files (e.g. 0.jpg and 0.png): the JPEG is read" in (
        caplog.text
    )


def test_a_folder_named_like_the_images_but_without_any_is_an_error_saying_what_it_holds(tmp_path: Path) -> None:
    download = without_images(make_hq_download(tmp_path / "download", masks=False), "hq")
    (download / "image").mkdir()
    (download / "image" / "readme.txt").write_text("the images are elsewhere")

    expected = (
        f"{download / 'image'}: holds no image file (.jpg, .jpeg, .png): it holds 1 file(s) such as readme.txt; "
        "it should hold CelebA-Dialog's CelebA-HQ images"
    )
    with pytest.raises(SourceFileError, match=re.escape(expected)):
        build(download, "hq", tmp_path / "cache")


# ---------------------------------------------------------------------------------------------------
# Masks checked against CelebAMask-HQ's


COLORIZED_3 = "mask/CelebAMask-HQ-mask-color-palette/3.png"
HAIR_3 = "CelebAMask-HQ-mask-anno/0/00003_hair.png"
UNEXPECTED_MASKS = {
    "colorized-256": (COLORIZED_3, colorized_mask(3, size=256), "256x256, where CelebAMask-HQ's masks are 512x512"),
    "colorized-rgb": (
        COLORIZED_3,
        mask_as_rgb(colorized_mask(3)),
        "mode RGB (a colour rendering of the labels?), where a palette (P) PNG whose values are the label ids "
        "0..18 is expected",
    ),
    "colorized-label-25": (
        COLORIZED_3,
        mask_with_value(colorized_mask(3), 25),
        "holds the value 25, where the label ids are 0..18",
    ),
    "part-256": (HAIR_3, part_mask(3, 3, size=256), "256x256, where CelebAMask-HQ's masks are 512x512"),
}
THREE_VALUED_PART_MASK = mask_with_value(part_mask(3, 3), 128, rows=8)


@pytest.mark.parametrize(
    ("path", "data", "problem", "media_check"),
    [(*mask, "fast") for mask in UNEXPECTED_MASKS.values()]
    + [
        (
            HAIR_3,
            THREE_VALUED_PART_MASK,
            "holds more than two values, where a binary part mask (0 and the part's value) is expected",
            "full",
        )
    ],
    ids=[*UNEXPECTED_MASKS, "part-three-values-full-check"],
)
def test_a_mask_unlike_celebamask_hqs_is_none_with_its_reason_and_the_row_is_kept(
    hq_masks: CelebADialog, tmp_path: Path, path: str, data: bytes, problem: str, media_check: str
) -> None:
    download = make_hq_download(tmp_path / "download", replace={path: data})

    builder = CelebADialog(
        config_name="hq_masks", data_dir=str(download), cache_dir=str(tmp_path / "cache"), media_check=media_check
    )
    builder.download_and_prepare()

    rows = {row["image_id"]: row for row in without_decoding(builder.as_dataset(split="train"))}
    expected = {row["image_id"]: row for row in without_decoding(hq_masks.as_dataset(split="train"))}
    if path == COLORIZED_3:
        assert rows["3.jpg"]["mask"] is None
        expected["3.jpg"]["mask"] = None
        source = f"{download / 'mask' / 'CelebAMask-HQ-mask-color-palette.zip'}/{MASK_ARCHIVE_FOLDER}/3.png"
    else:
        assert rows["3.jpg"]["part_masks"]["hair"] is None
        expected["3.jpg"]["part_masks"]["hair"] = None
        source = f"{download / 'mask' / 'CelebAMask-HQ-mask-anno.zip'}/{HAIR_3}"
    assert rows == expected
    report = [row["reason"] for row in read_skip_report(builder.skip_report) if row["image_id"] == "3.jpg"]
    assert report == [f"unexpected mask: {source}: {problem}"]
    assert "kept with values listed in the report: 1 no label, 1 no mask, 1 unexpected mask" in builder.skip_summary


def test_the_fast_check_stores_a_part_mask_of_the_right_size_without_decoding_its_values(tmp_path: Path) -> None:
    download = make_hq_download(tmp_path / "download", replace={HAIR_3: THREE_VALUED_PART_MASK})

    builder = build(download, "hq_masks", tmp_path / "cache")

    row = next(row for row in without_decoding(builder.as_dataset(split="train")) if row["image_id"] == "3.jpg")
    assert row["part_masks"]["hair"]["bytes"] == THREE_VALUED_PART_MASK


def test_a_mask_whose_pixels_cannot_be_decoded_is_unreadable_not_unexpected(tmp_path: Path) -> None:
    mask = colorized_mask(3)
    start = mask.find(b"IDAT") - 4
    (length,) = struct.unpack_from(">I", mask, start)
    garbage = b"\x00" * length
    crc = zlib.crc32(b"IDAT" + garbage).to_bytes(4, "big")
    damaged = mask[: start + 8] + garbage + crc + mask[start + 12 + length :]
    download = make_hq_download(tmp_path / "download", replace={COLORIZED_3: damaged})

    builder = build(download, "hq_masks", tmp_path / "cache")

    (reason,) = [row["reason"] for row in read_skip_report(builder.skip_report) if row["image_id"] == "3.jpg"]
    assert reason.startswith(f"unreadable mask: {download / 'mask'}")
    assert ": cannot be decoded: " in reason


def test_under_on_missing_error_an_unexpected_mask_stops_the_build_naming_it(tmp_path: Path) -> None:
    path, data, problem = UNEXPECTED_MASKS["colorized-256"]
    download = make_hq_download(tmp_path / "download", replace={path: data})
    builder = CelebADialog(config_name="hq_masks", data_dir=str(download), cache_dir=str(tmp_path), on_missing="error")

    with pytest.raises(UnreadableMediaError, match=re.escape(f"/3.png (image 3.jpg): {problem}; replace it")):
        builder.download_and_prepare()


# ---------------------------------------------------------------------------------------------------
# Refusals name a skip report that still exists


def test_a_refused_build_names_a_skip_report_the_user_can_still_open(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    download = make_hq_download(tmp_path / "download", zipped=False, masks=False)
    for image in sorted((download / "image").iterdir()):
        image.rename(image.with_name(f"{int(image.stem) + 100}.jpg"))

    assert prepare(download, "hq", tmp_path / "cache", "--quiet") == 2

    error = capsys.readouterr().err
    assert re.match(r"error: CelebA-Dialog hq: 0 written, 18 skipped \(9 no image, 9 no split\); skip report: ", error)
    report = Path(re.search(r"skip report: (\S+\.tsv)\. No row could be built", error).group(1))
    assert report == build_refused(download, tmp_path / "cache").refused_skip_report
    lines = read_skip_report(report)
    assert len(lines) == 18
    assert lines[0]["reason"].startswith("no image: rows in combined_annotation_hq.txt")


def build_refused(download: Path, cache_dir: Path) -> CelebADialog:
    return CelebADialog(config_name="hq", data_dir=str(download), cache_dir=str(cache_dir))


def test_a_build_removes_the_report_of_a_refused_build_of_the_same_sources(hq_download: Path, tmp_path: Path) -> None:
    builder = CelebADialog(config_name="hq", data_dir=str(hq_download), cache_dir=str(tmp_path))
    builder.refused_skip_report.parent.mkdir(parents=True)
    builder.refused_skip_report.write_text("image_id\treason\n")

    builder.download_and_prepare()

    assert not builder.refused_skip_report.exists()
    assert builder.refused_skip_report.parent == Path(builder.cache_dir).parent
