"""The typed states match the schema, and the few spelled out in SQL text match the types."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path

import pytest

import storage
from storage import Storage
from storage.models import (
    Audience,
    BroadcastStatus,
    ChatKind,
    MessageFormat,
    OutboxStatus,
    Priority,
)
from storage.postgres.db import PgDatabase
from tests.storage.conftest import rows, scalar

STORAGE = Path(storage.__file__).parent


async def _checked_values(storage: Storage, table: str, column: str) -> set[str]:
    """The values a CHECK (column IN (...)) constraint of the table's schema allows."""
    if isinstance(storage.store, PgDatabase):
        # PostgreSQL keeps a CHECK as `(column = ANY (ARRAY['a'::text, ...]))`
        checks = await rows(
            storage,
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = CAST(? AS regclass) AND contype = 'c'",
            table,
        )
        listed = [c for (c,) in checks if re.match(rf"CHECK \(\({column} = ANY", c)]
        assert len(listed) == 1, f"{table}.{column} has no CHECK list"
        return set(re.findall(r"'([^']*)'::text", listed[0]))
    sql = str(await scalar(storage, "SELECT sql FROM sqlite_master WHERE name = ?", table))
    found = re.search(rf"CHECK \({column} IN \(([^)]*)\)\)", sql)
    assert found is not None, f"{table}.{column} has no CHECK list"
    return set(re.findall(r"'([^']*)'", found.group(1)))


@pytest.mark.parametrize(
    ("table", "column", "enum"),
    [
        ("chats", "kind", ChatKind),
        ("outbox", "status", OutboxStatus),
        ("broadcasts", "status", BroadcastStatus),
        ("broadcasts", "audience", Audience),
        ("chat_settings", "format", MessageFormat),
    ],
)
async def test_enums_list_what_the_schema_allows(
    storage: Storage, table: str, column: str, enum: type[StrEnum]
) -> None:
    assert await _checked_values(storage, table, column) == {member.value for member in enum}


def test_priorities_in_send_order() -> None:
    assert sorted(Priority) == [Priority.REPLY, Priority.PUSH, Priority.BROADCAST]
    assert (Priority.PUSH, Priority.BROADCAST) == (1, 2)  # what stored rows hold


def test_statuses_spelled_out_in_sql_are_real_ones() -> None:
    """Statements that must repeat a partial index's condition write the status in SQL text."""
    known = {member.value for member in (*OutboxStatus, *BroadcastStatus)}
    spelled: set[str] = set()
    for path in STORAGE.rglob("*.py"):
        spelled |= set(re.findall(r"status = '(\w+)'", path.read_text(encoding="utf-8")))
    assert spelled, "the pattern found nothing: the check no longer checks"
    assert spelled <= known
