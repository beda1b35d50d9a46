"""Run `celeb-datasets ARGS...` in this process, meeting other processes at a barrier where exports collide.

    python tests/export_with_barrier.py BARRIER_FOLDER PROCESSES export celebv_hq ... --slice 0/3

Used by tests/test_slices.py to force the interleaving a missing lock would allow, so that the test fails
without the lock instead of passing by luck: every process reaches `install_export` together (no lock is
held there, so this wait always ends), then, once inside the export folder's lock with the folder's
record read, waits up to one second for the others. With the lock, the others cannot arrive: each waits
its second and goes on, one after the other. Without it, all read the record before any writes it.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from celeb_datasets import hub
from celeb_datasets.cli import main


def meet(barrier: Path, stage: str, processes: int, timeout_sec: float) -> None:
    """Arrive at `stage` of the barrier, and wait until `processes` have, or `timeout_sec` has passed."""
    barrier.mkdir(parents=True, exist_ok=True)
    (barrier / f"{stage}.{os.getpid()}").touch()
    deadline = time.monotonic() + timeout_sec
    while len(list(barrier.glob(f"{stage}.*"))) < processes and time.monotonic() < deadline:
        time.sleep(0.01)


def with_barrier(barrier: Path, processes: int) -> None:
    install_export, install_shards = hub.install_export, hub.install_shards

    def installing(*args: Any, **kwargs: Any) -> Any:
        meet(barrier, "installing", processes, timeout_sec=120.0)
        return install_export(*args, **kwargs)

    def record_read(*args: Any, **kwargs: Any) -> Any:
        meet(barrier, "record-read", processes, timeout_sec=1.0)
        return install_shards(*args, **kwargs)

    hub.install_export = installing
    hub.install_shards = record_read


if __name__ == "__main__":
    with_barrier(Path(sys.argv[1]), int(sys.argv[2]))
    sys.exit(main(sys.argv[3:]))
