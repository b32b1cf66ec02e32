"""What the post format keeps in storage: a push row's posts so far (never a headline added to a
row under way), a headline's picture, each chat's pictures switch and template; and the
migration that brings them keeps every chat's settings."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

from storage import Storage
from storage.models import ChatKind, ChatPush, MessageFormat, OutboxStatus
from storage.sqlite.db import Database
from storage.sqlite.migrate import migration_files
from tests.storage.conftest import NOW, claim, entry, peek, push, rows, store

CHAT, OTHER = 11, 12


async def _chats(storage: Storage, *ids: int) -> None:
    for chat_id in ids:
        await storage.chats.upsert(chat_id, kind=ChatKind.CHANNEL, now=NOW)


async def test_a_row_records_its_posts_and_goes_on_from_there(storage: Storage) -> None:
    await _chats(storage, CHAT)
    h = await store(storage, [entry(str(i), f"Story {i}") for i in range(3)])
    await push(storage, [(CHAT, x.id) for x in h])
    [row_id] = await claim(storage.outbox, CHAT)
    await storage.outbox.mark_posted(row_id, 1, done=False, now=NOW, not_before=NOW + 5)
    assert await peek(storage, CHAT, now=NOW + 4) == [], "not due before its window has room"
    [row] = await peek(storage, CHAT, now=NOW + 5)
    assert (row.id, row.posted, [hid for hid, _ in row.items]) == (row_id, 1, [x.id for x in h])
    await claim(storage.outbox, CHAT, now=NOW + 5)
    await storage.outbox.mark_posted(row_id, 2, done=False, now=NOW + 6, error="refused once")
    await claim(storage.outbox, CHAT, now=NOW + 6)
    await storage.outbox.mark_posted(row_id, 3, done=True, now=NOW + 7)
    found = await rows(
        storage, "SELECT status, posted, sent_at, last_error FROM outbox WHERE id = ?", row_id
    )
    assert found == [(OutboxStatus.SENT, 3, NOW + 7, "refused once")]
    assert await storage.outbox.backlog() == {"push": 0, "broadcast": 0, "total": 0}


async def test_headlines_routed_while_a_row_is_under_way_start_a_row_of_their_own(
    storage: Storage,
) -> None:
    await _chats(storage, CHAT)
    h = await store(storage, [entry(str(i), f"Story {i}") for i in range(4)])
    await push(storage, [(CHAT, h[0].id), (CHAT, h[1].id)])
    [first] = await claim(storage.outbox, CHAT)
    await storage.outbox.mark_posted(first, 1, done=False, now=NOW)
    await push(storage, [(CHAT, h[2].id)], batch=2)
    await push(storage, [(CHAT, h[3].id)], batch=3)  # joins the new row, not the one under way
    unit = await peek(storage, CHAT)
    assert [(row.posted, [hid for hid, _ in row.items]) for row in unit] == [
        (1, [h[0].id, h[1].id]),
        (0, [h[2].id, h[3].id]),
    ]


async def test_a_row_closed_meanwhile_stays_closed(storage: Storage) -> None:
    await _chats(storage, CHAT)
    [h] = await store(storage, [entry("1", "Story")])
    await push(storage, [(CHAT, h.id)])
    [row_id] = await claim(storage.outbox, CHAT)
    async with storage.store.transaction() as tx:
        await storage.outbox.drop_pending(tx, CHAT, reason="blocked", now=NOW)
    assert await storage.outbox.mark_posted(row_id, 1, done=False, now=NOW) == 0
    assert await rows(storage, "SELECT status FROM outbox") == [(OutboxStatus.DROPPED,)]


async def test_a_moved_chat_is_owed_only_what_was_not_posted(storage: Storage) -> None:
    await _chats(storage, CHAT, OTHER)
    h = await store(storage, [entry(str(i), f"Story {i}") for i in range(3)])
    await push(storage, [(CHAT, x.id) for x in h])
    [row_id] = await claim(storage.outbox, CHAT)
    await storage.outbox.mark_posted(row_id, 2, done=False, now=NOW)
    async with storage.store.transaction() as tx:
        await storage.outbox.move_chat(tx, CHAT, OTHER, now=NOW)
    [moved] = await peek(storage, OTHER)
    assert ([hid for hid, _ in moved.items], moved.posted) == ([h[2].id], 0)


async def test_a_headline_keeps_its_picture(storage: Storage) -> None:
    picture = "https://img.example/a.jpg"
    first = entry("1", "Story", link="https://example.org/1")
    [h] = await store(storage, [replace(first, picture=picture)])
    assert h.picture == picture
    assert (await storage.headlines.get_many([h.id]))[h.id].picture == picture
    assert [x.picture for x in await storage.headlines.latest(1)] == [picture]
    # a picture changed in the feed is taken; the headline is not new again
    changed = replace(first, picture="https://img.example/b.jpg")
    feed = await storage.feeds.ensure("https://example.org/feed.xml")
    async with storage.store.transaction() as tx:
        result = await storage.headlines.upsert(tx, feed.id, [changed], baseline=False, now=NOW)
    assert (result.new, result.updated) == ((), 1)
    assert (await storage.headlines.get_many([h.id]))[h.id].picture == "https://img.example/b.jpg"


async def test_pictures_template_and_the_post_format_are_kept_and_move(storage: Storage) -> None:
    await _chats(storage, CHAT, OTHER)
    prefs = storage.preferences
    await prefs.set_format(CHAT, MessageFormat.POST, now=NOW, language_if_new="es")
    await prefs.set_pictures(CHAT, False, now=NOW, language_if_new="en")
    saved = await prefs.set_template(
        CHAT, "<b>{title}</b>\n{hashtags}", now=NOW, language_if_new="en"
    )
    assert (saved.format, saved.pictures, saved.template, saved.language) == (
        MessageFormat.POST,
        False,
        "<b>{title}</b>\n{hashtags}",
        "es",
    )
    async with storage.store.transaction() as tx:
        await prefs.move(tx, CHAT, OTHER)
    moved = await prefs.get(OTHER)
    assert moved is not None
    assert (moved.format, moved.pictures, moved.template) == (
        MessageFormat.POST,
        False,
        "<b>{title}</b>\n{hashtags}",
    )
    reset = await prefs.set_template(CHAT, None, now=NOW, language_if_new="en")
    assert reset.template is None and reset.pictures is False


async def test_the_migration_keeps_every_chats_settings(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    for number, sql in migration_files()[:10]:
        conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;")
    conn.executescript(
        "INSERT INTO chats (id, kind, created_at, updated_at) VALUES (5, 'channel', 0, 0);"
        "INSERT INTO chat_settings (chat_id, digest_times, timezone, language, format,"
        " previews, updated_at) VALUES (5, '08:00', 'America/La_Paz', 'es', 'compact', 0, 1);"
    )
    conn.close()
    db = await Database.open(path)
    try:
        [row] = await db.fetchall(
            "SELECT digest_times, timezone, language, format, previews, pictures, template"
            " FROM chat_settings"
        )
        assert tuple(row) == ("08:00", "America/La_Paz", "es", "compact", 0, 1, None)
        await db.execute("UPDATE chat_settings SET format = 'post' WHERE chat_id = 5")
        assert await db.integrity_check() == "ok"
        assert await db.scalar("PRAGMA foreign_key_check") is None
    finally:
        await db.close()


async def test_routing_passes_topics_as_keys(storage: Storage) -> None:
    """The outbox keeps the matched topics' keys; delivery names them as the chat typed them."""
    await _chats(storage, CHAT)
    [h] = await store(storage, [entry("1", "Chile lithium")])
    async with storage.store.transaction() as tx:
        await storage.outbox.enqueue_pushes(
            tx, [ChatPush(CHAT, None, ((h.id, ("chile + lithium",)),))], batch=1, now=NOW
        )
    [row] = await peek(storage, CHAT)
    assert row.items == ((h.id, ("chile + lithium",)),)
