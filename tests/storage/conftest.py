"""A fresh database per test and the repositories over it: on both backends, or on SQLite.

`storage` is the Storage bundle on each backend in turn (a test that takes it runs twice:
`[sqlite]` on a new SQLite file, `[postgres]` on a new database of the session's PostgreSQL
server, tests/postgres.py). Tests read and write rows with raw SQL through `rows`, `scalar`
and `execute`, which take SQLite's `?` placeholders on both. `db` and the Sqlite*Repo
fixtures are SQLite's own, for tests of what only SQLite has (its migrations from old
files, its backups, FTS5's integrity check).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from bot.chats.service import ChatService
from bot.routing import TopicIndex
from storage import Storage, open_storage
from storage.models import ChatPush, Headline, HeadlineInput, OutboxItem
from storage.outbox import OutboxRepo
from storage.postgres.db import PgDatabase
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


BACKENDS = ("sqlite", "postgres")


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the test's database lives on each backend: a SQLite path, a PostgreSQL URL."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")  # skips, or fails in CI, without a server
        return url
    return str(tmp_path / "bot.sqlite3")


@pytest.fixture
async def storage(database: str) -> AsyncIterator[Storage]:
    """The database opened (and migrated) as the bot opens it, with every repository."""
    opened = await open_storage(database)
    yield opened
    await opened.close()


_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\?")


def _dollars(sql: str) -> str:
    """SQLite's `?` placeholders as PostgreSQL's `$1, $2, ...` (quoted text left alone)."""
    count = 0

    def number(match: re.Match[str]) -> str:
        nonlocal count
        if match.group() != "?":
            return match.group()
        count += 1
        return f"${count}"

    return _PLACEHOLDER.sub(number, sql)


async def rows(storage: Storage, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """The rows a query reads, as tuples, on either backend (`?` placeholders)."""
    store = storage.store
    if isinstance(store, PgDatabase):
        return [tuple(row) for row in await store.fetch(_dollars(sql), *params)]
    assert isinstance(store, Database)
    return [tuple(row) for row in await store.fetchall(sql, params)]


async def scalar(storage: Storage, sql: str, *params: Any) -> Any:
    """The first column of the first row a query reads (None without a row)."""
    found = await rows(storage, sql, *params)
    return found[0][0] if found else None


async def execute(storage: Storage, sql: str, *params: Any) -> None:
    """Run one write statement on either backend (`?` placeholders)."""
    store = storage.store
    if isinstance(store, PgDatabase):
        await store.execute(_dollars(sql), *params)
    else:
        assert isinstance(store, Database)
        await store.execute(sql, params)


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


def _bundle(target: Database | Storage) -> Storage:
    return repositories(target) if isinstance(target, Database) else target


async def store(
    target: Database | Storage,
    entries: Sequence[HeadlineInput],
    *,
    url: str = "https://example.org/feed.xml",
    baseline: bool = False,
    now: float = NOW,
) -> list[Headline]:
    """Store entries for a feed (on a SQLite database or either backend's storage) and return
    the new headlines."""
    bundle = _bundle(target)
    feed = await bundle.feeds.ensure(url)
    async with bundle.store.transaction() as tx:
        result = await bundle.headlines.upsert(tx, feed.id, entries, baseline=baseline, now=now)
    return list(result.new)


async def peek(
    target: Database | Storage, chat_id: int, *, now: float = NOW, max_rows: int = MAX_UNIT_ROWS
) -> list[OutboxItem]:
    """The unit claim_units would hand out next for the chat, left unclaimed."""
    bundle = _bundle(target)
    async with bundle.store.transaction() as tx:
        units = await bundle.outbox.units(tx, [chat_id], now=now, max_rows=max_rows)
    return units.get(chat_id, [])


async def claim(outbox: OutboxRepo, *chat_ids: int, now: float = NOW) -> list[int]:
    """Claim the chats' next units, as delivery does; return the claimed row ids."""
    units = await outbox.claim_units(chat_ids, now=now)
    return [item.id for unit in units.values() for item in unit]


async def push(
    target: Database | Storage,
    routes: Sequence[tuple[int, int]],
    *,
    batch: int = 1,
    thread_id: int | None = None,
) -> int:
    """Queue (chat_id, headline_id) pushes as one routing pass; return how many were added."""
    by_chat: dict[int, set[int]] = {}
    for chat, headline in routes:
        by_chat.setdefault(chat, set()).add(headline)
    pushes = [
        ChatPush(chat, thread_id, tuple((h, ("topic",)) for h in sorted(ids)))
        for chat, ids in by_chat.items()
    ]
    bundle = _bundle(target)
    async with bundle.store.transaction() as tx:
        return await bundle.outbox.enqueue_pushes(tx, pushes, batch=batch, now=NOW)
