"""Find a download's files and folders by name, on disk or inside zip archives, and read them in place.

Users unzip an archive in place, or keep it zipped, or move things around: a builder asks for
`captions_hq.json` or the folder `image` and gets it wherever it is under the data folder, without
extracting anything.

    >>> download = DataFolder("~/CelebA-Dialog")
    >>> captions = download.find_file("captions_hq.json")        # a SourceFile, or None
    >>> images = download.find_folder("image")                   # a SourceFolder, or None
    >>> with images.open_reader() as reader:
    ...     jpeg = reader.read("0.jpg")

When a name is found in several places, a file or folder on disk wins over one inside an archive (it
reads faster), then the shallowest, then the first in path order: the choice never depends on the
order the file system lists things. Archives inside archives are not searched.

A damaged download is never reported as a missing one: a `*.zip` that is not a readable zip archive,
a folder where a file is expected, a member failing its CRC, or text that is not UTF-8 raise
SourceFileError naming the file (and member, and line) and what is wrong.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import BinaryIO

from celeb_datasets.errors import MissingSourceError, SourceFileError
from celeb_datasets.sourcefiles import decode_text

logger = logging.getLogger("celeb_datasets")

ZIP_SUFFIX = ".zip"
# Archives made on macOS carry resource forks (`__MACOSX/...`, `._name`) that are not data.
_MACOS_METADATA_FOLDER = "__MACOSX"
_MACOS_METADATA_PREFIX = "._"
# What reading a damaged zip member raises: a CRC mismatch or bad header (BadZipFile), corrupt
# compressed data (zlib.error), compressed data cut short (EOFError).
_DAMAGED_MEMBER_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError)


@dataclasses.dataclass(frozen=True)
class SourceFile:
    """A file of the download: on disk (`archive` is None) or a member of the zip `archive`.

    `path` is the file's path on disk, or the member's name inside the archive.
    """

    path: str
    archive: str | None = None

    @property
    def name(self) -> str:
        """The file name, without folders."""
        return PurePosixPath(self.path).name if self.archive else Path(self.path).name

    def open(self) -> BinaryIO:
        """A binary stream of the file's bytes; a zip member is decompressed as it is read."""
        if self.archive is None:
            return open(self.path, "rb")
        archive = _open_archive(self.archive)
        try:
            # The member stream keeps the archive's file handle open until the stream itself is closed.
            return archive.open(self.path)  # type: ignore[return-value]
        except _DAMAGED_MEMBER_ERRORS as error:
            raise damaged_member_error(self.archive, self.path, error) from None
        finally:
            archive.close()

    def read_bytes(self) -> bytes:
        """The file's bytes; a damaged zip member (failed CRC, corrupt data) raises SourceFileError."""
        try:
            with self.open() as stream:
                return stream.read()
        except _DAMAGED_MEMBER_ERRORS as error:
            raise damaged_member_error(self.archive or "", self.path, error) from None
        except IsADirectoryError:
            raise SourceFileError(f"{self}: a folder, where a file was expected") from None

    def read_text(self) -> str:
        """The file as text (UTF-8; a leading byte order mark is dropped); other bytes name their line."""
        return decode_text(self.read_bytes(), str(self))

    def __str__(self) -> str:
        # Reads like a path into the archive, which is what a user looks for when a message names it.
        return self.path if self.archive is None else f"{self.archive}/{self.path}"


@dataclasses.dataclass(frozen=True)
class SourceFolder:
    """A folder of the download: a directory on disk (`archive` is None) or a folder inside a zip.

    `path` is the directory on disk, or the folder's member prefix inside the archive ("" when the
    archive's root is the folder, e.g. an `image.zip` holding `0.jpg` directly).
    """

    path: str
    archive: str | None = None

    @property
    def name(self) -> str:
        if self.archive is None:
            return Path(self.path).name
        return PurePosixPath(self.path).name if self.path else Path(self.archive).name.removesuffix(ZIP_SUFFIX)

    def list_files(self, recursive: bool = False) -> list[str]:
        """The folder's files as sorted paths relative to it ("a/b.png" when recursive), without macOS metadata."""
        if self.archive is None:
            return sorted(_files_on_disk(Path(self.path), recursive))
        relative = self._relative_members()
        return sorted(
            name
            for name in relative
            if name and not name.endswith("/") and (recursive or "/" not in name) and not _is_macos_metadata(name)
        )

    def list_folders(self) -> list[str]:
        """The names of the folder's direct subfolders, sorted, without macOS metadata."""
        if self.archive is None:
            with os.scandir(self.path) as entries:
                names = {entry.name for entry in entries if entry.is_dir()}
        else:
            names = {name.split("/", 1)[0] for name in self._relative_members() if "/" in name}
        return sorted(name for name in names if not _is_macos_metadata(name))

    def _relative_members(self) -> list[str]:
        """The archive's member names under this folder, relative to it."""
        prefix = f"{self.path}/" if self.path else ""
        return [member[len(prefix) :] for member in _member_names(str(self.archive)) if member.startswith(prefix)]

    def file(self, relative: str) -> SourceFile:
        """The file at `relative` (a path given by `list_files`) inside this folder."""
        if self.archive is None:
            return SourceFile(str(Path(self.path, relative)))
        return SourceFile(f"{self.path}/{relative}" if self.path else relative, self.archive)

    def open_reader(self) -> FolderReader:
        """A reader of many files of this folder that opens the archive once: use it in a `with` block."""
        return FolderReader(self)

    def __str__(self) -> str:
        if self.archive is None:
            return self.path
        return f"{self.archive}/{self.path}" if self.path else self.archive


class FolderReader:
    """Reads files of one folder by relative path, keeping its zip archive open between reads."""

    def __init__(self, folder: SourceFolder) -> None:
        self.folder = folder
        self._archive = None if folder.archive is None else _open_archive(folder.archive)

    def read(self, relative: str) -> bytes:
        """The bytes of the file at `relative`, exactly as stored.

        Raises FileNotFoundError if it is absent, and SourceFileError if it is a folder or a zip member
        that fails its CRC or whose compressed data is corrupt.
        """
        if self._archive is None:
            try:
                return Path(self.folder.path, relative).read_bytes()
            except IsADirectoryError:
                raise SourceFileError(
                    f"{Path(self.folder.path, relative)}: a folder, where a file was expected"
                ) from None
        member = f"{self.folder.path}/{relative}" if self.folder.path else relative
        try:
            return self._archive.read(member)
        except KeyError:
            raise FileNotFoundError(f"{self.folder.archive}/{member}") from None
        except _DAMAGED_MEMBER_ERRORS as error:
            raise damaged_member_error(str(self.folder.archive), member, error) from None

    def close(self) -> None:
        if self._archive is not None:
            self._archive.close()

    def __enter__(self) -> FolderReader:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


class DataFolder:
    """A user's download folder, searched by name through its subfolders and its zip archives.

    The folder is walked once; each archive's member list is read the first time a search needs it.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise MissingSourceError(f"data folder {self.root} does not exist or is not a folder")
        self._files: dict[str, list[Path]] = {}
        self._folders: dict[str, list[Path]] = {}
        self._archives: list[Path] = []
        # `*.zip` files that are not readable archives, with what is wrong: never searched, always reported.
        self._unreadable_archives: dict[Path, str] = {}
        for folder, subfolders, files in os.walk(self.root):
            subfolders[:] = sorted(name for name in subfolders if not _is_macos_metadata(name))
            for name in subfolders:
                self._folders.setdefault(name, []).append(Path(folder, name))
            for name in files:
                if _is_macos_metadata(name):
                    continue
                path = Path(folder, name)
                self._files.setdefault(name, []).append(path)
                if name.lower().endswith(ZIP_SUFFIX):
                    if zipfile.is_zipfile(path):
                        self._archives.append(path)
                    else:
                        self._unreadable_archives[path] = not_a_zip_reason(path)
        self._archives.sort(key=_search_order)
        self._members: dict[Path, list[str]] = {}

    def find_file(self, name: str) -> SourceFile | None:
        """The file called `name` anywhere under the folder, on disk or in an archive (None if absent).

        Where it is not found, a folder called `name` or a `*.zip` that could not be searched (not a
        readable archive) raises SourceFileError naming it, rather than letting it pass as absent.
        """
        on_disk = self._files.get(name)
        if on_disk:
            return SourceFile(str(min(on_disk, key=_search_order)))
        for archive in self._archives:
            members = [member for member in self._archive_members(archive) if PurePosixPath(member).name == name]
            if members:
                return SourceFile(min(members, key=_member_search_order), str(archive))
        folders = self._folders.get(name)
        if folders:
            raise SourceFileError(f"{min(folders, key=_search_order)}: a folder, where the file {name} was expected")
        self._refuse_unsearched(f"the file {name}")
        return None

    def find_folder(self, name: str) -> SourceFolder | None:
        """The folder called `name` anywhere under the folder (None if absent).

        Inside an archive a folder is any member path component called `name`, however deep (some
        archives store their files under a long absolute server path); an archive `name.zip` without
        such a folder counts as the folder itself.
        """
        on_disk = self._folders.get(name)
        if on_disk:
            return SourceFolder(str(min(on_disk, key=_search_order)))
        for archive in self._archives:
            prefixes = set()
            for member in self._archive_members(archive):
                parts = member.split("/")[:-1]
                if name in parts:
                    prefixes.add("/".join(parts[: parts.index(name) + 1]))
            if prefixes:
                return SourceFolder(min(prefixes, key=_member_search_order), str(archive))
            if archive.name.removesuffix(ZIP_SUFFIX) == name:
                return SourceFolder("", str(archive))
        for archive, reason in self._unreadable_archives.items():
            if archive.name.removesuffix(ZIP_SUFFIX) == name:
                raise SourceFileError(f"{archive}: {reason}; it should hold the folder {name}: download it again")
        self._refuse_unsearched(f"the folder {name}")
        return None

    def _refuse_unsearched(self, what: str) -> None:
        """Raise when `what` was not found but an unreadable `*.zip` might hold it: it is not known to be absent."""
        if self._unreadable_archives:
            archive, reason = min(self._unreadable_archives.items(), key=lambda item: _search_order(item[0]))
            raise SourceFileError(
                f"{what} was not found, and {archive} could not be searched for it: {reason}; "
                "download it again (or remove it if it is not part of the download)"
            )

    def _archive_members(self, archive: Path) -> list[str]:
        if archive not in self._members:
            names = _member_names(str(archive))
            self._members[archive] = [name for name in names if not _is_macos_metadata(name)]
        return self._members[archive]


def not_a_zip_reason(path: str | os.PathLike[str]) -> str:
    """Why a file named `*.zip` is not a readable zip archive, from its size and first bytes."""
    try:
        with open(path, "rb") as file:
            start = file.read(4)
    except OSError as error:
        return f"cannot be read ({error.strerror})"
    if not start:
        return "an empty file, not a zip archive"
    if start == b"PK\x03\x04":
        return "a zip archive cut short (its end, the list of its files, is missing: an interrupted download?)"
    return f"not a zip archive (it starts with {start.hex(' ')})"


def damaged_member_error(archive: str, member: str, error: BaseException) -> SourceFileError:
    """The error for a zip member that cannot be read back as it was stored."""
    return SourceFileError(f"{archive}: the member {member} is damaged ({error}); download the archive again")


def _member_names(path: str) -> tuple[str, ...]:
    """The member names of the zip archive at `path`, read once for each version of the file."""
    status = os.stat(path)
    return _read_member_names(path, status.st_size, status.st_mtime_ns)


# Reading the list of 30,000 members costs about 0.1 s; finding, listing and checking a folder each need it.
@functools.lru_cache(maxsize=4)
def _read_member_names(path: str, size: int, modified_ns: int) -> tuple[str, ...]:
    with _open_archive(path) as archive:
        return tuple(archive.namelist())


def _open_archive(path: str) -> zipfile.ZipFile:
    """The zip archive at `path`, opened; a damaged one (e.g. a corrupt list of files) raises SourceFileError."""
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, EOFError) as error:
        raise SourceFileError(f"{path}: not a readable zip archive ({error}); download it again") from None


def _files_on_disk(folder: Path, recursive: bool) -> Iterator[str]:
    if not recursive:
        with os.scandir(folder) as entries:
            yield from (entry.name for entry in entries if entry.is_file() and not _is_macos_metadata(entry.name))
        return
    for current, subfolders, files in os.walk(folder):
        subfolders[:] = [name for name in subfolders if not _is_macos_metadata(name)]
        relative = Path(current).relative_to(folder)
        for name in files:
            if not _is_macos_metadata(name):
                yield (relative / name).as_posix()


def _is_macos_metadata(path: str) -> bool:
    return any(part == _MACOS_METADATA_FOLDER or part.startswith(_MACOS_METADATA_PREFIX) for part in path.split("/"))


def _search_order(path: Path) -> tuple[int, str]:
    return len(path.parts), str(path)


def _member_search_order(member: str) -> tuple[int, str]:
    return member.count("/"), member


__all__ = ["DataFolder", "FolderReader", "SourceFile", "SourceFolder"]
