"""Chats the bot knows and the topics they follow: the only writer of both tables."""

from __future__ import annotations

import builtins
import json
import sqlite3
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence

from storage.models import Chat, ChatKind, Subscription, audience_kinds
from storage.sqlite.db import Database, conn_of
from storage.store import Transaction


def _chat(row: sqlite3.Row) -> Chat:
    return Chat(
        id=row["id"],
        kind=ChatKind(row["kind"]),
        title=row["title"],
        username=row["username"],
        is_forum=bool(row["is_forum"]),
        active=bool(row["active"]),
        inactive_reason=row["inactive_reason"],
    )


def _json_list(values: Iterable[object]) -> str:
    return json.dumps(list(values))


class SqliteChatRepo:
    """Reads and writes the chats table.

    Methods taking a connection run inside the caller's transaction, so that a change of a
    chat's state and of its outbox rows or topics commit together (see bot/chats.py).
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def upsert(
        self,
        chat_id: int,
        *,
        kind: ChatKind | str,
        title: str | None = None,
        username: str | None = None,
        is_forum: bool = False,
        now: float,
        activate: bool | None = None,
    ) -> Chat:
        """Insert or refresh a chat's metadata; activate=True/False also sets `active`."""
        active = None if activate is None else int(activate)
        async with self._db.connection() as conn:
            await conn.execute(
                "INSERT INTO chats (id, kind, title, username, is_forum, active,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, COALESCE(?, 1), ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, title = excluded.title,"
                " username = excluded.username, is_forum = excluded.is_forum,"
                " updated_at = excluded.updated_at,"
                " active = COALESCE(?, active),"
                " inactive_reason = CASE WHEN COALESCE(?, active) = 1 THEN NULL"
                " ELSE inactive_reason END",
                (
                    chat_id,
                    ChatKind(kind),
                    title,
                    username,
                    int(is_forum),
                    active,
                    now,
                    now,
                    active,
                    active,
                ),
            )
            chat = await self.fetch(conn, chat_id)
        assert chat is not None
        return chat

    async def get(self, chat_id: int) -> Chat | None:
        """Return the chat, or None."""
        row = await self._db.fetchone("SELECT * FROM chats WHERE id = ?", (chat_id,))
        return None if row is None else _chat(row)

    @staticmethod
    async def fetch(tx: Transaction, chat_id: int) -> Chat | None:
        """Return the chat, or None, inside the caller's transaction."""
        conn = conn_of(tx)
        cur = await conn.execute("SELECT * FROM chats WHERE id = ?", (chat_id,))
        row = await cur.fetchone()
        return None if row is None else _chat(row)

    @staticmethod
    async def set_inactive(tx: Transaction, chat_id: int, *, reason: str, now: float) -> None:
        """Mark the chat inactive, for `reason`."""
        conn = conn_of(tx)
        await conn.execute(
            "UPDATE chats SET active = 0, inactive_reason = ?, updated_at = ? WHERE id = ?",
            (reason, now, chat_id),
        )

    @staticmethod
    async def set_active(tx: Transaction, chat_id: int, *, now: float) -> bool:
        """Mark the chat active again; False when it was active already (or is unknown)."""
        conn = conn_of(tx)
        cur = await conn.execute(
            "UPDATE chats SET active = 1, inactive_reason = NULL, updated_at = ?"
            " WHERE id = ? AND active = 0",
            (now, chat_id),
        )
        return cur.rowcount > 0

    @staticmethod
    async def rename(tx: Transaction, old_id: int, new_id: int, *, now: float) -> None:
        """Give a group that became a supergroup its new id.

        Its subscriptions and outbox rows follow through ON UPDATE CASCADE.
        """
        conn = conn_of(tx)
        await conn.execute(
            "UPDATE chats SET id = ?, kind = ?, updated_at = ? WHERE id = ?",
            (new_id, ChatKind.SUPERGROUP, now, old_id),
        )

    @staticmethod
    async def carry_pushed_upto(tx: Transaction, old_id: int, new_id: int) -> None:
        """Raise new_id's `pushed_upto` to old_id's, as new_id now owes old_id's pushes."""
        conn = conn_of(tx)
        await conn.execute(
            "UPDATE chats SET pushed_upto = max(pushed_upto,"
            " (SELECT pushed_upto FROM chats WHERE id = ?)) WHERE id = ?",
            (old_id, new_id),
        )

    @staticmethod
    async def pushed_upto(tx: Transaction, chat_ids: Sequence[int]) -> dict[int, int]:
        """The `pushed_upto` mark of each of these chats that is active (others left out)."""
        conn = conn_of(tx)
        cur = await conn.execute(
            "SELECT id, pushed_upto FROM chats"
            " WHERE id IN (SELECT value FROM json_each(?)) AND active = 1",
            (_json_list(chat_ids),),
        )
        return {chat_id: mark for chat_id, mark in await cur.fetchall()}

    @staticmethod
    async def set_pushed_upto(tx: Transaction, marks: Mapping[int, int]) -> None:
        """Record the highest headline queued to each chat."""
        conn = conn_of(tx)
        await conn.executemany(
            "UPDATE chats SET pushed_upto = ? WHERE id = ?",
            [(mark, chat_id) for chat_id, mark in marks.items()],
        )

    @staticmethod
    async def delete(tx: Transaction, chat_id: int) -> int:
        """Delete the chat's row (its other tables' rows go first, by their own writers)."""
        conn = conn_of(tx)
        cur = await conn.execute("DELETE FROM chats WHERE id = ?", (chat_id,))
        return cur.rowcount

    async def count_active(self, audience: str) -> int:
        """How many active chats an audience (all|users|groups|channels) reaches."""
        return int(
            await self._db.scalar(
                "SELECT count(*) FROM chats WHERE active = 1"
                " AND kind IN (SELECT value FROM json_each(?))",
                (_json_list(audience_kinds(audience)),),
            )
        )

    async def count_by_kind(self) -> dict[ChatKind, tuple[int, int]]:
        """Return kind -> (active, inactive) for every chat kind."""
        counts = dict.fromkeys(ChatKind, (0, 0))
        rows = await self._db.fetchall(
            "SELECT kind, SUM(active = 1), SUM(active = 0) FROM chats GROUP BY kind"
        )
        for kind, active, inactive in rows:
            counts[ChatKind(kind)] = (int(active), int(inactive))
        return counts

    async def count_unreachable(self, *, paused_reason: str) -> int:
        """Chats inactive for any reason but a pause of their own (blocked, removed, gone)."""
        value = await self._db.scalar(
            "SELECT COUNT(*) FROM chats WHERE active = 0 AND COALESCE(inactive_reason, '') != ?",
            (paused_reason,),
        )
        return int(value or 0)


_OF_CHAT = (
    "SELECT chat_id, topic, thread_id, display FROM subscriptions WHERE chat_id = ?"
    " ORDER BY topic LIKE '-%', topic"
)


def _subscription(row: Sequence[object]) -> Subscription:
    chat_id, topic, thread_id, display = row
    assert isinstance(chat_id, int)
    assert isinstance(topic, str)
    return Subscription(
        chat_id, topic, thread_id if isinstance(thread_id, int) else None, str(display or "")
    )


class SqliteSubscriptionRepo:
    """Reads and writes the topics chats follow: each topic's key, beside what was typed."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def list(self, chat_id: int) -> builtins.list[Subscription]:
        """Return the chat's subscriptions: topics by key, then mutes."""
        rows = await self._db.fetchall(_OF_CHAT, (chat_id,))
        return [_subscription(tuple(row)) for row in rows]

    @staticmethod
    async def fetch(tx: Transaction, chat_id: int) -> builtins.list[Subscription]:
        """The chat's subscriptions (as list()), inside the caller's transaction."""
        conn = conn_of(tx)
        cur = await conn.execute(_OF_CHAT, (chat_id,))
        return [_subscription(tuple(row)) for row in await cur.fetchall()]

    async def add(
        self,
        chat_id: int,
        topics: Sequence[str | tuple[str, str]],
        *,
        thread_id: int | None,
        max_topics: int,
        now: float,
    ) -> tuple[builtins.list[str], builtins.list[str], builtins.list[str]]:
        """Add topics, each a key or (key, display); return (added, already there, refused
        over the limit) as keys. Re-adding a topic keeps its first display text."""
        added: builtins.list[str] = []
        present: builtins.list[str] = []
        refused: builtins.list[str] = []
        wanted: dict[str, str] = {}
        for item in topics:
            key, display = (item, item) if isinstance(item, str) else item
            wanted.setdefault(key, display)
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT topic, thread_id FROM subscriptions WHERE chat_id = ?", (chat_id,)
            )
            existing: dict[str, int | None] = {row[0]: row[1] for row in await cur.fetchall()}
            count = len(existing)
            for topic, display in wanted.items():
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
                        "INSERT INTO subscriptions (chat_id, topic, thread_id, created_at, display)"
                        " VALUES (?, ?, ?, ?, ?)",
                        (chat_id, topic, thread_id, now, display),
                    )
                    count += 1
                    added.append(topic)
        return added, present, refused

    async def remove(self, chat_id: int, topics: Sequence[str]) -> builtins.list[str]:
        """Remove topics by key; return those the chat had."""
        if not topics:
            return []
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "DELETE FROM subscriptions WHERE chat_id = ?"
                " AND topic IN (SELECT value FROM json_each(?)) RETURNING topic",
                (chat_id, _json_list(topics)),
            )
            gone = {row[0] for row in await cur.fetchall()}
        return [topic for topic in dict.fromkeys(topics) if topic in gone]

    async def clear(self, chat_id: int) -> int:
        """Remove every topic of the chat; return how many there were."""
        return await self._db.execute("DELETE FROM subscriptions WHERE chat_id = ?", (chat_id,))

    @staticmethod
    async def delete_chat(tx: Transaction, chat_id: int) -> int:
        """Delete every topic of the chat, inside the caller's transaction; return how many."""
        conn = conn_of(tx)
        cur = await conn.execute("DELETE FROM subscriptions WHERE chat_id = ?", (chat_id,))
        return cur.rowcount

    @staticmethod
    async def move(tx: Transaction, old_id: int, new_id: int) -> None:
        """Give new_id the topics of old_id it does not follow yet; old_id keeps none."""
        conn = conn_of(tx)
        await conn.execute(
            "INSERT OR IGNORE INTO subscriptions (chat_id, topic, thread_id, created_at, display)"
            " SELECT ?, topic, thread_id, created_at, display FROM subscriptions WHERE chat_id = ?",
            (new_id, old_id),
        )
        await conn.execute("DELETE FROM subscriptions WHERE chat_id = ?", (old_id,))

    async def active_chunks(
        self, size: int = 20_000
    ) -> AsyncIterator[builtins.list[tuple[int, str, int | None]]]:
        """Yield (chat_id, topic, thread_id) of active chats' subscriptions in chat order, `size`
        at a time.

        Half a million rows held at once cost more memory than the matcher built from them;
        plain tuples, as sqlite3.Row objects double the cost.
        """
        async with self._db.connection() as conn:
            cur = await conn.cursor()
            cur.row_factory = None
            # in chat order, which the topic index keeps compactly (bot/routing/index.py):
            # the chats' own order, no sort
            await cur.execute(
                "SELECT s.chat_id, s.topic, s.thread_id FROM chats c NOT INDEXED"
                " JOIN subscriptions s ON s.chat_id = c.id WHERE c.active = 1 ORDER BY c.id"
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
