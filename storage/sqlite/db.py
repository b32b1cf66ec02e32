"""The one SQLite connection: pragmas, migrations and the transaction helper."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from storage.sqlite.migrate import apply_migrations
from storage.store import Transaction, is_replying

BUSY_TIMEOUT_MS = 5000

Params = Sequence[Any] | dict[str, Any]


class RepliesFirst:
    """An asyncio lock whose waiters go in turn, but replies' first (storage.store.replying).

    A reply's statement then waits for the transaction under way at most, not for every
    background transaction queued before it.
    """

    def __init__(self) -> None:
        self._held = False
        self._waiters: tuple[deque[asyncio.Future[None]], deque[asyncio.Future[None]]] = (
            deque(),
            deque(),
        )

    def locked(self) -> bool:
        """Whether someone holds it."""
        return self._held

    async def __aenter__(self) -> None:
        if not self._held and not self._waiters[0] and not self._waiters[1]:
            self._held = True
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._waiters[0 if is_replying() else 1]
        queue.append(waiter)
        try:
            await waiter  # the holder hands the lock over on release
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # handed over as the wait was cancelled: pass it on
            else:
                queue.remove(waiter)
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        self._release()

    def _release(self) -> None:
        for queue in self._waiters:
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # held still, by that waiter now
                    return
        self._held = False


class Database:
    """The process's aiosqlite connections: one that writes, shared by the whole process,
    and one that only reads (plain reads: :meth:`fetchall`, :meth:`fetchone`, :meth:`scalar`).

    aiosqlite serialises statements, not transactions: every multi-statement write goes
    through :meth:`transaction`, which holds a lock so two writers never interleave (replies
    ahead of background work: :class:`RepliesFirst`). Plain
    reads go by the reading connection, so a reply's read never queues behind a poll's or
    the delivery's transaction (WAL lets one writer and readers work at once; a read sees
    what was committed when it starts). An in-memory database has one connection for both.
    """

    def __init__(
        self, conn: aiosqlite.Connection, path: str, reader: aiosqlite.Connection | None = None
    ) -> None:
        self._conn = conn
        self.path = path
        self._lock = RepliesFirst()
        self._reader = conn if reader is None else reader
        self._read_lock = self._lock if reader is None else RepliesFirst()

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
            reader = None if path == ":memory:" else await _open_reader(path)
        except BaseException:
            await conn.close()
            raise
        return cls(conn, path, reader)

    async def close(self) -> None:
        """Close the connections (waits for a running transaction)."""
        async with self._lock:
            if self._reader is not self._conn:
                async with self._read_lock:
                    await self._reader.close()
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
            await self._begin()
            try:
                yield self._conn
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            else:
                await self._conn.execute("COMMIT")

    async def _begin(self) -> None:
        """BEGIN IMMEDIATE. Cancelled while waiting for it, the BEGIN still runs in the
        connection's thread: the transaction it opens is rolled back before the lock goes,
        or the next BEGIN would find one open."""
        begin = asyncio.ensure_future(self._conn.execute("BEGIN IMMEDIATE"))
        try:
            await asyncio.shield(begin)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await begin
                await self._conn.execute("ROLLBACK")
            raise

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
        """Read rows (what was committed when the read starts)."""
        async with self._read_lock:
            # one turn of the connection's thread: the statement runs to its end there
            return list(await self._reader.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """Read one row or None (of a statement that reads one row)."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

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


async def _open_reader(path: str) -> aiosqlite.Connection:
    """A connection that only reads the database file (its writes fail)."""
    # once at start-up, like the folder made in open(): blocking is harmless here
    uri = Path(path).expanduser().resolve().as_uri() + "?mode=ro"  # noqa: ASYNC240
    conn = await aiosqlite.connect(uri, uri=True, isolation_level=None)
    try:
        conn.row_factory = sqlite3.Row
        await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    except BaseException:
        await conn.close()
        raise
    return conn


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
