"""Storage: the records the bot keeps, and the interfaces it keeps them through.

The rest of the bot depends on this face only: :func:`open_storage` opens the database the
settings name and hands back a :class:`Storage`, the store and one repository per table
family, each typed by its interface (storage/chats.py, storage/outbox.py, ...). The SQLite
implementation lives in storage/sqlite/, the PostgreSQL one in storage/postgres/; nothing
above storage/ knows which one runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from storage.lock import is_postgres
from storage.store import SchemaTooNewError, Store, Transaction

if TYPE_CHECKING:
    from storage.broadcasts import BroadcastRepo
    from storage.chats import ChatRepo, SubscriptionRepo
    from storage.counters import CounterRepo
    from storage.feeds import FeedRepo
    from storage.headlines import HeadlineRepo
    from storage.outbox import OutboxRepo
    from storage.preferences import PreferencesRepo
    from storage.runs import RunRepo

__all__ = ["SchemaTooNewError", "Storage", "Store", "Transaction", "open_storage"]


@dataclass(frozen=True, slots=True)
class Storage:
    """An open database and its repositories, built once by :func:`open_storage`."""

    store: Store
    headlines: HeadlineRepo
    feeds: FeedRepo
    chats: ChatRepo
    subscriptions: SubscriptionRepo
    outbox: OutboxRepo
    broadcasts: BroadcastRepo
    counters: CounterRepo
    preferences: PreferencesRepo
    runs: RunRepo  # each run's start and clean stop

    async def close(self) -> None:
        """Close the database."""
        await self.store.close()


async def open_storage(database: str | Path) -> Storage:
    """Open (creating and migrating) the database, with its repositories: PostgreSQL for a
    postgresql:// URL, else the SQLite file at that path.

    Raises SchemaTooNewError for a database a newer version wrote, OSError when it cannot be
    reached, and the driver's own error for a file that is not a database.
    """
    if is_postgres(database):
        from storage.postgres import open_postgres  # the implementation is chosen here only

        return await open_postgres(str(database))
    from storage.sqlite import open_sqlite

    return await open_sqlite(database)
