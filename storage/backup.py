"""Backups of the database file: checking, counting and copying one snapshot (SQLite's).

A file-level concern of the one file-based backend; `python -m bot backup|restore`
(bot/ops/backup.py) builds on these steps.
"""

from storage.sqlite.backup import (
    PAGES_PER_STEP,
    PAUSE_SECONDS,
    BackupError,
    DatabaseSummary,
    copy_pages,
    fold_wal,
    fsync,
    inspect_database,
)
from storage.sqlite.migrate import latest_version

__all__ = [
    "PAGES_PER_STEP",
    "PAUSE_SECONDS",
    "BackupError",
    "DatabaseSummary",
    "copy_pages",
    "fold_wal",
    "fsync",
    "inspect_database",
    "latest_version",
]
