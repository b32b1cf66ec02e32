"""Each chat's settings: read with defaults, validated, changed; and when its pushes may go.

PreferencesService is the one owner of the settings. Handlers change them through it;
routing and delivery ask it when a chat's pushes may go out (`next_push_at`, or in bulk
`release_times`), and tell it when a digest went (`mark_digest_sent`).

Parsing what a chat types (`08:00,18:00`, `America/La_Paz`, `22:00-07:00`, `es`, `compact`,
`on`) is pure and lives here and in bot/text/schedule.py; a post template is read and
checked by bot/text/template.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from enum import StrEnum

from bot.text import template as templates
from bot.text.i18n import LANGUAGES, N_, language_for_user
from bot.text.schedule import (
    QuietHours,
    Schedule,
    SettingError,
    next_push_at,
    parse_digest_times,
    parse_quiet,
    parse_timezone,
    queue_at,
)
from storage import Storage
from storage.models import ChatPreferences, MessageFormat


class Setting(StrEnum):
    """The settings a chat may change; each is also a command of the same name."""

    DIGEST = "digest"
    TIMEZONE = "timezone"
    QUIET = "quiet"
    LANGUAGE = "language"
    FORMAT = "format"
    PREVIEWS = "previews"
    PICTURES = "pictures"


_ON = ("on", "yes", "true", "1", "si", "sí")
_OFF = ("off", "no", "false", "0")


def parse_language(text: str) -> str:
    """'en', 'es', 'English', 'español', 'es-419' -> 'en' or 'es'; SettingError otherwise."""
    raw = text.strip().lower()
    names = {"english": "en", "inglés": "en", "ingles": "en", "spanish": "es"}
    names |= {"español": "es", "espanol": "es", "castellano": "es"}
    if raw in names:
        return names[raw]
    base = raw.replace("_", "-").split("-", 1)[0]
    if base in LANGUAGES:
        return base
    raise SettingError(N_("Choose en (English) or es (Spanish)."))


def parse_format(text: str) -> MessageFormat:
    """'full', 'compact' or 'post'; SettingError otherwise."""
    raw = text.strip().lower()
    aliases = {
        "completo": MessageFormat.FULL,
        "compacto": MessageFormat.COMPACT,
        "posts": MessageFormat.POST,
        "publicación": MessageFormat.POST,
        "publicacion": MessageFormat.POST,
    }
    if raw in aliases:
        return aliases[raw]
    try:
        return MessageFormat(raw)
    except ValueError:
        raise SettingError(
            N_("Choose full or compact, or post for one post per headline.")
        ) from None


def parse_switch(text: str) -> bool:
    """'on' or 'off' (and their usual spellings); SettingError otherwise."""
    raw = text.strip().lower()
    if raw in _ON:
        return True
    if raw in _OFF:
        return False
    raise SettingError(N_("Choose on or off."))


@dataclass(frozen=True, slots=True)
class Change:
    """A parsed, valid new value for one setting."""

    setting: Setting
    value: object


def parse_change(setting: Setting | str, text: str) -> Change:
    """Read what a chat typed (or a button carries) for a setting; SettingError when invalid."""
    which = Setting(setting)
    parsers: dict[Setting, Callable[[str], object]] = {
        Setting.DIGEST: parse_digest_times,
        Setting.TIMEZONE: parse_timezone,
        Setting.QUIET: parse_quiet,
        Setting.LANGUAGE: parse_language,
        Setting.FORMAT: parse_format,
        Setting.PREVIEWS: parse_switch,
        Setting.PICTURES: parse_switch,
    }
    return Change(which, parsers[which](text))


def quiet_of(settings: ChatPreferences) -> QuietHours | None:
    """The chat's quiet hours, or None."""
    if settings.quiet_start is None or settings.quiet_end is None:
        return None
    return QuietHours(settings.quiet_start, settings.quiet_end)


def schedule_of(settings: ChatPreferences) -> Schedule:
    """What bot/schedule.py needs of a chat's settings."""
    return Schedule(
        digest_times=settings.digest_times,
        timezone=settings.timezone,
        quiet=quiet_of(settings),
        last_digest_at=settings.last_digest_at,
        digest_since=settings.digest_since,
    )


class PreferencesService:
    """Owns every chat's settings."""

    def __init__(self, storage: Storage, *, clock: Callable[[], float] = time.time) -> None:
        self._repo = storage.preferences
        self._outbox = storage.outbox
        self._clock = clock

    def now(self) -> float:
        """The service's clock (injectable, so that tests move time)."""
        return self._clock()

    async def get(self, chat_id: int, *, default_language: str = "en") -> ChatPreferences:
        """The chat's settings; a chat that never chose has the defaults in default_language."""
        stored = await self._repo.get(chat_id)
        if stored is not None:
            return stored
        return ChatPreferences(chat_id=chat_id, language=language_for_user(default_language))

    async def get_many(self, chat_ids: Collection[int]) -> dict[int, ChatPreferences]:
        """The settings of many chats at once (the defaults for those that never chose)."""
        stored = await self._repo.get_many(chat_ids)
        return {chat_id: stored.get(chat_id) or ChatPreferences(chat_id) for chat_id in chat_ids}

    async def adopt_language(self, chat_id: int, language_code: str | None) -> str:
        """On first contact: a chat without settings takes the language of this Telegram user.

        A private chat gets its user's language; a group or channel the language of whoever
        added the bot. A chat that has settings keeps its own. Returns the chat's language.
        """
        settings = await self._repo.adopt_language(
            chat_id, language_for_user(language_code), now=self._clock()
        )
        return settings.language

    async def change(
        self, chat_id: int, setting: Setting | str, text: str, *, default_language: str = "en"
    ) -> ChatPreferences:
        """Validate and store a new value typed for a setting; SettingError when invalid."""
        return await self.apply(
            chat_id, parse_change(setting, text), default_language=default_language
        )

    async def apply(
        self, chat_id: int, change: Change, *, default_language: str = "en"
    ) -> ChatPreferences:
        """Store a parsed change (the chat's row is created, in default_language, if new).

        A change of digest times, time zone or quiet hours moves the chat's pending pushes
        to when they may now go.
        """
        settings = await self._store(chat_id, change, default_language=default_language)
        if change.setting in (Setting.DIGEST, Setting.TIMEZONE, Setting.QUIET):
            await self._outbox.reschedule(
                chat_id, until=queue_at(schedule_of(settings), self._clock()), now=self._clock()
            )
        return settings

    async def _store(
        self, chat_id: int, change: Change, *, default_language: str
    ) -> ChatPreferences:
        now = self._clock()
        lang = language_for_user(default_language)
        repo = self._repo
        value = change.value
        match change.setting:
            case Setting.DIGEST:
                assert isinstance(value, tuple)
                return await repo.set_digest_times(chat_id, value, now=now, language_if_new=lang)
            case Setting.TIMEZONE:
                assert isinstance(value, str)
                return await repo.set_timezone(chat_id, value, now=now, language_if_new=lang)
            case Setting.QUIET:
                assert value is None or isinstance(value, QuietHours)
                window = None if value is None else (value.start, value.end)
                return await repo.set_quiet_hours(chat_id, window, now=now, language_if_new=lang)
            case Setting.LANGUAGE:
                assert isinstance(value, str)
                return await repo.set_language(chat_id, value, now=now)
            case Setting.FORMAT:
                assert isinstance(value, MessageFormat)
                return await repo.set_format(chat_id, value, now=now, language_if_new=lang)
            case Setting.PREVIEWS:
                assert isinstance(value, bool)
                return await repo.set_previews(chat_id, value, now=now, language_if_new=lang)
            case Setting.PICTURES:
                assert isinstance(value, bool)
                return await repo.set_pictures(chat_id, value, now=now, language_if_new=lang)
        raise AssertionError(change.setting)  # not reached: every setting is handled

    async def set_template(
        self, chat_id: int, text: str | None, *, default_language: str = "en"
    ) -> ChatPreferences:
        """Shape the chat's posts with this template (None: back to the default one).

        TemplateError (bot/text/template.py) says why a template is refused: an unknown
        placeholder, unbalanced or unsupported tags, more than 1,000 characters.
        """
        source = None if text is None else templates.parse(text).source
        return await self._repo.set_template(
            chat_id,
            source,
            now=self._clock(),
            language_if_new=language_for_user(default_language),
        )

    # --- for routing and delivery ------------------------------------------------------

    async def next_push_at(self, chat_id: int, now: float | None = None) -> float:
        """When the chat may next be sent a push: `now` when at once, else a later time."""
        at = self._clock() if now is None else now
        return next_push_at(schedule_of(await self.get(chat_id)), at)

    async def release_times(
        self, chat_ids: Collection[int], now: float | None = None
    ) -> dict[int, float]:
        """When headlines routed now to these chats may go (queue_at), in one read; chats
        with the defaults map to `now`.

        Chats that share a schedule (100,000 chats on 08:00 in one zone) are reckoned once.
        """
        at = self._clock() if now is None else now
        stored = await self._repo.get_many(chat_ids)
        reckoned: dict[tuple[object, ...], float] = {}
        times: dict[int, float] = {}
        for chat_id in chat_ids:
            settings = stored.get(chat_id)
            if settings is None or not (settings.digest_times or settings.quiet_start):
                times[chat_id] = at
                continue
            key = (
                settings.digest_times,
                settings.timezone,
                settings.quiet_start,
                settings.quiet_end,
            )
            found = reckoned.get(key)
            if found is None:
                found = reckoned[key] = queue_at(schedule_of(settings), at)
            times[chat_id] = found
        return times

    async def reschedule(self, chat_id: int, now: float | None = None) -> int:
        """Move the chat's pending pushes to when its settings now let them go; return how
        many rows moved (its digest, quiet hours or time zone changed)."""
        at = self._clock() if now is None else now
        settings = await self.get(chat_id)
        return await self._outbox.reschedule(
            chat_id, until=queue_at(schedule_of(settings), at), now=at
        )

    async def digest_chats(self, *, after: int | None = None, limit: int = 10_000) -> list[int]:
        """Ids of chats that take digests, in id order, a page at a time."""
        return await self._repo.digest_chats(after=after, limit=limit)

    async def mark_digest_sent(self, chat_id: int, at: float | None = None) -> None:
        """Record that the chat's digest went out (so the slot is not owed again)."""
        await self._repo.mark_digest_sent(chat_id, at=self._clock() if at is None else at)
