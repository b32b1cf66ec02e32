"""Start-up rides out a Bot API that is out of reach: the real `python -m bot` process.

The API is down in two ways: nothing listening on its port yet (a relay opened later
forwards to the fake), or the fake answering 5xx through its fault scripting.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.delivery.startup import backoff, retry_wait
from tests.e2e.harness import FEED, item
from tests.e2e.test_process import bot_env, kill_if_running, run, sigterm_stops_cleanly
from tests.e2e.test_webhook import free_port
from tests.fakes.feed_server import FeedServer, rss
from tests.fakes.telegram import FakeTelegram

RETRY_LINE = re.compile(r"Bot API unreachable at start-up \((\w+): .*\); retry (\d+) in (\d+) s")


class Relay:
    """A local port that refuses connections until opened, then relays them to the fake."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.target_port = target_port
        self._server: asyncio.Server | None = None

    async def open(self) -> None:
        """Start listening: the Bot API becomes reachable."""
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()


@asynccontextmanager
async def bot_process(
    env: dict[str, str], cwd: Path
) -> AsyncIterator[tuple[asyncio.subprocess.Process, Path]]:
    """`python -m bot` with its output in cwd/bot.log; killed if a test leaves it running."""
    log_path = cwd / "bot.log"
    with log_path.open("w") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", env=env, cwd=cwd, stdout=log, stderr=log
        )
        try:
            yield proc, log_path
        finally:
            await kill_if_running(proc)


async def wait_retries(log_path: Path, n: int, timeout: float = 30) -> list[tuple[str, int, int]]:
    """Wait until the log shows n retry lines; return (method, retry, seconds) of each."""
    deadline = time.monotonic() + timeout
    while True:
        found = [(m, int(r), int(s)) for m, r, s in RETRY_LINE.findall(log_path.read_text())]
        if len(found) >= n:
            return found
        assert time.monotonic() < deadline, log_path.read_text()
        await asyncio.sleep(0.05)


def assert_clean(output: str) -> None:
    """No traceback, no leaked aiohttp session, and every retry on a line of its own."""
    assert "Traceback" not in output, output
    assert "Unclosed" not in output, output
    for line in output.splitlines():
        assert len(RETRY_LINE.findall(line)) <= 1, line


def test_backoff_doubles_up_to_a_minute() -> None:
    assert [backoff(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff(10_000) == 60


def test_only_an_unreachable_api_is_waited_for() -> None:
    assert retry_wait(NetworkError("aiohttp.ClientConnectorError: refused"), 3) == 4
    assert retry_wait(NetworkError("Bad Gateway"), 1) == 1
    assert retry_wait(TimedOut(), 2) == 2
    assert retry_wait(RetryAfter(dtm.timedelta(seconds=7)), 1) == 7
    for refusal in (BadRequest("chat not found"), InvalidToken(), Forbidden("blocked")):
        assert retry_wait(refusal, 1) is None


def test_the_send_policy_judges_what_start_up_waits_for() -> None:
    """A proxy's page, a 409 and a bug, as decide() sees them."""
    assert retry_wait(NetworkError("the Bot API answered 502 with a non-JSON page"), 2) == 2
    assert retry_wait(Conflict("Conflict: terminated by other getUpdates request"), 1) is None
    assert retry_wait(TelegramError("something Telegram never documented"), 1) is None
    assert retry_wait(ValueError("a bug of ours"), 1) is None


async def test_api_down_at_start_then_up(
    tmp_path: Path, fake_tg: FakeTelegram, feed_server: FeedServer
) -> None:
    feed_server.set_feed(FEED, rss([item(1, "Bolivia Old News", "x")]))
    relay = Relay(fake_tg.port)
    env = bot_env(fake_tg, feed_server, tmp_path)
    env["TELEGRAM_API_URL"] = f"http://127.0.0.1:{relay.port}"
    try:
        async with bot_process(env, tmp_path) as (proc, log_path):
            retries = await wait_retries(log_path, 2)
            assert retries[:2] == [("getMe", 1, 1), ("getMe", 2, 2)]
            await relay.open()
            await fake_tg.wait_calls("getUpdates", 1, timeout=30)
            fake_tg.push_update(fake_tg.message_update(42, "/start"))
            await fake_tg.wait_for(lambda: len(fake_tg.sent_to(42)) >= 1, 15)
            assert fake_tg.calls_of("setMyCommands") and fake_tg.calls_of("deleteWebhook")
            await sigterm_stops_cleanly(proc)
    finally:
        await relay.close()
    output = log_path.read_text()
    assert_clean(output)
    assert fake_tg.token.split(":", 1)[1] not in output
    retries = [(m, int(r), int(s)) for m, r, s in RETRY_LINE.findall(output)]
    assert [r for _, r, _ in retries] == list(range(1, len(retries) + 1)), output
    assert all(s == backoff(r) for _, r, s in retries), output


async def test_5xx_from_each_start_up_call_is_retried(
    tmp_path: Path, fake_tg: FakeTelegram, feed_server: FeedServer
) -> None:
    feed_server.set_feed(FEED, rss([item(1, "Bolivia Old News", "x")]))
    fake_tg.fail("getMe", 502, times=2)
    fake_tg.fail("setMyCommands", 500)
    fake_tg.fail("deleteWebhook", 503)
    env = bot_env(fake_tg, feed_server, tmp_path)
    async with bot_process(env, tmp_path) as (proc, log_path):
        await fake_tg.wait_calls("getUpdates", 1, timeout=30)
        fake_tg.push_update(fake_tg.message_update(42, "/start"))
        await fake_tg.wait_for(lambda: len(fake_tg.sent_to(42)) >= 1, 15)
        # the first poll still runs at start-up, however late the scheduler started
        await fake_tg.wait_for(lambda: feed_server.hits(FEED) >= 1, 15)
        await sigterm_stops_cleanly(proc)
    output = log_path.read_text()
    assert_clean(output)
    retries = [(m, int(r), int(s)) for m, r, s in RETRY_LINE.findall(output)]
    assert retries == [
        ("getMe", 1, 1),
        ("getMe", 2, 2),
        ("setMyCommands", 1, 1),
        ("deleteWebhook", 1, 1),
    ], output
    assert "Bad Gateway" in output and "Service Unavailable" in output
    warnings = [line for line in output.splitlines() if " WARNING " in line]
    assert len(warnings) == 4, output


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_while_waiting_stops_at_once(
    tmp_path: Path, fake_tg: FakeTelegram, feed_server: FeedServer, sig: signal.Signals
) -> None:
    feed_server.set_feed(FEED, rss([]))
    env = bot_env(fake_tg, feed_server, tmp_path)
    env["TELEGRAM_API_URL"] = f"http://127.0.0.1:{free_port()}"  # nothing listens
    async with bot_process(env, tmp_path) as (proc, log_path):
        await wait_retries(log_path, 1)
        started = time.monotonic()
        proc.send_signal(sig)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
        assert time.monotonic() - started < 3
    assert_clean(log_path.read_text())


async def test_a_signal_during_a_hanging_call_after_the_database_opened(
    tmp_path: Path, fake_tg: FakeTelegram, feed_server: FeedServer
) -> None:
    """setMyCommands hangs, after getMe answered and the database was opened: still prompt."""
    feed_server.set_feed(FEED, rss([]))
    fake_tg.delay("setMyCommands", 60)
    env = bot_env(fake_tg, feed_server, tmp_path)
    async with bot_process(env, tmp_path) as (proc, log_path):
        await fake_tg.wait_calls("setMyCommands", 1, timeout=30)
        await sigterm_stops_cleanly(proc, within=5)
    output = log_path.read_text()
    assert_clean(output)
    assert "ready" in output  # the database had been opened, and was closed again


async def test_a_refused_token_at_start_up_exits_3_with_one_line(
    tmp_path: Path, fake_tg: FakeTelegram, feed_server: FeedServer
) -> None:
    env = bot_env(fake_tg, feed_server, tmp_path)
    env["BOT_TOKEN"] = "123:wrong"
    code, out = await run(env=env, cwd=tmp_path, timeout=30)
    assert code == 3, out
    assert out.strip().splitlines() == [
        f"headline-bot: http://127.0.0.1:{fake_tg.port} refused BOT_TOKEN (wrong or revoked)"
    ]


async def test_webhook_mode_rides_out_the_api_too(
    tmp_path: Path, fake_tg: FakeTelegram, feed_server: FeedServer
) -> None:
    feed_server.set_feed(FEED, rss([]))
    fake_tg.fail("getMe", 502)
    fake_tg.fail("setWebhook", 504, times=2)
    port = free_port()
    env = bot_env(
        fake_tg,
        feed_server,
        tmp_path,
        WEBHOOK_URL="https://bot.example.org/hook",
        WEBHOOK_SECRET="hook-secret",
        PORT=str(port),
    )
    async with bot_process(env, tmp_path) as (proc, log_path):
        await fake_tg.wait_for(lambda: fake_tg.webhook_url == "https://bot.example.org/hook", 30)
        update = fake_tg.message_update(77, "/help")
        for _ in range(100):  # the listener starts a moment after setWebhook
            try:
                status = await fake_tg.post_update(f"http://127.0.0.1:{port}/hook", update)
                break
            except OSError:
                await asyncio.sleep(0.1)
        assert status == 200
        await fake_tg.wait_for(lambda: len(fake_tg.sent_to(77)) == 1, 10)
        await sigterm_stops_cleanly(proc)
    output = log_path.read_text()
    assert_clean(output)
    retries = [(m, int(r)) for m, r, _ in RETRY_LINE.findall(output)]
    assert retries == [("getMe", 1), ("setWebhook", 1), ("setWebhook", 2)], output
