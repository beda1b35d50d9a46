"""Run one piece of benchmark work in a fresh process and report its seconds and its own peak memory."""

from __future__ import annotations

import concurrent.futures
import importlib
import multiprocessing
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

Result = TypeVar("Result")


def in_fresh_process(
    work: Callable[..., Result], *args: Any, preload: tuple[str, ...] = ("datasets",)
) -> tuple[float, float, Result]:
    """Seconds, peak resident memory (MB) and the return value of `work(*args)` in a new process.

    `work` must be a module-level function (it is pickled into a spawned interpreter). The modules in
    `preload` are imported before the clock starts (their memory still counts): pass `()` for a
    baseline that needs none of them.
    """
    # Set here, so the child has them before it imports anything: a spawned child first re-imports the
    # main script, which may import `datasets`, and `datasets` reads them at import.
    os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    os.environ["DATASETS_VERBOSITY"] = "error"
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_timed, work, preload, *args).result()


def _timed(work: Callable[..., Result], preload: tuple[str, ...], *args: Any) -> tuple[float, float, Result]:
    for module in preload:
        importlib.import_module(module)
    start = time.perf_counter()
    result = work(*args)
    seconds = time.perf_counter() - start
    return seconds, peak_memory_mb(), result


def peak_memory_mb() -> float:
    """This process's peak resident memory in MB.

    VmHWM starts afresh when a process execs; ru_maxrss would carry the parent's peak into a spawned
    child (it survives fork and exec), so it is only the fallback.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def best_of(
    runs: int, work: Callable[..., Result], *args: Any, preload: tuple[str, ...] = ("datasets",)
) -> tuple[float, float, Result]:
    """The fastest of `runs` fresh-process runs (the one least disturbed by the rest of the machine)."""
    return min((in_fresh_process(work, *args, preload=preload) for _ in range(runs)), key=lambda run: run[0])
