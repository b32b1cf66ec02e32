"""One bot process per database: a second one would push the same headlines again."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO


class AlreadyRunningError(RuntimeError):
    """Another process holds the database's lock."""


def acquire_lock(database_path: Path) -> IO[str]:
    """Take the lock beside the database; keep the returned file open while running."""
    path = Path(str(database_path) + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise AlreadyRunningError(
            f"another headline-bot (pid {holder}) is already running on {database_path}; "
            "stop it first (two would push the same headlines twice)"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle
