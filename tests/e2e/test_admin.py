"""Admins: /broadcast with confirmation, progress and cancel; /stats; feed-health alerts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bot.delivery.limiter import Limits
from storage.models import ChatKind
from tests.e2e.harness import FEED, Harness, item, running_bot
from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram import FakeTelegram

ADMIN = 900
BASE = [item(1, "Bolivia Severs Ties", "x")]


def buttons(call: Any) -> list[dict[str, Any]]:
    """The inline buttons of a sent message."""
    markup = call.params.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


async def press(bot: Harness, chat_id: int, message_id: int, data: str, user: int = ADMIN) -> None:
    """Press an inline button and wait for the bot to answer it."""
    before = len(bot.fake.calls_of("answerCallbackQuery"))
    bot.fake.push_update(bot.fake.callback_update(chat_id, message_id, data, from_user=user))
    await bot.fake.wait_calls("answerCallbackQuery", before + 1)


async def subscribers(bot: Harness, private: range, groups: range = range(0)) -> None:
    """Register readers through /start and groups by adding the bot to them."""
    for chat_id in private:
        await bot.say(chat_id, "/start")
    for chat_id in groups:
        bot.fake.add_chat(chat_id, "group")
        bot.fake.push_update(bot.fake.my_chat_member_update(chat_id, ADMIN, "left", "member"))
    for _ in range(100):  # until the bot has registered every group it was added to
        known = [await bot.services.chats.get(chat_id) for chat_id in groups]
        if all(chat is not None and chat.active for chat in known):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the groups were not registered")


async def draft(bot: Harness, text: str, *, replies: int = 2) -> tuple[int, list[dict[str, Any]]]:
    """Send /broadcast and return the confirmation message id and its buttons."""
    calls = await bot.say(ADMIN, text, replies=replies)
    confirm = calls[-1]
    return confirm.result["message_id"], buttons(confirm)


async def test_broadcast_confirm_once_with_progress(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with running_bot(
        fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE, admin_ids=[ADMIN]
    ) as bot:
        await bot.say(ADMIN, "/start")
        await subscribers(bot, range(1, 21), range(-30, -25))
        fake_tg.block(7)
        message_id, keys = await draft(bot, "/broadcast <b>Hello</b> everyone")
        assert "Send to 26 chats" in keys[0]["text"]  # 20 readers, 5 groups, the admin
        assert keys[1]["text"].endswith("Cancel")
        assert not any("Hello" in t for t in bot.texts(1)), "nothing before confirmation"
        await press(bot, ADMIN, message_id, keys[0]["callback_data"])
        await press(bot, ADMIN, message_id, keys[0]["callback_data"])  # twice: no effect
        for chat_id in [*range(1, 21), *range(-30, -25)]:
            if chat_id != 7:
                await bot.wait_sent(chat_id, 2 if chat_id > 0 else 1)
        await fake_tg.wait_for(
            lambda: "finished" in (fake_tg.message(ADMIN, message_id).html or ""), 10
        )
        report = fake_tg.message(ADMIN, message_id).html or ""
        assert "Sent: 25" in report and "blocked: 1" in report
        for chat_id in range(1, 21):
            assert sum("Hello" in t for t in bot.texts(chat_id)) == (0 if chat_id == 7 else 1)


async def test_broadcast_cancel_and_refusals(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with running_bot(
        fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE, admin_ids=[ADMIN]
    ) as bot:
        await subscribers(bot, range(1, 4))
        refused = await bot.say(5, "/broadcast hi")
        assert "admins" in refused[-1].params["text"]
        await bot.say(ADMIN, "/start")
        message_id, keys = await draft(bot, "/broadcast users Never sent")
        # a non-admin pressing the button changes nothing
        await press(bot, ADMIN, message_id, keys[0]["callback_data"], user=5)
        await press(bot, ADMIN, message_id, keys[1]["callback_data"])
        await press(bot, ADMIN, message_id, keys[0]["callback_data"])  # stale confirm
        await bot.quiet()
        assert not any("Never sent" in t for t in bot.texts(1))
        bad = await bot.say(ADMIN, "/broadcast <b>unclosed", replies=1)
        assert "Not queued" in bad[-1].params["text"]
        fake_tg.violations.clear()  # the refused preview was the validation


async def test_broadcast_audience_and_copy_message(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with running_bot(
        fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE, admin_ids=[ADMIN]
    ) as bot:
        await bot.say(ADMIN, "/start")
        await subscribers(bot, range(1, 3), range(-12, -10))
        source = await fake_tg.send_text(ADMIN, "A photo caption, say")
        source_id = source["message"]["message_id"]
        calls = await bot.say(ADMIN, "/broadcast groups", reply_to=source_id, replies=2)
        confirm = calls[-1]
        assert "Send to 2 chats" in buttons(confirm)[0]["text"]
        await press(bot, ADMIN, confirm.result["message_id"], buttons(confirm)[0]["callback_data"])
        await bot.wait_sent(-12, 1)
        await bot.wait_sent(-11, 1)
        copies = [c for c in fake_tg.calls_of("copyMessage") if c.chat_id in (-12, -11)]
        assert {c.params["message_id"] for c in copies} == {source_id}
        await bot.quiet()
        assert len(bot.texts(1)) == 1, "users were not in the audience"


async def test_broadcast_waits_out_429_and_loses_nothing(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with running_bot(
        fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE, admin_ids=[ADMIN]
    ) as bot:
        await bot.say(ADMIN, "/start")
        await subscribers(bot, range(1, 11))
        for chat_id in (3, 4):
            fake_tg.flood(chat_id, retry_after=1, times=2)
        message_id, keys = await draft(bot, "/broadcast users Flood test")
        await press(bot, ADMIN, message_id, keys[0]["callback_data"])
        for chat_id in range(1, 11):
            await bot.wait_sent(chat_id, 2, timeout=15)
            assert sum("Flood test" in t for t in bot.texts(chat_id)) == 1


async def test_stats_for_admins(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with running_bot(
        fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE, admin_ids=[ADMIN]
    ) as bot:
        await bot.say(1, "/start")
        await bot.say(1, "/topic add bolivia")
        stats = (await bot.say(ADMIN, "/stats"))[-1].params["text"]
        assert "Subscriptions</b>: 1" in stats and "bolivia (1)" in stats
        assert feed_server.url(FEED) in stats
        refused = (await bot.say(1, "/stats"))[-1].params["text"]
        assert "admins" in refused
        scopes = [c.params.get("scope") for c in fake_tg.calls_of("setMyCommands")]
        assert {"type": "chat", "chat_id": ADMIN} in scopes


async def test_feed_alert_once_and_recovery_once(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with running_bot(
        fake_tg,
        feed_server,
        tmp_path / "db.sqlite3",
        items=BASE,
        admin_ids=[ADMIN],
        feed_alert_after_seconds=1,
        limits=Limits.unlimited(),
    ) as bot:
        await bot.say(ADMIN, "/start")
        feed_server.set_status(FEED, 500)
        await fake_tg.wait_for(
            lambda: any("Feed failing" in t for t in bot.texts(ADMIN)), timeout=15
        )
        url = feed_server.url(FEED)
        failing = await bot.services.feeds.get(url)
        assert failing is not None
        failures = failing.consecutive_failures

        async def failed_again() -> bool:
            state = await bot.services.feeds.get(url)
            return state is not None and state.consecutive_failures > failures

        await bot.wait_until(failed_again, 15)  # another failed poll: no second alert
        await bot.quiet()
        assert sum("Feed failing" in t for t in bot.texts(ADMIN)) == 1
        bot.publish(item(2, "Back again", "x"))
        await fake_tg.wait_for(lambda: any("recovered" in t for t in bot.texts(ADMIN)), timeout=15)
        recovered = await bot.services.feeds.get(url)
        assert recovered is not None and recovered.last_attempt_at is not None
        recovered_at = recovered.last_attempt_at

        async def polled_again() -> bool:
            state = await bot.services.feeds.get(url)
            return state is not None and (state.last_attempt_at or 0) > recovered_at

        await bot.wait_until(polled_again, 15)  # another good poll: no second notice
        await bot.quiet()
        assert sum("recovered" in t for t in bot.texts(ADMIN)) == 1


async def test_broadcast_to_300_chats_and_10_groups_at_the_limit(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    """Each chat once, no 429 from a fake that enforces Telegram's limits, near 30/s."""
    fake_tg.enforce_limits = True
    db = tmp_path / "db.sqlite3"
    async with running_bot(
        fake_tg, feed_server, db, items=BASE, admin_ids=[ADMIN], limits=Limits()
    ) as bot:
        await bot.say(ADMIN, "/start")
        chats = bot.services.chats
        readers, groups = range(10_001, 10_301), range(-20_010, -20_000)
        for chat_id in readers:
            await chats.register(chat_id, kind=ChatKind.PRIVATE)
        for chat_id in groups:
            await chats.register(chat_id, kind=ChatKind.GROUP)
        message_id, keys = await draft(bot, "/broadcast <b>To everyone</b>")
        assert "Send to 311 chats" in keys[0]["text"]
        await press(bot, ADMIN, message_id, keys[0]["callback_data"])
        everyone = [*readers, *groups]
        await fake_tg.wait_for(lambda: all(fake_tg.sent_to(c) for c in everyone), 40)
        await bot.quiet()
    sends = sorted(c.at for c in fake_tg.calls_of("sendMessage") if c.chat_id in everyone)
    assert all(len(fake_tg.sent_to(c)) == 1 for c in everyone)
    assert fake_tg.too_many_requests == 0
    assert len(sends) == len(everyone)  # benchmarks/delivery.py prints the rate against 30/s


async def test_replies_and_pushes_are_not_starved_by_a_broadcast(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    fake_tg.enforce_limits = True
    async with running_bot(
        fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE, admin_ids=[ADMIN],
        limits=Limits(),
    ) as bot:  # fmt: skip
        await bot.say(ADMIN, "/start")
        reader = 55
        await bot.say(reader, "/start")
        await bot.say(reader, "/topic add lithium")
        for chat_id in range(30_001, 30_301):
            await bot.services.chats.register(chat_id, kind=ChatKind.PRIVATE)
        message_id, keys = await draft(bot, "/broadcast A long announcement")
        await press(bot, ADMIN, message_id, keys[0]["callback_data"])
        await fake_tg.wait_for(lambda: len(fake_tg.calls_of("sendMessage")) > 60, 10)
        reply = await bot.say(reader, "/latest 1")
        assert "Bolivia" in reply[-1].params["text"]
        # the broadcast (10 s at 30/s) was still running when the reply went out
        assert not all(fake_tg.sent_to(c) for c in range(30_001, 30_301)), "the reply went first"
        bot.publish(item(3, "Lithium Mid Broadcast", "x"))
        await bot.poll()
        await fake_tg.wait_for(
            lambda: any("Lithium Mid Broadcast" in t for t in bot.texts(reader)), 5
        )
        pending = await bot.services.outbox.backlog()
        assert pending["broadcast"] > 0, "the push overtook the running broadcast"
        assert fake_tg.too_many_requests == 0
