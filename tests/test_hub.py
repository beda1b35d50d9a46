"""Export to the Hub layout, the dataset card, publishing to a (loopback) Hub, and dataset_infos.json."""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import datasets
import huggingface_hub
import pyarrow.parquet as pq
import pytest
from celeba_dialog_fixtures import make_hq_download
from celebv_hq_fixtures import unique_repo_id, write_sample_download
from cli_process import run_command
from datasets import ClassLabel, Dataset, Features, List, Value
from datasets.info import DatasetInfosDict
from hub_server import FakeHub
from huggingface_hub import DatasetCard, DatasetCardData

from celeb_datasets.card import (
    ExportedConfig,
    ExportedSplit,
    card_text,
    configs_in_card,
    datasets_in_card,
    exported_configs,
    frequency_tables,
    read_exported_config,
)
from celeb_datasets.cli import main
from celeb_datasets.errors import CelebDatasetsError, HubError, OptionError
from celeb_datasets.hub import EXPORT_MANIFEST, dataset_infos, dataset_infos_text, export
from celeb_datasets.publish import publish
from celeb_datasets.registry import DATASETS, builder_class
from celeba_dialog import CelebADialog
from celebv_hq import CelebVHQ, celebv_hq_features

REPO_ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------------
# Fixtures (the sample download, `built` and `export_dir` are in celebv_hq_fixtures.py and conftest.py).


@pytest.fixture
def no_retry_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """huggingface_hub backs off for up to 23 s while retrying 5xx answers; skip the waiting."""
    monkeypatch.setattr(huggingface_hub.utils._http.time, "sleep", lambda seconds: None)


@pytest.fixture
def fake_hub(hub_server: FakeHub) -> Iterator[FakeHub]:
    """The session's loopback Hub; the test fails if the fake itself broke while serving it."""
    yield hub_server
    hub_server.clear_faults()
    assert hub_server.internal_errors == []


# ---------------------------------------------------------------------------------------------------
# Export


def test_export_writes_hub_layout_with_card_and_manifest(export_dir: Path) -> None:
    files = sorted(str(path.relative_to(export_dir)) for path in export_dir.rglob("*") if path.is_file())
    assert files == [
        ".celeb_datasets/lock",
        ".celeb_datasets/skip_reports/annotations.tsv",
        ".celeb_datasets/skip_reports/clips.tsv",
        EXPORT_MANIFEST,
        "README.md",
        "annotations/train-00000-of-00001.parquet",
        "clips/train-00000-of-00001.parquet",
        "skip_report.annotations.tsv",
        "skip_report.clips.tsv",
    ]


def test_exported_clips_shard_embeds_the_video_bytes_and_keeps_features(
    export_dir: Path, built: dict[str, CelebVHQ]
) -> None:
    table = pq.read_table(export_dir / "clips" / "train-00000-of-00001.parquet")
    assert Features.from_arrow_schema(table.schema) == celebv_hq_features(with_video=True)
    expected = built["clips"].as_dataset(split="train")
    videos = table.column("video").to_pylist()
    assert [video["bytes"] for video in videos] == [row["video"]["bytes"] for row in expected]
    assert all(video["bytes"].startswith(b"\x00\x00\x00") for video in videos)  # MP4 box header


def test_small_max_shard_size_splits_rows_over_numbered_shards(built: dict[str, CelebVHQ], tmp_path: Path) -> None:
    exported = export(built["clips"], tmp_path / "out", max_shard_size=4000)
    shards = exported.splits[0].shards
    count = len(shards)
    assert count > 1
    assert [shard.name for shard in shards] == [f"train-{i:05d}-of-{count:05d}.parquet" for i in range(count)]
    assert sum(pq.read_metadata(shard).num_rows for shard in shards) == 6


def test_re_export_replaces_the_config_shards_and_keeps_other_configs(
    built: dict[str, CelebVHQ], tmp_path: Path
) -> None:
    folder = tmp_path / "out"
    export(built["annotations"], folder)
    export(built["clips"], folder, max_shard_size=4000)
    assert len(list((folder / "clips").iterdir())) > 1
    export(built["clips"], folder)
    assert [path.name for path in (folder / "clips").iterdir()] == ["train-00000-of-00001.parquet"]
    assert [path.name for path in (folder / "annotations").iterdir()] == ["train-00000-of-00001.parquet"]
    assert set(exported_configs(folder)) == {"annotations", "clips"}
    assert not [path for path in folder.iterdir() if ".staging." in path.name]


def test_a_file_size_limit_while_exporting_is_one_storage_error_line_naming_the_export_folder(
    built: dict[str, CelebVHQ], tmp_path: Path
) -> None:
    data_dir = Path(built["clips"].config.data_dir)  # prepared: the export reuses the cache
    output = tmp_path / "export"
    command = [sys.executable, "-m", "celeb_datasets.cli", "export", "celebv_hq", "--config", "clips", "--quiet"]
    command += ["--data-dir", str(data_dir), "--cache-dir", str(data_dir.parent / "cache"), "--output", str(output)]

    def limit_file_size() -> None:  # the card and marker fit; a shard of the 6 clips does not
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))

    result = subprocess.run(command, capture_output=True, text=True, timeout=300, preexec_fn=limit_file_size)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: a file under {output} reached this process's file-size limit (")
    assert result.stderr.count("\n") == 1 and "--max-shard-size" in result.stderr
    assert not list(output.glob("**/*.parquet")) and not list(output.glob(".*staging*"))


def test_export_of_a_builder_never_prepared_is_a_clear_error(tmp_path: Path) -> None:
    data_dir = write_sample_download(tmp_path / "download")
    builder = CelebVHQ(config_name="annotations", data_dir=str(data_dir), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(CelebDatasetsError, match=r"celebv_hq/annotations was never prepared.*celeb-datasets prepare"):
        export(builder, tmp_path / "out")
    assert not (tmp_path / "out" / "annotations").exists()


def test_export_refuses_a_folder_holding_another_dataset(built: dict[str, CelebVHQ], tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / EXPORT_MANIFEST).write_text(json.dumps({"dataset": "celeba_dialog"}))
    with pytest.raises(CelebDatasetsError, match="holds an export of 'celeba_dialog'"):
        export(built["annotations"], folder)


# ---------------------------------------------------------------------------------------------------
# The dataset card


def test_card_yaml_is_valid_hub_metadata_with_both_configs_and_one_default(export_dir: Path) -> None:
    card = DatasetCard.load(export_dir / "README.md")
    data = card.data
    assert isinstance(data, DatasetCardData)
    # Round-trip through the Hub library's own parser: what it reads is what we wrote.
    assert DatasetCardData(**data.to_dict()).to_dict() == data.to_dict()
    assert data.license == "other"
    assert data.license_name == "celebv-hq-research-only"
    assert data.license_link == "https://celebv-hq.github.io/"
    assert data.pretty_name == "CelebV-HQ"
    assert data.size_categories == ["n<1K"]
    assert data.task_categories == ["video-classification", "text-to-video"]
    assert "faces" in data.tags
    configs = {entry["config_name"]: entry for entry in data.configs}
    assert configs["annotations"]["data_files"] == [{"split": "train", "path": "annotations/train-*"}]
    assert configs["clips"]["data_files"] == [{"split": "train", "path": "clips/train-*"}]
    assert [name for name, entry in configs.items() if entry.get("default")] == ["annotations"]


def test_card_features_round_trip_exactly_with_class_labels_and_lists_of_structs(export_dir: Path) -> None:
    text = (export_dir / "README.md").read_text()
    assert "sequence:" not in text.split("\n---\n")[0]
    infos = DatasetInfosDict.from_dataset_card_data(DatasetCard.load(export_dir / "README.md").data)
    assert infos["annotations"].features == celebv_hq_features(with_video=False)
    assert infos["clips"].features == celebv_hq_features(with_video=True)
    assert infos["annotations"].splits["train"].num_examples == 6
    assert infos["clips"].features["video"].decode is False


def test_card_body_explains_loading_fields_defects_terms_and_citation(export_dir: Path) -> None:
    body = DatasetCard.load(export_dir / "README.md").text
    for heading in (
        "# CelebV-HQ",
        "## Configs",
        "## Load and stream",
        "## Fields",
        "## Label frequencies in `annotations`",
        "## Label frequencies in `clips`",
        "## Known defects of the annotations",
        "## License and terms of use",
        "## Citation",
    ):
        assert heading in body
    assert "split_dataset_by_node" in body and "av.open(io.BytesIO(" in body
    assert "- `emotion` (class label: 0 neutral, 1 happy, 2 anger" in body
    assert "Only in `clips`." in body
    assert "Non-commercial research and educational use only" in body
    assert "@inproceedings{zhu2022celebvhq" in body
    assert CelebVHQ.KNOWN_DEFECTS[0] in body


def test_every_card_s_python_examples_are_as_ruff_formats_them(export_dir: Path, tmp_path: Path) -> None:
    # ruff 0.17 formats the Python blocks of Markdown: a repository holding an export folder (the README's
    # set-up writes one) must pass `ruff format --check .`, at ruff's default settings (88 columns) or its own.
    long_repo_id = "a-rather-long-organisation-name/a-rather-long-dataset-name-for-our-lab"
    cards = {"export_folder": (export_dir / "README.md").read_text()}
    for name in DATASETS:
        builder = builder_class(name)
        split = ExportedSplit("train", (), 10, 1_000, 1_000)
        configs = {
            config.name: ExportedConfig(config.name, config.features(), (split,)) for config in builder.BUILDER_CONFIGS
        }
        cards[name] = card_text(builder, name, configs, long_repo_id)
    for name, text in cards.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "README.md").write_text(text)
    for settings in (["--isolated"], ["--isolated", "--line-length", "120"]):
        command = [sys.executable, "-m", "ruff", "format", "--check", *settings, str(tmp_path)]
        finished = subprocess.run(command, capture_output=True, text=True, check=False)
        assert finished.returncode == 0, finished.stdout + finished.stderr
        assert f"{len(cards)} files already formatted" in finished.stdout


def test_card_frequency_tables_are_counted_from_the_exported_rows(export_dir: Path, built: dict[str, CelebVHQ]) -> None:
    rows = built["annotations"].as_dataset(split="train")
    eyeglasses = sum(row["appearance"]["eyeglasses"] for row in rows)
    segments = [segment["emotion"] for row in rows for segment in row["emotion_segments"]]
    body = DatasetCard.load(export_dir / "README.md").text
    section = body.split("## Label frequencies in `annotations`")[1].split("## Label frequencies in `clips`")[0]
    assert f"| eyeglasses | {eyeglasses:,} | {eyeglasses / 6:.1%} |" in section
    segment_table = section.split("**`emotion_segments[].emotion`**")[1]
    happy = segments.count(1)
    assert f"| happy | {happy} | {happy / len(segments):.1%} |" in segment_table
    multi = sum(row["multi_emotion"] for row in rows)
    assert f"| multi_emotion | {multi} | {multi / 6:.1%} |" in section


def test_frequency_tables_cover_class_labels_in_structs_and_lists_of_any_builder(tmp_path: Path) -> None:
    degree = ClassLabel(names=["none", "some", "lots"])
    features = Features(
        {
            "name": Value("string"),
            "degrees": {"bangs": degree, "age": degree},
            "flags": {"smiling": Value("bool"), "hat": Value("bool")},
            "tags": List(ClassLabel(names=["a", "b"])),
            "labelled": Value("bool"),
        }
    )
    rows = {
        "name": ["x", "y", "z"],
        "degrees": [{"bangs": 0, "age": 2}, {"bangs": 2, "age": 2}, {"bangs": None, "age": 1}],
        "flags": [{"smiling": True, "hat": False}, {"smiling": True, "hat": True}, {"smiling": False, "hat": False}],
        "tags": [[0, 1, 1], [], [0]],
        "labelled": [True, False, True],
    }
    (tmp_path / "cfg").mkdir()
    Dataset.from_dict(rows, features=features).to_parquet(tmp_path / "cfg" / "train-00000-of-00001.parquet")
    tables = {table.title: table for table in frequency_tables(read_exported_config(tmp_path / "cfg"))}
    assert list(tables) == [
        "`degrees.bangs`",
        "`degrees.age`",
        "`flags` (true in)",
        "`tags[]`",
        "Other true/false fields (true in)",
    ]
    assert dict(tables["`degrees.bangs`"].counts) == {"none": 1, "lots": 1}
    assert tables["`degrees.bangs`"].totals["some"] == 2  # the None is not counted
    assert dict(tables["`degrees.age`"].counts) == {"lots": 2, "some": 1}
    assert dict(tables["`flags` (true in)"].counts) == {"smiling": 2, "hat": 1}
    assert dict(tables["`tags[]`"].counts) == {"a": 2, "b": 2}
    assert tables["Other true/false fields (true in)"].markdown()[-1] == "| labelled | 2 | 66.7% |"


# ---------------------------------------------------------------------------------------------------
# Publish


def test_publish_creates_a_private_repo_whose_commit_holds_shards_and_card(
    fake_hub: FakeHub, hub_token: str, export_dir: Path
) -> None:
    repo_id = unique_repo_id("publish")
    result = publish(export_dir, repo_id, token=hub_token)
    repo = fake_hub.repos[repo_id]
    assert repo.private and result.private
    assert result.configs == ("annotations", "clips")
    files = repo.files()
    assert set(files) == {
        ".gitattributes",
        "README.md",
        "annotations/train-00000-of-00001.parquet",
        "clips/train-00000-of-00001.parquet",
    }
    for path in ("annotations/train-00000-of-00001.parquet", "clips/train-00000-of-00001.parquet"):
        assert files[path] == (export_dir / path).read_bytes()
    assert f'repo = "{repo_id}"\nrows = load_dataset(repo, "annotations"' in files["README.md"].decode()
    assert len(repo.history()) == 2  # the repo's initial commit, then one commit with everything
    assert repo.head().oid in result.commit_url


def test_publish_public_opts_out_of_private(fake_hub: FakeHub, hub_token: str, export_dir: Path) -> None:
    repo_id = unique_repo_id("public")
    assert publish(export_dir, repo_id, private=False, token=hub_token, configs=["annotations"]).private is False
    assert fake_hub.repos[repo_id].private is False


def test_republishing_a_config_replaces_its_shards_and_leaves_other_configs(
    fake_hub: FakeHub, hub_token: str, built: dict[str, CelebVHQ], tmp_path: Path
) -> None:
    folder = tmp_path / "out"
    export(built["annotations"], folder)
    export(built["clips"], folder, max_shard_size=4000)
    repo_id = unique_repo_id("republish")
    publish(folder, repo_id, token=hub_token)
    old_clip_shards = {path for path in fake_hub.repos[repo_id].files() if path.startswith("clips/")}
    assert len(old_clip_shards) > 1
    annotations_before = fake_hub.repos[repo_id].files()["annotations/train-00000-of-00001.parquet"]

    export(built["clips"], folder)
    publish(folder, repo_id, token=hub_token, configs=["clips"])
    files = fake_hub.repos[repo_id].files()
    assert {path for path in files if path.startswith("clips/")} == {"clips/train-00000-of-00001.parquet"}
    assert files["annotations/train-00000-of-00001.parquet"] == annotations_before
    loaded = datasets.load_dataset(repo_id, "clips", split="train", token=hub_token)
    assert loaded.num_rows == 6


def test_a_cards_configs_read_back_with_their_features_and_split_sizes(export_dir: Path) -> None:
    described = configs_in_card((export_dir / "README.md").read_text())
    exported = exported_configs(export_dir)
    assert list(described) == list(exported)
    for name, config in described.items():
        assert config.features == exported[name].features
        assert [(s.name, s.num_examples) for s in config.splits] == [
            (s.name, s.num_examples) for s in exported[name].splits
        ]
    # Entries that are not ours (no features, no splits) are left out rather than listed without data.
    assert configs_in_card("---\ndataset_info:\n- config_name: other\n---\nA card.\n") == {}


def card_configs(card: bytes) -> list[str]:
    return [entry["config_name"] for entry in DatasetCard(card.decode()).data.to_dict()["configs"]]


def test_publishing_from_another_export_folder_keeps_the_configs_already_on_the_hub(
    fake_hub: FakeHub, hub_token: str, built: dict[str, CelebVHQ], tmp_path: Path
) -> None:
    repo_id = unique_repo_id("two-folders")
    export(built["annotations"], tmp_path / "annotations_only")
    publish(tmp_path / "annotations_only", repo_id, token=hub_token)
    assert card_configs(fake_hub.repos[repo_id].files()["README.md"]) == ["annotations"]

    # A second machine exports only `clips` and publishes it: the card must still list `annotations`.
    export(built["clips"], tmp_path / "clips_only")
    publish(tmp_path / "clips_only", repo_id, token=hub_token)
    card = fake_hub.repos[repo_id].files()["README.md"]
    assert card_configs(card) == ["annotations", "clips"]
    assert "| `annotations` (default) | Every label of every clip, no video. | train 6 |" in card.decode()
    # What the card says each config holds survives: `annotations` was not sent again, its figures were kept.
    held = card.decode().split("## Availability")[1]
    assert "- `annotations`: 6 of the 6 clips the sources name (the release has 35,666)." in held
    assert "- `clips`: 6 of the 6 clips the sources name (the release has 35,666)." in held
    for config in ("annotations", "clips"):
        loaded = datasets.load_dataset(repo_id, config, split="train", token=hub_token)
        assert loaded.features == built[config].info.features
        assert loaded.num_rows == 6
    # The export folders' own cards describe the folders, not the repo.
    assert card_configs((tmp_path / "clips_only" / "README.md").read_bytes()) == ["clips"]


def test_a_repo_holding_both_datasets_gets_a_card_describing_both(
    fake_hub: FakeHub, hub_token: str, built: dict[str, CelebVHQ], tmp_path: Path
) -> None:
    repo_id = unique_repo_id("both-datasets")
    export(built["annotations"], tmp_path / "celebv_hq")
    publish(tmp_path / "celebv_hq", repo_id, token=hub_token)
    dialog = CelebADialog(
        config_name="hq_labels", data_dir=str(make_hq_download(tmp_path / "dialog")), cache_dir=str(tmp_path / "c")
    )
    dialog.download_and_prepare()
    export(dialog, tmp_path / "celeba_dialog")
    publish(tmp_path / "celeba_dialog", repo_id, token=hub_token)

    card = fake_hub.repos[repo_id].files()["README.md"].decode()
    assert card_configs(card.encode()) == ["annotations", "hq_labels"]
    assert datasets_in_card(card) == {"celebv_hq": ["annotations"], "celeba_dialog": ["hq_labels"]}
    for builder in (CelebADialog, CelebVHQ):  # each dataset's description, terms and citation
        assert builder.DESCRIPTION.split("\n")[0] in card
        assert " ".join(builder.LICENSE.split())[:60] in " ".join(card.split())
        assert builder.CITATION.strip().split("\n")[0] in card
    assert card.index("## CelebV-HQ") < card.index("## CelebA-Dialog")  # the registry's order, whoever came last
    # One default, in the YAML and in the text: the first dataset's.
    assert [entry.get("default") for entry in DatasetCard(card).data.to_dict()["configs"]] == [True, None]
    assert card.count("(default)") == 1 and "| `annotations` (default) |" in card
    # Configs kept on the Hub have no rows at hand: their label frequencies say so rather than vanish.
    assert_label_frequencies(card, counted="hq_labels", kept="annotations")
    assert datasets.load_dataset(repo_id, "annotations", split="train", token=hub_token).num_rows == 6
    assert datasets.load_dataset(repo_id, "hq_labels", split="train", token=hub_token).num_rows > 0

    # Publishing CelebV-HQ again keeps CelebA-Dialog described.
    publish(tmp_path / "celebv_hq", repo_id, token=hub_token)
    card = fake_hub.repos[repo_id].files()["README.md"].decode()
    assert datasets_in_card(card) == {"celebv_hq": ["annotations"], "celeba_dialog": ["hq_labels"]}
    assert CelebADialog.CITATION.strip().split("\n")[0] in card
    assert card.count("(default)") == 1 and "| `annotations` (default) |" in card
    assert_label_frequencies(card, counted="annotations", kept="hq_labels")


def assert_label_frequencies(card: str, counted: str, kept: str) -> None:
    """The card counts `counted`'s labels from its rows, and says `kept`'s were not counted again."""
    counted_section = card.split(f"### Label frequencies in `{counted}`")[1].split("\n##")[0]
    assert "exported rows (all splits)" in counted_section and "| label | count | share |" in counted_section
    kept_section = card.split(f"### Label frequencies in `{kept}`")[1].split("\n##")[0]
    assert f"`{kept}` was kept on the Hub as it was, without its rows at hand to count them" in kept_section
    assert f"Publish `{kept}` again to have its tables here." in kept_section


def test_a_config_of_another_dataset_is_never_replaced(
    fake_hub: FakeHub, hub_token: str, built: dict[str, CelebVHQ], tmp_path: Path
) -> None:
    repo_id = unique_repo_id("clash")
    export(built["annotations"], tmp_path / "celebv_hq")
    publish(tmp_path / "celebv_hq", repo_id, token=hub_token)
    # Someone's card says that `annotations` there is CelebA-Dialog's.
    card = DatasetCard(fake_hub.repos[repo_id].files()["README.md"].decode())
    card.data.celeb_datasets = {"celeba_dialog": ["annotations"]}
    api = huggingface_hub.HfApi(token=hub_token)
    api.upload_file(path_or_fileobj=str(card).encode(), path_in_repo="README.md", repo_id=repo_id, repo_type="dataset")
    with pytest.raises(CelebDatasetsError, match=r"holds the config 'annotations' of celeba_dialog"):
        publish(tmp_path / "celebv_hq", repo_id, token=hub_token)


def test_publishing_one_config_lists_only_what_the_repo_holds(
    fake_hub: FakeHub, hub_token: str, export_dir: Path
) -> None:
    repo_id = unique_repo_id("one-config")
    publish(export_dir, repo_id, token=hub_token, configs=["clips"])
    assert card_configs(fake_hub.repos[repo_id].files()["README.md"]) == ["clips"]
    assert datasets.load_dataset(repo_id, split="train", token=hub_token).num_rows == 6  # `clips` is the default


def test_publish_to_a_branch_and_as_a_pull_request_leaves_main_alone(
    fake_hub: FakeHub, hub_token: str, export_dir: Path
) -> None:
    repo_id = unique_repo_id("revisions")
    publish(export_dir, repo_id, token=hub_token, revision="v1", configs=["annotations"])
    repo = fake_hub.repos[repo_id]
    assert "annotations/train-00000-of-00001.parquet" in repo.files("v1")
    assert "README.md" not in repo.files("main")

    result = publish(export_dir, repo_id, token=hub_token, create_pr=True, configs=["annotations"])
    assert result.pull_request_url is not None
    assert "README.md" in repo.files("refs/pr/1")
    assert "README.md" not in repo.files("main")

    # Adding the other config to the open pull request commits to its ref, not to a new one.
    publish(export_dir, repo_id, token=hub_token, revision="refs/pr/1", configs=["clips"])
    assert "clips/train-00000-of-00001.parquet" in repo.files("refs/pr/1")
    assert list(repo.pull_requests) == [1]


def test_publish_of_a_config_never_exported_names_the_command_to_run(hub_token: str, export_dir: Path) -> None:
    with pytest.raises(CelebDatasetsError, match=r"no export of config\(s\) \['hq'\].*celeb-datasets export celebv_hq"):
        publish(export_dir, unique_repo_id("x"), token=hub_token, configs=["hq"])


def test_publish_of_a_folder_that_is_no_export_is_a_clear_error(hub_token: str, tmp_path: Path) -> None:
    with pytest.raises(CelebDatasetsError, match="is not an export folder"):
        publish(tmp_path, unique_repo_id("x"), token=hub_token)


@pytest.mark.parametrize("repo_id", ["no slash", "org/bad name", "org/-dash", "a/b/c", "justname"])
def test_publish_to_an_invalid_repo_id_is_a_clear_error(
    fake_hub: FakeHub, hub_token: str, export_dir: Path, repo_id: str
) -> None:
    requests_before = len(fake_hub.requests)
    with pytest.raises(CelebDatasetsError, match="repo id"):
        publish(export_dir, repo_id, token=hub_token)
    assert len(fake_hub.requests) == requests_before


def test_publish_without_a_token_says_where_a_token_comes_from(
    fake_hub: FakeHub, export_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    repo_id = unique_repo_id("tokenless")
    with pytest.raises(CelebDatasetsError, match=r"no Hugging Face token: set HF_TOKEN or run `hf auth login`"):
        publish(export_dir, repo_id)
    assert repo_id not in fake_hub.repos


def test_publish_takes_the_token_from_hf_token(
    fake_hub: FakeHub, hub_token: str, export_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", hub_token)
    repo_id = unique_repo_id("envtoken")
    publish(export_dir, repo_id, configs=["annotations"])
    assert "README.md" in fake_hub.repos[repo_id].files()


def test_server_error_mid_upload_fails_clearly_commits_nothing_and_a_rerun_finishes(
    fake_hub: FakeHub, hub_token: str, export_dir: Path, no_retry_sleep: None
) -> None:
    repo_id = unique_repo_id("interrupted")
    fake_hub.fail_next("/lfs-upload/", status=500, times=100, method="PUT")
    with pytest.raises(
        CelebDatasetsError, match=r"failed, nothing was committed.*Run the same command again"
    ) as raised:
        publish(export_dir, repo_id, token=hub_token)
    assert hub_token not in str(raised.value)
    repo = fake_hub.repos[repo_id]
    assert [commit.summary for commit in repo.history()] == ["initial commit"]

    fake_hub.clear_faults()
    publish(export_dir, repo_id, token=hub_token)
    assert "clips/train-00000-of-00001.parquet" in repo.files()


def test_refused_commit_is_reported_as_failure_not_success(
    fake_hub: FakeHub, hub_token: str, export_dir: Path, no_retry_sleep: None
) -> None:
    repo_id = unique_repo_id("refused")
    fake_hub.fail_next("/commit/", status=500, times=100, method="POST")
    with pytest.raises(CelebDatasetsError, match="nothing was committed"):
        publish(export_dir, repo_id, token=hub_token)
    assert "README.md" not in fake_hub.repos[repo_id].files()


# ---------------------------------------------------------------------------------------------------
# dataset_infos.json


def test_committed_dataset_infos_json_matches_the_builders() -> None:
    committed = (REPO_ROOT / "dataset_infos.json").read_text(encoding="utf-8")
    assert committed == dataset_infos_text(), "dataset_infos.json is stale: run `celeb-datasets dataset-infos`"


def test_dataset_infos_features_are_the_builders_own() -> None:
    infos = dataset_infos()
    celebv = infos["celebv_hq"]
    assert list(celebv) == ["annotations", "clips"]
    assert Features.from_dict(celebv["annotations"]["features"]) == celebv_hq_features(with_video=False)
    assert Features.from_dict(celebv["clips"]["features"]) == celebv_hq_features(with_video=True)
    assert celebv["annotations"]["default"] is True
    sizes = getattr(CelebVHQ, "SPLIT_SIZES", None)
    if sizes:
        assert celebv["annotations"]["splits"] == {"train": {"num_examples": 35_666}}
        assert celebv["clips"]["splits"] == {"train": {"num_examples": None}}
        assert "depends on the download" in celebv["clips"]["num_examples_note"]


# ---------------------------------------------------------------------------------------------------
# Integrity: an unreachable Hub, a killed export, empty splits, bad sizes


def test_an_unreachable_hub_is_one_hub_error_naming_the_endpoint(
    export_dir: Path, hub_token: str, monkeypatch: pytest.MonkeyPatch, no_retry_sleep: None
) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{closed.getsockname()[1]}"
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", endpoint)
    with pytest.raises(HubError, match=rf"the Hub at {endpoint} could not be reached \(ConnectError") as raised:
        publish(export_dir, unique_repo_id("unreachable"), token=hub_token)
    assert hub_token not in str(raised.value)


def test_a_hub_that_never_answers_is_a_hub_error_within_the_timeout(
    export_dir: Path, hub_token: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", endpoint)
        started = time.monotonic()
        with pytest.raises(HubError, match=rf"the Hub at {endpoint} did not answer in time"):
            publish(export_dir, unique_repo_id("silent"), token=hub_token, timeout_sec=1.0)
        assert time.monotonic() - started < 10
        started = time.monotonic()
        arguments = ["publish", str(export_dir), "--repo", unique_repo_id("silent"), "--timeout-sec", "1"]
        monkeypatch.setenv("HF_TOKEN", hub_token)
        assert main([*arguments, "--quiet"]) == 2
        assert time.monotonic() - started < 10
    error = capsys.readouterr().err
    assert error.startswith("error: publishing") and "did not answer in time" in error and error.count("\n") == 1


def test_a_hub_that_never_answers_ends_publish_within_the_timeout_with_telemetry_on(
    export_dir: Path, hub_token: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With telemetry on (the tests turn it off), huggingface_hub first looks up AI agent harnesses at
    # {endpoint}/api/agent-harnesses, with a 3 s timeout of its own: publish turns that lookup off.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_TELEMETRY", False)
    monkeypatch.setattr(huggingface_hub.constants, "AGENT_HARNESSES_PATH", str(tmp_path / "agent_harnesses.json"))
    monkeypatch.setattr(huggingface_hub.utils._detect_agent, "_registry", None)  # not looked up in this process yet
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", f"http://127.0.0.1:{silent.getsockname()[1]}")
        started = time.monotonic()
        with pytest.raises(HubError, match=r"did not answer in time"):
            publish(export_dir, unique_repo_id("silent"), token=hub_token, timeout_sec=0.5)
        assert time.monotonic() - started < 2.5  # 3.5 s and more with the lookup's own timeout
    assert huggingface_hub.constants.HF_HUB_DISABLE_TELEMETRY is False  # the user's setting, back after publish


def test_publish_quiet_shows_no_warning_of_the_hub_and_without_quiet_a_warning_shows_once(
    fake_hub: FakeHub, hub_token: str, export_dir: Path
) -> None:
    command = ["publish", str(export_dir), "--repo", unique_repo_id("quiet"), "--config", "annotations"]
    token = {"HF_TOKEN": hub_token}
    assert run_command(command, environment=token).returncode == 0
    again = run_command(command, environment=token)  # nothing changed: the Hub warns that it skips the commit
    assert again.returncode == 0
    assert again.stderr == "No files have been modified since last commit. Skipping to prevent empty commit.\n"
    quiet = run_command([*command, "--quiet"], environment=token)
    assert (quiet.returncode, quiet.stderr) == (0, "")
    assert quiet.stdout.startswith("published annotations to ")


@pytest.mark.parametrize("timeout", ["inf", "nan", "0", "-1"])
def test_a_timeout_that_is_not_a_finite_positive_number_is_one_error_line(
    export_dir: Path, hub_token: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], timeout: str
) -> None:
    monkeypatch.setenv("HF_TOKEN", hub_token)
    assert main(["publish", str(export_dir), "--repo", unique_repo_id("t"), "--timeout-sec", timeout]) == 2
    assert capsys.readouterr().err == (
        f"error: timeout_sec (--timeout-sec) must be a finite positive number of seconds, not {float(timeout)!r}\n"
    )


def test_a_refused_token_is_a_hub_error_with_a_hint(fake_hub: FakeHub, export_dir: Path) -> None:
    with pytest.raises(HubError, match=r"Check the token \(HF_TOKEN or `hf auth login`\)"):
        publish(export_dir, unique_repo_id("badtoken"), token="hf_not_a_real_token")


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_an_export_removes_the_staging_folders_of_killed_exports_only(
    built: dict[str, CelebVHQ], tmp_path: Path
) -> None:
    folder = tmp_path / "export"
    export(built["annotations"], folder)
    host = socket.gethostname()
    killed = folder / f".clips.staging.{host}.{dead_pid()}.abc123"
    running = folder / f".clips.staging.{host}.{os.getpid()}.def456"
    elsewhere = folder / f".clips.staging.other-host.{dead_pid()}.ghi789"
    for staging in (killed, running, elsewhere):
        staging.mkdir()
        (staging / "train-00000-of-00001.parquet").write_bytes(b"half written")
    export(built["annotations"], folder)
    assert not killed.exists() and running.exists() and elsewhere.exists()
    assert list(exported_configs(folder)) == ["annotations"]


def test_a_split_left_empty_is_left_out_of_the_export_which_loads(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # datasets 5 cannot load a split with no rows: listing it would make load_dataset fail for every split.
    download = make_hq_download(tmp_path / "download", drop_images=(4, 7))  # the validation images
    builder = CelebADialog(config_name="hq", data_dir=str(download), cache_dir=str(tmp_path / "cache"))
    builder.download_and_prepare()
    exported = export(builder, tmp_path / "export")
    assert {split.name: split.num_examples for split in exported.splits} == {"train": 5, "test": 2}
    assert "split(s) validation have no rows (a partial download?) and are left out" in caplog.text
    loaded = datasets.load_dataset(str(tmp_path / "export"), "hq")
    assert {name: split.num_rows for name, split in loaded.items()} == {"train": 5, "test": 2}


@pytest.mark.parametrize("size", ["abc", "0", "-1MB"])
def test_a_bad_shard_size_is_an_option_error(built: dict[str, CelebVHQ], tmp_path: Path, size: str) -> None:
    with pytest.raises(OptionError, match="max_shard_size: expected a size such as 500MB, 2GB or a number of bytes"):
        export(built["annotations"], tmp_path / "export", max_shard_size=size)
    assert not (tmp_path / "export").exists()
