"""The store: one database behind the repositories, and the transactions they share.

The rest of the bot holds a :class:`Store` and passes the :class:`Transaction` it opens to
repository methods without knowing what it is: a SQLite connection today (storage/sqlite/),
another database's tomorrow, as a sibling folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from contextvars import ContextVar
from typing import Protocol

# Set while an update is handled (bot/context.py): database work a reply waits for goes ahead
# of background work (polls, routing, delivery) where work queues for the database.
_REPLYING: ContextVar[bool] = ContextVar("replying", default=False)


@contextmanager
def replying() -> Iterator[None]:
    """Mark the database work done inside (and in tasks started inside) as a reply's."""
    token = _REPLYING.set(True)
    try:
        yield
    finally:
        _REPLYING.reset(token)


def is_replying() -> bool:
    """Whether the work under way is a reply's (see replying)."""
    return _REPLYING.get()


class SchemaTooNewError(RuntimeError):
    """The database was written by a newer version of the bot."""


class Transaction(Protocol):
    """An open unit of work: handed out by :meth:`Store.transaction`, passed to repositories.

    Opaque on purpose: only the implementation that opened it looks inside.
    """


class Store(Protocol):
    """The database: transactions, health and closing. Repositories hang off the assembly."""

    @property
    def description(self) -> str:
        """Where the data lives, safe for logs (a path, or a URL without its password)."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """One transaction for the block: committed at its end, rolled back on any exception."""
        ...

    async def write_error(self) -> str | None:
        """Try a write that rolls back: None when the database takes writes, else why not."""
        ...

    async def close(self) -> None:
        """Close the database (waits for a running transaction)."""
        ...
