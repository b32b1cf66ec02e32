"""Feeds and their polling state on PostgreSQL: the list the poller reads and admins manage.

The same statements as storage/sqlite/feeds.py. A feed's id is only taken when a feed is
really inserted (never by an insert that finds the URL already there), so that ids count
up without gaps as on SQLite: admins and topics name feeds by them (`from:#12`).
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from storage.models import FeedHealth, FeedRecord, FeedState
from storage.postgres.db import PgDatabase, conn_of
from storage.postgres.handles import give_handles, settle_handle
from storage.store import Transaction

MAX_ERROR_CHARS = 500


def changed(status: str) -> int:
    """The rows a statement changed, from its status ('UPDATE 3' -> 3)."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


def _feed(row: asyncpg.Record) -> FeedState:
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


def _record(row: asyncpg.Record) -> FeedRecord:
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


class PgFeedRepo:
    """Reads and updates the feeds table (storage.feeds.FeedRepo)."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    async def ensure(self, url: str) -> FeedState:
        """Return the feed for url, inserting it first when it is new."""
        async with self._db.connection() as conn:
            row = await conn.fetchrow("SELECT * FROM feeds WHERE url = $1", url)
            if row is None:
                await conn.execute("INSERT INTO feeds (url) VALUES ($1)", url)
                await give_handles(conn)
                row = await conn.fetchrow("SELECT * FROM feeds WHERE url = $1", url)
        assert row is not None
        return _feed(row)

    async def get(self, url: str) -> FeedState | None:
        """Return the feed for url, or None."""
        row = await self._db.fetchrow("SELECT * FROM feeds WHERE url = $1", url)
        return None if row is None else _feed(row)

    async def all(self) -> list[FeedState]:
        """Return every feed (removed ones left out), oldest first."""
        rows = await self._db.fetch("SELECT * FROM feeds WHERE removed_at IS NULL ORDER BY id")
        return [_feed(row) for row in rows]

    async def ensure_configured(self, urls: Sequence[str], *, now: float) -> None:
        """Add the configured feeds (FEED_URLS) that are missing, and bring back removed ones.

        A configured feed keeps its paused state: pausing it is how an admin stops it.
        """
        if not urls:
            return
        listed = list(dict.fromkeys(urls))
        async with self._db.connection() as conn:
            await conn.execute(
                "INSERT INTO feeds (url, added_at)"
                " SELECT u.url, $1 FROM unnest($2::text[]) WITH ORDINALITY AS u (url, n)"
                " WHERE NOT EXISTS (SELECT 1 FROM feeds WHERE feeds.url = u.url) ORDER BY u.n",
                now,
                listed,
            )
            await conn.execute(
                "UPDATE feeds SET removed_at = NULL, baseline_done = 0"
                " WHERE removed_at IS NOT NULL AND url = ANY($1::text[])",
                listed,
            )
            await give_handles(conn)

    async def active(self) -> list[FeedRecord]:
        """The feeds to poll: neither paused nor removed, oldest first."""
        rows = await self._db.fetch(
            "SELECT * FROM feeds WHERE paused = 0 AND removed_at IS NULL ORDER BY id"
        )
        return [_record(row) for row in rows]

    async def records(self, *, removed: bool = False) -> list[FeedRecord]:
        """Every feed that is not removed (with `removed`, those too), as admins manage it,
        oldest first."""
        if removed:
            rows = await self._db.fetch("SELECT * FROM feeds ORDER BY id")
        else:
            rows = await self._db.fetch("SELECT * FROM feeds WHERE removed_at IS NULL ORDER BY id")
        return [_record(row) for row in rows]

    async def set_handle(self, feed_id: int, handle: str) -> bool:
        """Give a feed this handle, for good (a later title does not replace it); False when
        another feed has it or there is no such feed."""
        async with self._db.connection() as conn:
            taken = await conn.fetchval(
                "SELECT 1 FROM feeds WHERE handle = $1 AND id <> $2", handle, feed_id
            )
            if taken is not None:
                return False
            status = await conn.execute(
                "UPDATE feeds SET handle = $1, handle_provisional = 0 WHERE id = $2",
                handle,
                feed_id,
            )
            return changed(status) > 0

    async def record(self, url: str) -> FeedRecord | None:
        """The feed for url, removed or not, or None."""
        row = await self._db.fetchrow("SELECT * FROM feeds WHERE url = $1", url)
        return None if row is None else _record(row)

    async def health(self, *, since: float) -> list[FeedHealth]:
        """Every feed that is not removed, with its newest headline and output since `since`."""
        rows = await self._db.fetch(
            "SELECT f.*,"
            " (SELECT max(first_seen_at) FROM headlines h"
            "  WHERE h.feed_id = f.id AND h.baseline = 0) AS last_new_at,"
            " (SELECT count(*) FROM headlines h"
            "  WHERE h.feed_id = f.id AND h.first_seen_at >= $1) AS new_recent,"
            " (SELECT count(*) FROM headlines h WHERE h.feed_id = f.id) AS stored"
            " FROM feeds f WHERE f.removed_at IS NULL ORDER BY f.id",
            since,
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
        row = await conn.fetchrow(
            "UPDATE feeds SET removed_at = NULL, paused = 0, baseline_done = 0,"
            " name = coalesce($2, name), added_at = $3, added_by = $4,"
            " consecutive_failures = 0, failing_since = NULL, last_error = NULL,"
            " last_error_reason = NULL, last_error_detail = NULL, next_attempt_at = 0,"
            " etag = NULL, last_modified = NULL"
            " WHERE url = $1 AND removed_at IS NOT NULL RETURNING *",
            url,
            name,
            now,
            added_by,
        )
        if row is None:
            row = await conn.fetchrow("SELECT * FROM feeds WHERE url = $1", url)
        if row is None:
            await conn.execute(
                "INSERT INTO feeds (url, name, added_at, added_by) VALUES ($1, $2, $3, $4)",
                url,
                name,
                now,
                added_by,
            )
            await give_handles(conn)
            row = await conn.fetchrow("SELECT * FROM feeds WHERE url = $1", url)
        assert row is not None
        return _feed(row)

    async def remove(self, feed_id: int, *, now: float) -> bool:
        """Stop polling a feed for good; its headlines stay. False when already removed."""
        status = await self._db.execute(
            "UPDATE feeds SET removed_at = $1, paused = 0 WHERE id = $2 AND removed_at IS NULL",
            now,
            feed_id,
        )
        return changed(status) > 0

    async def set_paused(self, feed_id: int, paused: bool) -> bool:
        """Pause or resume a feed; False when it already was (or is removed)."""
        status = await self._db.execute(
            "UPDATE feeds SET paused = $1, next_attempt_at = CASE WHEN $1 = 1 THEN"
            " next_attempt_at ELSE 0 END WHERE id = $2 AND paused <> $1 AND removed_at IS NULL",
            int(paused),
            feed_id,
        )
        return changed(status) > 0

    async def set_schedule(
        self, feed_id: int, *, interval_seconds: float | None, next_attempt_at: float
    ) -> None:
        """Record a feed's own (stretched) interval and when it is next due."""
        await self._db.execute(
            "UPDATE feeds SET interval_seconds = $1, next_attempt_at = $2 WHERE id = $3",
            interval_seconds,
            next_attempt_at,
            feed_id,
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
            "UPDATE feeds SET etag = $1, last_modified = $2, title = coalesce($3, title),"
            " consecutive_failures = 0, failing_since = NULL, last_error = NULL,"
            " last_error_reason = NULL, last_error_detail = NULL,"
            " last_success_at = $4, last_attempt_at = $4, next_attempt_at = 0,"
            " baseline_done = greatest(baseline_done, $5), body_hash = $6"
            " WHERE id = $7",
            etag,
            last_modified,
            title,
            now,
            int(baseline_done),
            body_hash,
            feed_id,
        )
        await settle_handle(conn, feed_id, title)

    async def record_not_modified(self, feed_id: int, *, now: float) -> None:
        """Record a 304 answer: a success that keeps the validators and title."""
        await self._db.execute(
            "UPDATE feeds SET consecutive_failures = 0, failing_since = NULL, last_error = NULL,"
            " last_error_reason = NULL, last_error_detail = NULL,"
            " last_success_at = $1, last_attempt_at = $1, next_attempt_at = 0"
            " WHERE id = $2",
            now,
            feed_id,
        )

    async def record_not_modified_many(
        self, rows: Sequence[tuple[int, float, float | None, float]]
    ) -> None:
        """Record many 304 answers in one transaction: (feed id, when, its own interval or
        None, when it is next due: 0 for the next round)."""
        if not rows:
            return
        await self._db.executemany(
            "UPDATE feeds SET consecutive_failures = 0, failing_since = NULL, last_error = NULL,"
            " last_error_reason = NULL, last_error_detail = NULL,"
            " last_success_at = $2, last_attempt_at = $2, interval_seconds = $3,"
            " next_attempt_at = $4 WHERE id = $1",
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
            " failing_since = coalesce(failing_since, $1), last_error = $2,"
            " last_error_reason = $3, last_error_detail = $4,"
            " last_attempt_at = $1, next_attempt_at = $5"
            " WHERE id = $6",
            now,
            error[:MAX_ERROR_CHARS],
            reason,
            detail[:MAX_ERROR_CHARS],
            next_attempt_at,
            feed_id,
        )

    async def set_alerted(self, feed_id: int, alerted: bool) -> None:
        """Remember whether admins were told about this feed's current failure."""
        await self._db.execute("UPDATE feeds SET alerted = $1 WHERE id = $2", int(alerted), feed_id)
