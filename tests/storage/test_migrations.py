"""Schema migrations on a real file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from storage.sqlite.db import Database
from storage.sqlite.migrate import SchemaTooNewError, latest_version, migration_files
from tests.storage.conftest import peek


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


async def test_per_headline_push_rows_survive_the_move_to_push_rows(tmp_path: Path) -> None:
    """Version 4 kept a row per (chat, headline): version 5 reads them as one-item rows and
    marks each chat as pushed up to its newest headline."""
    path = tmp_path / "a.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    for number, sql in migration_files()[:4]:
        conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;")
    conn.executescript(
        "INSERT INTO feeds (id, url) VALUES (1, 'https://example.org/feed');"
        "INSERT INTO headlines (id, feed_id, key, title, published_at, first_seen_at,"
        " updated_at) VALUES (1, 1, 'a', 'One', 0, 0, 0), (2, 1, 'b', 'Two', 0, 0, 0),"
        " (3, 1, 'c', 'Three', 0, 0, 0);"
        "INSERT INTO chats (id, kind, created_at, updated_at) VALUES (1, 'private', 0, 0),"
        " (2, 'private', 0, 0), (3, 'private', 0, 0);"
        "INSERT INTO outbox (chat_id, headline_id, topics, priority, status, created_at)"
        " VALUES (1, 1, 'one', 1, 'sent', 0), (1, 2, 'two', 1, 'pending', 0),"
        " (1, 3, 'three', 1, 'pending', 0), (2, 3, 'three', 1, 'pending', 0);"
    )
    conn.close()
    db = await Database.open(path)
    try:
        upto = await db.fetchall("SELECT id, pushed_upto FROM chats ORDER BY id")
        assert [tuple(r) for r in upto] == [(1, 3), (2, 3), (3, 0)]
        unit = await peek(db, 1, now=0)
        assert [row.items for row in unit] == [((2, ("two",)),), ((3, ("three",)),)]
        pushes = await db.fetchall(
            "SELECT chat_id, headline_id, status FROM outbox_pushes ORDER BY outbox_id"
        )
        assert [tuple(r) for r in pushes] == [
            (1, 1, "sent"),
            (1, 2, "pending"),
            (1, 3, "pending"),
            (2, 3, "pending"),
        ]
        assert await db.integrity_check() == "ok"
    finally:
        await db.close()
