"""A fingerprint of the source files that define a build's rows, to key its cache.

Label files (.json, .txt, .csv, .tsv) count by their content: an annotation file edited in place, even
with its size and modification time kept, gives a new fingerprint. Media files and archives count by
name, size and modification time: hashing hundreds of gigabytes of video would cost more than a build.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

LABEL_SUFFIXES = frozenset((".json", ".txt", ".csv", ".tsv"))
_CHUNK_BYTES = 1 << 20


def sources_fingerprint(paths: Iterable[str | os.PathLike[str]], *salt: str) -> str:
    """A short hex digest of `salt` (e.g. the package version) and every file at or under `paths`.

    A path that does not exist counts as absent (the build itself reports what is missing).
    """
    digest = hashlib.blake2b(digest_size=16)
    for text in salt:
        digest.update(f"salt\0{text}\n".encode())
    for path in paths:
        root = Path(path)
        digest.update(f"root\0{root}\n".encode())
        for relative, entry in _files(root):
            digest.update(f"{relative}\0{_describe(entry)}\n".encode())
    return digest.hexdigest()


def _files(root: Path) -> Iterator[tuple[str, Path]]:
    """Every file at or under `root` (following links), with its path relative to `root`, in name order."""
    if root.is_file():
        yield root.name, root
        return
    stack = [root] if root.is_dir() else []
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name, reverse=True)
        except OSError:
            continue  # unreadable: the build reports it when it reads there
        for entry in entries:
            if entry.is_dir():
                stack.append(Path(entry.path))
            else:
                yield os.path.relpath(entry.path, root), Path(entry.path)


def _describe(path: Path) -> str:
    try:
        if path.suffix.lower() in LABEL_SUFFIXES:
            return "content " + _content_digest(path)
        status = path.stat()
        return f"size {status.st_size} mtime {status.st_mtime_ns}"
    except OSError as error:
        return f"unreadable {error.errno}"


def _content_digest(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as source:
        while chunk := source.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
