"""The one SQLite connection: pragmas, migrations and the transaction helper."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from storage.sqlite.migrate import apply_migrations
from storage.store import Transaction

BUSY_TIMEOUT_MS = 5000

Params = Sequence[Any] | dict[str, Any]


class Database:
    """A single aiosqlite connection shared by the whole process.

    aiosqlite serialises statements, not transactions: every multi-statement write goes
    through :meth:`transaction`, which holds a lock so two writers never interleave.
    """

    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        self._conn = conn
        self.path = path
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str | Path) -> Database:
        """Open (creating its folder), set pragmas and migrate to the newest schema."""
        path = str(path)
        if path != ":memory:":
            # once at start-up, before any other work: blocking is harmless here
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240
        conn = await aiosqlite.connect(path, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await conn.execute("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA synchronous = NORMAL")
            await conn.execute("PRAGMA foreign_keys = ON")
            await apply_migrations(conn)
        except BaseException:
            await conn.close()
            raise
        return cls(conn, path)

    async def close(self) -> None:
        """Close the connection (waits for a running transaction)."""
        async with self._lock:
            await self._conn.close()

    @property
    def description(self) -> str:
        """The database file's path."""
        return self.path

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """Run the block as one IMMEDIATE transaction; roll back on any exception."""
        return self.connection()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[aiosqlite.Connection]:
        """A transaction as its connection, for this package's own statements."""
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            else:
                await self._conn.execute("COMMIT")

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one write statement in its own transaction; return the rows changed."""
        async with self._lock:
            cur = await self._conn.execute(sql, params)
            return cur.rowcount

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one statement for many rows in one transaction."""
        async with self.connection() as conn:
            await conn.executemany(sql, rows)

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """Read rows (outside any open transaction of another task)."""
        async with self._lock:
            cur = await self._conn.execute(sql, params)
            return list(await cur.fetchall())

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """Read one row or None."""
        async with self._lock:
            cur = await self._conn.execute(sql, params)
            return await cur.fetchone()

    async def scalar(self, sql: str, params: Params = ()) -> Any:
        """Read the first column of the first row (None when there is no row)."""
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def write_error(self) -> str | None:
        """Try a write that rolls back: None when the file takes writes, else why not."""
        return await database_write_error(self)

    async def integrity_check(self) -> str:
        """Return SQLite's integrity check verdict ('ok' when the file is sound)."""
        return str(await self.scalar("PRAGMA integrity_check"))


def conn_of(tx: Transaction) -> aiosqlite.Connection:
    """The connection behind a transaction that :meth:`Database.transaction` opened."""
    assert isinstance(tx, aiosqlite.Connection), "a transaction of another store"
    return tx


# What a write probe runs on: the bot's Database, or a bare connection no task holds a
# transaction on.
Probed = Database | aiosqlite.Connection


class _Rollback(Exception):
    """Raised inside the probe transaction so it never commits."""


async def database_write_error(db: Probed) -> str | None:
    """Try a real write in a transaction that rolls back; None when it worked, else why not.

    With a `Database` the probe takes its transaction lock like any writer, then SQLite's
    busy timeout bounds the wait for the file's write lock. A bare aiosqlite connection must
    be one that no other task holds a transaction open on. Never cancel it half-way (a
    cancelled BEGIN may still succeed in the worker thread and leave a transaction open):
    `WriteProbe` puts a time limit on it safely.
    """
    try:
        if isinstance(db, Database):
            try:
                async with db.connection() as conn:
                    await conn.execute("CREATE TABLE health_probe (x INTEGER)")
                    raise _Rollback
            except _Rollback:
                return None
        await db.execute("BEGIN IMMEDIATE")
        try:
            await db.execute("CREATE TABLE health_probe (x INTEGER)")
        finally:
            await db.execute("ROLLBACK")
    except Exception as exc:  # sqlite3.OperationalError: read-only, locked, disk I/O error
        return f"{type(exc).__name__}: {exc}"
    return None
