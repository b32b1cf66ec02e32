"""A chat's life through ChatService: the database and the topic index always agree."""

from __future__ import annotations

import pytest

from bot.chats.service import MIGRATED, PAUSED, ChatService
from bot.routing import TopicIndex
from bot.routing.router import Router
from storage import Storage
from storage.models import ChatKind, OutboxStatus
from tests.storage.conftest import NOW, entry, execute, peek, push, rows, scalar, store


@pytest.fixture
def service(storage: Storage) -> ChatService:
    """The chat service over the test's database (either backend) and an index of its own."""
    return ChatService(storage, TopicIndex(), max_topics=10, clock=lambda: NOW)


async def _reader(service: ChatService, chat_id: int, topics: str = "lithium") -> None:
    await service.register(chat_id, kind=ChatKind.PRIVATE)
    await service.add_topics(chat_id, topics)


async def _reason(storage: Storage, chat_id: int) -> str | None:
    value = await scalar(storage, "SELECT inactive_reason FROM chats WHERE id = ?", chat_id)
    return None if value is None else str(value)


async def test_register_creates_active_chats_and_keeps_the_state_of_known_ones(
    storage: Storage, service: ChatService
) -> None:
    chat = await service.register(-100, kind=ChatKind.SUPERGROUP, title="Forum", is_forum=True)
    assert (chat.kind, chat.title, chat.is_forum, chat.active) == (
        "supergroup",
        "Forum",
        True,
        True,
    )
    assert await scalar(storage, "SELECT created_at FROM chats WHERE id = -100") == NOW  # the clock
    assert await service.pause(-100)
    again = await service.register(-100, kind=ChatKind.SUPERGROUP, title="Forum 2")
    assert (again.title, again.active, again.inactive_reason) == ("Forum 2", False, PAUSED)
    assert await service.get(-101) is None


async def test_deactivate_drops_unsent_rows_and_leaves_the_index(
    storage: Storage, service: ChatService
) -> None:
    await _reader(service, 1)
    await _reader(service, 2)
    h = await store(storage, [entry(str(i), f"T{i}") for i in range(3)])
    assert await push(storage, [(1, h[0].id), (2, h[0].id)]) == 2
    assert await push(storage, [(1, h[1].id)], thread_id=5) == 1  # a row of its own
    await execute(
        storage, "UPDATE outbox SET status = 'sent' WHERE chat_id = 1 AND thread_id IS NULL"
    )
    await execute(
        storage, "UPDATE outbox SET status = 'sending' WHERE chat_id = 1 AND thread_id = 5"
    )
    assert await push(storage, [(1, h[2].id)]) == 1
    assert 1 in service.index
    assert await service.deactivate(1, reason="blocked") == 2  # the pending and the in-flight
    assert 1 not in service.index
    assert service.index.chat_ids() == [2]
    chat = await service.get(1)
    assert chat is not None
    assert (chat.active, chat.inactive_reason) == (False, "blocked")
    found = await rows(
        storage, "SELECT status, last_error FROM outbox WHERE chat_id = 1 ORDER BY id"
    )
    assert found == [
        (OutboxStatus.SENT, None),
        (OutboxStatus.DROPPED, "blocked"),
        (OutboxStatus.DROPPED, "blocked"),
    ]
    # the topics stay in the database, for a resume
    assert [s.topic for s in await service.list_topics(1)] == ["lithium"]
    assert await service.deactivate(1, reason="blocked") == 0


async def test_a_blocked_chat_is_not_even_considered_by_routing(
    storage: Storage, service: ChatService
) -> None:
    for chat_id in (1, 2, 3):
        await _reader(service, chat_id)
    router = Router(storage, service.index, clock=lambda: NOW)
    await service.deactivate(2, reason="Forbidden: bot was blocked by the user")
    (h,) = await store(storage, [entry("1", "Lithium prices climb")])
    routed = await router.route_pass([h], limit=1000)
    assert [list(chats) for _, _, chats in routed.groups] == [[1, 3]]  # no restart needed
    await execute(storage, "UPDATE headlines SET routed = 0")
    assert await router.route_pending() == 2
    assert await scalar(storage, "SELECT count(*) FROM outbox WHERE chat_id = 2") == 0
    # a resumed chat is routed again, from its next headline on
    assert await service.resume(2)
    (later,) = await store(storage, [entry("2", "Lithium output")])
    routed = await router.route_pass([later], limit=1000)
    assert [list(chats) for _, _, chats in routed.groups] == [[1, 2, 3]]


async def test_pause_and_resume_say_whether_they_changed_anything(
    storage: Storage, service: ChatService
) -> None:
    await _reader(service, 1, "lithium, chile")
    (h,) = await store(storage, [entry("1", "Lithium")])
    await push(storage, [(1, h.id)])
    assert await service.pause(1)
    assert not await service.pause(1)  # a second /stop
    assert await _reason(storage, 1) == PAUSED
    assert await scalar(storage, "SELECT status FROM outbox") == OutboxStatus.DROPPED
    assert 1 not in service.index
    assert await service.resume(1)
    assert not await service.resume(1)
    assert await _reason(storage, 1) is None
    assert service.index.topics_of(1) == {"chile": None, "lithium": None}
    assert not await service.resume(404)  # unknown
    assert not await service.pause(404)
    # a chat that blocked the bot and then talks to it again: the pause replaces the block
    await service.deactivate(1, reason="blocked")
    assert not await service.pause(1)
    assert await _reason(storage, 1) == PAUSED


async def test_topics_added_while_paused_are_routed_once_resumed(service: ChatService) -> None:
    await _reader(service, 1)
    await service.pause(1)
    change = await service.add_topics(1, "chile, lithium, ??")
    assert (change.done, change.unchanged, change.invalid) == (
        ["chile"],
        ["lithium"],
        ["“??” has no words in it."],
    )
    assert 1 not in service.index
    await service.resume(1)
    assert service.index.topics_of(1) == {"chile": None, "lithium": None}
    removed = await service.remove_topics(1, "chile, nasa")
    assert (removed.done, removed.unchanged) == (["chile"], ["nasa"])
    assert service.index.topics_of(1) == {"lithium": None}
    assert await service.clear_topics(1) == 1
    assert 1 not in service.index


async def test_topic_limit_and_threads(service: ChatService) -> None:
    await service.register(-1001, kind=ChatKind.SUPERGROUP, is_forum=True)
    many = ", ".join(f"topic {n}" for n in range(12))
    change = await service.add_topics(-1001, many, thread_id=3)
    assert (len(change.done), len(change.refused)) == (10, 2)  # max_topics=10
    again = await service.add_topics(-1001, "topic 0", thread_id=9)  # asked from thread 9
    assert again.unchanged == ["topic 0"]
    assert service.index.topics_of(-1001)["topic 0"] == 9
    assert service.index.topics_of(-1001)["topic 1"] == 3


async def test_migrate_to_an_unknown_id_renames(storage: Storage, service: ChatService) -> None:
    await service.register(-5, kind=ChatKind.GROUP, title="Club")
    await service.add_topics(-5, "rugby")
    (h,) = await store(storage, [entry("1", "Rugby final")])
    await push(storage, [(-5, h.id)])
    await service.migrate(-5, -1005)
    await service.migrate(-5, -1005)  # twice is harmless
    assert await service.get(-5) is None
    moved = await service.get(-1005)
    assert moved is not None
    assert (moved.kind, moved.title, moved.active) == ("supergroup", "Club", True)
    assert [s.topic for s in await service.list_topics(-1005)] == ["rugby"]
    assert [i.chat_id for i in await peek(storage, -1005)] == [-1005]
    assert service.index.chat_ids() == [-1005]


async def test_migrate_onto_a_known_chat_merges(storage: Storage, service: ChatService) -> None:
    await service.register(-5, kind=ChatKind.GROUP)
    await service.register(-1005, kind=ChatKind.SUPERGROUP)
    await service.add_topics(-5, "Rugby, chess")
    await service.add_topics(-1005, "chess", thread_id=7)
    h1, h2 = await store(storage, [entry("1", "Rugby"), entry("2", "Chess")])
    await push(storage, [(-5, h1.id), (-5, h2.id), (-1005, h2.id)])
    await execute(
        storage,
        "INSERT INTO broadcasts (id, admin_id, audience, status, created_at)"
        " VALUES (7, 1, 'all', 'queued', 0)",
    )
    await execute(
        storage,
        "INSERT INTO outbox (chat_id, broadcast_id, priority, created_at) VALUES (-5, 7, 2, 0)",
    )
    await service.migrate(-5, -1005)
    await service.migrate(-5, -1005)
    old = await service.get(-5)
    assert old is not None
    assert (old.active, old.inactive_reason) == (False, MIGRATED)
    assert [(s.topic, s.thread_id) for s in await service.list_topics(-1005)] == [
        ("chess", 7),
        ("rugby", None),
    ]
    # a topic moved over keeps what the reader typed
    assert [s.display for s in await service.list_topics(-1005)] == ["chess", "Rugby"]
    assert await service.list_topics(-5) == []
    found = await rows(
        storage,
        "SELECT chat_id, headline_id, status FROM outbox_pushes ORDER BY chat_id, headline_id",
    )
    # the old chat's row held both headlines; the new chat already had the second
    assert found == [
        (-1005, h1.id, "pending"),
        (-1005, h2.id, "pending"),
        (-5, h1.id, "dropped"),
        (-5, h2.id, "dropped"),
    ]
    assert await scalar(storage, "SELECT chat_id FROM outbox WHERE broadcast_id = 7") == -1005
    assert await scalar(storage, "SELECT pushed_upto FROM chats WHERE id = -1005") == h2.id
    assert service.index.chat_ids() == [-1005]
    assert service.index.topics_of(-1005) == {"chess": 7, "rugby": None}


async def test_migrate_an_unknown_chat_is_a_no_op(service: ChatService) -> None:
    await service.migrate(-1, -1001)
    await service.migrate(-1, -1)
    assert await service.get(-1001) is None
    assert len(service.index) == 0


async def test_load_all_fills_the_index_with_active_chats(storage: Storage) -> None:
    await execute(
        storage,
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 9999)"
        " INSERT INTO chats (id, kind, active, created_at, updated_at)"
        " SELECT i, 'private', CASE WHEN i = 7 THEN 0 ELSE 1 END, 0, 0 FROM n",
    )
    await execute(
        storage,
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 99999)"
        " INSERT INTO subscriptions (chat_id, topic, thread_id, created_at)"
        " SELECT i / 10, 'topic' || (i % 97) || '-' || (i % 10), NULL, 0 FROM n",
    )
    service = ChatService(storage, TopicIndex(), max_topics=50)
    loaded = await service.load_all()  # benchmarks/limits.py times it
    assert loaded == len(service.index) == 99_990  # chat 7 is inactive
    assert 7 not in service.index
    assert "topic0 0" in service.index.topics_of(0)  # the index holds topics normalised
    assert await storage.subscriptions.count() == 100_000
