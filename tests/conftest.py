"""Test set-up shared by every test module.

`datasets` and `huggingface_hub` read their endpoint and switches when they are imported, so the
environment for the loopback Hub test server is set here, before any test module imports them.
"""

import os
import socket
import tempfile


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


HUB_PORT = _free_loopback_port()
os.environ["HF_ENDPOINT"] = f"http://127.0.0.1:{HUB_PORT}"
# The loopback server speaks plain Git LFS, not Xet storage.
os.environ["HF_HUB_DISABLE_XET"] = "1"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
# Never read or write the developer's own token and caches.
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="celeb-datasets-hf-home-")
os.environ.pop("HF_TOKEN", None)
os.environ.pop("HUGGING_FACE_HUB_TOKEN", None)
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from celebv_hq_fixtures import prepared_builder  # noqa: E402
from hub_server import hub_server, hub_token  # noqa: E402, F401

from celeb_datasets.hub import export  # noqa: E402
from celebv_hq import CelebVHQ  # noqa: E402


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CelebVHQ]:
    """Both CelebV-HQ configs prepared from the bundled sample (with tiny processed clips), per module."""
    folder = tmp_path_factory.mktemp("built")
    return {config: prepared_builder(folder, config) for config in ("annotations", "clips")}


@pytest.fixture(scope="module")
def export_dir(built: dict[str, CelebVHQ], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One export folder holding both CelebV-HQ configs."""
    folder = tmp_path_factory.mktemp("export") / "celebv_hq"
    for builder in built.values():
        export(builder, folder)
    return folder
