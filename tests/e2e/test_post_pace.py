"""Pace and safety of the post format: a channel's posts stay within its window (never a
429), in order, while other chats' pushes and every reply go on; and the real `python -m bot`
killed with SIGKILL while a channel's posts go out loses none and repeats at most one."""

from __future__ import annotations

import re
from pathlib import Path

from bot.delivery.limiter import Limits
from tests.e2e.harness import FEED, item, running_bot
from tests.e2e.test_crash import BotProcess
from tests.fakes.feed_server import FeedServer, rss
from tests.fakes.telegram import Call, FakeTelegram

CHANNEL = -1001000000002
READER = 402
WINDOW = 3.0  # the channel's window in this test: 20 messages in any 3 s (Telegram: 61 s)


def title_of(call: Call) -> str:
    text = str(call.params.get("caption") or call.params.get("text") or "")
    found = re.search(r"Bolivia item \d+", text)
    return found.group(0) if found else ""


def news(n: int) -> dict[str, object]:
    return item(n, f"Bolivia item {n}", f"Summary {n}.")


async def test_a_channels_posts_keep_its_window_without_holding_up_others(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    limits = Limits(group=20, group_period=WINDOW)
    async with FakeTelegram(enforce_limits=True, group_limits=((20, WINDOW - 0.1),)) as fake:
        base = [item(1, "Bolivia Severs Ties", "x")]
        async with running_bot(
            fake, feed_server, tmp_path / "db.sqlite3", items=base, limits=limits
        ) as bot:
            fake.add_chat(CHANNEL, "channel", title="Wire")
            await bot.say(CHANNEL, "/topic add bolivia")
            await bot.say(CHANNEL, "/format post")
            await bot.say(READER, "/topic add bolivia")
            await bot.quiet()
            channel_before = len(fake.sent_to(CHANNEL))
            reader_before = len(fake.sent_to(READER))
            items = [news(n) for n in range(2, 47)]  # 45 headlines: three windows' worth
            bot.publish(*reversed(items))
            await bot.poll()
            # the reader's push comes while the channel's posts wait for their window
            await bot.wait_sent(READER, reader_before + 1)
            await bot.wait_sent(CHANNEL, channel_before + 21, timeout=20)
            asked = fake.calls[-1].at
            replies = await bot.say(READER, "/latest 1")
            answered = replies[-1].at
            await bot.wait_sent(CHANNEL, channel_before + 45, timeout=30)
            await bot.quiet()
            posts = fake.sent_to(CHANNEL)[channel_before:]
            assert [title_of(c) for c in posts] == [i["title"] for i in items]
            assert fake.too_many_requests == 0
            assert fake.violations == []
            times = [c.at for c in posts]
            busiest = max(sum(1 for t in times if s <= t < s + WINDOW - 0.1) for s in times)
            assert busiest <= 20
            [push] = fake.sent_to(READER)[reader_before : reader_before + 1]
            assert push.at < posts[20].at, "the reader's push did not wait for the channel"
            assert answered - asked < 1.0 and answered < posts[-1].at, "a reply waits for none"


async def test_sigkill_while_a_channels_posts_go_out_loses_none_repeats_at_most_one(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    feed_server.set_feed(FEED, rss([item(1, "Bolivia Severs Ties", "x")]))
    process = BotProcess(fake_tg, feed_server, tmp_path)
    fake_tg.add_chat(CHANNEL, "channel", title="Wire")
    items = [news(n) for n in range(2, 14)]  # 12 posts, all inside the channel's window
    try:
        await process.start()
        await process.wait_ready(0)
        for command in ("/topic add bolivia", "/format post"):
            before = len(fake_tg.sent_to(CHANNEL))
            fake_tg.push_update(fake_tg.message_update(CHANNEL, command))
            await fake_tg.wait_for(lambda n=before: len(fake_tg.sent_to(CHANNEL)) > n, 20)
        before = len(fake_tg.sent_to(CHANNEL))
        fake_tg.delay("sendMessage", 0.3)  # posts go out one by one, slowly enough to kill
        feed_server.set_feed(FEED, rss([*reversed(items), item(1, "Bolivia Severs Ties", "x")]))
        kills = 0
        for wanted in (3, 7):
            await fake_tg.wait_for(lambda w=wanted: len(fake_tg.sent_to(CHANNEL)) >= before + w, 30)
            polls = len(fake_tg.calls_of("getUpdates"))
            await process.kill()  # SIGKILL, in the middle of the channel's posts
            kills += 1
            await process.start()
            await process.wait_ready(polls)
        await fake_tg.wait_for(
            lambda: (
                {title_of(c) for c in fake_tg.sent_to(CHANNEL)[before:]}
                >= {str(i["title"]) for i in items}
            ),
            60,
        )
        fake_tg.delay("sendMessage", 0)
        posted = [title_of(c) for c in fake_tg.sent_to(CHANNEL)[before:]]
        repeats = len(posted) - len(set(posted))
        assert repeats <= kills, posted
        # in order: each repeat is the post in flight, sent again right after the restart
        firsts = sorted(set(posted), key=posted.index)
        assert firsts == [str(i["title"]) for i in items]
    finally:
        await process.stop()
