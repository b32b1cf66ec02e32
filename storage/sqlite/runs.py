"""The bot's runs (storage.runs) on SQLite."""

from __future__ import annotations

import time

from storage.runs import KEEP_RUNS
from storage.sqlite.db import Database, conn_of


class SqliteRunRepo:
    """Records each run's start and clean stop."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def begin(self) -> tuple[int, float | None]:
        """Record that a run starts: its id, and how many seconds ago the run before it
        stopped cleanly (None when it did not: a crash, or none)."""
        now = time.time()
        async with self._db.transaction() as tx:
            conn = conn_of(tx)
            rows = await conn.execute_fetchall(
                "SELECT stopped_at FROM runs ORDER BY id DESC LIMIT 1"
            )
            cur = await conn.execute("INSERT INTO runs (started_at) VALUES (?)", (now,))
            run_id = cur.lastrowid
            await conn.execute("DELETE FROM runs WHERE id <= ?", ((run_id or 0) - KEEP_RUNS,))
        assert run_id is not None
        stopped = next(iter(rows), (None,))[0]
        return run_id, None if stopped is None else max(0.0, now - stopped)

    async def end(self, run_id: int, *, quiet_for: float = 0.0) -> None:
        """Record that the run stops cleanly: it sends nothing more, and had sent nothing
        for `quiet_for` seconds."""
        await self._db.execute(
            "UPDATE runs SET stopped_at = ? WHERE id = ?", (time.time() - quiet_for, run_id)
        )
