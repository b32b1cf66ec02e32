"""A push row that routing adds to pass after pass: each pass writes a chunk of its own, the
row keeps the newest KEEP_PER_ROW headlines and counts the older ones, and every reader (a
unit of delivery, a chat's move, the outbox_pushes view) sees the same kept headlines."""

from __future__ import annotations

from bot.chats.service import ChatService
from bot.routing import TopicIndex
from storage import Storage
from storage.models import ChatPush
from storage.sqlite.outbox import KEEP_PER_ROW
from tests.storage.conftest import NOW, entry, peek, rows, scalar, store


async def _add(db: Storage, chat_id: int, ids: list[int], *, thread_id: int | None = None) -> int:
    async with db.store.transaction() as tx:
        return await db.outbox.enqueue_pushes(
            tx, [ChatPush(chat_id, thread_id, tuple((i, ("t",)) for i in ids))], batch=1, now=NOW
        )


async def test_passes_fill_a_row_then_keep_the_newest(storage: Storage) -> None:
    db, chats = storage, storage.chats  # on both backends
    await chats.upsert(1, kind="private", now=NOW)
    h = [x.id for x in await store(db, [entry(str(i), f"T{i}") for i in range(KEEP_PER_ROW + 70)])]
    step = 23  # a pass's headlines: not a divisor of KEEP_PER_ROW, so chunks get cut
    for start in range(0, len(h), step):
        assert await _add(db, 1, h[start : start + step]) == len(h[start : start + step])
        (row,) = await peek(db, 1)
        added = h[: start + step]
        assert [hid for hid, _ in row.items] == added[-KEEP_PER_ROW:]
        assert row.more == len(added) - len(row.items)
    assert await scalar(db, "SELECT count(*) FROM outbox") == 1
    pushes = await rows(db, "SELECT headline_id FROM outbox_pushes ORDER BY headline_id")
    assert [r[0] for r in pushes] == h[-KEEP_PER_ROW:]
    # chunks wholly older than the kept ones are gone: at most one partly kept
    [found] = await rows(db, "SELECT items_from, items_total FROM outbox")
    kept_from, total = found
    assert (kept_from, total) == (len(h) - KEEP_PER_ROW, len(h))
    oldest = await scalar(db, "SELECT min(end_at) FROM outbox_chunks")
    assert kept_from < oldest <= kept_from + step


async def test_one_pass_larger_than_a_row(storage: Storage) -> None:
    db, chats = storage, storage.chats
    await chats.upsert(1, kind="private", now=NOW)
    h = [x.id for x in await store(db, [entry(str(i), f"T{i}") for i in range(KEEP_PER_ROW + 40)])]
    await _add(db, 1, h[:10])
    await _add(db, 1, h[10:])
    (row,) = await peek(db, 1)
    assert [hid for hid, _ in row.items] == h[-KEEP_PER_ROW:]
    assert row.more == 40


async def test_a_moved_chat_takes_the_kept_headlines(storage: Storage) -> None:
    db, chats = storage, storage.chats
    service = ChatService(storage, TopicIndex(), max_topics=10, clock=lambda: NOW)
    for chat_id in (-1, -2):
        await chats.upsert(chat_id, kind="group", now=NOW)
    h = [x.id for x in await store(db, [entry(str(i), f"T{i}") for i in range(KEEP_PER_ROW + 5)])]
    for start in range(0, len(h), 50):
        await _add(db, -1, h[start : start + 50])
    await service.migrate(-1, -2)
    (row,) = await peek(db, -2)
    assert [hid for hid, _ in row.items] == h[-KEEP_PER_ROW:]
    assert row.more == 5
