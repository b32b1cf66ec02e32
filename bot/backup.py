"""Online backup and restore of the SQLite database, for `python -m bot backup|restore`.

A backup runs beside the running bot: SQLite's online backup API copies the pages of one
read snapshot, a few at a time with a pause between steps, so the bot keeps writing (in
WAL mode readers never block writers). The copy is checked with PRAGMA integrity_check
before it takes the target's name. A restore refuses while a bot holds the database's lock,
checks the backup first, and swaps the file in atomically.

These are file-level tools over the sqlite3 module on a file of their own, not the bot's
aiosqlite connection: the few read-only queries that count rows live here for that reason.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bot.lock import AlreadyRunningError, acquire_lock
from bot.settings import Settings
from storage.migrate import latest_version

PAGES_PER_STEP = 256  # 1 MB at SQLite's default 4 KB page
PAUSE_SECONDS = 0.005  # between steps: the running bot's writes go first
BUSY_TIMEOUT_SECONDS = 10.0


class BackupError(RuntimeError):
    """A backup or restore failed; the message is one readable line."""


class RestoreRefusedError(BackupError):
    """A bot is running on the database: restoring under it would lose or mix its writes."""


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


def _is_part_of(path: Path, database: Path) -> bool:
    """Whether `path` names the database or a file SQLite or the bot keeps beside it."""
    real = os.path.realpath(path)
    base = os.path.realpath(database)
    if real in {base + suffix for suffix in ("", "-wal", "-shm", "-journal", ".lock")}:
        return True
    return path.exists() and database.exists() and os.path.samefile(path, database)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_pages(source: Path, target: Path, *, pages: int, pause: float) -> None:
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
    _fsync(target)


def backup_database(
    source: Path, target: Path, *, pages: int = PAGES_PER_STEP, pause: float = PAUSE_SECONDS
) -> DatabaseSummary:
    """Write a checked, consistent copy of `source` to `target` (replaced if it exists)."""
    if not source.is_file():
        raise BackupError(f"{source}: no such database")
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_dir():
        raise BackupError(f"{target} is a folder; give a file name")
    if _is_part_of(target, source):
        raise BackupError(f"{target} is the database or one of its files; choose another path")
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        # created empty and private first: every chat id will be in it
        os.close(os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        _copy_pages(source, partial, pages=pages, pause=pause)
        summary = inspect_database(partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    _fsync(target.parent)
    return dataclasses.replace(summary, path=target)


@dataclass(frozen=True)
class RestoreReport:
    """What a restore put in place, and where the replaced database was kept."""

    restored: DatabaseSummary
    kept: Path | None


def _fold_wal(database: Path) -> None:
    """Checkpoint a stopped bot's WAL into its file, so the kept copy is whole."""
    try:
        conn = sqlite3.connect(database, isolation_level=None, timeout=BUSY_TIMEOUT_SECONDS)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
    except sqlite3.Error:
        pass  # a damaged database is a reason to restore, not a reason to stop


def restore_database(
    backup: Path, database: Path, *, pages: int = PAGES_PER_STEP, pause: float = 0.0
) -> RestoreReport:
    """Replace `database` by a checked copy of `backup`; refuse while a bot runs on it."""
    checked = inspect_database(backup)
    newest = latest_version()
    if checked.schema_version > newest:
        raise BackupError(
            f"{backup}: schema version {checked.schema_version} is newer than this bot "
            f"understands ({newest}); upgrade headline-bot first"
        )
    if _is_part_of(backup, database):
        raise BackupError(f"{backup} is the database or one of its files")
    try:
        lock = acquire_lock(database)
    except AlreadyRunningError:
        holder = _lock_holder(database)
        raise RestoreRefusedError(
            f"a headline-bot (pid {holder}) is running on {database}; stop it first"
        ) from None
    kept: Path | None = None
    try:
        incoming = database.with_name(f".{database.name}.restoring")
        incoming.unlink(missing_ok=True)
        try:
            _copy_pages(backup, incoming, pages=pages, pause=pause)
            inspect_database(incoming)
            kept = _keep_old(database, incoming)
            # A WAL left beside the old file would be replayed into the new one.
            for suffix in ("-wal", "-shm", "-journal"):
                Path(f"{database}{suffix}").unlink(missing_ok=True)
            os.replace(incoming, database)
        finally:
            incoming.unlink(missing_ok=True)
        _fsync(database.parent)
    finally:
        lock.close()
    return RestoreReport(restored=inspect_database(database), kept=kept)


def _keep_old(database: Path, incoming: Path) -> Path | None:
    """Keep the database being replaced as DATABASE.pre-restore; give `incoming` its owner."""
    if not database.exists():
        return None
    _fold_wal(database)
    st = database.stat()
    incoming.chmod(st.st_mode & 0o777)
    with contextlib.suppress(PermissionError):  # only root may give a file away
        os.chown(incoming, st.st_uid, st.st_gid)
    kept = database.with_name(f"{database.name}.pre-restore")
    kept.unlink(missing_ok=True)
    try:
        os.link(database, kept)  # the old inode stays whole under the new name
    except OSError:
        shutil.copy2(database, kept)
    return kept


def _lock_holder(database: Path) -> str:
    try:
        return Path(f"{database}.lock").read_text().strip() or "unknown"
    except OSError:
        return "unknown"


def run_backup(settings: Settings, target: str | Path) -> int:
    """`python -m bot backup PATH`: print the copy's summary; 0 on success, 1 on failure."""
    started = time.monotonic()
    try:
        summary = backup_database(settings.database_path, Path(target))
    except (BackupError, OSError) as exc:
        print(f"backup failed: {exc}", file=sys.stderr)
        return 1
    print(f"backup {summary.describe()} ({time.monotonic() - started:.1f} s)")
    return 0


def run_restore(settings: Settings, backup: str | Path) -> int:
    """`python -m bot restore PATH`: 0 when restored, 1 when refused or failed."""
    try:
        report = restore_database(Path(backup), settings.database_path)
    except RestoreRefusedError as exc:
        print(f"restore refused: {exc}", file=sys.stderr)
        return 1
    except (BackupError, OSError) as exc:
        print(f"restore failed: {exc}", file=sys.stderr)
        return 1
    print(f"restored {report.restored.describe()}")
    if report.kept is not None:
        print(f"the replaced database is kept as {report.kept}")
    return 0
