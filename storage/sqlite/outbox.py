"""The outbox: every send waiting to happen, and what became of it.

SqliteOutboxRepo is the only writer of the outbox table. Other tables' changes that go with
outbox rows (a chat blocked, a broadcast confirmed) pass their connection to its methods, so
both commit in one transaction.

Statuses are bound as parameters (OutboxStatus) except where a statement must repeat a
partial index's condition word for word for SQLite to use the index (it cannot see through a
parameter): those say `status = 'pending'` or `'sending'` in the SQL text, and
tests/storage/test_constants.py checks those words against the enum and the schema.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Mapping, Sequence
from operator import attrgetter

import aiosqlite

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
from storage.sqlite.chats import SqliteChatRepo
from storage.sqlite.db import Database, conn_of
from storage.store import Transaction

SHOWN_PER_PUSH = 10  # headlines a push message shows on its first page (full format)
# Headlines a push row keeps with their topics, the newest ones: a held row (a digest, quiet
# hours) collects a day of matches, and its More button pages through what it kept. Older
# ones are only counted (`more`), so a row stays a few kilobytes however busy the feeds.
# A row's `items` holds the headlines it was created with; each routing pass that adds to
# it writes a chunk (outbox_chunks, migration 014), so adding costs the same however full
# the row is, and readers put the kept ones back together (_kept).
KEEP_PER_ROW = 300
MAX_UNIT_ROWS = 100  # push rows merged into one message (several only after a retry or crash)
MAX_ERROR_CHARS = 500
_SCAN_CHUNK = 512


def _topics(text: str) -> tuple[str, ...]:
    return tuple(text.split("\n")) if text else ()


Item = tuple[int, tuple[str, ...]]
Chunks = Mapping[int, Sequence[tuple[int, str]]]  # row id -> its chunks: (end_at, items JSON)


def _kept(items: str | None, start: int, chunks: Sequence[tuple[int, str]] = ()) -> list[Item]:
    """A push row's kept headlines: those of its `items` (ordinals from 0) and of its chunks
    (each ending before its end_at), from ordinal `start` (the row's items_from) on."""
    if items is None:
        return []
    kept: list[Item] = []
    first = json.loads(items)
    kept.extend((hid, _topics(t)) for hid, t in first[start:])
    for end, text in chunks:
        listed = json.loads(text)
        skip = max(0, start - (end - len(listed)))
        kept.extend((hid, _topics(t)) for hid, t in listed[skip:])
    return kept


def _has_chunks(row: sqlite3.Row) -> bool:
    """Whether a push row took in more headlines than its own `items` hold."""
    return row["items"] is not None and row["items_total"] > len(json.loads(row["items"]))


async def _chunks_of(
    conn: aiosqlite.Connection, row_ids: Collection[int]
) -> dict[int, list[tuple[int, str]]]:
    """The chunks of these rows, each row's in order: row id -> [(end_at, items JSON)]."""
    found: dict[int, list[tuple[int, str]]] = {}
    if not row_ids:
        return found
    cur = await conn.execute(
        "SELECT outbox_id, end_at, items FROM outbox_chunks"
        " WHERE outbox_id IN (SELECT value FROM json_each(?)) ORDER BY outbox_id, end_at",
        (_ids(row_ids),),
    )
    for row_id, end, text in await cur.fetchall():
        found.setdefault(row_id, []).append((end, text))
    return found


def _item(row: sqlite3.Row, chunks: Chunks | None = None) -> OutboxItem:
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
    """Items as a row stores them; with `memo`, each item is encoded once however many rows
    share it (a routing pass gives one headline's item to thousands of chats)."""
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


def _ids(ids: Collection[int]) -> str:
    return json.dumps(list(ids))


def _error(text: str | None) -> str | None:
    return None if text is None else text[:MAX_ERROR_CHARS]


_OPEN = json.dumps(list(OPEN_STATUSES))  # for `status IN (SELECT value FROM json_each(?))`


Items = Sequence[tuple[int, tuple[str, ...]]]
_INSERT_PUSH = (
    "INSERT INTO outbox (chat_id, headline_id, batch, thread_id, items, more, priority,"
    " created_at, not_before, items_total) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
PushRow = tuple[int, int, int, int | None, str, int, Priority, float, float, int]


def _push_row(
    chat_id: int,
    thread_id: int | None,
    items: Items,
    more: int,
    *,
    batch: int,
    now: float,
    not_before: float = 0.0,
    memo: dict[tuple[int, tuple[str, ...]], str] | None = None,
) -> PushRow:
    """_INSERT_PUSH's values for a new push row: the newest KEEP_PER_ROW items kept, the
    older ones counted; held until not_before (0: ready at once)."""
    kept = items[-KEEP_PER_ROW:]
    return (
        chat_id,
        items[0][0],  # the unique (chat, headline) rule keys on the first headline routed
        batch,
        thread_id,
        _items_json(kept, memo),
        more + len(items) - len(kept),
        Priority.PUSH,
        now,
        not_before,
        len(kept),
    )


def _held_until(release: Mapping[int, float] | None, chat_id: int, now: float) -> float:
    """A new row's not_before: the chat's release time when later than now, else 0."""
    if release is None:
        return 0.0
    at = release.get(chat_id, 0.0)
    return at if at > now else 0.0


_SET_SENT = (
    "UPDATE outbox SET status = ?3, sent_at = ?1, closed_at = ?1, last_error = NULL"
    " WHERE id IN (SELECT value FROM json_each(?2))"
)
# `status = 'pending'`: rows claimed must still be pending (a cancel may have closed them)
_SET_SENDING = (
    "UPDATE outbox SET status = ?2"
    " WHERE status = 'pending' AND id IN (SELECT value FROM json_each(?1))"
)


class SqliteOutboxRepo:
    """Queues sends and tracks their state (pending -> sending -> sent/failed/dropped)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._chats = SqliteChatRepo(db)

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

        A chat's headlines join its pending row for that thread, or start a new row, held
        until the chat's `release` time when that is later than now (a digest time, the end
        of quiet hours; see PreferencesService.release_times). A row joined keeps its own
        time: a held row collects headlines until it goes out as one message. A row keeps the
        newest KEEP_PER_ROW headlines and counts the older ones. A headline at or below a
        chat's `pushed_upto` was queued to it before (routing goes in headline order) and
        is left out, so a routing pass repeated after a crash queues nothing twice. All of
        a chat's pushes of one pass must come in the same call. The chats' new marks are
        written by SqliteChatRepo, in the same transaction.
        """
        conn = conn_of(tx)
        if not pushes:
            return 0
        # One look-up per chat (active, and how far it has been pushed), not one per row.
        upto = await self._chats.pushed_upto(conn, list({p.chat_id for p in pushes}))
        # the newest pending row of each (chat, thread): the message still waiting (a row
        # whose posts are under way is left alone: its `posted` counts its first items)
        cur = await conn.execute(
            "SELECT chat_id, thread_id, id, items_total, items_from FROM outbox"
            " INDEXED BY outbox_chat_pending WHERE status = 'pending' AND priority = ?"
            " AND chat_id IN (SELECT value FROM json_each(?)) AND items IS NOT NULL"
            " AND posted = 0 ORDER BY id",
            (Priority.PUSH, _ids(upto)),
        )
        waiting = {
            (chat, thread): (row_id, total, start)
            for chat, thread, row_id, total, start in await cur.fetchall()
        }
        inserts: list[PushRow] = []
        chunks: list[tuple[int, int, str]] = []  # (row, end_at, items)
        grown: list[tuple[int, int, int, int]] = []  # (items_total, items_from, more +, row)
        trims: list[tuple[int, int]] = []  # (row, items_from): chunks wholly older go
        marks: dict[int, int] = {}
        encoded: dict[tuple[int, tuple[str, ...]], str] = {}  # each shared item once
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
            key = (push.chat_id, push.thread_id)
            found = waiting.get(key)
            if found is None:
                held = _held_until(release, push.chat_id, now)
                inserts.append(
                    _push_row(
                        push.chat_id,
                        push.thread_id,
                        items,
                        0,
                        batch=batch,
                        now=now,
                        not_before=held,
                        memo=encoded,
                    )
                )
                continue
            # A chunk of its own: the row is not rewritten, however many it holds already.
            row_id, total, start = found
            end = total + len(items)
            chunks.append((row_id, end, _items_json(items[-KEEP_PER_ROW:], encoded)))
            keep_from = max(start, end - KEEP_PER_ROW)  # the newest are kept, older counted
            grown.append((end, keep_from, keep_from - start, row_id))
            if keep_from > start:
                trims.append((row_id, keep_from))
            waiting[key] = (row_id, end, keep_from)
        await conn.executemany(_INSERT_PUSH, inserts)
        await conn.executemany(
            "INSERT INTO outbox_chunks (outbox_id, end_at, items) VALUES (?, ?, ?)", chunks
        )
        await conn.executemany(
            "UPDATE outbox SET items_total = ?, items_from = ?, more = more + ? WHERE id = ?",
            grown,
        )
        await conn.executemany(
            "DELETE FROM outbox_chunks WHERE outbox_id = ? AND end_at <= ?", trims
        )
        await self._chats.set_pushed_upto(conn, marks)
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
        conn = conn_of(tx)
        cur = await conn.execute(
            "INSERT OR IGNORE INTO outbox (chat_id, broadcast_id, priority, created_at)"
            " SELECT id, ?, ?, ? FROM chats"
            " WHERE active = 1 AND kind IN (SELECT value FROM json_each(?)) ORDER BY id",
            (broadcast_id, Priority.BROADCAST, now, json.dumps(list(kinds))),
        )
        return cur.rowcount

    @staticmethod
    async def delete_chat(tx: Transaction, chat_id: int) -> int:
        """Delete every row of the chat, sent or not (a /forget); return how many."""
        conn = conn_of(tx)
        cur = await conn.execute("DELETE FROM outbox WHERE chat_id = ?", (chat_id,))
        return cur.rowcount

    @staticmethod
    async def delete_broadcasts(tx: Transaction, broadcast_ids: Collection[int]) -> int:
        """Delete every row of these broadcasts, whatever chat it is for; return how many."""
        conn = conn_of(tx)
        if not broadcast_ids:
            return 0
        cur = await conn.execute(
            "DELETE FROM outbox WHERE broadcast_id IN (SELECT value FROM json_each(?))",
            (_ids(broadcast_ids),),
        )
        return cur.rowcount

    @staticmethod
    async def cancel_broadcast(tx: Transaction, broadcast_id: int, *, now: float) -> int:
        """Close a broadcast's rows not yet claimed (one in flight still lands); return how many."""
        conn = conn_of(tx)
        cur = await conn.execute(
            "UPDATE outbox SET status = ?, closed_at = ? WHERE broadcast_id = ? AND status = ?",
            (OutboxStatus.CANCELLED, now, broadcast_id, OutboxStatus.PENDING),
        )
        return cur.rowcount

    @staticmethod
    async def drop_pending(tx: Transaction, chat_id: int, *, reason: str, now: float) -> int:
        """Drop every unsent row of a chat (blocked, gone or paused); return how many."""
        conn = conn_of(tx)
        # found through the two partial indexes that hold a chat's unsent rows
        cur = await conn.execute(
            "UPDATE outbox SET status = ?2, last_error = ?3, closed_at = ?4 WHERE id IN ("
            " SELECT id FROM outbox INDEXED BY outbox_chat_pending"
            " WHERE chat_id = ?1 AND status = 'pending' UNION ALL"
            " SELECT id FROM outbox INDEXED BY outbox_sending"
            " WHERE chat_id = ?1 AND status = 'sending')",
            (chat_id, OutboxStatus.DROPPED, reason[:MAX_ERROR_CHARS], now),
        )
        return cur.rowcount

    @staticmethod
    async def move_chat(tx: Transaction, old_id: int, new_id: int, *, now: float) -> None:
        """Hand old_id's unsent rows to new_id, which exists already, and drop the rest.

        new_id is queued the headlines of old_id's push rows that it has not had (a row per
        thread), and old_id's broadcasts it has no copy of. Whatever old_id still held is
        dropped as 'migrated'. The chats' `pushed_upto` marks are SqliteChatRepo's to carry over.
        """
        conn = conn_of(tx)
        cur = await conn.execute(
            "SELECT DISTINCT headline_id FROM outbox_pushes WHERE chat_id = ?", (new_id,)
        )
        have = {hid for (hid,) in await cur.fetchall()}
        cur = await conn.execute(
            "SELECT id, thread_id, items, more, posted, items_from FROM outbox WHERE chat_id = ?"
            " AND items IS NOT NULL AND status IN (SELECT value FROM json_each(?)) ORDER BY id",
            (old_id, _OPEN),
        )
        open_rows = list(await cur.fetchall())
        chunks = await _chunks_of(conn, [row[0] for row in open_rows])
        threads: dict[int | None, tuple[list[tuple[int, tuple[str, ...]]], int]] = {}
        for row_id, thread_id, items, more, posted, start in open_rows:
            listed, counted = threads.get(thread_id, ([], 0))
            unposted = _kept(items, start, chunks.get(row_id, ()))[posted:]  # the posted went
            listed.extend((hid, topics) for hid, topics in unposted if hid not in have)
            threads[thread_id] = (listed, counted + more)
        await conn.executemany(
            _INSERT_PUSH,
            [
                _push_row(new_id, thread_id, sorted(listed), counted, batch=0, now=now)
                for thread_id, (listed, counted) in threads.items()
                if listed
            ],
        )
        # OR IGNORE leaves behind the broadcasts the new chat already has a copy of.
        await conn.execute(
            "UPDATE OR IGNORE outbox SET chat_id = ?"
            " WHERE chat_id = ? AND status IN (SELECT value FROM json_each(?))"
            " AND broadcast_id IS NOT NULL",
            (new_id, old_id, _OPEN),
        )
        await SqliteOutboxRepo.drop_pending(conn, old_id, reason="migrated", now=now)

    async def reset_inflight(self) -> int:
        """Put rows a crash left 'sending' back to 'pending'; return how many."""
        return await self._db.execute(
            "UPDATE outbox SET status = ? WHERE status = 'sending'", (OutboxStatus.PENDING,)
        )

    async def ready_chats(
        self, *, now: float, limit: int, exclude: Collection[int] = ()
    ) -> list[int]:
        """Return up to limit chats with a ready send, most urgent first, each chat once.

        A chat ranks by its most urgent ready row (lowest priority, then oldest). As
        claim_units takes all of a chat's ready pushes at a time, a chat's backlog cannot
        starve the others: once they are out, its next rows are newer than theirs.
        """
        found: list[int] = []
        if limit <= 0:
            return found
        seen = set(exclude)
        async with self._db.connection() as conn:
            # Walk due rows in urgency order (priority, then due time, then age) and stop at
            # `limit` chats: with a large backlog this reads a few rows instead of grouping
            # them all, and rows held for later are never read.
            for priority in (Priority.PUSH, Priority.BROADCAST):
                cur = await conn.execute(
                    "SELECT chat_id FROM outbox INDEXED BY outbox_pending_due"
                    " WHERE status = 'pending' AND priority = ? AND not_before <= ?"
                    " ORDER BY not_before, id",
                    (priority, now),
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
                if len(found) >= limit:
                    break
        return found

    async def claim_units(
        self, chat_ids: Sequence[int], *, now: float, max_rows: int = MAX_UNIT_ROWS
    ) -> dict[int, list[OutboxItem]]:
        """Claim the next message's worth of rows of each chat, in one transaction.

        A chat's unit is its ready push row for the forum thread of its oldest one (more than
        one row, up to max_rows, only when a retry or a crash left an older row beside the
        one routing added to since), or else its single oldest ready broadcast. Chats with
        nothing ready are left out.

        The rows come back marked 'sending'. One read and one write for many chats, instead
        of two round trips to the database thread per chat, is what lets a paid broadcast
        keep up with Telegram's 1,000 messages/s. The transaction keeps routing from adding
        headlines to a row between the read and the claim: they would never be sent.
        """
        async with self._db.connection() as conn:
            units = await self.units(conn, chat_ids, now=now, max_rows=max_rows)
            ids = [item.id for unit in units.values() for item in unit]
            if ids:
                await conn.execute(_SET_SENDING, (_ids(ids), OutboxStatus.SENDING))
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
        conn = conn_of(tx)
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
        rows = list(await cur.fetchall())
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
        value = await self._db.scalar(
            "SELECT MIN(not_before) FROM outbox WHERE status = 'pending' AND not_before > 0"
        )
        return None if value is None else float(value)

    async def mark_sent(self, ids: Collection[int], *, now: float) -> int:
        """Record rows as delivered."""
        if not ids:
            return 0
        # One statement is its own transaction (autocommit): BEGIN and COMMIT around it
        # would cost two more round trips to the database thread for every message sent.
        return await self._db.execute(_SET_SENT, (now, _ids(ids), OutboxStatus.SENT))

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
        return await self._db.execute(
            "UPDATE outbox SET posted = ?1, status = ?2,"
            " sent_at = CASE WHEN ?3 THEN ?4 ELSE sent_at END,"
            " closed_at = CASE WHEN ?3 THEN ?4 ELSE closed_at END,"
            " not_before = CASE WHEN ?3 THEN not_before ELSE ?8 END,"
            " last_error = coalesce(?5, last_error)"
            " WHERE id = ?6 AND status IN (SELECT value FROM json_each(?7))",
            (posted, status, int(done), now, _error(error), row_id, _OPEN, not_before),
        )

    async def mark_failed(self, ids: Collection[int], *, error: str, now: float) -> int:
        """Record rows that can never be delivered."""
        if not ids:
            return 0
        return await self._db.execute(
            "UPDATE outbox SET status = ?, last_error = ?, closed_at = ?"
            " WHERE id IN (SELECT value FROM json_each(?))",
            (OutboxStatus.FAILED, error[:MAX_ERROR_CHARS], now, _ids(ids)),
        )

    async def prune(self, *, before: float, limit: int = 5000) -> int:
        """Delete up to `limit` rows finished before `before`; return how many went.

        Rows of a broadcast still running stay, as its progress report counts them.
        """
        return await self._db.execute(
            "DELETE FROM outbox WHERE id IN (SELECT o.id FROM outbox AS o"
            " INDEXED BY outbox_closed WHERE o.closed_at < ? AND (o.broadcast_id IS NULL"
            " OR o.broadcast_id NOT IN (SELECT id FROM broadcasts WHERE status = ?))"
            " LIMIT ?)",
            (before, BroadcastStatus.QUEUED, limit),
        )

    async def defer(self, ids: Collection[int], *, not_before: float, error: str) -> int:
        """Put rows back to pending until not_before, counting the attempt."""
        if not ids:
            return 0
        # Rows dropped or cancelled meanwhile stay closed.
        return await self._db.execute(
            "UPDATE outbox SET status = ?, attempts = attempts + 1, not_before = ?,"
            " last_error = ? WHERE status IN (SELECT value FROM json_each(?))"
            " AND id IN (SELECT value FROM json_each(?))",
            (OutboxStatus.PENDING, not_before, error[:MAX_ERROR_CHARS], _OPEN, _ids(ids)),
        )

    async def hold(self, ids: Collection[int], *, until: float) -> int:
        """Put claimed rows back to pending until `until`, not counting an attempt (the
        chat's settings hold them: a digest time, quiet hours)."""
        if not ids:
            return 0
        return await self._db.execute(
            "UPDATE outbox SET status = ?, not_before = ?"
            " WHERE status IN (SELECT value FROM json_each(?))"
            " AND id IN (SELECT value FROM json_each(?))",
            (OutboxStatus.PENDING, until, _OPEN, _ids(ids)),
        )

    async def reschedule(self, chat_id: int, *, until: float, now: float) -> int:
        """Move a chat's pending push rows to `until` (0 when not later than now): its
        digest, quiet hours or time zone changed. Return how many rows moved."""
        at = until if until > now else 0.0
        return await self._db.execute(
            "UPDATE outbox SET not_before = ?2 WHERE id IN ("
            " SELECT id FROM outbox INDEXED BY outbox_chat_pending"
            " WHERE chat_id = ?1 AND status = 'pending' AND priority = ?3)",
            (chat_id, at, Priority.PUSH),
        )

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
            cur = await conn.execute(
                "INSERT INTO more_lists (chat_id, outbox_id, items, dropped, digest, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (chat_id, outbox_id, _items_json(items), dropped, int(digest), now),
            )
            assert cur.lastrowid is not None
            return cur.lastrowid

    async def more_list(self, list_id: int, chat_id: int) -> MoreList | None:
        """The list behind a More button of this chat (None once pruned, or another chat's)."""
        row = await self._db.fetchone(
            "SELECT items, dropped, digest FROM more_lists WHERE id = ? AND chat_id = ?",
            (list_id, chat_id),
        )
        if row is None:
            return None
        items = tuple((hid, _topics(t)) for hid, t in json.loads(row["items"]))
        return MoreList(list_id, chat_id, items, int(row["dropped"]), bool(row["digest"]))

    async def backlog(self) -> dict[str, int]:
        """Return the pending rows by kind ('push', 'broadcast') and in 'total'."""
        rows = await self._db.fetchall(
            "SELECT priority, count(*) FROM outbox WHERE status = 'pending' GROUP BY priority"
        )
        by_priority = {row[0]: int(row[1]) for row in rows}
        push = by_priority.get(Priority.PUSH, 0)
        broadcast = by_priority.get(Priority.BROADCAST, 0)
        return {"push": push, "broadcast": broadcast, "total": push + broadcast}
