"""The PostgreSQL connection pool: transactions, reads, the write probe (asyncpg).

asyncpg is the fastest PostgreSQL driver for asyncio (binary protocol, prepared statements
cached per connection). The pool is small: the bot writes through one transaction at a time,
as on SQLite, so that the repositories keep the same semantics on both; reads take a pooled
connection of their own and never wait for a write.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from storage.postgres.migrate import apply_migrations
from storage.store import Transaction

POOL_MIN = 2
POOL_MAX = 8  # one writer at a time, reads beside it: replies, delivery, /healthz, metrics
COMMAND_TIMEOUT = 60.0


def redacted(url: str) -> str:
    """The URL with its password replaced by ***, safe for logs and errors."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()


class PgDatabase:
    """A pool of connections to one PostgreSQL database, migrated to the newest schema.

    Write transactions run one at a time (an asyncio lock, as storage/sqlite/db.py's), so
    that the repositories' read-then-write steps see what SQLite's single writer would.
    """

    def __init__(self, pool: asyncpg.Pool, url: str) -> None:
        self._pool = pool
        self._url = url
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, url: str) -> PgDatabase:
        """Connect, and migrate the schema to the newest version."""
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=POOL_MIN,
                max_size=POOL_MAX,
                command_timeout=COMMAND_TIMEOUT,
            )
        except (OSError, asyncpg.PostgresError) as exc:
            # asyncpg's errors never hold the password, but say where without it
            raise OSError(f"cannot connect to {redacted(url)}: {exc}") from None
        try:
            async with pool.acquire() as conn, conn.transaction():
                await apply_migrations(conn)
        except BaseException:
            await pool.close()
            raise
        return cls(pool, url)

    @property
    def url(self) -> str:
        """The URL it was opened with (holds the password: never log it)."""
        return self._url

    @property
    def description(self) -> str:
        """The database's URL without its password."""
        return redacted(self._url)

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """Run the block as one transaction; roll back on any exception."""
        return self.connection()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A write transaction as its connection, for this package's own statements."""
        async with self._lock, self._pool.acquire() as conn, conn.transaction():
            yield conn

    async def execute(self, sql: str, *args: Any) -> str:
        """Run one write statement in its own transaction; return its status ('UPDATE 3')."""
        # One statement is its own transaction (autocommit), as on SQLite: BEGIN and COMMIT
        # around it would cost two more round trips for every message delivery marks sent.
        async with self._lock, self._pool.acquire() as conn:
            return str(await conn.execute(sql, *args))

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for many rows in one transaction."""
        async with self.connection() as conn:
            await conn.executemany(sql, rows)

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        """Read rows on a pooled connection (never waits for a write transaction)."""
        async with self._pool.acquire() as conn:
            return list(await conn.fetch(sql, *args))

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        """Read one row or None."""
        async with self._pool.acquire() as conn:
            return await conn.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        """Read the first column of the first row (None when there is no row)."""
        async with self._pool.acquire() as conn:
            return await conn.fetchval(sql, *args)

    async def write_error(self) -> str | None:
        """Try a real write in a transaction that rolls back; None when it worked."""
        try:
            async with self._pool.acquire() as conn:
                tx = conn.transaction()
                await tx.start()
                try:
                    await conn.execute("CREATE TABLE health_probe (x integer)")
                finally:
                    await tx.rollback()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    async def close(self) -> None:
        """Close every connection (waits for a running transaction)."""
        async with self._lock:
            await self._pool.close()


def conn_of(tx: Transaction) -> asyncpg.Connection:
    """The connection behind a transaction that :meth:`PgDatabase.transaction` opened."""
    assert isinstance(tx, asyncpg.Connection), "a transaction of another store"
    return tx
