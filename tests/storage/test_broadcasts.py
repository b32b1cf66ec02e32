"""Broadcasts: confirming once, cancelling, progress and completion."""

from __future__ import annotations

import pytest

from storage import Storage
from storage.broadcasts import BroadcastRepo
from storage.chats import ChatRepo
from storage.outbox import OutboxRepo
from tests.storage.conftest import NOW, claim


@pytest.fixture
def chats(storage: Storage) -> ChatRepo:
    return storage.chats


@pytest.fixture
def outbox(storage: Storage) -> OutboxRepo:
    return storage.outbox


@pytest.fixture
def broadcasts(storage: Storage) -> BroadcastRepo:
    return storage.broadcasts


async def _audience(chats: ChatRepo) -> None:
    await chats.upsert(1, kind="private", now=NOW)
    await chats.upsert(2, kind="private", now=NOW)
    await chats.upsert(3, kind="private", now=NOW, activate=False)
    await chats.upsert(-10, kind="group", now=NOW)
    await chats.upsert(-1001, kind="channel", now=NOW)


async def test_create_and_get(broadcasts: BroadcastRepo) -> None:
    draft = await broadcasts.create(admin_id=42, audience="users", text="<b>Hi</b>", now=NOW)
    assert (draft.status, draft.total, draft.confirmed_at) == ("draft", 0, None)
    assert await broadcasts.get(draft.id) == draft
    copied = await broadcasts.create(
        admin_id=42, audience="all", from_chat_id=42, from_message_id=9, now=NOW
    )
    assert (copied.text, copied.from_chat_id, copied.from_message_id) == (None, 42, 9)
    assert await broadcasts.get(999) is None


async def test_confirm_twice_queues_once(
    storage: Storage, chats: ChatRepo, broadcasts: BroadcastRepo, outbox: OutboxRepo
) -> None:
    await _audience(chats)
    draft = await broadcasts.create(admin_id=42, audience="users", text="Hi", now=NOW)
    assert await broadcasts.confirm(draft.id, now=NOW + 1) == 2
    assert await broadcasts.confirm(draft.id, now=NOW + 2) is None
    queued = await broadcasts.get(draft.id)
    assert queued is not None
    assert (queued.status, queued.total, queued.confirmed_at) == ("queued", 2, NOW + 1)
    assert await outbox.backlog() == {"push": 0, "broadcast": 2, "total": 2}
    assert [b.id for b in await broadcasts.active()] == [draft.id]
    everyone = await broadcasts.create(admin_id=42, audience="all", text="All", now=NOW)
    assert await broadcasts.confirm(everyone.id, now=NOW) == 4


async def test_confirm_with_nobody_to_reach_is_done(
    chats: ChatRepo, broadcasts: BroadcastRepo
) -> None:
    await chats.upsert(1, kind="private", now=NOW)
    draft = await broadcasts.create(admin_id=42, audience="channels", text="Hi", now=NOW)
    assert await broadcasts.confirm(draft.id, now=NOW) == 0
    done = await broadcasts.get(draft.id)
    assert done is not None
    assert done.status == "done"
    assert await broadcasts.active() == []


async def test_cancel(
    storage: Storage, chats: ChatRepo, broadcasts: BroadcastRepo, outbox: OutboxRepo
) -> None:
    await _audience(chats)
    draft = await broadcasts.create(admin_id=42, audience="all", text="Hi", now=NOW)
    await broadcasts.confirm(draft.id, now=NOW)
    (first,) = await claim(outbox, 1)
    assert await broadcasts.cancel(draft.id, now=NOW + 5)
    assert not await broadcasts.cancel(draft.id, now=NOW + 6)
    assert await broadcasts.confirm(draft.id, now=NOW + 7) is None
    await outbox.mark_sent([first], now=NOW + 8)  # the one in flight still lands
    progress = await broadcasts.progress(draft.id)
    assert (progress.sent, progress.cancelled, progress.remaining) == (1, 3, 0)
    cancelled = await broadcasts.get(draft.id)
    assert cancelled is not None
    assert (cancelled.status, cancelled.finished_at) == ("cancelled", NOW + 5)
    assert not await broadcasts.finish_if_complete(draft.id, now=NOW + 9)
    other = await broadcasts.create(admin_id=42, audience="all", text="Draft", now=NOW)
    assert await broadcasts.cancel(other.id, now=NOW)


async def test_progress_and_finish(
    storage: Storage, chats: ChatRepo, broadcasts: BroadcastRepo, outbox: OutboxRepo
) -> None:
    await _audience(chats)
    draft = await broadcasts.create(admin_id=42, audience="all", text="Hi", now=NOW)
    await broadcasts.set_report_message(draft.id, 42, 77)
    assert await broadcasts.confirm(draft.id, now=NOW) == 4
    (sent,) = await claim(outbox, 1)
    (failed,) = await claim(outbox, -10)
    (last,) = await claim(outbox, -1001)
    await outbox.mark_sent([sent], now=NOW)
    async with storage.store.transaction() as tx:  # chat 2 blocked the bot
        assert await outbox.drop_pending(tx, 2, reason="blocked", now=NOW) == 1
    await outbox.mark_failed([failed], error="bad request", now=NOW)
    progress = await broadcasts.progress(draft.id)
    assert (progress.sent, progress.blocked, progress.failed, progress.remaining) == (1, 1, 1, 1)
    assert not await broadcasts.finish_if_complete(draft.id, now=NOW)
    await outbox.mark_sent([last], now=NOW)
    assert await broadcasts.finish_if_complete(draft.id, now=NOW + 1)
    assert not await broadcasts.finish_if_complete(draft.id, now=NOW + 2)
    done = await broadcasts.get(draft.id)
    assert done is not None
    assert (done.status, done.finished_at) == ("done", NOW + 1)
    assert (done.report_chat_id, done.report_message_id) == (42, 77)
    assert await broadcasts.active() == []


async def test_a_chats_broadcasts_and_their_deletion(
    storage: Storage, chats: ChatRepo, broadcasts: BroadcastRepo, outbox: OutboxRepo
) -> None:
    await _audience(chats)
    written = await broadcasts.create(admin_id=1, audience="users", text="Hi", now=NOW)
    copied = await broadcasts.create(
        admin_id=42, audience="users", from_chat_id=1, from_message_id=5, now=NOW
    )
    reported = await broadcasts.create(admin_id=42, audience="all", text="Hey", now=NOW)
    await broadcasts.set_report_message(reported.id, 1, 9)
    other = await broadcasts.create(admin_id=42, audience="users", text="Else", now=NOW)
    for broadcast in (written, copied, reported, other):
        await broadcasts.confirm(broadcast.id, now=NOW)
    async with storage.store.transaction() as tx:
        mine = await broadcasts.of_chat(tx, 1)
        assert mine == [written.id, copied.id, reported.id]
        assert await outbox.delete_broadcasts(tx, mine) == 2 + 2 + 4
        assert await outbox.delete_broadcasts(tx, []) == 0
        assert await broadcasts.delete(tx, mine) == 3
        assert await broadcasts.delete(tx, []) == 0
    assert [b.id for b in await broadcasts.active()] == [other.id]
    assert await outbox.backlog() == {"push": 0, "broadcast": 2, "total": 2}
