"""Routing a poll's headlines into the outbox in chunks smaller than one headline's fan-out."""

from __future__ import annotations

from collections import Counter

import pytest

import bot.poller
from bot.feeds import FeedFetcher
from bot.matching import TopicIndex
from bot.poller import Poller
from storage.chats import ChatRepo
from storage.db import Database
from tests.storage.conftest import NOW, entry, store

CHATS = range(1, 8)


@pytest.fixture
async def poller(db: Database) -> Poller:
    index = TopicIndex()
    for chat in CHATS:
        await ChatRepo(db).upsert(chat, kind="private", now=NOW, activate=True)
        index.add(chat, "lithium")
    fetcher = FeedFetcher()
    await fetcher.aclose()  # routing never fetches
    return Poller(db, fetcher, index, urls=[], interval=60, clock=lambda: NOW)


async def test_chunks_split_a_headline_and_mark_it_routed_after_its_last_route(
    db: Database, poller: Poller
) -> None:
    headlines = await store(db, [entry("1", "Lithium prices"), entry("2", "Lithium mines")])
    chunks = list(poller.route_chunks(headlines, size=3))
    assert [len(routes) for _, routes in chunks] == [3, 3, 3, 3, 2]
    pairs = Counter((r.chat_id, r.headline_id) for _, routes in chunks for r in routes)
    assert set(pairs) == {(c, h.id) for c in CHATS for h in headlines}
    assert max(pairs.values()) == 1
    done_in = {hid: n for n, (ids, _) in enumerate(chunks) for hid in ids}
    assert sorted(done_in) == [h.id for h in headlines]
    last_route = {r.headline_id: n for n, (_, routes) in enumerate(chunks) for r in routes}
    for headline in headlines:
        assert done_in[headline.id] >= last_route[headline.id]


async def test_route_pending_queues_every_push_once_in_small_chunks(
    db: Database, poller: Poller, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.poller, "ROUTE_CHUNK", 3)
    await store(db, [entry("1", "Lithium prices"), entry("2", "Lithium mines")])
    await db.execute("UPDATE headlines SET routed = 0")
    assert await poller.route_pending() == 2 * len(CHATS)
    assert await db.scalar("SELECT count(*) FROM headlines WHERE routed = 0") == 0
    assert await poller.route_pending() == 0
