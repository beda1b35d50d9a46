"""The loopback fake Hub answers real huggingface_hub and datasets calls the way the Hub does."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import datasets
import huggingface_hub
import pytest
from datasets import ClassLabel, Dataset, Features, Image, List, Value
from hub_server import FakeHub
from huggingface_hub import CommitOperationAdd, HfApi, HfFileSystem
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from PIL import Image as PILImage

# The Hub's parquet-export service does not exist on the loopback server.
datasets.config.USE_PARQUET_EXPORT = False

CONFIG = "x"
SHARD = f"{CONFIG}/train-00000-of-00001.parquet"


def _unique_repo_id(stem: str) -> str:
    return f"test-org/{stem}-{uuid.uuid4().hex[:8]}"


def _png(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (2, 2), color).save(buffer, format="PNG")
    return buffer.getvalue()


FEATURES = Features(
    {
        "label": ClassLabel(names=["neg", "pos"]),
        "meta": {"name": Value("string"), "score": Value("float32")},
        "turns": List({"speaker": Value("string"), "text": Value("string")}),
        "image": Image(),
    }
)
ROWS = {
    "label": [0, 1, 1],
    "meta": [{"name": "a", "score": 0.5}, {"name": "b", "score": 1.5}, {"name": "c", "score": -2.0}],
    "turns": [
        [{"speaker": "q", "text": "hi"}, {"speaker": "a", "text": "hello"}],
        [],
        [{"speaker": "q", "text": "bye"}],
    ],
    "image": [{"bytes": _png((255, 0, 0)), "path": None}, {"bytes": _png((0, 255, 0)), "path": None}, None],
}


def _comparable(dataset: datasets.Dataset | datasets.IterableDataset) -> list[dict]:
    """Rows with images as raw bytes, so pushed and loaded datasets compare exactly."""
    rows = []
    for row in dataset.cast_column("image", Image(decode=False)):
        image = row["image"]
        rows.append({**row, "image": None if image is None else image["bytes"]})
    return rows


@pytest.fixture(autouse=True)
def _fake_hub_stays_healthy(hub_server: FakeHub) -> Iterator[None]:
    """Fail the test if the fake Hub itself crashed while serving it (it answers 500 then)."""
    yield
    assert hub_server.internal_errors == []


@pytest.fixture(scope="module")
def pushed_repo(hub_server: FakeHub) -> str:
    """A private dataset repo that `push_to_hub` created and filled with config "x" (the slow part)."""
    repo_id = _unique_repo_id("pushed")
    dataset = Dataset.from_dict(ROWS, features=FEATURES)
    dataset.push_to_hub(repo_id, config_name=CONFIG, private=True, token=hub_server.token)
    return repo_id


@pytest.fixture
def dataset_repo(hub_server: FakeHub, hub_token: str) -> str:
    """A fresh private dataset repo, created through the API."""
    repo_id = _unique_repo_id("repo")
    HfApi(token=hub_token).create_repo(repo_id, repo_type="dataset", private=True)
    return repo_id


def test_create_repo_records_privacy_and_conflicts_unless_exist_ok(hub_server: FakeHub, hub_token: str) -> None:
    api = HfApi(token=hub_token)
    repo_id = _unique_repo_id("create")
    url = api.create_repo(repo_id, repo_type="dataset", private=True)
    assert url.repo_id == repo_id
    assert url.repo_type == "dataset"
    repo = hub_server.repos[repo_id]
    assert repo.private
    assert list(repo.files()) == [".gitattributes"]
    assert api.create_repo(repo_id, repo_type="dataset", private=True, exist_ok=True).repo_id == repo_id
    with pytest.raises(HfHubHTTPError) as raised:
        api.create_repo(repo_id, repo_type="dataset", private=True)
    assert raised.value.response.status_code == 409
    assert api.dataset_info(repo_id).private is True


def test_push_to_hub_writes_private_repo_with_parquet_shard_and_card(hub_server: FakeHub, pushed_repo: str) -> None:
    repo = hub_server.repos[pushed_repo]
    assert repo.private
    files = repo.files()
    assert {SHARD, "README.md"} <= set(files)
    assert files[SHARD].startswith(b"PAR1")
    assert repo.lfs_files() == {SHARD}
    card = files["README.md"].decode()
    assert f"config_name: {CONFIG}" in card
    assert f"path: {CONFIG}/train-*" in card
    assert not hub_server.internal_errors


def test_load_dataset_returns_pushed_rows_and_features(pushed_repo: str, hub_token: str) -> None:
    loaded = datasets.load_dataset(pushed_repo, CONFIG, split="train", token=hub_token)
    assert loaded.features == FEATURES
    assert _comparable(loaded) == _comparable(Dataset.from_dict(ROWS, features=FEATURES))


def test_streaming_load_dataset_returns_pushed_rows_and_features(pushed_repo: str, hub_token: str) -> None:
    streamed = datasets.load_dataset(pushed_repo, CONFIG, split="train", token=hub_token, streaming=True)
    assert streamed.features == FEATURES
    assert _comparable(streamed) == _comparable(Dataset.from_dict(ROWS, features=FEATURES))


def test_private_repo_reads_without_token_answer_401_repo_not_found(dataset_repo: str, hub_token: str) -> None:
    # A repo nobody has read yet: a warm download cache would let the libraries answer from disk.
    HfApi(token=hub_token).upload_file(
        path_or_fileobj=b"a\n1\n", path_in_repo="data.csv", repo_id=dataset_repo, repo_type="dataset"
    )
    anonymous = HfApi(token=False)
    with pytest.raises(RepositoryNotFoundError) as raised:
        anonymous.dataset_info(dataset_repo)
    assert raised.value.response.status_code == 401
    assert raised.value.response.headers["X-Error-Code"] == "RepoNotFound"
    with pytest.raises(RepositoryNotFoundError):
        anonymous.hf_hub_download(dataset_repo, "data.csv", repo_type="dataset")
    with pytest.raises(datasets.exceptions.DatasetNotFoundError):
        datasets.load_dataset(dataset_repo, split="train", token=False)
    assert datasets.load_dataset(dataset_repo, split="train", token=hub_token)["a"] == [1]


def test_missing_repo_answers_404_repo_not_found_to_authenticated_callers(hub_token: str) -> None:
    with pytest.raises(RepositoryNotFoundError) as raised:
        HfApi(token=hub_token).dataset_info(_unique_repo_id("missing"))
    assert raised.value.response.status_code == 404


def test_writes_without_token_answer_401_with_json_error(
    hub_server: FakeHub, dataset_repo: str, tmp_path: Path
) -> None:
    request = urllib.request.Request(
        f"{hub_server.endpoint}/api/repos/create",
        data=json.dumps({"name": "nope", "organization": "test-org", "type": "dataset"}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request)
    assert raised.value.code == 401
    assert "error" in json.loads(raised.value.read())
    assert "test-org/nope" not in hub_server.repos

    before = dict(hub_server.repos[dataset_repo].commits)
    with pytest.raises(HfHubHTTPError) as raised_api:
        HfApi(token=False).upload_file(
            path_or_fileobj=b"data", path_in_repo="a.txt", repo_id=dataset_repo, repo_type="dataset"
        )
    assert raised_api.value.response.status_code == 401
    assert hub_server.repos[dataset_repo].commits == before


def test_wrong_token_is_rejected_even_for_reads(dataset_repo: str) -> None:
    with pytest.raises(HfHubHTTPError) as raised:
        HfApi(token="hf_wrong").dataset_info(dataset_repo)
    assert raised.value.response.status_code == 401


def test_api_reads_list_download_and_report_missing_files(
    hub_server: FakeHub, pushed_repo: str, hub_token: str, tmp_path: Path
) -> None:
    api = HfApi(token=hub_token)
    assert set(api.list_repo_files(pushed_repo, repo_type="dataset")) == {
        ".gitattributes",
        "README.md",
        SHARD,
    }
    assert api.file_exists(pushed_repo, SHARD, repo_type="dataset")
    assert not api.file_exists(pushed_repo, "nope.txt", repo_type="dataset")
    shard_path = api.hf_hub_download(pushed_repo, SHARD, repo_type="dataset", local_dir=tmp_path)
    assert Path(shard_path).read_bytes() == hub_server.repos[pushed_repo].files()[SHARD]
    name = pushed_repo.split("/")[1]
    with pytest.raises(EntryNotFoundError):
        api.hf_hub_download(pushed_repo, f"{name}.py", repo_type="dataset")
    with pytest.raises(RevisionNotFoundError):
        api.list_repo_files(pushed_repo, repo_type="dataset", revision="no-such-branch")

    info = api.dataset_info(pushed_repo, files_metadata=True)
    assert info.sha == hub_server.repos[pushed_repo].refs["main"]
    shard_sibling = next(s for s in info.siblings if s.rfilename == SHARD)
    assert shard_sibling.lfs is not None
    assert shard_sibling.lfs.size == len(hub_server.repos[pushed_repo].files()[SHARD])


def test_hf_file_system_lists_trees_and_reads_byte_ranges(
    hub_server: FakeHub, pushed_repo: str, hub_token: str
) -> None:
    fs = HfFileSystem(token=hub_token, skip_instance_cache=True)
    root = f"datasets/{pushed_repo}"
    assert set(fs.ls(root, detail=False)) == {
        f"{root}/{CONFIG}",
        f"{root}/.gitattributes",
        f"{root}/README.md",
    }
    assert fs.find(root) == sorted(f"{root}/{p}" for p in (".gitattributes", "README.md", SHARD))
    info = fs.info(f"{root}/{SHARD}")
    content = hub_server.repos[pushed_repo].files()[SHARD]
    assert info["size"] == len(content)
    assert info["lfs"] is not None
    with fs.open(f"{root}/{SHARD}", block_size=16) as handle:
        handle.seek(4)
        assert handle.read(8) == content[4:12]
    assert any(r.status == 206 and "/resolve/" in r.path for r in hub_server.requests)
    detailed = fs.ls(f"{root}/{CONFIG}", detail=True, expand_info=True)
    assert detailed[0]["last_commit"].oid == hub_server.repos[pushed_repo].refs["main"]


def test_upload_folder_with_delete_patterns_replaces_matching_files(
    hub_server: FakeHub, dataset_repo: str, hub_token: str, tmp_path: Path
) -> None:
    api = HfApi(token=hub_token)
    first = tmp_path / "first"
    (first / "a").mkdir(parents=True)
    (first / "a" / "1.txt").write_text("one")
    (first / "a" / "2.txt").write_text("two")
    (first / "b.txt").write_text("bee")
    api.upload_folder(folder_path=first, repo_id=dataset_repo, repo_type="dataset")

    second = tmp_path / "second"
    (second / "a").mkdir(parents=True)
    (second / "a" / "3.txt").write_text("three")
    info = api.upload_folder(
        folder_path=second,
        repo_id=dataset_repo,
        repo_type="dataset",
        delete_patterns="a/*",
        commit_message="swap",
    )
    repo = hub_server.repos[dataset_repo]
    assert repo.files() == {
        ".gitattributes": repo.files()[".gitattributes"],
        "a/3.txt": b"three",
        "b.txt": b"bee",
    }
    assert repo.head().oid == info.oid
    assert repo.head().summary == "swap"
    assert len(repo.history()) == 3


def test_deleted_folder_operation_removes_everything_below_it(
    hub_server: FakeHub, dataset_repo: str, hub_token: str
) -> None:
    api = HfApi(token=hub_token)
    api.create_commit(
        dataset_repo,
        [
            CommitOperationAdd("d/e/1.txt", b"1"),
            CommitOperationAdd("d/2.txt", b"2"),
            CommitOperationAdd("k", b"k"),
        ],
        commit_message="add",
        repo_type="dataset",
    )
    api.delete_folder("d", repo_id=dataset_repo, repo_type="dataset")
    assert set(hub_server.repos[dataset_repo].files()) == {".gitattributes", "k"}
    with pytest.raises(EntryNotFoundError):
        api.delete_file("missing.txt", repo_id=dataset_repo, repo_type="dataset")


def test_create_pr_opens_pr_ref_and_leaves_main_untouched(
    hub_server: FakeHub, dataset_repo: str, hub_token: str
) -> None:
    api = HfApi(token=hub_token)
    main_before = hub_server.repos[dataset_repo].refs["main"]
    info = api.create_commit(
        dataset_repo,
        [CommitOperationAdd("proposal.txt", b"please merge")],
        commit_message="Proposal",
        repo_type="dataset",
        create_pr=True,
    )
    assert info.pr_num == 1
    assert info.pr_revision == "refs/pr/1"
    repo = hub_server.repos[dataset_repo]
    assert repo.refs["main"] == main_before
    assert repo.pull_requests == {1: info.oid}
    assert repo.files("refs/pr/1")["proposal.txt"] == b"please merge"
    assert not api.file_exists(dataset_repo, "proposal.txt", repo_type="dataset")
    assert api.file_exists(dataset_repo, "proposal.txt", repo_type="dataset", revision="refs/pr/1")
    fs = HfFileSystem(token=hub_token, skip_instance_cache=True)
    assert fs.cat(f"datasets/{dataset_repo}@refs/pr/1/proposal.txt") == b"please merge"
    second = api.upload_file(
        path_or_fileobj=b"again",
        path_in_repo="p2.txt",
        repo_id=dataset_repo,
        repo_type="dataset",
        create_pr=True,
    )
    assert second.pr_num == 2


def test_commits_go_to_the_named_branch_and_stale_parent_commit_is_refused(
    hub_server: FakeHub, dataset_repo: str, hub_token: str
) -> None:
    api = HfApi(token=hub_token)
    initial = hub_server.repos[dataset_repo].refs["main"]
    api.create_branch(dataset_repo, branch="dev", repo_type="dataset")
    api.upload_file(
        path_or_fileobj=b"dev",
        path_in_repo="dev.txt",
        repo_id=dataset_repo,
        repo_type="dataset",
        revision="dev",
    )
    repo = hub_server.repos[dataset_repo]
    assert "dev.txt" in repo.files("dev")
    assert "dev.txt" not in repo.files("main")
    assert set(repo.branches) == {"main", "dev"}

    api.upload_file(path_or_fileobj=b"m", path_in_repo="m.txt", repo_id=dataset_repo, repo_type="dataset")
    with pytest.raises(HfHubHTTPError) as raised:
        api.create_commit(
            dataset_repo,
            [CommitOperationAdd("late.txt", b"late")],
            commit_message="late",
            repo_type="dataset",
            parent_commit=initial,
        )
    assert raised.value.response.status_code == 412
    assert "late.txt" not in repo.files()


def test_regular_files_are_inline_and_parquet_files_go_through_lfs(
    hub_server: FakeHub, dataset_repo: str, hub_token: str
) -> None:
    api = HfApi(token=hub_token)
    api.create_commit(
        dataset_repo,
        [CommitOperationAdd("small.txt", b"tiny"), CommitOperationAdd("t.parquet", b"PAR1 not really")],
        commit_message="mixed",
        repo_type="dataset",
    )
    repo = hub_server.repos[dataset_repo]
    assert repo.lfs_files() == {"t.parquet"}
    assert repo.files()["t.parquet"] == b"PAR1 not really"
    puts = [r for r in hub_server.requests if r.method == "PUT" and r.path.startswith("/lfs-upload/")]
    assert puts and puts[-1].status == 200


@pytest.fixture
def no_retry_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """huggingface_hub backs off for up to 23 s while retrying 5xx answers; skip the waiting."""
    monkeypatch.setattr(huggingface_hub.utils._http.time, "sleep", lambda seconds: None)


def test_injected_500s_during_lfs_upload_make_upload_fail_and_commit_nothing(
    hub_server: FakeHub, dataset_repo: str, hub_token: str, no_retry_sleep: None
) -> None:
    before = dict(hub_server.repos[dataset_repo].commits)
    hub_server.fail_next("/lfs-upload/", status=500, times=100, method="PUT")
    try:
        with pytest.raises(RuntimeError, match=r"Error while uploading 'big\.parquet'"):
            HfApi(token=hub_token).upload_file(
                path_or_fileobj=b"PAR1" * 1000,
                path_in_repo="big.parquet",
                repo_id=dataset_repo,
                repo_type="dataset",
            )
    finally:
        hub_server.clear_faults()
    assert hub_server.repos[dataset_repo].commits == before
    failed_puts = [r for r in hub_server.requests if r.method == "PUT" and r.status == 500]
    assert len(failed_puts) >= 6


def test_single_injected_500_during_lfs_upload_is_retried_by_the_client(
    hub_server: FakeHub, dataset_repo: str, hub_token: str, no_retry_sleep: None
) -> None:
    hub_server.fail_next("/lfs-upload/", status=500, times=1)
    HfApi(token=hub_token).upload_file(
        path_or_fileobj=b"PAR1" * 10, path_in_repo="ok.parquet", repo_id=dataset_repo, repo_type="dataset"
    )
    assert hub_server.repos[dataset_repo].files()["ok.parquet"] == b"PAR1" * 10


def test_validate_yaml_accepts_any_card(hub_server: FakeHub) -> None:
    request = urllib.request.Request(
        f"{hub_server.endpoint}/api/validate-yaml",
        data=json.dumps({"content": "---\nfoo: 1\n---\n", "repoType": "dataset"}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        assert json.loads(response.read()) == {"errors": [], "warnings": []}
