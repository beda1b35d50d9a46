"""Benchmark preparing CelebA-Dialog `hq`: images/s and MB/s, against the copy limit and `imagefolder`.

    python benchmarks/bench_celeba_dialog.py                        # 1,000, 2,000 and 4,000 images
    python benchmarks/bench_celeba_dialog.py --images 500 1000      # quicker
    python benchmarks/bench_celeba_dialog.py --media-check full     # ours decoding every image first

The download is generated once and cached under benchmarks/.cache/: 1024x1024 JPEGs (smooth colour
fields with mild noise, about the size of CelebA-HQ's) zipped as `image.zip`, with full label files.
Each measurement runs in a fresh process, so its peak RSS is that work's own:
- ours: `CelebADialog("hq").download_and_prepare()` into an empty cache (labels parsed and joined,
  each JPEG checked (`--media-check`: "fast" reads its structure, "full" decodes it), its bytes
  copied from the zip into self-contained Arrow shards);
- copy limit: read every JPEG from `image.zip` and write the bytes one after another into one file,
  no processing: the least any self-contained preparation must do;
- media check alone: `image_problem` (the check ours runs on each JPEG) timed by itself over every
  image, reading not counted, as a share of ours' time: the cost the check adds to preparing;
- imagefolder: `load_dataset("imagefolder")` on the unzipped images with a `metadata.jsonl` of the
  fine-grained labels and captions, the usual alternative; its shards hold paths only (not
  self-contained), and unzipping (not timed) is needed first.
MB are the JPEG bytes handled (10^6 bytes).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import io
import json
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY / "tests"))
sys.path.insert(0, str(REPOSITORY / "benchmarks"))
CACHE = Path(__file__).resolve().parent / ".cache" / "celeba_dialog"
IMAGE_SIZE = 1024

from measure import in_fresh_process  # noqa: E402


def generated_jpeg(seed: int) -> bytes:
    """A 1024x1024 JPEG about the size of a CelebA-HQ image (150-300 KB): smooth colours, mild noise."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    smooth = np.asarray(Image.fromarray(small).resize((IMAGE_SIZE, IMAGE_SIZE), Image.BICUBIC), dtype=np.int16)
    noisy = np.clip(smooth + rng.integers(-3, 4, size=smooth.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noisy).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def _write_jpeg(seed: int) -> Path:
    path = CACHE / "jpegs" / f"{seed}.jpg"
    if not path.exists():
        path.write_bytes(generated_jpeg(seed))
    return path


def prepare_download(count: int) -> Path:
    """The cached download of `count` images (generated the first time), with its unzipped twin for imagefolder."""
    from celeba_dialog_fixtures import make_large_hq_download

    root = CACHE / f"hq_{count}"
    if (root / "done").exists():
        return root
    (CACHE / "jpegs").mkdir(parents=True, exist_ok=True)
    print(f"generating {count:,} JPEGs of {IMAGE_SIZE}x{IMAGE_SIZE} (cached in {CACHE}) ...", flush=True)
    with concurrent.futures.ProcessPoolExecutor() as pool:
        jpegs = list(pool.map(_write_jpeg, range(count), chunksize=32))
    shutil.rmtree(root, ignore_errors=True)
    make_large_hq_download(root / "download", jpegs)
    _write_imagefolder(root / "download", root / "imagefolder")
    (root / "done").touch()
    return root


def _write_imagefolder(download: Path, folder: Path) -> None:
    """The images unzipped, with a metadata.jsonl of fine-grained labels and captions (imagefolder's form)."""
    from celeba_dialog_lib.parsers import parse_captions, parse_fine_grained

    folder.mkdir(parents=True)
    with zipfile.ZipFile(download / "image.zip") as archive:
        for member in archive.namelist():
            (folder / Path(member).name).write_bytes(archive.read(member))
    degrees = parse_fine_grained((download / "classification_label" / "combined_annotation_hq.txt").read_text()).degrees
    captions = parse_captions((download / "text" / "captions_hq.json").read_text())
    with open(folder / "metadata.jsonl", "w") as metadata:
        for path in sorted(folder.glob("*.jpg")):
            name = path.name
            row = {"file_name": name, "fine_grained": degrees.get(name), "caption": captions.get(name, (None,))[0]}
            metadata.write(json.dumps(row) + "\n")


def run_ours(download: str, cache_dir: str, media_check: str = "fast") -> int:
    from celeba_dialog import CelebADialog

    options = {} if media_check == "fast" else {"media_check": media_check}
    builder = CelebADialog(config_name="hq", data_dir=download, cache_dir=cache_dir, **options)
    builder.download_and_prepare()
    return sum(split.num_examples for split in builder.info.splits.values())


def run_copy_limit(download: str, cache_dir: str) -> int:
    count = 0
    with zipfile.ZipFile(Path(download) / "image.zip") as archive, open(Path(cache_dir) / "copy.bin", "wb") as out:
        for member in archive.namelist():
            out.write(archive.read(member))
            count += 1
    return count


def run_media_check(download: str, cache_dir: str, media_check: str = "fast") -> float:
    """Seconds spent in `image_problem` alone over every image of the download (reading not counted)."""
    from celeba_dialog_lib.images import image_problem

    spent = 0.0
    with zipfile.ZipFile(Path(download) / "image.zip") as archive:
        for member in archive.namelist():
            data = archive.read(member)
            start = time.perf_counter()
            problem = image_problem(data, full_decode=media_check == "full")
            spent += time.perf_counter() - start
            assert problem is None, (member, problem)
    return spent


def run_imagefolder(folder: str, cache_dir: str) -> int:
    import datasets

    dataset = datasets.load_dataset("imagefolder", data_dir=folder, cache_dir=cache_dir, split="train")
    return dataset.num_rows


def _measured(work: Callable[..., float], source: str, *options: str) -> tuple[float, float, float]:
    """Seconds, peak RSS (MB) and result of `work(source, empty cache, *options)` in a fresh process."""
    preload = ("datasets", "celeba_dialog") if work in (run_ours, run_imagefolder) else ()
    with tempfile.TemporaryDirectory(prefix="bench-celeba-dialog-") as cache_dir:
        return in_fresh_process(work, source, cache_dir, *options, preload=preload)


def _rate(count: int, megabytes: float, seconds: float) -> str:
    return f"{count / seconds:,.0f} img/s, {megabytes / seconds:,.0f} MB/s"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, nargs="+", default=[1000, 2000, 4000], help="image counts")
    parser.add_argument(
        "--media-check", choices=["fast", "full"], default="fast", help="the media_check option of ours"
    )
    arguments = parser.parse_args(argv)
    lines = [
        "| work | ours | media check alone (share of ours) | imagefolder (paths only) | copy limit "
        "| ours ÷ limit (time) | imagefolder ÷ ours (time) | peak RSS ours / imagefolder / copy |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    check = "" if arguments.media_check == "fast" else f" (media_check={arguments.media_check})"
    for count in arguments.images:
        root = prepare_download(count)
        download = root / "download"
        with zipfile.ZipFile(download / "image.zip") as archive:
            megabytes = sum(info.file_size for info in archive.infolist()) / 1e6
        copy_seconds, copy_rss, _ = _measured(run_copy_limit, str(download))
        ours_seconds, ours_rss, ours_rows = _measured(run_ours, str(download), arguments.media_check)
        _, _, check_seconds = _measured(run_media_check, str(download), arguments.media_check)
        folder_seconds, folder_rss, folder_rows = _measured(run_imagefolder, str(root / "imagefolder"))
        assert ours_rows == folder_rows == count, (ours_rows, folder_rows, count)
        lines.append(
            f"| prepare `hq`{check}, {count:,} 1024x1024 JPEGs ({megabytes:,.0f} MB, zipped) "
            f"| {_rate(count, megabytes, ours_seconds)} "
            f"| {check_seconds * 1e6 / count:,.0f} µs/img ({check_seconds / ours_seconds:.1%}) "
            f"| {_rate(count, megabytes, folder_seconds)} "
            f"| {_rate(count, megabytes, copy_seconds)} | {ours_seconds / copy_seconds:.2f}x "
            f"| {folder_seconds / ours_seconds:.2f}x | {ours_rss:,.0f} / {folder_rss:,.0f} / {copy_rss:,.0f} MB |"
        )
        print(f"measured {count:,} images", file=sys.stderr, flush=True)
    print("\n".join(lines))
    options = f" --media-check {arguments.media_check}" if arguments.media_check != "fast" else ""
    images = " ".join(map(str, arguments.images))
    print(f"\nReproduce: python benchmarks/bench_celeba_dialog.py --images {images}{options}")


if __name__ == "__main__":
    main()
