"""Online backup and restore of the SQLite database, for `python -m bot backup|restore`.

A backup runs beside the running bot: SQLite's online backup API copies the pages of one
read snapshot, a few at a time with a pause between steps, so the bot keeps writing (in
WAL mode readers never block writers). The copy is checked with PRAGMA integrity_check
before it takes the target's name. A restore refuses while a bot holds the database's lock,
checks the backup first, and swaps the file in atomically.

The SQL-level steps (checking, counting, copying pages) are storage/backup.py's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bot.config import Settings
from storage.backup import (
    PAGES_PER_STEP,
    PAUSE_SECONDS,
    BackupError,
    DatabaseSummary,
    copy_pages,
    fold_wal,
    fsync,
    inspect_database,
    latest_version,
)
from storage.lock import AlreadyRunningError, acquire_lock, lock_holder

__all__ = [
    "BackupError",
    "DatabaseSummary",
    "RestoreRefusedError",
    "RestoreReport",
    "backup_database",
    "inspect_database",
    "restore_database",
    "run_backup",
    "run_restore",
]


class RestoreRefusedError(BackupError):
    """A bot is running on the database: restoring under it would lose or mix its writes."""


def _is_part_of(path: Path, database: Path) -> bool:
    """Whether `path` names the database or a file SQLite or the bot keeps beside it."""
    real = os.path.realpath(path)
    base = os.path.realpath(database)
    if real in {base + suffix for suffix in ("", "-wal", "-shm", "-journal", ".lock")}:
        return True
    return path.exists() and database.exists() and os.path.samefile(path, database)


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
        copy_pages(source, partial, pages=pages, pause=pause)
        summary = inspect_database(partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    fsync(target.parent)
    return dataclasses.replace(summary, path=target)


@dataclass(frozen=True)
class RestoreReport:
    """What a restore put in place, and where the replaced database was kept."""

    restored: DatabaseSummary
    kept: Path | None


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
        holder = lock_holder(database)
        raise RestoreRefusedError(
            f"a headline-bot (pid {holder}) is running on {database}; stop it first"
        ) from None
    kept: Path | None = None
    try:
        incoming = database.with_name(f".{database.name}.restoring")
        incoming.unlink(missing_ok=True)
        try:
            copy_pages(backup, incoming, pages=pages, pause=pause)
            inspect_database(incoming)
            kept = _keep_old(database, incoming)
            # A WAL left beside the old file would be replayed into the new one.
            for suffix in ("-wal", "-shm", "-journal"):
                Path(f"{database}{suffix}").unlink(missing_ok=True)
            os.replace(incoming, database)
        finally:
            incoming.unlink(missing_ok=True)
        fsync(database.parent)
    finally:
        lock.close()
    return RestoreReport(restored=inspect_database(database), kept=kept)


def _keep_old(database: Path, incoming: Path) -> Path | None:
    """Keep the database being replaced as DATABASE.pre-restore; give `incoming` its owner."""
    if not database.exists():
        return None
    fold_wal(database)
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


def run_backup(settings: Settings, target: str | Path) -> int:
    """`python -m bot backup PATH`: print the copy's summary; 0 on success, 1 on failure.

    On PostgreSQL: one line naming pg_dump and how to call it, and exit 2.
    """
    if settings.database_url is not None:
        print(
            f"backup: {settings.database_name} is PostgreSQL: back it up with pg_dump, "
            f'e.g. pg_dump --format=custom --file={target} "$DATABASE_URL"',
            file=sys.stderr,
        )
        return 2
    started = time.monotonic()
    try:
        summary = backup_database(settings.database_path, Path(target))
    except (BackupError, OSError) as exc:
        print(f"backup failed: {exc}", file=sys.stderr)
        return 1
    print(f"backup {summary.describe()} ({time.monotonic() - started:.1f} s)")
    return 0


def run_restore(settings: Settings, backup: str | Path) -> int:
    """`python -m bot restore PATH`: 0 when restored, 1 when refused or failed.

    On PostgreSQL: one line naming pg_restore and how to call it, and exit 2.
    """
    if settings.database_url is not None:
        print(
            f"restore: {settings.database_name} is PostgreSQL: stop every bot on it, then "
            f"restore with pg_restore, e.g. pg_restore --clean --if-exists --no-owner "
            f'--dbname="$DATABASE_URL" {backup}',
            file=sys.stderr,
        )
        return 2
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
