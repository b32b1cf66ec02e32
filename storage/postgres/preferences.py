"""Each chat's settings on PostgreSQL: digest times, time zone, quiet hours, language,
format, previews, pictures and the chat's own post template.

The only writer of the chat_settings table, with storage/sqlite/preferences.py's semantics:
a chat without a row has the defaults, and the columns hold the same text and 0/1 values.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import time
from typing import Any

import asyncpg

from storage.models import ChatPreferences, MessageFormat
from storage.postgres.db import PgDatabase, conn_of
from storage.store import Transaction

_COLUMNS = (
    "chat_id, digest_times, timezone, quiet_start, quiet_end, language, format, previews,"
    " pictures, template, digest_since, last_digest_at"
)
_SELECT = f"SELECT {_COLUMNS} FROM chat_settings"  # noqa: S608 (fixed names)


def _hhmm(value: time) -> str:
    return f"{value.hour:02d}:{value.minute:02d}"


def _time(text: str | None) -> time | None:
    if not text:
        return None
    hour, minute = text.split(":")
    return time(int(hour), int(minute))


def _times(text: str) -> tuple[time, ...]:
    return tuple(t for t in (_time(part) for part in text.split(",") if part) if t is not None)


def _settings(row: asyncpg.Record) -> ChatPreferences:
    return ChatPreferences(
        chat_id=row["chat_id"],
        digest_times=_times(row["digest_times"]),
        timezone=row["timezone"],
        quiet_start=_time(row["quiet_start"]),
        quiet_end=_time(row["quiet_end"]),
        language=row["language"],
        format=MessageFormat(row["format"]),
        previews=bool(row["previews"]),
        pictures=bool(row["pictures"]),
        template=row["template"],
        digest_since=row["digest_since"],
        last_digest_at=row["last_digest_at"],
        stored=True,
    )


class PgPreferencesRepo:
    """Reads and writes chat_settings.

    Every change is an upsert: the first change of a chat creates its row, in
    `language_if_new` unless the change is the language itself.
    """

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    async def get(self, chat_id: int) -> ChatPreferences | None:
        """The chat's stored settings, or None when it has the defaults."""
        row = await self._db.fetchrow(f"{_SELECT} WHERE chat_id = $1", chat_id)
        return None if row is None else _settings(row)

    async def get_many(self, chat_ids: Collection[int]) -> dict[int, ChatPreferences]:
        """Stored settings of the given chats (those with the defaults are absent)."""
        if not chat_ids:
            return {}
        # One array, however many chats (routing asks for a chunk's thousands), joined
        # rather than `= ANY($1)`: a cached generic plan would test each row against the
        # whole array.
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM unnest($1::bigint[]) AS u (id)"  # noqa: S608 (fixed names)
            " JOIN chat_settings ON chat_id = u.id",
            list(dict.fromkeys(chat_ids)),
        )
        return {row["chat_id"]: _settings(row) for row in rows}

    async def digest_chats(self, *, after: int | None = None, limit: int = 10_000) -> list[int]:
        """Ids of chats that take digests, in id order, `limit` at a time after `after`."""
        rows = await self._db.fetch(
            "SELECT chat_id FROM chat_settings WHERE digest_times != '' AND chat_id > $1"
            " ORDER BY chat_id LIMIT $2",
            -(2**63) if after is None else after,
            limit,
        )
        return [int(row[0]) for row in rows]

    async def adopt_language(self, chat_id: int, language: str, *, now: float) -> ChatPreferences:
        """Give a chat without a row its first language; a chat with one keeps its own."""
        async with self._db.connection() as conn:
            await conn.execute(
                "INSERT INTO chat_settings (chat_id, language, updated_at) VALUES ($1, $2, $3)"
                " ON CONFLICT (chat_id) DO NOTHING",
                chat_id,
                language,
                now,
            )
            return await self._fetch(conn, chat_id)

    async def set_digest_times(
        self, chat_id: int, times: Collection[time], *, now: float, language_if_new: str
    ) -> ChatPreferences:
        """Take digests at these local times (none: pushes go when found)."""
        text = ",".join(_hhmm(t) for t in sorted(set(times)))
        return await self._upsert(
            chat_id,
            {"digest_times": text, "digest_since": now},
            now=now,
            language_if_new=language_if_new,
        )

    async def set_timezone(
        self, chat_id: int, timezone: str, *, now: float, language_if_new: str
    ) -> ChatPreferences:
        """Reckon digest times and quiet hours in this zone."""
        return await self._upsert(
            chat_id, {"timezone": timezone}, now=now, language_if_new=language_if_new
        )

    async def set_quiet_hours(
        self,
        chat_id: int,
        window: tuple[time, time] | None,
        *,
        now: float,
        language_if_new: str,
    ) -> ChatPreferences:
        """Hold pushes between these local times (None: no quiet hours)."""
        start, end = (None, None) if window is None else (_hhmm(window[0]), _hhmm(window[1]))
        return await self._upsert(
            chat_id,
            {"quiet_start": start, "quiet_end": end},
            now=now,
            language_if_new=language_if_new,
        )

    async def set_language(self, chat_id: int, language: str, *, now: float) -> ChatPreferences:
        """Write the chat's replies in this language."""
        return await self._upsert(
            chat_id, {"language": language}, now=now, language_if_new=language
        )

    async def set_format(
        self, chat_id: int, fmt: MessageFormat, *, now: float, language_if_new: str
    ) -> ChatPreferences:
        """Show headlines in full, compact or as one post each."""
        return await self._upsert(
            chat_id, {"format": str(MessageFormat(fmt))}, now=now, language_if_new=language_if_new
        )

    async def set_previews(
        self, chat_id: int, previews: bool, *, now: float, language_if_new: str
    ) -> ChatPreferences:
        """Let Telegram preview the link of a message holding a single headline, or not."""
        return await self._upsert(
            chat_id, {"previews": int(previews)}, now=now, language_if_new=language_if_new
        )

    async def set_pictures(
        self, chat_id: int, pictures: bool, *, now: float, language_if_new: str
    ) -> ChatPreferences:
        """Send posts with the headline's picture, or as text only."""
        return await self._upsert(
            chat_id, {"pictures": int(pictures)}, now=now, language_if_new=language_if_new
        )

    async def set_template(
        self, chat_id: int, template: str | None, *, now: float, language_if_new: str
    ) -> ChatPreferences:
        """Shape the chat's posts with this template (None: the default one)."""
        return await self._upsert(
            chat_id, {"template": template}, now=now, language_if_new=language_if_new
        )

    async def mark_digest_sent(self, chat_id: int, *, at: float) -> None:
        """Remember when the chat's digest went out (a chat without digests is unchanged)."""
        await self._db.execute(
            "UPDATE chat_settings SET last_digest_at = $1"
            " WHERE chat_id = $2 AND digest_times != ''",
            at,
            chat_id,
        )

    @staticmethod
    async def move(tx: Transaction, old_id: int, new_id: int) -> None:
        """Give new_id old_id's settings when it has none of its own (a merged migration)."""
        await conn_of(tx).execute(
            "INSERT INTO chat_settings (chat_id, digest_times, timezone, quiet_start,"
            " quiet_end, language, format, previews, pictures, template, digest_since,"
            " last_digest_at, updated_at)"
            " SELECT $1, digest_times, timezone, quiet_start, quiet_end, language, format,"
            " previews, pictures, template, digest_since, last_digest_at, updated_at"
            " FROM chat_settings WHERE chat_id = $2 ON CONFLICT (chat_id) DO NOTHING",
            new_id,
            old_id,
        )

    async def _upsert(
        self, chat_id: int, values: Mapping[str, Any], *, now: float, language_if_new: str
    ) -> ChatPreferences:
        # column names come from the methods above, never from outside
        columns = ["chat_id", "language", "updated_at", *[c for c in values if c != "language"]]
        params: list[Any] = [chat_id, values.get("language", language_if_new), now]
        params += [v for c, v in values.items() if c != "language"]
        updates = ", ".join(f"{c} = excluded.{c}" for c in [*values, "updated_at"])
        placeholders = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
        sql = (
            f"INSERT INTO chat_settings ({', '.join(columns)})"  # noqa: S608 (fixed names)
            f" VALUES ({placeholders})"
            f" ON CONFLICT (chat_id) DO UPDATE SET {updates}"
            f" RETURNING {_COLUMNS}"
        )
        async with self._db.connection() as conn:
            row = await conn.fetchrow(sql, *params)
        assert row is not None
        return _settings(row)

    @staticmethod
    async def _fetch(tx: Transaction, chat_id: int) -> ChatPreferences:
        row = await conn_of(tx).fetchrow(f"{_SELECT} WHERE chat_id = $1", chat_id)
        assert row is not None
        return _settings(row)
