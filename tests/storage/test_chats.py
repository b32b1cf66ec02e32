"""The chats and subscriptions tables: metadata, counts, topics (their life: test_chat_service)."""

from __future__ import annotations

import pytest

from storage import Storage
from storage.models import ChatKind
from tests.storage.conftest import NOW


async def test_upsert_inserts_then_updates(storage: Storage) -> None:
    chats = storage.chats
    chat = await chats.upsert(5, kind="private", username="ann", now=NOW)
    assert (chat.id, chat.kind, chat.username, chat.active) == (5, "private", "ann", True)
    renamed = await chats.upsert(5, kind="private", username="anna", now=NOW + 1)
    assert renamed.username == "anna"
    off = await chats.upsert(5, kind="private", now=NOW + 2, activate=False)
    assert not off.active
    assert not (await chats.upsert(5, kind="private", now=NOW + 3)).active
    assert (await chats.upsert(5, kind="private", now=NOW + 4, activate=True)).active
    assert await chats.get(6) is None
    forum = await chats.upsert(-100, kind="supergroup", title="Forum", is_forum=True, now=NOW)
    assert forum.is_forum
    assert forum.title == "Forum"


async def test_count_active_and_by_kind(storage: Storage) -> None:
    chats = storage.chats
    await chats.upsert(1, kind="private", now=NOW)
    await chats.upsert(2, kind="private", now=NOW, activate=False)
    await chats.upsert(-3, kind="group", now=NOW)
    await chats.upsert(-1004, kind="supergroup", now=NOW)
    await chats.upsert(-1005, kind="channel", now=NOW)
    assert await chats.count_active("all") == 4
    assert await chats.count_active("users") == 1
    assert await chats.count_active("groups") == 2
    assert await chats.count_active("channels") == 1
    with pytest.raises(ValueError, match="unknown audience"):
        await chats.count_active("friends")
    assert await chats.count_by_kind() == {
        ChatKind.PRIVATE: (1, 1),
        ChatKind.GROUP: (1, 0),
        ChatKind.SUPERGROUP: (1, 0),
        ChatKind.CHANNEL: (1, 0),
    }
    assert await chats.count_unreachable(paused_reason="paused") == 1


async def test_subscriptions_add_limit_and_threads(storage: Storage) -> None:
    subscriptions = storage.subscriptions
    await storage.chats.upsert(-1001, kind="supergroup", is_forum=True, now=NOW)
    added = await subscriptions.add(
        -1001, ["ukraine", "chile", "ukraine"], thread_id=3, max_topics=3, now=NOW
    )
    assert added == (["ukraine", "chile"], [], [])
    again = await subscriptions.add(
        -1001, ["chile", "-sport", "nasa", "mars"], thread_id=9, max_topics=3, now=NOW
    )
    assert again == (["-sport"], ["chile"], ["nasa", "mars"])
    # topics first, then mutes
    assert [(s.topic, s.thread_id) for s in await subscriptions.list(-1001)] == [
        ("chile", 9),
        ("ukraine", 3),
        ("-sport", 9),
    ]
    assert await subscriptions.remove(-1001, ["nasa", "ukraine", "chile"]) == ["ukraine", "chile"]
    assert await subscriptions.count() == 1
    assert await subscriptions.clear(-1001) == 1
    assert await subscriptions.list(-1001) == []
    assert await subscriptions.remove(-1001, []) == []


async def test_topics_sort_byte_by_byte_on_every_backend(storage: Storage) -> None:
    """A database's locale would put 'a b' after 'ab' or 'B' after 'a': the list must not
    change order when the bot moves to another database."""
    await storage.chats.upsert(1, kind="private", now=NOW)
    topics = [("b", "b"), ("ab", "ab"), ("a b", "a b"), ("B", "B"), ("-z", "-z"), ("-Z", "-Z")]
    await storage.subscriptions.add(1, topics, thread_id=None, max_topics=9, now=NOW)
    listed = [s.topic for s in await storage.subscriptions.list(1)]
    assert listed == ["B", "a b", "ab", "b", "-Z", "-z"]
    await storage.subscriptions.add(1, ["c"], thread_id=None, max_topics=9, now=NOW)
    await storage.chats.upsert(2, kind="private", now=NOW)
    await storage.subscriptions.add(2, ["c", "B"], thread_id=None, max_topics=9, now=NOW)
    assert await storage.subscriptions.top_topics(3) == [("B", 2), ("c", 2), ("a b", 1)]


async def test_top_topics_and_active_chunks(storage: Storage) -> None:
    chats, subscriptions = storage.chats, storage.subscriptions
    for chat_id in (1, 2, 3):
        await chats.upsert(chat_id, kind="private", now=NOW)
    # stored out of chat order: chunks come in chat order all the same
    await subscriptions.add(2, ["chile", "nasa", "-sport"], thread_id=None, max_topics=9, now=NOW)
    await subscriptions.add(3, ["nasa"], thread_id=None, max_topics=9, now=NOW)
    await subscriptions.add(1, ["chile", "-sport"], thread_id=None, max_topics=9, now=NOW)
    async with storage.store.transaction() as tx:
        await chats.set_inactive(tx, 3, reason="blocked", now=NOW)
    assert await subscriptions.top_topics(5) == [("chile", 2), ("nasa", 2)]
    chunks = [rows async for rows in subscriptions.active_chunks(size=2)]
    assert [len(rows) for rows in chunks] == [2, 2, 1]
    assert [c for rows in chunks for c, _, _ in rows] == [1, 1, 2, 2, 2], "in chat order"
    assert sorted((c, t) for rows in chunks for c, t, _ in rows) == [
        (1, "-sport"),
        (1, "chile"),
        (2, "-sport"),
        (2, "chile"),
        (2, "nasa"),
    ]


async def test_pushed_upto_marks_of_active_chats(storage: Storage) -> None:
    chats = storage.chats
    for chat_id in (1, 2, 3):
        await chats.upsert(chat_id, kind="private", now=NOW)
    async with storage.store.transaction() as tx:
        await chats.set_inactive(tx, 3, reason="blocked", now=NOW)
        await chats.set_pushed_upto(tx, {1: 40, 2: 7, 3: 9})
        await chats.set_pushed_upto(tx, {})
        assert await chats.pushed_upto(tx, [1, 2, 3, 404]) == {1: 40, 2: 7}
        await chats.carry_pushed_upto(tx, 1, 2)  # the higher mark wins
        await chats.carry_pushed_upto(tx, 2, 1)
        assert await chats.pushed_upto(tx, [1, 2]) == {1: 40, 2: 40}
        assert await chats.set_active(tx, 3, now=NOW)
        assert not await chats.set_active(tx, 3, now=NOW)
        assert await chats.delete(tx, 3) == 1
    assert await chats.get(3) is None
