"""Each chat's preferences (digests, time zone, quiet hours, language, format, previews,
pictures, its own post template)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import time
from typing import Protocol

from storage.models import ChatPreferences, MessageFormat
from storage.store import Transaction


class PreferencesRepo(Protocol):
    """Reads and writes chat_settings."""

    async def get(self, chat_id: int) -> ChatPreferences | None:
        """The chat's stored settings, or None when it has the defaults."""
        ...

    async def get_many(self, chat_ids: Collection[int]) -> dict[int, ChatPreferences]:
        """Stored settings of the given chats (those with the defaults are absent)."""
        ...

    async def digest_chats(self, *, after: int | None = None, limit: int = 10000) -> list[int]:
        """Ids of chats that take digests, in id order, `limit` at a time after `after`."""
        ...

    async def adopt_language(self, chat_id: int, language: str, *, now: float) -> ChatPreferences:
        """Give a chat without a row its first language; a chat with one keeps its own."""
        ...

    async def set_digest_times(
        self, chat_id: int, times: Collection[time], *, now: float, language_if_new: str
    ) -> ChatPreferences:
        """Take digests at these local times (none: pushes go when found)."""
        ...

    async def set_timezone(
        self, chat_id: int, timezone: str, *, now: float, language_if_new: str
    ) -> ChatPreferences:
        """Reckon digest times and quiet hours in this zone."""
        ...

    async def set_quiet_hours(
        self, chat_id: int, window: tuple[time, time] | None, *, now: float, language_if_new: str
    ) -> ChatPreferences:
        """Hold pushes between these local times (None: no quiet hours)."""
        ...

    async def set_language(self, chat_id: int, language: str, *, now: float) -> ChatPreferences:
        """Write the chat's replies in this language."""
        ...

    async def set_format(
        self, chat_id: int, fmt: MessageFormat, *, now: float, language_if_new: str
    ) -> ChatPreferences:
        """Show headlines in full, compact or as one post each."""
        ...

    async def set_previews(
        self, chat_id: int, previews: bool, *, now: float, language_if_new: str
    ) -> ChatPreferences:
        """Let Telegram preview the link of a message holding a single headline, or not."""
        ...

    async def set_pictures(
        self, chat_id: int, pictures: bool, *, now: float, language_if_new: str
    ) -> ChatPreferences:
        """Send posts with the headline's picture, or as text only."""
        ...

    async def set_template(
        self, chat_id: int, template: str | None, *, now: float, language_if_new: str
    ) -> ChatPreferences:
        """Shape the chat's posts with this template (None: the default one)."""
        ...

    async def mark_digest_sent(self, chat_id: int, *, at: float) -> None:
        """Remember when the chat's digest went out (a chat without digests is unchanged)."""
        ...

    async def move(self, tx: Transaction, old_id: int, new_id: int) -> None:
        """Give new_id old_id's settings when it has none of its own (a merged migration)."""
        ...
