"""How many bytes streaming the labels of a `clips` export reads: does it fetch the videos?

    python benchmarks/bench_streaming_bytes.py [--shards 2 --rows-per-shard 150]

A `clips` export with realistic shards is written: rows with CelebV-HQ's labels and a video of random
bytes of realistic size (1 to 3 MB, stored uncompressed as exports store videos), so shards of about
300 MB. Then each way of streaming the labels only is iterated over every row, in a fresh process, and
the bytes it read from the files are counted (the process's `rchar`, bytes returned by read calls,
from /proc/self/io). Streaming from the Hub fetches the same byte ranges of the same files over HTTP.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY / "benchmarks"))
sys.path.insert(0, str(REPOSITORY / "tests"))

from measure import in_fresh_process  # noqa: E402

LABELS = ["clip_id", "emotion", "appearance"]


def bytes_read() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise OSError("no /proc/self/io")


def make_export(folder: Path, shards: int, rows_per_shard: int) -> Path:
    import pyarrow as pa

    from celeb_datasets.card import write_card
    from celeb_datasets.shards import row_bytes, write_splits
    from celebv_hq import CelebVHQ, celebv_hq_features, clips_table
    from celebv_hq_lib.annotations import read_annotation_file
    from celebv_hq_lib.sample import sample_annotation_file

    features = celebv_hq_features(with_video=True)
    base = read_annotation_file(sample_annotation_file())
    rng = random.Random(0)
    tables = []
    for index in range(shards * rows_per_shard):
        clip = base[index % len(base)]
        video = rng.randbytes(rng.randint(1_000_000, 3_000_000))
        extra = {"video": [{"bytes": video, "path": f"c{index}.mp4"}], "video_source": ["raw"]}
        tables.append(clips_table([clip], features, extra).set_column(0, "clip_id", [[f"{clip.clip_id}_{index}"]]))

    rows = pa.concat_tables(tables)
    sizes = row_bytes(rows)
    (folder / "clips").mkdir(parents=True)
    # An even share and room for one row more: the writer fills each shard, so this gives about `shards` shards.
    max_bytes = int(sizes.sum()) // shards + int(sizes.max())
    write_splits([("train", rows)], folder / "clips", features, max_bytes, None, ["train"])
    (folder / ".celeb_datasets_export.json").write_text('{"dataset": "celebv_hq"}\n')
    write_card(folder, CelebVHQ, "celebv_hq")
    return folder


def stream_labels(folder: str, how: str) -> tuple[int, int]:
    """Iterate every row's labels from an export folder or a Hub repo id; (rows, bytes read from files)."""
    import datasets

    datasets.config.USE_PARQUET_EXPORT = False  # the loopback Hub has no parquet-export service

    before = bytes_read()
    if how == "select_columns":
        stream = datasets.load_dataset(folder, "clips", split="train", streaming=True).select_columns(LABELS)
    elif how == "columns=":
        stream = datasets.load_dataset(folder, "clips", split="train", streaming=True, columns=LABELS)
    else:
        stream = datasets.load_dataset(folder, "clips", split="train", streaming=True)
    rows = sum(1 for _ in stream)
    return rows, bytes_read() - before


WAYS = (
    ("select_columns", "load_dataset(..., streaming=True).select_columns(labels)"),
    ("columns=", "load_dataset(..., streaming=True, columns=labels)"),
    ("all", "load_dataset(..., streaming=True), every column"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--rows-per-shard", type=int, default=150)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as work, _loopback_hub(Path(work)) as hub:
        folder = make_export(Path(work) / "export", arguments.shards, arguments.rows_per_shard)
        files = sorted((folder / "clips").glob("*.parquet"))
        total = sum(path.stat().st_size for path in files)
        print(f"export: {len(files)} shards, {total / 1e6:,.0f} MB")
        print(f"{'streaming the labels of clips':80} {'rows':>6} {'MB read':>9} {'of shards':>10}")
        for how, label in WAYS:
            _, _, (rows, read) = in_fresh_process(stream_labels, str(folder), how)
            print(f"{label + ', local folder (read)':80} {rows:6d} {read / 1e6:9,.1f} {read / total:10.1%}")
        from celeb_datasets.publish import publish

        publish(folder, "bench/celebv-hq", token=hub.token)  # private, as publish makes it
        os.environ["HF_TOKEN"] = hub.token  # for the streaming processes
        for how, label in WAYS:
            hub.requests.clear()
            _, _, (rows, _) = in_fresh_process(stream_labels, "bench/celebv-hq", how)
            served = sum(request.sent for request in hub.requests if "/resolve/" in request.path)
            print(f"{label + ', loopback Hub (served)':80} {rows:6d} {served / 1e6:9,.1f} {served / total:10.1%}")
    print("reproduce: python benchmarks/bench_streaming_bytes.py " + " ".join(sys.argv[1:]))


@contextlib.contextmanager
def _loopback_hub(work: Path) -> Iterator[Any]:
    """The tests' loopback Hub, with the environment that points datasets and huggingface_hub at it."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    os.environ.update(HF_ENDPOINT=f"http://127.0.0.1:{port}", HF_HUB_DISABLE_XET="1", HF_HOME=str(work / "hf"))
    os.environ.update(HF_HUB_DISABLE_PROGRESS_BARS="1", HF_DATASETS_DISABLE_PROGRESS_BARS="1")
    os.environ.pop("HF_TOKEN", None)
    from hub_server import FakeHub

    with FakeHub(port=port) as hub:
        yield hub


if __name__ == "__main__":
    main()
