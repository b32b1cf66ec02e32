"""A chat's settings and its queued pushes: a change of schedule moves what is waiting."""

from __future__ import annotations

from bot.chats.preferences import PreferencesService
from storage import Storage
from storage.models import ChatPush
from tests.storage.conftest import NOW, entry, store


async def test_changing_digest_or_quiet_hours_moves_the_waiting_rows(storage: Storage) -> None:
    outbox = storage.outbox
    await storage.chats.upsert(1, kind="private", now=NOW)
    (h,) = await store(storage, [entry("1", "Waiting")])
    async with storage.store.transaction() as tx:
        await outbox.enqueue_pushes(tx, [ChatPush(1, None, ((h.id, ("t",)),))], batch=1, now=NOW)
    service = PreferencesService(storage, clock=lambda: NOW)
    assert await outbox.ready_chats(now=NOW, limit=5) == [1]
    await service.change(1, "digest", "08:00")
    release = (await service.release_times([1]))[1]
    assert release > NOW
    assert await outbox.ready_chats(now=NOW, limit=5) == [], "held for the digest"
    assert await outbox.next_wakeup() == release
    await service.change(1, "digest", "off")
    assert await outbox.ready_chats(now=NOW, limit=5) == [1], "released at once"
    await service.change(1, "timezone", "UTC")
    quiet = f"{(int(NOW) // 3600 - 1) % 24:02d}:00-{(int(NOW) // 3600 + 2) % 24:02d}:00"
    await service.change(1, "quiet", quiet)  # now is inside the window
    assert await outbox.ready_chats(now=NOW, limit=5) == []
    assert await outbox.next_wakeup() == await service.next_push_at(1) > NOW
