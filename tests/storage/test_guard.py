"""The single-instance guard on both backends: a lock file beside SQLite, an advisory lock on
PostgreSQL held by a connection of its own, lost when that connection ends."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import asyncpg

from storage.lock import Claim, can_stand_by, claim, holder
from storage.postgres import lock as pg_lock

ROOT = Path(__file__).resolve().parents[2]


async def test_sqlite_guard_is_a_lock_file(tmp_path: Path) -> None:
    db = tmp_path / "bot.sqlite3"
    assert not can_stand_by(db)
    first = await claim(db)
    assert first is not None
    try:
        assert await claim(db) is None
        assert await holder(db) == f"pid {os.getpid()}"
    finally:
        await first.release()
    again = await claim(db)
    assert again is not None
    await again.release()


async def test_postgres_guard_is_one_advisory_lock_per_database(pg_url: str) -> None:
    assert can_stand_by(pg_url)
    first = await claim(pg_url)
    assert first is not None
    try:
        assert await claim(pg_url) is None
        assert f"pid {os.getpid()} on " in await holder(pg_url)
        # the pool's connections never hold it: a plain connection may not take it either
        conn = await asyncpg.connect(pg_url)
        try:
            assert not await conn.fetchval("SELECT pg_try_advisory_lock($1)", pg_lock.GUARD_KEY)
        finally:
            await conn.close()
    finally:
        await first.release()
        await first.release()  # twice is harmless
    again = await claim(pg_url)
    assert again is not None
    await again.release()
    assert await holder(pg_url) == "unknown"


async def test_a_guard_whose_connection_is_cut_is_lost(pg_url: str) -> None:
    guard = await claim(pg_url)
    assert guard is not None
    try:
        conn = await asyncpg.connect(pg_url)
        try:
            killed = await conn.fetchval(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name LIKE 'headline-bot guard %'"
                " AND datname = current_database()"
            )
        finally:
            await conn.close()
        assert killed
        why = await asyncio.wait_for(guard.lost(), 15)
        assert "guard" in why
        # the lock went with the session: another process may take over
        other = await claim(pg_url)
        assert other is not None
        await other.release()
    finally:
        await guard.release()


async def test_a_killed_holder_frees_the_lock_at_once(pg_url: str) -> None:
    """SIGKILL leaves no time to unlock: the server ends the session with the socket."""
    script = (
        "import asyncio, sys\n"
        "from storage.lock import claim\n"
        "async def main():\n"
        "    guard = await claim(sys.argv[1])\n"
        "    print('held' if guard else 'busy', flush=True)\n"
        "    await asyncio.sleep(3600)\n"
        "asyncio.run(main())\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, pg_url, cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        assert await asyncio.wait_for(proc.stdout.readline(), 30) == b"held\n"
        assert await claim(pg_url) is None
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        taken: Claim | None = None
        for _ in range(50):  # the server notices the closed socket at once; allow it 5 s
            taken = await claim(pg_url)
            if taken is not None:
                break
            await asyncio.sleep(0.1)
        assert taken is not None
        await taken.release()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
