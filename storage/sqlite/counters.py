"""Hourly event counters for /stats."""

from __future__ import annotations

from storage.sqlite.db import Database

HOUR = 3600


class SqliteCounterRepo:
    """Adds to and sums the hourly counters."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def bump(self, name: str, n: int = 1, *, now: float) -> None:
        """Add n to the counter's bucket for the hour of now."""
        await self._db.execute(
            "INSERT INTO counters (hour, name, value) VALUES (?, ?, ?)"
            " ON CONFLICT (hour, name) DO UPDATE SET value = value + excluded.value",
            (int(now // HOUR), name, n),
        )

    async def total_since(self, name: str, since: float) -> int:
        """Sum the counter over the hours from the one holding since onwards."""
        value = await self._db.scalar(
            "SELECT COALESCE(SUM(value), 0) FROM counters WHERE name = ? AND hour >= ?",
            (name, int(since // HOUR)),
        )
        return int(value)
