"""The PostgreSQL implementation of storage/: a pool, migrations, repositories, tsvector search.

:func:`open_postgres` connects, migrates and builds every repository once;
:func:`repositories` builds them over a pool already open (tests, benchmarks, copy-db).
"""

from __future__ import annotations

from storage import Storage
from storage.postgres.broadcasts import PgBroadcastRepo
from storage.postgres.chats import PgChatRepo, PgSubscriptionRepo
from storage.postgres.counters import PgCounterRepo
from storage.postgres.db import PgDatabase
from storage.postgres.feeds import PgFeedRepo
from storage.postgres.headlines import PgHeadlineRepo
from storage.postgres.outbox import PgOutboxRepo
from storage.postgres.preferences import PgPreferencesRepo
from storage.postgres.runs import PgRunRepo

__all__ = ["PgDatabase", "open_postgres", "repositories"]


def repositories(db: PgDatabase) -> Storage:
    """Every repository over one open pool."""
    return Storage(
        store=db,
        headlines=PgHeadlineRepo(db),
        feeds=PgFeedRepo(db),
        chats=PgChatRepo(db),
        subscriptions=PgSubscriptionRepo(db),
        outbox=PgOutboxRepo(db),
        broadcasts=PgBroadcastRepo(db),
        counters=PgCounterRepo(db),
        preferences=PgPreferencesRepo(db),
        runs=PgRunRepo(db),
    )


async def open_postgres(url: str) -> Storage:
    """Connect to the database at url (postgresql://), migrate it, and wrap it."""
    return repositories(await PgDatabase.open(url))
