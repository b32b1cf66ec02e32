"""The outbox: uniqueness, units of work, fairness between chats, state changes."""

from __future__ import annotations

import pytest

from bot.chats.service import ChatService
from bot.routing import TopicIndex
from storage import Storage
from storage.chats import ChatRepo
from storage.models import ChatKind, ChatPush, OutboxItem, OutboxStatus, Priority
from storage.outbox import OutboxRepo
from storage.sqlite.outbox import KEEP_PER_ROW
from tests.storage.conftest import NOW, claim, entry, execute, peek, push, rows, scalar, store


@pytest.fixture
def chats(storage: Storage) -> ChatRepo:
    return storage.chats


@pytest.fixture
def outbox(storage: Storage) -> OutboxRepo:
    return storage.outbox


@pytest.fixture
def service(storage: Storage) -> ChatService:
    return ChatService(storage, TopicIndex(), max_topics=10, clock=lambda: NOW)


def headline_ids(unit: list[OutboxItem]) -> list[int]:
    """The headlines a unit of push rows lists, in order."""
    return [hid for row in unit for hid, _ in row.items]


async def row_ids(storage: Storage) -> list[int]:
    return [r[0] for r in await rows(storage, "SELECT id FROM outbox ORDER BY id")]


async def _chats(chats: ChatRepo, *ids: int) -> None:
    for chat_id in ids:
        await chats.upsert(chat_id, kind="private", now=NOW)


async def test_push_is_queued_once_per_chat_and_headline(
    storage: Storage, chats: ChatRepo, outbox: OutboxRepo
) -> None:
    await _chats(chats, 1, 2)
    (h,) = await store(storage, [entry("1", "Once")])
    assert await push(storage, [(1, h.id), (1, h.id), (2, h.id)]) == 2
    assert await push(storage, [(1, h.id)], batch=2) == 0
    assert await push(storage, [(99, h.id)]) == 0  # unknown chat: skipped, not an error
    assert await outbox.backlog() == {"push": 2, "broadcast": 0, "total": 2}


async def test_pushes_join_the_waiting_row_and_a_repeated_pass_queues_nothing(
    storage: Storage, chats: ChatRepo, outbox: OutboxRepo
) -> None:
    await _chats(chats, 1, 2)
    h = await store(storage, [entry(str(i), f"T{i}") for i in range(4)])
    assert await push(storage, [(1, h[0].id), (1, h[1].id), (2, h[1].id)]) == 3
    assert await scalar(storage, "SELECT count(*) FROM outbox") == 2
    # the pass again (a crash before its headlines were marked routed) and then some
    assert await push(storage, [(1, h[0].id), (1, h[1].id), (1, h[2].id), (2, h[3].id)]) == 2
    assert await scalar(storage, "SELECT count(*) FROM outbox") == 2  # joined the waiting rows
    found = await rows(
        storage, "SELECT chat_id, headline_id FROM outbox_pushes ORDER BY chat_id, headline_id"
    )
    assert found == [
        (1, h[0].id),
        (1, h[1].id),
        (1, h[2].id),
        (2, h[1].id),
        (2, h[3].id),
    ]
    assert headline_ids(await peek(storage, 1)) == [h[0].id, h[1].id, h[2].id]


async def _broadcast(storage: Storage, broadcast_id: int = 7) -> None:
    await execute(
        storage,
        "INSERT INTO broadcasts (id, admin_id, audience, created_at) VALUES (?, 1, 'all', 0)",
        broadcast_id,
    )


async def test_broadcast_rows_go_to_active_chats_of_the_kinds_once(
    storage: Storage, chats: ChatRepo, outbox: OutboxRepo
) -> None:
    await _chats(chats, 1, 2)
    await chats.upsert(3, kind="private", now=NOW, activate=False)
    await chats.upsert(-4, kind="group", now=NOW)
    await _broadcast(storage)
    async with storage.store.transaction() as tx:
        kinds = (ChatKind.PRIVATE,)
        assert await outbox.queue_broadcast(tx, 7, kinds=kinds, now=NOW) == 2
        assert await outbox.queue_broadcast(tx, 7, kinds=kinds, now=NOW) == 0
    assert await outbox.backlog() == {"push": 0, "broadcast": 2, "total": 2}
    async with storage.store.transaction() as tx:
        assert await outbox.cancel_broadcast(tx, 7, now=NOW) == 2
    assert await outbox.backlog() == {"push": 0, "broadcast": 0, "total": 0}


async def test_a_unit_takes_every_push_of_one_thread(
    storage: Storage, chats: ChatRepo, outbox: OutboxRepo
) -> None:
    await _chats(chats, 1)
    h = await store(storage, [entry(str(i), f"T{i}") for i in range(6)])
    await push(storage, [(1, h[0].id), (1, h[1].id)], batch=1, thread_id=None)
    await push(storage, [(1, h[2].id)], batch=1, thread_id=5)
    await push(storage, [(1, h[3].id), (1, h[4].id)], batch=2)
    # a later poll's pushes join the waiting message: one message per thread at a time
    unit = await peek(storage, 1)
    assert headline_ids(unit) == [h[0].id, h[1].id, h[3].id, h[4].id]
    assert unit[0].items[0] == (h[0].id, ("topic",))
    assert (unit[0].priority, unit[0].batch, unit[0].attempts) == (Priority.PUSH, 1, 0)
    assert await peek(storage, 1, max_rows=1) == unit[:1]
    claimed = await outbox.claim_units([1, 2], now=NOW)
    assert claimed == {1: unit}
    unit = await peek(storage, 1)
    assert (headline_ids(unit), unit[0].thread_id) == ([h[2].id], 5)
    assert await claim(outbox, 1) == [unit[0].id]
    assert await peek(storage, 1) == []
    assert await peek(storage, 2) == []


async def test_pushes_go_before_broadcasts(
    storage: Storage, chats: ChatRepo, outbox: OutboxRepo
) -> None:
    await _chats(chats, 1)
    await _broadcast(storage)
    async with storage.store.transaction() as tx:
        await outbox.queue_broadcast(tx, 7, kinds=(ChatKind.PRIVATE,), now=NOW)
    (h,) = await store(storage, [entry("1", "Push")])
    await push(storage, [(1, h.id)])
    first = await peek(storage, 1)
    assert [(i.priority, i.headline_id) for i in first] == [(Priority.PUSH, h.id)]
    assert await claim(outbox, 1) == [first[0].id]
    second = await peek(storage, 1)
    assert [(i.priority, i.broadcast_id, i.headline_id) for i in second] == [
        (Priority.BROADCAST, 7, None)
    ]


async def test_ready_chats_one_per_chat_oldest_first(
    storage: Storage, chats: ChatRepo, outbox: OutboxRepo
) -> None:
    await _chats(chats, 1, 2, 3)
    h = await store(storage, [entry(str(i), f"T{i}") for i in range(5)])
    # chat 1 has a big backlog queued first; chats 2 and 3 must not wait behind all of it
    await push(storage, [(1, x.id) for x in h], batch=1)
    await push(storage, [(2, h[0].id)], batch=2)
    await push(storage, [(3, h[0].id)], batch=3)
    assert await outbox.ready_chats(now=NOW, limit=10) == [1, 2, 3]
    assert await outbox.ready_chats(now=NOW, limit=2) == [1, 2]
    assert await outbox.ready_chats(now=NOW, limit=10, exclude={1}) == [2, 3]
    # once chat 1's pushes are out, it waits for rows newer than the others' rows
    unit = await peek(storage, 1)
    assert headline_ids(unit) == [x.id for x in h]
    assert await claim(outbox, 1) == [i.id for i in unit]
    assert await outbox.ready_chats(now=NOW, limit=10) == [2, 3]


async def test_broadcast_chats_come_after_push_chats(
    storage: Storage, chats: ChatRepo, outbox: OutboxRepo
) -> None:
    await _chats(chats, 1)
    await chats.upsert(2, kind="group", now=NOW)
    await _broadcast(storage)
    async with storage.store.transaction() as tx:
        await outbox.queue_broadcast(tx, 7, kinds=(ChatKind.PRIVATE,), now=NOW)
    (h,) = await store(storage, [entry("1", "Push")])
    await push(storage, [(2, h.id)])
    assert await outbox.ready_chats(now=NOW, limit=10) == [2, 1]


async def test_defer_and_wakeup(storage: Storage, chats: ChatRepo, outbox: OutboxRepo) -> None:
    await _chats(chats, 1, 2)
    assert await outbox.next_wakeup() is None
    (h,) = await store(storage, [entry("1", "Later")])
    await push(storage, [(1, h.id), (2, h.id)])
    assert await outbox.next_wakeup() is None  # nothing put off
    first = await claim(outbox, 1)
    await outbox.defer(first, not_before=NOW + 30, error="retry after 30")
    assert await outbox.ready_chats(now=NOW, limit=10) == [2]
    assert await peek(storage, 1) == []
    (later,) = await peek(storage, 1, now=NOW + 30)
    assert later.attempts == 1
    await outbox.mark_sent(await claim(outbox, 2), now=NOW)
    assert await outbox.next_wakeup() == NOW + 30
    assert await outbox.ready_chats(now=NOW + 31, limit=10) == [1]


async def test_final_states_and_counts(
    storage: Storage, chats: ChatRepo, outbox: OutboxRepo
) -> None:
    await _chats(chats, 1)
    for n, x in enumerate(await store(storage, [entry(str(i), f"T{i}") for i in range(4)])):
        await push(storage, [(1, x.id)], thread_id=n)  # a row each
    ids = await row_ids(storage)
    assert [row_id for _ in ids for row_id in await claim(outbox, 1)] == ids  # a thread each
    assert await claim(outbox, 1) == []  # all claimed
    await outbox.mark_sent(ids[:1], now=NOW)
    await outbox.mark_failed(ids[1:2], error="can't parse entities", now=NOW)
    await outbox.mark_sent(ids[3:], now=NOW + 10)
    async with storage.store.transaction() as tx:  # the one row still in flight
        assert await outbox.drop_pending(tx, 1, reason="blocked", now=NOW) == 1
    assert await outbox.defer(ids[1:3], not_before=NOW, error="late") == 0  # closed rows stay
    found = await rows(storage, "SELECT status, sent_at FROM outbox ORDER BY id")
    assert found == [
        (OutboxStatus.SENT, NOW),
        (OutboxStatus.FAILED, None),
        (OutboxStatus.DROPPED, None),
        (OutboxStatus.SENT, NOW + 10),
    ]
    assert await outbox.backlog() == {"push": 0, "broadcast": 0, "total": 0}
    assert await outbox.mark_sent([], now=NOW) == 0


async def test_reset_inflight(storage: Storage, chats: ChatRepo, outbox: OutboxRepo) -> None:
    await _chats(chats, 1)
    for n, x in enumerate(await store(storage, [entry(str(i), f"T{i}") for i in range(3)])):
        await push(storage, [(1, x.id)], thread_id=n)  # a row each
    ids = await row_ids(storage)
    assert [*await claim(outbox, 1), *await claim(outbox, 1)] == ids[:2]
    await outbox.mark_sent(ids[:1], now=NOW)
    assert [i.id for i in await peek(storage, 1)] == ids[2:]
    assert await outbox.reset_inflight() == 1
    assert [i.id for i in await peek(storage, 1)] == ids[1:2]


async def test_large_backlog_owes_one_message_per_chat(
    storage: Storage, outbox: OutboxRepo
) -> None:
    await execute(
        storage,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)"
        " INSERT INTO chats (id, kind, created_at, updated_at) SELECT i, 'private', 0, 0 FROM n",
    )
    h = await store(storage, [entry(str(i), f"T{i}") for i in range(30)])
    added = 0
    for x in h:  # 30 polls behind: still one message owed per chat
        pushes = [ChatPush(c, None, ((x.id, ("t",)),)) for c in range(1, 1001)]
        async with storage.store.transaction() as tx:
            added += await outbox.enqueue_pushes(tx, pushes, batch=x.id, now=NOW)
    assert added == 30_000  # benchmarks/store.py times the enqueue and ready_chats
    ready = await outbox.ready_chats(now=NOW, limit=30)
    assert ready == list(range(1, 31))
    (row,) = await peek(storage, 1)
    assert headline_ids([row]) == [x.id for x in h], "a row keeps every headline it owes"
    assert row.more == 0
    assert await scalar(storage, "SELECT count(*) FROM outbox") == 1000


async def test_prune_deletes_only_rows_finished_before_the_cutoff(
    storage: Storage, chats: ChatRepo, outbox: OutboxRepo, service: ChatService
) -> None:
    await _chats(chats, 1, 2)
    h = await store(storage, [entry(str(i), f"T{i}") for i in range(3)])
    for n, x in enumerate(h):
        await push(storage, [(1, x.id)], thread_id=n)  # a row each
    await push(storage, [(2, h[0].id)])
    ids = await row_ids(storage)
    await outbox.mark_sent(ids[:1], now=NOW)
    await outbox.mark_failed(ids[1:2], error="bad", now=NOW + 100)
    assert await service.deactivate(2, reason="blocked") == 1
    # the sent row and chat 2's dropped one, a chunk of one at a time
    assert await outbox.prune(before=NOW + 50, limit=1) == 1
    assert await outbox.prune(before=NOW + 50, limit=1) == 1
    found = await rows(storage, "SELECT status FROM outbox ORDER BY id")
    assert [r[0] for r in found] == ["failed", "pending"]  # newer, and never finished
    assert await outbox.prune(before=NOW + 50) == 0


async def _enqueue(
    storage: Storage, pushes: list[ChatPush], *, release: dict[int, float] | None = None
) -> int:
    async with storage.store.transaction() as tx:
        return await storage.outbox.enqueue_pushes(tx, pushes, batch=1, now=NOW, release=release)


async def test_a_held_row_waits_for_its_release_and_keeps_collecting(
    storage: Storage, chats: ChatRepo, outbox: OutboxRepo
) -> None:
    await _chats(chats, 1, 2)
    h = await store(storage, [entry(str(i), f"T{i}") for i in range(3)])
    eight = NOW + 3600
    both = [ChatPush(c, None, ((h[0].id, ("t",)),)) for c in (1, 2)]
    await _enqueue(storage, both, release={1: eight, 2: NOW})  # chat 2: at once
    assert await outbox.ready_chats(now=NOW, limit=10) == [2]
    assert await peek(storage, 1) == [], "held until its digest time"
    await _enqueue(storage, [ChatPush(1, None, ((h[1].id, ("t",)), (h[2].id, ("u",))))])
    assert await scalar(storage, "SELECT count(*) FROM outbox WHERE chat_id = 1") == 1
    assert await outbox.next_wakeup() == eight
    assert await outbox.ready_chats(now=eight, limit=10) == [2, 1]
    assert headline_ids(await peek(storage, 1, now=eight)) == [x.id for x in h], "one message"


async def test_due_rows_go_in_due_order_then_age(
    storage: Storage, chats: ChatRepo, outbox: OutboxRepo
) -> None:
    await _chats(chats, 1, 2, 3)
    (h,) = await store(storage, [entry("1", "Due")])
    # chat 1 queued first but held longest; 3 and 2 share a digest time
    await _enqueue(storage, [ChatPush(1, None, ((h.id, ("t",)),))], release={1: NOW + 20})
    await _enqueue(storage, [ChatPush(3, None, ((h.id, ("t",)),))], release={3: NOW + 10})
    await _enqueue(storage, [ChatPush(2, None, ((h.id, ("t",)),))], release={2: NOW + 10})
    assert await outbox.ready_chats(now=NOW + 5, limit=10) == []
    assert await outbox.ready_chats(now=NOW + 30, limit=10) == [3, 2, 1]
    assert await outbox.ready_chats(now=NOW + 30, limit=2) == [3, 2]


async def test_a_full_row_keeps_the_newest_and_counts_the_rest(
    storage: Storage, chats: ChatRepo, outbox: OutboxRepo
) -> None:
    await _chats(chats, 1)
    h = await store(storage, [entry(str(i), f"T{i}") for i in range(KEEP_PER_ROW + 25)])
    await _enqueue(storage, [ChatPush(1, None, tuple((x.id, ("t",)) for x in h[:20]))])
    await _enqueue(storage, [ChatPush(1, None, tuple((x.id, ("t",)) for x in h[20:]))])
    (row,) = await peek(storage, 1)
    assert headline_ids([row]) == [x.id for x in h[25:]]
    assert row.more == 25


async def test_reschedule_hold_and_more_lists(
    storage: Storage, chats: ChatRepo, outbox: OutboxRepo
) -> None:
    await _chats(chats, 1, 2)
    (h,) = await store(storage, [entry("1", "Moved")])
    await _enqueue(storage, [ChatPush(c, None, ((h.id, ("t",)),)) for c in (1, 2)])
    assert await outbox.reschedule(1, until=NOW + 600, now=NOW) == 1
    assert await outbox.ready_chats(now=NOW, limit=10) == [2]
    assert await outbox.reschedule(1, until=NOW - 1, now=NOW) == 1, "back to at once"
    ids = await claim(outbox, 1)
    assert await outbox.hold(ids, until=NOW + 60) == 1
    (row,) = await rows(
        storage, "SELECT status, attempts, not_before FROM outbox WHERE id = ?", *ids
    )
    assert row == ("pending", 0, NOW + 60), "held, not an attempt"
    list_id = await outbox.keep_more_list(
        1, ids[0], [(h.id, ("t", "u"))], dropped=3, digest=True, now=NOW
    )
    kept = await outbox.more_list(list_id, 1)
    assert kept is not None and kept.items == ((h.id, ("t", "u")),) and kept.dropped == 3
    assert await outbox.more_list(list_id, 2) is None, "another chat's list"
    await outbox.mark_sent(ids, now=NOW)
    assert await outbox.prune(before=NOW + 1) == 1
    assert await outbox.more_list(list_id, 1) is None, "pruned with its row"


async def test_rows_hold_the_same_text_on_every_backend(
    storage: Storage, chats: ChatRepo, outbox: OutboxRepo
) -> None:
    """A copy between the backends moves `items` as it is: both must write it alike."""
    await _chats(chats, 1)
    h = await store(storage, [entry(str(i), f"T{i}") for i in range(3)])
    items = ((h[0].id, ("chile",)), (h[1].id, ("a b", "ñandú")), (h[2].id, ()))
    await _enqueue(storage, [ChatPush(1, None, items)])
    text = await scalar(storage, "SELECT items FROM outbox")
    assert text == f'[[{h[0].id},"chile"],[{h[1].id},"a b\\n\\u00f1and\\u00fa"],[{h[2].id},""]]'
    (row,) = await peek(storage, 1)
    assert row.items == items


async def test_two_pushes_for_one_waiting_row_both_join_it(
    storage: Storage, chats: ChatRepo, outbox: OutboxRepo
) -> None:
    await _chats(chats, 1)
    h = await store(storage, [entry(str(i), f"T{i}") for i in range(3)])
    await _enqueue(storage, [ChatPush(1, None, ((h[0].id, ("t",)),))])
    twice = [ChatPush(1, None, ((h[1].id, ("t",)),)), ChatPush(1, None, ((h[2].id, ("u",)),))]
    assert await _enqueue(storage, twice) == 2
    (row,) = await peek(storage, 1)
    assert headline_ids([row]) == [x.id for x in h]


async def test_ready_chats_reads_past_one_chats_many_rows(
    storage: Storage, chats: ChatRepo, outbox: OutboxRepo
) -> None:
    """A chat with more due rows than one read takes (hundreds of broadcasts) hides no other."""
    await _chats(chats, 1, 2, 3)
    await execute(
        storage,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1500)"
        " INSERT INTO broadcasts (id, admin_id, audience, status, created_at)"
        " SELECT i, 1, 'all', 'queued', 0 FROM n",
    )
    await execute(
        storage,
        "INSERT INTO outbox (chat_id, broadcast_id, priority, created_at)"
        " SELECT 1, id, 2, 0 FROM broadcasts ORDER BY id",
    )
    await execute(
        storage,
        "INSERT INTO outbox (chat_id, broadcast_id, priority, created_at) VALUES (2, 1, 2, 0)",
    )
    (h,) = await store(storage, [entry("1", "Push")])
    await push(storage, [(3, h.id)])
    assert await outbox.ready_chats(now=NOW, limit=10) == [3, 1, 2]
    assert await outbox.ready_chats(now=NOW, limit=2, exclude={3}) == [1, 2]
    assert await outbox.backlog() == {"push": 1, "broadcast": 1501, "total": 1502}


async def test_a_more_list_follows_a_group_that_becomes_a_supergroup(
    storage: Storage, outbox: OutboxRepo, service: ChatService
) -> None:
    await service.register(-5, kind=ChatKind.GROUP)
    (h,) = await store(storage, [entry("1", "Kept")])
    await push(storage, [(-5, h.id)])
    ids = await claim(outbox, -5)
    list_id = await outbox.keep_more_list(
        -5, ids[0], [(h.id, ("t",))], dropped=0, digest=False, now=NOW
    )
    await service.migrate(-5, -1005)  # renamed: ON UPDATE CASCADE carries the list
    kept = await outbox.more_list(list_id, -1005)
    assert kept is not None and kept.items == ((h.id, ("t",)),)
    assert await outbox.more_list(list_id, -5) is None
