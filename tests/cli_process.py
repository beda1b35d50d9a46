"""Running the command line in a process of its own, as a user does: its own logging and stderr, and file
permissions that apply (`permissions_apply`) even when the tests run as root."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def run_command(
    arguments: list[str], prefix: list[str] | None = None, environment: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`celeb-datasets ARGUMENTS` in a process of its own, started through `prefix` (a wrapper command), with
    `environment` added to this process's."""
    environment = {**os.environ, **(environment or {}), "PYTHONPATH": str(REPO_ROOT)}
    prefix = prefix or []
    command = [*prefix, sys.executable, "-m", "celeb_datasets.cli", *arguments]
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300, check=False)


def permissions_apply() -> list[str]:
    """A wrapper under which file permissions apply to the tests' commands: none for a user; for root, setpriv
    without the capabilities that let root write anywhere (skipped where that cannot be done)."""
    if os.geteuid() != 0:
        return []
    wrapper = [
        "setpriv",
        "--bounding-set",
        "-dac_override,-dac_read_search",
        "--inh-caps",
        "-dac_override,-dac_read_search",
    ]
    if shutil.which("setpriv") is None or subprocess.run([*wrapper, "true"], check=False).returncode != 0:
        pytest.skip("running as root, and setpriv cannot drop root's permission override here")
    return wrapper
