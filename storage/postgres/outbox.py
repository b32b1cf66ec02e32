"""The outbox on PostgreSQL: every send waiting to happen, and what became of it.

PgOutboxRepo is the only writer of the outbox, outbox_chunks and more_lists tables, with
exactly the semantics of storage/sqlite/outbox.py (read it for the why of each step): a push
row per chat and thread holds the headlines it was created with as JSON text
([[headline_id, "topic\\ntopic"], ...]) and each later pass's in a chunk of its own, the
same text on both backends so that a copy between them is a plain row copy.

Where SQLite runs one statement per row through executemany, this runs one statement for
all of them over unnest() arrays: PostgreSQL is a round trip away, and a routing chunk
touches thousands of rows. Statuses that a partial index's condition names are written in
the SQL text (`status = 'pending'`), so that the planner can match the index.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping, Sequence
from operator import attrgetter
from typing import Any

import asyncpg

from storage.models import (
    OPEN_STATUSES,
    BroadcastStatus,
    ChatKind,
    ChatPush,
    MoreList,
    OutboxItem,
    OutboxStatus,
    Priority,
)
from storage.postgres.chats import PgChatRepo, changed
from storage.postgres.db import PgDatabase, conn_of
from storage.sqlite.outbox import KEEP_PER_ROW, MAX_ERROR_CHARS, MAX_UNIT_ROWS
from storage.store import Transaction

__all__ = ["KEEP_PER_ROW", "MAX_UNIT_ROWS", "PgOutboxRepo"]

Items = Sequence[tuple[int, tuple[str, ...]]]
_SCAN_CHUNK = 512  # due rows read at a time while looking for ready chats
_OPEN = [str(status) for status in OPEN_STATUSES]
_COLUMNS = (
    "id, chat_id, headline_id, broadcast_id, batch, thread_id, items, more, priority,"
    " attempts, posted, items_total, items_from"
)

Item = tuple[int, tuple[str, ...]]
Chunks = Mapping[int, Sequence[tuple[int, str]]]  # row id -> its chunks: (end_at, items JSON)


def _topics(text: str) -> tuple[str, ...]:
    return tuple(text.split("\n")) if text else ()


def _kept(items: str | None, start: int, chunks: Sequence[tuple[int, str]] = ()) -> list[Item]:
    """A push row's kept headlines: those of its `items` (ordinals from 0) and of its chunks
    (each ending before its end_at), from ordinal `start` (the row's items_from) on."""
    if items is None:
        return []
    kept: list[Item] = [(hid, _topics(t)) for hid, t in json.loads(items)[start:]]
    for end, text in chunks:
        listed = json.loads(text)
        skip = max(0, start - (end - len(listed)))
        kept.extend((hid, _topics(t)) for hid, t in listed[skip:])
    return kept


def _has_chunks(row: asyncpg.Record) -> bool:
    """Whether a push row took in more headlines than its own `items` hold."""
    items = row["items"]
    return items is not None and row["items_total"] > len(json.loads(items))


async def _chunks_of(
    conn: asyncpg.Connection, row_ids: Collection[int]
) -> dict[int, list[tuple[int, str]]]:
    """The chunks of these rows, each row's in order: row id -> [(end_at, items JSON)]."""
    found: dict[int, list[tuple[int, str]]] = {}
    if not row_ids:
        return found
    rows = await conn.fetch(
        "SELECT outbox_id, end_at, items FROM outbox_chunks"
        " WHERE outbox_id = ANY($1::bigint[]) ORDER BY outbox_id, end_at",
        list(row_ids),
    )
    for row_id, end, text in rows:
        found.setdefault(row_id, []).append((end, text))
    return found


def _item(row: asyncpg.Record, chunks: Chunks | None = None) -> OutboxItem:
    items = _kept(row["items"], row["items_from"], (chunks or {}).get(row["id"], ()))
    return OutboxItem(
        id=row["id"],
        chat_id=row["chat_id"],
        headline_id=row["headline_id"],
        broadcast_id=row["broadcast_id"],
        batch=row["batch"],
        thread_id=row["thread_id"],
        items=tuple(items),
        more=row["more"],
        priority=Priority(row["priority"]),
        attempts=row["attempts"],
        posted=row["posted"],
    )


def _items_json(items: Items, memo: dict[tuple[int, tuple[str, ...]], str] | None = None) -> str:
    """Items as a row stores them (SQLite's spelling, byte for byte); with `memo`, each item
    is encoded once however many rows share it."""
    if memo is None:
        return json.dumps(
            [[hid, "\n".join(topics)] for hid, topics in items], separators=(",", ":")
        )
    parts: list[str] = []
    for item in items:
        text = memo.get(item)
        if text is None:
            text = memo[item] = json.dumps([item[0], "\n".join(item[1])], separators=(",", ":"))
        parts.append(text)
    return "[" + ",".join(parts) + "]"


def _error(text: str | None) -> str | None:
    return None if text is None else text[:MAX_ERROR_CHARS]


class _PushRows:
    """New push rows as column arrays, inserted by one statement over unnest()."""

    def __init__(self) -> None:
        self.columns: tuple[list[Any], ...] = tuple([] for _ in range(9))

    def add(
        self,
        chat_id: int,
        thread_id: int | None,
        items: Items,
        more: int,
        *,
        batch: int,
        not_before: float = 0.0,
        memo: dict[tuple[int, tuple[str, ...]], str] | None = None,
    ) -> None:
        """A new row: the newest KEEP_PER_ROW items kept, the older ones counted; held until
        not_before (0: ready at once)."""
        kept = items[-KEEP_PER_ROW:]
        values = (
            chat_id,
            items[0][0],  # the unique (chat, headline) rule keys on the first headline routed
            batch,
            thread_id,
            _items_json(kept, memo),
            more + len(items) - len(kept),
            Priority.PUSH.value,
            not_before,
            len(kept),
        )
        for column, value in zip(self.columns, values, strict=True):
            column.append(value)

    async def insert(self, conn: asyncpg.Connection, *, now: float) -> None:
        """Insert the rows, in the order added."""
        if not self.columns[0]:
            return
        await conn.execute(
            "INSERT INTO outbox (chat_id, headline_id, batch, thread_id, items, more, priority,"
            " not_before, items_total, created_at)"
            " SELECT r.*, $10 FROM unnest($1::bigint[], $2::bigint[], $3::bigint[],"
            " $4::bigint[], $5::text[], $6::integer[], $7::integer[], $8::float8[],"
            " $9::integer[]) AS r (chat_id, headline_id, batch, thread_id, items, more,"
            " priority, not_before, items_total)",
            *self.columns,
            now,
        )


def _held_until(release: Mapping[int, float] | None, chat_id: int, now: float) -> float:
    """A new row's not_before: the chat's release time when later than now, else 0."""
    if release is None:
        return 0.0
    at = release.get(chat_id, 0.0)
    return at if at > now else 0.0


# `status = 'pending'`: rows claimed must still be pending (a cancel may have closed them)
_SET_SENDING = "UPDATE outbox SET status = $2 WHERE status = 'pending' AND id = ANY($1::bigint[])"


class PgOutboxRepo:
    """Queues sends and tracks their state (pending -> sending -> sent/failed/dropped)."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    async def enqueue_pushes(
        self,
        tx: Transaction,
        pushes: Sequence[ChatPush],
        *,
        batch: int,
        now: float,
        release: Mapping[int, float] | None = None,
    ) -> int:
        """Add pushes to the message each active chat is owed; return the headlines queued.

        As SqliteOutboxRepo.enqueue_pushes: a chat's headlines join its pending row for that
        thread (one not under way) as a chunk of their own, or start a new row held until
        its `release` time; a row keeps the newest KEEP_PER_ROW headlines and counts the
        older ones; a headline at or below the chat's `pushed_upto` is left out; the chats'
        new marks are written in the same transaction.
        """
        conn = conn_of(tx)
        if not pushes:
            return 0
        # The two reads are planned for this call's chats: a generic plan of a cached
        # statement tests `chat_id = ANY($2)` against the whole array row by row (a custom
        # plan hashes it), and statistics not yet gathered after a bulk change make it look
        # cheap. A routing chunk holds thousands of chats: minutes instead of milliseconds.
        # Reset before the writes, whose foreign key checks would be planned for every row.
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        upto = await PgChatRepo.pushed_upto(conn, list({p.chat_id for p in pushes}))
        # the newest pending row of each (chat, thread): the message still waiting (a row
        # whose posts are under way is left alone: its `posted` counts its first items)
        rows = await conn.fetch(
            "SELECT chat_id, thread_id, id, items_total, items_from FROM outbox"
            " WHERE status = 'pending' AND priority = $1 AND chat_id = ANY($2::bigint[])"
            " AND items IS NOT NULL AND posted = 0 ORDER BY id",
            Priority.PUSH.value,
            list(upto),
        )
        await conn.execute("RESET plan_cache_mode")
        waiting = {
            (chat, thread): (row_id, total, start) for chat, thread, row_id, total, start in rows
        }
        inserts = _PushRows()
        chunks: tuple[list[int], list[int], list[str]] = ([], [], [])  # row, end_at, items
        grown: dict[int, list[int]] = {}  # row -> [items_total, items_from, more +]
        marks: dict[int, int] = {}
        encoded: dict[tuple[int, tuple[str, ...]], str] = {}  # each shared item once
        queued = 0
        for push in sorted(pushes, key=attrgetter("chat_id")):
            mark = upto.get(push.chat_id)
            if mark is None:  # unknown, or stopped since the index was read
                continue
            items = [item for item in push.items if item[0] > mark]
            if not items:
                continue
            marks[push.chat_id] = max(marks.get(push.chat_id, mark), items[-1][0])
            queued += len(items)
            key = (push.chat_id, push.thread_id)
            found = waiting.get(key)
            if found is None:
                inserts.add(
                    push.chat_id,
                    push.thread_id,
                    items,
                    0,
                    batch=batch,
                    not_before=_held_until(release, push.chat_id, now),
                    memo=encoded,
                )
                continue
            # A chunk of its own: the row is not rewritten, however many it holds already.
            row_id, total, start = found
            end = total + len(items)
            chunks[0].append(row_id)
            chunks[1].append(end)
            chunks[2].append(_items_json(items[-KEEP_PER_ROW:], encoded))
            keep_from = max(start, end - KEEP_PER_ROW)  # the newest are kept, older counted
            counts = grown.setdefault(row_id, [0, 0, 0])
            counts[0], counts[1], counts[2] = end, keep_from, counts[2] + keep_from - start
            waiting[key] = (row_id, end, keep_from)
        await inserts.insert(conn, now=now)
        if grown:
            await conn.execute(
                "INSERT INTO outbox_chunks (outbox_id, end_at, items)"
                " SELECT * FROM unnest($1::bigint[], $2::integer[], $3::text[])",
                *chunks,
            )
            await conn.execute(
                "UPDATE outbox AS o SET items_total = g.total, items_from = g.start,"
                " more = o.more + g.more"
                " FROM unnest($1::bigint[], $2::integer[], $3::integer[], $4::integer[])"
                " AS g (id, total, start, more) WHERE o.id = g.id",
                list(grown),
                [counts[0] for counts in grown.values()],
                [counts[1] for counts in grown.values()],
                [counts[2] for counts in grown.values()],
            )
            # chunks wholly older than a row's kept headlines go
            trimmed = [(row_id, c[1]) for row_id, c in grown.items() if c[2] > 0]
            if trimmed:
                await conn.execute(
                    "DELETE FROM outbox_chunks AS c"
                    " USING unnest($1::bigint[], $2::integer[]) AS t (id, start)"
                    " WHERE c.outbox_id = t.id AND c.end_at <= t.start",
                    [row_id for row_id, _ in trimmed],
                    [start for _, start in trimmed],
                )
        await PgChatRepo.set_pushed_upto(conn, marks)
        return queued

    @staticmethod
    async def queue_broadcast(
        tx: Transaction,
        broadcast_id: int,
        *,
        kinds: Sequence[ChatKind],
        now: float,
    ) -> int:
        """Queue one broadcast row per active chat of these kinds; return the rows added.

        A chat that has the broadcast already gets no second row.
        """
        status = await conn_of(tx).execute(
            "INSERT INTO outbox (chat_id, broadcast_id, priority, created_at)"
            " SELECT id, $1, $2, $3 FROM chats"
            " WHERE active = 1 AND kind = ANY($4::text[]) ORDER BY id"
            " ON CONFLICT DO NOTHING",
            broadcast_id,
            Priority.BROADCAST.value,
            now,
            [str(kind) for kind in kinds],
        )
        return changed(status)

    @staticmethod
    async def delete_chat(tx: Transaction, chat_id: int) -> int:
        """Delete every row of the chat, sent or not (a /forget); return how many."""
        return changed(await conn_of(tx).execute("DELETE FROM outbox WHERE chat_id = $1", chat_id))

    @staticmethod
    async def delete_broadcasts(tx: Transaction, broadcast_ids: Collection[int]) -> int:
        """Delete every row of these broadcasts, whatever chat it is for; return how many."""
        if not broadcast_ids:
            return 0
        status = await conn_of(tx).execute(
            "DELETE FROM outbox WHERE broadcast_id = ANY($1::bigint[])", list(broadcast_ids)
        )
        return changed(status)

    @staticmethod
    async def cancel_broadcast(tx: Transaction, broadcast_id: int, *, now: float) -> int:
        """Close a broadcast's rows not yet claimed (one in flight still lands); return how many."""
        status = await conn_of(tx).execute(
            "UPDATE outbox SET status = $1, closed_at = $2 WHERE broadcast_id = $3 AND status = $4",
            str(OutboxStatus.CANCELLED),
            now,
            broadcast_id,
            str(OutboxStatus.PENDING),
        )
        return changed(status)

    @staticmethod
    async def drop_pending(tx: Transaction, chat_id: int, *, reason: str, now: float) -> int:
        """Drop every unsent row of a chat (blocked, gone or paused); return how many."""
        # found through the two partial indexes that hold a chat's unsent rows
        status = await conn_of(tx).execute(
            "UPDATE outbox SET status = $2, last_error = $3, closed_at = $4 WHERE id IN ("
            " SELECT id FROM outbox WHERE chat_id = $1 AND status = 'pending' UNION ALL"
            " SELECT id FROM outbox WHERE chat_id = $1 AND status = 'sending')",
            chat_id,
            str(OutboxStatus.DROPPED),
            reason[:MAX_ERROR_CHARS],
            now,
        )
        return changed(status)

    @staticmethod
    async def move_chat(tx: Transaction, old_id: int, new_id: int, *, now: float) -> None:
        """Hand old_id's unsent rows to new_id, which exists already, and drop the rest.

        new_id is queued the headlines of old_id's push rows that it has not had (a row per
        thread; those already posted went to old_id), and old_id's broadcasts it has no copy
        of. Whatever old_id still held is dropped as 'migrated'. The chats' `pushed_upto`
        marks are PgChatRepo's to carry over.
        """
        conn = conn_of(tx)
        have = {
            hid
            for (hid,) in await conn.fetch(
                "SELECT DISTINCT headline_id FROM outbox_pushes WHERE chat_id = $1", new_id
            )
        }
        rows = await conn.fetch(
            "SELECT id, thread_id, items, more, posted, items_from FROM outbox"
            " WHERE chat_id = $1 AND items IS NOT NULL AND status = ANY($2::text[]) ORDER BY id",
            old_id,
            _OPEN,
        )
        chunks = await _chunks_of(conn, [row[0] for row in rows])
        threads: dict[int | None, tuple[list[tuple[int, tuple[str, ...]]], int]] = {}
        for row_id, thread_id, items, more, posted, start in rows:
            listed, counted = threads.get(thread_id, ([], 0))
            unposted = _kept(items, start, chunks.get(row_id, ()))[posted:]  # the posted went
            listed.extend((hid, topics) for hid, topics in unposted if hid not in have)
            threads[thread_id] = (listed, counted + more)
        inserts = _PushRows()
        for thread_id, (listed, counted) in threads.items():
            if listed:
                inserts.add(new_id, thread_id, sorted(listed), counted, batch=0)
        await inserts.insert(conn, now=now)
        # SQLite's UPDATE OR IGNORE: the broadcasts new_id has a copy of stay behind
        await conn.execute(
            "UPDATE outbox AS o SET chat_id = $1"
            " WHERE o.chat_id = $2 AND o.status = ANY($3::text[]) AND o.broadcast_id IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM outbox AS n"
            " WHERE n.chat_id = $1 AND n.broadcast_id = o.broadcast_id)",
            new_id,
            old_id,
            _OPEN,
        )
        await PgOutboxRepo.drop_pending(conn, old_id, reason="migrated", now=now)

    async def reset_inflight(self) -> int:
        """Put rows a crash left 'sending' back to 'pending'; return how many."""
        return changed(
            await self._db.execute(
                "UPDATE outbox SET status = $1 WHERE status = 'sending'", str(OutboxStatus.PENDING)
            )
        )

    async def ready_chats(
        self, *, now: float, limit: int, exclude: Collection[int] = ()
    ) -> list[int]:
        """Return up to limit chats with a ready send, most urgent first, each chat once.

        A chat ranks by its most urgent ready row (lowest priority, then due time, then
        age). As claim_units takes all of a chat's ready pushes at a time, a chat's backlog
        cannot starve the others: once they are out, its next rows are newer than theirs.
        """
        found: list[int] = []
        if limit <= 0:
            return found
        seen = set(exclude)
        # Walk due rows in urgency order a page at a time (outbox_pending_due holds them in
        # that order) and stop at `limit` chats: with a large backlog this reads a few rows
        # instead of grouping them all, and rows held for later are never read.
        for priority in (Priority.PUSH, Priority.BROADCAST):
            after: tuple[float, int] = (-math.inf, 0)
            while len(found) < limit:
                rows = await self._db.fetch(
                    "SELECT chat_id, not_before, id FROM outbox"
                    " WHERE status = 'pending' AND priority = $1 AND not_before <= $2"
                    " AND (not_before, id) > ($3::float8, $4::bigint)"
                    " ORDER BY not_before, id LIMIT $5",
                    priority.value,
                    now,
                    *after,
                    _SCAN_CHUNK,
                )
                for chat_id, _, _ in rows:
                    if chat_id not in seen:
                        seen.add(chat_id)
                        found.append(chat_id)
                        if len(found) == limit:
                            break
                if len(rows) < _SCAN_CHUNK:
                    break
                after = (rows[-1][1], rows[-1][2])
            if len(found) >= limit:
                break
        return found

    async def claim_units(
        self, chat_ids: Sequence[int], *, now: float, max_rows: int = MAX_UNIT_ROWS
    ) -> dict[int, list[OutboxItem]]:
        """Claim the next message's worth of rows of each chat, in one transaction.

        See SqliteOutboxRepo.claim_units: the rows come back marked 'sending'; the
        transaction keeps routing from adding headlines to a row between the read and the
        claim.
        """
        async with self._db.connection() as conn:
            units = await self.units(conn, chat_ids, now=now, max_rows=max_rows)
            ids = [item.id for unit in units.values() for item in unit]
            if ids:
                await conn.execute(_SET_SENDING, ids, str(OutboxStatus.SENDING))
        return units

    @staticmethod
    async def units(
        tx: Transaction,
        chat_ids: Sequence[int],
        *,
        now: float,
        max_rows: int = MAX_UNIT_ROWS,
    ) -> dict[int, list[OutboxItem]]:
        """The next unit of each chat (see claim_units), read in the caller's transaction."""
        if not chat_ids:
            return {}
        conn = conn_of(tx)
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM (SELECT {_COLUMNS}, ROW_NUMBER() OVER ("  # noqa: S608
            "  PARTITION BY chat_id ORDER BY priority, batch, id) AS position"
            " FROM outbox WHERE status = 'pending' AND not_before <= $1"
            " AND chat_id = ANY($2::bigint[])) AS ranked"
            " WHERE position <= $3 ORDER BY chat_id, position",
            now,
            list(chat_ids),
            max_rows,
        )
        # a row that took in headlines after it was queued has them in chunks
        chunks = await _chunks_of(conn, [row["id"] for row in rows if _has_chunks(row)])
        units: dict[int, list[OutboxItem]] = {}
        for row in rows:
            unit = units.setdefault(row["chat_id"], [])
            if not unit:
                unit.append(_item(row, chunks))
                continue
            first = unit[0]
            if (
                first.priority == Priority.PUSH
                and row["priority"] == Priority.PUSH
                and row["thread_id"] == first.thread_id
            ):
                unit.append(_item(row, chunks))
        return units

    async def next_wakeup(self) -> float | None:
        """Return when the first row put off (by a 429 or a retry) is due; None if none is."""
        value = await self._db.fetchval(
            "SELECT min(not_before) FROM outbox WHERE status = 'pending' AND not_before > 0"
        )
        return None if value is None else float(value)

    async def mark_sent(self, ids: Collection[int], *, now: float) -> int:
        """Record rows as delivered."""
        if not ids:
            return 0
        status = await self._db.execute(
            "UPDATE outbox SET status = $3, sent_at = $1, closed_at = $1, last_error = NULL"
            " WHERE id = ANY($2::bigint[])",
            now,
            list(ids),
            str(OutboxStatus.SENT),
        )
        return changed(status)

    async def mark_posted(
        self,
        row_id: int,
        posted: int,
        *,
        done: bool,
        now: float,
        not_before: float = 0.0,
        error: str | None = None,
    ) -> int:
        """Record that a push row's first `posted` headlines went out, one post each: the row
        is sent when `done`, else back to pending until `not_before` to go on from there (a
        row closed meanwhile, its chat blocked or moved, stays closed). One statement,
        committed at once."""
        status = OutboxStatus.SENT if done else OutboxStatus.PENDING
        return changed(
            await self._db.execute(
                "UPDATE outbox SET posted = $1, status = $2,"
                " sent_at = CASE WHEN $3::boolean THEN $4 ELSE sent_at END,"
                " closed_at = CASE WHEN $3::boolean THEN $4 ELSE closed_at END,"
                " not_before = CASE WHEN $3::boolean THEN not_before ELSE $8 END,"
                " last_error = COALESCE($5, last_error)"
                " WHERE id = $6 AND status = ANY($7::text[])",
                posted,
                str(status),
                done,
                now,
                _error(error),
                row_id,
                _OPEN,
                not_before,
            )
        )

    async def mark_failed(self, ids: Collection[int], *, error: str, now: float) -> int:
        """Record rows that can never be delivered."""
        if not ids:
            return 0
        status = await self._db.execute(
            "UPDATE outbox SET status = $1, last_error = $2, closed_at = $3"
            " WHERE id = ANY($4::bigint[])",
            str(OutboxStatus.FAILED),
            error[:MAX_ERROR_CHARS],
            now,
            list(ids),
        )
        return changed(status)

    async def prune(self, *, before: float, limit: int = 5000) -> int:
        """Delete up to `limit` rows finished before `before`; return how many went.

        Rows of a broadcast still running stay, as its progress report counts them.
        """
        status = await self._db.execute(
            "DELETE FROM outbox WHERE id IN (SELECT o.id FROM outbox AS o"
            " WHERE o.closed_at < $1 AND (o.broadcast_id IS NULL"
            " OR o.broadcast_id NOT IN (SELECT id FROM broadcasts WHERE status = $2))"
            " LIMIT $3)",
            before,
            str(BroadcastStatus.QUEUED),
            limit,
        )
        return changed(status)

    async def defer(self, ids: Collection[int], *, not_before: float, error: str) -> int:
        """Put rows back to pending until not_before, counting the attempt."""
        if not ids:
            return 0
        # Rows dropped or cancelled meanwhile stay closed.
        status = await self._db.execute(
            "UPDATE outbox SET status = $1, attempts = attempts + 1, not_before = $2,"
            " last_error = $3 WHERE status = ANY($4::text[]) AND id = ANY($5::bigint[])",
            str(OutboxStatus.PENDING),
            not_before,
            error[:MAX_ERROR_CHARS],
            _OPEN,
            list(ids),
        )
        return changed(status)

    async def hold(self, ids: Collection[int], *, until: float) -> int:
        """Put claimed rows back to pending until `until`, not counting an attempt (the
        chat's settings hold them: a digest time, quiet hours)."""
        if not ids:
            return 0
        status = await self._db.execute(
            "UPDATE outbox SET status = $1, not_before = $2"
            " WHERE status = ANY($3::text[]) AND id = ANY($4::bigint[])",
            str(OutboxStatus.PENDING),
            until,
            _OPEN,
            list(ids),
        )
        return changed(status)

    async def reschedule(self, chat_id: int, *, until: float, now: float) -> int:
        """Move a chat's pending push rows to `until` (0 when not later than now): its
        digest, quiet hours or time zone changed. Return how many rows moved."""
        at = until if until > now else 0.0
        status = await self._db.execute(
            "UPDATE outbox SET not_before = $2"
            " WHERE chat_id = $1 AND status = 'pending' AND priority = $3",
            chat_id,
            at,
            Priority.PUSH.value,
        )
        return changed(status)

    async def keep_more_list(
        self,
        chat_id: int,
        outbox_id: int,
        items: Items,
        *,
        dropped: int,
        digest: bool,
        now: float,
    ) -> int:
        """Keep the headlines a sent message shows only part of; return the list's key."""
        async with self._db.connection() as conn:
            list_id = await conn.fetchval(
                "INSERT INTO more_lists (chat_id, outbox_id, items, dropped, digest, created_at)"
                " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                chat_id,
                outbox_id,
                _items_json(items),
                dropped,
                int(digest),
                now,
            )
        return int(list_id)

    async def more_list(self, list_id: int, chat_id: int) -> MoreList | None:
        """The list behind a More button of this chat (None once pruned, or another chat's)."""
        row = await self._db.fetchrow(
            "SELECT items, dropped, digest FROM more_lists WHERE id = $1 AND chat_id = $2",
            list_id,
            chat_id,
        )
        if row is None:
            return None
        items = tuple((hid, _topics(t)) for hid, t in json.loads(row["items"]))
        return MoreList(list_id, chat_id, items, int(row["dropped"]), bool(row["digest"]))

    async def backlog(self) -> dict[str, int]:
        """Return the pending rows by kind ('push', 'broadcast') and in 'total'."""
        rows = await self._db.fetch(
            "SELECT priority, count(*) FROM outbox WHERE status = 'pending' GROUP BY priority"
        )
        by_priority = {row[0]: int(row[1]) for row in rows}
        push = by_priority.get(Priority.PUSH, 0)
        broadcast = by_priority.get(Priority.BROADCAST, 0)
        return {"push": push, "broadcast": broadcast, "total": push + broadcast}
