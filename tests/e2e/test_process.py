"""The real `python -m bot` processes, run as a user would, against the fakes."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest

from storage import open_storage
from tests.e2e import harness
from tests.e2e.harness import FEED, database_env, database_of, item
from tests.fakes.feed_server import FeedServer, rss
from tests.fakes.telegram import FakeTelegram

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "bot" / "data" / "sample_digest.xml"


def clean_env(**values: str) -> dict[str, str]:
    """The environment without any of the bot's settings or proxies, plus `values` (a
    DATABASE_PATH comes with its DATABASE_URL when the test runs on PostgreSQL)."""
    names = {
        "BOT_TOKEN",
        "TELEGRAM_API_URL",
        "FEED_URLS",
        "DATABASE_PATH",
        "POLL_INTERVAL_SECONDS",
        "ADMIN_IDS",
        "LOG_LEVEL",
        "LOG_FORMAT",
        "WEBHOOK_URL",
        "WEBHOOK_SECRET",
        "PORT",
        "ALLOW_PAID_BROADCAST",
        "DATABASE_URL",
        "METRICS_PORT",
        "METRICS_HOST",
    }
    skip = names | {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"}
    env = {k: v for k, v in os.environ.items() if k not in skip}
    env["PYTHONPATH"] = str(ROOT)
    if "DATABASE_PATH" in values:  # on PostgreSQL, the database that stands for the path
        env.update(database_env(values["DATABASE_PATH"]))
    env.update({k: v for k, v in values.items() if k != "DATABASE_PATH"})
    return env


def bot_env(fake: FakeTelegram, feeds: FeedServer, tmp_path: Path, **values: str) -> dict[str, str]:
    """The settings of a bot talking to the fakes, on a database in tmp_path."""
    return clean_env(
        BOT_TOKEN=fake.token,
        TELEGRAM_API_URL=f"http://127.0.0.1:{fake.port}",
        FEED_URLS=feeds.url(FEED),
        DATABASE_PATH=str(tmp_path / "bot.sqlite3"),
        **values,
    )


async def spawn_bot(env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    """Start `python -m bot` in the background, its output discarded."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", env=env, cwd=cwd,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def sigterm_stops_cleanly(proc: asyncio.subprocess.Process, within: float = 10) -> None:
    """SIGTERM the bot: it must exit with code 0 in under `within` seconds."""
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), within) == 0
    assert time.monotonic() - started < within


async def kill_if_running(proc: asyncio.subprocess.Process) -> None:
    """Clean-up after a failed test: the process must not outlive it."""
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


async def run(*args: str, env: dict[str, str], cwd: Path, timeout: float = 60) -> tuple[int, str]:
    """Run `python -m bot ARGS`; return the exit code and stdout+stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        await kill_if_running(proc)  # a process that did not end must not outlive the test
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def stands_by_until_sigterm(env: dict[str, str], cwd: Path) -> str:
    """Start a second `python -m bot`: it must say it stands by, then stop at SIGTERM (exit
    0); return what it logged."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", env=env, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        while not any("standing by" in line for line in lines):
            line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
            assert line, "".join(lines)  # it must not exit
            lines.append(line)
        await sigterm_stops_cleanly(proc)
    finally:
        await kill_if_running(proc)
    return "".join(lines) + (await proc.stdout.read()).decode()


async def test_poll_and_search_the_sample(tmp_path: Path) -> None:
    env = clean_env(FEED_URLS=str(SAMPLE), DATABASE_PATH=str(tmp_path / "h.sqlite3"))
    code, out = await run("poll", env=env, cwd=tmp_path)
    assert code == 0, out
    new = int(re.search(r": (\d+) new", out).group(1))  # type: ignore[union-attr]
    assert new >= 14
    code, out = await run("poll", env=env, cwd=tmp_path)
    assert (code == 0 and ": 0 new" in out) or "not modified" in out, out
    code, out = await run("search", "bolivia", env=env, cwd=tmp_path)
    assert code == 0 and "Bolivia" in out and "https://" in out, out
    code, out = await run("search", '"((AND*', env=env, cwd=tmp_path)
    assert "Traceback" not in out, out
    code, out = await run("search", "zzzqqq", env=env, cwd=tmp_path)
    assert code == 0 and "no results" in out
    code, out = await run("stats", env=env, cwd=tmp_path)
    assert code == 0 and "Headlines" in out


async def test_bad_settings_and_missing_token_exit_2(tmp_path: Path) -> None:
    code, out = await run(env=clean_env(), cwd=tmp_path)
    assert code == 2 and "BOT_TOKEN" in out and "config.example.env" in out
    code, out = await run("poll", env=clean_env(POLL_INTERVAL_SECONDS="0"), cwd=tmp_path)
    assert code == 2 and "POLL_INTERVAL_SECONDS" in out and "Traceback" not in out
    assert len(out.strip().splitlines()) == 1
    code, out = await run("poll", env=clean_env(ADMIN_IDS="1,x"), cwd=tmp_path)
    assert code == 2 and "ADMIN_IDS" in out


async def test_poll_reports_a_broken_feed(tmp_path: Path, feed_server: FeedServer) -> None:
    feed_server.set_status("/down.xml", 503)
    env = clean_env(
        FEED_URLS=f"{SAMPLE},{feed_server.url('/down.xml')}",
        DATABASE_PATH=str(tmp_path / "h.sqlite3"),
    )
    code, out = await run("poll", env=env, cwd=tmp_path)
    assert code == 1
    assert "HTTP 503" in out and "15 new" in out


@pytest.mark.slow
async def test_real_bot_process_end_to_end(
    tmp_path: Path, fake_tg: FakeTelegram, feed_server: FeedServer
) -> None:
    feed_server.set_feed(FEED, rss([item(1, "Bolivia Old News", "x")]))
    env = bot_env(fake_tg, feed_server, tmp_path, POLL_INTERVAL_SECONDS="1", LOG_LEVEL="DEBUG")
    log = (tmp_path / "bot.log").open("w")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", env=env, cwd=tmp_path, stdout=log, stderr=log
    )
    try:
        await fake_tg.wait_calls("getUpdates", 1, timeout=30)
        if harness.postgres is None:  # a second process on the same file refuses to start
            code, out = await run(env=env, cwd=tmp_path)
            assert code == 1 and "already running" in out
        else:  # a second one on the same PostgreSQL database stands by
            await stands_by_until_sigterm(env, tmp_path)
        fake_tg.push_update(fake_tg.message_update(42, "/start"))
        await fake_tg.wait_for(lambda: len(fake_tg.sent_to(42)) >= 1, 15)
        fake_tg.push_update(fake_tg.message_update(42, "/topic add bolivia"))
        await fake_tg.wait_for(lambda: len(fake_tg.sent_to(42)) >= 2, 15)
        feed_server.set_feed(
            FEED, rss([item(2, "Bolivia New Item", "y"), item(1, "Bolivia Old News", "x")])
        )
        await fake_tg.wait_for(lambda: len(fake_tg.sent_to(42)) >= 3, 15)
        push = fake_tg.sent_to(42)[-1].params["text"]
        assert "Bolivia New Item" in push and "Old News" not in push
        await sigterm_stops_cleanly(proc)
    finally:
        await kill_if_running(proc)
        log.close()
    storage = await open_storage(database_of(tmp_path / "bot.sqlite3"))
    try:
        _run, quiet = await storage.runs.begin()
        assert quiet is not None, "the stop at SIGTERM is recorded as clean, for the next start"
    finally:
        await storage.close()
    output = (tmp_path / "bot.log").read_text()
    assert fake_tg.token not in output
    assert fake_tg.token.split(":", 1)[1] not in output
    assert "DEBUG" in output


async def test_check_passes_against_the_fakes_and_fails_with_a_bad_token(
    tmp_path: Path, fake_tg: FakeTelegram
) -> None:
    env = clean_env(
        BOT_TOKEN=fake_tg.token,
        TELEGRAM_API_URL=f"http://127.0.0.1:{fake_tg.port}",
        FEED_URLS=str(SAMPLE),
        DATABASE_PATH=str(tmp_path / "c.sqlite3"),
    )
    code, out = await run("check", env=env, cwd=tmp_path)
    assert code == 0, out
    assert "FAIL" not in out and "@headline_test_bot" in out
    env["BOT_TOKEN"] = "123:wrong"
    code, out = await run("check", env=env, cwd=tmp_path)
    assert code == 1 and "refused" in out
    assert "123:wrong" not in out


async def test_first_poll_runs_at_start_up(
    tmp_path: Path, fake_tg: FakeTelegram, feed_server: FeedServer
) -> None:
    """With a five-minute interval, the feed is still read as soon as the bot starts."""
    feed_server.set_feed(FEED, rss([item(1, "Bolivia Old News", "x")]))
    env = bot_env(fake_tg, feed_server, tmp_path, POLL_INTERVAL_SECONDS="300")
    proc = await spawn_bot(env, tmp_path)
    try:
        await fake_tg.wait_for(lambda: feed_server.hits(FEED) >= 1, 20)
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 15)


async def test_sigterm_during_a_slow_poll_stops_within_10_s(
    tmp_path: Path, fake_tg: FakeTelegram, feed_server: FeedServer
) -> None:
    """A feed that takes 60 s to answer does not hold up shutdown."""
    feed_server.set_feed(FEED, rss([item(1, "Slow", "x")]))
    feed_server.set_delay(FEED, 60)
    env = bot_env(fake_tg, feed_server, tmp_path, FETCH_TIMEOUT_SECONDS="50")
    proc = await spawn_bot(env, tmp_path)
    try:
        await fake_tg.wait_for(lambda: feed_server.hits(FEED) >= 1, 20)
        await fake_tg.wait_calls("getUpdates", 1, timeout=20)
        await sigterm_stops_cleanly(proc)
    finally:
        await kill_if_running(proc)
