"""Chats the bot knows and the topics they follow."""

from __future__ import annotations

import builtins
import json
import sqlite3
from collections.abc import AsyncIterator, Sequence

from storage.db import Database
from storage.models import Chat, Subscription
from storage.outbox import move_pushes

KINDS = ("private", "group", "supergroup", "channel")
AUDIENCE_KINDS: dict[str, tuple[str, ...]] = {
    "all": KINDS,
    "users": ("private",),
    "groups": ("group", "supergroup"),
    "channels": ("channel",),
}


def audience_kinds(audience: str) -> tuple[str, ...]:
    """Return the chat kinds an audience covers; ValueError for an unknown audience."""
    try:
        return AUDIENCE_KINDS[audience]
    except KeyError:
        raise ValueError(f"unknown audience {audience!r}") from None


def _chat(row: sqlite3.Row) -> Chat:
    return Chat(
        id=row["id"],
        kind=row["kind"],
        title=row["title"],
        username=row["username"],
        is_forum=bool(row["is_forum"]),
        active=bool(row["active"]),
    )


class ChatRepo:
    """Reads and writes the chats table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def upsert(
        self,
        chat_id: int,
        *,
        kind: str,
        title: str | None = None,
        username: str | None = None,
        is_forum: bool = False,
        now: float,
        activate: bool | None = None,
    ) -> Chat:
        """Insert or refresh a chat's metadata; activate=True/False also sets `active`."""
        active = None if activate is None else int(activate)
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO chats (id, kind, title, username, is_forum, active,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, COALESCE(?, 1), ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, title = excluded.title,"
                " username = excluded.username, is_forum = excluded.is_forum,"
                " updated_at = excluded.updated_at,"
                " active = COALESCE(?, active),"
                " inactive_reason = CASE WHEN COALESCE(?, active) = 1 THEN NULL"
                " ELSE inactive_reason END",
                (chat_id, kind, title, username, int(is_forum), active, now, now, active, active),
            )
            cur = await conn.execute("SELECT * FROM chats WHERE id = ?", (chat_id,))
            row = await cur.fetchone()
        assert row is not None
        return _chat(row)

    async def get(self, chat_id: int) -> Chat | None:
        """Return the chat, or None."""
        row = await self._db.fetchone("SELECT * FROM chats WHERE id = ?", (chat_id,))
        return None if row is None else _chat(row)

    async def deactivate(self, chat_id: int, *, reason: str, now: float) -> int:
        """Mark the chat inactive and drop its unsent outbox rows; return how many."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE chats SET active = 0, inactive_reason = ?, updated_at = ? WHERE id = ?",
                (reason, now, chat_id),
            )
            cur = await conn.execute(
                "UPDATE outbox SET status = 'dropped', last_error = ?, closed_at = ?"
                " WHERE chat_id = ? AND status IN ('pending', 'sending')",
                (reason, now, chat_id),
            )
            return cur.rowcount

    async def migrate(self, old_id: int, new_id: int, *, now: float) -> None:
        """Move a group that became a supergroup to its new id (idempotent)."""
        if old_id == new_id:
            return
        async with self._db.transaction() as conn:
            cur = await conn.execute("SELECT 1 FROM chats WHERE id = ?", (old_id,))
            if await cur.fetchone() is None:
                return
            cur = await conn.execute("SELECT 1 FROM chats WHERE id = ?", (new_id,))
            if await cur.fetchone() is None:
                # Subscriptions and outbox rows follow through ON UPDATE CASCADE.
                await conn.execute(
                    "UPDATE chats SET id = ?, kind = 'supergroup', updated_at = ? WHERE id = ?",
                    (new_id, now, old_id),
                )
                return
            await conn.execute(
                "INSERT OR IGNORE INTO subscriptions (chat_id, topic, thread_id, created_at)"
                " SELECT ?, topic, thread_id, created_at FROM subscriptions WHERE chat_id = ?",
                (new_id, old_id),
            )
            await conn.execute("DELETE FROM subscriptions WHERE chat_id = ?", (old_id,))
            await move_pushes(conn, old_id, new_id, now=now)
            # OR IGNORE leaves behind the broadcasts the new chat already has a copy of.
            await conn.execute(
                "UPDATE OR IGNORE outbox SET chat_id = ?"
                " WHERE chat_id = ? AND status IN ('pending', 'sending')"
                " AND broadcast_id IS NOT NULL",
                (new_id, old_id),
            )
            await conn.execute(
                "UPDATE outbox SET status = 'dropped', last_error = 'migrated', closed_at = ?"
                " WHERE chat_id = ? AND status IN ('pending', 'sending')",
                (now, old_id),
            )
            await conn.execute(
                "UPDATE chats SET active = 0, inactive_reason = 'migrated', updated_at = ?"
                " WHERE id = ?",
                (now, old_id),
            )

    async def active_ids(self, audience: str) -> list[int]:
        """Return the ids of the active chats of an audience (all|users|groups|channels)."""
        kinds = audience_kinds(audience)
        rows = await self._db.fetchall(
            "SELECT id FROM chats WHERE active = 1"
            " AND kind IN (SELECT value FROM json_each(?)) ORDER BY id",
            (json.dumps(kinds),),
        )
        return [row[0] for row in rows]

    async def count_by_kind(self) -> dict[str, tuple[int, int]]:
        """Return kind -> (active, inactive) for every chat kind."""
        counts = dict.fromkeys(KINDS, (0, 0))
        rows = await self._db.fetchall(
            "SELECT kind, SUM(active = 1), SUM(active = 0) FROM chats GROUP BY kind"
        )
        for kind, active, inactive in rows:
            counts[kind] = (int(active), int(inactive))
        return counts

    async def count_unreachable(self, *, paused_reason: str) -> int:
        """Chats inactive for any reason but a pause of their own (blocked, removed, gone)."""
        value = await self._db.scalar(
            "SELECT COUNT(*) FROM chats WHERE active = 0 AND COALESCE(inactive_reason, '') != ?",
            (paused_reason,),
        )
        return int(value or 0)


class SubscriptionRepo:
    """Reads and writes the topics chats follow."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def list(self, chat_id: int) -> builtins.list[Subscription]:
        """Return the chat's subscriptions ordered by topic."""
        rows = await self._db.fetchall(
            "SELECT chat_id, topic, thread_id FROM subscriptions WHERE chat_id = ? ORDER BY topic",
            (chat_id,),
        )
        return [Subscription(row[0], row[1], row[2]) for row in rows]

    async def add(
        self,
        chat_id: int,
        topics: Sequence[str],
        *,
        thread_id: int | None,
        max_topics: int,
        now: float,
    ) -> tuple[builtins.list[str], builtins.list[str], builtins.list[str]]:
        """Add normalised topics; return (added, already there, refused over the limit)."""
        added: builtins.list[str] = []
        present: builtins.list[str] = []
        refused: builtins.list[str] = []
        async with self._db.transaction() as conn:
            cur = await conn.execute(
                "SELECT topic, thread_id FROM subscriptions WHERE chat_id = ?", (chat_id,)
            )
            existing: dict[str, int | None] = {row[0]: row[1] for row in await cur.fetchall()}
            count = len(existing)
            for topic in dict.fromkeys(topics):
                if topic in existing:
                    present.append(topic)
                    if existing[topic] != thread_id:
                        # The topic was asked for again from another forum thread: follow it.
                        await conn.execute(
                            "UPDATE subscriptions SET thread_id = ?"
                            " WHERE chat_id = ? AND topic = ?",
                            (thread_id, chat_id, topic),
                        )
                elif count >= max_topics:
                    refused.append(topic)
                else:
                    await conn.execute(
                        "INSERT INTO subscriptions (chat_id, topic, thread_id, created_at)"
                        " VALUES (?, ?, ?, ?)",
                        (chat_id, topic, thread_id, now),
                    )
                    count += 1
                    added.append(topic)
        return added, present, refused

    async def remove(self, chat_id: int, topics: Sequence[str]) -> builtins.list[str]:
        """Remove topics; return those the chat had."""
        if not topics:
            return []
        async with self._db.transaction() as conn:
            cur = await conn.execute(
                "DELETE FROM subscriptions WHERE chat_id = ?"
                " AND topic IN (SELECT value FROM json_each(?)) RETURNING topic",
                (chat_id, json.dumps(list(topics))),
            )
            gone = {row[0] for row in await cur.fetchall()}
        return [topic for topic in dict.fromkeys(topics) if topic in gone]

    async def clear(self, chat_id: int) -> int:
        """Remove every topic of the chat; return how many there were."""
        return await self._db.execute("DELETE FROM subscriptions WHERE chat_id = ?", (chat_id,))

    async def all_of_active_chats(self) -> builtins.list[Subscription]:
        """Return every subscription of every active chat (for the matcher's index)."""
        return [Subscription(c, t, th) async for rows in self.active_chunks() for c, t, th in rows]

    async def active_chunks(
        self, size: int = 20_000
    ) -> AsyncIterator[builtins.list[tuple[int, str, int | None]]]:
        """Yield (chat_id, topic, thread_id) of active chats' subscriptions, `size` at a time.

        Half a million rows held at once cost more memory than the matcher built from them;
        plain tuples, as sqlite3.Row objects double the cost.
        """
        async with self._db.transaction() as conn:
            cur = await conn.cursor()
            cur.row_factory = None
            await cur.execute(
                "SELECT s.chat_id, s.topic, s.thread_id FROM subscriptions s"
                " JOIN chats c ON c.id = s.chat_id WHERE c.active = 1"
            )
            while rows := await cur.fetchmany(size):
                yield list(rows)  # type: ignore[arg-type]
            await cur.close()

    async def count(self) -> int:
        """Return how many subscriptions there are."""
        return int(await self._db.scalar("SELECT count(*) FROM subscriptions"))

    async def top_topics(self, limit: int) -> builtins.list[tuple[str, int]]:
        """Return the most followed topics with their chat counts (mutes left out)."""
        rows = await self._db.fetchall(
            "SELECT topic, count(*) AS n FROM subscriptions WHERE topic NOT LIKE '-%'"
            " GROUP BY topic ORDER BY n DESC, topic LIMIT ?",
            (limit,),
        )
        return [(row[0], int(row[1])) for row in rows]
