"""The SQLite implementation of storage/: one connection, migrations, repositories, FTS5.

:func:`open_sqlite` opens the file and builds every repository once; :func:`repositories`
builds them over a connection already open (tests, benchmarks).
"""

from __future__ import annotations

from pathlib import Path

from storage import Storage
from storage.sqlite.broadcasts import SqliteBroadcastRepo
from storage.sqlite.chats import SqliteChatRepo, SqliteSubscriptionRepo
from storage.sqlite.counters import SqliteCounterRepo
from storage.sqlite.db import Database
from storage.sqlite.feeds import SqliteFeedRepo
from storage.sqlite.headlines import SqliteHeadlineRepo
from storage.sqlite.outbox import SqliteOutboxRepo
from storage.sqlite.preferences import SqlitePreferencesRepo
from storage.sqlite.runs import SqliteRunRepo

__all__ = ["Database", "open_sqlite", "repositories"]


def repositories(db: Database) -> Storage:
    """Every repository over one open database."""
    return Storage(
        store=db,
        headlines=SqliteHeadlineRepo(db),
        feeds=SqliteFeedRepo(db),
        chats=SqliteChatRepo(db),
        subscriptions=SqliteSubscriptionRepo(db),
        outbox=SqliteOutboxRepo(db),
        broadcasts=SqliteBroadcastRepo(db),
        counters=SqliteCounterRepo(db),
        preferences=SqlitePreferencesRepo(db),
        runs=SqliteRunRepo(db),
    )


async def open_sqlite(path: str | Path) -> Storage:
    """Open (creating its folder), migrate and wrap the SQLite file at path."""
    return repositories(await Database.open(path))
