"""Whether this process can write in a folder, in the words an error line gives to a user."""

from __future__ import annotations

import os
from pathlib import Path


def write_problem(folder: Path) -> str | None:
    """Why this process cannot create files in the existing folder `folder` ("permission denied", "it is on a
    read-only file system"), or None when it can."""
    if os.access(folder, os.W_OK | os.X_OK):
        return None
    return "it is on a read-only file system" if _on_read_only_file_system(folder) else "permission denied"


def _on_read_only_file_system(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False
