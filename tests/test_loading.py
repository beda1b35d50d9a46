"""`load_dataset` on an export folder and on a published repo gives the builder's rows; streaming subsets."""

from __future__ import annotations

import io
from pathlib import Path

import av
import datasets
import pytest
from celebv_hq_fixtures import unique_repo_id
from datasets.distributed import split_dataset_by_node
from hub_server import FakeHub
from huggingface_hub import HfApi
from huggingface_hub.errors import RepositoryNotFoundError

from celeb_datasets.errors import CelebDatasetsError
from celeb_datasets.hub import export
from celeb_datasets.publish import publish
from celebv_hq import CelebVHQ
from celebv_hq_lib.decode import decode_frames
from celebv_hq_lib.sample import read_frame_index

# The Hub's parquet-export service does not exist on the loopback server.
datasets.config.USE_PARQUET_EXPORT = False


@pytest.fixture(scope="module")
def sharded_export_dir(built: dict[str, CelebVHQ], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`clips` in several small shards, so that streams have several shards to split."""
    folder = tmp_path_factory.mktemp("sharded") / "celebv_hq"
    export(built["clips"], folder, max_shard_size=4000)
    return folder


@pytest.fixture(scope="module")
def published_repo(hub_server: FakeHub, export_dir: Path) -> str:
    repo_id = unique_repo_id("loading")
    publish(export_dir, repo_id, token=hub_server.token)
    return repo_id


@pytest.mark.parametrize("config", ["annotations", "clips"])
def test_load_dataset_of_export_folder_equals_the_builders_rows_and_features(
    built: dict[str, CelebVHQ], export_dir: Path, config: str
) -> None:
    expected = built[config].as_dataset(split="train")
    loaded = datasets.load_dataset(str(export_dir), config, split="train")
    assert loaded.features == expected.features
    assert loaded.to_list() == expected.to_list()
    streamed = datasets.load_dataset(str(export_dir), config, split="train", streaming=True)
    assert streamed.features == expected.features
    assert list(streamed) == expected.to_list()


def test_load_dataset_of_export_folder_defaults_to_annotations(export_dir: Path) -> None:
    assert "video" not in datasets.load_dataset(str(export_dir), split="train").features


@pytest.mark.parametrize("config", ["annotations", "clips"])
def test_load_dataset_of_published_repo_equals_the_builders_rows_and_features(
    built: dict[str, CelebVHQ], published_repo: str, hub_token: str, config: str
) -> None:
    expected = built[config].as_dataset(split="train")
    loaded = datasets.load_dataset(published_repo, config, split="train", token=hub_token)
    assert loaded.features == expected.features
    assert loaded.to_list() == expected.to_list()
    streamed = datasets.load_dataset(published_repo, config, split="train", token=hub_token, streaming=True)
    assert streamed.features == expected.features
    assert list(streamed) == expected.to_list()


def test_published_private_repo_needs_the_token(published_repo: str) -> None:
    # Asked through the API: load_dataset would fall back on its local cache of the earlier loads.
    with pytest.raises(RepositoryNotFoundError):
        HfApi(token=False).list_repo_files(published_repo, repo_type="dataset")


# ---------------------------------------------------------------------------------------------------
# Streaming subsets (the examples of the README and the card)


def _stream(folder: Path, config: str = "annotations") -> datasets.IterableDataset:
    return datasets.load_dataset(str(folder), config, split="train", streaming=True)


def test_stream_a_column_subset(built: dict[str, CelebVHQ], export_dir: Path) -> None:
    rows = list(_stream(export_dir, "clips").select_columns(["clip_id", "emotion", "appearance"]))
    expected = built["clips"].as_dataset(split="train").select_columns(["clip_id", "emotion", "appearance"])
    assert rows == expected.to_list()


def test_stream_only_multi_emotion_clips(built: dict[str, CelebVHQ], export_dir: Path) -> None:
    multi = [row["clip_id"] for row in _stream(export_dir).filter(lambda row: row["multi_emotion"])]
    expected = [row["clip_id"] for row in built["annotations"].as_dataset(split="train") if row["multi_emotion"]]
    assert multi == expected
    assert multi  # the sample holds multi-emotion clips


def test_stream_only_clips_with_eyeglasses(built: dict[str, CelebVHQ], export_dir: Path) -> None:
    with_glasses = [row["clip_id"] for row in _stream(export_dir).filter(lambda row: row["appearance"]["eyeglasses"])]
    rows = built["annotations"].as_dataset(split="train")
    assert with_glasses == [row["clip_id"] for row in rows if row["appearance"]["eyeglasses"]]
    assert 0 < len(with_glasses) < len(rows)


def test_stream_take_and_skip_partition_the_rows(built: dict[str, CelebVHQ], export_dir: Path) -> None:
    ids = [row["clip_id"] for row in built["annotations"].as_dataset(split="train")]
    stream = _stream(export_dir)
    assert [row["clip_id"] for row in stream.take(2)] == ids[:2]
    assert [row["clip_id"] for row in stream.skip(2)] == ids[2:]


@pytest.mark.parametrize("world_size", [2, 3, 4])
@pytest.mark.parametrize("layout", ["one shard", "several shards"])
def test_split_dataset_by_node_ranks_together_see_every_row_exactly_once(
    export_dir: Path, sharded_export_dir: Path, world_size: int, layout: str
) -> None:
    folder = export_dir if layout == "one shard" else sharded_export_dir
    stream = _stream(folder, "clips").select_columns(["clip_id"])
    everything = [row["clip_id"] for row in stream]
    seen = []
    for rank in range(world_size):
        seen += [row["clip_id"] for row in split_dataset_by_node(stream, rank=rank, world_size=world_size)]
    assert sorted(seen) == sorted(everything)
    assert len(everything) == 6


# ---------------------------------------------------------------------------------------------------
# Video rows decode


def test_video_rows_are_undecoded_mp4_bytes_that_pyav_reads(export_dir: Path) -> None:
    row = next(iter(_stream(export_dir, "clips")))
    assert set(row["video"]) == {"bytes", "path"}
    assert row["video"]["path"] == f"{row['clip_id']}.mp4"
    with av.open(io.BytesIO(row["video"]["bytes"])) as container:
        frames = [frame.to_ndarray(format="gray") for frame in container.decode(video=0)]
    # The test clips draw their frame index: the first frames are frames 0, 1, 2.
    assert [read_frame_index(frame) for frame in frames[:3]] == [0, 1, 2]


def test_decode_frames_gives_rgb_arrays_in_order(export_dir: Path) -> None:
    row = next(iter(_stream(export_dir, "clips")))
    frames = decode_frames(row["video"])
    assert frames.shape == (round(row["duration_sec"] * 5), 512, 512, 3)  # the test clips: 5 frames a second
    assert frames.dtype.name == "uint8"
    # The test clips draw their frame index (celebv_hq_lib.sample): read it from each frame's luma.
    luma = frames.astype(float) @ [0.299, 0.587, 0.114]
    assert [read_frame_index(frame) for frame in luma] == list(range(len(frames)))
    assert decode_frames(row["video"], max_frames=2).shape[0] == 2
    assert decode_frames(row["video"]["bytes"]).shape == frames.shape


def test_decode_frames_of_a_row_without_bytes_or_with_broken_bytes_is_a_clear_error() -> None:
    with pytest.raises(CelebDatasetsError, match=r"a\.mp4: the row holds no bytes"):
        decode_frames({"bytes": None, "path": "a.mp4"})
    with pytest.raises(CelebDatasetsError, match=r"b\.mp4: cannot be decoded"):
        decode_frames({"bytes": b"not a video", "path": "b.mp4"})


def test_torchcodec_decodes_after_cast_column_where_installed(export_dir: Path) -> None:
    pytest.importorskip("torchcodec")
    loaded = datasets.load_dataset(str(export_dir), "clips", split="train").cast_column("video", datasets.Video())
    decoder = loaded[0]["video"]
    assert decoder.metadata.num_frames == round(loaded[0]["duration_sec"] * 5)


def test_streaming_labels_with_columns_gives_those_columns_only(export_dir: Path) -> None:
    # docs/export-and-publish.md: columns= makes the Parquet reader skip the video bytes (select_columns reads
    # them first).
    labels = ["clip_id", "emotion"]
    stream = datasets.load_dataset(str(export_dir), "clips", split="train", streaming=True, columns=labels)
    rows = list(stream)
    assert len(rows) == 6 and all(set(row) == {"clip_id", "emotion"} for row in rows)
