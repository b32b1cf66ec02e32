"""Two `python -m bot` on one PostgreSQL database: one active, one standing by.

The standby touches nothing while the active bot lives: no Bot API call, no feed fetch (it
is given a fake Bot API and a feed server of its own, so that any would show), and its
/healthz says "standby" with a 200. When the active bot is killed with SIGKILL in the middle
of a broadcast, the server ends its session and frees the guard; the standby takes over
within 15 s, polls Telegram and the feeds, and finishes the broadcast: every chat gets the
announcement, at most one of them twice (the message in flight at the kill).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
import time
from collections import Counter
from pathlib import Path
from typing import IO

import aiohttp
import asyncpg
import pytest

from storage.lock import claim
from tests.e2e import harness
from tests.e2e.harness import FEED, item
from tests.e2e.test_crash import ADMIN, confirm_broadcast, message_text, outbox_rows, populate
from tests.e2e.test_process import clean_env, run
from tests.fakes.feed_server import FeedServer, rss
from tests.fakes.telegram import Call, FakeTelegram

TAKEOVER_WITHIN = 15.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LoggedBot:
    """A `python -m bot` whose output is read line by line (and kept in NAME.log)."""

    def __init__(self, name: str, env: dict[str, str], cwd: Path) -> None:
        self.name = name
        self.env = env
        self.cwd = cwd
        self.lines: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._changed = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None
        self._log: IO[str] | None = None

    async def start(self) -> None:
        self._log = (self.cwd / f"{self.name}.log").open("a")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", env=self.env, cwd=self.cwd,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := (await self.proc.stdout.readline()).decode():
            assert self._log is not None
            self._log.write(line)
            self._log.flush()
            async with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    async def wait_line(self, pattern: str, timeout: float = 30) -> str:
        """The first line that matches `pattern`, waiting for it to be written."""
        found = re.compile(pattern)
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: any(found.search(x) for x in self.lines)), timeout
            )
        return next(x for x in self.lines if found.search(x))

    def saw(self, pattern: str) -> bool:
        return any(re.search(pattern, line) for line in self.lines)

    async def kill(self) -> None:
        """SIGKILL: no shutdown, no unlock; the server must notice the dead session."""
        assert self.proc is not None and self.proc.returncode is None, self.tail()
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> int | None:
        """SIGTERM, and the exit code (SIGKILL after 15 s)."""
        if self.proc is None:
            return None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self._reader is not None:
            await asyncio.wait([self._reader], timeout=5)
        if self._log is not None:
            self._log.close()
        return self.proc.returncode

    def tail(self, n: int = 30) -> str:
        return "".join(self.lines[-n:])


def bot_env(fake: FakeTelegram, feeds: FeedServer, tmp_path: Path, **values: str) -> dict[str, str]:
    return clean_env(
        BOT_TOKEN=fake.token,
        TELEGRAM_API_URL=f"http://127.0.0.1:{fake.port}",
        FEED_URLS=feeds.url(FEED),
        DATABASE_PATH=str(tmp_path / "bot.sqlite3"),
        POLL_INTERVAL_SECONDS="1",
        ADMIN_IDS=str(ADMIN),
        LOG_LEVEL="INFO",
        **values,
    )


async def healthz(port: int) -> tuple[int, dict[str, object]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/healthz") as response,
    ):
        return response.status, await response.json()


@pytest.mark.slow
async def test_the_standby_finishes_a_broadcast_when_the_active_bot_is_killed(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    assert harness.postgres is not None, "a PostgreSQL test (see conftest.py)"
    private = range(1, 301)
    groups = range(-110, -100)
    everyone = [*private, *groups]
    text = "<b>Takeover test</b> announcement"
    feed_server.set_feed(FEED, rss([item(1, "Old news", "x")]))
    await populate(tmp_path / "bot.sqlite3", private, groups)
    port = free_port()
    async with (
        FakeTelegram(enforce_limits=True) as fake_a,
        FakeTelegram(enforce_limits=True) as fake_b,
        FeedServer() as feeds_b,
    ):
        feeds_b.set_feed(FEED, rss([item(1, "Old news", "x")]))
        active = LoggedBot("active", bot_env(fake_a, feed_server, tmp_path), tmp_path)
        standby = LoggedBot(
            "standby", bot_env(fake_b, feeds_b, tmp_path, METRICS_PORT=str(port)), tmp_path
        )

        def got() -> list[Call]:
            return [
                c
                for fake in (fake_a, fake_b)
                for c in fake.calls
                if c.ok and c.chat_id != ADMIN and "Takeover test" in message_text(c)
            ]

        try:
            await active.start()
            await fake_a.wait_calls("getUpdates", 1, timeout=30)
            await standby.start()
            await standby.wait_line("standing by: another headline-bot .*pid \\d+ on ")
            await standby.wait_line("standby status server on")
            status, body = await healthz(port)
            assert (status, body["status"]) == (200, "standby"), body
            await confirm_broadcast(fake_a, text)
            await fake_a.wait_for(lambda: len(got()) >= 100, 30)
            # all this while the standby made no Bot API call and fetched no feed
            assert fake_b.calls == [] and feeds_b.hits(FEED) == 0
            assert standby.proc is not None and standby.proc.returncode is None
            await active.kill()
            killed_at, killed = time.monotonic(), len(got())
            assert killed < len(everyone), "the broadcast finished before the kill"
            # the standby takes over: it long-polls Telegram and reads its feed
            await fake_b.wait_calls("getUpdates", 1, timeout=TAKEOVER_WITHIN)
            took = time.monotonic() - killed_at
            assert took < TAKEOVER_WITHIN, standby.tail()
            await fake_b.wait_for(lambda: feeds_b.hits(FEED) >= 1, 15)
            await fake_b.wait_for(lambda: {c.chat_id for c in got()} >= set(everyone), 60)
            # every broadcast row sent: nothing more of it can come
            for _ in range(100):
                rows = [r for r in await outbox_rows(tmp_path / "bot.sqlite3") if r[2]]
                if all(r[3] == "sent" for r in rows if r[0] != ADMIN):
                    break
                await asyncio.sleep(0.1)
            status, body = await healthz(port)
            assert body["status"] != "standby", body
            assert standby.saw("taking over")
            assert await standby.stop() == 0, standby.tail()
        finally:
            await active.stop()
            await standby.stop()
        for fake in (fake_a, fake_b):
            violations = [v for v in fake.violations if "Connection lost" not in v]
            assert violations == [], violations
            assert fake.too_many_requests == 0
    per_chat = Counter(c.chat_id for c in got())
    assert set(per_chat) == set(everyone)
    twice = [chat for chat, n in per_chat.items() if n > 1]
    assert len(twice) <= 1, f"repeated after one kill: {twice}"
    rows = [r for r in await outbox_rows(tmp_path / "bot.sqlite3") if r[2] and r[0] != ADMIN]
    assert Counter(r[3] for r in rows) == Counter({"sent": len(everyone)})
    print(
        f"killed after {killed} of {len(everyone)} chats; the standby took over in {took:.1f} s; "
        f"repeated: {twice}"
    )


async def test_a_bot_whose_guard_connection_dies_stops(
    tmp_path: Path, fake_tg: FakeTelegram, feed_server: FeedServer
) -> None:
    """Without its guard it could run beside a standby that took over: it stops, exit 1."""
    assert harness.postgres is not None
    feed_server.set_feed(FEED, rss([item(1, "Old news", "x")]))
    bot = LoggedBot("active", bot_env(fake_tg, feed_server, tmp_path), tmp_path)
    try:
        await bot.start()
        await fake_tg.wait_calls("getUpdates", 1, timeout=30)
        conn = await asyncpg.connect(harness.postgres.url_for(tmp_path / "bot.sqlite3"))
        try:
            cut = await conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name LIKE 'headline-bot guard %'"
                " AND datname = current_database()"
            )
        finally:
            await conn.close()
        assert cut == 1
        assert bot.proc is not None
        assert await asyncio.wait_for(bot.proc.wait(), 30) == 1
    finally:
        await bot.stop()
    last = bot.lines[-1]
    assert last.startswith("headline-bot: the connection holding the database guard closed")
    assert "two bots never run on postgresql://" in last


async def test_a_database_out_of_reach_at_start_up_is_waited_for(
    tmp_path: Path, fake_tg: FakeTelegram, feed_server: FeedServer
) -> None:
    """As a Bot API out of reach is: the process waits (no restart loop), and says so once."""
    url = f"postgresql://bot:s3cretpw@127.0.0.1:{free_port()}/headlines"
    env = bot_env(fake_tg, feed_server, tmp_path, METRICS_PORT=str(free_port()))
    env["DATABASE_URL"] = url
    bot = LoggedBot("waiting", env, tmp_path)
    try:
        await bot.start()
        await bot.wait_line("database unreachable at start-up: cannot connect to ")
        await bot.wait_line("standby status server on")
        assert bot.proc is not None and bot.proc.returncode is None
        assert await bot.stop() == 0
    finally:
        await bot.stop()
    log = "".join(bot.lines)
    assert "s3cretpw" not in log and "postgresql://bot:***@127.0.0.1" in log, log
    assert fake_tg.calls == []  # nothing but the database was touched


async def test_in_webhook_mode_a_second_bot_refuses_to_start(tmp_path: Path) -> None:
    """A webhook bot does not stand by: Telegram sends the updates to one URL."""
    assert harness.postgres is not None
    database = tmp_path / "bot.sqlite3"
    active = await claim(harness.postgres.url_for(database))  # what the running bot holds
    assert active is not None
    try:
        env = clean_env(
            BOT_TOKEN="123:abc",
            DATABASE_PATH=str(database),
            WEBHOOK_URL="https://bot.example.org/hook",
        )
        code, out = await run(env=env, cwd=tmp_path, timeout=30)
    finally:
        await active.release()
    assert code == 1 and len(out.strip().splitlines()) == 1, out
    assert f"another headline-bot (pid {os.getpid()} on " in out
    assert "in webhook mode a second one does not stand by" in out
