"""The send path end to end: a flood of /start against Telegram's limits, and the outbox's
own way of posting (a pre-encoded form through python-telegram-bot's public BaseRequest.post).

The flood runs print their figures (replies, 429s, rate); `pytest -s` shows them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from telegram import LinkPreviewOptions
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)

from bot.delivery.http import AiohttpRequest, encode_form
from bot.delivery.limiter import Limits
from bot.delivery.policy import retry_after_seconds
from storage.models import ChatKind
from tests.e2e.harness import item, running_bot
from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram import FakeTelegram

BASE = [item(1, "Bolivia Severs Ties", "x")]
TELEGRAM_RATE = 30.0
READERS = range(70_001, 70_301)


@dataclass(frozen=True)
class Flood:
    """What one flood of /start came to."""

    replies: dict[int, int]  # chat -> replies it received
    injected: int  # 429s the fake answered at random
    over_limit: int  # 429s for requests past Telegram's limits (our pacing's fault)
    seconds: float  # first to last reply, as the fake received them
    rate: float  # (replies - 1) / seconds: inflated by the first second's full window
    steady: float  # 30 / the mean time from each reply to the 30th after it

    def show(self, name: str) -> None:
        print(
            f"\n{name}: {sum(self.replies.values())} replies to {len(self.replies)} chats in "
            f"{self.seconds:.1f} s: {self.rate:.1f} msg/s first to last, {self.steady:.1f} "
            f"msg/s steady ({self.steady / TELEGRAM_RATE:.3f} of 30/s); "
            f"429s: {self.injected} injected, {self.over_limit} over the limits"
        )


async def flood_of_starts(
    fake: FakeTelegram, feeds: FeedServer, db: Path, *, floods: float = 0.0
) -> Flood:
    """Every reader sends /start at once to a bot keeping its default limits."""
    fake.enforce_limits = True
    async with running_bot(fake, feeds, db, items=BASE, limits=Limits()) as bot:
        await asyncio.sleep(1.1)  # the limiter starts with a full window (see initialize)
        if floods:
            fake.inject_floods(floods, retry_after=1, seed=7)
        for reader in READERS:
            fake.push_update(fake.message_update(reader, "/start"))
        await fake.wait_for(lambda: all(fake.sent_to(r) for r in READERS), 90)
        await bot.quiet()  # a second reply, were one sent, would show by now
        fake.inject_floods(0.0)
    sends = sorted(c.at for r in READERS for c in fake.sent_to(r))
    seconds = sends[-1] - sends[0]
    apart = [later - earlier for earlier, later in zip(sends, sends[30:], strict=False)]
    return Flood(
        replies={r: len(fake.sent_to(r)) for r in READERS},
        injected=fake.injected_floods,
        over_limit=fake.too_many_requests,
        seconds=seconds,
        rate=(len(sends) - 1) / seconds,
        steady=30 / (sum(apart) / len(apart)),
    )


@pytest.mark.slow
async def test_300_starts_under_random_429s_each_get_one_reply(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    flood = await flood_of_starts(fake_tg, feed_server, tmp_path / "db.sqlite3", floods=0.1)
    flood.show("300 /start, 10 % of sends answered 429")
    assert flood.injected >= 15, "the fake did answer 429s"
    assert set(flood.replies.values()) == {1}, {c: n for c, n in flood.replies.items() if n != 1}
    assert flood.over_limit == 0


@pytest.mark.slow
async def test_300_starts_draw_no_429_at_nearly_telegrams_rate(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    flood = await flood_of_starts(fake_tg, feed_server, tmp_path / "db.sqlite3")
    flood.show("300 /start")
    assert set(flood.replies.values()) == {1}
    assert flood.over_limit == 0, "our own pacing drew flood control"
    # benchmarks/limits.py prints the steady rate against Telegram's 30/s (target 0.95)


# ---------------------------------------------------------------- the outbox's form posts


async def test_an_outbox_push_is_the_body_the_library_would_send(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    """A push goes out through Delivery's own encoding; the same message sent with
    python-telegram-bot's send_message reaches the fake as the very same parameters."""
    reader, twin = 71_001, 71_002
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        await bot.say(reader, "/start")
        await bot.say(reader, "/topic add bolivia")
        count = len(bot.texts(reader))
        # two headlines: one message with its link previews turned off
        bot.publish(item(2, 'Bolivia & <Peru> sign a "deal"', "x"), item(3, "Bolivia votes"))
        await bot.poll()
        (push,) = (await bot.wait_sent(reader, count + 1))[count:]
        await bot.app.bot.send_message(
            twin,
            push.params["text"],
            parse_mode="HTML",
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )
        (library,) = bot.fake.sent_to(twin)
    assert push.params.pop("chat_id") == reader
    assert library.params.pop("chat_id") == twin
    assert push.params == library.params
    assert push.params["link_preview_options"] == {"is_disabled": True}


def test_encode_form_encodes_as_python_telegram_bot_does() -> None:
    body = encode_form(
        {
            "chat_id": -1001,
            "text": "a & b = <c> ✓",
            "parse_mode": "HTML",
            "message_thread_id": None,
            "link_preview_options": {"is_disabled": True},
            "allow_paid_broadcast": True,
        }
    )
    assert body == (
        b"chat_id=-1001&text=a+%26+b+%3D+%3Cc%3E+%E2%9C%93&parse_mode=HTML"
        b"&link_preview_options=%7B%22is_disabled%22%3A+true%7D&allow_paid_broadcast=true"
    )


async def test_post_form_answers_and_fails_as_the_library_does(fake_tg: FakeTelegram) -> None:
    request = AiohttpRequest()
    await request.initialize()

    async def send(chat_id: int, text: str = "hello", **extra: Any) -> Any:
        body = encode_form({"chat_id": chat_id, "text": text, "parse_mode": "HTML", **extra})
        return await request.post_form(fake_tg.url("sendMessage"), body)

    try:
        sent = await send(72_001, "<b>hi</b>")
        assert sent["chat"]["id"] == 72_001 and sent["text"] == "hi"
        # parallel posts each carry their own body
        answers = await asyncio.gather(*(send(72_100 + n, f"n{n}") for n in range(20)))
        assert [a["text"] for a in answers] == [f"n{n}" for n in range(20)]
        # a plain post with no body is still a plain post
        me = await request.post(fake_tg.url("getMe"))
        assert isinstance(me, dict) and me["is_bot"]

        fake_tg.block(72_002)
        with pytest.raises(Forbidden, match="blocked"):
            await send(72_002)
        fake_tg.flood(72_003, retry_after=4)
        with pytest.raises(RetryAfter) as flood:
            await send(72_003)
        assert retry_after_seconds(flood.value) == 4
        fake_tg.migrate_chat(-72_004, -100_72_004)
        with pytest.raises(ChatMigrated) as moved:
            await send(-72_004)
        assert moved.value.new_chat_id == -100_72_004
        with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
            await send(72_005, "<blink>no</blink>")
        fake_tg.fail("sendMessage", 502)
        with pytest.raises(NetworkError, match="Bad Gateway"):
            await send(72_006)
        with pytest.raises(InvalidToken):
            await request.post_form(
                fake_tg.url("sendMessage", "1:wrong"), encode_form({"chat_id": 1, "text": "x"})
            )
    finally:
        await request.shutdown()
    assert not [v for v in fake_tg.violations if "blink" not in v]
    fake_tg.violations.clear()  # the refused HTML is recorded as the bot's fault: on purpose


async def test_a_reply_under_flood_wait_holds_up_only_its_own_chat(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    """Replies to chats under a long flood wait do not hold up replies to other chats."""
    flooded, other = 73_001, 73_002
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        await bot.say(flooded, "/start")
        fake_tg.flood(flooded, retry_after=2)
        fake_tg.push_update(fake_tg.message_update(flooded, "/help"))
        await fake_tg.wait_for(lambda: any(c.status == 429 for c in fake_tg.calls))
        await bot.say(other, "/help")
        assert len(bot.fake.sent_to(flooded)) == 1, "the other chat's reply did not wait"
        await bot.wait_sent(flooded, 2, timeout=10)
        to_flooded = [c for c in fake_tg.calls_of("sendMessage") if c.chat_id == flooded]
        refused = next(c for c in to_flooded if c.status == 429)
        assert to_flooded[-1].at - refused.at >= 2.0, "retry_after was respected"
        assert len(bot.fake.sent_to(flooded)) == 2


# ---------------------------------------------------------------- the outbox's resends


async def _subscribed(bot: Any, reader: int) -> int:
    await bot.say(reader, "/start")
    await bot.say(reader, "/topic add bolivia")
    return len(bot.texts(reader))


async def test_refused_markup_is_resent_once_as_plain_text(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    reader = 74_001
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        count = await _subscribed(bot, reader)
        fake_tg.fail(
            "sendMessage",
            400,
            description='Bad Request: can\'t parse entities: Unsupported start tag "x" at byte '
            "offset 0",
        )
        bot.publish(item(2, "Bolivia Plain Story", "x"))
        await bot.poll()
        (push,) = (await bot.wait_sent(reader, count + 1))[count:]
        await bot.quiet()
        assert "parse_mode" not in push.params
        assert "Bolivia Plain Story" in push.params["text"] and "<b>" not in push.params["text"]
        assert len(bot.fake.sent_to(reader)) == count + 1
        (row,) = await bot.services.storage.store.fetchall(
            "SELECT status FROM outbox WHERE chat_id = ?", (reader,)
        )
        assert row["status"] == "sent"


async def test_a_push_to_a_vanished_forum_thread_goes_to_the_chat(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    group = -1_000_000_074_002
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        fake_tg.add_chat(group, "supergroup", title="Forum", is_forum=True)
        chats = bot.services.chats
        await chats.register(group, kind=ChatKind.SUPERGROUP, title="Forum", is_forum=True)
        await chats.add_topics(group, "bolivia", thread_id=7)
        fake_tg.fail("sendMessage", 400, description="Bad Request: message thread not found")
        bot.publish(item(2, "Bolivia Thread Story", "x"))
        await bot.poll()
        (push,) = await bot.wait_sent(group, 1)
        refused = [c for c in fake_tg.calls_of("sendMessage") if c.status == 400]
        assert [c.params.get("message_thread_id") for c in refused] == [7]
        assert "message_thread_id" not in push.params
        assert "Bolivia Thread Story" in push.params["text"]


async def test_a_message_telegram_will_never_take_is_failed_not_retried(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    reader = 74_003
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        count = await _subscribed(bot, reader)
        tries = len(fake_tg.calls_of("sendMessage"))
        fake_tg.fail("sendMessage", 400, description="Bad Request: message is too long")
        bot.publish(item(2, "Bolivia Long Story", "x"))
        await bot.poll()
        await fake_tg.wait_for(lambda: len(fake_tg.calls_of("sendMessage")) > tries, 5)
        await bot.quiet()
        assert len(fake_tg.calls_of("sendMessage")) == tries + 1
        assert len(bot.texts(reader)) == count
        (row,) = await bot.services.storage.store.fetchall(
            "SELECT status, last_error FROM outbox WHERE chat_id = ?", (reader,)
        )
        assert row["status"] == "failed" and "too long" in row["last_error"]


async def test_an_undelivered_reply_is_logged_once(
    fake_tg: FakeTelegram,
    feed_server: FeedServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A reply Telegram refuses is one WARNING with the chat id, not one per layer."""
    reader = 73_101
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        await bot.say(reader, "/start")
        fake_tg.block(reader)
        caplog.clear()
        fake_tg.push_update(fake_tg.message_update(reader, "/help"))
        await fake_tg.wait_for(lambda: any("not delivered" in r.message for r in caplog.records))
        await bot.quiet()
    lines = [r for r in caplog.records if r.levelname == "WARNING" and str(reader) in r.message]
    assert len(lines) == 1, [r.message for r in lines]
    assert "reply not delivered" in lines[0].message
