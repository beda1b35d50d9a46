"""The CelebV-HQ builder: parsing the real annotation form, typed rows, clips from videos, skip reports."""

from __future__ import annotations

import io
import json
import logging
import random
import shutil
from pathlib import Path
from typing import Any

import av
import datasets
import pytest
from celebv_hq_fixtures import (
    copy_of_the_sample,
    make_record,
    sample_clips,
    sample_document,
    write_annotation_file,
    write_processed_clip,
)
from video_fixtures import overwrite, packet_position

import celebv_hq
from celeb_datasets.cli import main
from celeb_datasets.errors import CelebDatasetsError, OptionError, SourceFileError
from celeb_datasets.skips import read_skip_report
from celebv_hq import CelebVHQ
from celebv_hq_lib.annotations import EmotionSegment, dominant_emotion, read_annotation_file
from celebv_hq_lib.sample import (
    make_celebv_hq_sample,
    read_frame_index,
    sample_annotation_file,
    write_indexed_video,
)
from celebv_hq_lib.video import BoundingBox, official_crop_window

FPS = 25


# --- the annotation file -------------------------------------------------------------------------


def test_the_six_real_records_parse_to_their_exact_values() -> None:
    clips = {clip.clip_id: clip for clip in read_annotation_file(sample_annotation_file())}
    assert list(clips) == list(sample_document()["clips"])  # file order kept
    first = clips["M2Ohb0FAaJU_1"]
    assert (first.ytb_id, first.start_sec, first.end_sec, first.duration_sec) == ("M2Ohb0FAaJU", 81.62, 86.17, 4.55)
    assert first.bbox == BoundingBox(top=0.0, bottom=0.8815, left=0.1964, right=0.6922)
    assert first.emotion == "neutral" and not first.multi_emotion and first.version == "v0.1"
    assert first.emotion_segments == (EmotionSegment("neutral", 0.0, 4.55),)
    named = dict(zip(celebv_hq.APPEARANCE_NAMES, first.appearance, strict=True))
    assert [name for name, present in named.items() if present] == [
        "young", "rosy_cheeks", "oval_face", "brown_hair", "long_hair", "bushy_eyebrows", "no_beard",
        "wearing_earrings", "wearing_lipstick",
    ]  # fmt: skip
    actions = dict(zip(celebv_hq.ACTION_NAMES, first.action, strict=True))
    assert [name for name, present in actions.items() if present] == ["frown", "nod", "talk", "turn"]


def test_the_two_segment_clip_keeps_its_raw_segment_times_and_derives_the_longest_emotion() -> None:
    clips = {clip.clip_id: clip for clip in read_annotation_file(sample_annotation_file())}
    clip = clips["_0tf2n3rlJU_0"]
    assert clip.multi_emotion
    assert clip.emotion_segments == (
        EmotionSegment("neutral", 0.0, 0.28000000000000114),
        EmotionSegment("happy", 1.2800000000000011, 3.280000000000001),
    )
    assert clip.emotion == "happy"


def test_dominant_emotion_ignores_negative_lengths_and_breaks_ties_by_the_earliest_segment() -> None:
    assert dominant_emotion([EmotionSegment("fear", 0, 1), EmotionSegment("anger", 1, 2)]) == "fear"
    assert dominant_emotion([EmotionSegment("fear", 0, 1), EmotionSegment("happy", 2, -5)]) == "fear"
    assert dominant_emotion([EmotionSegment("sadness", 0, 0), EmotionSegment("happy", 1, 1)]) == "sadness"
    assert dominant_emotion([EmotionSegment("fear", 0, 1), EmotionSegment("happy", 1, 1.5)] * 2) == "fear"


def test_the_misspelled_mete_info_key_is_read_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write_annotation_file(tmp_path, sample_clips(), meta_key="mete_info")
    with caplog.at_level(logging.WARNING, logger="celeb_datasets"):
        assert len(read_annotation_file(path)) == 6
    assert "mete_info" in caplog.text


def test_label_names_other_than_the_known_ones_are_an_error_not_a_relabel(tmp_path: Path) -> None:
    path = write_annotation_file(tmp_path, sample_clips())
    document = json.loads(path.read_text())
    document["meta_info"]["appearance_mapping"][0] = "fuzzy"
    path.write_text(json.dumps(document))
    with pytest.raises(CelebDatasetsError, match=r"appearance_mapping.*unknown: \['fuzzy'\].*absent: \['blurry'\]"):
        read_annotation_file(path)


def test_a_mapping_in_another_order_reorders_the_values_to_the_known_order(tmp_path: Path) -> None:
    clips = {"abcdefghijk_0": make_record("abcdefghijk", 1.0, 2.0, action=[1] + [0] * 34)}
    path = write_annotation_file(tmp_path, clips)
    document = json.loads(path.read_text())
    mapping = document["meta_info"]["action_mapping"]
    mapping[0], mapping[1] = mapping[1], mapping[0]  # the file now says its first value is "chew"
    path.write_text(json.dumps(document))
    [clip] = read_annotation_file(path)
    actions = dict(zip(celebv_hq.ACTION_NAMES, clip.action, strict=True))
    assert actions["chew"] and not actions["blow"]


def test_malformed_json_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "celebvhq_info.json"
    path.write_text('{"meta_info": {}, "clips": {')
    with pytest.raises(CelebDatasetsError, match=r"celebvhq_info.json, line 1: not valid JSON"):
        read_annotation_file(path)


def test_a_duplicate_clip_id_is_an_error(tmp_path: Path) -> None:
    path = write_annotation_file(tmp_path, {"abcdefghijk_0": make_record("abcdefghijk", 1.0, 2.0)})
    text = path.read_text().replace('"clips": {', '"clips": {"abcdefghijk_0": {}, ')
    path.write_text(text)
    with pytest.raises(CelebDatasetsError, match="'abcdefghijk_0' appears twice"):
        read_annotation_file(path)


def _without(record: dict[str, Any], *keys: str) -> dict[str, Any]:
    inner = record
    for key in keys[:-1]:
        inner = inner[key]
    del inner[keys[-1]]
    return record


BAD_RECORDS = {
    "missing field": (
        lambda r: _without(r, "duration", "start_sec"),
        "duration.start_sec: missing",
    ),
    "appearance of the wrong length": (
        lambda r: r["attributes"].update(appearance=[0] * 39) or r,
        "attributes.appearance: expected 40 values 0 or 1, found 39 values",
    ),
    "action value not 0 or 1": (
        lambda r: r["attributes"].update(action=[2] + [0] * 34) or r,
        r"attributes.action\[0\] \(blow\): found 2; expected 0 or 1",
    ),
    "unknown whole-clip emotion": (
        lambda r: r["attributes"]["emotion"].update(labels="joy") or r,
        "attributes.emotion.labels: unknown emotion 'joy'",
    ),
    "unknown segment emotion": (
        lambda r: r["attributes"]["emotion"].update(labels=[{"emotion": "joy", "start_sec": 0, "end_sec": 1}]) or r,
        r"attributes.emotion.labels\[0\].emotion: unknown emotion 'joy'",
    ),
    "box outside [0, 1]": (
        lambda r: r["bbox"].update(right=1.2) or r,
        r"bbox.right: 1.2 is outside \[0, 1\]",
    ),
    "start not before end": (
        lambda r: r["duration"].update(start_sec=5.0, end_sec=5.0) or r,
        "duration: start_sec 5.0 must be before end_sec 5.0",
    ),
    "time that is not a number": (
        lambda r: r["duration"].update(end_sec="86.17") or r,
        "duration.end_sec: expected a finite number, found '86.17'",
    ),
}


@pytest.mark.parametrize("defect", BAD_RECORDS)
def test_a_bad_record_is_an_error_naming_the_file_the_clip_and_the_field(tmp_path: Path, defect: str) -> None:
    spoil, message = BAD_RECORDS[defect]
    clips = sample_clips()
    clips["WYIsBYSO0gc_11"] = spoil(clips["WYIsBYSO0gc_11"])
    path = write_annotation_file(tmp_path, clips)
    with pytest.raises(CelebDatasetsError, match=rf"celebvhq_info.json: clip WYIsBYSO0gc_11: {message}"):
        read_annotation_file(path)


@pytest.mark.parametrize("clips", [{}, [], "none"], ids=["empty", "a list", "a text"])
def test_an_annotation_file_without_clips_is_an_error_saying_it_holds_none(tmp_path: Path, clips: Any) -> None:
    path = write_annotation_file(tmp_path, clips)
    with pytest.raises(SourceFileError, match=r"celebvhq_info.json: holds no clips"):
        read_annotation_file(path)


def test_an_annotation_file_without_clips_is_one_error_line_before_any_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    download = tmp_path / "download"
    write_annotation_file(download, {})
    for config in ("annotations", "clips"):
        arguments = ["prepare", "celebv_hq", "--config", config, "--data-dir", str(download)]
        assert main([*arguments, "--cache-dir", str(tmp_path / "cache"), "--quiet"]) == 2
        error = capsys.readouterr().err
        assert (
            error == f"error: {download / 'celebvhq_info.json'}: holds no clips ('clips' is empty): get "
            "celebvhq_info.json again from the homepage\n"
        )


LABELS_OUT_OF_RANGE = {
    "appearance value 2": (
        lambda r: r["attributes"]["appearance"].__setitem__(3, 2),
        r"attributes.appearance\[3\] \(chubby\): found 2; expected 0 or 1",
    ),
    "action value yes": (
        lambda r: r["attributes"]["action"].__setitem__(34, "yes"),
        r"attributes.action\[34\] \(yawn\): found 'yes'; expected 0 or 1",
    ),
    "action value a list": (
        lambda r: r["attributes"]["action"].__setitem__(0, [1]),
        r"attributes.action\[0\] \(blow\): found \[1\]; expected 0 or 1",
    ),
    "whole-clip emotion not among the 8": (
        lambda r: r["attributes"]["emotion"].update(labels="joy"),
        r"attributes.emotion.labels: unknown emotion 'joy'; expected one of neutral, happy, anger, sadness, "
        r"contempt, fear, disgust, surprise",
    ),
    "segment emotion a list": (
        lambda r: r["attributes"]["emotion"].update(labels=[{"emotion": ["happy"], "start_sec": 0, "end_sec": 1}]),
        r"attributes.emotion.labels\[0\].emotion: unknown emotion \['happy'\]; expected one of neutral,",
    ),
}


@pytest.mark.parametrize("defect", LABELS_OUT_OF_RANGE)
def test_a_label_value_out_of_range_is_an_error_naming_the_clip_the_label_and_the_value(
    tmp_path: Path, defect: str
) -> None:
    spoil, message = LABELS_OUT_OF_RANGE[defect]
    clips = sample_clips()
    spoil(clips["WYIsBYSO0gc_11"])
    path = write_annotation_file(tmp_path, clips)
    with pytest.raises(SourceFileError, match=rf"celebvhq_info.json: clip WYIsBYSO0gc_11: {message}"):
        read_annotation_file(path)


def test_a_label_value_out_of_range_is_named_by_the_files_own_mapping(tmp_path: Path) -> None:
    path = write_annotation_file(tmp_path, {"abcdefghijk_0": make_record("abcdefghijk", 1.0, 2.0)})
    document = json.loads(path.read_text())
    mapping = document["meta_info"]["appearance_mapping"]
    mapping[0], mapping[1] = mapping[1], mapping[0]  # the file's first value is "male"
    document["clips"]["abcdefghijk_0"]["attributes"]["appearance"][0] = 7
    path.write_text(json.dumps(document))
    with pytest.raises(SourceFileError, match=r"attributes.appearance\[0\] \(male\): found 7; expected 0 or 1"):
        read_annotation_file(path)


def test_known_defects_of_real_segments_are_kept_as_they_are(tmp_path: Path) -> None:
    segments = [
        {"emotion": "neutral", "start_sec": 0, "end_sec": 0},
        {"emotion": "happy", "start_sec": 1.2800000000000011, "end_sec": -0.7199999999999989},
    ]
    path = write_annotation_file(tmp_path, {"abcdefghijk_0": make_record("abcdefghijk", 3.0, 5.0, emotion=segments)})
    [clip] = read_annotation_file(path)
    assert clip.emotion_segments == (
        EmotionSegment("neutral", 0.0, 0.0),
        EmotionSegment("happy", 1.2800000000000011, -0.7199999999999989),
    )


# --- the builder: annotations ----------------------------------------------------------------------


def test_a_missing_annotation_file_is_an_error_saying_what_to_download_and_where(tmp_path: Path) -> None:
    builder = CelebVHQ(config_name="annotations", data_dir=str(tmp_path), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(CelebDatasetsError, match=rf"{tmp_path}/celebvhq_info.json not found: download"):
        builder.download_and_prepare()


def test_a_data_dir_under_home_may_be_written_with_a_tilde(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    shutil.copy(sample_annotation_file(), tmp_path / "celebvhq_info.json")
    builder = CelebVHQ(config_name="annotations", data_dir="~", cache_dir=str(tmp_path / "cache"))
    builder.download_and_prepare()
    assert builder.as_dataset(split="train").num_rows == 6


def test_annotations_config_rows_are_typed_labels(tmp_path: Path) -> None:
    shutil.copy(sample_annotation_file(), tmp_path / "celebvhq_info.json")
    builder = CelebVHQ(config_name="annotations", data_dir=str(tmp_path), cache_dir=str(tmp_path / "cache"))
    builder.download_and_prepare()
    rows = builder.as_dataset(split="train")
    features = rows.features
    assert features["emotion"].names == list(celebv_hq.EMOTION_NAMES)
    assert features["appearance"]["5_o_clock_shadow"] == datasets.Value("bool")
    assert features["emotion_segments"] == datasets.List(
        {
            "emotion": datasets.ClassLabel(names=list(celebv_hq.EMOTION_NAMES)),
            "start_sec": datasets.Value("float64"),
            "end_sec": datasets.Value("float64"),
        }
    )
    assert "video" not in features
    row = rows[1]
    assert row["clip_id"] == "_0tf2n3rlJU_0"
    assert row["emotion"] == celebv_hq.EMOTION_NAMES.index("happy")
    assert row["emotion_segments"] == [
        {"emotion": 0, "start_sec": 0.0, "end_sec": 0.28000000000000114},
        {"emotion": 1, "start_sec": 1.2800000000000011, "end_sec": 3.280000000000001},
    ]
    assert row["appearance"]["bangs"] and row["action"]["smile"] and row["multi_emotion"]
    assert rows[0]["emotion_segments"] == [{"emotion": 0, "start_sec": 0.0, "end_sec": 4.55}]
    streamed = list(builder.as_streaming_dataset(split="train"))
    assert streamed == rows.to_list()


def test_the_readme_split_by_youtube_video_keeps_each_videos_clips_on_one_side(tmp_path: Path) -> None:
    clips = {
        f"{ytb_id}_{k}": make_record(ytb_id, 10.0 * k + 1, 10.0 * k + 5)
        for ytb_id in ("aaaaaaaaaaa", "bbbbbbbbbbb", "ccccccccccc", "ddddddddddd", "eeeeeeeeeee")
        for k in range(3)
    }
    write_annotation_file(tmp_path, clips)
    builder = CelebVHQ(config_name="annotations", data_dir=str(tmp_path), cache_dir=str(tmp_path / "cache"))
    builder.download_and_prepare()
    # The recipe of docs/celebv_hq.md, section "An identity-safe split", with 40% held out.
    rows = builder.as_dataset(split="train")
    videos = sorted(set(rows["ytb_id"]))
    random.Random(0).shuffle(videos)
    held_out = set(videos[: len(videos) * 2 // 5])
    test = rows.filter(lambda ytb_id: ytb_id in held_out, input_columns="ytb_id")
    train = rows.filter(lambda ytb_id: ytb_id not in held_out, input_columns="ytb_id")
    assert (train.num_rows, test.num_rows) == (9, 6)
    assert not set(train["ytb_id"]) & set(test["ytb_id"])
    assert sorted([*train["clip_id"], *test["clip_id"]]) == sorted(clips)


# --- the builder: clips ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def download(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A download folder: raw videos, a processed clip, a corrupt video and missing videos."""
    folder = tmp_path_factory.mktemp("celebv_hq")
    clips = {
        "aaaaaaaaaaa_0": make_record("aaaaaaaaaaa", 1.0, 2.0, bbox=(0.0, 0.8, 0.3, 0.7)),
        "aaaaaaaaaaa_1": make_record("aaaaaaaaaaa", 1.5, 3.0, bbox=(0.1, 0.9, 0.2, 0.6), emotion="happy"),
        "bbbbbbbbbbb_0": make_record("bbbbbbbbbbb", 0.5, 1.5),  # processed clip, no raw video
        "aaaaaaaaaaa_2": make_record("aaaaaaaaaaa", 3.5, 9.0),  # beyond the 4 s video
        "c-c_cccccc__0": make_record("c-c_cccccc_", 0.0, 1.0),  # corrupt raw video
        "ddddddddddd_0": make_record("ddddddddddd", 0.0, 1.0),  # video taken down
        "aaaaaaaaaaa_3": make_record("aaaaaaaaaaa", 0.2, 0.6),
    }
    write_annotation_file(folder, clips)
    write_indexed_video(folder / "raw" / "aaaaaaaaaaa.mp4", duration_sec=4, width=320, height=240, fps=FPS)
    write_processed_clip(folder / "processed" / "bbbbbbbbbbb_0.mp4", duration_sec=1)
    (folder / "raw").joinpath("c-c_cccccc_.webm").write_bytes(b"\x1aE\xdf\xa3" + b"not a video" * 50)
    return folder


def prepare_clips(download: Path, cache: Path, **config: Any) -> CelebVHQ:
    builder = CelebVHQ(config_name="clips", data_dir=str(download), cache_dir=str(cache), preset="ultrafast", **config)
    builder.download_and_prepare()
    return builder


@pytest.fixture(scope="module")
def clips_builder(download: Path, tmp_path_factory: pytest.TempPathFactory) -> CelebVHQ:
    return prepare_clips(download, tmp_path_factory.mktemp("cache"))


def test_clips_config_holds_cut_and_processed_videos_with_their_labels(clips_builder: CelebVHQ, download: Path) -> None:
    rows = clips_builder.as_dataset(split="train")
    by_id = {row["clip_id"]: row for row in rows}
    assert sorted(by_id) == ["aaaaaaaaaaa_0", "aaaaaaaaaaa_1", "aaaaaaaaaaa_3", "bbbbbbbbbbb_0"]
    assert rows.features["video"] == datasets.Video(decode=False)
    processed = by_id["bbbbbbbbbbb_0"]
    assert processed["video_source"] == "processed"
    assert processed["video"]["bytes"] == (download / "processed" / "bbbbbbbbbbb_0.mp4").read_bytes()
    assert processed["video"]["path"] == "bbbbbbbbbbb_0.mp4"
    cut = by_id["aaaaaaaaaaa_1"]
    assert cut["video_source"] == "raw" and cut["emotion"] == celebv_hq.EMOTION_NAMES.index("happy")
    window = official_crop_window(BoundingBox(0.1, 0.9, 0.2, 0.6), 320, 240)
    with av.open(io.BytesIO(cut["video"]["bytes"])) as container:
        assert {stream.type for stream in container.streams} == {"video", "audio"}
        frames = list(container.decode(video=0))
    assert (frames[0].width, frames[0].height) == (window.side, window.side)
    indices = [read_frame_index(frame.to_ndarray(format="gray"), window.x, window.y) for frame in frames]
    assert indices == list(range(round(1.5 * FPS), 3 * FPS))


def test_missing_unreadable_and_too_short_videos_land_in_the_skip_report(clips_builder: CelebVHQ) -> None:
    report = {row["clip_id"]: row for row in read_skip_report(clips_builder.skip_report)}
    assert sorted(report) == ["aaaaaaaaaaa_2", "c-c_cccccc__0", "ddddddddddd_0"]
    assert report["ddddddddddd_0"]["ytb_id"] == "ddddddddddd"
    assert report["ddddddddddd_0"]["reason"].startswith("missing: neither raw/ddddddddddd.{mp4,mkv,webm}")
    assert report["c-c_cccccc__0"]["reason"].startswith("unreadable: ")
    assert report["aaaaaaaaaaa_2"]["reason"].startswith("range beyond the video: the clip ends at 9.00 s")
    assert {clip_id: line["kind"] for clip_id, line in report.items()} == {
        "ddddddddddd_0": "missing",
        "c-c_cccccc__0": "unreadable",
        "aaaaaaaaaaa_2": "range beyond the video",
    }
    assert clips_builder.skip_summary == (
        f"CelebV-HQ clips: 4 written, 3 skipped (1 missing, 1 range beyond the video, 1 unreadable); "
        f"skip report: {clips_builder.skip_report}"
    )


def test_options_given_to_the_builder_are_checked_like_config_fields(tmp_path: Path) -> None:
    # datasets sets builder keyword options on the config after it was made, past __post_init__.
    with pytest.raises(CelebDatasetsError, match="option crop: expected one of 'official', 'none', found 'square'"):
        CelebVHQ(config_name="clips", data_dir=str(tmp_path), crop="square")
    with pytest.raises(CelebDatasetsError, match="option on_missing: expected one of 'skip', 'error'"):
        CelebVHQ(config_name="clips", data_dir=str(tmp_path), on_missing="ignore")


def test_clips_with_no_usable_video_at_all_is_an_error_saying_where_videos_go(tmp_path: Path) -> None:
    shutil.copy(sample_annotation_file(), tmp_path / "celebvhq_info.json")
    builder = CelebVHQ(config_name="clips", data_dir=str(tmp_path), cache_dir=str(tmp_path / "cache"))
    # The same words as the Ray engine's (tests/test_ray_engine.py): both end a build with finish_build.
    expected = r"^CelebV-HQ clips: 0 written, 6 skipped \(6 missing\); skip report: .*\. No row could be built\. "
    expected += r"Put .*raw/\{ytb_id\}\.mp4$"
    with pytest.raises(CelebDatasetsError, match=expected):
        builder.download_and_prepare()
    # The report the refusal names is still there to be read (the build's own folder is gone).
    assert len(read_skip_report(builder.refused_skip_report)) == 6


def test_on_missing_error_stops_at_the_first_missing_video(download: Path, tmp_path: Path) -> None:
    with pytest.raises(CelebDatasetsError, match=r"clip ddddddddddd_0 \(YouTube video ddddddddddd\): missing"):
        prepare_clips(download, tmp_path, on_missing="error")


def test_streaming_and_two_processes_give_the_same_rows_as_one(
    clips_builder: CelebVHQ, download: Path, tmp_path: Path
) -> None:
    expected = clips_builder.as_dataset(split="train").to_list()
    streamed = list(clips_builder.as_streaming_dataset(split="train"))
    assert [row["clip_id"] for row in streamed] == [row["clip_id"] for row in expected]
    assert streamed == expected  # every value, the video bytes included, as the prepared rows hold them
    parallel = CelebVHQ(config_name="clips", data_dir=str(download), cache_dir=str(tmp_path), preset="ultrafast")
    parallel.download_and_prepare(num_proc=2)
    assert parallel.as_dataset(split="train").to_list() == expected
    assert read_skip_report(parallel.skip_report) == read_skip_report(clips_builder.skip_report)


@pytest.mark.slow
def test_the_bundled_sample_builds_all_six_clips(tmp_path: Path) -> None:
    data_dir = make_celebv_hq_sample(tmp_path / "sample", width=128, height=72, fps=5)
    builder = prepare_clips(data_dir, tmp_path / "cache")
    rows = builder.as_dataset(split="train")
    assert sorted(rows["clip_id"]) == sorted(sample_document()["clips"])
    assert set(rows["video_source"]) == {"raw"}


def folder_contents(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def a_real_download(folder: Path) -> None:
    write_annotation_file(folder, {"abcdefghijk_0": make_record("abcdefghijk", 1.0, 2.0)})
    write_indexed_video(folder / "raw" / "abcdefghijk.mp4", duration_sec=3, width=64, height=64, fps=5)


def unrelated_files(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("my notes")


def an_edited_sample(folder: Path) -> None:
    copy_of_the_sample(folder, width=64, height=64, fps=2)
    path = folder / "celebvhq_info.json"
    path.write_text(path.read_text().replace('"v0.1"', '"v0.2"', 1))


@pytest.mark.parametrize(
    ("user_folder", "message"),
    [
        (
            a_real_download,
            r"celebvhq_info.json is not the sample's annotation file \(your own, or edited\): the sample",
        ),
        (unrelated_files, r"holds files the sample did not write \(notes.txt\): the sample is laid out in a new or"),
        (an_edited_sample, r"celebvhq_info.json is not the sample's annotation file"),
    ],
    ids=["a real download", "unrelated files", "an edited sample"],
)
def test_the_sample_refuses_a_folder_of_the_users_own_and_leaves_it_as_it_was(
    tmp_path: Path, user_folder: Any, message: str
) -> None:
    folder = tmp_path / "mine"
    user_folder(folder)
    before = folder_contents(folder)
    with pytest.raises(OptionError, match=message):
        make_celebv_hq_sample(folder)
    assert folder_contents(folder) == before


def test_the_sample_lays_out_again_a_folder_it_wrote_or_an_older_version_wrote_without_its_marker(
    tmp_path: Path,
) -> None:
    folder = copy_of_the_sample(tmp_path / "sample", width=64, height=64, fps=2)  # make_celebv_hq_sample's
    written = folder_contents(folder)
    assert set(written) == {".celeb_datasets_sample", "celebvhq_info.json"} | {
        f"raw/{record['ytb_id']}.mp4" for record in sample_clips().values()
    }
    (folder / "notes.txt").write_text("mine")  # added to a folder the sample wrote: left alone
    assert folder_contents(make_celebv_hq_sample(folder)) == written | {"notes.txt": b"mine"}
    (folder / "notes.txt").unlink()
    (folder / ".celeb_datasets_sample").unlink()  # as laid out before the marker existed
    assert folder_contents(make_celebv_hq_sample(folder)) == written


def test_processed_clips_are_checked_before_they_are_stored_fast_by_default_or_fully(tmp_path: Path) -> None:
    folder = tmp_path / "download"
    write_annotation_file(folder, {f"eeeeeeeeeee_{k}": make_record("eeeeeeeeeee", k, k + 2.0) for k in range(3)})
    good = write_indexed_video(
        folder / "processed" / "eeeeeeeeeee_0.mp4", duration_sec=2, width=512, height=512, fps=FPS, gop_sec=0.5
    )
    data = good.read_bytes()
    (folder / "processed" / "eeeeeeeeeee_1.mp4").write_bytes(data[: len(data) // 2])
    keyframe, size = packet_position(good, "video", 1.0)
    (folder / "processed" / "eeeeeeeeeee_2.mp4").write_bytes(overwrite(data, keyframe, size))
    fast_report = read_skip_report(prepare_clips(folder, tmp_path / "a").skip_report)
    fast = {row["clip_id"]: row["reason"] for row in fast_report}
    full = prepare_clips(folder, tmp_path / "b", media_check="full")
    assert list(fast) == ["eeeeeeeeeee_1"]
    assert fast["eeeeeeeeeee_1"].startswith(f"unreadable: {folder / 'processed' / 'eeeeeeeeeee_1.mp4'}: ")
    assert full.as_dataset(split="train")["clip_id"] == ["eeeeeeeeeee_0"]
    reasons = {row["clip_id"]: row["reason"] for row in read_skip_report(full.skip_report)}
    assert reasons["eeeeeeeeeee_1"] == fast["eeeeeeeeeee_1"]
    assert "the video at 1.00 s cannot be decoded" in reasons["eeeeeeeeeee_2"]
