"""The builder base: typed options, caches that follow their sources, errors that surface, accounting."""

from __future__ import annotations

import os
import re
import resource
import shlex
import shutil
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any, Literal

import pytest
from celeba_dialog_fixtures import make_hq_download
from celebv_hq_fixtures import make_record, sample_clips, write_annotation_file, write_sample_download

import celebv_hq
from celeb_datasets import generation
from celeb_datasets.cli import main
from celeb_datasets.errors import (
    CelebDatasetsError,
    OptionError,
    SourceFileError,
    StorageError,
    UnreadableMediaError,
)
from celeb_datasets.fingerprint import sources_fingerprint
from celeb_datasets.hub import export
from celeb_datasets.options import check_option_value, options_of, parse_byte_size, parse_option_value
from celeb_datasets.skips import read_skip_report
from celeba_dialog import CelebADialog
from celebv_hq import CelebVHQ
from celebv_hq_lib.annotations import read_annotation_file

# --- options are parsed and checked by their declared types -----------------------------------------


@pytest.mark.parametrize(
    ("text", "value"), [("true", True), ("1", True), ("Yes", True), ("false", False), ("0", False), ("NO", False)]
)
def test_booleans_accept_only_the_six_words(text: str, value: bool) -> None:
    assert parse_option_value("with_images", text, bool) is value


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("maybe", bool, "option x: expected true or false"),
        ("2", bool, "option x: expected true or false"),
        ("abc", int | None, "option x: expected an integer or none, found 'abc'"),
        ("1.5", int, "option x: expected an integer, found '1.5'"),
        ("square", Literal["official", "none"], "expected one of 'official', 'none', found 'square'"),
        ("fast!", float, "expected a number"),
    ],
)
def test_a_value_of_the_wrong_kind_is_an_option_error(text: str, kind: Any, expected: str) -> None:
    with pytest.raises(OptionError, match=expected):
        parse_option_value("x", text, kind)


def test_values_parse_to_their_types() -> None:
    assert parse_option_value("size", "none", int | None) is None
    assert parse_option_value("size", "512", int | None) == 512
    assert parse_option_value("seek_gap_sec", "2.5", float) == 2.5
    assert parse_option_value("crop", "none", Literal["official", "none"]) == "none"


@pytest.mark.parametrize("value", ["maybe", 1, None])
def test_python_options_are_checked_too(value: object) -> None:
    with pytest.raises(OptionError, match="option with_video: expected true or false"):
        check_option_value("with_video", value, bool)
    with pytest.raises(OptionError, match="option with_images"):
        CelebADialog(config_name="hq", with_images="maybe")


@pytest.mark.parametrize(
    ("builder", "keyword", "expected"),
    [
        (CelebVHQ, "not_an_option", r"option not_an_option: CelebVHQ has no such option; its options: audio_bitrate, "),
        (CelebVHQ, "crff", r"option crff: CelebVHQ has no such option \(did you mean crf\?\); its options: audio_bit"),
        (CelebVHQ, "cachedir", r"CelebVHQ has no such option \(did you mean cache_dir\?\)"),
        (
            CelebADialog,
            "with_image",
            r"option with_image: CelebADialog has no such option \(did you mean with_images\?\)",
        ),
        (CelebADialog, "num_proc", r"^num_proc is an argument of download_and_prepare, not of CelebADialog: give it"),
    ],
)
def test_an_unknown_keyword_is_an_option_error_naming_it_the_closest_name_and_every_option(
    tmp_path: Path, builder: type[CelebVHQ | CelebADialog], keyword: str, expected: str
) -> None:
    with pytest.raises(OptionError, match=expected) as refused:
        builder(data_dir=str(tmp_path), cache_dir=str(tmp_path / "cache"), **{keyword: 1})
    if "its options" in expected:
        assert str(refused.value).endswith(", ".join(sorted(builder.option_names())))
    assert not (tmp_path / "cache").exists()


def test_an_unknown_argument_of_download_and_prepare_is_an_option_error_saying_where_it_goes(tmp_path: Path) -> None:
    builder = CelebVHQ(data_dir=str(write_sample_download(tmp_path / "download")), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(OptionError, match=r"^crf is an option of the config, not an argument of download_and_prepare"):
        builder.download_and_prepare(crf=18)
    with pytest.raises(OptionError, match=r"^download_and_prepare has no argument 'nproc'; its arguments: output_dir"):
        builder.download_and_prepare(nproc=2)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["--option", "with_images=maybe"], "option with_images: expected true or false"),
        (["--option", "nope=1"], "--option nope: celeba_dialog has no such option; its options: media_check"),
        (
            ["--option", "with_image=1"],
            "--option with_image: celeba_dialog has no such option (did you mean with_images?)",
        ),
        (["--option", "part"], "expected NAME=VALUE"),
        (["--config", "hq_labels", "--option", "with_images=true"], "would change the config 'hq_labels'"),
        (["--config", "nope"], "celeba_dialog has no config 'nope'"),
    ],
)
def test_the_command_line_gives_one_error_line_for_a_bad_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], expected: str
) -> None:
    assert main(["prepare", "celeba_dialog", "--data-dir", str(tmp_path), "--quiet", *arguments]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and expected in error and error.count("\n") == 1


def test_a_named_config_cannot_be_turned_into_another_dataset(tmp_path: Path) -> None:
    with pytest.raises(OptionError, match=r"would change the config 'annotations'.*use the config 'clips'"):
        CelebVHQ(config_name="annotations", data_dir=str(tmp_path), with_video=True)
    with pytest.raises(OptionError, match="would change the config 'hq'"):
        CelebADialog(config_name="hq", part="standard")
    # The same value as the config's own is harmless.
    assert CelebVHQ(config_name="clips", data_dir=str(tmp_path), with_video=True).config.with_video


@pytest.mark.parametrize("size", ["abc", "0", "-5MB", "12XB"])
def test_a_bad_shard_size_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], size: str) -> None:
    download = write_sample_download(tmp_path / "download")
    arguments = ["prepare", "celebv_hq", "--data-dir", str(download), f"--max-shard-size={size}", "--quiet"]
    assert main([*arguments, "--cache-dir", str(tmp_path / "cache")]) == 2
    assert "max_shard_size: expected a size such as 500MB, 2GB or a number of bytes" in capsys.readouterr().err


def test_shard_sizes_parse_as_datasets_reads_them() -> None:
    assert parse_byte_size("s", "500MB") == 500 * 10**6
    assert parse_byte_size("s", "1GiB") == 2**30
    assert parse_byte_size("s", 1234) == 1234


@pytest.mark.parametrize("num_proc", ["0", "-1", "two"])
def test_num_proc_must_be_a_positive_number(tmp_path: Path, capsys: pytest.CaptureFixture[str], num_proc: str) -> None:
    assert main(["prepare", "celebv_hq", "--data-dir", str(tmp_path), "--num-proc", num_proc]) == 2
    error = capsys.readouterr().err
    assert re.search(r"option num_proc: expected (a positive number of processes|an integer)", error)
    assert error.startswith("error: ") and error.count("\n") == 1  # one line, no usage block


def test_a_cache_dir_that_is_a_file_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_sample_download(tmp_path / "download")
    (tmp_path / "cache").write_text("not a folder")
    arguments = ["prepare", "celebv_hq", "--data-dir", str(tmp_path / "download")]
    assert main([*arguments, "--cache-dir", str(tmp_path / "cache"), "--quiet"]) == 2
    assert "a file is there; give a folder" in capsys.readouterr().err
    with pytest.raises(StorageError, match=r"cannot use .*cache as the cache folder"):
        CelebVHQ(data_dir=str(tmp_path / "download"), cache_dir=str(tmp_path / "cache"))


# --- caches follow their sources --------------------------------------------------------------------


def build(data_dir: Path, cache: Path, config: str = "annotations", **options: Any) -> CelebVHQ:
    builder = CelebVHQ(config_name=config, data_dir=str(data_dir), cache_dir=str(cache), **options)
    builder.download_and_prepare()
    return builder


def test_an_annotation_file_edited_in_place_is_built_again(tmp_path: Path) -> None:
    download = write_sample_download(tmp_path / "download")
    first = build(download, tmp_path / "cache")
    assert first.as_dataset(split="train")[0]["version"] == "v0.1"
    annotation = download / "celebvhq_info.json"
    stat = annotation.stat()
    # Same size and modification time: only the content tells.
    annotation.write_text(annotation.read_text().replace('"v0.1"', '"v0.2"', 1))
    os.utime(annotation, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    second = build(download, tmp_path / "cache")
    assert second.cache_dir != first.cache_dir
    assert second.as_dataset(split="train")[0]["version"] == "v0.2"


def test_a_relative_data_dir_is_keyed_by_its_absolute_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("one", "two"):
        write_sample_download(tmp_path / name / "data")
    (tmp_path / "two" / "data" / "celebvhq_info.json").write_text(
        (tmp_path / "two" / "data" / "celebvhq_info.json").read_text().replace('"v0.1"', '"v0.2"')
    )
    monkeypatch.chdir(tmp_path / "one")
    one = build(Path("data"), tmp_path / "cache")
    monkeypatch.chdir(tmp_path / "two")
    two = build(Path("data"), tmp_path / "cache")
    assert one.config.data_dir == str(tmp_path / "one" / "data")
    assert one.cache_dir != two.cache_dir
    assert set(two.as_dataset(split="train")["version"]) == {"v0.2"}


def test_a_refused_build_is_not_remembered_and_adding_videos_builds(tmp_path: Path) -> None:
    download = write_sample_download(tmp_path / "download")
    with pytest.raises(CelebDatasetsError, match=r"No row could be built\. Put processed clips in processed/") as error:
        build(download, tmp_path / "cache", "clips")
    report = Path(re.search(r"skip report: (\S+\.tsv)\. No row could be built", str(error.value)).group(1))
    assert len(read_skip_report(report)) == 6  # it outlives the refused build, for the user to read
    write_sample_download(download, with_videos=True)
    builder = build(download, tmp_path / "cache", "clips")
    assert builder.as_dataset(split="train").num_rows == 6


def test_a_new_video_rebuilds_clips_and_force_rebuilds_on_demand(tmp_path: Path) -> None:
    download = write_sample_download(tmp_path / "download", with_videos=True)
    removed = download / "processed" / "M2Ohb0FAaJU_1.mp4"
    kept = removed.read_bytes()
    removed.unlink()
    assert build(download, tmp_path / "cache", "clips").as_dataset(split="train").num_rows == 5
    removed.write_bytes(kept)
    builder = build(download, tmp_path / "cache", "clips")
    assert builder.as_dataset(split="train").num_rows == 6
    stamp = (Path(builder.cache_dir) / "dataset_info.json").stat().st_mtime_ns
    builder.download_and_prepare(download_mode="force_redownload")
    assert (Path(builder.cache_dir) / "dataset_info.json").stat().st_mtime_ns != stamp


def test_an_export_or_partial_download_in_the_data_folder_keeps_the_cache(tmp_path: Path) -> None:
    download = write_sample_download(tmp_path / "download", with_videos=True)
    first = build(download, tmp_path / "cache", "clips")
    export(first, download / "my_export")  # exported into the data folder itself
    (download / "raw" / ".partial" / "abc").mkdir(parents=True)
    (download / "raw" / ".partial" / "abc" / "abc.f137.mp4.part").write_bytes(b"half a download")
    (download / "notes.md").write_text("my notes")
    assert CelebVHQ(config_name="clips", data_dir=str(download), cache_dir=str(tmp_path / "cache")).cache_dir == (
        first.cache_dir
    )
    (download / "raw" / "abcdefghijk.mp4").write_bytes(b"a new raw video")
    assert CelebVHQ(config_name="clips", data_dir=str(download), cache_dir=str(tmp_path / "cache")).cache_dir != (
        first.cache_dir
    )


def test_the_fingerprint_counts_label_content_and_media_size_and_time(tmp_path: Path) -> None:
    (tmp_path / "labels.txt").write_text("a 1\n")
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "x.mp4").write_bytes(b"0" * 10)
    before = sources_fingerprint([tmp_path], "1.0")
    assert sources_fingerprint([tmp_path], "1.0") == before
    assert sources_fingerprint([tmp_path], "1.1") != before
    (tmp_path / "media" / "x.mp4").write_bytes(b"1" * 11)
    assert sources_fingerprint([tmp_path], "1.0") != before
    assert sources_fingerprint([tmp_path / "absent"], "1.0") != before
    (tmp_path / "media" / "loop").symlink_to(tmp_path)  # a link to a parent folder is listed once
    assert sources_fingerprint([tmp_path], "1.0")


# --- errors surface as the package's own, from any process -------------------------------------------


def unreadable_clip_download(folder: Path) -> Path:
    download = write_sample_download(folder, with_videos=True)
    (download / "processed" / "M2Ohb0FAaJU_1.mp4").write_bytes(b"not a video at all")
    return download


@pytest.mark.parametrize("num_proc", [None, 2])
def test_an_error_found_while_generating_is_raised_as_it_was(tmp_path: Path, num_proc: int | None) -> None:
    download = unreadable_clip_download(tmp_path / "download")
    cache = str(tmp_path / "cache")
    builder = CelebVHQ(config_name="clips", data_dir=str(download), cache_dir=cache, on_missing="error")
    with pytest.raises(UnreadableMediaError, match=r"clip M2Ohb0FAaJU_1 \(YouTube video M2Ohb0FAaJU\): unreadable"):
        builder.download_and_prepare(num_proc=num_proc)
    assert not Path(builder.cache_dir).exists()


@pytest.mark.parametrize("config", ["annotations", "clips"])
def test_every_config_gives_one_error_line_for_a_bad_annotation_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: str
) -> None:
    download = write_sample_download(tmp_path / "download", with_videos=True)
    (download / "celebvhq_info.json").write_bytes(b'{"clips": {"a": 1}, "meta_info": {"x": "caf\xe9"}}')
    arguments = ["prepare", "celebv_hq", "--config", config, "--data-dir", str(download), "--quiet"]
    assert main([*arguments, "--cache-dir", str(tmp_path / "cache")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and error.count("\n") == 1
    assert "celebvhq_info.json, line 1: not UTF-8 text (byte 0xe9" in error


def test_a_negative_start_is_an_error_naming_the_clip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clips = sample_clips()
    clips["_0tf2n3rlJU_0"]["duration"]["start_sec"] = -0.5
    download = tmp_path / "download"
    write_annotation_file(download, clips)
    arguments = ["prepare", "celebv_hq", "--data-dir", str(download), "--cache-dir", str(tmp_path / "cache")]
    assert main([*arguments, "--quiet"]) == 2
    error = capsys.readouterr().err
    assert "clip _0tf2n3rlJU_0: duration.start_sec: -0.5 is before the video's start (0)" in error
    assert error.count("\n") == 1


def test_a_deeply_nested_annotation_file_is_an_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "celebvhq_info.json"
    path.write_text('{"meta_info": {}, "clips": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(SourceFileError, match="nested too deeply"):
        read_annotation_file(path)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_times_are_an_error(tmp_path: Path, value: str) -> None:
    clips = sample_clips()
    path = write_annotation_file(tmp_path, clips)
    path.write_text(path.read_text().replace('"end_sec": 86.17', f'"end_sec": {value}', 1))
    with pytest.raises(SourceFileError, match=f"celebvhq_info.json: {value} is not a number JSON allows"):
        read_annotation_file(path)


# The build as a user runs it, in its own process: the pre-check of free space is turned off so that the
# writer itself meets the full disk or the file-size limit.
_BUILD_WITHOUT_PRE_CHECK = """
import sys
import typing
from celeb_datasets import generation
generation._check_free_space = lambda folder, table: None
from celeb_datasets.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _run_build(download: Path, cache: Path, *options: str, **popen: Any) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", _BUILD_WITHOUT_PRE_CHECK, "prepare", "celebv_hq", "--config", "clips"]
    command += ["--data-dir", str(download), "--cache-dir", str(cache), "--quiet", *options]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, **popen)


def _read_only(folder: Path) -> list[str]:
    """The start of a command that runs the rest with `folder` read-only (a bind mount in a private mount
    namespace); the test is skipped where that cannot be done."""
    quoted = shlex.quote(str(folder))
    script = f'mount --bind {quoted} {quoted} && mount -o remount,ro,bind {quoted} && exec "$0" "$@"'
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare to mount a folder read-only")
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", script, "true"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a folder read-only here: {probe.stderr.decode().strip()}")
    return ["unshare", "-rm", "sh", "-c", script]


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare to mount a small disk")
def test_a_disk_filling_up_while_writing_is_one_storage_error_line(tmp_path: Path) -> None:
    download = write_sample_download(tmp_path / "download", with_videos=True)  # processed clips of 60 to 160 KB
    disk = tmp_path / "small disk"
    disk.mkdir()
    # A 256 KB disk of its own (a tmpfs in a private mount namespace): the build's metadata fits, its rows do not.
    script = f'mount -t tmpfs -o size=256k tmpfs {shlex.quote(str(disk))} && exec "$0" "$@"'
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", script, "true"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a small disk here: {probe.stderr.decode().strip()}")
    command = [sys.executable, "-c", _BUILD_WITHOUT_PRE_CHECK, "prepare", "celebv_hq", "--config", "clips"]
    command += ["--data-dir", str(download), "--cache-dir", str(disk / "cache"), "--quiet"]
    result = subprocess.run(["unshare", "-rm", "sh", "-c", script, *command], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: the disk holding") and "is full" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize("num_proc", ["1", "2"])
def test_a_file_size_limit_while_writing_is_one_storage_error_line(tmp_path: Path, num_proc: str) -> None:
    # With workers, datasets' writer meets the limit in a worker, whose error reaches the build rebuilt
    # from its message alone: it must still be the storage error, naming the cache folder.
    download = write_sample_download(tmp_path / "download", with_videos=True)

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    result = _run_build(download, tmp_path / "cache", "--num-proc", num_proc, preexec_fn=limit_file_size)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: a file under {tmp_path / 'cache'}/celebv_hq/clips")
    assert "reached this process's file-size limit" in result.stderr and "ulimit -f" in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("num_proc", ["1", "2"])
@pytest.mark.parametrize("read_only", ["raw", "."], ids=["raw folder", "data folder"])
def test_a_read_only_fetch_folder_is_one_storage_error_line_naming_it(
    tmp_path: Path, num_proc: str, read_only: str
) -> None:
    download = tmp_path / "download"
    clips = {f"{ytb_id}_0": make_record(ytb_id, 0.2, 1.0) for ytb_id in ("abcdefghijk", "bbcdefghijk")}
    write_annotation_file(download, clips)
    (download / "raw").mkdir()
    # Nothing listens on the discard port: the build must stop at the folder, before any fetch.
    options = ["--fetch", "--url-template", "http://127.0.0.1:9/{ytb_id}.mp4", "--num-proc", num_proc]
    options += ["--pace-min-sec", "0", "--pace-max-sec", "0"]  # no worker waits for its turn to fail
    command = _read_only((download / read_only).resolve())
    command += [sys.executable, "-m", "celeb_datasets.cli", "prepare", "celebv_hq", "--config", "clips"]
    command += ["--data-dir", str(download)]
    result = subprocess.run(
        [*command, "--cache-dir", str(tmp_path / "cache"), "--quiet", *options],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    # Checked before the build starts (as `download` checks it), so no worker meets it.
    assert re.fullmatch(
        rf"error: cannot write in {re.escape(str(download))}\S*: it is on a read-only file system[^\n]*\n",
        result.stderr,
    )


def test_a_full_disk_is_a_storage_error_naming_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    download = write_sample_download(tmp_path / "download", with_videos=True)
    monkeypatch.setattr(generation, "free_bytes", lambda folder: 1_000_000)
    builder = CelebVHQ(config_name="clips", data_dir=str(download), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(StorageError, match=r"the disk holding .*\.incomplete is full: writing the next rows needs"):
        builder.download_and_prepare()


# --- every item is a row or a skip line ---------------------------------------------------------------


def test_a_row_lost_without_a_skip_line_fails_the_accounting_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    download = write_sample_download(tmp_path / "download", with_videos=True)
    real = celebv_hq.video_tables

    def losing_one(video: Any, *args: Any) -> Any:
        return iter(()) if video.ytb_id == "M2Ohb0FAaJU" else real(video, *args)

    monkeypatch.setattr(celebv_hq, "video_tables", losing_one)
    with pytest.raises(CelebDatasetsError, match=r"does not account for its sources .* nor skip line: M2Oh"):
        build(download, tmp_path / "cache", "clips")
    assert not list((tmp_path / "cache").rglob("dataset_info.json"))


def test_odd_emotion_segments_are_kept_and_listed(tmp_path: Path) -> None:
    clips = sample_clips()
    record = clips["_0tf2n3rlJU_0"]
    record["attributes"]["emotion"]["labels"][0]["end_sec"] = -1.0
    write_annotation_file(tmp_path / "download", clips)
    builder = build(tmp_path / "download", tmp_path / "cache")
    assert builder.as_dataset(split="train").num_rows == 6
    (line,) = read_skip_report(builder.skip_report)
    assert line["clip_id"] == "_0tf2n3rlJU_0"
    assert line["kind"] == "odd emotion segment"
    assert line["reason"].startswith("odd emotion segment: labels[0] neutral 0.0..-1.0 s: a negative time and no")
    assert "6 written, none skipped; kept with values listed in the report: 1 odd emotion" in builder.skip_summary


def test_a_split_left_empty_by_a_partial_download_is_an_empty_dataset(tmp_path: Path) -> None:
    download = make_hq_download(tmp_path / "download", drop_images=(4, 7))  # the two validation images
    builder = CelebADialog(config_name="hq", data_dir=str(download), cache_dir=str(tmp_path / "cache"))
    builder.download_and_prepare()
    dataset = builder.as_dataset()
    assert {name: split.num_rows for name, split in dataset.items()} == {"train": 5, "validation": 0, "test": 2}
    assert dataset["validation"].features == builder.info.features
    assert builder.as_dataset(split="validation").num_rows == 0


# --- an interrupted run leaves nothing behind --------------------------------------------------------


def test_what_a_killed_run_left_in_the_incomplete_folder_is_cleared(tmp_path: Path) -> None:
    download = write_sample_download(tmp_path / "download", with_videos=True)
    (download / "processed" / "M2Ohb0FAaJU_1.mp4").unlink()
    clean = build(download, tmp_path / "clean", "clips")
    builder = CelebVHQ(config_name="clips", data_dir=str(download), cache_dir=str(tmp_path / "cache"))
    leftovers = Path(builder.cache_dir + ".incomplete")
    (leftovers / "skip_report_parts").mkdir(parents=True)
    shutil.copy(clean.skip_report, leftovers / "skip_report_parts" / "12345.tsv")
    (leftovers / "celeb_vhq-train-00000-00003.arrow").write_bytes(b"stray shard")
    builder.download_and_prepare()
    assert read_skip_report(builder.skip_report) == read_skip_report(clean.skip_report)
    assert sorted(path.name for path in Path(builder.cache_dir).iterdir()) == sorted(
        path.name for path in Path(clean.cache_dir).iterdir()
    )


def test_folders_named_like_videos_are_skipped_with_their_reason(tmp_path: Path) -> None:
    download = write_sample_download(tmp_path / "download", with_videos=True)
    (download / "processed" / "M2Ohb0FAaJU_1.mp4").unlink()
    (download / "processed" / "M2Ohb0FAaJU_1.mp4").mkdir()
    (download / "processed" / "_0tf2n3rlJU_0.mp4").unlink()
    (download / "raw" / "_0tf2n3rlJU.mp4").mkdir(parents=True)
    builder = build(download, tmp_path / "cache", "clips")
    report = {row["clip_id"]: row["reason"] for row in read_skip_report(builder.skip_report)}
    assert report["M2Ohb0FAaJU_1"].startswith("unreadable: ") and "Is a directory" in report["M2Ohb0FAaJU_1"]
    assert report["_0tf2n3rlJU_0"].startswith("unreadable: ")
    assert builder.as_dataset(split="train").num_rows == 4


# --- the cache key holds what defines the rows, and only that ------------------------------------------

# A value other than the default for the options whose value must have a particular form.
_OTHER_VALUES: dict[str, Any] = {
    "url_template": "https://example.org/watch?v={ytb_id}",
    "cookies": "cookies.txt",
    "proxy": "http://127.0.0.1:3128",
    "rate_limit": "2M",
    "js_runtime": "node",
    "extractor_args": "youtube:player_client=web",
    "preset": "fast",
    "size": 512,
    "crf": 18,
    "slice": "0/2",
    "video_split": "80/10/10",
}


def _other_value(name: str, spec: Any, folder: Path) -> Any:
    if name in ("raw_dir", "processed_dir"):
        (folder / name).mkdir(exist_ok=True)
        return str(folder / name)
    if name in _OTHER_VALUES:
        return _OTHER_VALUES[name]
    kind = spec.kind
    if kind is bool:
        return not spec.default
    if typing.get_origin(kind) is Literal:
        return next(choice for choice in typing.get_args(kind) if choice != spec.default)
    number = spec.default if spec.default is not None else 1
    return number * 2 + 1 if isinstance(number, int) else number + 1.0


@pytest.mark.parametrize(
    ("builder_class", "config_name"), [(CelebVHQ, "clips"), (CelebVHQ, "annotations"), (CelebADialog, "hq")]
)
def test_only_options_that_define_the_rows_change_the_cache_folder(
    builder_class: Any, config_name: str, tmp_path: Path
) -> None:
    def cache_dir(**options: Any) -> str:
        builder = builder_class(
            config_name=config_name, data_dir=str(tmp_path), cache_dir=str(tmp_path / "c"), hash="h", **options
        )
        return builder.cache_dir

    default = cache_dir()
    changed = []
    for name, spec in options_of(builder_class.BUILDER_CONFIG_CLASS).items():
        if name in builder_class.defining_options() or (
            name == "slice" and not builder_class.BUILDER_CONFIG_CLASS.BUILT_IN_SLICES
        ):
            continue
        folder = cache_dir(**{name: _other_value(name, spec, tmp_path)})
        assert (folder != default) == spec.defines_rows, f"option {name} (defines_rows={spec.defines_rows})"
        changed.append(name)
    assert len(changed) >= 2  # CelebA-Dialog's own options name its configs: on_missing and media_check remain


def test_a_transport_option_reuses_the_build_and_a_row_defining_one_rebuilds(tmp_path: Path) -> None:
    download = write_sample_download(tmp_path / "download", with_videos=True)

    def prepared(**options: Any) -> CelebVHQ:
        builder = CelebVHQ(config_name="clips", data_dir=str(download), cache_dir=str(tmp_path / "c"), **options)
        builder.download_and_prepare()
        return builder

    first = prepared()
    built_at = (Path(first.cache_dir) / "dataset_info.json").stat().st_mtime_ns
    for options in ({"proxy": "http://127.0.0.1:3128"}, {"retries": 9, "keep_raw": False}, {"seek_gap_sec": 1.0}):
        again = prepared(**options)
        assert again.cache_dir == first.cache_dir, options
        assert (Path(again.cache_dir) / "dataset_info.json").stat().st_mtime_ns == built_at, f"{options} rebuilt"
    other = prepared(media_check="full")
    assert other.cache_dir != first.cache_dir and (Path(other.cache_dir) / "dataset_info.json").exists()


def test_the_dataset_packages_parsers_and_media_code_load_without_datasets() -> None:
    # They are meant to be used and tested on their own: importing `datasets` (a second, and its pyarrow and
    # fsspec) only for them would be a cost for nothing.
    modules = "celebv_hq_lib.annotations, celebv_hq_lib.video, celebv_hq_lib.clips, celebv_hq_lib.download"
    modules += ", celeba_dialog_lib.parsers, celeba_dialog_lib.rows, celeba_dialog_lib.images"
    code = f"import sys, {modules}; print('datasets' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "False"
