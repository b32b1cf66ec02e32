"""The bot's runs (storage.runs) on PostgreSQL, timed by the server's clock."""

from __future__ import annotations

from storage.postgres.db import PgDatabase
from storage.runs import KEEP_RUNS


class PgRunRepo:
    """Records each run's start and clean stop."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    async def begin(self) -> tuple[int, float | None]:
        """Record that a run starts: its id, and how many seconds ago the run before it
        stopped cleanly, by the server's clock (None when it did not: a crash, or none)."""
        async with self._db.connection() as conn:
            ago = await conn.fetchval(
                "SELECT extract(epoch FROM clock_timestamp()) - stopped_at FROM runs"
                " ORDER BY id DESC LIMIT 1"
            )
            run_id = await conn.fetchval(
                "INSERT INTO runs (started_at) VALUES (extract(epoch FROM clock_timestamp()))"
                " RETURNING id"
            )
            await conn.execute("DELETE FROM runs WHERE id <= $1", run_id - KEEP_RUNS)
        return int(run_id), None if ago is None else max(0.0, float(ago))

    async def end(self, run_id: int, *, quiet_for: float = 0.0) -> None:
        """Record that the run stops cleanly: it sends nothing more, and had sent nothing
        for `quiet_for` seconds."""
        await self._db.execute(
            "UPDATE runs SET stopped_at = extract(epoch FROM clock_timestamp()) - $2 WHERE id = $1",
            run_id,
            quiet_for,
        )
