"""Feeds have handles and everyone sees them (/sources, /feeds, the command line); topics and
searches name feeds (`from:HANDLE`, `-from:HANDLE`) and everything (`*`), end to end through
the fake Bot API and the fake feed server.

The configured feed is "Test feed" (`from:test-feed`); a second one, "Second Wire", is added
by an admin (`from:second-wire`). The fakes listen on loopback, hence ALLOW_PRIVATE_FEEDS.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.e2e.harness import Harness, item, running_bot
from tests.fakes.feed_server import FeedServer, rss
from tests.fakes.telegram import Call, FakeTelegram

ADMIN = 900
CHANNEL = -1001234567890
ALICE, BOB, CARLA, DAN = 201, 202, 203, 204
GROUP, MEMBER = -500, 205
SECOND = "/second.xml"
BASE = [item(1, "Bolivia Severs Ties", "a")]
WIRE = [item(101, "Older wire story", "w", link="https://wire.example/101")]


def wire_item(n: int, title: str, summary: str = "") -> dict[str, Any]:
    """An item of the second feed, with links of its own (never the first feed's story)."""
    return item(n, title, summary, link=f"https://wire.example/{n}")


@asynccontextmanager
async def two_feeds(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> AsyncIterator[Harness]:
    """The bot with the configured feed and "Second Wire", added by an admin."""
    feed_server.set_feed(SECOND, rss(WIRE, title="Second Wire"))
    async with running_bot(
        fake_tg,
        feed_server,
        tmp_path / "db.sqlite3",
        items=BASE,
        admin_ids=[ADMIN],
        allow_private_feeds=True,
    ) as bot:
        await ask(bot, f"/feeds add {feed_server.url(SECOND)}", chat=ADMIN, replies=2)
        yield bot


def publish_wire(bot: Harness, feed_server: FeedServer, *items: Mapping[str, Any]) -> None:
    """Put items at the top of the second feed."""
    wire: list[dict[str, Any]] = bot.__dict__.setdefault("wire", list(WIRE))
    wire[:0] = [dict(i) for i in items]
    feed_server.set_feed(SECOND, rss(wire, title="Second Wire"))


async def ask(bot: Harness, text: str, *, chat: int, replies: int = 1, **kwargs: Any) -> list[str]:
    """Send a command; return the texts of the replies it got."""
    before = len(bot.fake.sent_to(chat))
    calls = await bot.say(chat, text, replies=replies, **kwargs)
    return [str(c.params.get("text") or "") for c in calls[before:]]


def buttons(call: Call) -> dict[str, str]:
    """A sent message's inline buttons: label -> callback data."""
    markup = call.params.get("reply_markup") or {}
    return {b["text"]: b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row}


async def press(bot: Harness, chat: int, call: Call, data: str, user: int) -> str:
    """Press a button under a message the bot sent; return the text of its answer."""
    before = len(bot.fake.calls_of("answerCallbackQuery"))
    message_id = call.result["message_id"]
    bot.fake.push_update(bot.fake.callback_update(chat, message_id, data, from_user=user))
    calls = await bot.fake.wait_calls("answerCallbackQuery", before + 1)
    return str(calls[-1].params.get("text", ""))


async def pushed(bot: Harness, chats: Sequence[int]) -> dict[int, str]:
    """Poll, wait until the bot falls quiet, and return what each chat was sent meanwhile."""
    before = {chat: len(bot.texts(chat)) for chat in chats}
    await bot.poll()
    await bot.quiet()
    return {chat: "\n".join(bot.texts(chat)[before[chat] :]) for chat in chats}


async def start(bot: Harness, *chats: int) -> None:
    for chat in chats:
        await bot.say(chat, "/start")


async def test_sources_lists_every_feed_with_its_handle_and_a_follow_button(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    fake_tg.add_chat(GROUP, "group", title="Readers")
    fake_tg.set_admins(GROUP, [ADMIN])
    async with two_feeds(fake_tg, feed_server, tmp_path) as bot:
        # anyone, in any chat: a member of a group too
        (listing,) = await ask(bot, "/sources", chat=GROUP, from_user=MEMBER)
        assert "📡 <b>Sources</b> (2)" in listing
        assert "<b>Test feed</b>\n<code>from:test-feed</code> · 1 headline in 24 h" in listing
        assert "<b>Second Wire</b>\n<code>from:second-wire</code> · 1 headline in 24 h" in listing
        sent = bot.fake.sent_to(GROUP)[-1]
        follow = buttons(sent)
        assert set(follow) == {"➕ Follow Test feed", "➕ Follow Second Wire"}
        # the button changes the group: only its admins may press it
        refused = await press(bot, GROUP, sent, follow["➕ Follow Second Wire"], MEMBER)
        assert "admins" in refused
        assert await bot.services.chats.list_topics(GROUP) == []
        done = await press(bot, GROUP, sent, follow["➕ Follow Second Wire"], ADMIN)
        assert done == "Following from:second-wire"
        await ask(bot, "/topic", chat=GROUP, from_user=ADMIN)
        listed = bot.fake.sent_to(GROUP)[-1]
        assert "✖ from:second-wire" in buttons(listed)

        # the whole feed, and nothing of the other one
        publish_wire(bot, feed_server, wire_item(102, "Markets calm", "nothing on Bolivia"))
        bot.publish(item(2, "Weather in Lima", "sun"))
        got = await pushed(bot, [GROUP])
        assert "Markets calm" in got[GROUP] and "Weather in Lima" not in got[GROUP]

        # in Spanish too
        await ask(bot, "/language es", chat=ALICE)
        (spanish,) = await ask(bot, "/sources", chat=ALICE)
        assert "📡 <b>Fuentes</b> (2)" in spanish and "<code>from:test-feed</code>" in spanish
        assert "➕ Seguir Test feed" in buttons(bot.fake.sent_to(ALICE)[-1])

        # and in a channel, posted there
        fake_tg.add_chat(CHANNEL, "channel", title="News Channel")
        (posted,) = await ask(bot, "/sources", chat=CHANNEL)
        assert "<code>from:second-wire</code>" in posted


async def test_topics_name_feeds_and_everything_and_mutes_still_apply(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with two_feeds(fake_tg, feed_server, tmp_path) as bot:
        await start(bot, ALICE, BOB, CARLA, DAN)
        (alice,) = await ask(bot, "/topic add from:second-wire", chat=ALICE)
        assert "✅ Following: <b>from:second-wire</b>" in alice
        # the usual preview: the feed's headlines of the last 7 days
        assert "🔎 <b>from:second-wire</b> matched 1 headline in the last 7 days" in alice
        assert "Older wire story" in alice
        (bob,) = await ask(bot, "/topic add Bolivia from:Test-Feed", chat=BOB)
        assert "✅ Following: <b>Bolivia from:test-feed</b>" in bob
        assert "Bolivia Severs Ties" in bob  # its preview
        (carla,) = await ask(bot, "/topic add *, -israel", chat=CARLA)
        assert "<b>*</b> matched 2 headlines in the last 7 days" in carla
        (dan,) = await ask(bot, "/topic add *, -from:second-wire", chat=DAN)
        assert "🔇 from:second-wire" in dan

        bot.publish(
            item(2, "Bolivia votes today", "x"),
            item(3, "Peru votes today", "y"),
            item(4, "Israel and Gaza talk", "z"),
        )
        publish_wire(
            bot,
            feed_server,
            wire_item(102, "Bolivia on the wire", "x"),
            wire_item(103, "Markets calm", "y"),
        )
        got = await pushed(bot, [ALICE, BOB, CARLA, DAN])
        assert "Bolivia on the wire" in got[ALICE] and "Markets calm" in got[ALICE]
        assert "Bolivia votes today" not in got[ALICE]
        assert "Bolivia votes today" in got[BOB]
        assert "Bolivia on the wire" not in got[BOB] and "Peru" not in got[BOB]
        for title in ("Bolivia votes today", "Peru votes today", "Bolivia on the wire"):
            assert title in got[CARLA]
        assert "Israel and Gaza" not in got[CARLA]  # a mute applies to `*`
        for title in ("Bolivia votes today", "Peru votes today", "Israel and Gaza"):
            assert title in got[DAN]
        assert "on the wire" not in got[DAN] and "Markets calm" not in got[DAN]  # muted feed

        # several feeds in one topic: either of them
        await ask(bot, "/topic clear", chat=BOB)
        await ask(bot, "/topic add votes from:test-feed from:second-wire", chat=BOB)
        bot.publish(item(5, "Chile votes", "x"))
        publish_wire(bot, feed_server, wire_item(104, "Ecuador votes", "y"))
        got = await pushed(bot, [BOB])
        assert "Chile votes" in got[BOB] and "Ecuador votes" in got[BOB]


async def test_unknown_and_malformed_handles_are_refused_with_the_handles(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with two_feeds(fake_tg, feed_server, tmp_path) as bot:
        (refused,) = await ask(bot, "/topic add bolivia from:nowhere, peru", chat=ALICE)
        assert "✅ Following: <b>peru</b>" in refused
        assert "no feed has the handle “nowhere”" in refused
        assert "<code>from:test-feed</code>, <code>from:second-wire</code>" in refused
        assert [s.topic for s in await bot.services.chats.list_topics(ALICE)] == ["peru"]
        (bad,) = await ask(bot, "/topic add bolivia -from:test-feed", chat=ALICE)
        assert "mute that feed with a topic of its own" in bad
        (everything,) = await ask(bot, "/topic add -*", chat=ALICE)
        assert "/stop pauses pushes instead" in everything
        (latest,) = await ask(bot, "/latest from:nowhere", chat=ALICE)
        assert "nowhere" in latest and "<code>from:second-wire</code>" in latest
        (search,) = await ask(bot, "/search bolivia from:nowhere", chat=ALICE)
        assert "nowhere" in search and "<code>from:test-feed</code>" in search
        (tried,) = await ask(bot, "/topic try from:nowhere", chat=ALICE)
        assert "nowhere" in tried and "<code>from:test-feed</code>" in tried
        (tried,) = await ask(bot, "/topic try from:test-feed", chat=ALICE)
        assert "🔎 <b>from:test-feed</b> matched 1 headline" in tried
        assert "<code>/topic add from:test-feed</code>" in tried


async def test_a_story_two_feeds_carry_reaches_either_sources_followers_once(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with two_feeds(fake_tg, feed_server, tmp_path) as bot:
        await start(bot, ALICE, BOB, CARLA, DAN)
        await ask(bot, "/topic add from:test-feed", chat=ALICE)
        await ask(bot, "/topic add from:second-wire", chat=BOB)
        await ask(bot, "/topic add from:test-feed, from:second-wire", chat=CARLA)
        await ask(bot, "/topic add *, -from:test-feed", chat=DAN)
        story = item(7, "Bolivia Elects A President", "The vote in Bolivia.")
        copy = {**story, "guid": "wire-7", "link": "https://NEWS.example/7/?utm_source=wire"}

        # the first feed brings it; the wire carries it one poll later
        bot.publish(story)
        first = await pushed(bot, [ALICE, BOB, CARLA, DAN])
        publish_wire(bot, feed_server, copy)
        later = await pushed(bot, [ALICE, BOB, CARLA, DAN])
        for chat in (ALICE, BOB, CARLA, DAN):
            both = first[chat] + later[chat]
            assert both.count("Bolivia Elects A President") == 1, (chat, first, later)
        assert "Bolivia Elects A President" in first[ALICE] + first[CARLA]
        assert "Bolivia Elects A President" in later[BOB]  # the wire's own copy
        assert "Bolivia Elects A President" in later[DAN]  # muted one feed, follows the other

        # both in one poll
        story = item(8, "Chile Signs A Lithium Deal", "Lithium.")
        copy = {**story, "guid": "wire-8", "link": "https://news.example/8#top"}
        bot.publish(story)
        publish_wire(bot, feed_server, copy)
        got = await pushed(bot, [ALICE, BOB, CARLA, DAN])
        for chat in (ALICE, BOB, CARLA, DAN):
            assert got[chat].count("Chile Signs A Lithium Deal") == 1, (chat, got)


async def test_a_renamed_handle_keeps_its_topics_and_shows_the_new_name(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with two_feeds(fake_tg, feed_server, tmp_path) as bot:
        await start(bot, ALICE)
        await ask(bot, "/topic add from:second-wire, bolivia from:second-wire", chat=ALICE)
        (listing,) = await ask(bot, "/feeds", chat=ADMIN)
        assert "🏷 <code>from:test-feed</code>" in listing
        assert "🏷 <code>from:second-wire</code>" in listing
        assert "<code>/feeds handle N new-name</code>" in listing

        url = feed_server.url(SECOND)
        (renamed,) = await ask(bot, f"/feeds handle {url} from:Andes-Wire", chat=ADMIN)
        assert "<b>Second Wire</b> is now <code>from:andes-wire</code>" in renamed
        assert "(it was <code>from:second-wire</code>)" in renamed
        (taken,) = await ask(bot, "/feeds handle 1 andes-wire", chat=ADMIN)
        assert "Another feed has the handle <code>from:andes-wire</code>" in taken
        (invalid,) = await ask(bot, "/feeds handle 1 no_way", chat=ADMIN)
        assert "is not a handle" in invalid
        (same,) = await ask(bot, "/feeds handle 1 test-feed", chat=ADMIN)
        assert "has the handle <code>from:test-feed</code> already" in same
        (nobody,) = await ask(bot, "/feeds handle 9 other", chat=ADMIN)
        assert "No such feed" in nobody
        (usage,) = await ask(bot, "/feeds handle 1", chat=ADMIN)
        assert "<code>/feeds handle URL|N new-name</code>" in usage
        # only the bot's admins
        (refused,) = await ask(bot, "/feeds handle 1 mine", chat=ALICE)
        assert "for the bot's admins" in refused

        # the topics follow the feed, and are shown with its new handle
        await ask(bot, "/topic", chat=ALICE)
        labels = set(buttons(bot.fake.sent_to(ALICE)[-1]))
        assert {"✖ from:andes-wire", "✖ bolivia from:andes-wire"} <= labels
        publish_wire(bot, feed_server, wire_item(105, "Markets calm", "y"))
        got = await pushed(bot, [ALICE])
        assert "Markets calm" in got[ALICE]
        assert "from:andes-wire" in got[ALICE]  # the push names the topic it matched
        (old,) = await ask(bot, "/topic add from:second-wire", chat=ALICE)
        assert "no feed has the handle “second-wire”" in old
        (removed,) = await ask(bot, "/topic remove from:andes-wire", chat=ALICE)
        assert "✅ Removed: <b>from:andes-wire</b>" in removed


async def test_a_removed_feeds_topics_stay_marked_and_revive_when_it_is_back(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with two_feeds(fake_tg, feed_server, tmp_path) as bot:
        await start(bot, ALICE)
        await ask(bot, "/topic add from:second-wire, peru", chat=ALICE)
        await ask(bot, f"/feeds remove {feed_server.url(SECOND)}", chat=ADMIN)
        (sources,) = await ask(bot, "/sources", chat=ALICE)
        assert "second-wire" not in sources and "📡 <b>Sources</b> (1)" in sources
        (listing,) = await ask(bot, "/topic", chat=ALICE)
        assert "match nothing until the feed is added back" in listing
        labels = set(buttons(bot.fake.sent_to(ALICE)[-1]))
        assert "✖ from:second-wire (feed removed)" in labels and "✖ peru" in labels
        (refused,) = await ask(bot, "/topic add bolivia from:second-wire", chat=ALICE)
        assert "no feed has the handle “second-wire”" in refused
        publish_wire(bot, feed_server, wire_item(106, "Wire while removed", "x"))
        got = await pushed(bot, [ALICE])
        assert "Wire while removed" not in got[ALICE]

        # added back: the same feed, its handle and its topics
        await ask(bot, f"/feeds add {feed_server.url(SECOND)}", chat=ADMIN, replies=2)
        (listing,) = await ask(bot, "/topic", chat=ALICE)
        assert "(feed removed)" not in listing
        assert "✖ from:second-wire" in buttons(bot.fake.sent_to(ALICE)[-1])
        publish_wire(bot, feed_server, wire_item(107, "Wire is back", "x"))
        got = await pushed(bot, [ALICE])
        assert "Wire is back" in got[ALICE]


async def test_latest_search_and_inline_take_feeds_and_everything(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with two_feeds(fake_tg, feed_server, tmp_path) as bot:
        bot.publish(item(2, "Bolivia votes today", "x"))
        publish_wire(bot, feed_server, wire_item(102, "Bolivia on the wire", "x"))
        await bot.poll()
        await bot.quiet()

        (latest,) = await ask(bot, "/latest from:second-wire", chat=ALICE)
        assert "Bolivia on the wire" in latest and "Older wire story" in latest
        assert "Bolivia votes today" not in latest
        (latest,) = await ask(bot, "/latest 2 *", chat=ALICE)
        assert latest.count("<a href=") == 2  # the two newest of every feed
        (latest,) = await ask(bot, "/latest bolivia from:test-feed", chat=ALICE)
        assert "Bolivia votes today" in latest and "Bolivia on the wire" not in latest
        assert "Bolivia Severs Ties" in latest
        (latest,) = await ask(bot, "/latest -from:test-feed", chat=ALICE)
        assert "A mute lists nothing" in latest

        (found,) = await ask(bot, "/search bolivia from:second-wire", chat=ALICE)
        assert "Bolivia on the wire" in found and "Bolivia votes today" not in found
        (found,) = await ask(bot, "/search bolivia -from:second-wire", chat=ALICE)
        assert "Bolivia votes today" in found and "Bolivia on the wire" not in found
        (found,) = await ask(bot, "/search from:second-wire", chat=ALICE)
        assert "Bolivia on the wire" in found and "Older wire story" in found
        (found,) = await ask(bot, "/search *", chat=ALICE)
        assert "Results 1–4 of 4 for <b>*</b>" in found  # every headline, newest first

        fake_tg.add_user(ALICE)
        for text, titles in (
            ("bolivia from:second-wire", ["Bolivia on the wire"]),
            ("from:nowhere", []),
        ):
            update = fake_tg.inline_query_update(ALICE, text)
            query_id = update["inline_query"]["id"]
            fake_tg.push_update(update)
            await fake_tg.wait_for(lambda q=query_id: q in fake_tg.inline_answers, 10)
            results = fake_tg.inline_answers[query_id]["results"]
            assert [r["title"] for r in results] == titles


def test_the_command_line_lists_the_feeds_handles(tmp_path: Path) -> None:
    feed = tmp_path / "local.xml"
    feed.write_bytes(rss(BASE, title="Local Wire"))
    env = {
        "PATH": "/usr/bin:/bin",
        "FEED_URLS": str(feed),
        "DATABASE_PATH": str(tmp_path / "cli.sqlite3"),
    }

    def run(*args: str, code: int = 0) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "bot", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == code, (args, done.stdout, done.stderr)
        return done.stdout

    assert "from:local" in run("feeds", "list")  # before its first read: from the file's name
    run("poll")
    assert "from:local-wire" in run("feeds", "list")  # the title, once read
    assert "Bolivia Severs Ties" in run("search", "from:local-wire")
    refused = run("search", "bolivia from:elsewhere", code=1)
    assert "no feed has the handle “elsewhere”" in refused and "from:local-wire" in refused
