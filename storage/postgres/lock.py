"""The single-instance guard on PostgreSQL: a session advisory lock on a connection of its own.

The lock belongs to the session, not to a transaction, so it is held on a dedicated
connection (never one of the pool's, which come and go) for the life of the process. When
the process dies, SIGKILL included, the kernel closes its socket, the server ends the session
and the lock is free for a standby at once. When the connection dies under a live process,
the process must stop rather than run unguarded: :meth:`PgClaim.lost` says so, from the
connection's termination or from a ping that finds the lock no longer held.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

import asyncpg

from storage.postgres.db import redacted

log = logging.getLogger(__name__)

# One key per database (advisory locks are scoped to the database): 'hb' and 0; the schema
# migrations take 'hb' and 1 (storage/postgres/migrate.py).
GUARD_KEY = 0x68620000
NAME_PREFIX = "headline-bot guard "  # the guard connection's application_name
CONNECT_TIMEOUT = 10.0
PING_SECONDS = 5.0  # how often the holder checks that the lock is still its own
PING_TIMEOUT = 5.0
# Keepalives for the guard's session: when this machine drops off the network, the server
# ends the session (and frees the lock) after about 10 + 3 x 5 s, by which time the pings
# have failed here and this process has stopped.
KEEPALIVES = {
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
}

_HELD = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND pid = pg_backend_pid() AND classid = 0 AND objid = $1 AND objsubid = 1"
)
_HOLDER = (
    "SELECT a.pid, a.application_name, a.client_addr::text AS addr FROM pg_locks AS l"
    " JOIN pg_stat_activity AS a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = $1"
    " AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database"
    " WHERE datname = current_database())"
)


def _me() -> str:
    return f"pid {os.getpid()} on {socket.gethostname()}"


async def _connect(url: str) -> asyncpg.Connection:
    """A connection of the guard's own, named after this process; OSError when unreachable."""
    try:
        conn = await asyncpg.connect(
            url,
            timeout=CONNECT_TIMEOUT,
            server_settings={"application_name": (NAME_PREFIX + _me())[:63]},
        )
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
        # asyncpg's errors never hold the password; say where without it
        raise OSError(f"cannot connect to {redacted(url)}: {exc}") from None
    return conn


async def _keep_alive(conn: asyncpg.Connection) -> None:
    """Ask the server to notice within about 25 s when this machine is gone."""
    for name, value in KEEPALIVES.items():
        try:
            await conn.execute(f"SET {name} = {value}")
        except asyncpg.PostgresError as exc:  # a pooler in between may refuse: pings remain
            log.debug("guard connection: %s not set (%s)", name, exc)


async def claim_advisory(url: str) -> PgClaim | None:
    """Take the database's advisory lock on a new connection; None when another holds it."""
    conn = await _connect(url)
    try:
        taken = await conn.fetchval("SELECT pg_try_advisory_lock($1)", GUARD_KEY)
        if taken:
            await _keep_alive(conn)
    except BaseException:
        conn.terminate()
        raise
    if not taken:
        await conn.close()
        return None
    return PgClaim(conn)


async def advisory_holder(url: str) -> str:
    """Who holds the lock: 'pid 123 on host' as the holder named itself, or its server pid."""
    try:
        conn = await _connect(url)
    except OSError:
        return "unknown"
    try:
        row = await conn.fetchrow(_HOLDER, GUARD_KEY)
    except asyncpg.PostgresError:
        return "unknown"
    finally:
        await conn.close()
    if row is None:
        return "unknown"
    name = str(row["application_name"] or "")
    if name.startswith(NAME_PREFIX):
        return name.removeprefix(NAME_PREFIX)
    return f"server pid {row['pid']}" + (f" from {row['addr']}" if row["addr"] else "")


class PgClaim:
    """The advisory lock, held on its own connection, watched for the connection's end."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self._released = False
        self._why: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        conn.add_termination_listener(self._terminated)
        self._pinger = asyncio.create_task(self._ping(), name="database-guard")

    def _lose(self, why: str) -> None:
        if not self._released and not self._why.done():
            self._why.set_result(why)

    def _terminated(self, conn: object) -> None:
        self._lose("the connection holding the database guard closed")

    async def _ping(self) -> None:
        while not self._why.done():
            await asyncio.sleep(PING_SECONDS)
            try:
                held = await self._conn.fetchval(_HELD, GUARD_KEY, timeout=PING_TIMEOUT)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure: the lock can no longer be vouched for
                self._lose(f"the database guard's connection failed ({type(exc).__name__})")
                return
            if not held:
                self._lose("the database guard's lock is no longer held")
                return

    async def lost(self) -> str:
        """Wait until the lock is lost (its connection closed or failing); return why."""
        return await asyncio.shield(self._why)

    async def release(self) -> None:
        """Unlock by ending the guard's session; safe to call twice."""
        if self._released:
            return
        self._released = True
        self._pinger.cancel()
        await asyncio.wait([self._pinger])  # unlike awaiting it, never raises its cancellation
        if not self._why.done():
            self._why.cancel()
        try:
            await asyncio.wait_for(self._conn.close(), PING_TIMEOUT)
        except Exception:  # the server ends the session (and the lock) with the socket
            self._conn.terminate()
