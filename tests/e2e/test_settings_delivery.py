"""Each chat's settings at work, through the fake Bot API, with a clock the test moves.

Digests at local times (La Paz; Madrid across its change of clocks), quiet hours, a digest
missed while the bot was down, the compact format, link previews, and the More button that
pages through exactly the headlines a message holds.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.app import build_application, running
from bot.delivery.limiter import Limits
from tests.e2e.harness import FEED, Harness, _wait_polled, item, make_settings
from tests.fakes.feed_server import FeedServer, rss
from tests.fakes.telegram import Call, FakeTelegram

ALICE = 101
BASE = [item(1, "Bolivia Severs Ties", "x")]
LA_PAZ = ZoneInfo("America/La_Paz")
MADRID = ZoneInfo("Europe/Madrid")


class Clock:
    """Epoch seconds that run with real time from a moment the test chooses and moves."""

    def __init__(self, start: float) -> None:
        self.offset = start - time.time()

    def __call__(self) -> float:
        return time.time() + self.offset

    def set(self, moment: float) -> None:
        self.offset = moment - time.time()


def local(zone: ZoneInfo, *args: int) -> float:
    """Epoch seconds of a local wall time."""
    return datetime(*args, tzinfo=zone).timestamp()  # type: ignore[misc]


@asynccontextmanager
async def bot_at(
    fake: FakeTelegram,
    feeds: FeedServer,
    db: Path,
    clock: Clock,
    *,
    items: Sequence[dict[str, Any]] = BASE,
) -> AsyncIterator[Harness]:
    """The real bot, as tests/e2e/harness.py's running_bot starts it, on `clock`."""
    feeds.set_feed(FEED, rss(list(items)))
    app = build_application(
        make_settings(fake, feeds, db, poll_interval_seconds=3600),
        limits=Limits.unlimited(),
        clock=clock,
    )
    async with running(app) as services:
        harness = Harness(fake, feeds, app, services)
        harness.items = [dict(i) for i in items]
        await fake.wait_for(lambda: feeds.hits(FEED) >= 1, 10)
        await _wait_polled(services)
        yield harness


async def follow(bot: Harness, *commands: str, chat_id: int = ALICE) -> None:
    await bot.say(chat_id, "/start")
    for command in ("/topic add bolivia, lithium", *commands):
        await bot.say(chat_id, command)


async def move_to(bot: Harness, clock: Clock, moment: float) -> None:
    """Set the clock and let delivery look at the outbox."""
    clock.set(moment)
    bot.services.delivery.wake()
    await bot.quiet()


def pushes(bot: Harness, since: int, chat_id: int = ALICE) -> list[Call]:
    return bot.fake.sent_to(chat_id)[since:]


def news(n: int, title: str) -> dict[str, Any]:
    return item(n, title, f"Summary of story {n}.")


async def test_la_paz_digest_holds_until_eight_then_sends_one_message_grouped_by_topic(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    clock = Clock(local(LA_PAZ, 2026, 3, 10, 20, 0))
    async with bot_at(fake_tg, feed_server, tmp_path / "db.sqlite3", clock) as bot:
        await follow(bot, "/timezone America/La_Paz", "/digest 08:00")
        before = len(bot.fake.sent_to(ALICE))
        bot.publish(
            news(2, "Bolivia votes on a new charter"),
            news(3, "Lithium price climbs again"),
            news(4, "Bolivia and Chile talk lithium"),
        )
        await bot.poll()
        await bot.quiet()
        await move_to(bot, clock, local(LA_PAZ, 2026, 3, 11, 3, 0))
        bot.publish(news(5, "Bolivia opens a lithium plant"))
        await bot.poll()
        await move_to(bot, clock, local(LA_PAZ, 2026, 3, 11, 7, 59, 50))
        assert pushes(bot, before) == [], "nothing before 08:00 in La Paz"
        await move_to(bot, clock, local(LA_PAZ, 2026, 3, 11, 8, 0))
        await bot.wait_sent(ALICE, before + 1)
        await bot.quiet()
        [digest] = pushes(bot, before)
        text = digest.params["text"]
        assert "Your digest" in text and "4 headlines" in text
        for title in ("charter", "climbs", "Chile talk", "opens a lithium plant"):
            assert text.count(title) == 1, (title, text)
        assert text.index("🏷 <b>bolivia</b>") < text.index("🏷 <b>lithium</b>")
        bolivia = text[text.index("🏷 <b>bolivia</b>") : text.index("🏷 <b>lithium</b>")]
        assert "charter" in bolivia and "climbs" not in bolivia, "grouped by topic"
        # /settings tells when it arrived, in the chat's zone
        shown = (await bot.say(ALICE, "/settings"))[-1].params["text"]
        assert "Last digest: Mar 11, 2026, 8:00" in shown, shown
        # found after the digest went: held for tomorrow's
        after = len(bot.fake.sent_to(ALICE))
        bot.publish(news(6, "Bolivia after the digest"))
        await bot.poll()
        await move_to(bot, clock, local(LA_PAZ, 2026, 3, 11, 20, 0))
        assert pushes(bot, after) == []
        await move_to(bot, clock, local(LA_PAZ, 2026, 3, 12, 8, 0, 1))
        await bot.wait_sent(ALICE, after + 1)
        assert "after the digest" in pushes(bot, after)[0].params["text"]


async def test_quiet_hours_hold_and_release_as_one_message(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    clock = Clock(local(LA_PAZ, 2026, 5, 4, 21, 0))
    async with bot_at(fake_tg, feed_server, tmp_path / "db.sqlite3", clock) as bot:
        await follow(bot, "/timezone America/La_Paz", "/quiet 22:00-07:00")
        before = len(bot.fake.sent_to(ALICE))
        bot.publish(news(2, "Bolivia before the quiet"))
        await bot.poll()
        await bot.wait_sent(ALICE, before + 1)
        assert "before the quiet" in pushes(bot, before)[0].params["text"], "outside: at once"
        before = len(bot.fake.sent_to(ALICE))
        await move_to(bot, clock, local(LA_PAZ, 2026, 5, 4, 23, 30))
        bot.publish(news(3, "Bolivia at night"))
        await bot.poll()
        await move_to(bot, clock, local(LA_PAZ, 2026, 5, 5, 4, 0))
        bot.publish(news(4, "Lithium at dawn"))
        await bot.poll()
        await move_to(bot, clock, local(LA_PAZ, 2026, 5, 5, 6, 59, 50))
        assert pushes(bot, before) == [], "held during quiet hours"
        await move_to(bot, clock, local(LA_PAZ, 2026, 5, 5, 7, 0))
        await bot.wait_sent(ALICE, before + 1)
        await bot.quiet()
        [released] = pushes(bot, before)
        text = released.params["text"]
        assert "at night" in text and "at dawn" in text and "Your digest" not in text


async def test_madrid_digest_keeps_the_local_hour_across_the_change_of_clocks(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    clock = Clock(local(MADRID, 2026, 3, 27, 20, 0))
    async with bot_at(fake_tg, feed_server, tmp_path / "db.sqlite3", clock) as bot:
        await follow(bot, "/timezone Europe/Madrid", "/digest 08:00")
        sent_at: list[float] = []
        for n, day in enumerate((28, 29), start=2):  # clocks go forward on the 29th
            before = len(bot.fake.sent_to(ALICE))
            bot.publish(news(n, f"Bolivia on the {day}th"))
            await bot.poll()
            await move_to(bot, clock, local(MADRID, 2026, 3, day, 7, 59, 50))
            assert pushes(bot, before) == []
            await move_to(bot, clock, local(MADRID, 2026, 3, day, 8, 0))
            await bot.wait_sent(ALICE, before + 1)
            sent_at.append(clock())
            await move_to(bot, clock, local(MADRID, 2026, 3, day, 12, 0))
        hours = [datetime.fromtimestamp(t, MADRID).hour for t in sent_at]
        assert hours == [8, 8], "08:00 local on both sides of the change"
        utc_hours = [datetime.fromtimestamp(t, ZoneInfo("UTC")).hour for t in sent_at]
        assert utc_hours == [7, 6]


async def test_a_digest_due_while_the_bot_was_down_is_sent_once_at_the_next_start(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    db = tmp_path / "db.sqlite3"
    clock = Clock(local(LA_PAZ, 2026, 3, 10, 20, 0))
    async with bot_at(fake_tg, feed_server, db, clock) as bot:
        await follow(bot, "/timezone America/La_Paz", "/digest 08:00")
        bot.publish(news(2, "Bolivia held overnight"), news(3, "Lithium held overnight"))
        await bot.poll()
        items = bot.items
        await move_to(bot, clock, local(LA_PAZ, 2026, 3, 11, 7, 0))
    before = len(fake_tg.sent_to(ALICE))
    assert not any("held overnight" in t for t in [str(c.params) for c in fake_tg.sent_to(ALICE)])
    clock.set(local(LA_PAZ, 2026, 3, 11, 10, 30))  # down through 08:00
    async with bot_at(fake_tg, feed_server, db, clock, items=items) as bot:
        await bot.wait_sent(ALICE, before + 1)
        await bot.quiet()
        [digest] = pushes(bot, before)
        assert digest.params["text"].count("held overnight") == 2
        await move_to(bot, clock, local(LA_PAZ, 2026, 3, 11, 11, 0))
        assert len(pushes(bot, before)) == 1, "sent once"


async def test_compact_format_and_link_previews(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    clock = Clock(time.time())
    async with bot_at(fake_tg, feed_server, tmp_path / "db.sqlite3", clock) as bot:
        await follow(bot)
        before = len(bot.fake.sent_to(ALICE))
        bot.publish(news(2, "Bolivia in full"))
        await bot.poll()
        await bot.wait_sent(ALICE, before + 1)
        [full] = pushes(bot, before)
        assert "Summary of story 2." in full.params["text"]
        assert "is_disabled" not in str(full.params.get("link_preview_options")), "one: preview"

        await bot.say(ALICE, "/previews off")
        before = len(bot.fake.sent_to(ALICE))
        bot.publish(news(3, "Bolivia without a preview"))
        await bot.poll()
        await bot.wait_sent(ALICE, before + 1)
        [plain] = pushes(bot, before)
        assert "is_disabled" in str(plain.params.get("link_preview_options"))

        await bot.say(ALICE, "/format compact")
        before = len(bot.fake.sent_to(ALICE))
        bot.publish(news(4, "Bolivia compact one"), news(5, "Lithium compact two"))
        await bot.poll()
        await bot.wait_sent(ALICE, before + 1)
        [compact] = pushes(bot, before)
        text = compact.params["text"]
        assert '• <a href="https://news.example/4">Bolivia compact one</a>' in text
        assert "Summary of story" not in text and "🏷" not in text


async def test_the_more_button_pages_through_exactly_the_held_headlines_in_place(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    clock = Clock(time.time())
    async with bot_at(fake_tg, feed_server, tmp_path / "db.sqlite3", clock) as bot:
        await follow(bot, "/language es")
        before = len(bot.fake.sent_to(ALICE))
        titles = [f"Bolivia story number {n}" for n in range(2, 16)]  # 14 headlines
        bot.publish(*(news(n, title) for n, title in zip(range(2, 16), titles, strict=True)))
        bot.publish(news(99, "Peru, not followed"))
        await bot.poll()
        await bot.wait_sent(ALICE, before + 1)
        await bot.quiet()
        [first] = pushes(bot, before)
        text = first.params["text"]
        assert "+4 más" in text, text
        markup = first.params["reply_markup"]
        [[more]] = markup["inline_keyboard"]
        assert more["text"] == "Más ▶" and len(more["callback_data"].encode()) <= 64
        message_id = first.result["message_id"]

        def shown(html: str) -> list[str]:
            return [t for t in titles if f">{t}<" in html]

        page_one = shown(text)
        assert len(page_one) == 10
        edits = len(fake_tg.calls_of("editMessageText"))
        fake_tg.push_update(
            fake_tg.callback_update(ALICE, message_id, more["callback_data"], from_user=ALICE)
        )
        await fake_tg.wait_calls("editMessageText", edits + 1)
        stored = fake_tg.message(ALICE, message_id)
        page_two = shown(stored.html or "")
        assert sorted(page_one + page_two) == sorted(titles), "exactly the held headlines"
        assert not set(page_one) & set(page_two)
        assert "Peru" not in (stored.html or "") and "/latest" not in (stored.html or "")
        assert "Titulares 11–14 de 14" in (stored.html or "")
        [[back]] = (stored.reply_markup or {})["inline_keyboard"]
        assert back["text"] == "◀ Anterior"
        fake_tg.push_update(
            fake_tg.callback_update(ALICE, message_id, back["callback_data"], from_user=ALICE)
        )
        await fake_tg.wait_calls("editMessageText", edits + 2)
        assert shown(fake_tg.message(ALICE, message_id).html or "") == page_one
        assert len(pushes(bot, before)) == 1, "paged in place, nothing new sent"
        # a list that is gone says so
        answers = len(fake_tg.calls_of("answerCallbackQuery"))
        fake_tg.push_update(
            fake_tg.callback_update(ALICE, message_id, "more:999:1", from_user=ALICE)
        )
        [*_, gone] = await fake_tg.wait_calls("answerCallbackQuery", answers + 1)
        assert gone.params.get("show_alert") is True
