"""Worker processes that end with the build that forked them.

`datasets` forks worker processes for `num_proc` (and a manager process for its progress queue). When
the build's process is killed, nothing tells them: they would go on cutting video, or idle forever.
`end_with_build` makes a worker watch the build's process through the operating system's own handles:

- a pidfd of the build's process (Linux 5.3+), which becomes readable when that process exits: the
  worker then ends the build's other forked processes through pidfds opened while they were known to
  be the build's children, and exits. A pidfd names one process for as long as it is held, so a PID
  reused by an unrelated process can never be signalled.
- where pidfds are not available, the parent-death signal (`prctl(PR_SET_PDEATHSIG)`): the kernel kills
  the worker when its parent exits (the other forked processes are then left to end on their own).

Only a process whose parent is the build's process is watched: a process that was not forked by the
build (a Ray worker running the builder's code, say) is never touched.

`leaving_signals_to_the_build` also leaves Ctrl-C to the build's process: a terminal sends SIGINT to
every process of the command, and a worker interrupted mid-item would print a traceback of its own.
The build's process alone is interrupted; datasets then ends its workers (SIGTERM, their default).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_watching = False
# The process building while `leaving_signals_to_the_build` is active (a forked copy keeps the value).
_building: int | None = None


@contextlib.contextmanager
def leaving_signals_to_the_build() -> Iterator[None]:
    """While the block runs, a process this one forks (a worker of the build) ignores SIGINT and takes
    SIGTERM's default action: the build's process handles both and ends its workers itself."""
    global _building
    outer, _building = _building, os.getpid()
    try:
        yield
    finally:
        _building = outer


def _in_a_forked_child() -> None:
    if _building is not None and os.getppid() == _building:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_in_a_forked_child)


def end_with_build(build_pid: int) -> None:
    """In a process forked by the build `build_pid`, end this process (and the build's other forked
    processes) when the build's process ends. Does nothing elsewhere, or when already watching."""
    global _watching
    if _watching or os.getpid() == build_pid or os.getppid() != build_pid:
        return
    _watching = True
    try:
        build = os.pidfd_open(build_pid)
    except (AttributeError, OSError):
        _set_parent_death_signal()
        return
    siblings = _sibling_handles(build_pid)
    if os.getppid() != build_pid:  # the build ended while we were looking
        os._exit(1)
    threading.Thread(target=_watch, args=(build, siblings), name="end-with-build", daemon=True).start()


def _watch(build: int, siblings: list[tuple[int, int]]) -> None:
    _name_this_thread(_WATCHER_NAME)
    poller = select.poll()
    poller.register(build, select.POLLIN)
    poller.poll()  # returns when the build's process has exited
    # Every watching worker runs this at once, and they end each other: the processes that watch nothing
    # (datasets' queue manager, a worker not started yet) go first, or two workers ending each other
    # first could leave them running.
    for _, sibling in sorted(siblings, key=lambda handle: _is_watching(handle[0])):
        with contextlib.suppress(OSError):
            signal.pidfd_send_signal(sibling, signal.SIGKILL)
    os._exit(1)


def _sibling_handles(build_pid: int) -> list[tuple[int, int]]:
    """(pid, pidfd) of the build's other forked processes (its children running this same program)."""
    handles = []
    try:
        own_command = Path("/proc/self/cmdline").read_bytes()
        tasks = Path(f"/proc/{build_pid}/task").iterdir()
        children = {int(pid) for task in tasks for pid in (task / "children").read_text().split()}
    except (OSError, ValueError):
        return []
    for pid in sorted(children - {os.getpid()}):
        try:
            handle = os.pidfd_open(pid)
        except OSError:
            continue  # already gone
        # Checked after the handle is held: it names this very process from now on.
        if _parent_of(pid) == build_pid and _command_of(pid) == own_command:
            handles.append((pid, handle))
        else:
            os.close(handle)
    return handles


# The name of the watching thread, as the operating system shows it (/proc/PID/task/TID/comm).
_WATCHER_NAME = "end-with-build"
_PR_SET_NAME = 15


def _name_this_thread(name: str) -> None:
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)


def _is_watching(pid: int) -> bool:
    """Whether process `pid` runs a watching thread (it then ends itself when the build ends)."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
        return any((task / "comm").read_text().strip() == _WATCHER_NAME[:15] for task in tasks)
    except OSError:
        return False


def _parent_of(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _command_of(pid: int) -> bytes | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None


def _set_parent_death_signal() -> None:
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
