"""File discovery under a download folder: by name, in folders or zip archives, read without extracting."""

from __future__ import annotations

import pickle
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from celeb_datasets.errors import CelebDatasetsError, SourceFileError
from celeba_dialog_lib.files import DataFolder, FolderReaders, SourceFile, SourceFolder


def write(path: Path, content: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def write_zip(path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


def test_a_file_is_found_by_name_in_any_subfolder(tmp_path: Path) -> None:
    write(tmp_path / "a" / "b" / "captions_hq.json", b"{}")

    found = DataFolder(tmp_path).find_file("captions_hq.json")

    assert found == SourceFile(str(tmp_path / "a" / "b" / "captions_hq.json"))
    assert found.read_text() == "{}"


def test_a_file_inside_a_zip_is_found_and_streamed_without_extracting(tmp_path: Path) -> None:
    write_zip(tmp_path / "text.zip", {"text/captions_hq.json": b'{"0.jpg": {}}'})

    found = DataFolder(tmp_path).find_file("captions_hq.json")

    assert found == SourceFile("text/captions_hq.json", str(tmp_path / "text.zip"))
    with found.open() as stream:
        assert stream.read(2) == b'{"'
        assert stream.read() == b'0.jpg": {}}'
    assert str(found) == f"{tmp_path / 'text.zip'}/text/captions_hq.json"
    assert list(tmp_path.iterdir()) == [tmp_path / "text.zip"]


def test_a_file_on_disk_wins_over_the_same_name_inside_an_archive(tmp_path: Path) -> None:
    write_zip(tmp_path / "a.zip", {"list_eval_partition.txt": b"zipped"})
    write(tmp_path / "deep" / "er" / "list_eval_partition.txt", b"on disk")

    assert DataFolder(tmp_path).find_file("list_eval_partition.txt").read_bytes() == b"on disk"


def test_the_shallowest_of_several_copies_wins_whatever_the_listing_order(tmp_path: Path) -> None:
    write(tmp_path / "a" / "b" / "mapping.txt", b"deep")
    write(tmp_path / "z" / "mapping.txt", b"shallow")

    assert DataFolder(tmp_path).find_file("mapping.txt").read_bytes() == b"shallow"


def test_a_folder_under_a_long_server_path_inside_an_archive_is_found_by_its_name(tmp_path: Path) -> None:
    members = {
        "mnt/lustre/share/user/CelebAMask-HQ-mask-color-palette/0.png": b"zero",
        "mnt/lustre/share/user/CelebAMask-HQ-mask-color-palette/12.png": b"twelve",
    }
    write_zip(tmp_path / "mask" / "CelebAMask-HQ-mask-color-palette.zip", members)

    folder = DataFolder(tmp_path).find_folder("CelebAMask-HQ-mask-color-palette")

    assert folder is not None
    assert folder.path == "mnt/lustre/share/user/CelebAMask-HQ-mask-color-palette"
    assert folder.name == "CelebAMask-HQ-mask-color-palette"
    assert folder.list_files() == ["0.png", "12.png"]
    assert folder.file("12.png").read_bytes() == b"twelve"


def test_an_archive_named_like_the_folder_counts_as_the_folder_when_it_holds_the_files_at_its_root(
    tmp_path: Path,
) -> None:
    write_zip(tmp_path / "image.zip", {"0.jpg": b"a", "1.jpg": b"b"})

    folder = DataFolder(tmp_path).find_folder("image")

    assert folder == SourceFolder("", str(tmp_path / "image.zip"))
    assert folder.name == "image"
    assert folder.list_files() == ["0.jpg", "1.jpg"]


def test_an_unzipped_folder_wins_over_its_archive(tmp_path: Path) -> None:
    write_zip(tmp_path / "image.zip", {"image/0.jpg": b"zipped"})
    write(tmp_path / "image" / "0.jpg", b"unzipped")

    folder = DataFolder(tmp_path).find_folder("image")

    assert folder == SourceFolder(str(tmp_path / "image"))
    with folder.open_reader() as reader:
        assert reader.read("0.jpg") == b"unzipped"


@pytest.mark.parametrize("zipped", [False, True], ids=["folder", "zip"])
def test_folder_listing_and_reading_are_the_same_zipped_or_not(tmp_path: Path, zipped: bool) -> None:
    members = {"anno/0/00000_hair.png": b"hair", "anno/0/00000_skin.png": b"skin", "anno/readme.txt": b"r"}
    if zipped:
        write_zip(tmp_path / "masks.zip", members)
    else:
        for name, content in members.items():
            write(tmp_path / name, content)

    folder = DataFolder(tmp_path).find_folder("anno")

    assert folder.list_files() == ["readme.txt"]
    assert folder.list_files(recursive=True) == ["0/00000_hair.png", "0/00000_skin.png", "readme.txt"]
    with folder.open_reader() as reader:
        assert reader.read("0/00000_skin.png") == b"skin"
        with pytest.raises(FileNotFoundError, match=re.escape("00001_skin.png")):
            reader.read("0/00001_skin.png")


def test_stored_bytes_come_back_unchanged_from_a_deflated_archive(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 1000
    write_zip(tmp_path / "image.zip", {"image/0.jpg": payload})

    with DataFolder(tmp_path).find_folder("image").open_reader() as reader:
        assert reader.read("0.jpg") == payload


def test_macos_metadata_in_archives_and_folders_is_ignored(tmp_path: Path) -> None:
    write_zip(tmp_path / "image.zip", {"image/0.jpg": b"a", "__MACOSX/image/._0.jpg": b"fork", "image/._1.jpg": b"f"})
    write(tmp_path / "__MACOSX" / "captions_hq.json")

    download = DataFolder(tmp_path)

    assert download.find_folder("image").list_files() == ["0.jpg"]
    assert download.find_file("captions_hq.json") is None
    assert download.find_file("._0.jpg") is None


def test_an_absent_name_gives_none(tmp_path: Path) -> None:
    write_zip(tmp_path / "image.zip", {"image/0.jpg": b"a"})

    download = DataFolder(tmp_path)

    assert download.find_file("captions_hq.json") is None
    assert download.find_folder("img_align_celeba") is None


def test_a_data_folder_that_does_not_exist_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(CelebDatasetsError, match="nowhere"):
        DataFolder(tmp_path / "nowhere")


def stored_zip_with_a_damaged_member(path: Path) -> Path:
    """A zip (stored, not compressed) whose member image/0.jpg had a byte changed after it was written."""
    write_zip(path, {"image/0.jpg": b"\xff\xd8" + bytes(range(256)) * 8 + b"\xff\xd9"}, zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    data[data.index(bytes(range(256)))] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def deflated_zip_with_a_damaged_member(path: Path) -> Path:
    write_zip(path, {"image/0.jpg": bytes(range(256)) * 64})
    data = bytearray(path.read_bytes())
    start = data.index(b"image/0.jpg") + len("image/0.jpg")
    data[start + 10 : start + 20] = b"\x00" * 10
    path.write_bytes(bytes(data))
    return path


def zip_cut_short(path: Path) -> Path:
    write_zip(path, {"image/0.jpg": b"a" * 1000, "image/1.jpg": b"b" * 1000})
    path.write_bytes(path.read_bytes()[:60])
    return path


def zip_with_a_damaged_list_of_files(path: Path) -> Path:
    write_zip(path, {"image/0.jpg": b"a"})
    data = path.read_bytes()
    directory = data.rindex(b"PK\x01\x02")
    path.write_bytes(data[:directory] + b"XX" + data[directory + 2 :])
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda path: write(path, b""), "image.zip: an empty file, not a zip archive; it should hold the folder image"),
        (
            lambda path: write(path, b"<html>503 Service Unavailable</html>"),
            "image.zip: not a zip archive (it starts with 3c 68 74 6d); it should hold the folder image",
        ),
        (zip_cut_short, "image.zip: a zip archive cut short (its end, the list of its files, is missing"),
        (zip_with_a_damaged_list_of_files, "image.zip: not a readable zip archive (Bad magic number for central"),
    ],
    ids=["empty", "html-page", "cut-short", "damaged-list-of-files"],
)
def test_a_damaged_archive_is_reported_as_such_not_as_absent(
    tmp_path: Path, make: Callable[[Path], Path], message: str
) -> None:
    make(tmp_path / "image.zip")

    with pytest.raises(SourceFileError, match=re.escape(message)) as error:
        DataFolder(tmp_path).find_folder("image")
    assert str(tmp_path / "image.zip") in str(error.value)
    assert "download it again" in str(error.value)


def test_a_name_not_found_while_an_archive_could_not_be_searched_is_an_error_naming_the_archive(
    tmp_path: Path,
) -> None:
    write(tmp_path / "text.zip", b"an interrupted download")
    write(tmp_path / "list_eval_partition.txt", b"000001.jpg 0\n")

    download = DataFolder(tmp_path)

    assert download.find_file("list_eval_partition.txt") is not None
    expected = (
        f"the file captions_hq.json was not found, and {tmp_path / 'text.zip'} could not be searched for it: "
        "not a zip archive (it starts with 61 6e 20 69); download it again"
    )
    with pytest.raises(SourceFileError, match=re.escape(expected)):
        download.find_file("captions_hq.json")


@pytest.mark.parametrize(
    "make", [stored_zip_with_a_damaged_member, deflated_zip_with_a_damaged_member], ids=["stored", "deflated"]
)
def test_a_member_failing_its_crc_or_decompression_is_an_error_naming_archive_and_member(
    tmp_path: Path, make: Callable[[Path], Path]
) -> None:
    archive = make(tmp_path / "image.zip")
    folder = DataFolder(tmp_path).find_folder("image")
    expected = rf"{re.escape(str(archive))}: the member image/0\.jpg is damaged \(.+\); download the archive again"

    with folder.open_reader() as reader, pytest.raises(SourceFileError, match=expected):
        reader.read("0.jpg")
    with pytest.raises(SourceFileError, match=expected):
        folder.file("0.jpg").read_bytes()


def test_a_folder_named_like_the_file_sought_is_an_error_not_an_absence(tmp_path: Path) -> None:
    (tmp_path / "text" / "captions_hq.json").mkdir(parents=True)

    with pytest.raises(SourceFileError, match=r"captions_hq\.json: a folder, where the file captions_hq\.json was"):
        DataFolder(tmp_path).find_file("captions_hq.json")


def test_reading_a_folder_named_like_an_image_is_an_error_naming_it(tmp_path: Path) -> None:
    write(tmp_path / "image" / "0.jpg", b"a")
    (tmp_path / "image" / "1.jpg").mkdir()

    folder = DataFolder(tmp_path).find_folder("image")

    assert folder.list_files() == ["0.jpg"]
    assert folder.list_folders() == ["1.jpg"]
    with folder.open_reader() as reader, pytest.raises(SourceFileError, match=r"1\.jpg: a folder, where a file"):
        reader.read("1.jpg")


def test_subfolders_are_listed_the_same_zipped_or_not(tmp_path: Path) -> None:
    write_zip(tmp_path / "anno.zip", {"anno/0/00000_hair.png": b"h", "anno/1/02000_skin.png": b"s", "anno/r": b""})

    assert DataFolder(tmp_path).find_folder("anno").list_folders() == ["0", "1"]


@pytest.mark.parametrize("zipped", [False, True], ids=["folder", "zip"])
def test_text_that_is_not_utf8_is_an_error_naming_file_line_and_byte(tmp_path: Path, zipped: bool) -> None:
    content = '{"0.jpg": "ok",\n "1.jpg": "caf\u00e9"}'.encode("latin-1")
    if zipped:
        write_zip(tmp_path / "text.zip", {"text/captions_hq.json": content})
    else:
        write(tmp_path / "text" / "captions_hq.json", content)

    found = DataFolder(tmp_path).find_file("captions_hq.json")

    with pytest.raises(SourceFileError, match=r"captions_hq\.json, line 2: not UTF-8 text \(byte 0xe9"):
        found.read_text()


def test_an_archive_rewritten_in_place_is_listed_afresh(tmp_path: Path) -> None:
    write_zip(tmp_path / "image.zip", {"image/0.jpg": b"a"})
    assert DataFolder(tmp_path).find_folder("image").list_files() == ["0.jpg"]

    write_zip(tmp_path / "image.zip", {"image/0.jpg": b"a", "image/1.jpg": b"b"})

    assert DataFolder(tmp_path).find_folder("image").list_files() == ["0.jpg", "1.jpg"]


def test_sources_survive_pickling_for_worker_processes(tmp_path: Path) -> None:
    folder = SourceFolder("image", str(tmp_path / "image.zip"))
    file = SourceFile("text/captions_hq.json", str(tmp_path / "text.zip"))

    assert pickle.loads(pickle.dumps(folder)) == folder
    assert pickle.loads(pickle.dumps(file)) == file


# ---------------------------------------------------------------------------------------------------
# Archives inside archives, archives to extract first, every copy of a folder


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = __import__("io").BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def drive_download(path: Path, inner_compression: int = zipfile.ZIP_STORED) -> Path:
    """A Google Drive folder download: a zip holding the folder, with `image.zip` inside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    inner = zip_bytes({"image/0.jpg": b"zero", "image/1.jpg": b"one" * 500})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("CelebA-Dialog/image.zip"), inner, compress_type=inner_compression)
        archive.writestr("CelebA-Dialog/text/captions_hq.json", b'{"0.jpg": {}}')
    return path


def test_a_zip_stored_inside_a_zip_is_searched_and_read_in_place(tmp_path: Path) -> None:
    drive = drive_download(tmp_path / "CelebA-Dialog-20240101T000000Z-001.zip")

    download = DataFolder(tmp_path)
    folder = download.find_folder("image")

    assert folder == SourceFolder("image", f"{drive}/CelebA-Dialog/image.zip")
    assert folder.list_files() == ["0.jpg", "1.jpg"]
    with folder.open_reader() as reader:
        assert reader.read("1.jpg") == b"one" * 500
    assert folder.file("0.jpg").read_bytes() == b"zero"
    assert download.find_file("captions_hq.json").read_text() == '{"0.jpg": {}}'
    assert download.archives_to_extract() == []
    assert list(tmp_path.iterdir()) == [drive]


def test_a_zip_compressed_inside_a_zip_is_to_extract_and_finding_its_folder_says_so(tmp_path: Path) -> None:
    drive = drive_download(tmp_path / "drive.zip", zipfile.ZIP_DEFLATED)
    download = DataFolder(tmp_path)

    (archive,) = download.archives_to_extract()

    assert (archive.path, archive.folder) == (f"{drive}/CelebA-Dialog/image.zip", "image")
    assert str(archive) == (
        f"{drive}/CelebA-Dialog/image.zip (a zip compressed inside drive.zip: extract it, e.g. "
        f"`unzip {drive} 'CelebA-Dialog/image.zip' -d {tmp_path}`)"
    )
    with pytest.raises(SourceFileError, match=r"image\.zip: a zip compressed inside drive\.zip, which cannot be read"):
        download.find_folder("image")
    assert download.find_folder("text") is not None


def test_7z_rar_and_tar_archives_are_to_extract_named_by_their_first_part(tmp_path: Path) -> None:
    for name in ("img_celeba.7z.001", "img_celeba.7z.002", "img_align_celeba_png.7z", "a.rar", "b.tar.gz", "c.txt"):
        write(tmp_path / "Img" / name)
    write_zip(tmp_path / "drive.zip", {"img_celeba.7z/img_celeba.7z.001": b"7z"})

    archives = DataFolder(tmp_path).archives_to_extract()

    assert [(Path(archive.path).name, archive.folder, archive.what) for archive in archives] == [
        ("a.rar", "a", "a RAR archive"),
        ("b.tar.gz", "b", "a tar archive"),
        ("img_align_celeba_png.7z", "img_align_celeba_png", "a 7z archive"),
        ("img_celeba.7z.001", "img_celeba", "a 7z archive"),
        ("img_celeba.7z.001", "img_celeba", "a 7z archive inside drive.zip"),
    ]
    assert archives[3].command == f"7z x {tmp_path / 'Img' / 'img_celeba.7z.001'} -o{tmp_path}"
    with pytest.raises(SourceFileError, match=r"a\.rar: a RAR archive, which cannot be read in place; it should hold"):
        DataFolder(tmp_path).find_folder("a")


def test_find_folders_gives_every_copy_best_first_whatever_the_case_of_their_names(tmp_path: Path) -> None:
    write(tmp_path / "Image" / "0.JPG")
    write(tmp_path / "deep" / "image" / "0.jpg")
    write_zip(tmp_path / "image.zip", {"image/0.jpg": b"a", "image/image/1.jpg": b"b"})
    drive_download(tmp_path / "drive.zip")

    folders = DataFolder(tmp_path).find_folders("image")

    assert folders == [
        SourceFolder(str(tmp_path / "deep" / "image")),
        SourceFolder(str(tmp_path / "Image")),
        SourceFolder("image", str(tmp_path / "image.zip")),
        SourceFolder("image/image", str(tmp_path / "image.zip")),
        SourceFolder("image", f"{tmp_path / 'drive.zip'}/CelebA-Dialog/image.zip"),
    ]
    assert folders[3].list_files() == ["1.jpg"]
    assert folders[2].subfolder("image") == folders[3]


def test_folder_readers_read_from_several_folders_and_close_them(tmp_path: Path) -> None:
    write(tmp_path / "image" / "0.jpg", b"disk")
    write_zip(tmp_path / "image.zip", {"image/0.jpg": b"zipped"})
    on_disk, zipped = DataFolder(tmp_path).find_folders("image")

    with FolderReaders() as readers:
        assert readers.read(on_disk, "0.jpg") == b"disk"
        assert readers.read(zipped, "0.jpg") == b"zipped"
        assert readers.read(zipped, "0.jpg") == b"zipped"
        with pytest.raises(FileNotFoundError):
            readers.read(zipped, "1.jpg")
