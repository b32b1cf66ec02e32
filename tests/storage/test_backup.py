"""Online backup and restore on real SQLite files, with the database in use."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.ops.backup import (
    BackupError,
    RestoreRefusedError,
    backup_database,
    inspect_database,
    restore_database,
)
from storage.lock import acquire_lock
from storage.sqlite.db import Database
from storage.sqlite.headlines import SqliteHeadlineRepo
from tests.storage.conftest import entry, store


def keys(path: Path) -> set[str]:
    """Every headline key in a database file."""
    conn = sqlite3.connect(path)
    try:
        return {row[0] for row in conn.execute("SELECT key FROM headlines")}
    finally:
        conn.close()


async def fill(db: Database, prefix: str, n: int, *, per_batch: int = 200) -> None:
    for start in range(0, n, per_batch):
        batch = [
            entry(f"{prefix}-{i}", f"Headline {prefix} {i}", "word " * 80)
            for i in range(start, min(n, start + per_batch))
        ]
        await store(db, batch)


async def test_backup_while_writing_holds_every_row_committed_before(
    db: Database, tmp_path: Path
) -> None:
    await fill(db, "old", 3000)
    committed: set[str] = set(f"old-{i}" for i in range(3000))
    written_during: list[str] = []
    backing_up = asyncio.Event()
    stop = asyncio.Event()

    async def keep_writing() -> None:
        n = 0
        while not stop.is_set():
            key = f"live-{n}"
            await store(db, [entry(key, f"Live {n}")])
            committed.add(key)
            if backing_up.is_set():
                written_during.append(key)
            n += 1
            await asyncio.sleep(0.001)

    writer = asyncio.create_task(keep_writing())
    await asyncio.sleep(0.05)
    before = set(committed)  # every row committed before the backup starts
    backing_up.set()
    target = tmp_path / "backups" / "nightly.sqlite3"
    # small steps with pauses: the copy takes many steps, interleaved with the writes
    summary = await asyncio.to_thread(backup_database, Path(db.path), target, pages=16, pause=0.003)
    backing_up.clear()
    stop.set()
    await writer
    assert written_during, "the bot could not write while the backup ran"
    assert summary.path == target and summary.size_bytes == target.stat().st_size
    assert inspect_database(target).headlines == summary.headlines
    got = keys(target)
    assert before <= got  # nothing committed before the start is missing
    assert got <= committed  # and nothing that was never committed is there
    assert summary.headlines == len(got)
    verdict = sqlite3.connect(target).execute("PRAGMA integrity_check").fetchall()
    assert verdict == [("ok",)]
    assert not Path(f"{target}-wal").exists()  # one self-contained file
    assert target.stat().st_mode & 0o077 == 0  # readable by its owner only
    assert not list(target.parent.glob(".*partial"))


async def test_backup_counts(db: Database, tmp_path: Path) -> None:
    await fill(db, "a", 7)
    summary = backup_database(Path(db.path), tmp_path / "b.sqlite3")
    assert (summary.headlines, summary.chats, summary.subscriptions) == (7, 0, 0)
    assert summary.outbox_pending == 0 and summary.schema_version >= 1
    assert "7 headlines" in summary.describe() and "integrity ok" in summary.describe()


async def test_backup_refuses_the_database_itself(db: Database, tmp_path: Path) -> None:
    source = Path(db.path)
    for target in (source, tmp_path / "x" / ".." / source.name, Path(f"{source}-wal")):
        with pytest.raises(BackupError, match="the database"):
            backup_database(source, target)
    with pytest.raises(BackupError, match="no such database"):
        backup_database(tmp_path / "missing.sqlite3", tmp_path / "b.sqlite3")


async def test_restore_refuses_while_a_bot_holds_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    db = await Database.open(path)
    try:
        await fill(db, "a", 5)
        backup = tmp_path / "b.sqlite3"
        backup_database(path, backup)
        await fill(db, "later", 3)
        lock = acquire_lock(path)  # what the running bot holds
        try:
            with pytest.raises(RestoreRefusedError, match="running on"):
                restore_database(backup, path)
        finally:
            lock.close()
        assert await SqliteHeadlineRepo(db).count() == 8  # untouched
    finally:
        await db.close()


async def test_restore_replaces_the_database(tmp_path: Path) -> None:
    path = tmp_path / "data" / "bot.sqlite3"
    db = await Database.open(path)
    await fill(db, "a", 5)
    backup = tmp_path / "b.sqlite3"
    backup_database(path, backup)
    await fill(db, "later", 3)
    await db.close()
    # a stale WAL beside the database must not be replayed into the restored file
    Path(f"{path}-wal").write_bytes(b"stale")
    Path(f"{path}-shm").write_bytes(b"stale")
    report = restore_database(backup, path)
    assert report.restored.headlines == 5
    assert report.kept == path.with_name("bot.sqlite3.pre-restore")
    assert len(keys(report.kept)) == 8  # the replaced database, whole
    assert not Path(f"{path}-wal").exists() and not Path(f"{path}-shm").exists()
    assert not list(path.parent.glob(".*restoring"))
    db = await Database.open(path)  # the bot starts on it (migrations, WAL) as usual
    try:
        assert await SqliteHeadlineRepo(db).count() == 5
        assert await db.integrity_check() == "ok"
    finally:
        await db.close()


async def test_restore_onto_a_missing_database(tmp_path: Path, db: Database) -> None:
    await fill(db, "a", 2)
    backup = tmp_path / "b.sqlite3"
    backup_database(Path(db.path), backup)
    target = tmp_path / "new" / "bot.sqlite3"
    report = restore_database(backup, target)
    assert report.kept is None and report.restored.headlines == 2


async def test_restore_checks_the_backup_first(db: Database, tmp_path: Path) -> None:
    await fill(db, "a", 4)
    path = Path(db.path)
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"not a database at all" * 100)
    with pytest.raises(BackupError, match="not a readable headline-bot database"):
        restore_database(garbage, path)
    empty = tmp_path / "empty.sqlite3"
    sqlite3.connect(empty).close()
    with pytest.raises(BackupError):
        restore_database(empty, path)
    newer = tmp_path / "newer.sqlite3"
    backup_database(path, newer)
    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    with pytest.raises(BackupError, match="newer than this bot"):
        restore_database(newer, path)
    with pytest.raises(BackupError, match="no such file"):
        restore_database(tmp_path / "missing.sqlite3", path)
    assert await SqliteHeadlineRepo(db).count() == 4
