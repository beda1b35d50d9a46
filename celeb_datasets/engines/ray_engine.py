"""The Ray engine: a config's work items made into rows on every core of a Ray cluster, one task each.

    celeb-datasets export celebv_hq --config clips --data-dir D --output E --engine ray [--ray-address ADDR]

The driver plans the build with the builder's own `_split_generators` (the sources, the slice, each
split's work items: see celeb_datasets.engines.work). It then runs one Ray task per work item, the
costliest first (CelebV-HQ's items name their modelled cost), each making that item's rows with the
builder's own `_generate_tables` (the same cutting, checks, downloads with `fetch=True` and skip reasons)
and sending them back with its skip lines. The driver streams the rows into the shards every engine
writes (celeb_datasets.shards) in the plan's order, whatever order they come in (early results wait,
in memory or beside the shards: celeb_datasets.engines.reorder), merges the skip lines into the skip
report, checks that every item the sources name is a row or a skip line, and writes the card: the same
export, byte for byte, as the datasets engine gives for the same build.

Configs served: every config whose builder gives its work as items, which is every config of both
datasets: CelebV-HQ `clips` (a task per work item of a YouTube video: what a cluster is for), CelebV-HQ
`annotations` (a task per 10,000 clips' labels: it works, but a single process is as fast), and
CelebA-Dialog's `hq`, `hq_masks`, `hq_labels`, `standard` and `standard_labels` (a task per 1,000
images, all three splits).

Faults. A task whose worker dies (killed, out of memory, a lost node) or that raises an error other
than the package's own is run again, TASK_RETRIES times; only the result of the attempt that finishes
is used, so a killed attempt leaves nothing behind. The package's own errors (`on_missing="error"`) stop
the export as they were raised. The cluster is waited for at most `ray_timeout_sec` (30 s): to connect,
and to answer again when it stops answering mid-export; then the export stops with one ClusterError
naming the address, and nothing is installed into the export folder. Tasks in flight are at most twice
the cluster's CPUs, so memory stays bounded. The data folder must be readable at the same path on every
node (or, for CelebV-HQ, use `fetch=True`, which downloads each video on the node that cuts it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import logging
import os
import pickle
import socket
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from celeb_datasets.builder import CelebBuilder
from celeb_datasets.card import ExportedConfig
from celeb_datasets.engines.base import EngineSettings, check_builds_items
from celeb_datasets.engines.work import BuildPlan, ItemRows, costliest_first, export_work_items, item_rows
from celeb_datasets.errors import CelebDatasetsError, ClusterError, OptionError
from celeb_datasets.options import option

# A task whose worker dies (out of memory, a lost node), or that raises an unexpected error, is run again
# this many times: enough for a passing fault, and an item that crashes its decoder every time ends.
TASK_RETRIES = 3
# How often the driver checks, while it waits for results, that the cluster still answers.
PROBE_INTERVAL_SEC = 2.0


@dataclasses.dataclass(frozen=True)
class RaySettings(EngineSettings):
    """The Ray engine's settings: the cluster, how long to wait for it, and those of every engine."""

    ray_address: str | None = option(
        None,
        "the Ray cluster to run on (none: the cluster of RAY_ADDRESS, else a local Ray on this machine's cores)",
        defines_rows=False,
    )
    ray_timeout_sec: float = option(
        30.0,
        "how long to wait for the Ray cluster: to connect, and to answer again when it stops answering mid-export "
        "(then the export stops and installs nothing)",
        defines_rows=False,
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.ray_timeout_sec < float("inf"):
            raise OptionError(
                f"option ray_timeout_sec: expected a positive number of seconds, found {self.ray_timeout_sec}"
            )


class RayEngine:
    """Makes a config's rows on a Ray cluster, one task per work item, and writes the export (module docstring)."""

    name = "ray"
    description = (
        "make the rows on a Ray cluster, a task per work item, and write the export directly "
        "(pip install 'celeb-datasets[ray]')"
    )
    settings_class = RaySettings

    def export(self, builder: CelebBuilder, export_dir: Path, settings: RaySettings) -> ExportedConfig:
        """Build the builder's config (or its slice) on the cluster and export it; what was exported."""
        check_builds_items(builder, self.name)
        ray = _import_ray()
        run = functools.partial(_run_on_ray, ray, settings, Path(export_dir))
        return export_work_items(builder, export_dir, settings.max_shard_bytes, run)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise OptionError("--engine ray needs Ray: pip install 'celeb-datasets[ray]'") from None
    return ray


def _run_on_ray(
    ray: Any, settings: RaySettings, export_dir: Path, builder: CelebBuilder, plan: BuildPlan
) -> Iterator[tuple[int, ItemRows]]:
    """A runner (celeb_datasets.engines.work): one Ray task per work item, costliest first; each result with
    its position in the plan, as the tasks finish."""
    items = plan.items()
    if not items:
        return
    cluster = connect(ray, settings, export_dir)
    # Every task gets the builder and the splits' shared gen_kwargs (a few kilobytes, stored once); each its item.
    splits = tuple(dataclasses.replace(split, items=()) for split in plan.splits)
    shared = dataclasses.replace(plan, splits=splits, expected_items=None)
    builder_ref, plan_ref = ray.put(pickle.dumps(builder)), ray.put(pickle.dumps(shared))
    task = ray.remote(_item_task).options(num_cpus=1, max_retries=TASK_RETRIES, retry_exceptions=True)
    waiting = deque(costliest_first(plan))
    in_flight: dict[Any, int] = {}
    finished = False
    try:
        while waiting or in_flight:
            limit = cluster.task_limit()
            while waiting and len(in_flight) < limit:
                position = waiting.popleft()
                split, item = items[position]
                in_flight[task.remote(builder_ref, plan_ref, split, pickle.dumps(item))] = position
            done, _ = ray.wait(list(in_flight), num_returns=1, timeout=PROBE_INTERVAL_SEC)
            cluster.check()
            if done:  # and every other result ready by now
                done, _ = ray.wait(list(in_flight), num_returns=len(in_flight), timeout=0)
            for reference in done:
                position = in_flight.pop(reference)
                yield position, _result(ray, cluster, reference, *items[position])
        finished = True
    finally:
        if not finished and not cluster.lost:
            for reference in in_flight:  # the export stopped: free the cluster's cores
                with contextlib.suppress(Exception):
                    ray.cancel(reference, force=True)


def _item_task(builder: bytes, plan: bytes, split: int, item: bytes) -> dict[str, Any]:
    """A Ray task: one work item's rows (as Arrow IPC bytes) and skip lines, made by the builder's own code."""
    try:
        made = item_rows(pickle.loads(builder), pickle.loads(plan), split, pickle.loads(item))
    except CelebDatasetsError as error:
        # Sent back as a result: Ray would wrap it in its own exception (and run it again).
        return {"rows": b"", "skips": (), "error": pickle.dumps(error)}
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, made.rows.schema) as stream:
        stream.write_table(made.rows)
    return {"rows": sink.getvalue(), "skips": made.skips, "error": b""}


def _result(ray: Any, cluster: _Cluster, reference: Any, split: int, item: Any) -> ItemRows:
    """The rows of a finished task; the package's error it sent back raised, a failed task an error naming it."""
    try:
        result = ray.get(reference, timeout=cluster.timeout_sec)
    except ray.exceptions.RayTaskError as error:  # it raised in every attempt
        cause = error.cause if error.cause is not None else error
        raise CelebDatasetsError(
            f"{_item_name(item)}: its Ray task failed {TASK_RETRIES + 1} times, the last with "
            f"{type(cause).__name__}: {_first_line(cause)}; nothing was installed into {cluster.export_dir}"
        ) from None
    except ray.exceptions.RayError as error:  # its worker or node died in every attempt, or the cluster went
        cluster.check(now=True)
        raise CelebDatasetsError(
            f"{_item_name(item)}: its Ray task could not finish ({type(error).__name__}: {_first_line(error)}); "
            f"nothing was installed into {cluster.export_dir}"
        ) from None
    if result["error"]:
        raise pickle.loads(result["error"])
    rows = pa.ipc.open_stream(io.BytesIO(result["rows"])).read_all()
    return ItemRows(split, rows, tuple(tuple(line) for line in result["skips"]))


def _item_name(item: Any) -> str:
    return str(getattr(item, "name", None) or "a work item")


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""


# ---------------------------------------------------------------------------------------------------
# The cluster: connecting within the wait, and noticing when it stops answering.


@dataclasses.dataclass
class _Cluster:
    """The Ray cluster an export runs on: how it is named to the user, where its head answers, and since
    when it has been silent. `check` raises ClusterError once it has not answered for `timeout_sec`."""

    shown: str
    head: tuple[str, int] | None
    timeout_sec: float
    export_dir: Path
    silent_since: float | None = None
    last_probe: float = 0.0
    lost: bool = False
    cpus: float = 1.0
    cpus_counted: float = -float("inf")
    counting: threading.Thread | None = None

    def check(self, now: bool = False) -> None:
        """Probe the head (every PROBE_INTERVAL_SEC, or `now`); ClusterError when silent for the whole wait."""
        clock = time.monotonic()
        if self.head is None or (not now and clock - self.last_probe < PROBE_INTERVAL_SEC):
            return
        self.last_probe = clock
        if _answers(self.head, min(PROBE_INTERVAL_SEC, self.timeout_sec)):
            self.silent_since = None
            return
        self.silent_since = self.silent_since if self.silent_since is not None else clock
        if now or clock - self.silent_since >= self.timeout_sec:
            self.lost = True
            raise ClusterError(
                f"lost the Ray cluster at {self.shown}: it stopped answering (its head stopped, or the connection "
                f"was lost) and did not come back within {self.timeout_sec:g} s; nothing was installed into the "
                f"export folder {self.export_dir}: run the same command again once the cluster is back"
            )

    def task_limit(self) -> int:
        """How many tasks to keep in flight: twice the cluster's CPUs (counted again every 30 s: it may grow)."""
        clock = time.monotonic()
        if clock - self.cpus_counted >= 30 and (self.counting is None or not self.counting.is_alive()):
            self.cpus_counted = clock
            # Asking a cluster whose head has gone never returns: the count is made aside, and used when it comes.
            self.counting = threading.Thread(target=self._count_cpus, daemon=True)
            self.counting.start()
            self.counting.join(timeout=min(PROBE_INTERVAL_SEC, self.timeout_sec))
        return max(2, int(2 * self.cpus))

    def _count_cpus(self) -> None:
        import ray

        with contextlib.suppress(Exception):
            self.cpus = float(ray.cluster_resources().get("CPU", 1.0))


def connect(ray: Any, settings: RaySettings, export_dir: Path) -> _Cluster:
    """Connect this process to the settings' Ray cluster (or a new local one), within `ray_timeout_sec`.

    Raises ClusterError naming the address when it cannot be reached, refuses this driver (a Ray
    authentication token that is missing or wrong) or does not answer in time.
    """
    timeout = settings.ray_timeout_sec
    if ray.is_initialized():  # by the caller, or an earlier export of this process
        return _watching(ray, "the Ray cluster this process is connected to", None, timeout, export_dir)
    address, given_as = settings.ray_address, "--ray-address"
    if address is None and os.environ.get("RAY_ADDRESS"):
        address, given_as = os.environ["RAY_ADDRESS"], "RAY_ADDRESS"
    if address is None:
        # A new local Ray: its processes are started from this thread (they end with it).
        ray.init(include_dashboard=False, log_to_driver=False, logging_level=_ray_logging_level())
        return _watching(ray, "the local Ray this export started", None, timeout, export_dir)
    shown = f"{address} ({given_as})"
    nothing_installed = f"nothing was installed into the export folder {export_dir}"
    _bound_rays_own_waits(timeout)
    deadline = time.monotonic() + timeout
    head = _host_and_port(address)
    if head is not None:
        problem = _wait_until_it_answers(head, deadline)
        if problem is not None:
            raise ClusterError(
                f"cannot reach the Ray cluster at {shown}: {problem} for {timeout:g} s (is its head running, and is "
                f"the address its GCS address, e.g. head:6379, or ray://head:10001?); {nothing_installed}"
            )
    outcome: dict[str, BaseException] = {}
    # Ray retries a connection far longer than the wait (it spent 822 s on a closed port): it connects in
    # a thread of its own, and the export stops when the wait is over.
    connecting = threading.Thread(target=_init_ray, args=(ray, address, given_as, outcome), daemon=True)
    connecting.start()
    connecting.join(max(1.0, deadline - time.monotonic()))
    if connecting.is_alive():
        raise ClusterError(f"the Ray cluster at {shown} did not answer within {timeout:g} s; {nothing_installed}")
    if "error" in outcome:
        error = outcome["error"]
        if _refused_authentication(error):
            raise ClusterError(
                f"the Ray cluster at {shown} refused this driver: its authentication token is missing or wrong (give "
                f"this process the cluster's token: RAY_AUTH_MODE=token with RAY_AUTH_TOKEN or ~/.ray/auth_token); "
                f"{nothing_installed}"
            ) from None
        raise ClusterError(
            f"cannot connect to the Ray cluster at {shown}: {type(error).__name__}: {_first_line(error)}; "
            f"{nothing_installed}"
        ) from None
    return _watching(ray, shown, head, timeout, export_dir)


def _ray_logging_level() -> int:
    """Ray's own log lines show as the package's do: its info and warnings ("Started a local Ray instance")
    while the package's logger shows info (the command line without --quiet), only its errors otherwise.
    Given to `ray.init`, since importing Ray sets its logger to info."""
    return logging.INFO if logging.getLogger("celeb_datasets").isEnabledFor(logging.INFO) else logging.ERROR


def _init_ray(ray: Any, address: str, given_as: str, outcome: dict[str, BaseException]) -> None:
    environment_address = os.environ.get("RAY_ADDRESS")
    try:
        if given_as == "--ray-address" and environment_address:
            del os.environ["RAY_ADDRESS"]  # Ray would take RAY_ADDRESS over the address it is given
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    except BaseException as error:  # handed to the waiting thread, which words it
        outcome["error"] = error
    finally:
        if environment_address is not None:
            os.environ["RAY_ADDRESS"] = environment_address


def _watching(ray: Any, shown: str, head: tuple[str, int] | None, timeout: float, export_dir: Path) -> _Cluster:
    """The connected cluster, watched through its GCS (where its head answers) when this driver has one."""
    try:
        gcs = ray.get_runtime_context().gcs_address
    except Exception:  # a Ray Client connection (ray://) has no GCS address of its own: watch what was given
        gcs = None
    return _Cluster(shown, (_host_and_port(gcs) if gcs else None) or head, timeout, export_dir)


def _bound_rays_own_waits(timeout: float) -> None:
    """Make Ray's own waits end within the export's, unless the user set them (Ray reads them when it connects).

    Ray ends a driver whose cluster stops answering for 60 s, with its own log line and exit code: it must
    wait longer than the export does, so that the export ends with its own error. And Ray's connection
    retries (about one a second, 20 in all) must end within the wait, so that a refused token is named.
    """
    os.environ.setdefault("RAY_gcs_rpc_server_reconnect_timeout_s", str(int(timeout) + 60))
    os.environ.setdefault("RAY_gcs_server_port_wait_time_s", str(max(1, int(timeout / 2))))


def _host_and_port(address: str) -> tuple[str, int] | None:
    """(host, port) of a Ray address, `host:port` or `ray://host:port` (None for `auto` and the like)."""
    parsed = urllib.parse.urlsplit(address if "://" in address else f"//{address}")
    try:
        port = parsed.port
    except ValueError:
        return None
    if not parsed.hostname or port is None:
        return None
    return parsed.hostname, port


def _answers(head: tuple[str, int], timeout: float) -> bool:
    """Whether something accepts a TCP connection at `head` within `timeout` seconds."""
    try:
        socket.create_connection(head, timeout=timeout).close()
    except OSError:
        return False
    return True


def _wait_until_it_answers(head: tuple[str, int], deadline: float) -> str | None:
    """None once `head` accepts a connection (tried every second until `deadline`); else what went wrong."""
    problem = "no answer"
    while True:
        try:
            socket.create_connection(head, timeout=max(0.1, min(2.0, deadline - time.monotonic()))).close()
            return None
        except OSError as error:
            problem = (error.strerror or str(error) or type(error).__name__).lower()
        if time.monotonic() + 1.0 > deadline:
            return problem
        time.sleep(1.0)


def _refused_authentication(error: BaseException) -> bool:
    """Whether a failed ray.init was the cluster refusing this driver's token (Ray wraps the reason in text)."""
    seen: BaseException | None = error
    while seen is not None:
        if type(seen).__name__ == "AuthenticationError" or "InvalidAuthToken" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
