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
order the file system lists things. `find_folders` gives every copy, best first.

Archives inside archives are searched one level deep, as a Google Drive folder download makes them
(`image.zip` inside `CelebA-Dialog-20240101T000000Z-001.zip`): an inner zip stored as it is (not
compressed again) is read in place; one compressed inside its archive cannot be read without
decompressing all of it, so it is listed by `archives_to_extract`, as are 7z, RAR and tar archives
found on disk or inside a zip. A folder name that matches only such an archive is an error saying to
extract it.

A damaged download is never reported as a missing one: a `*.zip` that is not a readable zip archive,
a folder where a file is expected, a member failing its CRC, or text that is not UTF-8 raise
SourceFileError naming the file (and member, and line) and what is wrong.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import logging
import os
import re
import struct
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
# Archive formats read only once extracted (CelebA's mirrors ship 7z parts: img_celeba.7z.001 ...): what
# each is and the command that extracts it under a folder. A split archive is named by its first part only.
_EXTRACT_COMMANDS = {
    "seven_zip": ("a 7z archive", "7z x {path} -o{root}"),
    "rar": ("a RAR archive", "unrar x {path} {root}/"),
    "tar": ("a tar archive", "tar -xf {path} -C {root}"),
}
_OTHER_ARCHIVE = re.compile(
    r"^(?P<stem>.+?)\.(?:(?P<seven_zip>7z)(?:\.0*1)?|(?P<rar>rar)(?:\.0*1)?|(?P<tar>tar(?:\.gz|\.bz2|\.xz)?|tgz))$",
    re.IGNORECASE,
)
# A zip's local file header: signature, then fixed fields up to the name and extra-field lengths.
_LOCAL_HEADER = struct.Struct("<4s22xHH")
_LOCAL_HEADER_SIGNATURE = b"PK\x03\x04"


@dataclasses.dataclass(frozen=True)
class SourceFile:
    """A file of the download: on disk (`archive` is None) or a member of the zip `archive`.

    `path` is the file's path on disk, or the member's name inside the archive. `archive` is a zip on
    disk, or a zip inside one (`outer.zip/folder/inner.zip`).
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
        if isinstance(archive, _InnerZipFile):
            # The inner archive's slice of its outer file is closed with it: read the member whole.
            with archive:
                return io.BytesIO(self._read_member(archive))
        try:
            # The member stream keeps the archive's file handle open until the stream itself is closed.
            return archive.open(self.path)  # type: ignore[return-value]
        except _DAMAGED_MEMBER_ERRORS as error:
            raise damaged_member_error(self.archive, self.path, error) from None
        finally:
            archive.close()

    def _read_member(self, archive: zipfile.ZipFile) -> bytes:
        try:
            return archive.read(self.path)
        except _DAMAGED_MEMBER_ERRORS as error:
            raise damaged_member_error(str(self.archive), self.path, error) from None

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
        return PurePosixPath(self.path).name if self.path else _archive_stem(PurePosixPath(self.archive).name)

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

    def subfolder(self, name: str) -> SourceFolder:
        """The subfolder `name` of this folder (a name given by `list_folders`)."""
        if self.archive is None:
            return SourceFolder(str(Path(self.path, name)))
        return SourceFolder(f"{self.path}/{name}" if self.path else name, self.archive)

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


class FolderReaders:
    """Readers of several folders, each opened the first time one of its files is read: use it in a `with` block.

    Opening a zip reads its whole member list, which for 30,000 images costs as much as copying hundreds
    of them: a build keeps one reader per folder for all the files it reads there.
    """

    def __init__(self) -> None:
        self._readers: dict[SourceFolder, FolderReader] = {}

    def read(self, folder: SourceFolder, relative: str) -> bytes:
        """The bytes of `relative` in `folder` (see FolderReader.read)."""
        if folder not in self._readers:
            self._readers[folder] = folder.open_reader()
        return self._readers[folder].read(relative)

    def close(self) -> None:
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()

    def __enter__(self) -> FolderReaders:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


@dataclasses.dataclass(frozen=True)
class ArchiveToExtract:
    """An archive of the download that is not read in place, and how to extract it.

    `path` is the file on disk, or `outer.zip/member` for one inside a zip; `folder` the folder name it
    likely holds (its name without the archive suffixes: `img_celeba` for `img_celeba.7z.001`).
    """

    path: str
    folder: str
    what: str
    command: str

    def __str__(self) -> str:
        return f"{self.path} ({self.what}: extract it, e.g. `{self.command}`)"


class DataFolder:
    """A user's download folder, searched by name through its subfolders and its zip archives.

    The folder is walked once; each archive's member list is read the first time a search needs it.
    Folder names match whatever their case (`Image` for `image`), an exact match first.
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
        self._to_extract: list[ArchiveToExtract] = []
        for folder, subfolders, files in os.walk(self.root):
            subfolders[:] = sorted(name for name in subfolders if not _is_macos_metadata(name))
            for name in subfolders:
                self._folders.setdefault(name.casefold(), []).append(Path(folder, name))
            for name in sorted(files):
                if _is_macos_metadata(name):
                    continue
                path = Path(folder, name)
                self._files.setdefault(name, []).append(path)
                if name.lower().endswith(ZIP_SUFFIX):
                    if zipfile.is_zipfile(path):
                        self._archives.append(path)
                    else:
                        self._unreadable_archives[path] = not_a_zip_reason(path)
                elif (found := _other_archive(str(path), self.root)) is not None:
                    self._to_extract.append(found)
        self._archives.sort(key=_search_order)
        self._members: dict[str, list[str]] = {}
        self._inner_archives: list[str] | None = None

    def find_file(self, name: str) -> SourceFile | None:
        """The file called `name` anywhere under the folder, on disk or in an archive (None if absent).

        Where it is not found, a folder called `name` or a `*.zip` that could not be searched (not a
        readable archive) raises SourceFileError naming it, rather than letting it pass as absent.
        """
        on_disk = self._files.get(name)
        if on_disk:
            return SourceFile(str(min(on_disk, key=_search_order)))
        for archive in self._searchable_archives():
            members = [member for member in self._archive_members(archive) if PurePosixPath(member).name == name]
            if members:
                return SourceFile(min(members, key=_member_search_order), archive)
        folders = [folder for folder in self._folders.get(name.casefold(), []) if folder.name == name]
        if folders:
            raise SourceFileError(f"{min(folders, key=_search_order)}: a folder, where the file {name} was expected")
        self._refuse_unsearched(f"the file {name}")
        return None

    def find_folder(self, name: str) -> SourceFolder | None:
        """The folder called `name` anywhere under the folder (None if absent): the first of `find_folders`.

        Where it is not found, a damaged `name.zip`, or an archive that holds it but must be extracted
        first (a 7z archive, a zip compressed inside another zip), raises SourceFileError naming it.
        """
        folders = self.find_folders(name)
        if folders:
            return folders[0]
        self.refuse_archives_to_extract(name)
        self._refuse_unsearched(f"the folder {name}")
        return None

    def find_folders(self, name: str) -> list[SourceFolder]:
        """Every folder called `name` under the folder, best first: on disk, then in archives, then in inner archives.

        Inside an archive a folder is any member path component called `name`, however deep (some
        archives store their files under a long absolute server path, Kaggle's copy of CelebA repeats
        `img_align_celeba/img_align_celeba/`); an archive `name.zip` without such a folder counts as the
        folder itself. Names match whatever their case, exact matches first.
        """
        wanted = name.casefold()
        on_disk = sorted(self._folders.get(wanted, []), key=lambda path: (path.name != name, *_search_order(path)))
        found = [SourceFolder(str(path)) for path in on_disk]
        for archive in self._searchable_archives():
            prefixes = set()
            for member in self._archive_members(archive):
                parts = member.split("/")[:-1]
                for depth, part in enumerate(parts):
                    if part.casefold() == wanted:
                        prefixes.add("/".join(parts[: depth + 1]))
            exact = sorted(
                prefixes, key=lambda prefix: (PurePosixPath(prefix).name != name, *_member_search_order(prefix))
            )
            found += [SourceFolder(prefix, archive) for prefix in exact]
            if not prefixes and _archive_stem(PurePosixPath(archive).name).casefold() == wanted:
                found.append(SourceFolder("", archive))
        for archive, reason in self._unreadable_archives.items():
            if not found and _archive_stem(archive.name).casefold() == wanted:
                raise SourceFileError(f"{archive}: {reason}; it should hold the folder {name}: download it again")
        return found

    def archives_to_extract(self) -> list[ArchiveToExtract]:
        """Archives of the download that are not read in place (7z, RAR, tar; zips compressed inside zips)."""
        self._searchable_archives()
        return list(self._to_extract)

    def refuse_archives_to_extract(self, name: str) -> None:
        """Raise SourceFileError when an archive named like the folder `name` must be extracted to be read."""
        for archive in self.archives_to_extract():
            if archive.folder.casefold() == name.casefold():
                raise SourceFileError(
                    f"{archive.path}: {archive.what}, which cannot be read in place; it should hold the folder "
                    f"{name}: extract it under {self.root} (e.g. `{archive.command}`) and run again"
                )

    def _refuse_unsearched(self, what: str) -> None:
        """Raise when `what` was not found but an unreadable `*.zip` might hold it: it is not known to be absent."""
        if self._unreadable_archives:
            archive, reason = min(self._unreadable_archives.items(), key=lambda item: _search_order(item[0]))
            raise SourceFileError(
                f"{what} was not found, and {archive} could not be searched for it: {reason}; "
                "download it again (or remove it if it is not part of the download)"
            )

    def _searchable_archives(self) -> list[str]:
        """The zips to search, in order: those on disk, then the zips stored inside them (found once)."""
        if self._inner_archives is None:
            self._inner_archives = []
            for archive in self._archives:
                for member, compressed in _inner_members(str(archive)):
                    if _is_macos_metadata(member):
                        continue
                    path = f"{archive}/{member}"
                    name = PurePosixPath(member).name
                    command = f"unzip {archive} '{member}' -d {self.root}"
                    if name.lower().endswith(ZIP_SUFFIX):
                        if compressed:
                            what = f"a zip compressed inside {archive.name}"
                            self._to_extract.append(ArchiveToExtract(path, _archive_stem(name), what, command))
                        else:
                            self._inner_archives.append(path)
                    elif (other := _other_archive(path, self.root, inside=archive)) is not None:
                        self._to_extract.append(other)
        return [str(archive) for archive in self._archives] + self._inner_archives

    def _archive_members(self, archive: str) -> list[str]:
        if archive not in self._members:
            names = _member_names(archive)
            self._members[archive] = [name for name in names if not _is_macos_metadata(name)]
        return self._members[archive]


def _other_archive(path: str, root: Path, inside: Path | None = None) -> ArchiveToExtract | None:
    """The 7z, RAR or tar archive at `path` (its first part, if split), or None for any other file.

    `path` is a file on disk, or `<inside>/<member>` for a member of the zip `inside`.
    """
    match = _OTHER_ARCHIVE.match(PurePosixPath(path).name)
    if match is None:
        return None
    kind = next(kind for kind in _EXTRACT_COMMANDS if match.group(kind))
    what, command = _EXTRACT_COMMANDS[kind]
    if inside is None:
        return ArchiveToExtract(path, match.group("stem"), what, command.format(path=path, root=root))
    member = path[len(str(inside)) + 1 :]
    extracted = command.format(path=root / member, root=root)
    steps = f"unzip {inside} '{member}' -d {root}, then {extracted}"
    return ArchiveToExtract(path, match.group("stem"), f"{what} inside {inside.name}", steps)


def _archive_stem(name: str) -> str:
    """An archive's name without its suffix (`image` for `image.zip` or `image.ZIP`)."""
    return name[: -len(ZIP_SUFFIX)] if name.lower().endswith(ZIP_SUFFIX) else name


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


@dataclasses.dataclass(frozen=True)
class _Listing:
    names: tuple[str, ...]
    # Members named like archives (`*.zip`, `*.7z` ...), and whether each is compressed inside this zip.
    archives: tuple[tuple[str, bool], ...]


def _member_names(path: str) -> tuple[str, ...]:
    """The member names of the zip archive at `path` (on disk, or inside a zip), read once per version of the file."""
    return _listing(path).names


def _inner_members(path: str) -> tuple[tuple[str, bool], ...]:
    """The members of the zip at `path` named like archives, and whether each is compressed in it."""
    return _listing(path).archives


def _listing(path: str) -> _Listing:
    outer, _ = _split_inner(path)
    status = os.stat(outer)
    return _read_listing(path, status.st_size, status.st_mtime_ns)


# Reading the list of 30,000 members costs about 0.1 s; finding, listing and checking a folder each need it.
@functools.lru_cache(maxsize=16)
def _read_listing(path: str, size: int, modified_ns: int) -> _Listing:
    with _open_archive(path) as archive:
        infos = archive.infolist()
    archives = tuple(
        (info.filename, info.compress_type != zipfile.ZIP_STORED)
        for info in infos
        if info.filename.lower().endswith(ZIP_SUFFIX) or _OTHER_ARCHIVE.match(PurePosixPath(info.filename).name)
    )
    return _Listing(tuple(info.filename for info in infos), archives)


def _open_archive(path: str) -> zipfile.ZipFile:
    """The zip archive at `path` (on disk, or stored inside a zip), opened; a damaged one raises SourceFileError."""
    outer, member = _split_inner(path)
    try:
        if member is None:
            return zipfile.ZipFile(path)
        start, size = _inner_archive_span(outer, member, *_file_version(outer))
        return _InnerZipFile(_FileSpan(outer, start, size))
    except (zipfile.BadZipFile, EOFError) as error:
        raise SourceFileError(f"{path}: not a readable zip archive ({error}); download it again") from None


def _split_inner(path: str) -> tuple[str, str | None]:
    """(the zip on disk, the member of it that is the archive `path`, None when `path` is itself on disk)."""
    if os.path.isfile(path):
        return path, None
    for parent in PurePosixPath(path).parents:
        if os.path.isfile(parent):
            return str(parent), path[len(str(parent)) + 1 :]
    return path, None


def _file_version(path: str) -> tuple[int, int]:
    status = os.stat(path)
    return status.st_size, status.st_mtime_ns


@functools.lru_cache(maxsize=8)
def _inner_archive_span(outer: str, member: str, size: int, modified_ns: int) -> tuple[int, int]:
    """Where the bytes of the zip `member`, stored uncompressed in the zip `outer`, start, and their length."""
    with zipfile.ZipFile(outer) as archive:
        info = archive.getinfo(member)
    if info.compress_type != zipfile.ZIP_STORED:
        raise SourceFileError(
            f"{outer}/{member}: a zip compressed inside {Path(outer).name}, which cannot be read in place: "
            f"extract it (e.g. `unzip {outer} '{member}'`) and run again"
        )
    with open(outer, "rb") as file:
        file.seek(info.header_offset)
        signature, name_length, extra_length = _LOCAL_HEADER.unpack(file.read(_LOCAL_HEADER.size))
    if signature != _LOCAL_HEADER_SIGNATURE:
        raise SourceFileError(f"{outer}: the member {member} is damaged (bad local header); download it again")
    return info.header_offset + _LOCAL_HEADER.size + name_length + extra_length, info.file_size


class _FileSpan(io.RawIOBase):
    """A read-only, seekable view of `size` bytes of a file from `start`: an archive stored inside a zip."""

    def __init__(self, path: str, start: int, size: int) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close(), with the zip read through it
        self._start = start
        self._size = size
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise OSError(f"seek to {base + offset}, before the start")
        self._position = base + offset
        return self._position

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        wanted = max(0, min(len(buffer), self._size - self._position))
        self._file.seek(self._start + self._position)
        view = memoryview(buffer)[:wanted]
        done = 0
        while done < wanted:
            count = self._file.readinto(view[done:])
            if not count:
                break
            done += count
        self._position += done
        return done

    def close(self) -> None:
        self._file.close()
        super().close()


class _InnerZipFile(zipfile.ZipFile):
    """A zip read from a span of another zip: closing it closes that span's file too."""

    def __init__(self, span: _FileSpan) -> None:
        self._span = span
        try:
            super().__init__(span)
        except BaseException:
            span.close()
            raise

    def close(self) -> None:
        super().close()
        self._span.close()


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


__all__ = ["ArchiveToExtract", "DataFolder", "FolderReader", "FolderReaders", "SourceFile", "SourceFolder"]
