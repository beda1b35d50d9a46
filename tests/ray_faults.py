"""A CelebV-HQ builder whose work items fail on their first attempt, for the Ray engine's fault tests.

Ray workers import this module when they unpickle the builder, so the tests put this folder on the
workers' PYTHONPATH. Each attempt at a YouTube video named in `faults` makes all its rows and records
its skips, then, the first time only (a marker file in `fault_folder` says it happened), fails:

- "kill": writes its worker's pid to `{fault_folder}/{ytb_id}.pid` and sleeps, for the test to kill it;
- "raise": raises a RuntimeError, an error the package does not expect;
- "raise always": raises it at every attempt.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from celebv_hq import CelebVHQ


class FaultyCelebVHQ(CelebVHQ):
    """CelebV-HQ whose first attempt at the items of some videos fails (see the module docstring)."""

    def __init__(self, *args: Any, fault_folder: str = "", faults: dict[str, str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fault_folder, self.faults = fault_folder, faults or {}

    def _generate_tables(self, items: Any, skip_folder: str | None = None) -> Iterator[Any]:
        yield from super()._generate_tables(items, skip_folder)
        for item in items:
            fault = self.faults.get(getattr(item, "ytb_id", ""))
            if fault == "raise always" or (fault is not None and self._first_attempt(item.ytb_id)):
                self._fail(fault, item.ytb_id)

    def _first_attempt(self, ytb_id: str) -> bool:
        try:
            os.close(os.open(Path(self.fault_folder) / f"{ytb_id}.attempted", os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return False
        return True

    def _fail(self, fault: str, ytb_id: str) -> None:
        if fault.startswith("raise"):
            raise RuntimeError(f"an unexpected fault in the work item of {ytb_id}")
        pid_file = Path(self.fault_folder) / f"{ytb_id}.pid"
        pid_file.with_suffix(".partial").write_text(str(os.getpid()))
        pid_file.with_suffix(".partial").rename(pid_file)
        time.sleep(120)  # killed long before
