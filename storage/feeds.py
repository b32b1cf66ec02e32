"""Feeds and their polling state."""

from __future__ import annotations

import sqlite3

import aiosqlite

from storage.db import Database
from storage.models import FeedState

MAX_ERROR_CHARS = 500


def _feed(row: sqlite3.Row) -> FeedState:
    return FeedState(
        id=row["id"],
        url=row["url"],
        title=row["title"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        last_attempt_at=row["last_attempt_at"],
        last_success_at=row["last_success_at"],
        consecutive_failures=row["consecutive_failures"],
        failing_since=row["failing_since"],
        next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"],
        baseline_done=bool(row["baseline_done"]),
        alerted=bool(row["alerted"]),
    )


class FeedRepo:
    """Reads and updates the feeds table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def ensure(self, url: str) -> FeedState:
        """Return the feed for url, inserting it first when it is new."""
        async with self._db.transaction() as conn:
            await conn.execute("INSERT OR IGNORE INTO feeds (url) VALUES (?)", (url,))
            cur = await conn.execute("SELECT * FROM feeds WHERE url = ?", (url,))
            row = await cur.fetchone()
        assert row is not None
        return _feed(row)

    async def get(self, url: str) -> FeedState | None:
        """Return the feed for url, or None."""
        row = await self._db.fetchone("SELECT * FROM feeds WHERE url = ?", (url,))
        return None if row is None else _feed(row)

    async def all(self) -> list[FeedState]:
        """Return every feed, oldest first."""
        rows = await self._db.fetchall("SELECT * FROM feeds ORDER BY id")
        return [_feed(row) for row in rows]

    async def record_success(
        self,
        conn: aiosqlite.Connection,
        feed_id: int,
        *,
        now: float,
        etag: str | None,
        last_modified: str | None,
        title: str | None,
        baseline_done: bool = True,
    ) -> None:
        """Record a fetched and stored feed; clears the failure state (not `alerted`)."""
        # baseline_done never goes back to 0: the first fetch only happens once.
        await conn.execute(
            "UPDATE feeds SET etag = ?, last_modified = ?, title = COALESCE(?, title),"
            " consecutive_failures = 0, failing_since = NULL, last_error = NULL,"
            " last_success_at = ?, last_attempt_at = ?, next_attempt_at = 0,"
            " baseline_done = MAX(baseline_done, ?)"
            " WHERE id = ?",
            (etag, last_modified, title, now, now, int(baseline_done), feed_id),
        )

    async def record_not_modified(self, feed_id: int, *, now: float) -> None:
        """Record a 304 answer: a success that keeps the validators and title."""
        await self._db.execute(
            "UPDATE feeds SET consecutive_failures = 0, failing_since = NULL, last_error = NULL,"
            " last_success_at = ?, last_attempt_at = ?, next_attempt_at = 0"
            " WHERE id = ?",
            (now, now, feed_id),
        )

    async def record_failure(
        self, feed_id: int, *, now: float, error: str, next_attempt_at: float
    ) -> None:
        """Record a failed fetch and when to try again."""
        await self._db.execute(
            "UPDATE feeds SET consecutive_failures = consecutive_failures + 1,"
            " failing_since = COALESCE(failing_since, ?), last_error = ?,"
            " last_attempt_at = ?, next_attempt_at = ?"
            " WHERE id = ?",
            (now, error[:MAX_ERROR_CHARS], now, next_attempt_at, feed_id),
        )

    async def set_alerted(self, feed_id: int, alerted: bool) -> None:
        """Remember whether admins were told about this feed's current failure."""
        await self._db.execute("UPDATE feeds SET alerted = ? WHERE id = ?", (int(alerted), feed_id))
