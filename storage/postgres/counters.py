"""Hourly event counters for /stats on PostgreSQL (storage.counters)."""

from __future__ import annotations

from storage.postgres.db import PgDatabase

HOUR = 3600


class PgCounterRepo:
    """Adds to and sums the hourly counters."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    async def bump(self, name: str, n: int = 1, *, now: float) -> None:
        """Add n to the counter's bucket for the hour of now."""
        await self._db.execute(
            "INSERT INTO counters (hour, name, value) VALUES ($1, $2, $3)"
            " ON CONFLICT (hour, name) DO UPDATE SET value = counters.value + excluded.value",
            int(now // HOUR),
            name,
            n,
        )

    async def total_since(self, name: str, since: float) -> int:
        """Sum the counter over the hours from the one holding since onwards."""
        value = await self._db.fetchval(
            "SELECT coalesce(sum(value), 0) FROM counters WHERE name = $1 AND hour >= $2",
            name,
            int(since // HOUR),
        )
        return int(value)
