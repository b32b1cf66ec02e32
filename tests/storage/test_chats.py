"""Chats and subscriptions: metadata, deactivation, supergroup migration, topics."""

from __future__ import annotations

import time

from storage.chats import ChatRepo, SubscriptionRepo
from storage.db import Database
from storage.models import Subscription
from storage.outbox import OutboxRepo
from tests.storage.conftest import NOW, entry, push, store


async def test_upsert_inserts_then_updates(chats: ChatRepo) -> None:
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


async def test_deactivate_drops_pending(db: Database, chats: ChatRepo, outbox: OutboxRepo) -> None:
    await chats.upsert(1, kind="private", now=NOW)
    await chats.upsert(2, kind="private", now=NOW)
    h = await store(db, [entry(str(i), f"T{i}") for i in range(3)])
    assert await push(db, [(1, h[0].id), (2, h[0].id)]) == 2
    for x in h[1:]:
        assert await push(db, [(1, x.id)], thread_id=x.id) == 1  # a row each
    await outbox.mark_sending([1])
    await outbox.mark_sent([1], now=NOW)
    assert await chats.deactivate(1, reason="blocked", now=NOW) == 2
    chat = await chats.get(1)
    assert chat is not None
    assert not chat.active
    assert await db.scalar("SELECT inactive_reason FROM chats WHERE id = 1") == "blocked"
    rows = await db.fetchall("SELECT status, last_error FROM outbox WHERE chat_id = 1 ORDER BY id")
    assert [tuple(r) for r in rows] == [
        ("sent", None),
        ("dropped", "blocked"),
        ("dropped", "blocked"),
    ]
    assert await outbox.ready_chats(now=NOW, limit=10) == [2]
    # pushes to an inactive chat are not queued
    more = await store(db, [entry("new", "Fresh")])
    assert await push(db, [(1, more[0].id), (2, more[0].id)]) == 1
    # reactivating clears the reason
    await chats.upsert(1, kind="private", now=NOW, activate=True)
    assert await db.scalar("SELECT inactive_reason FROM chats WHERE id = 1") is None


async def test_migrate_to_unknown_id_renames(
    db: Database, chats: ChatRepo, subscriptions: SubscriptionRepo, outbox: OutboxRepo
) -> None:
    await chats.upsert(-5, kind="group", title="Club", now=NOW)
    await subscriptions.add(-5, ["rugby"], thread_id=None, max_topics=10, now=NOW)
    (h,) = await store(db, [entry("1", "Rugby final")])
    await push(db, [(-5, h.id)])
    await chats.migrate(-5, -1005, now=NOW + 1)
    await chats.migrate(-5, -1005, now=NOW + 2)  # twice is harmless
    assert await chats.get(-5) is None
    moved = await chats.get(-1005)
    assert moved is not None
    assert (moved.kind, moved.title, moved.active) == ("supergroup", "Club", True)
    assert [s.topic for s in await subscriptions.list(-1005)] == ["rugby"]
    assert [i.chat_id for i in await outbox.next_unit(-1005, now=NOW)] == [-1005]


async def test_migrate_onto_existing_chat_merges(
    db: Database, chats: ChatRepo, subscriptions: SubscriptionRepo, outbox: OutboxRepo
) -> None:
    await chats.upsert(-5, kind="group", now=NOW)
    await chats.upsert(-1005, kind="supergroup", now=NOW)
    await subscriptions.add(-5, ["rugby", "chess"], thread_id=None, max_topics=10, now=NOW)
    await subscriptions.add(-1005, ["chess"], thread_id=7, max_topics=10, now=NOW)
    h1, h2 = await store(db, [entry("1", "Rugby"), entry("2", "Chess")])
    await push(db, [(-5, h1.id), (-5, h2.id), (-1005, h2.id)])
    await chats.migrate(-5, -1005, now=NOW + 1)
    await chats.migrate(-5, -1005, now=NOW + 2)
    old = await chats.get(-5)
    assert old is not None
    assert not old.active
    assert await db.scalar("SELECT inactive_reason FROM chats WHERE id = -5") == "migrated"
    assert [(s.topic, s.thread_id) for s in await subscriptions.list(-1005)] == [
        ("chess", 7),
        ("rugby", None),
    ]
    assert await subscriptions.list(-5) == []
    rows = await db.fetchall(
        "SELECT chat_id, headline_id, status FROM outbox_pushes ORDER BY chat_id, headline_id"
    )
    # the old chat's row held both headlines; the new chat already had the second
    assert [tuple(r) for r in rows] == [
        (-1005, h1.id, "pending"),
        (-1005, h2.id, "pending"),
        (-5, h1.id, "dropped"),
        (-5, h2.id, "dropped"),
    ]
    assert await db.scalar("SELECT pushed_upto FROM chats WHERE id = -1005") == h2.id


async def test_migrate_unknown_chat_is_a_no_op(chats: ChatRepo) -> None:
    await chats.migrate(-1, -1001, now=NOW)
    assert await chats.get(-1001) is None


async def test_active_ids_and_counts(chats: ChatRepo) -> None:
    await chats.upsert(1, kind="private", now=NOW)
    await chats.upsert(2, kind="private", now=NOW, activate=False)
    await chats.upsert(-3, kind="group", now=NOW)
    await chats.upsert(-1004, kind="supergroup", now=NOW)
    await chats.upsert(-1005, kind="channel", now=NOW)
    assert await chats.active_ids("all") == [-1005, -1004, -3, 1]
    assert await chats.active_ids("users") == [1]
    assert await chats.active_ids("groups") == [-1004, -3]
    assert await chats.active_ids("channels") == [-1005]
    assert await chats.count_by_kind() == {
        "private": (1, 1),
        "group": (1, 0),
        "supergroup": (1, 0),
        "channel": (1, 0),
    }


async def test_subscriptions_add_limit_and_threads(
    chats: ChatRepo, subscriptions: SubscriptionRepo
) -> None:
    await chats.upsert(-1001, kind="supergroup", is_forum=True, now=NOW)
    added = await subscriptions.add(
        -1001, ["ukraine", "chile", "ukraine"], thread_id=3, max_topics=3, now=NOW
    )
    assert added == (["ukraine", "chile"], [], [])
    again = await subscriptions.add(
        -1001, ["chile", "-sport", "nasa", "mars"], thread_id=9, max_topics=3, now=NOW
    )
    assert again == (["-sport"], ["chile"], ["nasa", "mars"])
    assert [(s.topic, s.thread_id) for s in await subscriptions.list(-1001)] == [
        ("-sport", 9),
        ("chile", 9),
        ("ukraine", 3),
    ]
    assert await subscriptions.remove(-1001, ["nasa", "ukraine", "chile"]) == ["ukraine", "chile"]
    assert await subscriptions.count() == 1
    assert await subscriptions.clear(-1001) == 1
    assert await subscriptions.list(-1001) == []
    assert await subscriptions.remove(-1001, []) == []


async def test_top_topics_and_active_only(chats: ChatRepo, subscriptions: SubscriptionRepo) -> None:
    for chat_id in (1, 2, 3):
        await chats.upsert(chat_id, kind="private", now=NOW)
    await subscriptions.add(1, ["chile", "-sport"], thread_id=None, max_topics=9, now=NOW)
    await subscriptions.add(2, ["chile", "nasa", "-sport"], thread_id=None, max_topics=9, now=NOW)
    await subscriptions.add(3, ["nasa"], thread_id=None, max_topics=9, now=NOW)
    await chats.deactivate(3, reason="blocked", now=NOW)
    assert await subscriptions.top_topics(5) == [("chile", 2), ("nasa", 2)]
    active = await subscriptions.all_of_active_chats()
    assert sorted((s.chat_id, s.topic) for s in active) == [
        (1, "-sport"),
        (1, "chile"),
        (2, "-sport"),
        (2, "chile"),
        (2, "nasa"),
    ]


async def test_all_of_active_chats_is_fast(db: Database, subscriptions: SubscriptionRepo) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 9999)"
            " INSERT INTO chats (id, kind, created_at, updated_at) SELECT i, 'private', 0, 0 FROM n"
        )
        await conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 99999)"
            " INSERT INTO subscriptions (chat_id, topic, thread_id, created_at)"
            " SELECT i / 10, 'topic' || (i % 97) || '-' || (i % 10), NULL, 0 FROM n"
        )
    started = time.perf_counter()
    rows = await subscriptions.all_of_active_chats()
    elapsed = time.perf_counter() - started
    assert len(rows) == 100_000
    assert Subscription(0, "topic0-0", None) in rows
    assert elapsed < 5.0, elapsed  # benchmarks/store.py times 500,000
