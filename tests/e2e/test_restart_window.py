"""A restart and Telegram's overall limit: a run that stopped a moment ago may have sent a
second's worth of messages, which Telegram counts with the new run's. The new run's window
starts full as of the old run's clean stop, or as of its own start after a crash."""

from __future__ import annotations

import time
from pathlib import Path

from bot.delivery.limiter import Limits
from storage import open_storage
from tests.e2e.harness import database_of, running_bot
from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram import FakeTelegram

READER = 301


async def test_a_clean_restart_waits_only_for_what_is_left_of_the_last_runs_second(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    db = tmp_path / "db.sqlite3"
    async with running_bot(fake_tg, feed_server, db, limits=Limits()) as bot:
        await bot.say(READER, "/start")
    stopped = time.monotonic()  # the run recorded its clean stop before this
    async with running_bot(fake_tg, feed_server, db, limits=Limits()) as bot:
        limiter = bot.services.limiter
        filled = set(limiter._overall.ends)
        assert filled and max(filled) <= stopped + 0.05, "full as of the clean stop"
        assert max(filled) < limiter._full_at
    crashed = await open_storage(database_of(db))
    await crashed.runs.begin()  # a run that never records its stop: it crashed
    await crashed.close()
    async with running_bot(fake_tg, feed_server, db, limits=Limits()) as bot:
        limiter = bot.services.limiter
        assert set(limiter._overall.ends) == {limiter._full_at}, "full as of this start"
