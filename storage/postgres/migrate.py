"""Numbered schema migrations for PostgreSQL, tracked in the schema_version table.

Migrations are numbered as storage/sqlite/migrations/ are: a schema change is one number on
both backends. A new PostgreSQL database starts from 010_schema.sql, the whole schema as of
SQLite's migration 010 (the earlier SQLite steps only moved SQLite data along).
"""

from __future__ import annotations

import re
from importlib import resources

import asyncpg

from storage.store import SchemaTooNewError

_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
# One migration at a time, whichever process starts first (a standby included).
_MIGRATION_LOCK = 0x68620001


def migration_files() -> list[tuple[int, str]]:
    """Return (number, sql) for every migration shipped with the package, in order."""
    found: list[tuple[int, str]] = []
    for entry in resources.files("storage.postgres.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    return sorted(found)


def latest_version() -> int:
    """The schema version this code writes."""
    files = migration_files()
    return files[-1][0] if files else 0


async def apply_migrations(conn: asyncpg.Connection) -> int:
    """Bring the schema up to date inside the caller's transaction; return the version."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
    await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)")
    version = await conn.fetchval("SELECT max(version) FROM schema_version") or 0
    newest = latest_version()
    if version > newest:
        raise SchemaTooNewError(
            f"schema version {version} is newer than this bot understands ({newest}); "
            "upgrade headline-bot"
        )
    for number, sql in migration_files():
        if number > version:
            await conn.execute(sql)
            await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", number)
            version = number
    return version
