"""The store: one database behind the repositories, and the transactions they share.

The rest of the bot holds a :class:`Store` and passes the :class:`Transaction` it opens to
repository methods without knowing what it is: a SQLite connection today (storage/sqlite/),
another database's tomorrow, as a sibling folder.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol


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
