"""Benchmark the engines on CelebA-Dialog `hq`: exporting a prepared cache, and each engine end to end.

    python benchmarks/bench_engines.py                       # 2,000 images
    python benchmarks/bench_engines.py --images 200          # quicker
    python benchmarks/bench_engines.py --skip-ray            # without Ray

The download is bench_celeba_dialog.py's (1024x1024 JPEGs about CelebA-HQ's size, zipped, with full
label files), generated once under benchmarks/.cache/. Each measurement runs in a fresh process, so its
peak RSS is that work's own:
- export from the cache: `hub.export` of a prepared `hq` (the shard writer: rows read from the Arrow
  cache, written as Parquet shards of 500 MB). Its "before" is the same command on the commit before
  the engine seam (the writer that computed the shard count up front): run this script there.
- copy limit: reading the same Arrow cache and writing its bytes into one file, the least an export
  does;
- datasets engine: prepare into an empty cache (one process), then export;
- ray engine: a local Ray started on this machine's cores (its start counted; the time after it is
  printed too), one task per 1,000 images, rows streamed into the export (not on the commit before);
- the builder sent to a task: its pickle's size, and the time to unpickle it against making a new
  builder there (with the cache hash given, as a task would).
MB are the export's Parquet bytes (10^6 bytes).
"""

from __future__ import annotations

import argparse
import pickle
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY / "tests"))
sys.path.insert(0, str(REPOSITORY / "benchmarks"))

from bench_celeba_dialog import prepare_download  # noqa: E402
from measure import in_fresh_process  # noqa: E402


def export_from_cache(download: str, cache_dir: str, output: str) -> int:
    from celeb_datasets.hub import export
    from celeba_dialog import CelebADialog

    builder = CelebADialog(config_name="hq", data_dir=download, cache_dir=cache_dir)
    exported = export(builder, output)
    return sum(split.file_bytes for split in exported.splits)


def copy_limit(download: str, cache_dir: str, output: str) -> int:
    from celeba_dialog import CelebADialog

    builder = CelebADialog(config_name="hq", data_dir=download, cache_dir=cache_dir)
    written = 0
    with open(Path(output) / "copy.bin", "wb") as out:
        for split in builder.info.splits:
            table = builder.as_dataset(split=split).data.table
            for batch in table.to_batches():
                for buffer in (buffer for column in batch.columns for buffer in column.buffers() if buffer):
                    written += out.write(buffer)
    return written


def datasets_engine(download: str, cache_dir: str, output: str) -> int:
    """What the datasets engine does (prepare, then export), in calls that the commit before it has too."""
    from celeb_datasets.hub import export
    from celeba_dialog import CelebADialog

    builder = CelebADialog(config_name="hq", data_dir=download, cache_dir=cache_dir)
    builder.download_and_prepare()
    exported = export(builder, output)
    return sum(split.file_bytes for split in exported.splits)


def ray_engine(download: str, cache_dir: str, output: str) -> int:
    import ray

    from celeb_datasets.engines import RayEngine, RaySettings
    from celeba_dialog import CelebADialog

    ray.init(include_dashboard=False, log_to_driver=False)
    builder = CelebADialog(config_name="hq", data_dir=download, cache_dir=cache_dir)
    start = time.perf_counter()
    exported = RayEngine().export(builder, Path(output), RaySettings())
    print(f"  (ray engine: {time.perf_counter() - start:,.1f} s of it after Ray started)", flush=True)
    return sum(split.file_bytes for split in exported.splits)


def builder_to_task(download: str, cache_dir: str) -> tuple[int, float, float]:
    """The pickled builder's bytes, seconds to unpickle it, seconds to make a new one (hash given)."""
    from celeba_dialog import CelebADialog

    builder = CelebADialog(config_name="hq", data_dir=download, cache_dir=cache_dir)
    data = pickle.dumps(builder)
    start = time.perf_counter()
    for _ in range(100):
        pickle.loads(data)
    unpickle = (time.perf_counter() - start) / 100
    start = time.perf_counter()
    for _ in range(20):
        CelebADialog(config_name="hq", data_dir=download, cache_dir=cache_dir, hash=builder.hash)
    rebuild = (time.perf_counter() - start) / 20
    return len(data), unpickle, rebuild


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000, help="images in the download")
    parser.add_argument("--skip-ray", action="store_true", help="leave the Ray engine out")
    arguments = parser.parse_args(argv)
    download = str(prepare_download(arguments.images))
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-engines-") as work:
        cache, folder = Path(work) / "cache", Path(work)

        def fresh(name: str) -> str:
            path = folder / name
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir()
            return str(path)

        seconds, memory, nbytes = in_fresh_process(datasets_engine, download, str(cache), fresh("datasets"))
        rows.append(("datasets engine: prepare (1 process) + export", seconds, memory, nbytes))
        seconds, memory, nbytes = in_fresh_process(export_from_cache, download, str(cache), fresh("again"))
        rows.append(("export from the prepared cache (the shard writer)", seconds, memory, nbytes))
        seconds, memory, copied = in_fresh_process(copy_limit, download, str(cache), fresh("copy"))
        rows.append(("copy limit: the cache's Arrow buffers into one file", seconds, memory, copied))
        if not arguments.skip_ray:
            seconds, memory, nbytes = in_fresh_process(ray_engine, download, str(cache), fresh("ray"))
            rows.append(("ray engine (a local Ray started) + export", seconds, memory, nbytes))
        size, unpickle, rebuild = builder_to_task(download, str(cache))
    print(f"\nCelebA-Dialog hq, {arguments.images:,} images")
    print(f"{'work':58} {'seconds':>8} {'MB/s':>8} {'peak MB':>8} {'vs limit':>9}")
    limit = rows[2][1]
    for name, seconds, memory, nbytes in rows:
        print(f"{name:58} {seconds:8.2f} {nbytes / 1e6 / seconds:8.1f} {memory:8.0f} {seconds / limit:8.1f}x")
    print(
        f"builder sent to a task: {size:,} bytes pickled; unpickling {unpickle * 1e3:.2f} ms, "
        f"making a new one {rebuild * 1e3:.2f} ms"
    )
    print(f"reproduce: python benchmarks/bench_engines.py --images {arguments.images}")


if __name__ == "__main__":
    main()
