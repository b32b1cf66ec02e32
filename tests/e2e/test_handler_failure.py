"""A handler that fails on a bug answers the user once and logs the update at ERROR.

The failures are real: the fake Bot API answers getChat or getChatMember with an object
python-telegram-bot cannot parse, so the real handlers raise TypeError mid-way.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from handlers.errors import FAILURE_TEXT
from tests.e2e.harness import item, running_bot
from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram import FakeTelegram

BASE = [item(1, "Bolivia Severs Ties", "x")]
READER, FORUM, MEMBER, GROUP = 801, -1008000000001, 802, -800
CHANNEL = -1008000000002
UNPARSABLE_CHAT = {"id": 5}  # a ChatFullInfo without its required fields
UNPARSABLE_MEMBER = {"status": "member", "user": "not a user"}


def failures(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The ERROR records the error handler wrote."""
    return [r for r in caplog.records if r.name == "handlers" and r.levelno == logging.ERROR]


def uncaught(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """python-telegram-bot's records of an error handler that raised in turn."""
    return [r for r in caplog.records if "while handling the error" in r.getMessage()]


async def test_a_failing_command_replies_once_and_logs_the_update(
    fake_tg: FakeTelegram,
    feed_server: FeedServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    fake_tg.add_chat(CHANNEL, "channel", title="Some Channel", username="somechan")
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        fake_tg.respond("getChat", UNPARSABLE_CHAT)
        update = fake_tg.push_update(fake_tg.message_update(READER, "/topic @somechan add x"))
        await bot.wait_sent(READER, 1)
        await bot.quiet()
        assert bot.texts(READER) == [FAILURE_TEXT]
        [record] = failures(caplog)
        message = record.getMessage()
        assert str(update["update_id"]) in message and str(READER) in message
        assert record.exc_info is not None and record.exc_info[0] is TypeError
        assert "Traceback" in caplog.text and "ChatFullInfo" in caplog.text
        assert uncaught(caplog) == []
        # the bot goes on answering
        fake_tg.clear_faults()
        reply = await bot.say(READER, "/latest 1")
        assert "Bolivia Severs Ties" in reply[-1].params["text"]


async def test_the_reply_goes_to_the_forum_thread_of_the_update(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    fake_tg.add_chat(FORUM, "supergroup", title="Forum", is_forum=True)
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        fake_tg.respond("getChatMember", UNPARSABLE_MEMBER)  # the group-admin check fails
        calls = await bot.say(
            FORUM, "/topic add lithium", from_user=MEMBER, message_thread_id=7,
            is_topic_message=True,
        )  # fmt: skip
        await bot.quiet()
        assert [c.params["text"] for c in fake_tg.sent_to(FORUM)] == [FAILURE_TEXT]
        assert calls[-1].params.get("message_thread_id") == 7


async def test_a_failing_button_answers_its_callback_query(
    fake_tg: FakeTelegram,
    feed_server: FeedServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    fake_tg.add_chat(GROUP, "group", title="Readers")
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        fake_tg.respond("getChatMember", UNPARSABLE_MEMBER)
        update = fake_tg.push_update(fake_tg.callback_update(GROUP, 1, "t+:lithium", MEMBER))
        query_id = update["callback_query"]["id"]
        await fake_tg.wait_for(lambda: query_id in fake_tg.callback_answers)
        await bot.quiet()
        assert fake_tg.callback_answers[query_id]["text"] == FAILURE_TEXT
        assert len(fake_tg.calls_of("answerCallbackQuery")) == 1
        assert fake_tg.sent_to(GROUP) == [], "the answer is the only reply"
        [record] = failures(caplog)
        assert str(update["update_id"]) in record.getMessage()
        assert str(GROUP) in record.getMessage()
        assert record.exc_info is not None
        assert uncaught(caplog) == []


async def test_a_reply_that_cannot_be_delivered_raises_nothing_more(
    fake_tg: FakeTelegram,
    feed_server: FeedServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    fake_tg.add_chat(CHANNEL, "channel", title="Some Channel", username="somechan")
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        fake_tg.respond("getChat", UNPARSABLE_CHAT)
        fake_tg.block(READER)
        fake_tg.push_update(fake_tg.message_update(READER, "/topic @somechan add x"))
        await fake_tg.wait_for(lambda: any(c.status == 403 for c in fake_tg.calls))
        await bot.quiet()
        assert len(failures(caplog)) == 1
        assert uncaught(caplog) == []
        assert len(fake_tg.calls_of("sendMessage")) == 1, "tried once, not again"
