"""Chat settings on a real SQLite file: defaults, each change, restarts, migrations."""

from __future__ import annotations

import sqlite3
from datetime import time
from pathlib import Path

import pytest

from bot.chats.preferences import PreferencesService, Setting, schedule_of
from bot.chats.service import ChatService
from bot.routing import TopicIndex
from bot.text.schedule import SettingError, next_push_at
from storage.models import ChatKind
from storage.sqlite import repositories
from storage.sqlite.chats import SqliteChatRepo
from storage.sqlite.db import Database
from storage.sqlite.preferences import ChatPreferences, MessageFormat, SqlitePreferencesRepo
from tests.storage.conftest import NOW

CHAT, GROUP = 101, -500


async def _chat(db: Database, chat_id: int = CHAT, kind: ChatKind = ChatKind.PRIVATE) -> None:
    await SqliteChatRepo(db).upsert(chat_id, kind=kind, now=NOW)


@pytest.fixture
def repo(db: Database) -> SqlitePreferencesRepo:
    return SqlitePreferencesRepo(db)


@pytest.fixture
def settings(db: Database) -> PreferencesService:
    return PreferencesService(repositories(db), clock=lambda: NOW)


async def test_a_chat_that_never_chose_has_the_defaults(
    db: Database, repo: SqlitePreferencesRepo, settings: PreferencesService
) -> None:
    await _chat(db)
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
    assert await db.scalar("SELECT count(*) FROM chat_settings") == 0, "reading writes nothing"


async def test_each_setting_changes_alone_and_reads_back_typed(
    db: Database, repo: SqlitePreferencesRepo
) -> None:
    await _chat(db)
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


async def test_the_table_refuses_what_the_code_never_writes(db: Database) -> None:
    await _chat(db)
    for column, value in [
        ("language", "fr"),
        ("format", "tiny"),
        ("previews", 2),
        ("digest_times", "eight"),
        ("quiet_start", "late"),
    ]:
        with pytest.raises(sqlite3.IntegrityError):
            await db.execute(
                f"INSERT INTO chat_settings (chat_id, {column}, updated_at) VALUES (?, ?, ?)",
                (CHAT, value, NOW),
            )
    with pytest.raises(sqlite3.IntegrityError):  # a start without an end
        await db.execute(
            "INSERT INTO chat_settings (chat_id, quiet_start, updated_at) VALUES (?, '22:00', ?)",
            (CHAT, NOW),
        )
    with pytest.raises(sqlite3.IntegrityError):  # no settings for a chat the bot never met
        await db.execute("INSERT INTO chat_settings (chat_id, updated_at) VALUES (999, ?)", (NOW,))


async def test_adopting_a_language_happens_once(db: Database, settings: PreferencesService) -> None:
    await _chat(db)
    assert await settings.adopt_language(CHAT, "es-AR") == "es"
    assert await settings.adopt_language(CHAT, "en") == "es", "the first contact decides"
    await settings.change(CHAT, Setting.LANGUAGE, "en")
    assert await settings.adopt_language(CHAT, "es") == "en", "a choice is kept"


async def test_the_service_validates_typed_values(
    db: Database, settings: PreferencesService
) -> None:
    await _chat(db)
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
    db: Database, settings: PreferencesService
) -> None:
    await _chat(db)
    await _chat(db, GROUP, ChatKind.GROUP)
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


async def test_many_chats_at_once(db: Database, settings: PreferencesService) -> None:
    ids = list(range(1, 1201))
    for chat_id in ids:
        await _chat(db, chat_id)
    for chat_id in ids[::3]:
        await settings.change(chat_id, "digest", "08:00")
    many = await settings.get_many(ids)
    assert len(many) == len(ids)
    assert sum(1 for s in many.values() if s.digest_times) == len(ids[::3])
    first_page = await settings.digest_chats(limit=100)
    assert first_page == ids[::3][:100]
    assert await settings.digest_chats(after=first_page[-1], limit=1) == [ids[::3][100]]


async def test_settings_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    db = await Database.open(path)
    await _chat(db)
    await PreferencesService(repositories(db)).change(CHAT, "digest", "07:30")
    await db.close()
    db = await Database.open(path)
    try:
        got = await PreferencesService(repositories(db)).get(CHAT)
        assert got.digest_times == (time(7, 30),)
    finally:
        await db.close()


async def test_settings_follow_a_group_that_becomes_a_supergroup(db: Database) -> None:
    chats = ChatService(repositories(db), TopicIndex(), max_topics=10, clock=lambda: NOW)
    service = PreferencesService(repositories(db), clock=lambda: NOW)
    await chats.register(GROUP, kind=ChatKind.GROUP)
    await service.change(GROUP, "language", "es")
    await chats.migrate(GROUP, -1001)  # renamed: the row follows through ON UPDATE CASCADE
    assert (await service.get(-1001)).language == "es"
    # when the supergroup is known already, the chat service merges: move() carries them
    await chats.register(-2, kind=ChatKind.GROUP)
    await chats.register(-1002, kind=ChatKind.SUPERGROUP)
    await service.change(-2, "timezone", "Europe/Madrid")
    async with db.transaction() as conn:
        await SqlitePreferencesRepo.move(conn, -2, -1002)
    assert (await service.get(-1002)).timezone == "Europe/Madrid"
