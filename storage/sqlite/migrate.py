"""Numbered schema migrations tracked with PRAGMA user_version."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from importlib import resources

import aiosqlite

from storage.sqlite import fts

_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


class SchemaTooNewError(RuntimeError):
    """The database was written by a newer version of the bot."""


def migration_files() -> list[tuple[int, str]]:
    """Return (number, sql) for every migration shipped with the package, in order."""
    found: list[tuple[int, str]] = []
    for entry in resources.files("storage.sqlite.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [n for n, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise RuntimeError(f"migrations are not numbered 1..N: {numbers}")
    return found


def latest_version() -> int:
    """The schema version this code writes."""
    return len(migration_files())


async def _language_step(conn: aiosqlite.Connection) -> None:
    from storage.sqlite.chats import (
        SubscriptionRepo,  # storage.sqlite.chats imports storage.sqlite.db
    )

    await fts.reindex(conn)
    await SubscriptionRepo.rekey(conn)


# Work a migration's SQL cannot do, run after it inside the same transaction.
_PYTHON_STEPS: dict[int, Callable[[aiosqlite.Connection], Awaitable[None]]] = {
    6: _language_step,
}


async def apply_migrations(conn: aiosqlite.Connection) -> int:
    """Bring the schema up to date; a no-op when it already is. Returns the version.

    Also registers the SQL functions the full-text index calls (storage/fts.py) on the
    connection, which every connection that writes headlines needs.
    """
    await fts.install(conn)
    files = migration_files()
    cur = await conn.execute("PRAGMA user_version")
    row = await cur.fetchone()
    current = int(row[0]) if row else 0
    if current > len(files):
        raise SchemaTooNewError(
            f"the database has schema version {current}, newer than this bot "
            f"understands ({len(files)}); upgrade headline-bot or use another DATABASE_PATH"
        )
    for number, sql in files[current:]:
        step = _PYTHON_STEPS.get(number)
        if step is None:
            # executescript commits first; the script itself runs inside one transaction.
            await conn.executescript(
                f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;"
            )
            continue
        await conn.executescript(f"BEGIN IMMEDIATE;\n{sql}")
        try:
            await step(conn)
            await conn.execute(f"PRAGMA user_version = {number}")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT")
    return len(files)
