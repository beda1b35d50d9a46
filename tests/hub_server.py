"""A loopback fake of the Hugging Face Hub, for tests that publish and read datasets without internet.

`FakeHub` is a real HTTP server (standard library only) that speaks the parts of the Hub protocol used
by `huggingface_hub.HfApi`, `HfFileSystem`, `hf_hub_download`, `datasets.Dataset.push_to_hub` and
`datasets.load_dataset` (streaming or not), with plain Git LFS uploads (set `HF_HUB_DISABLE_XET=1`).

Point the libraries at it by setting `HF_ENDPOINT=http://127.0.0.1:<port>` before they are imported
(tests/conftest.py does this), then use the `hub_server` and `hub_token` fixtures::

    def test_push(hub_server, hub_token):
        HfApi(token=hub_token).create_repo("org/name", repo_type="dataset", private=True)
        assert hub_server.repos["org/name"].private

What tests can inspect and control:

- `hub.repos["org/name"]` is a `FakeRepo`: `.private`, `.refs` (branch or `refs/pr/N` -> commit id),
  `.commits` (commit id -> `Commit`, oldest first), `.files(revision="main")` (path -> bytes),
  `.lfs_files(revision)`, `.history(revision)`.
- `hub.requests` lists every answered request as `LoggedRequest(method, path, status, sent)`; `path`
  is the URL path as sent (still percent-encoded), without the query string; `sent` is the bytes of
  the response body.
- `hub.fail_next(path_substring, status=500, times=1, method=None)` makes the next matching requests
  fail. LFS upload hrefs handed out by the batch API are `/lfs-upload/<ticket>`.
- `hub.internal_errors` collects tracebacks of server bugs (answered as 500), so a test can assert
  the fake itself did not break.

Behaviour copied from the Hub: a new repo gets an initial commit holding `.gitattributes`; writes
need `Authorization: Bearer <token>` (401 otherwise); private or missing repos answer 401 to
anonymous callers and 404 to authenticated ones, both with `X-Error-Code: RepoNotFound`; a commit
whose `parentCommit` is not the branch head answers 412; files of `lfs_threshold` bytes or more, and
`*.parquet` files, are LFS files. Repos are keyed by id alone: a model and a dataset cannot share one.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import itertools
import json
import os
import re
import secrets
import threading
import traceback
from collections.abc import Iterator, Mapping
from http.client import HTTPMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

TEST_TOKEN = "hf_test_token"
"""The token the `hub_server` fixture accepts for writes and private reads."""

DEFAULT_LFS_THRESHOLD = 10 * 1024 * 1024
DEFAULT_LFS_SUFFIXES = (".parquet",)
DEFAULT_BRANCH = "main"
TEST_USER = "test-user"

_INITIAL_GITATTRIBUTES = (
    b"*.parquet filter=lfs diff=lfs merge=lfs -text\n"
    b"*.arrow filter=lfs diff=lfs merge=lfs -text\n"
    b"*.mp4 filter=lfs diff=lfs merge=lfs -text\n"
)
_REPO_TYPE_PREFIXES = {"datasets": "dataset", "spaces": "space", "models": "model"}
_SPECIAL_REF = re.compile(r"^refs/(pr/\d+|convert/\w+)$")
_COMMIT_OID = re.compile(r"^[0-9a-f]{40}$")


class LoggedRequest(NamedTuple):
    """One answered request: HTTP method, percent-encoded URL path without query, response status, and
    the bytes of the response body sent."""

    method: str
    path: str
    status: int
    sent: int = 0


@dataclasses.dataclass(frozen=True)
class Commit:
    """A commit as a full snapshot of the repo: `files` maps every path to its bytes."""

    oid: str
    summary: str
    description: str
    parents: tuple[str, ...]
    files: Mapping[str, bytes]
    lfs_paths: frozenset[str]
    date: dt.datetime


@dataclasses.dataclass
class FakeRepo:
    """One repo held in memory. Read it freely in tests; change it only through HTTP calls."""

    repo_id: str
    repo_type: str
    private: bool
    refs: dict[str, str] = dataclasses.field(default_factory=dict)
    commits: dict[str, Commit] = dataclasses.field(default_factory=dict)
    lfs_objects: dict[str, bytes] = dataclasses.field(default_factory=dict)
    created_at: dt.datetime = dataclasses.field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    next_pr_num: int = 1

    def resolve(self, revision: str = DEFAULT_BRANCH) -> Commit | None:
        """The commit a branch, `refs/pr/N` or full commit id points to, or None."""
        oid = self.refs.get(revision)
        if oid is None and _COMMIT_OID.match(revision):
            oid = revision
        return self.commits.get(oid) if oid is not None else None

    def head(self, revision: str = DEFAULT_BRANCH) -> Commit:
        """Like `resolve` but raises KeyError for an unknown revision."""
        commit = self.resolve(revision)
        if commit is None:
            raise KeyError(f"{self.repo_id} has no revision {revision!r}")
        return commit

    def files(self, revision: str = DEFAULT_BRANCH) -> dict[str, bytes]:
        """Every file at `revision`, path -> content."""
        return dict(self.head(revision).files)

    def lfs_files(self, revision: str = DEFAULT_BRANCH) -> set[str]:
        """Paths stored through Git LFS at `revision`."""
        return set(self.head(revision).lfs_paths)

    def history(self, revision: str = DEFAULT_BRANCH) -> list[Commit]:
        """Commits reachable from `revision` along first parents, newest first."""
        out: list[Commit] = []
        commit: Commit | None = self.head(revision)
        while commit is not None:
            out.append(commit)
            commit = self.commits.get(commit.parents[0]) if commit.parents else None
        return out

    @property
    def pull_requests(self) -> dict[int, str]:
        """Open pull requests, number -> head commit id."""
        return {int(ref.rsplit("/", 1)[1]): oid for ref, oid in self.refs.items() if ref.startswith("refs/pr/")}

    @property
    def branches(self) -> dict[str, str]:
        """Branches, name -> head commit id."""
        return {ref: oid for ref, oid in self.refs.items() if not ref.startswith("refs/")}


class HubError(Exception):
    """An error answer: HTTP status, message, and the `X-Error-Code` the client library dispatches on."""

    def __init__(
        self,
        status: int,
        message: str,
        error_code: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code
        self.headers = headers or {}
        # More fields for the JSON body, next to "error".
        self.extra = extra or {}


@dataclasses.dataclass
class _Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    # HEAD answers carry the Content-Length of the body they do not send.
    head_length: int | None = None


@dataclasses.dataclass
class _Fault:
    path_substring: str
    status: int
    remaining: int
    method: str | None


@dataclasses.dataclass
class _Request:
    method: str
    raw_path: str
    query: dict[str, list[str]]
    headers: HTTPMessage
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError as err:
            raise HubError(400, f"Invalid JSON body: {err}") from err

    def flag(self, name: str) -> bool:
        return self.query.get(name, [""])[0].lower() in ("1", "true")


def _json_response(payload: Any, status: int = 200) -> _Response:
    return _Response(status, json.dumps(payload).encode(), {"Content-Type": "application/json"})


def _git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _lfs_pointer(data: bytes) -> bytes:
    sha = hashlib.sha256(data).hexdigest()
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {len(data)}\n".encode()


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _split_revision(segments: list[str]) -> tuple[str, str]:
    """Split raw URL segments into (revision, path). The revision is one percent-encoded segment, or
    an unencoded `refs/pr/N` / `refs/convert/x` as HfFileSystem sends them."""
    if not segments or not segments[0]:
        raise HubError(400, "Missing revision")
    if segments[0] == "refs" and len(segments) >= 3 and _SPECIAL_REF.match("/".join(segments[:3])):
        revision, rest = "/".join(segments[:3]), segments[3:]
    else:
        revision, rest = unquote(segments[0]), segments[1:]
    return revision, unquote("/".join(rest)).strip("/")


class FakeHub:
    """An in-memory Hugging Face Hub served over HTTP on the loopback interface.

    Use `start()`/`stop()` or a `with` block. `endpoint` is the URL to give as `HF_ENDPOINT`.
    `lfs_threshold` and `lfs_suffixes` decide which files the preupload endpoint sends through LFS;
    change them before an upload to force LFS for small files.
    """

    def __init__(self, port: int = 0, token: str = TEST_TOKEN, host: str = "127.0.0.1") -> None:
        self.token = token
        self.host = host
        self.port = port
        self.lfs_threshold = DEFAULT_LFS_THRESHOLD
        self.lfs_suffixes: tuple[str, ...] = DEFAULT_LFS_SUFFIXES
        self.repos: dict[str, FakeRepo] = {}
        self.requests: list[LoggedRequest] = []
        self.internal_errors: list[str] = []
        self._faults: list[_Fault] = []
        # Upload hrefs act like presigned storage URLs: the client PUTs to them without a token.
        self._upload_tickets: dict[str, tuple[str, str, int]] = {}
        self._commit_counter = itertools.count()
        # One lock for all state: handlers run on server threads, assertions on the test thread.
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----- lifecycle -----

    @property
    def endpoint(self) -> str:
        """Base URL of the server, e.g. `http://127.0.0.1:8123`."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakeHub:
        """Bind the port (0 picks a free one, see `port`) and serve in a daemon thread."""
        hub = self

        class Handler(_HubRequestHandler):
            server_hub = hub

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-hub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ----- test controls -----

    def fail_next(self, path_substring: str, status: int = 500, times: int = 1, method: str | None = None) -> None:
        """Answer the next `times` requests whose URL path contains `path_substring` (and whose method
        is `method`, if given) with `status` and a JSON error, instead of serving them.

        Useful substrings: `/lfs-upload/` (LFS content PUTs), `/info/lfs/objects/batch`,
        `/info/lfs/objects/verify`, `/preupload/`, `/commit/`, `/resolve/`, `/tree/`.
        huggingface_hub retries 429 and 5xx answers on LFS uploads, batch, verify and preupload calls
        (5 retries, sleeping 1+2+4+8+8 s), so one injected 500 there is absorbed: inject 6 or more to
        make the call fail, and patch `huggingface_hub.utils._http.time.sleep` to skip the waiting.
        The commit call itself is not retried. Failures left unused stay armed: `clear_faults()`.
        """
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times}")
        with self._lock:
            self._faults.append(_Fault(path_substring, status, times, method.upper() if method else None))

    def clear_faults(self) -> None:
        """Drop every pending injected failure."""
        with self._lock:
            self._faults.clear()

    def reset(self) -> None:
        """Forget every repo, logged request, pending failure and recorded internal error."""
        with self._lock:
            self.repos.clear()
            self.requests.clear()
            self.internal_errors.clear()
            self._faults.clear()
            self._upload_tickets.clear()

    # ----- request plumbing -----

    def _handle(self, request: _Request) -> _Response:
        try:
            with self._lock:
                fault = self._take_fault(request)
                if fault is not None:
                    raise HubError(fault.status, f"Injected failure ({fault.status}) for {request.raw_path}")
                self._check_token_is_valid_if_sent(request)
                return self._route(request)
        except HubError as err:
            payload = {"error": err.message, **err.extra}
            response = _json_response(payload, err.status)
            response.headers["X-Error-Message"] = err.message
            if err.error_code:
                response.headers["X-Error-Code"] = err.error_code
            response.headers.update(err.headers)
            return response
        except Exception:
            self.internal_errors.append(traceback.format_exc())
            return _json_response({"error": "Internal error in the fake Hub"}, 500)

    def _take_fault(self, request: _Request) -> _Fault | None:
        for fault in self._faults:
            if fault.path_substring in request.raw_path and fault.method in (None, request.method):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _is_authenticated(self, request: _Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.token}"

    def _check_token_is_valid_if_sent(self, request: _Request) -> None:
        # The Hub rejects a wrong token outright, even on public reads.
        sent = request.headers.get("Authorization")
        if sent is not None and sent.startswith("Bearer ") and sent != f"Bearer {self.token}":
            raise HubError(401, "Invalid credentials in Authorization header")

    def _require_write_access(self, request: _Request) -> None:
        if not self._is_authenticated(request):
            raise HubError(401, "Invalid username or password.")

    def _readable_repo(self, request: _Request, repo_type: str, repo_id: str) -> FakeRepo:
        repo = self.repos.get(repo_id)
        authenticated = self._is_authenticated(request)
        if repo is not None and repo.repo_type == repo_type and (not repo.private or authenticated):
            return repo
        # Like the Hub: anonymous callers cannot tell a private repo from a missing one.
        if authenticated:
            raise HubError(404, "Repository not found", "RepoNotFound")
        raise HubError(401, "Invalid username or password.", "RepoNotFound")

    def _writable_repo(self, request: _Request, repo_type: str, repo_id: str) -> FakeRepo:
        self._require_write_access(request)
        return self._readable_repo(request, repo_type, repo_id)

    @staticmethod
    def _commit_at(repo: FakeRepo, revision: str) -> Commit:
        commit = repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit

    def _url_prefix(self, repo: FakeRepo) -> str:
        prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        return f"{self.endpoint}/{prefix}{repo.repo_id}"

    def _route(self, request: _Request) -> _Response:
        segments = request.raw_path.strip("/").split("/")
        method = request.method
        if segments[0] == "api":
            return self._route_api(request, segments[1:])
        if segments[0] == "lfs-upload" and len(segments) == 2 and method == "PUT":
            return self._lfs_upload(request, segments[1])
        repo_type = "model"
        if segments[0] in ("datasets", "spaces"):
            repo_type = _REPO_TYPE_PREFIXES[segments[0]]
            segments = segments[1:]
        if len(segments) >= 3:
            namespace, name, action, rest = (
                unquote(segments[0]),
                unquote(segments[1]),
                segments[2],
                segments[3:],
            )
            if name.endswith(".git") and action == "info" and rest[:2] == ["lfs", "objects"]:
                repo_id = f"{namespace}/{name.removesuffix('.git')}"
                if rest[2:] == ["batch"] and method == "POST":
                    return self._lfs_batch(request, repo_type, repo_id)
                if rest[2:] == ["verify"] and method == "POST":
                    return self._lfs_verify(request, repo_type, repo_id)
            if action == "resolve" and method in ("GET", "HEAD"):
                revision, path = _split_revision(rest)
                return self._resolve(request, repo_type, f"{namespace}/{name}", revision, path)
        raise HubError(404, f"Not found: {method} {request.raw_path}")

    def _route_api(self, request: _Request, segments: list[str]) -> _Response:
        method = request.method
        if segments == ["validate-yaml"] and method == "POST":
            return _json_response({"errors": [], "warnings": []})
        if segments == ["repos", "create"] and method == "POST":
            return self._create_repo(request)
        if segments[:1] and segments[0] in _REPO_TYPE_PREFIXES and len(segments) >= 3:
            repo_type = _REPO_TYPE_PREFIXES[segments[0]]
            repo_id = f"{unquote(segments[1])}/{unquote(segments[2])}"
            action, rest = (segments[3], segments[4:]) if len(segments) > 3 else ("", [])
            return self._route_repo_api(request, repo_type, repo_id, action, rest)
        raise HubError(404, f"Not found: {method} {request.raw_path}")

    def _route_repo_api(
        self, request: _Request, repo_type: str, repo_id: str, action: str, rest: list[str]
    ) -> _Response:
        method = request.method
        if method == "GET" and action == "":
            return self._repo_info(request, repo_type, repo_id, DEFAULT_BRANCH)
        if method == "GET" and action == "revision":
            return self._repo_info(request, repo_type, repo_id, _split_revision(rest)[0])
        if method == "GET" and action == "tree":
            revision, path = _split_revision(rest)
            return self._tree(request, repo_type, repo_id, revision, path)
        if action == "branch" and rest and method == "POST":
            return self._branch(request, repo_type, repo_id, unquote("/".join(rest)))
        if method == "POST" and action == "preupload":
            return self._preupload(request, repo_type, repo_id, _split_revision(rest)[0])
        if method == "POST" and action == "commit":
            return self._commit(request, repo_type, repo_id, _split_revision(rest)[0])
        raise HubError(404, f"Not found: {method} {request.raw_path}")

    # ----- repos -----

    def _create_repo(self, request: _Request) -> _Response:
        self._require_write_access(request)
        payload = request.json() or {}
        name, organization = payload.get("name"), payload.get("organization")
        if not name:
            raise HubError(400, "Missing repo name")
        repo_id = f"{organization or TEST_USER}/{name}"
        repo_type = payload.get("type") or "model"
        if repo_id in self.repos:
            # create_repo(exist_ok=True) reads the repo url from this conflict answer.
            url = self._url_prefix(self.repos[repo_id])
            raise HubError(409, "You already created this repo", extra={"url": url})
        visibility = payload.get("visibility")
        private = visibility == "private" if visibility is not None else bool(payload.get("private", False))
        repo = FakeRepo(repo_id=repo_id, repo_type=repo_type, private=private)
        self._add_commit(
            repo,
            DEFAULT_BRANCH,
            summary="initial commit",
            description="",
            parents=(),
            files={".gitattributes": _INITIAL_GITATTRIBUTES},
            lfs_paths=frozenset(),
        )
        self.repos[repo_id] = repo
        return _json_response({"url": self._url_prefix(repo), "name": repo_id, "id": repo_id})

    def _repo_info(self, request: _Request, repo_type: str, repo_id: str, revision: str) -> _Response:
        repo = self._readable_repo(request, repo_type, repo_id)
        commit = self._commit_at(repo, revision)
        with_blobs = request.flag("blobs")
        siblings = []
        for path in sorted(commit.files):
            sibling: dict[str, Any] = {"rfilename": path}
            if with_blobs:
                sibling.update(self._file_entry(commit, path))
                sibling["blobId"] = sibling.pop("oid")
                if "lfs" in sibling:
                    lfs = sibling["lfs"]
                    sibling["lfs"] = {
                        "sha256": lfs["oid"],
                        "size": lfs["size"],
                        "pointerSize": lfs["pointerSize"],
                    }
            siblings.append(sibling)
        info = {
            "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24],
            "id": repo_id,
            "author": repo_id.split("/")[0],
            "sha": commit.oid,
            "createdAt": _iso(repo.created_at),
            "lastModified": _iso(commit.date),
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
            "usedStorage": sum(len(data) for data in commit.files.values()),
        }
        if repo_type == "model":
            info["modelId"] = repo_id
        return _json_response(info)

    # ----- reading files -----

    def _file_entry(self, commit: Commit, path: str, expand: bool = False, repo: FakeRepo | None = None) -> dict:
        data = commit.files[path]
        entry: dict[str, Any] = {"type": "file", "path": path, "size": len(data)}
        if path in commit.lfs_paths:
            pointer = _lfs_pointer(data)
            entry["oid"] = _git_blob_oid(pointer)
            entry["lfs"] = {
                "oid": hashlib.sha256(data).hexdigest(),
                "size": len(data),
                "pointerSize": len(pointer),
            }
        else:
            entry["oid"] = _git_blob_oid(data)
        if expand and repo is not None:
            entry["lastCommit"] = self._last_commit(repo, commit, path)
            entry["securityFileStatus"] = {
                "status": "safe",
                "avScan": {"virusFound": False},
                "pickleImportScan": None,
            }
        return entry

    def _folder_entry(self, commit: Commit, path: str, expand: bool = False, repo: FakeRepo | None = None) -> dict:
        inside = sorted(p for p in commit.files if p.startswith(path + "/"))
        digest = hashlib.sha1("\n".join(f"{p}:{_git_blob_oid(commit.files[p])}" for p in inside).encode())
        entry: dict[str, Any] = {"type": "directory", "path": path, "oid": digest.hexdigest()}
        if expand and repo is not None:
            entry["lastCommit"] = self._last_commit(repo, commit, path)
        return entry

    @staticmethod
    def _last_commit(repo: FakeRepo, commit: Commit, path: str) -> dict:
        def view(snapshot: Commit | None) -> dict[str, bytes]:
            if snapshot is None:
                return {}
            return {p: d for p, d in snapshot.files.items() if p == path or p.startswith(path + "/")}

        newest = commit
        history = repo.history(commit.oid)
        for current, older in itertools.zip_longest(history, history[1:]):
            if view(current) != view(older):
                newest = current
                break
        return {"id": newest.oid, "title": newest.summary, "date": _iso(newest.date)}

    @staticmethod
    def _folders(commit: Commit) -> set[str]:
        folders: set[str] = set()
        for path in commit.files:
            parts = path.split("/")[:-1]
            folders.update("/".join(parts[: i + 1]) for i in range(len(parts)))
        return folders

    def _tree(self, request: _Request, repo_type: str, repo_id: str, revision: str, path: str) -> _Response:
        repo = self._readable_repo(request, repo_type, repo_id)
        commit = self._commit_at(repo, revision)
        recursive, expand = request.flag("recursive"), request.flag("expand")
        folders = self._folders(commit)
        if path and path not in folders:
            raise HubError(404, f"Path {path} does not exist or is not a folder", "EntryNotFound")
        prefix = f"{path}/" if path else ""

        def wanted(candidate: str) -> bool:
            if not candidate.startswith(prefix):
                return False
            return recursive or "/" not in candidate[len(prefix) :]

        entries = [self._folder_entry(commit, f, expand, repo) for f in sorted(folders) if wanted(f)]
        entries += [self._file_entry(commit, f, expand, repo) for f in sorted(commit.files) if wanted(f)]
        return _json_response(entries)

    def _resolve(self, request: _Request, repo_type: str, repo_id: str, revision: str, path: str) -> _Response:
        repo = self._readable_repo(request, repo_type, repo_id)
        commit = self._commit_at(repo, revision)
        data = commit.files.get(path)
        if data is None:
            raise HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": commit.oid})
        headers = {
            "Content-Type": "application/octet-stream",
            "Accept-Ranges": "bytes",
            "X-Repo-Commit": commit.oid,
        }
        if path in commit.lfs_paths:
            sha256 = hashlib.sha256(data).hexdigest()
            headers.update({"ETag": f'"{sha256}"', "X-Linked-Etag": f'"{sha256}"', "X-Linked-Size": str(len(data))})
        else:
            headers["ETag"] = f'"{_git_blob_oid(data)}"'
        if request.method == "HEAD":
            return _Response(200, b"", headers, head_length=len(data))
        byte_range = request.headers.get("Range")
        if byte_range is None:
            return _Response(200, data, headers)
        start, end = self._parse_range(byte_range, len(data))
        headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        return _Response(206, data[start : end + 1], headers)

    @staticmethod
    def _parse_range(header: str, size: int) -> tuple[int, int]:
        """Inclusive (start, end) of a single `bytes=` range, as RFC 9110 reads it."""
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
        if match is None or match.group(1) == match.group(2) == "":
            raise HubError(400, f"Unsupported Range header: {header}")
        first, last = match.groups()
        if first == "":
            start, end = max(size - int(last), 0), size - 1
        else:
            start = int(first)
            end = min(int(last), size - 1) if last else size - 1
        if start >= size or start > end:
            raise HubError(416, "Range not satisfiable", headers={"Content-Range": f"bytes */{size}"})
        return start, end

    # ----- writing -----

    def _branch(self, request: _Request, repo_type: str, repo_id: str, branch: str) -> _Response:
        repo = self._writable_repo(request, repo_type, repo_id)
        if branch in repo.refs:
            raise HubError(409, f"Reference refs/heads/{branch} already exists")
        starting_point = (request.json() or {}).get("startingPoint") or DEFAULT_BRANCH
        repo.refs[branch] = self._commit_at(repo, starting_point).oid
        return _json_response({})

    def _is_lfs(self, path: str, size: int) -> bool:
        return size >= self.lfs_threshold or path.endswith(self.lfs_suffixes)

    def _preupload(self, request: _Request, repo_type: str, repo_id: str, revision: str) -> _Response:
        repo = self._writable_repo(request, repo_type, repo_id)
        commit = self._commit_at(repo, revision)
        answers = []
        for file in (request.json() or {}).get("files", []):
            path, size = file["path"], int(file["size"])
            mode = "lfs" if self._is_lfs(path, size) else "regular"
            existing = commit.files.get(path)
            # The client skips files whose remote oid equals its local one (LFS: sha256, else git sha1).
            oid = None
            if existing is not None:
                oid = hashlib.sha256(existing).hexdigest() if mode == "lfs" else _git_blob_oid(existing)
            answers.append({"path": path, "uploadMode": mode, "shouldIgnore": False, "oid": oid})
        return _json_response({"files": answers, "commitOid": commit.oid})

    def _lfs_batch(self, request: _Request, repo_type: str, repo_id: str) -> _Response:
        repo = self._writable_repo(request, repo_type, repo_id)
        payload = request.json() or {}
        if payload.get("operation") != "upload":
            raise HubError(400, "Only the upload operation is supported")
        objects = []
        git_url = f"{self._url_prefix(repo)}.git/info/lfs/objects"
        for obj in payload.get("objects", []):
            oid, size = obj["oid"], int(obj["size"])
            answer: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            stored = repo.lfs_objects.get(oid)
            if stored is None or hashlib.sha256(stored).hexdigest() != oid:
                ticket = secrets.token_urlsafe(16)
                self._upload_tickets[ticket] = (repo_id, oid, size)
                answer["actions"] = {
                    "upload": {"href": f"{self.endpoint}/lfs-upload/{ticket}"},
                    "verify": {"href": f"{git_url}/verify"},
                }
            objects.append(answer)
        return _json_response({"transfer": "basic", "objects": objects, "hash_algo": "sha256"})

    def _lfs_upload(self, request: _Request, ticket: str) -> _Response:
        target = self._upload_tickets.get(ticket)
        if target is None:
            raise HubError(403, "Unknown or used upload ticket")
        repo_id, oid, size = target
        repo = self.repos.get(repo_id)
        if repo is None:
            raise HubError(404, "Repository not found", "RepoNotFound")
        if len(request.body) != size:
            raise HubError(400, f"Expected {size} bytes, got {len(request.body)}")
        repo.lfs_objects[oid] = request.body
        del self._upload_tickets[ticket]
        return _Response(200, b"", {"ETag": f'"{hashlib.md5(request.body).hexdigest()}"'})

    def _lfs_verify(self, request: _Request, repo_type: str, repo_id: str) -> _Response:
        repo = self._writable_repo(request, repo_type, repo_id)
        payload = request.json() or {}
        oid, size = payload.get("oid"), payload.get("size")
        stored = repo.lfs_objects.get(oid or "")
        if stored is None:
            raise HubError(404, f"Object {oid} was not uploaded")
        if hashlib.sha256(stored).hexdigest() != oid or len(stored) != size:
            del repo.lfs_objects[oid]
            raise HubError(422, f"Object {oid} does not match its oid or size")
        return _json_response({"success": True})

    def _commit(self, request: _Request, repo_type: str, repo_id: str, revision: str) -> _Response:
        repo = self._writable_repo(request, repo_type, repo_id)
        lines = [json.loads(line) for line in request.body.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "The first line of a commit must be its header")
        header = lines[0]["value"]
        create_pr = request.flag("create_pr")
        if revision not in repo.refs:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        head = repo.head(revision)
        parent_oid = header.get("parentCommit")
        base = head
        if parent_oid is not None:
            if create_pr and parent_oid in repo.commits:
                base = repo.commits[parent_oid]
            elif parent_oid != head.oid:
                raise HubError(412, "A commit has happened since. Please refresh and try again.")

        files = dict(base.files)
        lfs_paths = set(base.lfs_paths)
        for line in lines[1:]:
            self._apply_operation(repo, line.get("key"), line.get("value") or {}, files, lfs_paths)

        if create_pr:
            pr_num = repo.next_pr_num
            repo.next_pr_num += 1
            target_ref = f"refs/pr/{pr_num}"
        else:
            pr_num, target_ref = None, revision
        commit = self._add_commit(
            repo,
            target_ref,
            summary=header.get("summary", ""),
            description=header.get("description", ""),
            parents=(base.oid,),
            files=files,
            lfs_paths=frozenset(lfs_paths),
        )
        prefix = self._url_prefix(repo)
        return _json_response(
            {
                "success": True,
                "commitOid": commit.oid,
                "commitUrl": f"{prefix}/commit/{commit.oid}",
                "hookOutput": "",
                "pullRequestUrl": f"{prefix}/discussions/{pr_num}" if pr_num is not None else None,
            }
        )

    def _apply_operation(
        self, repo: FakeRepo, key: str | None, value: dict, files: dict[str, bytes], lfs_paths: set[str]
    ) -> None:
        path = str(value.get("path", "")).strip("/")
        if not path and key != "deletedFolder":
            raise HubError(400, f"Operation {key} has no path")
        if key == "file":
            if value.get("encoding", "base64") != "base64":
                raise HubError(400, f"Unsupported encoding {value.get('encoding')}")
            data = base64.b64decode(value.get("content", ""))
            if len(data) >= self.lfs_threshold:
                raise HubError(400, f"{path} is larger than {self.lfs_threshold} bytes: upload it through LFS")
            files[path] = data
            lfs_paths.discard(path)
        elif key == "lfsFile":
            oid = value.get("oid", "")
            stored = repo.lfs_objects.get(oid)
            if stored is None or hashlib.sha256(stored).hexdigest() != oid:
                raise HubError(400, f"LFS object {oid} for {path} was never uploaded")
            if value.get("size") is not None and int(value["size"]) != len(stored):
                raise HubError(400, f"LFS object {oid} for {path} has a different size")
            files[path] = stored
            lfs_paths.add(path)
        elif key == "deletedFile":
            if path not in files:
                raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
            del files[path]
            lfs_paths.discard(path)
        elif key == "deletedFolder":
            doomed = [p for p in files if not path or p.startswith(path + "/")]
            if not doomed:
                raise HubError(404, f"A folder with this name doesn't exist: {path}", "EntryNotFound")
            for p in doomed:
                del files[p]
                lfs_paths.discard(p)
        else:
            raise HubError(400, f"Unknown commit operation {key!r}")

    def _add_commit(
        self,
        repo: FakeRepo,
        ref: str,
        *,
        summary: str,
        description: str,
        parents: tuple[str, ...],
        files: dict[str, bytes],
        lfs_paths: frozenset[str],
    ) -> Commit:
        date = dt.datetime.now(dt.timezone.utc)
        # The counter keeps ids unique even for identical snapshots committed in the same instant.
        snapshot = sorted(f"{p}:{_git_blob_oid(d)}" for p, d in files.items())
        seed = json.dumps([repo.repo_id, next(self._commit_counter), parents, summary, description, snapshot])
        commit = Commit(
            oid=hashlib.sha1(seed.encode()).hexdigest(),
            summary=summary,
            description=description,
            parents=parents,
            files=dict(files),
            lfs_paths=lfs_paths,
            date=date,
        )
        repo.commits[commit.oid] = commit
        repo.refs[ref] = commit.oid
        return commit


class _HubRequestHandler(BaseHTTPRequestHandler):
    """Turns HTTP requests into `_Request`s for the FakeHub and writes its `_Response`s back."""

    protocol_version = "HTTP/1.1"
    server_hub: FakeHub

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        # Requests are recorded in FakeHub.requests; stderr noise would only clutter test output.
        pass

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return b"".join(self._read_chunks())
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _read_chunks(self) -> Iterator[bytes]:
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                # Skip trailer lines up to the blank line that ends the body.
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return
            yield self.rfile.read(size)
            self.rfile.readline()

    def _serve(self) -> None:
        hub = self.server_hub
        split = urlsplit(self.path)
        request = _Request(
            method=self.command,
            raw_path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers=self.headers,
            body=self._read_body(),
        )
        response = hub._handle(request)
        with hub._lock:
            sent = 0 if self.command == "HEAD" else len(response.body)
            hub.requests.append(LoggedRequest(self.command, split.path, response.status, sent))
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        length = response.head_length if response.head_length is not None else len(response.body)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)


def _hub_port_from_environment() -> int:
    endpoint = os.environ.get("HF_ENDPOINT", "")
    port = urlsplit(endpoint).port
    if port is None or urlsplit(endpoint).hostname not in ("127.0.0.1", "localhost"):
        raise RuntimeError(f"HF_ENDPOINT must be http://127.0.0.1:<port> for the fake Hub, got {endpoint!r}")
    return port


@pytest.fixture(scope="session")
def hub_server() -> Iterator[FakeHub]:
    """A FakeHub on the port of `HF_ENDPOINT` (set by conftest), accepting the token `hf_test_token`.

    Shared by the whole session: give each test its own repo names, or call `hub_server.reset()`.
    """
    with FakeHub(port=_hub_port_from_environment(), token=TEST_TOKEN) as hub:
        yield hub


@pytest.fixture
def hub_token() -> str:
    """The token the `hub_server` fixture accepts."""
    return TEST_TOKEN
