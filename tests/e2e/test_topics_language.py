"""Topics and search that understand language, end to end through the fake Bot API."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.e2e.harness import item, running_bot
from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram import FakeTelegram

BASE = [
    item(1, "Elections In Bolivia", "Bolivians vote for a new president on Sunday."),
    item(2, "Lithium Deal In Chile", "Chile signs a lithium deal with a mining group."),
    item(3, "Peru Protests Grow", "Protesters march in Lima."),
]
ALICE, BOB, CARLA = 201, 202, 203


async def test_pushes_for_a_stem_an_exact_form_both_parts_and_an_exclusion(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        await bot.say(ALICE, "/start")
        await bot.say(ALICE, "/topic add election, protest")
        await bot.say(BOB, "/start")
        await bot.say(BOB, '/topic add "bolivian"')
        await bot.say(CARLA, "/start")
        await bot.say(CARLA, "/topic add lithium + chile, copper -mining")
        before = {chat: len(bot.texts(chat)) for chat in (ALICE, BOB, CARLA)}

        bot.publish(
            item(10, "Elections Called", "The Bolivian congress sets a date."),
            item(11, "Protesters Block Roads", "A strike in Peru."),
            item(12, "Chile Expands Lithium Output", "A new plant opens."),
            item(13, "Copper Mining Strike", "Copper mining stops."),
            item(14, "Copper Prices Rise", "Copper is up."),
            item(15, "Bolivia's Budget", "Bolivia passes a budget."),
        )
        await bot.poll()
        for chat in (ALICE, BOB, CARLA):
            await bot.wait_sent(chat, before[chat] + 1)
        await bot.quiet()

        alice = "\n".join(bot.texts(ALICE)[before[ALICE] :])
        assert "Elections Called" in alice  # `election` is stemmed
        assert "Protesters Block Roads" in alice  # `protest` meets "protesters"
        assert "Budget" not in alice

        bob = "\n".join(bot.texts(BOB)[before[BOB] :])
        assert "Elections Called" in bob  # "Bolivian" in its summary, exactly
        assert "Budget" not in bob  # "Bolivia's" is not the exact word "bolivian"

        carla = "\n".join(bot.texts(CARLA)[before[CARLA] :])
        assert "Chile Expands Lithium Output" in carla  # both parts, in any order
        assert "Copper Prices Rise" in carla
        assert "Copper Mining Strike" not in carla  # excluded by -mining


async def test_topic_add_previews_the_last_week_and_topic_try_does_not_follow(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        await bot.say(ALICE, "/start")
        reply = (await bot.say(ALICE, "/topic add Elección, bolivia"))[-1].params["text"]
        assert "Following" in reply
        assert "<b>bolivia</b> matched 1 headline in the last 7 days" in reply
        assert "Elections In Bolivia" in reply

        tried = (await bot.say(ALICE, "/topic try protest"))[-1].params["text"]
        assert "matched 1 headline" in tried
        assert "Peru Protests Grow" in tried
        listing = (await bot.say(ALICE, "/topic"))[-1].params["text"]
        assert "Topics (2)" in listing  # tried, not followed

        shown = (await bot.say(ALICE, "/topic"))[-1].params["reply_markup"]
        labels = [b["text"] for row in shown["inline_keyboard"] for b in row]
        assert "✖ Elección" in labels  # as typed

        refused = (await bot.say(ALICE, "/topic add the, -bolivia"))[-1].params["text"]
        assert "too short or too common" in refused
        assert "contradicts" in refused
        markup = fake_tg.sent_to(ALICE)[-1].params["reply_markup"]
        assert any(
            b["callback_data"] == "t+#-bolivia" for row in markup["inline_keyboard"] for b in row
        )
        reply_id = fake_tg.sent_to(ALICE)[-1].result["message_id"]
        update = fake_tg.push_update(fake_tg.callback_update(ALICE, reply_id, "t+#-bolivia"))
        query_id = update["callback_query"]["id"]
        await fake_tg.wait_for(lambda: query_id in fake_tg.callback_answers, 10)
        assert fake_tg.callback_answers[query_id]["text"] == "Now: 🔇 bolivia"
        listing = (await bot.say(ALICE, "/topic"))[-1].params["reply_markup"]
        labels = [b["text"] for row in listing["inline_keyboard"] for b in row]
        assert "✖ 🔇 bolivia" in labels
        assert "✖ bolivia" not in labels


async def test_search_with_or_and_exclusions(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        either = (await bot.say(ALICE, "/search bolivia OR peru"))[-1].params["text"]
        assert "Elections In Bolivia" in either
        assert "Peru Protests Grow" in either
        assert "Lithium" not in either

        without = (await bot.say(ALICE, "/search -bolivia"))[-1].params["text"]
        assert "Elections In Bolivia" not in without
        assert "Peru Protests Grow" in without
        assert "Lithium Deal In Chile" in without

        nothing = (await bot.say(ALICE, "/search bolivia lithium"))[-1].params["text"]
        assert "Nothing in the archive matches" in nothing
        assert "OR" in nothing

        long = "bolivia " + "election " * 40
        cut = (await bot.say(ALICE, f"/search {long}"))[-1].params["text"]
        assert "That search was long" in cut


async def test_an_inline_query_is_answered_with_articles_valid_against_the_spec(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE):
        fake_tg.add_user(ALICE)
        for text in ("lithium", ""):
            update = fake_tg.inline_query_update(ALICE, text)
            query_id = update["inline_query"]["id"]
            fake_tg.push_update(update)
            await fake_tg.wait_for(lambda q=query_id: q in fake_tg.inline_answers, 10)
            answer = fake_tg.inline_answers[query_id]
            assert int(answer["cache_time"]) <= 60
            results = answer["results"]
            titles = [r["title"] for r in results]
            if text:
                assert titles == ["Lithium Deal In Chile"]
                content = results[0]["input_message_content"]
                assert content["parse_mode"].lower() == "html"
                assert "https://news.example/2" in content["message_text"]
                assert results[0]["url"] == "https://news.example/2"
            else:
                assert len(titles) == 3  # an empty query: the newest
        await asyncio.sleep(0)
        assert fake_tg.violations == []


async def test_latest_reads_either_way_round_and_says_when_it_caps(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    items = [item(100 + n, f"Bolivia story {n}", "News from La Paz.") for n in range(8)]
    items += [item(200 + n, f"Other story {n}", "Elsewhere.") for n in range(30)]
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=items) as bot:
        for args in ("3 bolivia", "bolivia 3"):
            text = (await bot.say(ALICE, f"/latest {args}"))[-1].params["text"]
            assert text.count("Bolivia story") == 3, args
        six = (await bot.say(ALICE, "/latest 6 bolivia"))[-1].params["text"]
        assert six.count("Bolivia story") == 6  # exactly N, however many others are newer
        capped = (await bot.say(ALICE, "/latest 500"))[-1].params["text"]
        assert "at most 20" in capped
        for bad in ("0", "-2", "1.5"):
            usage = (await bot.say(ALICE, f"/latest {bad}"))[-1].params["text"]
            assert usage.startswith("Usage:"), bad


async def test_start_suggests_recurring_names_never_followed_ones(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    items = [
        item(1, "Talks as President Arce meets Lula", "President Arce of Bolivia met Lula."),
        item(2, "Lula and Arce sign a deal", "In Brasilia, Lula and Arce agreed."),
        item(3, "New vote in Bolivia", "Voters in Bolivia and Peru went out."),
        item(4, "Protests in Bolivia", "Marches in Bolivia and Peru."),
    ]
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=items) as bot:
        await bot.say(ALICE, "/start")
        await bot.say(ALICE, "/topic add bolivia")
        reply = (await bot.say(ALICE, "/start"))[-1].params
        labels = [b["text"] for row in reply["reply_markup"]["inline_keyboard"] for b in row]
        assert "➕ Lula" in labels
        assert "➕ Arce" in labels
        assert not any("Bolivia" in label for label in labels)  # followed already
        assert not any("President" in label for label in labels)  # a title, not a name
