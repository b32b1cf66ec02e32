"""Chat settings on both backends: defaults, each change, restarts, migrations."""

from __future__ import annotations

import sqlite3
from datetime import time

import asyncpg
import pytest

from bot.chats.preferences import PreferencesService, Setting, schedule_of
from bot.chats.service import ChatService
from bot.routing import TopicIndex
from bot.text.schedule import SettingError, next_push_at
from storage import Storage, open_storage
from storage.models import ChatKind, ChatPreferences, MessageFormat
from storage.preferences import PreferencesRepo
from tests.storage.conftest import NOW, execute, scalar

CHAT, GROUP = 101, -500
# what each backend raises for a row its constraints refuse
REFUSED = (sqlite3.IntegrityError, asyncpg.IntegrityConstraintViolationError)


async def _chat(storage: Storage, chat_id: int = CHAT, kind: ChatKind = ChatKind.PRIVATE) -> None:
    await storage.chats.upsert(chat_id, kind=kind, now=NOW)


@pytest.fixture
def repo(storage: Storage) -> PreferencesRepo:
    return storage.preferences


@pytest.fixture
def settings(storage: Storage) -> PreferencesService:
    return PreferencesService(storage, clock=lambda: NOW)


async def test_a_chat_that_never_chose_has_the_defaults(
    storage: Storage, repo: PreferencesRepo, settings: PreferencesService
) -> None:
    await _chat(storage)
    assert await repo.get(CHAT) is None
    got = await settings.get(CHAT)
    assert got == ChatPreferences(CHAT)
    assert (got.digest_times, got.timezone, got.quiet_start, got.language) == (
        (),
        "UTC",
        None,
        "en",
    )
    assert (got.format, got.previews, got.stored) == (MessageFormat.FULL, True, False)
    assert (await settings.get(CHAT, default_language="es-419")).language == "es"
    assert await scalar(storage, "SELECT count(*) FROM chat_settings") == 0, (
        "reading writes nothing"
    )


async def test_each_setting_changes_alone_and_reads_back_typed(
    storage: Storage, repo: PreferencesRepo
) -> None:
    await _chat(storage)
    first = await repo.set_digest_times(CHAT, [time(18), time(8)], now=NOW, language_if_new="es")
    assert first.digest_times == (time(8), time(18))
    assert (first.digest_since, first.language, first.stored) == (NOW, "es", True)
    await repo.set_timezone(CHAT, "America/La_Paz", now=NOW + 1, language_if_new="en")
    await repo.set_quiet_hours(CHAT, (time(22), time(7)), now=NOW + 2, language_if_new="en")
    await repo.set_format(CHAT, MessageFormat.COMPACT, now=NOW + 3, language_if_new="en")
    await repo.set_previews(CHAT, False, now=NOW + 4, language_if_new="en")
    got = await repo.get(CHAT)
    assert got == ChatPreferences(
        chat_id=CHAT,
        digest_times=(time(8), time(18)),
        timezone="America/La_Paz",
        quiet_start=time(22),
        quiet_end=time(7),
        language="es",  # language_if_new only applies to a new row
        format=MessageFormat.COMPACT,
        previews=False,
        digest_since=NOW,
        last_digest_at=None,
        stored=True,
    )
    await repo.set_language(CHAT, "en", now=NOW + 5)
    await repo.set_quiet_hours(CHAT, None, now=NOW + 6, language_if_new="es")
    again = await repo.get(CHAT)
    assert again is not None
    assert (again.language, again.quiet_start, again.quiet_end) == ("en", None, None)
    await repo.set_digest_times(CHAT, [], now=NOW + 7, language_if_new="en")
    off = await repo.get(CHAT)
    assert off is not None and off.digest_times == () and off.digest_since == NOW + 7


async def test_the_table_refuses_what_the_code_never_writes(storage: Storage) -> None:
    await _chat(storage)
    for column, value in [
        ("language", "fr"),
        ("format", "tiny"),
        ("previews", 2),
        ("digest_times", "eight"),
        ("quiet_start", "late"),
    ]:
        with pytest.raises(REFUSED):
            await execute(
                storage,
                f"INSERT INTO chat_settings (chat_id, {column}, updated_at) VALUES (?, ?, ?)",
                CHAT,
                value,
                NOW,
            )
    with pytest.raises(REFUSED):  # a start without an end
        await execute(
            storage,
            "INSERT INTO chat_settings (chat_id, quiet_start, updated_at) VALUES (?, '22:00', ?)",
            CHAT,
            NOW,
        )
    with pytest.raises(REFUSED):  # no settings for a chat the bot never met
        await execute(
            storage, "INSERT INTO chat_settings (chat_id, updated_at) VALUES (999, ?)", NOW
        )


async def test_adopting_a_language_happens_once(
    storage: Storage, settings: PreferencesService
) -> None:
    await _chat(storage)
    assert await settings.adopt_language(CHAT, "es-AR") == "es"
    assert await settings.adopt_language(CHAT, "en") == "es", "the first contact decides"
    await settings.change(CHAT, Setting.LANGUAGE, "en")
    assert await settings.adopt_language(CHAT, "es") == "en", "a choice is kept"


async def test_the_service_validates_typed_values(
    storage: Storage, settings: PreferencesService
) -> None:
    await _chat(storage)
    await settings.change(CHAT, "digest", "08:00,18:00", default_language="es")
    await settings.change(CHAT, "timezone", "la paz")
    await settings.change(CHAT, "quiet", "22:00-07:00")
    await settings.change(CHAT, "format", "compact")
    await settings.change(CHAT, "previews", "off")
    got = await settings.get(CHAT)
    assert got.digest_times == (time(8), time(18)) and got.timezone == "America/La_Paz"
    assert (got.quiet_start, got.quiet_end) == (time(22), time(7))
    assert (got.language, got.format, got.previews) == ("es", MessageFormat.COMPACT, False)
    for setting, text in [
        ("digest", "1,2,3,4,5"),
        ("timezone", "Mars/Olympus"),
        ("quiet", "22:00"),
        ("language", "fr"),
        ("format", "huge"),
        ("previews", "maybe"),
    ]:
        with pytest.raises(SettingError):
            await settings.change(CHAT, setting, text)
    assert await settings.get(CHAT) == got, "a refused value changes nothing"


async def test_when_pushes_may_go_and_digests_sent(
    storage: Storage, settings: PreferencesService
) -> None:
    await _chat(storage)
    await _chat(storage, GROUP, ChatKind.GROUP)
    await settings.change(CHAT, "timezone", "UTC")
    assert await settings.next_push_at(CHAT, NOW) == NOW
    await settings.change(CHAT, "digest", "08:00")  # digest_since = NOW
    due = await settings.next_push_at(CHAT, NOW)
    assert due > NOW and (due - NOW) <= 86_400
    assert await settings.release_times([CHAT, GROUP], due - 1) == {CHAT: due, GROUP: due - 1}
    assert await settings.next_push_at(CHAT, due) == due, "due at the digest time"
    await settings.mark_digest_sent(CHAT, due + 5)
    after = await settings.get(CHAT)
    assert after.last_digest_at == due + 5
    assert next_push_at(schedule_of(after), due + 6) == due + 86_400
    assert await settings.digest_chats() == [CHAT]
    assert await settings.digest_chats(after=CHAT) == []
    await settings.mark_digest_sent(GROUP, due)
    assert (await settings.get(GROUP)).stored is False, "no row made for a chat without digests"


async def test_many_chats_at_once(storage: Storage, settings: PreferencesService) -> None:
    ids = list(range(1, 1201))
    for chat_id in ids:
        await _chat(storage, chat_id)
    for chat_id in ids[::3]:
        await settings.change(chat_id, "digest", "08:00")
    many = await settings.get_many(ids)
    assert len(many) == len(ids)
    assert sum(1 for s in many.values() if s.digest_times) == len(ids[::3])
    first_page = await settings.digest_chats(limit=100)
    assert first_page == ids[::3][:100]
    assert await settings.digest_chats(after=first_page[-1], limit=1) == [ids[::3][100]]


async def test_settings_survive_a_restart(database: str) -> None:
    storage = await open_storage(database)
    await _chat(storage)
    await PreferencesService(storage).change(CHAT, "digest", "07:30")
    await storage.close()
    storage = await open_storage(database)
    try:
        got = await PreferencesService(storage).get(CHAT)
        assert got.digest_times == (time(7, 30),)
    finally:
        await storage.close()


async def test_settings_follow_a_group_that_becomes_a_supergroup(storage: Storage) -> None:
    chats = ChatService(storage, TopicIndex(), max_topics=10, clock=lambda: NOW)
    service = PreferencesService(storage, clock=lambda: NOW)
    await chats.register(GROUP, kind=ChatKind.GROUP)
    await service.change(GROUP, "language", "es")
    await chats.migrate(GROUP, -1001)  # renamed: the row follows through ON UPDATE CASCADE
    assert (await service.get(-1001)).language == "es"
    # when the supergroup is known already, the chat service merges: move() carries them
    await chats.register(-2, kind=ChatKind.GROUP)
    await chats.register(-1002, kind=ChatKind.SUPERGROUP)
    await service.change(-2, "timezone", "Europe/Madrid")
    async with storage.store.transaction() as tx:
        await storage.preferences.move(tx, -2, -1002)
    assert (await service.get(-1002)).timezone == "Europe/Madrid"
