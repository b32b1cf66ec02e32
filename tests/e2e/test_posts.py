"""Channels that publish, through the fake Bot API and the fake feed server: one post per
headline with its picture (in every form a feed gives one), refused pictures posted as text in
their place, /pictures and /previews, the chat's own template and its hashtags, topics named
as typed, digests and quiet hours in the post format."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.ops.stats import collect_stats
from tests.e2e.harness import Harness, item, running_bot
from tests.e2e.test_settings_delivery import LA_PAZ, Clock, bot_at, local, move_to
from tests.fakes.feed_server import FeedServer
from tests.fakes.images import gif, jpeg
from tests.fakes.telegram import Call, FakeTelegram
from tests.fakes.telegram.validation import utf16_len

CHANNEL = -1001000000001
READER = 401
BASE = [item(1, "Bolivia Severs Ties", "x")]


def sends(bot: Harness, chat_id: int, since: int = 0) -> list[Call]:
    """The messages the chat received (sendPhoto and sendMessage), in order."""
    return bot.fake.sent_to(chat_id)[since:]


def shown(call: Call) -> str:
    """A message's HTML: a photo's caption or a message's text."""
    return str(call.params.get("caption") or call.params.get("text") or "")


def titles(calls: Sequence[Call]) -> list[str]:
    """The headline each message is about ("Bolivia one"), in order."""
    return [m.group(0) for c in calls if (m := re.search(r"Bolivia \w+", shown(c)))]


def story(n: int, title: str, *, xml: str = "", description: str | None = None) -> dict[str, Any]:
    """An item whose link is on the feed server's own host (for relative pictures)."""
    out = item(n, title, f"Summary of story {n}.")
    if xml:
        out["xml"] = xml
    if description is not None:
        out["description"] = description
    return out


async def channel_posts(bot: Harness, *commands: str) -> None:
    """The channel follows bolivia in the post format (its commands posted in it)."""
    bot.fake.add_chat(CHANNEL, "channel", title="Wire", username="wirechan")
    for command in ("/topic add bolivia", "/format post", *commands):
        await bot.say(CHANNEL, command)


def picture_items(feeds: FeedServer) -> list[dict[str, Any]]:
    """One item for each form of picture a feed gives, and one without."""
    u = feeds.url
    feeds.set_image("/img/1.png")
    feeds.set_image("/img/2.jpg", jpeg(800, 600), content_type="image/jpeg")
    feeds.set_image("/img/3.gif", gif(400, 300), content_type="image/gif")
    feeds.set_image("/img/4.png", width=320, height=200)
    feeds.set_image("/img/5.png", width=640, height=480)
    feeds.set_image("/img/6.png", width=900, height=500)
    feeds.set_image("/story/7/pic.png", width=700, height=400)
    return [
        story(2, "Bolivia one", xml=f'<media:content url="{u("/img/1.png")}" medium="image"/>'),
        story(
            3,
            "Bolivia two",
            xml=(
                f'<media:group><media:content url="{u("/clip.mp4")}" type="video/mp4"/>'
                f'<media:content url="{u("/img/2.jpg")}" type="image/jpeg"/></media:group>'
            ),
        ),
        story(4, "Bolivia three", xml=f'<media:content url="{u("/img/3.gif")}"/>'),
        story(5, "Bolivia four", xml=f'<media:thumbnail url="{u("/img/4.png")}"/>'),
        story(
            6,
            "Bolivia five",
            xml=f'<enclosure url="{u("/img/5.png")}" type="image/png" length="1000"/>',
        ),
        story(
            7,
            "Bolivia six",
            xml=(
                "<content:encoded><![CDATA[<p>Text <img src="
                f'"{u("/img/6.png")}" alt="x"></p>]]></content:encoded>'
            ),
        ),
        {
            **story(
                8,
                "Bolivia seven",
                description='<p><img src="/pixel.gif" width="1" height="1"><img src="pic.png">'
                " A story.</p>",
            ),
            "link": u("/story/7/"),
        },
        story(9, "Bolivia eight"),
    ]


async def test_each_headline_is_a_post_with_its_picture_in_every_form(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        await channel_posts(bot)
        before = len(sends(bot, CHANNEL))
        items = picture_items(feed_server)
        bot.publish(*reversed(items))  # a feed lists its newest first
        await bot.poll()
        await bot.wait_sent(CHANNEL, before + 8)
        await bot.quiet()
        posts = sends(bot, CHANNEL, before)
        assert titles(posts) == [i["title"] for i in items], "one post per headline, oldest first"
        u = feed_server.url
        assert [c.params.get("photo") for c in posts] == [
            u("/img/1.png"),
            u("/img/2.jpg"),
            u("/img/3.gif"),
            u("/img/4.png"),
            u("/img/5.png"),
            u("/img/6.png"),
            u("/story/7/pic.png"),  # relative, resolved against the item's link
            None,
        ]
        assert [c.method for c in posts] == ["sendPhoto"] * 7 + ["sendMessage"]
        assert fake_tg.photo_fetches == [c.params["photo"] for c in posts[:7]]
        first = posts[0]
        assert '<a href="https://news.example/2">Bolivia one</a>' in first.params["caption"]
        assert first.params["parse_mode"] == "HTML"
        assert [m.photo_size for m in fake_tg.messages(CHANNEL)[-8:-5]] == [
            (1200, 630),
            (800, 600),
            (400, 300),
        ]
        text = posts[-1]
        assert text.params["link_preview_options"] == {
            "url": "https://news.example/9",
            "prefer_large_media": True,
        }
        # a reader in the full format still gets one message with them all
        assert all("#Bolivia" in shown(c) for c in posts)


async def test_refused_pictures_go_as_text_in_their_place_counted_never_lost_or_twice(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    u = feed_server.url
    feed_server.set_image("/ok.png")
    feed_server.set_status("/gone.png", 404)
    feed_server.set_feed("/page.png", b"<html>not a picture</html>", content_type="text/html")
    feed_server.set_image("/junk.png", b"these bytes are no image")
    feed_server.set_image("/thin.png", width=4000, height=100)
    feed_server.set_image("/slow.png")
    feed_server.set_delay("/slow.png", 3.0)
    fake_tg.photo_fetch_timeout = 0.5
    pictures = ["/gone.png", "/page.png", "/junk.png", "/thin.png", "/slow.png", "/ok.png"]
    items = [
        story(10 + n, f"Bolivia story{n}", xml=f'<media:content url="{u(path)}" medium="image"/>')
        for n, path in enumerate(pictures)
    ]
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        await channel_posts(bot)
        before = len(sends(bot, CHANNEL))
        bot.publish(*reversed(items))
        await bot.poll()
        await bot.wait_sent(CHANNEL, before + 6)
        await bot.quiet()
        refused = [c for c in fake_tg.calls_of("sendPhoto") if not c.ok]
        assert [c.description for c in refused] == [
            "Bad Request: failed to get HTTP URL content",
            "Bad Request: wrong type of the web page content",
            "Bad Request: IMAGE_PROCESS_FAILED",
            "Bad Request: PHOTO_INVALID_DIMENSIONS",
            "Bad Request: failed to get HTTP URL content",
        ]
        posts = sends(bot, CHANNEL, before)
        assert titles(posts) == [f"Bolivia story{n}" for n in range(6)], "each once, in place"
        assert [c.method for c in posts] == ["sendMessage"] * 5 + ["sendPhoto"]
        assert posts[0].params["link_preview_options"]["url"] == "https://news.example/10"

        async def counted() -> bool:
            stats = await collect_stats(bot.services.storage)
            return stats.pictures_refused_24h == 5

        bot.services.delivery.wake()
        await bot.wait_until(counted)
        metrics = bot.services.metrics.render().decode()
        assert "headline_bot_pictures_refused_total 5.0" in metrics


async def test_pictures_off_previews_off_and_a_caption_cut_to_telegrams_count(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    u = feed_server.url
    feed_server.set_image("/p.png")
    long_summary = " ".join(["Bolivia 🇧🇴 votes today"] * 200)
    picture = f'<media:content url="{u("/p.png")}" medium="image"/>'
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        await channel_posts(bot)
        before = len(sends(bot, CHANNEL))
        bot.publish(story(20, "Bolivia long", xml=picture, description=long_summary))
        await bot.poll()
        await bot.wait_sent(CHANNEL, before + 1)
        await bot.quiet()
        [photo] = sends(bot, CHANNEL, before)
        caption = photo.params["caption"]
        shown_caption = fake_tg.messages(CHANNEL)[-1].caption or ""
        assert 1000 < utf16_len(shown_caption) <= 1024 < len(long_summary)
        assert '<a href="https://news.example/20">Bolivia long</a>' in caption
        assert "…" in caption and "#Bolivia" in caption

        await bot.say(CHANNEL, "/pictures off")
        before = len(sends(bot, CHANNEL))
        bot.publish(story(21, "Bolivia plain", xml=picture))
        await bot.poll()
        await bot.wait_sent(CHANNEL, before + 1)
        await bot.quiet()
        [text] = sends(bot, CHANNEL, before)
        assert text.method == "sendMessage"
        assert text.params["link_preview_options"]["url"] == "https://news.example/21"

        await bot.say(CHANNEL, "/previews off")
        before = len(sends(bot, CHANNEL))
        bot.publish(story(22, "Bolivia quiet"))
        await bot.poll()
        await bot.wait_sent(CHANNEL, before + 1)
        await bot.quiet()
        [bare] = sends(bot, CHANNEL, before)
        assert bare.params["link_preview_options"] == {"is_disabled": True}


async def test_settings_offer_the_post_format_and_pictures(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        [menu] = (await bot.say(READER, "/format"))[-1:]
        labels = [b["text"] for row in menu.params["reply_markup"]["inline_keyboard"] for b in row]
        assert "one post per headline" in labels
        assert "Format: one post per headline" in shown((await bot.say(READER, "/format post"))[-1])
        assert "Pictures: off" in shown((await bot.say(READER, "/pictures off"))[-1])
        settings = shown((await bot.say(READER, "/settings"))[-1])
        assert "Format: one post per headline" in settings and "Pictures: off" in settings
        assert "/format post" in shown((await bot.say(READER, "/format nope"))[-1])
        spanish = await bot.say(READER, "/language es")
        assert "Idioma" in shown(spanish[-1])
        assert "Imágenes: no" in shown((await bot.say(READER, "/settings"))[-1])


async def test_a_chats_own_template_shapes_its_posts_with_hashtags_as_typed(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        bot.fake.add_chat(CHANNEL, "channel", title="Wire", username="wirechan")
        await bot.say(CHANNEL, "/topic add Bolivia, lithium + chile, South Africa -cricket")
        await bot.say(CHANNEL, "/format post")
        view = shown((await bot.say(CHANNEL, "/template"))[-1])
        assert "The default template" in view and "{hashtags}" in view and "{summary}" in view

        refused = shown((await bot.say(CHANNEL, "/template <b>{titel}</b>"))[-1])
        assert "Template not saved" in refused and "Unknown placeholder {titel}" in refused
        too_long = shown((await bot.say(CHANNEL, "/template " + "x" * 1001))[-1])
        assert "1001 characters long" in too_long
        unbalanced = shown((await bot.say(CHANNEL, "/template <b>{title}"))[-1])
        assert "&lt;b&gt; is never closed" in unbalanced

        template = "/template <b>{title}</b> ({source})\n<i>{topics}</i>\n{{x}} {hashtags}"
        saved = await bot.say(CHANNEL, template, replies=2)
        assert "Template saved" in shown(saved[-2])
        sample = shown(saved[-1])  # the newest headline, as a post made from it
        assert sample.startswith("<b>Bolivia Severs Ties</b> (Test feed)") and "{x}" in sample

        before = len(sends(bot, CHANNEL))
        bot.publish(story(30, "Bolivia and Chile sign a lithium deal in South Africa"))
        await bot.poll()
        await bot.wait_sent(CHANNEL, before + 1)
        await bot.quiet()
        [post] = sends(bot, CHANNEL, before)
        lines = shown(post).split("\n")
        title = "Bolivia and Chile sign a lithium deal in South Africa"
        assert lines[0] == f"<b>{title}</b> (Test feed)"
        assert lines[1] == "<i>Bolivia, lithium + chile, South Africa -cricket</i>"
        assert lines[2] == "{x} #Bolivia #LithiumChile #SouthAfrica"

        reset = await bot.say(CHANNEL, "/template reset", replies=2)
        assert "Back to the default template" in shown(reset[-2])
        assert "The default template" in shown((await bot.say(CHANNEL, "/template"))[-1])


async def test_only_admins_change_a_groups_template(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    group, admin, member = -100555, 501, 502
    fake_tg.add_chat(group, "supergroup", title="Newsroom")
    fake_tg.set_admins(group, [admin])
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        said = await bot.say(group, "/template <b>{title}</b>", from_user=member)
        assert "Only this chat's admins" in shown(said[-1])
        said = await bot.say(group, "/template <b>{title}</b>\n{link}", from_user=admin, replies=2)
        assert "Template saved" in shown(said[-2])
        settings = await bot.services.preferences.get(group)
        assert settings.template == "<b>{title}</b>\n{link}"  # the line break kept


async def test_pushes_and_digests_name_topics_as_the_chat_typed_them(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        await bot.say(READER, "/start")
        await bot.say(READER, "/topic add lithium + chile, Bogotá")
        before = len(sends(bot, READER))
        bot.publish(story(40, "Chile bets on lithium"), story(41, "Bogota votes"))
        await bot.poll()
        await bot.wait_sent(READER, before + 1)
        await bot.quiet()
        [push] = sends(bot, READER, before)
        assert "🏷 lithium + chile" in push.params["text"] and "🏷 Bogotá" in push.params["text"]
        assert "chile + lithium" not in push.params["text"]


async def test_a_digest_and_its_more_pages_name_topics_as_typed(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    clock = Clock(local(LA_PAZ, 2026, 3, 10, 20, 0))
    async with bot_at(fake_tg, feed_server, tmp_path / "db.sqlite3", clock) as bot:
        await bot.say(READER, "/start")
        for command in ("/topic add Lithium + Chile", "/timezone America/La_Paz", "/digest 08:00"):
            await bot.say(READER, command)
        before = len(sends(bot, READER))
        bot.publish(*(story(n, f"Chile lithium news {n}") for n in range(60, 72)))
        await bot.poll()
        await move_to(bot, clock, local(LA_PAZ, 2026, 3, 11, 8, 0))
        await bot.wait_sent(READER, before + 1)
        [digest] = sends(bot, READER, before)
        assert "🏷 <b>Lithium + Chile</b>" in digest.params["text"]
        assert "chile + lithium" not in digest.params["text"]
        [[more]] = digest.params["reply_markup"]["inline_keyboard"]
        message_id = digest.result["message_id"]
        edits = len(fake_tg.calls_of("editMessageText"))
        fake_tg.push_update(
            fake_tg.callback_update(READER, message_id, more["callback_data"], from_user=READER)
        )
        await fake_tg.wait_calls("editMessageText", edits + 1)
        page_two = fake_tg.message(READER, message_id).html or ""
        assert "🏷 <b>Lithium + Chile</b>" in page_two


async def test_digests_and_quiet_hours_release_separate_posts_in_order(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    clock = Clock(local(LA_PAZ, 2026, 3, 10, 20, 0))
    async with bot_at(fake_tg, feed_server, tmp_path / "db.sqlite3", clock) as bot:
        await channel_posts(bot, "/timezone America/La_Paz", "/digest 08:00")
        before = len(sends(bot, CHANNEL))
        bot.publish(story(51, "Bolivia second"), story(50, "Bolivia first"))  # newest first
        await bot.poll()
        await bot.quiet()
        bot.publish(story(52, "Bolivia third"))
        await bot.poll()
        await move_to(bot, clock, local(LA_PAZ, 2026, 3, 11, 7, 59))
        assert sends(bot, CHANNEL, before) == [], "held until the digest time"
        fake_tg.flood(CHANNEL, 1)  # the first post meets a 429: it goes again, in its place
        await move_to(bot, clock, local(LA_PAZ, 2026, 3, 11, 8, 0))
        await bot.wait_sent(CHANNEL, before + 3)
        await bot.quiet()
        digest = sends(bot, CHANNEL, before)
        assert titles(digest) == ["Bolivia first", "Bolivia second", "Bolivia third"]
        assert [c.status for c in fake_tg.calls if c.chat_id == CHANNEL].count(429) == 1
        settings = await bot.services.preferences.get(CHANNEL)
        assert settings.last_digest_at is not None

        # quiet hours: held while they last, then each headline its own post
        await bot.say(CHANNEL, "/digest off")
        await bot.say(CHANNEL, "/quiet 22:00-07:00")
        await move_to(bot, clock, local(LA_PAZ, 2026, 3, 11, 23, 0))
        before = len(sends(bot, CHANNEL))
        bot.publish(story(54, "Bolivia fifth"), story(53, "Bolivia fourth"))
        await bot.poll()
        await bot.quiet()
        assert sends(bot, CHANNEL, before) == []
        await move_to(bot, clock, local(LA_PAZ, 2026, 3, 12, 7, 0))
        await bot.wait_sent(CHANNEL, before + 2)
        assert titles(sends(bot, CHANNEL, before)) == ["Bolivia fourth", "Bolivia fifth"]


async def test_a_channel_posts_a_whole_feed_with_pictures_and_hashtags(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    """The README's first channel: every headline of one feed (`from:`), with its picture,
    and hashtags from the topics the channel added beside it."""
    feed_server.set_image("/p.png")
    picture = f'<media:content url="{feed_server.url("/p.png")}" medium="image"/>'
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        bot.fake.add_chat(CHANNEL, "channel", title="Wire", username="wirechan")
        sources = shown((await bot.say(CHANNEL, "/sources"))[-1])
        handle = re.search(r"from:[a-z0-9-]+", sources)
        assert handle is not None, sources
        source = handle.group(0)
        await bot.say(CHANNEL, f"/topic add {source}, Bolivia {source}, South Africa {source}")
        await bot.say(CHANNEL, "/format post")
        before = len(sends(bot, CHANNEL))
        bot.publish(
            story(82, "Peru elects a president", xml=picture),
            story(81, "Bolivia and South Africa sign a deal", xml=picture),
        )
        await bot.poll()
        await bot.wait_sent(CHANNEL, before + 2)
        await bot.quiet()
        first, second = sends(bot, CHANNEL, before)
        assert [c.method for c in (first, second)] == ["sendPhoto", "sendPhoto"]
        assert "Bolivia and South Africa" in shown(first) and "Peru" in shown(second)
        assert shown(first).endswith("#Bolivia #SouthAfrica")
        assert "#" not in shown(second).rsplit("</i>", 1)[-1], "a from: topic gives no tag"
