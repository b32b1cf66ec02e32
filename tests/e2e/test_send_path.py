"""Messages sent outside a handler's reply go by the send path: one line when refused.

The note to whoever added the bot to a channel and the feed alerts to admins are judged by
the send policy in the limiter's reply path and logged there once, never as an ERROR; the
rest of the work (registering the channel, alerting the other admins) goes on.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.delivery.limiter import Limits
from tests.e2e.harness import FEED, item, running_bot
from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram import FakeTelegram

CHANNEL, OWNER = -1001234567890, 301
ADMIN, AWAY = 900, 901
NOT_STARTED = "Forbidden: bot can't initiate conversation with a user"


def warnings_and_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_channel_added_by_someone_who_never_started_the_bot(
    fake_tg: FakeTelegram,
    feed_server: FeedServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_tg.add_chat(CHANNEL, "channel", title="News Channel", username="newschan")
    fake_tg.set_admins(CHANNEL, [OWNER])
    fake_tg.set_bot_admin(CHANNEL, True)
    fake_tg.block(OWNER, NOT_STARTED)
    items = [item(1, "Bolivia Severs Ties", "x")]
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=items) as bot:
        caplog.clear()
        fake_tg.push_update(fake_tg.my_chat_member_update(CHANNEL, OWNER, "left", "administrator"))
        await fake_tg.wait_for(lambda: any(c.status == 403 for c in fake_tg.calls))
        await bot.quiet()
        chat = await bot.services.chats.get(CHANNEL)
        assert chat is not None and chat.active
        posted = await bot.say(CHANNEL, "/topic add bolivia")
        assert "Following" in posted[-1].params["text"]
    assert len(fake_tg.calls_of("sendMessage")) == 2, "the note tried once, then the reply"
    [record] = warnings_and_errors(caplog)
    assert record.name == "bot.delivery.limiter"
    assert f"chat {OWNER}" in record.getMessage() and NOT_STARTED in record.getMessage()
    assert not any(r.exc_info for r in caplog.records)
    assert [r for r in caplog.records if NOT_STARTED in r.getMessage()] == [record], "once"


async def test_a_feed_alert_refused_by_one_admin_still_reaches_the_other(
    fake_tg: FakeTelegram,
    feed_server: FeedServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    fake_tg.block(AWAY)
    async with running_bot(
        fake_tg,
        feed_server,
        tmp_path / "db.sqlite3",
        items=[item(1, "Bolivia Severs Ties", "x")],
        admin_ids=[AWAY, ADMIN],
        feed_alert_after_seconds=0,
        limits=Limits.unlimited(),
    ) as bot:
        await bot.say(ADMIN, "/start")
        caplog.clear()
        feed_server.set_status(FEED, 500)
        await bot.poll()
        await fake_tg.wait_for(lambda: any("Feed failing" in t for t in bot.texts(ADMIN)), 15)
        await bot.quiet()
    refused = [r for r in warnings_and_errors(caplog) if f"chat {AWAY}" in r.getMessage()]
    assert [r.name for r in refused] == ["bot.delivery.limiter"]
    assert "blocked" in refused[0].getMessage()
    assert sum("blocked by the user" in r.getMessage() for r in caplog.records) == 1, "once"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
