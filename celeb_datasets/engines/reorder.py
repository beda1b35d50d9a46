"""Work items' rows that arrive in any order, given back in the plan's order (a reorder buffer).

An engine that starts the costliest items first (so that no long item starts last and keeps a cluster
waiting) gets their rows back out of the plan's order; shards must still hold the rows in the plan's
order, which is the datasets engine's. `PlanOrder` holds each result until every result before it has
come: in memory while those waiting take less than `memory_bytes`, else in an Arrow file in a folder on
the export's own disk, read back (memory-mapped) when its turn comes and deleted once written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

# Rows waiting for their turn are kept in memory up to this many bytes; beyond, they wait on disk.
WAITING_MEMORY_BYTES = 512 * 10**6


class PlanOrder:
    """Results (dataclasses with `rows`, an Arrow table) added by their position in the plan, given back in order.

    `add(position, result)` gives back every result whose turn has come (none, this one, or this one and
    those that waited for it). A position given twice, or outside the plan, is a ValueError: each item is
    written once. `waiting` counts the results not yet given back; `spilled` how many ever waited on disk.
    """

    def __init__(self, count: int, folder: Path, memory_bytes: int = WAITING_MEMORY_BYTES) -> None:
        self.count, self.folder, self.memory_bytes = count, Path(folder), memory_bytes
        self.next = 0  # the position whose result is given back next
        self.in_memory: dict[int, Any] = {}
        self.on_disk: dict[int, tuple[Path, Any]] = {}  # position: (its rows' file, the result without rows)
        self.memory_used = 0
        self.spilled = 0

    @property
    def waiting(self) -> int:
        return len(self.in_memory) + len(self.on_disk)

    def add(self, position: int, result: Any) -> Iterator[Any]:
        """Take the result of the item at `position`; give back, in order, every result whose turn has come."""
        if not 0 <= position < self.count:
            raise ValueError(f"work item {position} is not in the plan (items 0 to {self.count - 1})")
        if position < self.next or position in self.in_memory or position in self.on_disk:
            raise ValueError(f"work item {position} was given twice")
        if position == self.next:
            self.next += 1
            yield result
        else:
            self._keep(position, result)
        yield from self._ready()

    def check_complete(self) -> None:
        """Raise ValueError unless every item of the plan has been given back."""
        if self.next != self.count:
            raise ValueError(f"work item {self.next} of {self.count} never came (the runner lost it)")

    def _keep(self, position: int, result: Any) -> None:
        size = result.rows.nbytes
        if self.memory_used + size <= self.memory_bytes:
            self.in_memory[position] = result
            self.memory_used += size
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{position}.arrow"
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, result.rows.schema) as file:
            file.write_table(result.rows)
        self.on_disk[position] = (path, dataclasses.replace(result, rows=None))
        self.spilled += 1

    def _ready(self) -> Iterator[Any]:
        while True:
            if self.next in self.in_memory:
                result = self.in_memory.pop(self.next)
                self.memory_used -= result.rows.nbytes
                self.next += 1
                yield result
            elif self.next in self.on_disk:
                path, rest = self.on_disk.pop(self.next)
                self.next += 1
                rows = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
                yield dataclasses.replace(rest, rows=rows)
                path.unlink()  # written by now: the consumer has had it
            else:
                return
