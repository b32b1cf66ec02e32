"""Hostile and broken feeds: bounded time and memory, backoff, alerts, nothing lost.

Most faults run through the real Poller (fetch -> parse -> store -> route -> enqueue) over a
real SQLite file, with a clock the test moves, against the fake feed server. The admin
alert and recovery message run through the whole bot.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.chats.service import ChatService
from bot.feeds import FeedFetcher
from bot.feeds.poller import FeedReport, Poller
from bot.routing import TopicIndex
from bot.routing.router import Router
from storage.models import FeedState
from storage.sqlite import repositories
from storage.sqlite.chats import SqliteChatRepo
from storage.sqlite.db import Database
from storage.sqlite.feeds import SqliteFeedRepo
from tests.e2e.harness import FEED, item, running_bot
from tests.fakes.feed_server import FeedServer, rss
from tests.fakes.telegram import FakeTelegram

DATA = Path(__file__).resolve().parents[1] / "data" / "feeds"
TIMEOUT = 1.0  # FETCH_TIMEOUT_SECONDS for these tests
MAX_BYTES = 1_000_000  # MAX_FEED_BYTES for these tests
INTERVAL = 60.0
READER = 901
BASE = [item(1, "Bolivia Severs Ties", "a"), item(2, "Lithium Deal Signed", "b")]


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Rig:
    """A Poller over a real database, a reader following 'bolivia' and 'lithium'."""

    db: Database
    poller: Poller
    clock: Clock
    feeds: FeedServer
    url: str

    async def state(self) -> FeedState:
        found = await SqliteFeedRepo(self.db).get(self.url)
        assert found is not None
        return found

    async def headlines(self) -> dict[str, str]:
        rows = await self.db.fetchall("SELECT key, title FROM headlines ORDER BY id")
        return {row[0]: row[1] for row in rows}

    async def queued(self) -> list[str]:
        rows = await self.db.fetchall(
            "SELECT h.title FROM outbox_pushes p JOIN headlines h ON h.id = p.headline_id"
            " WHERE p.chat_id = ? ORDER BY p.outbox_id, p.headline_id",
            (READER,),
        )
        return [row[0] for row in rows]

    async def poll_due(self) -> FeedReport:
        """Move the clock to the feed's next attempt and poll as the job does."""
        state = await self.state()
        self.clock.now = max(self.clock.now, state.next_attempt_at) + 0.001
        (report,) = await self.poller.poll_all()
        return report

    async def check_store(self) -> None:
        assert await self.db.integrity_check() == "ok"
        assert await self.db.fetchall("PRAGMA foreign_key_check") == []
        await self.db.execute(
            "INSERT INTO headlines_fts (headlines_fts) VALUES ('integrity-check')"
        )


@asynccontextmanager
async def poller_rig(feeds: FeedServer, db_path: Path, path: str = FEED) -> AsyncIterator[Rig]:
    """The baseline (BASE) is stored before the rig is handed over."""
    db = await Database.open(db_path)
    clock = Clock()
    index = TopicIndex()
    fetcher = FeedFetcher(timeout=TIMEOUT, max_bytes=MAX_BYTES)
    url = feeds.url(path)
    poller = Poller(
        repositories(db),
        fetcher,
        Router(repositories(db), index),
        urls=[url],
        interval=INTERVAL,
        clock=clock,
    )
    try:
        await SqliteChatRepo(db).upsert(READER, kind="private", now=clock.now, activate=True)
        await ChatService(repositories(db), index, max_topics=50).add_topics(
            READER, "bolivia, lithium"
        )
        feeds.set_feed(path, rss(BASE))
        (report,) = await poller.poll_all()
        assert report.baseline and report.new == len(BASE)
        yield Rig(db, poller, clock, feeds, url)
    finally:
        await fetcher.aclose()
        await db.close()


def _entity_bomb(feeds: FeedServer, path: str) -> None:
    feeds.set_feed(path, (DATA / "entity_bomb.xml").read_bytes(), etag=False, last_modified=False)


def _html_page(feeds: FeedServer, path: str) -> None:
    feeds.set_feed(path, (DATA / "not_a_feed.html").read_bytes(), content_type="text/html")


def _timeout(feeds: FeedServer, path: str) -> None:
    feeds.set_feed(path, rss(BASE), etag=False, last_modified=False)
    feeds.set_delay(path, 30)


def _trickle(feeds: FeedServer, path: str) -> None:
    feeds.set_feed(path, rss(BASE), etag=False, last_modified=False)
    feeds.set_trickle(path, 1)


def _redirect_loop(feeds: FeedServer, path: str) -> None:
    feeds.set_redirect(path, "/loop-b.xml")
    feeds.set_redirect("/loop-b.xml", path)


FAULTS: dict[str, tuple[Callable[[FeedServer, str], None], str]] = {
    "5xx": (lambda f, p: f.set_status(p, 503), "HTTP 503"),
    "timeout": (_timeout, "timed out"),
    "trickle": (_trickle, "timed out"),
    "redirect loop": (_redirect_loop, "redirect"),
    "50 MB body": (lambda f, p: f.set_huge(p, 50 * 1024 * 1024), "larger than"),
    "50 MB declared": (
        lambda f, p: f.set_huge(p, 50 * 1024 * 1024, declare_length=True),
        "larger than",
    ),
    "gzip bomb": (lambda f, p: f.set_gzip_bomb(p, 1 << 30), "larger than"),
    "entity bomb": (_entity_bomb, "entities"),
    "html page": (_html_page, "not a feed"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_fault_is_bounded_backed_off_and_loses_nothing(
    fault: str, feed_server: FeedServer, tmp_path: Path
) -> None:
    make, reason = FAULTS[fault]
    async with poller_rig(feed_server, tmp_path / "db.sqlite3") as rig:
        stored = await rig.headlines()
        make(feed_server, FEED)
        waits: list[float] = []
        tracemalloc.start()
        try:
            for attempt in (1, 2, 3):
                started = time.monotonic()
                report = await rig.poll_due()
                elapsed = time.monotonic() - started
                assert report.outcome == "error", report
                assert reason in (report.error or ""), report.error
                assert elapsed < TIMEOUT + 1.5, f"{fault}: poll took {elapsed:.1f} s"
                state = await rig.state()
                assert state.consecutive_failures == attempt
                assert state.last_error == report.error
                waits.append(state.next_attempt_at - rig.clock.now)
                # not due yet: no request at all
                hits = feed_server.hits(FEED)
                (waiting,) = await rig.poller.poll_all()
                assert waiting.outcome == "waiting"
                assert feed_server.hits(FEED) == hits
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert waits == [INTERVAL, 2 * INTERVAL, 4 * INTERVAL]
        assert peak < 40 * MAX_BYTES, f"{fault}: {peak / 1e6:.0f} MB allocated at peak"
        assert await rig.headlines() == stored
        assert await rig.queued() == []
        await rig.check_store()

        # the feed comes back with one more story: stored once, pushed once, state cleared
        feed_server.set_delay(FEED, 0)
        feed_server.set_trickle(FEED, 0)
        feed_server.set_feed(FEED, rss([item(3, "Bolivia Recovers", "c"), *BASE]))
        report = await rig.poll_due()
        assert (report.outcome, report.new, report.queued) == ("new", 1, 1), report
        state = await rig.state()
        assert state.consecutive_failures == 0 and state.next_attempt_at == 0
        assert state.failing_since is None and state.last_error is None
        assert await rig.queued() == ["Bolivia Recovers"]
        assert set(stored) < set(await rig.headlines())


async def test_backoff_is_capped_at_an_hour(feed_server: FeedServer, tmp_path: Path) -> None:
    async with poller_rig(feed_server, tmp_path / "db.sqlite3") as rig:
        feed_server.set_status(FEED, 500)
        waits = []
        for _ in range(9):
            await rig.poll_due()
            waits.append((await rig.state()).next_attempt_at - rig.clock.now)
        assert waits[:7] == [INTERVAL * 2**n for n in range(6)] + [3600.0]
        assert waits[-1] == 3600.0
        assert (await rig.state()).consecutive_failures == 9


_SESSIONS = itertools.count()


def _changing_guids(
    items: list[dict[str, Any]],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The same stories under a new guid on every request, as some CMSs serve them."""

    async def handler(request: web.Request) -> web.Response:
        n = next(_SESSIONS)
        body = rss([{**i, "guid": f"{i['guid']}?session={n}"} for i in items])
        return web.Response(body=body, content_type="application/rss+xml")

    return handler


async def test_changing_guids_push_each_story_once(feed_server: FeedServer, tmp_path: Path) -> None:
    """The rule (storage.sqlite.headlines.HeadlineRepo.upsert): an unknown guid whose story (same
    feed, same title ignoring case and spacing, same link) was stored in the last seven days
    is that story again: updated in place, not new, not pushed."""
    async with poller_rig(feed_server, tmp_path / "db.sqlite3") as rig:
        stories = [item(3, "Bolivia Elects", "x"), *BASE]
        feed_server.set_handler(FEED, _changing_guids(stories))
        for _ in range(4):
            rig.clock.now += INTERVAL
            await rig.poll_due()
        assert await rig.queued() == ["Bolivia Elects"]
        assert list((await rig.headlines()).values()) == [
            "Bolivia Severs Ties",
            "Lithium Deal Signed",
            "Bolivia Elects",
        ]

        # a re-spaced, re-cased title is the same story (updated); another story is new
        stories = [
            {**stories[0], "title": "BOLIVIA   elects"},
            item(4, "Lithium Prices Fall", "y"),
            *BASE,
        ]
        feed_server.set_handler(FEED, _changing_guids(stories))
        report = await rig.poll_due()
        assert (report.new, report.updated) == (1, 1), report
        report = await rig.poll_due()
        assert (report.new, report.updated) == (0, 0), report
        # one push each (the queued story shows its new title: it was updated in place)
        assert await rig.queued() == ["BOLIVIA elects", "Lithium Prices Fall"]

        # the same story listed twice in one document, under two guids
        twice = [item(5, "Lithium Twice", "z"), {**item(5, "Lithium Twice", "z"), "guid": "other"}]
        feed_server.set_feed(FEED, rss(twice + BASE))
        report = await rig.poll_due()
        assert report.new == 1, report
        assert (await rig.queued())[-1] == "Lithium Twice"
        assert len(await rig.queued()) == 3

        # past the window, the same title and link is news again
        rig.clock.now += 8 * 86400
        feed_server.set_handler(FEED, _changing_guids([item(3, "Bolivia Elects", "x")]))
        report = await rig.poll_due()
        assert report.new == 1, report
        await rig.check_store()


async def test_feed_that_goes_empty_keeps_the_archive(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    async with poller_rig(feed_server, tmp_path / "db.sqlite3") as rig:
        stored = await rig.headlines()
        feed_server.set_feed(FEED, rss([]))
        report = await rig.poll_due()
        assert report.ok and report.new == 0, report
        assert (await rig.state()).consecutive_failures == 0
        feed_server.set_feed(FEED, b"")  # an empty body is not a feed: a failure
        report = await rig.poll_due()
        assert report.outcome == "error" and "empty" in (report.error or ""), report
        assert await rig.headlines() == stored
        # the old items come back: known, not pushed again
        feed_server.set_feed(FEED, rss(BASE))
        report = await rig.poll_due()
        assert (report.new, report.queued) == (0, 0), report
        assert await rig.queued() == []
        assert await rig.headlines() == stored
        await rig.check_store()


async def test_a_broken_feed_does_not_hold_up_the_others(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    async with poller_rig(feed_server, tmp_path / "db.sqlite3") as rig:
        good = feed_server.url("/good.xml")
        feed_server.set_feed("/good.xml", rss([item(10, "Bolivia Good Feed", "g")]))
        _trickle(feed_server, FEED)
        rig.poller.urls.append(good)
        rig.clock.now += INTERVAL
        started = time.monotonic()
        reports = {r.url: r for r in await rig.poller.poll_all(force=True)}
        assert time.monotonic() - started < TIMEOUT + 1.5
        assert reports[good].baseline and reports[good].new == 1
        assert reports[rig.url].outcome == "error"


async def test_admins_are_alerted_once_and_told_of_recovery(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    admin = 77
    async with running_bot(
        fake_tg,
        feed_server,
        tmp_path / "db.sqlite3",
        items=BASE,
        admin_ids=[admin],
        feed_alert_after_seconds=0,
        fetch_timeout_seconds=2,
        max_feed_bytes=MAX_BYTES,
    ) as bot:
        await bot.say(READER, "/topic add bolivia")
        count = len(bot.texts(READER))
        feed_server.set_gzip_bomb(FEED, 1 << 30)
        await bot.wait_sent(admin, 1)
        alert = bot.texts(admin)[0]
        assert "Feed failing" in alert and "larger than" in alert
        state = await bot.services.feeds.get(feed_server.url(FEED))
        assert state is not None and state.consecutive_failures >= 1
        failures = state.consecutive_failures

        async def failed_again() -> bool:
            state = await bot.services.feeds.get(feed_server.url(FEED))
            return state is not None and state.consecutive_failures > failures

        await bot.wait_until(failed_again, 15)  # more failed polls, no second alert
        await bot.quiet()
        assert len(bot.texts(admin)) == 1
        # still failing (backoff 1 s, 2 s, 4 s ...: at most a couple more attempts)
        state = await bot.services.feeds.get(feed_server.url(FEED))
        assert state is not None and state.consecutive_failures >= failures

        bot.publish(item(3, "Bolivia Recovered Story", "x"))
        await bot.wait_sent(admin, 2, timeout=15)
        assert "Feed recovered" in bot.texts(admin)[1]
        await bot.wait_sent(READER, count + 1)
        await bot.quiet()
        assert sum("Bolivia Recovered Story" in t for t in bot.texts(READER)) == 1
        assert len(bot.texts(admin)) == 2
        latest = await bot.say(READER, "/latest 5")
        assert "Bolivia Severs Ties" in latest[-1].params["text"]
        assert await asyncio.wait_for(bot.services.storage.store.integrity_check(), 5) == "ok"
