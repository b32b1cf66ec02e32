"""A freshly migrated SQLite file per test, and the repositories over it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from bot.chats.service import ChatService
from bot.routing import TopicIndex
from storage.models import ChatPush, Headline, HeadlineInput, OutboxItem
from storage.sqlite import repositories
from storage.sqlite.broadcasts import SqliteBroadcastRepo
from storage.sqlite.chats import SqliteChatRepo, SqliteSubscriptionRepo
from storage.sqlite.counters import SqliteCounterRepo
from storage.sqlite.db import Database
from storage.sqlite.feeds import SqliteFeedRepo
from storage.sqlite.headlines import SqliteHeadlineRepo
from storage.sqlite.outbox import MAX_UNIT_ROWS, SqliteOutboxRepo

NOW = 1_750_000_000.0


def entry(
    key: str,
    title: str,
    summary: str = "",
    *,
    published_at: float = NOW,
    link: str | None = None,
    categories: tuple[str, ...] = (),
) -> HeadlineInput:
    """Build a feed entry with sensible defaults."""
    return HeadlineInput(
        key=key,
        title=title,
        link=link if link is not None else f"https://example.org/{key}",
        summary=summary,
        categories=categories,
        published_at=published_at,
    )


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "bot.sqlite3")
    yield database
    await database.close()


@pytest.fixture
def feeds(db: Database) -> SqliteFeedRepo:
    return SqliteFeedRepo(db)


@pytest.fixture
def headlines(db: Database) -> SqliteHeadlineRepo:
    return SqliteHeadlineRepo(db)


@pytest.fixture
def chats(db: Database) -> SqliteChatRepo:
    return SqliteChatRepo(db)


@pytest.fixture
def subscriptions(db: Database) -> SqliteSubscriptionRepo:
    return SqliteSubscriptionRepo(db)


@pytest.fixture
def service(db: Database) -> ChatService:
    """The chat service over the test's database and an index of its own."""
    return ChatService(repositories(db), TopicIndex(), max_topics=10, clock=lambda: NOW)


@pytest.fixture
def outbox(db: Database) -> SqliteOutboxRepo:
    return SqliteOutboxRepo(db)


@pytest.fixture
def broadcasts(db: Database) -> SqliteBroadcastRepo:
    return SqliteBroadcastRepo(db)


@pytest.fixture
def counters(db: Database) -> SqliteCounterRepo:
    return SqliteCounterRepo(db)


async def store(
    db: Database,
    entries: Sequence[HeadlineInput],
    *,
    url: str = "https://example.org/feed.xml",
    baseline: bool = False,
    now: float = NOW,
) -> list[Headline]:
    """Store entries for a feed and return the new headlines."""
    feed = await SqliteFeedRepo(db).ensure(url)
    async with db.transaction() as conn:
        result = await SqliteHeadlineRepo(db).upsert(
            conn, feed.id, entries, baseline=baseline, now=now
        )
    return list(result.new)


async def peek(
    db: Database, chat_id: int, *, now: float = NOW, max_rows: int = MAX_UNIT_ROWS
) -> list[OutboxItem]:
    """The unit claim_units would hand out next for the chat, left unclaimed."""
    async with db.transaction() as conn:
        units = await SqliteOutboxRepo.units(conn, [chat_id], now=now, max_rows=max_rows)
    return units.get(chat_id, [])


async def claim(outbox: SqliteOutboxRepo, *chat_ids: int, now: float = NOW) -> list[int]:
    """Claim the chats' next units, as delivery does; return the claimed row ids."""
    units = await outbox.claim_units(chat_ids, now=now)
    return [item.id for unit in units.values() for item in unit]


async def push(
    db: Database, routes: Sequence[tuple[int, int]], *, batch: int = 1, thread_id: int | None = None
) -> int:
    """Queue (chat_id, headline_id) pushes as one routing pass; return how many were added."""
    by_chat: dict[int, set[int]] = {}
    for chat, headline in routes:
        by_chat.setdefault(chat, set()).add(headline)
    pushes = [
        ChatPush(chat, thread_id, tuple((h, ("topic",)) for h in sorted(ids)))
        for chat, ids in by_chat.items()
    ]
    async with db.transaction() as conn:
        return await SqliteOutboxRepo(db).enqueue_pushes(conn, pushes, batch=batch, now=NOW)
