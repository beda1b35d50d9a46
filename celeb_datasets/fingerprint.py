"""A fingerprint of the source files that define a build's rows, to key its cache.

Label files (.json, .txt, .csv, .tsv) count by their content: an annotation file edited in place, even
with its size and modification time kept, gives a new fingerprint. Media files and archives count by
name, size and modification time: hashing hundreds of gigabytes of video would cost more than a build.
Hidden files and folders (partial downloads) and export folders inside a data folder do not count.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Iterator

LABEL_SUFFIXES = frozenset((".json", ".txt", ".csv", ".tsv"))
# The file that marks an export folder (celeb_datasets.hub.EXPORT_MANIFEST).
EXPORT_MARKER = ".celeb_datasets_export.json"
_CHUNK_BYTES = 1 << 20


def sources_fingerprint(paths: Iterable[str | os.PathLike[str]], *salt: str) -> str:
    """A short hex digest of `salt` (e.g. the package version) and every file at or under `paths`.

    A path that does not exist counts as absent (the build itself reports what is missing).
    """
    digest = hashlib.blake2b(digest_size=16)
    for text in salt:
        digest.update(f"salt\0{text}\n".encode())
    for path in paths:
        root = os.fspath(path)
        digest.update(f"root\0{root}\n".encode())
        if os.path.isfile(root):
            digest.update(f"{os.path.basename(root)}\0{_describe(root, None)}\n".encode())
        elif os.path.isdir(root):
            for relative, entry in _files(root):
                digest.update(f"{relative}\0{_describe(entry.path, entry)}\n".encode())
    return digest.hexdigest()


def content_fingerprint(paths: Iterable[str | os.PathLike[str]]) -> str:
    """A short hex digest of the files at `paths` by their names and content alone, in the order given.

    Where the files are does not count, unlike `sources_fingerprint`: one annotation file copied to two
    nodes, or mounted at two paths, gives one digest. A path that is not a file counts as absent.
    """
    digest = hashlib.blake2b(digest_size=16)
    for path in paths:
        name = os.path.basename(os.fspath(path))
        content = _content_digest(os.fspath(path)) if os.path.isfile(path) else "absent"
        digest.update(f"{name}\0{content}\n".encode())
    return digest.hexdigest()


def text_digest(text: str) -> str:
    """A short hex digest of `text` (UTF-8), as `content_fingerprint` gives for a file holding it."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def file_digest(path: str | os.PathLike[str]) -> str:
    """The digest `text_digest` gives for the text the file at `path` holds (OSError if it cannot be read)."""
    return _content_digest(os.fspath(path))


def _files(root: str) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """Every file under the folder `root` (following links), with its path relative to `root`, in name order."""
    stack = [""]
    seen: set[tuple[int, int]] = set()  # folders already listed: a link to a parent folder must not loop
    while stack:
        relative_folder = stack.pop()
        try:
            folder = os.path.join(root, relative_folder)
            status = os.stat(folder)
            if (status.st_dev, status.st_ino) in seen:
                continue
            seen.add((status.st_dev, status.st_ino))
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name, reverse=True)
        except OSError:
            continue  # unreadable: the build reports it when it reads there
        for entry in entries:
            if entry.name.startswith(".") or entry.name == EXPORT_MARKER:
                continue  # hidden: partial downloads, our own work files; never a source
            relative = f"{relative_folder}/{entry.name}" if relative_folder else entry.name
            if _is_folder(entry):
                if os.path.exists(os.path.join(entry.path, EXPORT_MARKER)):
                    continue  # an export folder inside the data folder is not a source
                stack.append(relative)
            else:
                yield relative, entry


def _is_folder(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:  # a link we may not look through (another user's): counted as an unreadable file
        return False


def _describe(path: str, entry: os.DirEntry[str] | None) -> str:
    try:
        status = entry.stat() if entry is not None else os.stat(path)
        if not stat.S_ISREG(status.st_mode):
            return "not a regular file"  # a pipe or a device is never read: it could block forever
        if os.path.splitext(path)[1].lower() in LABEL_SUFFIXES:
            return "content " + _content_digest(path)
        return f"size {status.st_size} mtime {status.st_mtime_ns}"
    except OSError as error:
        return f"unreadable {error.errno}"


def _content_digest(path: str) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as source:
        while chunk := source.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
