"""Run the real Application against the fake Bot API and the fake feed server."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bot.app import build_application, running
from bot.config import Settings
from bot.context import BotApp, Services
from bot.delivery.limiter import Limits
from tests.fakes.feed_server import FeedServer, rss
from tests.fakes.telegram import Call, FakeTelegram
from tests.storage.conftest import scalar

FEED = "/feed.xml"


class PgDatabases:
    """The end-to-end tests on PostgreSQL: each SQLite path a test names stands for a database
    of its own on the session's server, made at first use and dropped after the test.

    Tests keep naming their databases by path (`tmp_path / "bot.sqlite3"`); the settings they
    build (make_settings, database_env) then carry DATABASE_URL, which takes precedence.
    """

    def __init__(self, admin_url: str) -> None:
        self._admin_url = admin_url
        self._urls: dict[str, str] = {}
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="pg-databases")

    def url_for(self, path: Path | str) -> str:
        """The URL of the database that stands for `path` (made now when it is new)."""
        key = str(Path(path).absolute())
        if key not in self._urls:
            name = f"hb_e2e_{os.getpid()}_{next(_numbers)}"
            # from any thread or event loop (tests build settings in sync code too)
            self._worker.submit(asyncio.run, self._admin(f'CREATE DATABASE "{name}"')).result()
            base, _, query = self._admin_url.partition("?")
            self._urls[key] = f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
        return self._urls[key]

    def drop_all(self) -> None:
        """Drop every database made for the test (whoever is still connected)."""
        for url in self._urls.values():
            name = url.partition("?")[0].rsplit("/", 1)[1]
            drop = self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self._worker.submit(asyncio.run, drop).result()
        self._urls.clear()
        self._worker.shutdown()

    async def _admin(self, statement: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(self._admin_url)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()


_numbers = itertools.count(1)
# Set by tests/e2e/conftest.py for the tests that run on PostgreSQL; None on SQLite.
postgres: PgDatabases | None = None


def database_env(path: Path | str) -> dict[str, str]:
    """The environment that names the test's database for `python -m bot`: DATABASE_PATH,
    and on PostgreSQL the DATABASE_URL that stands for it."""
    env = {"DATABASE_PATH": str(path)}
    if postgres is not None:
        env["DATABASE_URL"] = postgres.url_for(path)
    return env


def database_of(path: Path | str) -> str | Path:
    """What open_storage() opens for the test's database `path` (its URL on PostgreSQL)."""
    return Path(path) if postgres is None else postgres.url_for(path)


def make_settings(fake: FakeTelegram, feeds: FeedServer, db: Path, **overrides: Any) -> Settings:
    """Settings pointing at the fakes (explicit values: nothing read from the environment)."""
    values: dict[str, Any] = {
        "bot_token": fake.token,
        "telegram_api_url": f"http://127.0.0.1:{fake.port}",
        "feed_urls": [feeds.url(FEED)],
        "database_path": db,
        "poll_interval_seconds": 1,
        "admin_ids": [],
    }
    if postgres is not None:
        values["database_url"] = postgres.url_for(db)
    values.update(overrides)
    return Settings(**values)


def item(n: int, title: str, summary: str = "", **extra: Any) -> dict[str, Any]:
    """An RSS item with a stable guid."""
    return {
        "title": title,
        "link": f"https://news.example/{n}",
        "guid": f"item-{n}",
        "description": summary or f"Summary of {title}.",
        **extra,
    }


class Harness:
    """A running bot with the fakes it talks to, and helpers to talk as users do."""

    def __init__(self, fake: FakeTelegram, feeds: FeedServer, app: BotApp, services: Services):
        self.fake = fake
        self.feeds = feeds
        self.app = app
        self.services = services
        self.items: list[dict[str, Any]] = []

    def publish(self, *items: Mapping[str, Any]) -> None:
        """Put items at the top of the feed (the bot sees them at its next poll)."""
        self.items[:0] = [dict(i) for i in items]
        self.feeds.set_feed(FEED, rss(self.items))

    async def poll(self) -> None:
        """Poll now instead of waiting for the interval."""
        await self.services.poller.poll_all(force=True)

    async def say(self, chat_id: int, text: str, *, replies: int = 1, **kwargs: Any) -> list[Call]:
        """Send a message as a user; wait for the bot's replies to that chat."""
        before = len(self.fake.sent_to(chat_id))
        self.fake.push_update(self.fake.message_update(chat_id, text, **kwargs))
        return await self.wait_sent(chat_id, before + replies)

    async def wait_sent(self, chat_id: int, n: int, timeout: float = 10.0) -> list[Call]:
        """Wait until the chat has received n messages; return the new ones since n-1... all."""
        await self.fake.wait_for(lambda: len(self.fake.sent_to(chat_id)) >= n, timeout)
        return self.fake.sent_to(chat_id)

    async def quiet(self, timeout: float = 15.0) -> None:
        """Wait until the bot has nothing more on its way, so a test can show none arrives.

        Quiet is when one look finds, with no request reaching the fake meanwhile: every
        update pushed to the fake fetched and acknowledged (the bot's next getUpdates moved
        past it), all of them handled (the application's update queue joined), no background
        poll running (nor the feed alerts after it), and delivery with no send in flight and
        no outbox row due by the bot's clock (chats waiting out a 429 wait for their time).
        Whatever an action caused has then reached the fake.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"the bot did not fall quiet within {timeout}s")
            requests = self._requests()
            if await self._idle(remaining) and self._requests() == requests:
                return
            # still moving: look again at the fake's next request (or in a moment)
            await self._next_request(self._requests, 0.05)

    async def wait_until(self, check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
        """Wait until an async check (of the database, say) holds, looking again at each request."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not await check():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout}s")
            await self._next_request(lambda: len(self.fake.calls), min(0.1, remaining))

    async def _next_request(self, count: Callable[[], int], timeout: float) -> None:
        """Wait until `count` moves on from what it is now, or `timeout` passes."""
        before = count()
        with contextlib.suppress(TimeoutError):
            await self.fake.wait_for(lambda: count() != before, timeout)

    def _requests(self) -> int:
        """Requests the bot made, but for its long polls (which come and go on their own)."""
        return len(self.fake.calls) - len(self.fake.calls_of("getUpdates"))

    async def _idle(self, timeout: float) -> bool:
        """One look at every source of requests: False if one still had work to start."""
        if self.fake.pending_updates:
            return False
        # returns at once when every update taken from the queue has been handled
        await asyncio.wait_for(self.app.update_queue.join(), timeout)
        task = self.services.poll_task
        if task is not None and not task.done():
            await asyncio.wait({task}, timeout=timeout)
        delivery = self.services.delivery
        # the worker's own view: chats waiting out a 429 are skipped until their time
        held = tuple(delivery._held)
        ready = await self.services.outbox.ready_chats(
            now=self.services.clock(), limit=1, exclude=held
        )
        # A claimed row is 'sending' from its commit until it is marked: on PostgreSQL a read
        # can fall between the claim's commit and the worker recording the send it starts,
        # where neither the ready rows nor the sends in flight show it.
        sending = await scalar(
            self.services.storage, "SELECT count(*) FROM outbox WHERE status = 'sending'"
        )
        return not ready and not delivery._inflight and not sending

    def texts(self, chat_id: int) -> list[str]:
        """Every text the bot sent to the chat (HTML as sent)."""
        return [str(c.params.get("text", "")) for c in self.fake.sent_to(chat_id)]


@asynccontextmanager
async def running_bot(
    fake: FakeTelegram,
    feeds: FeedServer,
    db: Path,
    *,
    items: Sequence[Mapping[str, Any]] = (),
    limits: Limits | None = None,
    **settings: Any,
) -> AsyncIterator[Harness]:
    """Start the bot on `db` with the feed holding `items` (its first poll is the baseline)."""
    feeds.set_feed(FEED, rss(list(items)))
    app = build_application(
        make_settings(fake, feeds, db, **settings), limits=limits or Limits.unlimited()
    )
    async with running(app) as services:
        harness = Harness(fake, feeds, app, services)
        harness.items = [dict(i) for i in items]
        # the first poll runs at start-up: wait for it so the baseline is in place
        await fake.wait_for(lambda: feeds.hits(FEED) >= 1, 10)
        await _wait_polled(services)
        yield harness


async def _wait_polled(services: Services) -> None:
    for _ in range(200):
        states = await services.feeds.all()
        if states and all(s.last_attempt_at for s in states):
            return
        await asyncio.sleep(0.05)
