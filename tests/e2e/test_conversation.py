"""The conversation end to end: the real Application, the fake Bot API, the fake feed."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.harness import item, running_bot
from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram import FakeTelegram

BASE = [
    item(1, "Bolivia Severs Ties With Israel", "Bolivia cut diplomatic ties on Tuesday."),
    item(2, "Venezuela Backs South Africa’s Case", "Caracas supports the case at the ICJ."),
    item(3, "Lithium Deal Signed In La Paz", "A lithium deal was signed.", categories=["Lithium"]),
]
ALICE, BOB = 101, 102


async def test_reader_gets_only_matching_new_headlines(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        welcome = await bot.say(ALICE, "/start")
        assert "Welcome" in welcome[-1].params["text"]
        assert "Following" in (await bot.say(ALICE, "/topic add bolivia"))[-1].params["text"]
        await bot.say(BOB, "/start")
        await bot.say(BOB, "/topic add venezuela")
        sent_alice, sent_bob = len(bot.texts(ALICE)), len(bot.texts(BOB))

        bot.publish(item(10, "Bolivia Votes On New Constitution", "A vote in Bolivia."))
        # no manual poll: the interval (1 s) brings it
        await bot.wait_sent(ALICE, sent_alice + 1)
        push = bot.texts(ALICE)[-1]
        assert "Bolivia Votes On New Constitution" in push
        assert 'href="https://news.example/10"' in push
        assert "bolivia" in push  # the matched topic is shown
        bot.publish(item(11, "Venezuela Holds Talks", "Talks in Caracas, Venezuela."))
        await bot.wait_sent(BOB, sent_bob + 1)
        assert "Venezuela Holds Talks" in bot.texts(BOB)[-1]
        await bot.poll()
        await bot.quiet()
        assert len(bot.texts(ALICE)) == sent_alice + 1, "one push, never twice"
        assert len(bot.texts(BOB)) == sent_bob + 1
        # baseline items were never pushed (the /topic add preview may list them)
        assert not any("Severs Ties" in t for t in bot.texts(ALICE)[sent_alice:])


async def test_latest_and_search_answer_sensibly(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        latest = (await bot.say(ALICE, "/latest"))[-1].params["text"]
        assert all(t in latest for t in ("Bolivia Severs", "Venezuela Backs", "Lithium Deal"))
        three = (await bot.say(ALICE, "/latest 1"))[-1].params["text"]
        assert three.count("https://news.example/") == 1
        on_topic = (await bot.say(ALICE, "/latest bolivia"))[-1].params["text"]
        assert "Bolivia Severs" in on_topic and "Venezuela" not in on_topic
        found = (await bot.say(ALICE, "/search lithium"))[-1].params["text"]
        assert "Lithium Deal" in found and "<b>" in found
        hostile = (await bot.say(ALICE, '/search "((AND*'))[-1].params["text"]
        # an answer about the one word it understood, not an exception or FTS5's syntax error
        assert 'Nothing in the archive matches <b>"and"</b>' in hostile, hostile
        empty = (await bot.say(ALICE, "/search"))[-1].params["text"]
        assert "/search lithium" in empty
        nothing = (await bot.say(ALICE, "/search zzzqqq"))[-1].params["text"]
        assert "Nothing" in nothing
        unknown = (await bot.say(ALICE, "/frobnicate"))[-1].params["text"]
        assert "/help" in unknown
        assert fake_tg.calls_of("setMyCommands"), "the command menu is registered"


async def test_search_pages_edit_the_message(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    items = [item(i, f"Lithium story number {i}", "About lithium.") for i in range(1, 13)]
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=items) as bot:
        reply = (await bot.say(ALICE, "/search lithium"))[-1]
        message_id = reply.result["message_id"]
        markup = reply.params["reply_markup"]
        buttons = [b for row in markup["inline_keyboard"] for b in row]
        assert [b["text"] for b in buttons] == ["Next ▶"]
        fake_tg.push_update(fake_tg.callback_update(ALICE, message_id, buttons[0]["callback_data"]))
        await fake_tg.wait_calls("editMessageText", 1)
        edited = fake_tg.message(ALICE, message_id)
        assert "6–10 of 12" in (edited.html or "")


async def test_topics_with_accents_mutes_and_removal(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        await bot.say(ALICE, "/start")
        await bot.say(ALICE, "/topic add Marquez, bogotá, -israel, south africa")
        listing = (await bot.say(ALICE, "/topic"))[-1]
        assert "4" in listing.params["text"]
        count = len(bot.texts(ALICE))
        bot.publish(
            item(20, "Francia Marquéz Visits BOGOTA", "A visit."),
            item(21, "Bolivia And Israel", "Marquez on Israel."),  # muted
            item(22, "Kaliman Salinas Mali", "Nothing for ali."),
            item(23, "South Africa’s Case Grows", "More support."),
        )
        await bot.poll()
        await bot.wait_sent(ALICE, count + 1)
        await bot.quiet()
        pushes = bot.texts(ALICE)[count:]
        assert len(pushes) == 1, "headlines of one poll come in one message"
        assert "Francia Marquéz Visits BOGOTA" in pushes[0]
        assert "South Africa’s Case Grows" in pushes[0]
        assert "Bolivia And Israel" not in pushes[0], "a mute wins over a match"
        removed = await bot.say(ALICE, "/topic remove bogota")
        assert "Removed" in removed[-1].params["text"]
        cleared = await bot.say(ALICE, "/topic clear")
        assert "3" in cleared[-1].params["text"]


async def test_stop_pauses_and_start_resumes(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        await bot.say(ALICE, "/start")
        await bot.say(ALICE, "/topic add bolivia")
        await bot.say(ALICE, "/stop")
        count = len(bot.texts(ALICE))
        bot.publish(item(30, "Bolivia While Paused", "x"))
        await bot.poll()
        await bot.quiet()
        assert len(bot.texts(ALICE)) == count, "nothing pushed while paused"
        resumed = (await bot.say(ALICE, "/start"))[-1].params["text"]
        assert "bolivia" in resumed
        bot.publish(item(31, "Bolivia After Resume", "x"))
        await bot.poll()
        await bot.wait_sent(ALICE, count + 2)
        assert "Bolivia After Resume" in bot.texts(ALICE)[-1]
        assert not any("While Paused" in t for t in bot.texts(ALICE)), "not saved up"


async def test_topic_added_later_does_not_pull_old_items(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        await bot.say(ALICE, "/start")
        bot.publish(item(40, "Lithium Prices Rise", "x"))
        await bot.poll()
        await bot.say(ALICE, "/topic add lithium")
        count = len(bot.texts(ALICE))
        await bot.poll()
        await bot.quiet()
        assert len(bot.texts(ALICE)) == count
        # a late item (old date, first seen now) is pushed like any new one
        bot.publish(item(41, "Lithium Archive Piece", "x", pubDate="Mon, 01 Jan 2018 10:00:00 GMT"))
        await bot.poll()
        await bot.wait_sent(ALICE, count + 1)
        assert "Lithium Archive Piece" in bot.texts(ALICE)[-1]


async def test_batching_caps_at_ten_and_splits_long_messages(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        await bot.say(ALICE, "/start")
        await bot.say(ALICE, "/topic add lithium")
        count = len(bot.texts(ALICE))
        long = "lithium " + "word " * 700
        bot.publish(*[item(100 + i, f"Lithium item {i} <b>&", long) for i in range(13)])
        await bot.poll()
        await bot.wait_sent(ALICE, count + 1)
        await bot.quiet()
        pushes = bot.texts(ALICE)[count:]
        assert all(len(p) <= 4096 for p in pushes)
        joined = "".join(pushes)
        assert joined.count("https://news.example/1") == 10
        assert "+3 more" in joined and "/latest" not in joined
        markup = bot.fake.sent_to(ALICE)[-1].params.get("reply_markup") or {}
        assert [b["text"] for row in markup["inline_keyboard"] for b in row] == ["More ▶"]
        assert "Lithium item 0 &amp;" in joined, "feed text is escaped"
