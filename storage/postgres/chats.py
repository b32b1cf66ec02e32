"""Chats the bot knows and the topics they follow, on PostgreSQL: the only writer of both.

The semantics are storage/sqlite/chats.py's, statement for statement; id lists travel as
one bigint[] parameter (`= ANY($1)`) where SQLite reads a JSON array with json_each.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Mapping, Sequence

import asyncpg

from storage.models import Chat, ChatKind, Subscription, audience_kinds
from storage.postgres.db import PgDatabase, conn_of
from storage.store import Transaction


def changed(status: str) -> int:
    """The rows a statement touched, from its status ('UPDATE 3', 'INSERT 0 2')."""
    return int(status.rsplit(" ", 1)[-1])


def _chat(row: asyncpg.Record) -> Chat:
    return Chat(
        id=row["id"],
        kind=ChatKind(row["kind"]),
        title=row["title"],
        username=row["username"],
        is_forum=bool(row["is_forum"]),
        active=bool(row["active"]),
        inactive_reason=row["inactive_reason"],
    )


_CHAT = "SELECT id, kind, title, username, is_forum, active, inactive_reason FROM chats"


class PgChatRepo:
    """Reads and writes the chats table.

    Methods taking a transaction run inside the caller's, so that a change of a chat's
    state and of its outbox rows or topics commit together (see bot/chats/service.py).
    """

    def __init__(self, db: PgDatabase) -> None:
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
            row = await conn.fetchrow(
                "INSERT INTO chats AS c (id, kind, title, username, is_forum, active,"
                " created_at, updated_at) VALUES ($1, $2, $3, $4, $5, COALESCE($6::integer, 1),"
                " $7, $7)"
                " ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, title = excluded.title,"
                " username = excluded.username, is_forum = excluded.is_forum,"
                " updated_at = excluded.updated_at,"
                " active = COALESCE($6::integer, c.active),"
                " inactive_reason = CASE WHEN COALESCE($6::integer, c.active) = 1 THEN NULL"
                " ELSE c.inactive_reason END"
                " RETURNING id, kind, title, username, is_forum, active, inactive_reason",
                chat_id,
                str(ChatKind(kind)),
                title,
                username,
                int(is_forum),
                active,
                now,
            )
        assert row is not None
        return _chat(row)

    async def get(self, chat_id: int) -> Chat | None:
        """Return the chat, or None."""
        row = await self._db.fetchrow(f"{_CHAT} WHERE id = $1", chat_id)
        return None if row is None else _chat(row)

    @staticmethod
    async def fetch(tx: Transaction, chat_id: int) -> Chat | None:
        """Return the chat, or None, inside the caller's transaction."""
        row = await conn_of(tx).fetchrow(f"{_CHAT} WHERE id = $1", chat_id)
        return None if row is None else _chat(row)

    @staticmethod
    async def set_inactive(tx: Transaction, chat_id: int, *, reason: str, now: float) -> None:
        """Mark the chat inactive, for `reason`."""
        await conn_of(tx).execute(
            "UPDATE chats SET active = 0, inactive_reason = $1, updated_at = $2 WHERE id = $3",
            reason,
            now,
            chat_id,
        )

    @staticmethod
    async def set_active(tx: Transaction, chat_id: int, *, now: float) -> bool:
        """Mark the chat active again; False when it was active already (or is unknown)."""
        status = await conn_of(tx).execute(
            "UPDATE chats SET active = 1, inactive_reason = NULL, updated_at = $1"
            " WHERE id = $2 AND active = 0",
            now,
            chat_id,
        )
        return changed(status) > 0

    @staticmethod
    async def rename(tx: Transaction, old_id: int, new_id: int, *, now: float) -> None:
        """Give a group that became a supergroup its new id.

        Its subscriptions, settings, outbox rows and More lists follow through ON UPDATE
        CASCADE.
        """
        await conn_of(tx).execute(
            "UPDATE chats SET id = $1, kind = $2, updated_at = $3 WHERE id = $4",
            new_id,
            str(ChatKind.SUPERGROUP),
            now,
            old_id,
        )

    @staticmethod
    async def carry_pushed_upto(tx: Transaction, old_id: int, new_id: int) -> None:
        """Raise new_id's `pushed_upto` to old_id's, as new_id now owes old_id's pushes."""
        await conn_of(tx).execute(
            "UPDATE chats SET pushed_upto = GREATEST(pushed_upto,"
            " (SELECT pushed_upto FROM chats WHERE id = $1)) WHERE id = $2",
            old_id,
            new_id,
        )

    @staticmethod
    async def pushed_upto(tx: Transaction, chat_ids: Sequence[int]) -> dict[int, int]:
        """The `pushed_upto` mark of each of these chats that is active (others left out)."""
        # a join, not `id = ANY($1)`: a generic plan would test each row against the
        # whole array, and a routing chunk holds thousands of chats
        rows = await conn_of(tx).fetch(
            "SELECT c.id, c.pushed_upto FROM unnest($1::bigint[]) AS u (id)"
            " JOIN chats AS c ON c.id = u.id WHERE c.active = 1",
            list(chat_ids),
        )
        return {row[0]: row[1] for row in rows}

    @staticmethod
    async def set_pushed_upto(tx: Transaction, marks: Mapping[int, int]) -> None:
        """Record the highest headline queued to each chat."""
        if not marks:
            return
        # one statement for every chat of a routing chunk, not one per chat
        await conn_of(tx).execute(
            "UPDATE chats SET pushed_upto = m.mark"
            " FROM unnest($1::bigint[], $2::bigint[]) AS m (id, mark) WHERE chats.id = m.id",
            list(marks),
            list(marks.values()),
        )

    @staticmethod
    async def delete(tx: Transaction, chat_id: int) -> int:
        """Delete the chat's row (its other tables' rows go first, by their own writers)."""
        return changed(await conn_of(tx).execute("DELETE FROM chats WHERE id = $1", chat_id))

    async def count_active(self, audience: str) -> int:
        """How many active chats an audience (all|users|groups|channels) reaches."""
        kinds = [str(kind) for kind in audience_kinds(audience)]
        return int(
            await self._db.fetchval(
                "SELECT count(*) FROM chats WHERE active = 1 AND kind = ANY($1::text[])", kinds
            )
        )

    async def count_by_kind(self) -> dict[ChatKind, tuple[int, int]]:
        """Return kind -> (active, inactive) for every chat kind."""
        counts = dict.fromkeys(ChatKind, (0, 0))
        rows = await self._db.fetch(
            "SELECT kind, count(*) FILTER (WHERE active = 1),"
            " count(*) FILTER (WHERE active = 0) FROM chats GROUP BY kind"
        )
        for kind, active, inactive in rows:
            counts[ChatKind(kind)] = (int(active), int(inactive))
        return counts

    async def count_unreachable(self, *, paused_reason: str) -> int:
        """Chats inactive for any reason but a pause of their own (blocked, removed, gone)."""
        value = await self._db.fetchval(
            "SELECT count(*) FROM chats WHERE active = 0 AND COALESCE(inactive_reason, '') <> $1",
            paused_reason,
        )
        return int(value or 0)


# COLLATE "C": byte order, as SQLite sorts; a database's locale would sort 'topic 0' and
# 'topic0', or 'Chile' and 'chile', its own way.
_OF_CHAT = (
    "SELECT chat_id, topic, thread_id, display FROM subscriptions WHERE chat_id = $1"
    " ORDER BY topic LIKE '-%', topic COLLATE \"C\""
)


def _subscription(row: asyncpg.Record) -> Subscription:
    chat_id, topic, thread_id, display = row
    return Subscription(chat_id, topic, thread_id, str(display or ""))


class PgSubscriptionRepo:
    """Reads and writes the topics chats follow: each topic's key, beside what was typed."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    async def list(self, chat_id: int) -> builtins.list[Subscription]:
        """Return the chat's subscriptions: topics by key, then mutes."""
        return [_subscription(row) for row in await self._db.fetch(_OF_CHAT, chat_id)]

    @staticmethod
    async def fetch(tx: Transaction, chat_id: int) -> builtins.list[Subscription]:
        """The chat's subscriptions (as list()), inside the caller's transaction."""
        return [_subscription(row) for row in await conn_of(tx).fetch(_OF_CHAT, chat_id)]

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
            rows = await conn.fetch(
                "SELECT topic, thread_id FROM subscriptions WHERE chat_id = $1", chat_id
            )
            existing: dict[str, int | None] = {row[0]: row[1] for row in rows}
            count = len(existing)
            moved: builtins.list[str] = []
            inserts: builtins.list[tuple[str, str]] = []
            for topic, display in wanted.items():
                if topic in existing:
                    present.append(topic)
                    if existing[topic] != thread_id:
                        # The topic was asked for again from another forum thread: follow it.
                        moved.append(topic)
                elif count >= max_topics:
                    refused.append(topic)
                else:
                    inserts.append((topic, display))
                    count += 1
                    added.append(topic)
            # one statement each for the lot: a round trip to the server per topic adds up
            if moved:
                await conn.execute(
                    "UPDATE subscriptions SET thread_id = $1"
                    " WHERE chat_id = $2 AND topic = ANY($3::text[])",
                    thread_id,
                    chat_id,
                    moved,
                )
            if inserts:
                await conn.execute(
                    "INSERT INTO subscriptions (chat_id, topic, thread_id, created_at, display)"
                    " SELECT $1, t.topic, $2, $3, t.display"
                    " FROM unnest($4::text[], $5::text[]) AS t (topic, display)",
                    chat_id,
                    thread_id,
                    now,
                    [topic for topic, _ in inserts],
                    [display for _, display in inserts],
                )
        return added, present, refused

    async def remove(self, chat_id: int, topics: Sequence[str]) -> builtins.list[str]:
        """Remove topics by key; return those the chat had."""
        if not topics:
            return []
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                "DELETE FROM subscriptions WHERE chat_id = $1 AND topic = ANY($2::text[])"
                " RETURNING topic",
                chat_id,
                list(topics),
            )
        gone = {row[0] for row in rows}
        return [topic for topic in dict.fromkeys(topics) if topic in gone]

    async def clear(self, chat_id: int) -> int:
        """Remove every topic of the chat; return how many there were."""
        return changed(
            await self._db.execute("DELETE FROM subscriptions WHERE chat_id = $1", chat_id)
        )

    @staticmethod
    async def delete_chat(tx: Transaction, chat_id: int) -> int:
        """Delete every topic of the chat, inside the caller's transaction; return how many."""
        return changed(
            await conn_of(tx).execute("DELETE FROM subscriptions WHERE chat_id = $1", chat_id)
        )

    @staticmethod
    async def move(tx: Transaction, old_id: int, new_id: int) -> None:
        """Give new_id the topics of old_id it does not follow yet; old_id keeps none."""
        conn = conn_of(tx)
        await conn.execute(
            "INSERT INTO subscriptions (chat_id, topic, thread_id, created_at, display)"
            " SELECT $1, topic, thread_id, created_at, display FROM subscriptions"
            " WHERE chat_id = $2"
            " ON CONFLICT (chat_id, topic) DO NOTHING",
            new_id,
            old_id,
        )
        await conn.execute("DELETE FROM subscriptions WHERE chat_id = $1", old_id)

    async def active_chunks(
        self, size: int = 20_000
    ) -> AsyncIterator[builtins.list[tuple[int, str, int | None]]]:
        """Yield (chat_id, topic, thread_id) of active chats' subscriptions in chat order,
        `size` at a time.

        A server-side cursor in one transaction: one snapshot, as SQLite's, and never half a
        million rows in memory at once. Chat order is what the topic index keeps compactly
        (bot/routing/index.py).
        """
        async with self._db.connection() as conn:
            cursor = await conn.cursor(
                "SELECT s.chat_id, s.topic, s.thread_id FROM subscriptions s"
                " JOIN chats c ON c.id = s.chat_id WHERE c.active = 1 ORDER BY s.chat_id"
            )
            while rows := await cursor.fetch(size):
                yield [(row[0], row[1], row[2]) for row in rows]

    async def count(self) -> int:
        """Return how many subscriptions there are."""
        return int(await self._db.fetchval("SELECT count(*) FROM subscriptions"))

    async def top_topics(self, limit: int) -> builtins.list[tuple[str, int]]:
        """Return the most followed topics with their chat counts (mutes left out)."""
        rows = await self._db.fetch(
            "SELECT topic, count(*) AS n FROM subscriptions WHERE topic NOT LIKE '-%'"
            ' GROUP BY topic ORDER BY n DESC, topic COLLATE "C" LIMIT $1',
            limit,
        )
        return [(row[0], int(row[1])) for row in rows]
