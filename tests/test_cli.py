"""The `celeb-datasets` command line: prepare, export, publish, dataset-infos."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
from celebv_hq_fixtures import copy_of_the_sample, unique_repo_id, write_sample_download
from hub_server import FakeHub

from celeb_datasets.card import exported_configs
from celeb_datasets.cli import main
from celeb_datasets.registry import DATASETS, Dataset

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def download(tmp_path: Path) -> Path:
    return write_sample_download(tmp_path / "download")


def _export(download: Path, tmp_path: Path, *extra: str) -> Path:
    output = tmp_path / "export"
    arguments = ["export", "celebv_hq", "--config", "annotations", "--data-dir", str(download)]
    arguments += ["--cache-dir", str(tmp_path / "cache"), "--output", str(output), "--quiet", *extra]
    assert main(arguments) == 0
    return output


def test_prepare_still_builds_a_config(download: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    arguments = ["prepare", "celebv_hq", "--config", "annotations", "--data-dir", str(download)]
    assert main([*arguments, "--cache-dir", str(tmp_path / "cache"), "--quiet"]) == 0
    assert "celebv_hq/annotations train: 6 rows" in capsys.readouterr().out


def test_export_prepares_and_writes_a_loadable_folder(
    download: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = _export(download, tmp_path)
    out = capsys.readouterr().out
    assert "celebv_hq/annotations train: 6 rows in 1 Parquet shard(s)" in out
    assert datasets.load_dataset(str(output), "annotations", split="train").num_rows == 6


def test_export_of_missing_download_fails_with_the_builders_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["export", "celebv_hq", "--data-dir", str(tmp_path / "nothing"), "--output", str(tmp_path / "out")]
    assert main([*arguments, "--cache-dir", str(tmp_path / "cache"), "--quiet"]) == 2
    assert "celebvhq_info.json not found" in capsys.readouterr().err


def test_an_unknown_config_or_option_is_an_error_listing_the_known_ones(
    download: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["prepare", "celebv_hq", "--data-dir", str(download), "--cache-dir", str(tmp_path), "--quiet"]
    assert main([*arguments, "--config", "videos"]) == 2
    assert "celebv_hq has no config 'videos'; its configs: annotations, clips" in capsys.readouterr().err
    assert main([*arguments, "--option", "resolution=512"]) == 2
    assert (
        "--option resolution: celebv_hq has no such option; its options: audio_bitrate, cookies, crf, crop,"
        in capsys.readouterr().err
    )


def test_publish_is_private_by_default_and_never_prints_the_token(
    hub_server: FakeHub,
    hub_token: str,
    download: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    output = _export(download, tmp_path)
    monkeypatch.setenv("HF_TOKEN", hub_token)
    repo_id = unique_repo_id("cli")
    assert main(["publish", str(output), "--repo", repo_id, "--quiet"]) == 0
    captured = capsys.readouterr()
    assert f"published annotations to {repo_id} (private)" in captured.out
    assert hub_token not in captured.out + captured.err
    assert hub_server.repos[repo_id].private


def test_publish_public_with_a_message(
    hub_server: FakeHub, hub_token: str, download: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = _export(download, tmp_path)
    monkeypatch.setenv("HF_TOKEN", hub_token)
    repo_id = unique_repo_id("cli-public")
    assert main(["publish", str(output), "--repo", repo_id, "--public", "--message", "First release"]) == 0
    repo = hub_server.repos[repo_id]
    assert not repo.private
    assert repo.head().summary == "First release"


def test_publish_errors_exit_2_with_a_message(
    hub_token: str,
    download: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    output = _export(download, tmp_path)
    capsys.readouterr()
    monkeypatch.delenv("HF_TOKEN", raising=False)
    assert main(["publish", str(output), "--repo", "test-org/no-token"]) == 2
    assert "no Hugging Face token" in capsys.readouterr().err
    monkeypatch.setenv("HF_TOKEN", hub_token)
    assert main(["publish", str(output), "--repo", "test-org/x", "--config", "clips"]) == 2
    assert "celeb-datasets export celebv_hq --config clips" in capsys.readouterr().err
    assert main(["publish", str(output), "--repo", "test-org/x", "--revision", "dev", "--create-pr"]) == 2
    assert "refs/pr/N" in capsys.readouterr().err


def test_dataset_infos_check_passes_on_the_committed_file_and_fails_on_a_stale_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dataset-infos", "--check", "--output", str(REPO_ROOT / "dataset_infos.json")]) == 0
    stale = tmp_path / "dataset_infos.json"
    stale.write_text("{}\n")
    assert main(["dataset-infos", "--check", "--output", str(stale)]) == 1
    assert "out of date" in capsys.readouterr().err
    assert main(["dataset-infos", "--output", str(stale)]) == 0
    assert stale.read_text() == (REPO_ROOT / "dataset_infos.json").read_text()


def test_export_of_the_sample_exports_both_configs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Laid out already, small, as by an earlier --sample: generating and cutting the full one takes 20 s.
    copy_of_the_sample(tmp_path / "sample", width=128, height=72, fps=5)
    arguments = ["export", "celebv_hq", "--sample", str(tmp_path / "sample"), "--output", str(tmp_path / "export")]
    assert main([*arguments, "--cache-dir", str(tmp_path / "cache"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "celebv_hq/annotations train: 6 rows" in out and "celebv_hq/clips train: 6 rows" in out
    assert sorted(exported_configs(tmp_path / "export")) == ["annotations", "clips"]


@pytest.mark.parametrize("command", ["prepare", "export"])
def test_the_sample_pointed_at_a_real_download_is_one_error_line_and_changes_nothing(
    download: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    annotation = download / "celebvhq_info.json"
    annotation.write_text(annotation.read_text().replace('"v0.1"', '"v0.2"'))  # the user's own labels
    before = {path: path.read_bytes() for path in download.rglob("*") if path.is_file()}
    arguments = [command, "celebv_hq", "--sample", str(download), "--cache-dir", str(tmp_path / "cache"), "--quiet"]
    if command == "export":
        arguments += ["--output", str(tmp_path / "export")]
    assert main(arguments) == 2
    error = capsys.readouterr().err
    assert error == (
        f"error: {annotation} is not the sample's annotation file (your own, or edited): the sample never "
        "overwrites it; lay the sample out in a new or empty folder\n"
    )
    assert {path: path.read_bytes() for path in download.rglob("*") if path.is_file()} == before
    assert not (tmp_path / "export").exists() and not (tmp_path / "cache").exists()


# ---------------------------------------------------------------------------------------------------
# What a user's shell hands the command: empty paths, a closed stdout


EMPTY_PATHS = {
    "export --data-dir": ["export", "celebv_hq", "--data-dir", "", "--output", "{out}"],
    "export --cache-dir": ["export", "celebv_hq", "--data-dir", "{download}", "--cache-dir", "", "--output", "{out}"],
    "export --output": ["export", "celebv_hq", "--data-dir", "{download}", "--output", ""],
    "export --sample": ["export", "celebv_hq", "--sample", "", "--output", "{out}"],
    "export --raw-dir": ["export", "celebv_hq", "--data-dir", "{download}", "--raw-dir", "", "--output", "{out}"],
    "export --processed-dir": [
        "export",
        "celebv_hq",
        "--data-dir",
        "{download}",
        "--processed-dir",
        "",
        "--output",
        "{out}",
    ],
    "export --option": ["export", "celebv_hq", "--data-dir", "{download}", "--option", "raw_dir=", "--output", "{out}"],
    "prepare --data-dir": ["prepare", "celeba_dialog", "--data-dir", ""],
    "prepare --cache-dir": ["prepare", "celebv_hq", "--data-dir", "{download}", "--cache-dir", ""],
    "publish": ["publish", "", "--repo", "test-org/never-sent"],
    "download --data-dir": ["download", "celebv_hq", "--data-dir", ""],
    "download --ids": ["download", "celebv_hq", "--data-dir", "{download}", "--ids", ""],
    "download --raw-dir": ["download", "celebv_hq", "--data-dir", "{download}", "--raw-dir", ""],
    "download --cookies": ["download", "celebv_hq", "--data-dir", "{download}", "--cookies", ""],
    "status --data-dir": ["status", "celebv_hq", "--data-dir", ""],
    "status --raw-dir": ["status", "celebv_hq", "--data-dir", "{download}", "--raw-dir", ""],
    "status --report-dir": ["status", "celebv_hq", "--data-dir", "{download}", "--report-dir", ""],
    "verify --data-dir": ["verify", "celebv_hq", "--data-dir", ""],
    "verify --processed-dir": ["verify", "celebv_hq", "--data-dir", "{download}", "--processed-dir", ""],
    "verify --report-dir": ["verify", "celebv_hq", "--data-dir", "{download}", "--report-dir", ""],
    "dataset-infos --output": ["dataset-infos", "--output", ""],
    "docs": ["docs", ""],
}


@pytest.mark.parametrize("command", list(EMPTY_PATHS))
def test_an_empty_path_is_one_error_line_for_every_command_and_nothing_is_read_or_written(
    download: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    # `--data-dir "$DATA"` with DATA unset: taken as the current folder, it would search all of it (or /tmp).
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    arguments = [part.format(download=download, out=tmp_path / "out") for part in EMPTY_PATHS[command]]
    assert main([*arguments, "--quiet"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "('': an unset shell variable?)" in lines[0], lines
    assert os.listdir(work) == [] and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("arguments", "exit_code"),
    [(["status", "celebv_hq", "--data-dir", "{download}"], 128 + signal.SIGPIPE), (["--help"], 0)],
)
def test_a_closed_stdout_ends_any_command_quietly(download: Path, arguments: list[str], exit_code: int) -> None:
    # `celeb-datasets status ... | head -5`: the reader goes before the command has written everything.
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "celeb_datasets.cli", *(part.format(download=download) for part in arguments)]
    process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    error = process.stderr.read()
    assert (process.wait(timeout=120), error) == (exit_code, "")


def test_a_registered_dataset_whose_code_is_missing_leaves_only_its_commands_out(
    download: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(DATASETS, "ghost", Dataset("ghost_dataset:Ghost", commands="ghost_dataset_lib.commands"))
    expected = "warning: dataset 'ghost': its module 'ghost_dataset' is not installed: its commands are left out\n"
    assert main(["--help"]) == 0
    captured = capsys.readouterr()
    assert captured.err == expected and "prepare" in captured.out
    assert main(["status", "celebv_hq", "--data-dir", str(download)]) == 0
    assert capsys.readouterr().err == expected
    assert main(["prepare", "ghost"]) == 2
    assert "argument DATASET: invalid choice: 'ghost'" in capsys.readouterr().err
