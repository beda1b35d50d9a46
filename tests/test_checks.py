"""Checking a copy's videos against the annotation file (celebv_hq_lib.checks), and the clips build using them."""

from __future__ import annotations

import io
from pathlib import Path

import av
import pytest
from celebv_hq_fixtures import DEFECTIVE_COPY_CLIPS, make_record, write_annotation_file, write_defective_copy
from video_fixtures import remux, with_display_matrix

from celeb_datasets.errors import UnreadableMediaError
from celeb_datasets.skips import read_skip_report
from celebv_hq import CelebVHQ
from celebv_hq_lib.annotations import ClipAnnotation, read_annotation_file
from celebv_hq_lib.checks import (
    FIRST_FRAME_TOLERANCE,
    check_processed_clips,
    first_frame_differences,
    raw_video_facts,
    raw_video_problems,
    thumbnail_of,
)
from celebv_hq_lib.sample import write_indexed_video
from celebv_hq_lib.video import BoundingBox, ClipRequest, EncoderSettings, cut_clips

# The checks each processed clip of the defective copy fails (celebv_hq_fixtures.DEFECTIVE_COPY_CLIPS).
EXPECTED_PROBLEMS = {
    "aaaaaaaaaaa_0": [],
    "aaaaaaaaaaa_1": ["duration"],  # cut at whole seconds
    "aaaaaaaaaaa_2": ["square", "size"],  # the whole frame
    "aaaaaaaaaaa_3": ["first frame"],  # the square off the face
    "aaaaaaaaaaa_4": ["audio"],
    "aaaaaaaaaaa_5": ["readable"],  # truncated
    "aaaaaaaaaaa_6": ["size"],  # 256x256
    "bbbbbbbbbbb_0": [],
    "bbbbbbbbbbb_1": ["audio"],
}


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_defective_copy(tmp_path_factory.mktemp("copy"))


def annotations(folder: Path) -> dict[str, ClipAnnotation]:
    return {clip.clip_id: clip for clip in read_annotation_file(folder / "celebvhq_info.json")}


def test_each_defect_of_community_copies_fails_its_own_check_and_good_clips_pass(copy: Path) -> None:
    clips = annotations(copy)
    found = {}
    for ytb_id, raw in (("aaaaaaaaaaa", raw_video_facts(copy / "raw" / "aaaaaaaaaaa.mp4")), ("bbbbbbbbbbb", None)):
        processed = [(clip, str(copy / "processed" / f"{clip.clip_id}.mp4")) for clip in clips.values()]
        processed = [(clip, path) for clip, path in processed if clip.ytb_id == ytb_id]
        for verdict in check_processed_clips(processed, raw):
            found[verdict.clip.clip_id] = [problem.check for problem in verdict.problems]
    assert found == EXPECTED_PROBLEMS


def test_a_problem_says_what_was_measured_and_what_was_expected(copy: Path) -> None:
    clip = annotations(copy)["aaaaaaaaaaa_1"]
    (verdict,) = check_processed_clips([(clip, str(copy / "processed" / "aaaaaaaaaaa_1.mp4"))])
    assert [str(problem) for problem in verdict.problems] == [
        "duration: 2.00 s, expected 1.80 s (end_sec - start_sec) ± 0.06"  # one frame at 25 fps, + 0.02 s
    ]


def test_a_clip_without_audio_passes_when_its_raw_video_has_none_either(tmp_path: Path) -> None:
    raw = write_indexed_video(tmp_path / "raw.mp4", duration_sec=3, width=640, height=360, audio_rate=None)
    write_annotation_file(tmp_path, {"eeeeeeeeeee_0": make_record("eeeeeeeeeee", 1.0, 2.0)})
    clip = annotations(tmp_path)["eeeeeeeeeee_0"]
    request = ClipRequest(clip.clip_id, clip.start_sec, clip.end_sec, clip.bbox)
    (result,) = cut_clips(str(raw), [request], EncoderSettings(size=512, preset="ultrafast"))
    assert result.video is not None
    (tmp_path / "clip.mp4").write_bytes(result.video)
    (verdict,) = check_processed_clips([(clip, str(tmp_path / "clip.mp4"))], raw_video_facts(raw))
    assert verdict.problems == ()
    (alone,) = check_processed_clips([(clip, str(tmp_path / "clip.mp4"))])  # no raw video to excuse it
    assert [problem.check for problem in alone.problems] == ["audio"]


def first_frame_thumbnail(data: bytes) -> object:
    with av.open(io.BytesIO(data)) as container:
        return thumbnail_of(next(container.decode(video=0)))


def test_first_frames_agree_after_a_reencode_and_differ_for_a_moved_crop_or_another_moment(tmp_path: Path) -> None:
    raw = write_indexed_video(tmp_path / "raw.mp4", duration_sec=8, width=640, height=360)
    write_annotation_file(tmp_path, {"eeeeeeeeeee_0": make_record("eeeeeeeeeee", 5.0, 7.0)})
    clip = annotations(tmp_path)["eeeeeeeeeee_0"]

    def difference(start: float, box: BoundingBox | None, **settings: object) -> float:
        request = ClipRequest(clip.clip_id, start, 7.0, box)
        (result,) = cut_clips(str(raw), [request], EncoderSettings(preset="ultrafast", **settings))  # type: ignore[arg-type]
        assert result.video is not None
        return first_frame_differences(str(raw), [clip], {clip.clip_id: first_frame_thumbnail(result.video)})[
            clip.clip_id
        ]

    agree = [difference(5.0, clip.bbox), difference(5.0, clip.bbox, size=512, crf=40), difference(4.99, clip.bbox)]
    moved = BoundingBox(clip.bbox.top, clip.bbox.bottom, clip.bbox.left + 0.04, clip.bbox.right + 0.04)
    differ = [difference(5.0, moved), difference(4.5, clip.bbox), difference(4.0, clip.bbox), difference(5.0, None)]
    assert max(agree) < FIRST_FRAME_TOLERANCE / 2, agree
    assert min(differ) > FIRST_FRAME_TOLERANCE, differ


def test_the_first_frame_of_a_rotated_raw_video_is_compared_upright(tmp_path: Path) -> None:
    stored = write_indexed_video(tmp_path / "stored.mp4", duration_sec=3, width=360, height=640)
    raw = with_display_matrix(stored, tmp_path / "raw.mp4", 90)  # a phone video: shown as 640x360
    write_annotation_file(tmp_path, {"eeeeeeeeeee_0": make_record("eeeeeeeeeee", 1.0, 2.0)})
    clip = annotations(tmp_path)["eeeeeeeeeee_0"]
    request = ClipRequest(clip.clip_id, clip.start_sec, clip.end_sec, clip.bbox)
    (result,) = cut_clips(str(raw), [request], EncoderSettings(size=512, preset="ultrafast"))
    assert result.video is not None
    (tmp_path / "clip.mp4").write_bytes(result.video)
    (verdict,) = check_processed_clips([(clip, str(tmp_path / "clip.mp4"))], raw_video_facts(raw))
    assert verdict.problems == ()


def test_a_raw_video_shorter_than_its_clips_or_unreadable_fails_the_raw_checks(copy: Path, tmp_path: Path) -> None:
    clips = [clip for clip in annotations(copy).values() if clip.ytb_id == "ccccccccccc"]
    facts = raw_video_facts(copy / "raw" / "ccccccccccc.mp4")
    assert facts.end_sec == pytest.approx(3.0) and facts.has_audio
    assert [(clip.clip_id, str(problem)) for clip, problem in raw_video_problems(facts, clips)] == [
        ("ccccccccccc_1", "raw length: the raw video ends at 3.00 s, expected at least 5.00 s")
    ]
    (tmp_path / "garbage.mp4").write_bytes(b"not a video" * 100)
    unreadable = raw_video_problems(raw_video_facts(tmp_path / "garbage.mp4"), clips)
    assert [problem.check for _, problem in unreadable] == ["raw readable", "raw readable"]


def test_full_reads_a_raw_video_to_its_end_and_finds_it_cut_short_behind_its_header(copy: Path, tmp_path: Path) -> None:
    whole = remux(copy / "raw" / "ccccccccccc.mp4", tmp_path / "index_first.mp4", "-movflags", "+faststart")
    data = whole.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) * 2 // 3])
    assert raw_video_facts(tmp_path / "cut.mp4").end_sec == pytest.approx(3.0)  # the header still says 3 s
    assert raw_video_facts(tmp_path / "cut.mp4", full=True, needed_end_sec=3.0).end_sec < 2.5


# ---------------------------------------------------------------------------------------------------
# The clips build


def build(copy: Path, cache: Path, **options: object) -> CelebVHQ:
    builder = CelebVHQ(config_name="clips", data_dir=str(copy), cache_dir=str(cache), preset="ultrafast", **options)
    builder.download_and_prepare()
    return builder


def test_the_clips_build_cuts_a_failing_processed_clip_from_its_raw_video_again_and_says_why(
    copy: Path, tmp_path: Path
) -> None:
    builder = build(copy, tmp_path / "cache")
    rows = builder.as_dataset(split="train")
    sources = dict(zip(rows["clip_id"], rows["video_source"], strict=True))
    assert sources == {
        "aaaaaaaaaaa_0": "processed",
        **{f"aaaaaaaaaaa_{k}": "recut" for k in range(1, 7)},
        "bbbbbbbbbbb_0": "processed",
        "ccccccccccc_0": "raw",
    }
    report = {line["clip_id"]: line for line in read_skip_report(builder.skip_report)}
    assert {clip_id: line["kind"] for clip_id, line in report.items()} == {
        **{f"aaaaaaaaaaa_{k}": "recut" for k in range(1, 7)},
        "bbbbbbbbbbb_1": "mismatched",
        "ccccccccccc_1": "range beyond the video",
        "ddddddddddd_0": "missing",
    }
    assert report["aaaaaaaaaaa_3"]["reason"].startswith(
        f"recut: the processed clip {copy / 'processed' / 'aaaaaaaaaaa_3.mp4'} failed: first frame: differs from a cut"
    )
    assert report["aaaaaaaaaaa_3"]["reason"].endswith(f"; cut from {copy / 'raw' / 'aaaaaaaaaaa.mp4'} instead")
    assert report["bbbbbbbbbbb_1"]["reason"] == (
        f"mismatched: {copy / 'processed' / 'bbbbbbbbbbb_1.mp4'}: audio: no audio stream, expected an audio stream "
        "(no raw video to cut it from; on_mismatch=keep stores it)"
    )
    assert "1 mismatched" in (builder.skip_summary or "") and "kept with values listed" in (builder.skip_summary or "")


def test_without_a_raw_video_on_mismatch_keep_stores_the_processed_clip_and_lists_it(
    copy: Path, tmp_path: Path
) -> None:
    builder = build(copy, tmp_path / "cache", on_mismatch="keep")
    rows = {row["clip_id"]: row for row in builder.as_dataset(split="train")}
    assert rows["bbbbbbbbbbb_1"]["video_source"] == "processed"
    assert rows["bbbbbbbbbbb_1"]["video"]["bytes"] == (copy / "processed" / "bbbbbbbbbbb_1.mp4").read_bytes()
    kinds = {line["clip_id"]: line["kind"] for line in read_skip_report(builder.skip_report)}
    assert kinds["bbbbbbbbbbb_1"] == "kept mismatched"
    assert rows["aaaaaaaaaaa_5"]["video_source"] == "recut"  # a raw video is there: cut again all the same


def test_on_missing_error_stops_at_a_mismatched_clip_without_a_raw_video(copy: Path, tmp_path: Path) -> None:
    folder = tmp_path / "copy"
    folder.mkdir()
    (folder / "processed").mkdir()
    clips = {clip_id: DEFECTIVE_COPY_CLIPS[clip_id] for clip_id in ("bbbbbbbbbbb_0", "bbbbbbbbbbb_1")}
    records = {
        clip_id: make_record(ytb_id, start, end, bbox=box) for clip_id, (ytb_id, start, end, box, _) in clips.items()
    }
    write_annotation_file(folder, records)
    for clip_id in clips:
        (folder / "processed" / f"{clip_id}.mp4").write_bytes((copy / "processed" / f"{clip_id}.mp4").read_bytes())
    with pytest.raises(UnreadableMediaError, match=r"clip bbbbbbbbbbb_1 .*mismatched: .*audio: no audio stream"):
        build(folder, tmp_path / "cache", on_missing="error")


def test_with_an_unreadable_raw_video_a_failing_processed_clip_is_skipped_saying_so(tmp_path: Path) -> None:
    copy = write_defective_copy(tmp_path / "copy")
    (copy / "raw" / "aaaaaaaaaaa.mp4").write_bytes(b"not a video" * 100)
    builder = build(copy, tmp_path / "cache")
    rows = builder.as_dataset(split="train")
    assert "aaaaaaaaaaa_0" in rows["clip_id"]  # passes the checks it can have (no first frame to compare)
    reasons = {line["clip_id"]: line["reason"] for line in read_skip_report(builder.skip_report)}
    assert reasons["aaaaaaaaaaa_1"].endswith(
        "(its raw video cannot be read: the file cannot be opened as a video: Invalid data found when processing "
        "input; on_mismatch=keep stores it)"
    )
