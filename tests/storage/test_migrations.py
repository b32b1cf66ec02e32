"""Schema migrations on a real file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from storage.db import Database
from storage.migrate import SchemaTooNewError, latest_version


async def test_migrates_from_empty(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "a.sqlite3")
    try:
        assert await db.scalar("PRAGMA user_version") == latest_version()
        tables = {
            row[0] for row in await db.fetchall("SELECT name FROM sqlite_master WHERE type='table'")
        }
        assert {"feeds", "headlines", "chats", "subscriptions", "outbox", "broadcasts"} <= tables
        assert await db.integrity_check() == "ok"
    finally:
        await db.close()


async def test_opening_twice_is_a_no_op(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite3"
    db = await Database.open(path)
    await db.execute("INSERT INTO feeds (url) VALUES ('https://example.org/x')")
    await db.close()
    db = await Database.open(path)
    try:
        assert await db.scalar("PRAGMA user_version") == latest_version()
        assert await db.scalar("SELECT count(*) FROM feeds") == 1
    finally:
        await db.close()


async def test_newer_schema_refuses_to_open(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {latest_version() + 1}")
    conn.close()
    with pytest.raises(SchemaTooNewError):
        await Database.open(path)
