"""One active bot per database: a second one would push the same headlines again.

The guard is claimed before anything touches the database: by the running bot, by copy-db
and by restore. :func:`claim` hides which backend holds it: a lock file beside a SQLite
database (flock, released by the kernel when the process dies), or a PostgreSQL advisory
lock held by a connection of its own (storage/postgres/lock.py, released by the server when
that session ends). Only a shared database lets a second bot stand by for the first.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from pathlib import Path
from typing import IO, Protocol


class AlreadyRunningError(RuntimeError):
    """Another process holds the database's lock."""


class Claim(Protocol):
    """The guard, held: while it is, no other process is active on the database."""

    async def lost(self) -> str:
        """Wait until the guard is lost behind the holder's back; return why."""
        ...

    async def release(self) -> None:
        """Give the guard up (safe to call twice)."""
        ...


def is_postgres(database: str | Path) -> bool:
    """Whether `database` names a PostgreSQL database (a URL) rather than a SQLite file."""
    return isinstance(database, str) and database.startswith(("postgresql://", "postgres://"))


def can_stand_by(database: str | Path) -> bool:
    """Whether a second bot may wait for the guard (a database other machines reach)."""
    return is_postgres(database)


async def claim(database: str | Path) -> Claim | None:
    """Take the guard of `database`; None when another process holds it.

    Raises OSError when a PostgreSQL server cannot be reached.
    """
    if is_postgres(database):
        from storage.postgres.lock import claim_advisory  # the implementation is chosen here

        assert isinstance(database, str)
        return await claim_advisory(database)
    try:
        handle = acquire_lock(Path(database))
    except AlreadyRunningError:
        return None
    return FileClaim(handle)


async def holder(database: str | Path) -> str:
    """Who holds the guard, for messages: 'pid 123' (and the host, on PostgreSQL)."""
    if is_postgres(database):
        from storage.postgres.lock import advisory_holder

        assert isinstance(database, str)
        return await advisory_holder(database)
    return f"pid {lock_holder(Path(database))}"


class FileClaim:
    """The lock file beside a SQLite database, held open: it cannot be lost while we live."""

    def __init__(self, handle: IO[str]) -> None:
        self._handle = handle
        self._forever = asyncio.Event()

    async def lost(self) -> str:
        """Never returns: the kernel keeps the lock until the file is closed."""
        await self._forever.wait()
        return ""  # pragma: no cover

    async def release(self) -> None:
        """Close the lock file (the lock goes with it)."""
        self._handle.close()


def lock_holder(database_path: Path) -> str:
    """The pid written in the database's lock file, or 'unknown'."""
    try:
        return Path(f"{database_path}.lock").read_text().strip() or "unknown"
    except OSError:
        return "unknown"


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
