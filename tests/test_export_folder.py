"""An export touches only what it wrote: which folders it takes, and what it never deletes or overwrites.

Tested as users meet it: `celeb-datasets export` into real folders holding real files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import datasets
import pytest
from celebv_hq_fixtures import write_sample_download
from cli_process import permissions_apply, run_command

from celeb_datasets.card import Availability, ExportedConfig, availability_line, card_text, configs_in_card
from celeb_datasets.cli import main
from celeb_datasets.errors import ExportFolderError, OptionError
from celeb_datasets.hub import EXPORT_MANIFEST, configs_of_export, export
from celebv_hq import CelebVHQ


@pytest.fixture(scope="module")
def download(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = write_sample_download(tmp_path_factory.mktemp("folder") / "download", with_videos=True)
    (folder / "processed" / "M2Ohb0FAaJU_1.mp4").unlink()  # a clip left out as missing
    return folder


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def run_export(download: Path, cache: Path, output: str | Path, *extra: str, config: str = "annotations") -> int:
    arguments = ["export", "celebv_hq", "--config", config, "--data-dir", str(download), "--cache-dir", str(cache)]
    return main([*arguments, "--output", str(output), "--quiet", *extra])


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` and its bytes."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


# ---------------------------------------------------------------------------------------------------
# Which folders an export takes


def test_a_folder_of_other_files_is_refused_naming_it_and_what_it_holds_and_left_as_it_was(
    download: Path, cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "thesis"
    (folder / "clips").mkdir(parents=True)
    (folder / "README.md").write_text("My thesis notes\n")
    (folder / "thesis.tex").write_text("\\documentclass{article}\n")
    (folder / "clips" / "notes.txt").write_text("clip 3 is blurry\n")
    before = snapshot(folder)
    assert run_export(download, cache, folder) == 2
    line = one_error_line(capsys)
    assert (
        f"{folder} is not empty and holds no export of celeb-datasets (it holds README.md, clips/, thesis.tex)" in line
    )
    assert snapshot(folder) == before and sorted(os.listdir(folder)) == ["README.md", "clips", "thesis.tex"]


def test_a_new_folder_an_empty_one_and_an_export_of_the_dataset_are_taken(
    download: Path, cache: Path, tmp_path: Path
) -> None:
    (tmp_path / "empty").mkdir()
    assert run_export(download, cache, tmp_path / "new" / "deeper") == 0
    assert run_export(download, cache, tmp_path / "empty") == 0
    assert run_export(download, cache, tmp_path / "empty", config="clips") == 0
    assert sorted(json.loads((tmp_path / "empty" / EXPORT_MANIFEST).read_text())["configs"]) == ["annotations", "clips"]


def test_an_empty_output_path_is_an_error_and_the_current_folder_is_left_as_it_was(
    download: Path, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `--output "$EXPORT"` with EXPORT unset.
    work = tmp_path / "work"
    work.mkdir()
    (work / "README.md").write_text("My project\n")
    monkeypatch.chdir(work)
    assert run_export(download, cache, "") == 2
    assert "argument --output: an empty path ('': an unset shell variable?)" in one_error_line(capsys)
    assert os.listdir(work) == ["README.md"] and (work / "README.md").read_text() == "My project\n"
    with pytest.raises(OptionError, match=r"the export folder is an empty path \(' ': an unset shell variable\?\)"):
        export(CelebVHQ(data_dir=str(download), cache_dir=str(cache)), " ")
    assert os.listdir(work) == ["README.md"]


@pytest.mark.parametrize("output", ["exp:v1", "hdfs:x", "exp-2026-12-02T08:30", "~/qa_tilde_test"])
def test_an_output_with_a_colon_or_a_quoted_tilde_is_a_local_folder_of_that_name(
    download: Path,
    cache: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    output: str,
) -> None:
    # pyarrow reads a path it is given as text as a URI (`exp:` a file system scheme, `hdfs:` a JVM to start) and
    # expands `~`; the shell hands the command `~` unexpanded only when the user quoted it: a folder named `~`.
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    assert run_export(download, cache, output) == 0
    folder = work / output
    assert os.listdir(folder / "annotations") == ["train-00000-of-00001.parquet"]
    assert "## Label frequencies in `annotations`" in (folder / "README.md").read_text()  # the card read the shard
    assert os.listdir(home) == [] and os.listdir(work) == [output.split("/")[0]]
    shown = re.search(r"load it with datasets\.load_dataset\('([^']+)', 'annotations'\)", capsys.readouterr().out)
    assert shown is not None
    assert datasets.load_dataset(shown[1], "annotations", split="train").num_rows == 6  # as the output says


def test_a_python_caller_s_tilde_is_the_home_folder(
    download: Path, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    builder = CelebVHQ(data_dir=str(download), cache_dir=str(cache))
    builder.download_and_prepare()
    export(builder, "~/exports/celebv_hq")
    assert os.listdir(tmp_path / "home" / "exports" / "celebv_hq" / "annotations") == ["train-00000-of-00001.parquet"]
    assert not (tmp_path / "~").exists()


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("notes.txt", r"the export folder {tmp}/notes\.txt is a file: give a folder"),
        ("notes.txt/export", r"the export folder {tmp}/notes\.txt/export lies below {tmp}/notes\.txt, which is a file"),
        (
            "x" * 300,
            r"the export folder /\S+\.\.\.x+ \(\d+ characters\): a name of 300 bytes, more than the file system allows",
        ),
    ],
)
def test_an_output_that_cannot_be_a_folder_is_one_error_line(
    download: Path, cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], output: str, expected: str
) -> None:
    (tmp_path / "notes.txt").write_text("mine\n")
    assert run_export(download, cache, tmp_path / output) == 2
    line = one_error_line(capsys)
    assert re.search(expected.format(tmp=str(tmp_path)), line), line
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"] and (tmp_path / "notes.txt").read_text() == "mine\n"


def test_a_cache_folder_inside_the_export_folder_is_refused_before_anything_is_built(
    download: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "export"
    assert run_export(download, output / "cache", output) == 2
    assert f"the cache folder {output}/cache lies inside the export folder {output}" in one_error_line(capsys)
    assert not output.exists()
    # From Python too, where the builder made its cache folder already: nothing is exported.
    builder = CelebVHQ(data_dir=str(download), cache_dir=str(output / "cache"))
    with pytest.raises(ExportFolderError, match="lies inside the export folder"):
        export(builder, output)
    assert os.listdir(output) == ["cache"]


def test_a_folder_holding_another_datasets_export_is_refused(download: Path, cache: Path, tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / EXPORT_MANIFEST).write_text(json.dumps({"dataset": "celeba_dialog"}))
    assert run_export(download, cache, folder) == 2
    assert os.listdir(folder) == [EXPORT_MANIFEST]


# ---------------------------------------------------------------------------------------------------
# What an export never deletes or overwrites


def test_exporting_again_keeps_every_file_the_package_did_not_write(
    download: Path, cache: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "export"
    assert run_export(download, cache, folder, config="clips") == 0
    assert run_export(download, cache, folder) == 0
    (folder / "thesis.tex").write_text("mine\n")
    (folder / "clips" / "notes.txt").write_text("clip 3 is blurry\n")
    (folder / "annotations" / "checked.csv").write_text("clip_id,ok\n")
    assert run_export(download, cache, folder, "--max-shard-size", "4000", config="clips") == 0
    assert run_export(download, cache, folder, config="clips") == 0  # its many small shards replaced by one
    assert (folder / "thesis.tex").read_text() == "mine\n"
    assert sorted(os.listdir(folder / "clips")) == ["notes.txt", "train-00000-of-00001.parquet"]
    assert (folder / "clips" / "notes.txt").read_text() == "clip 3 is blurry\n"
    assert sorted(os.listdir(folder / "annotations")) == ["checked.csv", "train-00000-of-00001.parquet"]
    assert datasets.load_dataset(str(folder), "clips", split="train").num_rows == 5


def test_a_readme_the_package_did_not_write_is_kept_aside_and_the_card_written(
    download: Path, cache: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "export"
    assert run_export(download, cache, folder) == 0
    card = (folder / "README.md").read_text()
    (folder / "README.md").write_text(card + "\nOur lab's notes.\n")
    assert run_export(download, cache, folder) == 0
    assert (folder / "README.user.md").read_text() == card + "\nOur lab's notes.\n"
    assert (folder / "README.md").read_text() == card
    assert (
        f"{folder / 'README.md'} was not written by celeb-datasets (or was edited since): kept as README.user.md"
        in (caplog.text)
    )
    (folder / "README.md").write_text("Second notes\n")
    assert run_export(download, cache, folder) == 0
    assert (folder / "README.user-2.md").read_text() == "Second notes\n"
    assert (folder / "README.user.md").read_text() == card + "\nOur lab's notes.\n"
    caplog.clear()
    assert run_export(download, cache, folder) == 0  # the card is the package's own now: replaced, nothing kept
    assert "kept as" not in caplog.text and len(list(folder.glob("README*"))) == 3


def test_a_file_named_like_a_shard_that_the_package_did_not_write_is_refused_and_kept(
    download: Path, cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "export"
    assert run_export(download, cache, folder) == 0
    (folder / "clips").mkdir()
    (folder / "clips" / "train-00000-of-00001.parquet").write_bytes(b"my own table")
    capsys.readouterr()
    assert run_export(download, cache, folder, config="clips") == 2
    assert "clips/train-00000-of-00001.parquet was not written by celeb-datasets" in one_error_line(capsys)
    assert (folder / "clips" / "train-00000-of-00001.parquet").read_bytes() == b"my own table"
    assert "clips" not in json.loads((folder / EXPORT_MANIFEST).read_text())["configs"]


def test_an_export_of_an_older_version_is_taken_and_its_readme_kept_aside(
    download: Path, cache: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "export"
    assert run_export(download, cache, folder) == 0
    (folder / EXPORT_MANIFEST).write_text(json.dumps({"dataset": "celebv_hq"}) + "\n")  # the older marker
    assert run_export(download, cache, folder, config="clips") == 0
    assert (folder / "README.user.md").exists()  # its card recorded no digest: not known to be the package's
    record = json.loads((folder / EXPORT_MANIFEST).read_text())
    assert record["configs"]["annotations"]["shards"] == ["train-00000-of-00001.parquet"]
    assert sorted(record["files"]) == ["README.md", "skip_report.clips.tsv"]


@pytest.mark.parametrize("entry", ["climbing shard", "absolute shard", "top-level file", "config folder"])
def test_a_marker_naming_anything_but_the_packages_own_files_is_refused_and_nothing_outside_is_touched(
    download: Path, cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], entry: str
) -> None:
    # An export replaces and deletes the files its marker names, and publish uploads them: a marker edited to
    # name files elsewhere (`../../tmp/victim.txt`, an absolute path, `../outside` as a config) is not obeyed.
    folder = tmp_path / "m7"
    assert run_export(download, cache, folder) == 0
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_text("victim\n")
    shutil.copyfile(folder / "annotations" / "train-00000-of-00001.parquet", outside / "train-00000-of-00001.parquet")
    record = json.loads((folder / EXPORT_MANIFEST).read_text())
    if entry == "climbing shard":
        where, named = "configs.annotations.shards", os.path.relpath(victim, folder / "annotations")
        record["configs"]["annotations"]["shards"].append(named)
    elif entry == "absolute shard":
        where, named = "configs.annotations.shards", str(victim)
        record["configs"]["annotations"]["shards"].append(named)
    elif entry == "top-level file":
        where, named = "files", os.path.relpath(victim, folder)
        record["files"][named] = record["files"]["README.md"]
    else:
        where, named = "configs", "../outside"
        record["configs"][named] = {"shards": ["train-00000-of-00001.parquet"], "slices": None}
    (folder / EXPORT_MANIFEST).write_text(json.dumps(record))
    before, outside_before = snapshot(folder), snapshot(outside)
    capsys.readouterr()
    assert run_export(download, cache, folder) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"error: {folder / EXPORT_MANIFEST}: {where} names {named!r}, where the package writes only")
    assert "the marker was edited or damaged, and is not obeyed (nothing was changed)" in line
    assert main(["publish", str(folder), "--repo", "test-org/never-sent", "--quiet"]) == 2
    assert one_error_line(capsys) == line
    assert snapshot(folder) == before and snapshot(outside) == outside_before


def test_a_config_folder_linked_elsewhere_is_refused_and_what_it_points_to_kept(
    download: Path, cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "export"
    assert run_export(download, cache, folder) == 0
    elsewhere = tmp_path / "elsewhere"
    (folder / "annotations").rename(elsewhere)
    (folder / "annotations").symlink_to(elsewhere)
    before = snapshot(elsewhere)
    capsys.readouterr()
    # Smaller shards: the one there would be deleted, wherever the link points.
    assert run_export(download, cache, folder, "--max-shard-size", "1000") == 2
    assert f"{folder / 'annotations'} is a symbolic link to {elsewhere}" in one_error_line(capsys)
    assert snapshot(elsewhere) == before


# ---------------------------------------------------------------------------------------------------
# What the card says the export holds


def test_the_card_says_how_many_clips_the_export_holds_and_why_the_others_are_missing(
    download: Path, cache: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "export"
    assert run_export(download, cache, folder, config="clips") == 0
    body = (folder / "README.md").read_text()
    line = "- `clips`: 5 of the 6 clips the sources name (the release has 35,666). Left out: 1 missing."
    assert line in body.split("## Availability")[1]
    assert "skip_report.{config}.tsv` lists every item left out with its reason" in body


@pytest.mark.parametrize(
    ("availability", "expected"),
    [
        (Availability(35_666, {}, {}, 35_666), "- `clips`: all 35,666 clips of the release."),
        (
            Availability(30_120, {"missing": 5_000, "unreadable": 546}, {"odd emotion segment": 3}, 35_666),
            "- `clips`: 30,120 of the release's 35,666 clips (84.5%). Left out: 5,000 missing, 546 unreadable. "
            "Kept with a value listed in the skip report: 3 odd emotion segment.",
        ),
        (
            Availability(20_000, {"missing": 3_000}, {}, 35_666, 3, (0, 2)),
            "- `clips`: **partial**, only slices 0, 2 of 3 (absent: 1): the clips of absent slices are counted "
            "nowhere. 20,000 of the 23,000 clips the slices present name (the release has 35,666). Left out: "
            "3,000 missing.",
        ),
        (
            Availability(30_666, {"missing": 5_000}, {}, 35_666, 2, (0, 1)),
            "- `clips`: 30,666 of the release's 35,666 clips (86.0%), in slices 0 to 1 of 2. Left out: 5,000 missing.",
        ),
        (
            Availability(7, {"no image": 1}, {}, None),
            "- `clips`: 7 of the 8 clips the sources name. Left out: 1 no image.",
        ),
    ],
)
def test_the_availability_line_of_each_case(availability: Availability, expected: str) -> None:
    assert availability_line("clips", availability, CelebVHQ) == expected


def test_what_an_export_holds_is_read_back_from_its_card_for_publishing(tmp_path: Path, download: Path) -> None:
    folder = tmp_path / "export"
    builder = CelebVHQ(data_dir=str(download), cache_dir=str(tmp_path / "cache"))
    builder.download_and_prepare()
    exported = export(builder, folder)
    read_back = configs_in_card((folder / "README.md").read_text())["annotations"]
    assert read_back.availability == exported.availability == Availability(6, {}, {}, 35_666)
    partial = Availability(4, {"missing": 1}, {}, 35_666, 3, (0, 2))
    config = ExportedConfig("annotations", exported.features, exported.splits, partial)
    text = card_text(CelebVHQ, "celebv_hq", {"annotations": config})
    assert configs_in_card(text)["annotations"].availability == partial


def test_a_config_that_lost_shards_is_left_out_of_the_card_and_repaired_by_exporting_it_again(
    download: Path, cache: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "export"
    assert run_export(download, cache, folder, "--max-shard-size", "4000", config="clips") == 0
    assert run_export(download, cache, folder) == 0
    shards = sorted((folder / "clips").glob("*.parquet"))
    lost = shards[1]
    lost.unlink()
    # Another config's export goes on: the damaged one leaves the card (it would load without those rows).
    assert run_export(download, cache, folder) == 0
    assert (
        f"{lost} is gone (1 of the {len(shards)} shards the package wrote for clips): clips is left out of the card, "
        f"so that it does not load without those rows, until it is exported into {folder} again "
        "(`celeb-datasets export celebv_hq --config clips ...`); or delete the folder"
    ) in caplog.text
    card = (folder / "README.md").read_text()
    assert "config_name: annotations" in card and "config_name: clips" not in card
    assert list(configs_of_export(folder)) == ["annotations"]  # what publish would send
    # Exporting it again, as the warning says (--force too), repairs it.
    caplog.clear()
    assert run_export(download, cache, folder, "--max-shard-size", "4000", "--force", config="clips") == 0
    assert "is gone" not in caplog.text and lost.is_file()
    assert "config_name: clips" in (folder / "README.md").read_text()
    assert datasets.load_dataset(str(folder), "clips", split="train").num_rows == 5
    # A config whose shards are all gone (its folder deleted) is dropped.
    shutil.rmtree(folder / "clips")
    assert run_export(download, cache, folder) == 0
    assert "every shard of config clips is gone: the export no longer holds it" in caplog.text
    assert "clips" not in json.loads((folder / EXPORT_MANIFEST).read_text())["configs"]
    assert "config_name: clips" not in (folder / "README.md").read_text()


# ---------------------------------------------------------------------------------------------------
# A folder the export cannot write in: one error line, checked before the build


def export_arguments(download: Path, cache: Path, output: Path) -> list[str]:
    return ["export", "celebv_hq", "--data-dir", str(download), "--cache-dir", str(cache), "--output", str(output)]


def test_an_output_folder_that_cannot_be_written_in_is_one_error_line(
    download: Path, cache: Path, tmp_path: Path
) -> None:
    wrapper = permissions_apply()
    folder = tmp_path / "ro_out"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        finished = run_command([*export_arguments(download, cache, folder), "--quiet"], wrapper)
        assert (finished.returncode, finished.stdout) == (2, "")
        assert (
            finished.stderr
            == f"error: cannot write in {folder}: permission denied; export into a folder you can write in\n"
        )
        finished = run_command([*export_arguments(download, cache, folder / "new"), "--quiet"], wrapper)
        assert finished.returncode == 2
        assert finished.stderr == (
            f"error: cannot write in {folder} (where the export folder {folder / 'new'} would be made): permission "
            "denied; export into a folder you can write in\n"
        )
        assert os.listdir(folder) == []
    finally:
        folder.chmod(0o755)


def test_a_read_only_export_folder_is_one_error_line_and_left_as_it_was(
    download: Path, cache: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "export"
    assert run_export(download, cache, folder) == 0
    before = snapshot(folder)
    # The folder as a read-only mount, in a mount namespace of the command's own.
    wrapper = [
        "unshare",
        "--map-root-user",
        "--mount",
        "sh",
        "-c",
        'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" "$0" && exec "$@"',
        str(folder),
    ]
    if shutil.which("unshare") is None or subprocess.run([*wrapper, "true"], check=False).returncode != 0:
        pytest.skip("no read-only bind mount here (unshare --map-root-user --mount)")
    finished = run_command([*export_arguments(download, cache, folder), "--config", "clips", "--quiet"], wrapper)
    assert finished.returncode == 2
    assert finished.stderr == (
        f"error: cannot write in {folder}: it is on a read-only file system; export into a folder you can write in\n"
    )
    assert snapshot(folder) == before


def test_a_lock_that_cannot_be_taken_is_one_error_line(
    download: Path, cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "export"
    assert run_export(download, cache, folder) == 0
    (folder / ".celeb_datasets" / "lock").unlink()
    (folder / ".celeb_datasets" / "lock").mkdir()  # what the lock's place holds, it cannot be opened as a file
    capsys.readouterr()
    assert run_export(download, cache, folder) == 2
    assert (
        f"error: cannot take the lock of the export folder {folder} ({folder}/.celeb_datasets/lock: Is a directory)"
        in one_error_line(capsys)
    )
