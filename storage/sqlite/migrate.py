"""Numbered schema migrations tracked with PRAGMA user_version."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from importlib import resources

import aiosqlite

from bot.text.query import upgrade_key
from storage.sqlite import fts, handles
from storage.store import SchemaTooNewError

_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


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
    await fts.reindex(conn)
    await _rekey_topics(conn)


async def _rekey_topics(conn: aiosqlite.Connection) -> int:
    """Give every stored topic the key today's parser gives it (migration 006).

    Keys stored before were the folded words, so the old key is also the best display
    text there is; `bolivia s` (Bolivia's) and `at t` (AT&T) become `bolivia` and `att`
    (see upgrade_key). A topic the parser refuses keeps its key (the index still matches
    its words); two topics that now share a key become one. Returns the rows re-keyed.
    """
    await conn.execute("UPDATE subscriptions SET display = topic WHERE display = ''")
    cur = await conn.execute("SELECT chat_id, topic FROM subscriptions")
    rows = list(await cur.fetchall())
    changed = 0
    for chat_id, topic in rows:
        key = upgrade_key(topic)
        if key != topic:
            await conn.execute(
                "UPDATE OR IGNORE subscriptions SET topic = ? WHERE chat_id = ? AND topic = ?",
                (key, chat_id, topic),
            )
            await conn.execute(
                "DELETE FROM subscriptions WHERE chat_id = ? AND topic = ?", (chat_id, topic)
            )
            changed += 1
    return changed


async def _title_index_step(conn: aiosqlite.Connection) -> None:
    await fts.reindex(conn)  # the index with its title columns (migration 013)


# Work a migration's SQL cannot do, run after it inside the same transaction.
_PYTHON_STEPS: dict[int, Callable[[aiosqlite.Connection], Awaitable[None]]] = {
    6: _language_step,
    12: handles.migration_step,  # feed handles, made by bot/text/handles.py
    13: _title_index_step,
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
