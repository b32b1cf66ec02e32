"""SQLite file-level tools for backups: check and count a database, copy one snapshot.

These work on a file of their own through the sqlite3 module, not the bot's aiosqlite
connection (a backup runs beside the running bot, in another process). The orchestration
(locks, names, the command line) is bot/backup.py's.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

PAGES_PER_STEP = 256  # 1 MB at SQLite's default 4 KB page
PAUSE_SECONDS = 0.005  # between steps: the running bot's writes go first
BUSY_TIMEOUT_SECONDS = 10.0


class BackupError(RuntimeError):
    """A backup or restore failed; the message is one readable line."""


@dataclass(frozen=True)
class DatabaseSummary:
    """What a checked database file holds."""

    path: Path
    size_bytes: int
    schema_version: int
    headlines: int
    chats: int
    active_chats: int
    subscriptions: int
    outbox_pending: int

    def describe(self) -> str:
        """One line for people."""
        return (
            f"{self.path}: {_size(self.size_bytes)}, schema version {self.schema_version}, "
            f"{self.headlines} headlines, {self.chats} chats ({self.active_chats} active), "
            f"{self.subscriptions} subscriptions, {self.outbox_pending} outbox pending; "
            "integrity ok"
        )


def _size(n: int) -> str:
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    if n < 1024**3:
        return f"{n / 1024 / 1024:.1f} MB"
    return f"{n / 1024**3:.2f} GB"


def _connect(path: Path, *, mode: str) -> sqlite3.Connection:
    """Open an existing file (never create one by mistake) without implicit transactions."""
    uri = f"{path.resolve().as_uri()}?mode={mode}"
    try:
        return sqlite3.connect(uri, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_SECONDS)
    except sqlite3.Error as exc:
        raise BackupError(f"{path}: cannot open: {exc}") from None


def inspect_database(path: Path) -> DatabaseSummary:
    """Run PRAGMA integrity_check and count the rows; raise BackupError unless sound."""
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    conn = _connect(path, mode="ro")
    try:
        verdict = [row[0] for row in conn.execute("PRAGMA integrity_check(20)")]
        if verdict != ["ok"]:
            raise BackupError(f"{path}: integrity check failed: {'; '.join(verdict)}")
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version == 0:
            raise BackupError(f"{path}: not a headline-bot database (no schema version)")

        def count(sql: str) -> int:
            return int(conn.execute(sql).fetchone()[0])

        return DatabaseSummary(
            path=path,
            size_bytes=path.stat().st_size,
            schema_version=version,
            headlines=count("SELECT count(*) FROM headlines"),
            chats=count("SELECT count(*) FROM chats"),
            active_chats=count("SELECT count(*) FROM chats WHERE active = 1"),
            subscriptions=count("SELECT count(*) FROM subscriptions"),
            outbox_pending=count("SELECT count(*) FROM outbox WHERE status = 'pending'"),
        )
    except sqlite3.DatabaseError as exc:  # not a database, a missing table, ...
        raise BackupError(f"{path}: not a readable headline-bot database: {exc}") from None
    finally:
        conn.close()


def fsync(path: Path) -> None:
    """Flush a file (or a folder's entries) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_pages(source: Path, target: Path, *, pages: int, pause: float) -> None:
    """Copy `source` into the new file `target` from one read snapshot, step by step."""
    # Read-write when allowed, though nothing is written: the last connection to close a
    # WAL database removes its -wal and -shm files, which a read-only one leaves behind
    # (owned by whoever ran the backup).
    try:
        src = _connect(source, mode="rw")
    except BackupError:
        src = _connect(source, mode="ro")
    try:
        # A read transaction held over every step: the copy is one snapshot, and other
        # connections' writes (they go to the WAL) no longer restart the backup, which on a
        # busy bot would never finish.
        src.execute("BEGIN")
        src.execute("SELECT count(*) FROM sqlite_master").fetchone()
        dst = sqlite3.connect(target, isolation_level=None)
        try:
            src.backup(dst, pages=pages, progress=lambda *_: time.sleep(pause))
            # One self-contained file, whatever the source's journal mode.
            dst.execute("PRAGMA journal_mode = DELETE")
        finally:
            dst.close()
        src.execute("COMMIT")
    except sqlite3.Error as exc:
        raise BackupError(f"copying {source}: {exc}") from None
    finally:
        src.close()
    fsync(target)


def fold_wal(database: Path) -> None:
    """Checkpoint a stopped bot's WAL into its file, so the kept copy is whole."""
    try:
        conn = sqlite3.connect(database, isolation_level=None, timeout=BUSY_TIMEOUT_SECONDS)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
    except sqlite3.Error:
        pass  # a damaged database is a reason to restore, not a reason to stop
