"""Numbered schema migrations tracked with PRAGMA user_version."""

from __future__ import annotations

import re
from importlib import resources

import aiosqlite

_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


class SchemaTooNewError(RuntimeError):
    """The database was written by a newer version of the bot."""


def migration_files() -> list[tuple[int, str]]:
    """Return (number, sql) for every migration shipped with the package, in order."""
    found: list[tuple[int, str]] = []
    for entry in resources.files("storage.migrations").iterdir():
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


async def apply_migrations(conn: aiosqlite.Connection) -> int:
    """Bring the schema up to date; a no-op when it already is. Returns the version."""
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
        # executescript commits first; the script itself runs inside one transaction.
        await conn.executescript(
            f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;"
        )
    return len(files)
