"""Routing a poll's headlines into the outbox: passes, chunks of chats, crash repeats."""

from __future__ import annotations

import pytest

import bot.routing.router
from bot.routing import TopicIndex
from bot.routing.router import Router
from storage import Storage
from tests.storage.conftest import NOW, entry, execute, rows, scalar, store

CHATS = range(1, 8)


@pytest.fixture
async def router(storage: Storage) -> Router:
    index = TopicIndex()
    for chat in CHATS:
        await storage.chats.upsert(chat, kind="private", now=NOW, activate=True)
        index.add(chat, "lithium")
    index.add(3, "deals", thread_id=9)  # a headline matching both goes to its thread
    return Router(storage, index, clock=lambda: NOW)


async def pairs(storage: Storage) -> list[tuple[int, int, int | None]]:
    found = await rows(
        storage,
        "SELECT chat_id, headline_id, thread_id FROM outbox_pushes ORDER BY chat_id, headline_id",
    )
    return [(r[0], r[1], r[2]) for r in found]


async def test_a_pass_stops_at_its_limit_but_takes_at_least_one_headline(
    storage: Storage, router: Router
) -> None:
    h = await store(storage, [entry(str(i), f"Lithium news {i}") for i in range(3)])
    routed = await router.route_pass(h, limit=10)
    assert routed.ids == [h[0].id, h[1].id]  # 7 pushes, then 14 >= 10
    assert routed.pushes == 14
    assert (await router.route_pass(h, limit=1)).ids == [h[0].id]


async def test_chunks_group_by_chat_and_thread_and_never_split_a_chat(
    storage: Storage, router: Router
) -> None:
    h = await store(storage, [entry("1", "Lithium prices"), entry("2", "Lithium deals")])
    chunks = list((await router.route_pass(h, limit=1000)).chunks(6))  # 2 pushes a chat
    assert [sorted({p.chat_id for p in chunk}) for chunk in chunks] == [[1, 2, 3], [4, 5, 6], [7]]
    three = [p for p in chunks[0] if p.chat_id == 3]
    # the deals headline matched chat 3's "deals" (thread 9) as well as "lithium"
    assert [(p.thread_id, [hid for hid, _ in p.items]) for p in three] == [
        (None, [h[0].id]),
        (9, [h[1].id]),
    ]
    assert three[1].items[0][1] == ("deals", "lithium")


async def test_route_pending_queues_every_push_once_in_small_chunks(
    storage: Storage, router: Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.routing.router, "ROUTE_CHUNK", 2)
    monkeypatch.setattr(bot.routing.router, "ROUTE_PASS", 7)
    h = await store(storage, [entry("1", "Lithium prices"), entry("2", "Lithium deals")])
    await execute(storage, "UPDATE headlines SET routed = 0")
    assert await router.route_pending() == 2 * len(CHATS)
    assert await scalar(storage, "SELECT count(*) FROM headlines WHERE routed = 0") == 0
    assert await router.route_pending() == 0
    expected = [(c, x.id, 9 if (c, x) == (3, h[1]) else None) for c in CHATS for x in h]
    assert await pairs(storage) == expected


async def test_a_pass_cut_short_by_a_crash_is_repeated_without_doubles(
    storage: Storage, router: Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.routing.router, "ROUTE_CHUNK", 6)  # three chats of two pushes each
    await store(storage, [entry("1", "Lithium prices"), entry("2", "Lithium deals")])
    await execute(storage, "UPDATE headlines SET routed = 0")
    real = router.outbox.enqueue_pushes
    calls = 0

    async def crash_on_second_chunk(*args: object, **kwargs: object) -> int:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("killed")
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(router.outbox, "enqueue_pushes", crash_on_second_chunk)
    with pytest.raises(RuntimeError):
        await router.route_pending()
    assert {c for c, _, _ in await pairs(storage)} == {1, 2, 3}  # the first chunk got through
    monkeypatch.setattr(router.outbox, "enqueue_pushes", real)
    # a new headline arrived before the repeat: it goes to everyone, the others once
    await store(storage, [entry("3", "Lithium output")])
    assert await router.route_pending() == 3 * 4 + 3  # chats 4-7 all, chats 1-3 the new one
    found = await pairs(storage)
    assert len(found) == len(set(found)) == 3 * 7
    assert await scalar(storage, "SELECT count(*) FROM headlines WHERE routed = 0") == 0
