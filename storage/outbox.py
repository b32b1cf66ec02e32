"""The outbox: every send waiting to happen, and what became of it."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Sequence
from operator import attrgetter

import aiosqlite

from storage.db import Database
from storage.models import ChatPush, OutboxItem

PRIORITY_PUSH = 1
PRIORITY_BROADCAST = 2
SHOWN_PER_PUSH = 10  # headlines a push message lists; a row keeps only a count of the rest
MAX_UNIT_ROWS = 100  # push rows merged into one message (several only after a retry or crash)
MAX_ERROR_CHARS = 500
_SCAN_CHUNK = 512


def _topics(text: str) -> tuple[str, ...]:
    return tuple(text.split("\n")) if text else ()


def _item(row: sqlite3.Row) -> OutboxItem:
    items = row["items"]
    return OutboxItem(
        id=row["id"],
        chat_id=row["chat_id"],
        headline_id=row["headline_id"],
        broadcast_id=row["broadcast_id"],
        batch=row["batch"],
        thread_id=row["thread_id"],
        items=tuple((hid, _topics(topics)) for hid, topics in json.loads(items)) if items else (),
        more=row["more"],
        priority=row["priority"],
        attempts=row["attempts"],
    )


def _items_json(items: Items) -> str:
    return json.dumps([[hid, "\n".join(topics)] for hid, topics in items], separators=(",", ":"))


def _ids(ids: Collection[int]) -> str:
    return json.dumps(list(ids))


Items = Sequence[tuple[int, tuple[str, ...]]]
_INSERT_PUSH = (
    "INSERT INTO outbox (chat_id, headline_id, batch, thread_id, items, more, priority,"
    " created_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?)"
)


def _push_row(
    chat_id: int, thread_id: int | None, items: Items, more: int, *, batch: int, now: float
) -> tuple[int, int, int, int | None, str, int, float]:
    """_INSERT_PUSH's values for a new push row: SHOWN_PER_PUSH items listed, the rest counted."""
    shown = items[:SHOWN_PER_PUSH]
    return (
        chat_id,
        shown[0][0],
        batch,
        thread_id,
        _items_json(shown),
        more + len(items) - len(shown),
        now,
    )


async def move_pushes(conn: aiosqlite.Connection, old_id: int, new_id: int, *, now: float) -> None:
    """Queue to new_id the unsent headlines of old_id it has not had (a row per thread), and
    carry over old_id's `pushed_upto`. The old chat's rows stay for the caller to close."""
    cur = await conn.execute(
        "SELECT DISTINCT headline_id FROM outbox_pushes WHERE chat_id = ?", (new_id,)
    )
    have = {hid for (hid,) in await cur.fetchall()}
    cur = await conn.execute(
        "SELECT thread_id, items, more FROM outbox WHERE chat_id = ? AND items IS NOT NULL"
        " AND status IN ('pending', 'sending') ORDER BY id",
        (old_id,),
    )
    threads: dict[int | None, tuple[list[tuple[int, tuple[str, ...]]], int]] = {}
    for thread_id, items, more in await cur.fetchall():
        listed, counted = threads.get(thread_id, ([], 0))
        listed.extend((hid, _topics(t)) for hid, t in json.loads(items) if hid not in have)
        threads[thread_id] = (listed, counted + more)
    await conn.executemany(
        _INSERT_PUSH,
        [
            _push_row(new_id, thread_id, sorted(listed), counted, batch=0, now=now)
            for thread_id, (listed, counted) in threads.items()
            if listed
        ],
    )
    await conn.execute(
        "UPDATE chats SET pushed_upto = max(pushed_upto,"
        " (SELECT pushed_upto FROM chats WHERE id = ?)) WHERE id = ?",
        (old_id, new_id),
    )


_SET_SENT = (
    "UPDATE outbox SET status = 'sent', sent_at = ?1, closed_at = ?1, last_error = NULL"
    " WHERE id IN (SELECT value FROM json_each(?))"
)
_SET_SENDING = (
    "UPDATE outbox SET status = 'sending'"
    " WHERE status = 'pending' AND id IN (SELECT value FROM json_each(?))"
)


async def _set_sent(conn: aiosqlite.Connection, ids: Collection[int], now: float) -> int:
    cur = await conn.execute(_SET_SENT, (now, _ids(ids)))
    return cur.rowcount


async def _set_sending(conn: aiosqlite.Connection, ids: Collection[int]) -> int:
    cur = await conn.execute(_SET_SENDING, (_ids(ids),))
    return cur.rowcount


class OutboxRepo:
    """Queues sends and tracks their state (pending -> sending -> sent/failed/dropped)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def enqueue_pushes(
        self,
        conn: aiosqlite.Connection,
        pushes: Sequence[ChatPush],
        *,
        batch: int,
        now: float,
    ) -> int:
        """Add pushes to the message each active chat is owed; return the headlines queued.

        A chat's headlines join its pending row for that thread (up to SHOWN_PER_PUSH listed,
        the rest counted), or start a new row. A headline at or below a chat's `pushed_upto`
        was queued to it before (routing goes in headline order) and is left out, so a
        routing pass repeated after a crash queues nothing twice. All of a chat's pushes of
        one pass must come in the same call.
        """
        if not pushes:
            return 0
        # One look-up per chat (active, and how far it has been pushed), not one per row.
        cur = await conn.execute(
            "SELECT id, pushed_upto FROM chats"
            " WHERE id IN (SELECT value FROM json_each(?)) AND active = 1",
            (_ids({p.chat_id for p in pushes}),),
        )
        upto: dict[int, int] = {chat_id: mark for chat_id, mark in await cur.fetchall()}
        # the newest pending row of each (chat, thread): the message still waiting
        cur = await conn.execute(
            "SELECT chat_id, thread_id, id, json_array_length(items) FROM outbox"
            " INDEXED BY outbox_chat_pending WHERE status = 'pending' AND priority = 1"
            " AND chat_id IN (SELECT value FROM json_each(?)) AND items IS NOT NULL"
            " ORDER BY id",
            (_ids(upto),),
        )
        waiting = {(chat, thread): (row_id, n) for chat, thread, row_id, n in await cur.fetchall()}
        inserts: list[tuple[int, int, int, int | None, str, int, float]] = []  # _push_row
        appends: list[tuple[str, int, int]] = []
        marks: dict[int, int] = {}
        queued = 0
        # in chat order: the indexes keyed by chat are then written page by page
        for push in sorted(pushes, key=attrgetter("chat_id")):
            mark = upto.get(push.chat_id)
            if mark is None:  # unknown, or stopped since the index was read
                continue
            items = [item for item in push.items if item[0] > mark]
            if not items:
                continue
            marks[push.chat_id] = max(marks.get(push.chat_id, mark), items[-1][0])
            queued += len(items)
            found = waiting.get((push.chat_id, push.thread_id))
            if found is None:
                inserts.append(
                    _push_row(push.chat_id, push.thread_id, items, 0, batch=batch, now=now)
                )
            else:
                row_id, listed = found
                shown = items[: max(0, SHOWN_PER_PUSH - listed)]
                appends.append((_items_json(shown), len(items) - len(shown), row_id))
        await conn.executemany(_INSERT_PUSH, inserts)
        # Appending touches no indexed column: cheaper than a new row, and the chat still
        # owes one message.
        await conn.executemany(
            "UPDATE outbox SET items = CASE WHEN ?1 = '[]' THEN items"
            " ELSE substr(items, 1, length(items) - 1) || ',' || substr(?1, 2) END,"
            " more = more + ?2 WHERE id = ?3",
            appends,
        )
        await conn.executemany(
            "UPDATE chats SET pushed_upto = ? WHERE id = ?",
            [(mark, chat_id) for chat_id, mark in marks.items()],
        )
        return queued

    async def enqueue_broadcast(
        self, conn: aiosqlite.Connection, broadcast_id: int, chat_ids: Sequence[int], *, now: float
    ) -> int:
        """Queue one broadcast row per active chat (each at most once); return rows added."""
        cur = await conn.execute(
            "INSERT OR IGNORE INTO outbox (chat_id, broadcast_id, priority, created_at)"
            " SELECT j.value, ?, 2, ? FROM json_each(?) AS j"
            " WHERE EXISTS (SELECT 1 FROM chats WHERE id = j.value AND active = 1)",
            (broadcast_id, now, _ids(chat_ids)),
        )
        return cur.rowcount

    async def reset_inflight(self) -> int:
        """Put rows a crash left 'sending' back to 'pending'; return how many."""
        return await self._db.execute(
            "UPDATE outbox SET status = 'pending' WHERE status = 'sending'"
        )

    async def ready_chats(
        self, *, now: float, limit: int, exclude: Collection[int] = ()
    ) -> list[int]:
        """Return up to limit chats with a ready send, most urgent first, each chat once.

        A chat ranks by its most urgent ready row (lowest priority, then oldest). As
        next_unit takes all of a chat's ready pushes at a time, a chat's backlog cannot
        starve the others: once they are out, its next rows are newer than theirs.
        """
        found: list[int] = []
        if limit <= 0:
            return found
        seen = set(exclude)
        async with self._db.transaction() as conn:
            # Walk rows in urgency order and stop at `limit` chats: with a large backlog
            # this reads a few rows instead of grouping them all.
            cur = await conn.execute(
                "SELECT chat_id FROM outbox INDEXED BY outbox_pending_order"
                " WHERE status = 'pending' AND not_before <= ? ORDER BY priority, id",
                (now,),
            )
            while len(found) < limit:
                rows = await cur.fetchmany(_SCAN_CHUNK)
                if not rows:
                    break
                for (chat_id,) in rows:
                    if chat_id not in seen:
                        seen.add(chat_id)
                        found.append(chat_id)
                        if len(found) == limit:
                            break
            await cur.close()
        return found

    async def next_unit(
        self, chat_id: int, *, now: float, max_rows: int = MAX_UNIT_ROWS
    ) -> list[OutboxItem]:
        """Return the next message's worth of rows for a chat ([] when none is ready).

        That is the chat's ready push row for the forum thread of its oldest one (more than
        one row, up to max_rows, only when a retry or a crash left an older row beside the
        one routing added to since), or else its single oldest ready broadcast.
        """
        async with self._db.transaction() as conn:
            units = await self._units(conn, [chat_id], now=now, max_rows=max_rows)
        return units.get(chat_id, [])

    async def claim_units(
        self, chat_ids: Sequence[int], *, now: float, max_rows: int = MAX_UNIT_ROWS
    ) -> dict[int, list[OutboxItem]]:
        """Claim the next unit (see next_unit) of each chat, in one transaction.

        The rows come back marked 'sending'. One read and one write for many chats, instead
        of two round trips to the database thread per chat, is what lets a paid broadcast
        keep up with Telegram's 1,000 messages/s. The transaction keeps routing from adding
        headlines to a row between the read and the claim: they would never be sent.
        """
        async with self._db.transaction() as conn:
            units = await self._units(conn, chat_ids, now=now, max_rows=max_rows)
            ids = [item.id for unit in units.values() for item in unit]
            if ids:
                await _set_sending(conn, ids)
        return units

    async def _units(
        self, conn: aiosqlite.Connection, chat_ids: Sequence[int], *, now: float, max_rows: int
    ) -> dict[int, list[OutboxItem]]:
        if not chat_ids:
            return {}
        cur = await conn.execute(
            "SELECT * FROM (SELECT *, ROW_NUMBER() OVER ("
            "  PARTITION BY chat_id ORDER BY priority, batch, id) AS position"
            " FROM outbox WHERE status = 'pending' AND not_before <= ?"
            " AND chat_id IN (SELECT value FROM json_each(?)))"
            " WHERE position <= ? ORDER BY chat_id, position",
            (now, _ids(chat_ids), max_rows),
        )
        units: dict[int, list[OutboxItem]] = {}
        for row in await cur.fetchall():
            unit = units.setdefault(row["chat_id"], [])
            if not unit:
                unit.append(_item(row))
                continue
            first = unit[0]
            if (
                first.priority == PRIORITY_PUSH
                and row["priority"] == PRIORITY_PUSH
                and row["thread_id"] == first.thread_id
            ):
                unit.append(_item(row))
        return units

    async def next_wakeup(self) -> float | None:
        """Return when the first row put off (by a 429 or a retry) is due; None if none is."""
        value = await self._db.scalar(
            "SELECT MIN(not_before) FROM outbox WHERE status = 'pending' AND not_before > 0"
        )
        return None if value is None else float(value)

    async def mark_sending(self, ids: Collection[int]) -> int:
        """Claim pending rows for sending; return how many were still pending."""
        if not ids:
            return 0
        # One statement is its own transaction (autocommit): BEGIN and COMMIT around it
        # would cost two more round trips to the database thread for every message sent.
        return await self._db.execute(_SET_SENDING, (_ids(ids),))

    async def mark_sent(self, ids: Collection[int], *, now: float) -> int:
        """Record rows as delivered."""
        if not ids:
            return 0
        return await self._db.execute(_SET_SENT, (now, _ids(ids)))

    async def finish_and_start(
        self, done_ids: Collection[int], next_ids: Collection[int], *, now: float
    ) -> int:
        """Mark done_ids sent and claim next_ids in one commit; return how many were claimed."""
        async with self._db.transaction() as conn:
            if done_ids:
                await _set_sent(conn, done_ids, now)
            return await _set_sending(conn, next_ids) if next_ids else 0

    async def mark_failed(self, ids: Collection[int], *, error: str, now: float) -> int:
        """Record rows that can never be delivered."""
        return await self._close(ids, "failed", error, now)

    async def mark_dropped(self, ids: Collection[int], *, error: str, now: float) -> int:
        """Record rows whose chat blocked the bot or is gone."""
        return await self._close(ids, "dropped", error, now)

    async def _close(self, ids: Collection[int], status: str, error: str, now: float) -> int:
        if not ids:
            return 0
        return await self._db.execute(
            "UPDATE outbox SET status = ?, last_error = ?, closed_at = ?"
            " WHERE id IN (SELECT value FROM json_each(?))",
            (status, error[:MAX_ERROR_CHARS], now, _ids(ids)),
        )

    async def prune(self, *, before: float, limit: int = 5000) -> int:
        """Delete up to `limit` rows finished before `before`; return how many went.

        Rows of a broadcast still running stay, as its progress report counts them.
        """
        return await self._db.execute(
            "DELETE FROM outbox WHERE id IN (SELECT o.id FROM outbox AS o"
            " INDEXED BY outbox_closed WHERE o.closed_at < ? AND (o.broadcast_id IS NULL"
            " OR o.broadcast_id NOT IN (SELECT id FROM broadcasts WHERE status = 'queued'))"
            " LIMIT ?)",
            (before, limit),
        )

    async def defer(self, ids: Collection[int], *, not_before: float, error: str) -> int:
        """Put rows back to pending until not_before, counting the attempt."""
        if not ids:
            return 0
        # Rows dropped or cancelled meanwhile stay closed.
        return await self._db.execute(
            "UPDATE outbox SET status = 'pending', attempts = attempts + 1, not_before = ?,"
            " last_error = ? WHERE status IN ('pending', 'sending')"
            " AND id IN (SELECT value FROM json_each(?))",
            (not_before, error[:MAX_ERROR_CHARS], _ids(ids)),
        )

    async def backlog(self) -> dict[str, int]:
        """Return the pending rows by kind ('push', 'broadcast') and in 'total'."""
        rows = await self._db.fetchall(
            "SELECT priority, count(*) FROM outbox WHERE status = 'pending' GROUP BY priority"
        )
        by_priority = {row[0]: int(row[1]) for row in rows}
        push = by_priority.get(PRIORITY_PUSH, 0)
        broadcast = by_priority.get(PRIORITY_BROADCAST, 0)
        return {"push": push, "broadcast": broadcast, "total": push + broadcast}

    async def sent_since(self, ts: float) -> int:
        """Return how many rows were delivered at or after ts."""
        return int(
            await self._db.scalar(
                "SELECT count(*) FROM outbox WHERE sent_at >= ? AND status = 'sent'", (ts,)
            )
        )
