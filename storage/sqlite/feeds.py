"""Feeds and their polling state in SQLite: the list the poller reads and admins manage."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from storage.models import FeedHealth, FeedRecord, FeedState
from storage.sqlite.db import Database, conn_of
from storage.sqlite.handles import give_handles, settle_handle
from storage.store import Transaction

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
        last_error_reason=row["last_error_reason"],
        last_error_detail=row["last_error_detail"],
        body_hash=row["body_hash"],
    )


def _record(row: sqlite3.Row) -> FeedRecord:
    return FeedRecord(
        state=_feed(row),
        name=row["name"],
        paused=bool(row["paused"]),
        added_at=row["added_at"],
        added_by=row["added_by"],
        interval_seconds=row["interval_seconds"],
        removed_at=row["removed_at"],
        handle=row["handle"] or "",
    )


class SqliteFeedRepo:
    """Reads and updates the feeds table (storage.feeds.FeedRepo)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def ensure(self, url: str) -> FeedState:
        """Return the feed for url, inserting it first when it is new."""
        async with self._db.connection() as conn:
            await conn.execute("INSERT OR IGNORE INTO feeds (url) VALUES (?)", (url,))
            await give_handles(conn)
            cur = await conn.execute("SELECT * FROM feeds WHERE url = ?", (url,))
            row = await cur.fetchone()
        assert row is not None
        return _feed(row)

    async def get(self, url: str) -> FeedState | None:
        """Return the feed for url, or None."""
        row = await self._db.fetchone("SELECT * FROM feeds WHERE url = ?", (url,))
        return None if row is None else _feed(row)

    async def all(self) -> list[FeedState]:
        """Return every feed (removed ones left out), oldest first."""
        rows = await self._db.fetchall("SELECT * FROM feeds WHERE removed_at IS NULL ORDER BY id")
        return [_feed(row) for row in rows]

    async def ensure_configured(self, urls: Sequence[str], *, now: float) -> None:
        """Add the configured feeds (FEED_URLS) that are missing, and bring back removed ones.

        A configured feed keeps its paused state: pausing it is how an admin stops it.
        """
        if not urls:
            return
        listed = json.dumps(list(dict.fromkeys(urls)))
        async with self._db.connection() as conn:
            await conn.execute(
                "INSERT OR IGNORE INTO feeds (url, added_at) SELECT value, ? FROM json_each(?)",
                (now, listed),
            )
            await conn.execute(
                "UPDATE feeds SET removed_at = NULL, baseline_done = 0"
                " WHERE removed_at IS NOT NULL AND url IN (SELECT value FROM json_each(?))",
                (listed,),
            )
            await give_handles(conn)

    async def active(self) -> list[FeedRecord]:
        """The feeds to poll: neither paused nor removed, oldest first."""
        rows = await self._db.fetchall(
            "SELECT * FROM feeds WHERE paused = 0 AND removed_at IS NULL ORDER BY id"
        )
        return [_record(row) for row in rows]

    async def records(self, *, removed: bool = False) -> list[FeedRecord]:
        """Every feed that is not removed (with `removed`, those too), as admins manage it,
        oldest first."""
        if removed:
            rows = await self._db.fetchall("SELECT * FROM feeds ORDER BY id")
        else:
            rows = await self._db.fetchall(
                "SELECT * FROM feeds WHERE removed_at IS NULL ORDER BY id"
            )
        return [_record(row) for row in rows]

    async def set_handle(self, feed_id: int, handle: str) -> bool:
        """Give a feed this handle, for good (a later title does not replace it); False when
        another feed has it or there is no such feed."""
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT 1 FROM feeds WHERE handle = ? AND id <> ?", (handle, feed_id)
            )
            if await cur.fetchone() is not None:
                return False
            cur = await conn.execute(
                "UPDATE feeds SET handle = ?, handle_provisional = 0 WHERE id = ?",
                (handle, feed_id),
            )
            return cur.rowcount > 0

    async def record(self, url: str) -> FeedRecord | None:
        """The feed for url, removed or not, or None."""
        row = await self._db.fetchone("SELECT * FROM feeds WHERE url = ?", (url,))
        return None if row is None else _record(row)

    async def health(self, *, since: float) -> list[FeedHealth]:
        """Every feed that is not removed, with its newest headline and output since `since`."""
        rows = await self._db.fetchall(
            "SELECT f.*,"
            " (SELECT max(first_seen_at) FROM headlines h"
            "  WHERE h.feed_id = f.id AND h.baseline = 0) AS last_new_at,"
            " (SELECT count(*) FROM headlines h"
            "  WHERE h.feed_id = f.id AND h.first_seen_at >= ?) AS new_recent,"
            " (SELECT count(*) FROM headlines h WHERE h.feed_id = f.id) AS stored"
            " FROM feeds f WHERE f.removed_at IS NULL ORDER BY f.id",
            (since,),
        )
        return [
            FeedHealth(_record(row), row["last_new_at"], row["new_recent"], row["stored"])
            for row in rows
        ]

    async def add(
        self,
        tx: Transaction,
        url: str,
        *,
        name: str | None,
        added_by: int | None,
        now: float,
    ) -> FeedState:
        """Insert the feed, or bring a removed one back; its next read is a new baseline."""
        conn = conn_of(tx)
        await conn.execute(
            "INSERT INTO feeds (url, name, added_at, added_by) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (url) DO UPDATE SET removed_at = NULL, paused = 0, baseline_done = 0,"
            " name = coalesce(excluded.name, name), added_at = excluded.added_at,"
            " added_by = excluded.added_by, consecutive_failures = 0, failing_since = NULL,"
            " last_error = NULL, last_error_reason = NULL, last_error_detail = NULL,"
            " next_attempt_at = 0, etag = NULL, last_modified = NULL"
            " WHERE removed_at IS NOT NULL",
            (url, name, now, added_by),
        )
        await give_handles(conn)
        cur = await conn.execute("SELECT * FROM feeds WHERE url = ?", (url,))
        row = await cur.fetchone()
        assert row is not None
        return _feed(row)

    async def remove(self, feed_id: int, *, now: float) -> bool:
        """Stop polling a feed for good; its headlines stay. False when already removed."""
        changed = await self._db.execute(
            "UPDATE feeds SET removed_at = ?, paused = 0 WHERE id = ? AND removed_at IS NULL",
            (now, feed_id),
        )
        return changed > 0

    async def set_paused(self, feed_id: int, paused: bool) -> bool:
        """Pause or resume a feed; False when it already was (or is removed)."""
        changed = await self._db.execute(
            "UPDATE feeds SET paused = ?, next_attempt_at = CASE WHEN ? THEN next_attempt_at"
            " ELSE 0 END WHERE id = ? AND paused <> ? AND removed_at IS NULL",
            (int(paused), int(paused), feed_id, int(paused)),
        )
        return changed > 0

    async def set_schedule(
        self, feed_id: int, *, interval_seconds: float | None, next_attempt_at: float
    ) -> None:
        """Record a feed's own (stretched) interval and when it is next due."""
        await self._db.execute(
            "UPDATE feeds SET interval_seconds = ?, next_attempt_at = ? WHERE id = ?",
            (interval_seconds, next_attempt_at, feed_id),
        )

    async def record_success(
        self,
        tx: Transaction,
        feed_id: int,
        *,
        now: float,
        etag: str | None,
        last_modified: str | None,
        title: str | None,
        baseline_done: bool = True,
        body_hash: str | None = None,
    ) -> None:
        """Record a fetched and stored feed; clears the failure state (not `alerted`).
        `body_hash`: the stored document's hash (None: not known)."""
        conn = conn_of(tx)
        # baseline_done never goes back to 0: the first fetch only happens once.
        await conn.execute(
            "UPDATE feeds SET etag = ?, last_modified = ?, title = COALESCE(?, title),"
            " consecutive_failures = 0, failing_since = NULL, last_error = NULL,"
            " last_error_reason = NULL, last_error_detail = NULL,"
            " last_success_at = ?, last_attempt_at = ?, next_attempt_at = 0,"
            " baseline_done = MAX(baseline_done, ?), body_hash = ?"
            " WHERE id = ?",
            (etag, last_modified, title, now, now, int(baseline_done), body_hash, feed_id),
        )
        await settle_handle(conn, feed_id, title)

    async def record_not_modified(self, feed_id: int, *, now: float) -> None:
        """Record a 304 answer: a success that keeps the validators and title."""
        await self._db.execute(
            "UPDATE feeds SET consecutive_failures = 0, failing_since = NULL, last_error = NULL,"
            " last_error_reason = NULL, last_error_detail = NULL,"
            " last_success_at = ?, last_attempt_at = ?, next_attempt_at = 0"
            " WHERE id = ?",
            (now, now, feed_id),
        )

    async def record_not_modified_many(
        self, rows: Sequence[tuple[int, float, float | None, float]]
    ) -> None:
        """Record many 304 answers in one transaction: (feed id, when, its own interval or
        None, when it is next due: 0 for the next round)."""
        await self._db.executemany(
            "UPDATE feeds SET consecutive_failures = 0, failing_since = NULL, last_error = NULL,"
            " last_error_reason = NULL, last_error_detail = NULL,"
            " last_success_at = ?2, last_attempt_at = ?2, interval_seconds = ?3,"
            " next_attempt_at = ?4 WHERE id = ?1",
            rows,
        )

    async def record_failure(
        self,
        feed_id: int,
        *,
        now: float,
        error: str,
        next_attempt_at: float,
        reason: str | None = None,
        detail: str = "",
    ) -> None:
        """Record a failed fetch and when to try again: its English text, and the reason code
        and detail that rebuild it as a value (None: a text with no reason)."""
        await self._db.execute(
            "UPDATE feeds SET consecutive_failures = consecutive_failures + 1,"
            " failing_since = COALESCE(failing_since, ?), last_error = ?,"
            " last_error_reason = ?, last_error_detail = ?,"
            " last_attempt_at = ?, next_attempt_at = ?"
            " WHERE id = ?",
            (
                now,
                error[:MAX_ERROR_CHARS],
                reason,
                detail[:MAX_ERROR_CHARS],
                now,
                next_attempt_at,
                feed_id,
            ),
        )

    async def set_alerted(self, feed_id: int, alerted: bool) -> None:
        """Remember whether admins were told about this feed's current failure."""
        await self._db.execute("UPDATE feeds SET alerted = ? WHERE id = ?", (int(alerted), feed_id))
