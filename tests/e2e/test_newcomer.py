"""The small things a newcomer met: /stop twice, /start after /stop, a broadcast to nobody,
the feeds /stats counts, long button labels, /topic add past the limit, channel buttons,
`python -m bot search` and the name `headline-bot --help` gives itself."""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import item, running_bot
from tests.e2e.test_process import SAMPLE, clean_env, run
from tests.fakes.feed_server import FeedServer, rss
from tests.fakes.telegram import FakeTelegram

BASE = [item(1, "Bolivia Severs Ties", "x"), item(2, "Lithium Deal", "y")]
ALICE, ADMIN = 101, 201
CHANNEL, OWNER, READER = -1001234567890, 301, 302
SECOND = "/second.xml"


def button_texts(markup: dict[str, Any] | None) -> list[str]:
    """Every inline button's text, row after row."""
    return [b["text"] for row in (markup or {}).get("inline_keyboard", []) for b in row]


async def test_a_second_stop_says_paused_and_start_says_resumed(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        await bot.say(ALICE, "/start")
        first = (await bot.say(ALICE, "/stop"))[-1].params["text"]
        assert first.startswith("⏸ Pushes paused.")
        second = (await bot.say(ALICE, "/stop"))[-1].params["text"]
        assert second == "Pushes were already paused. /start resumes them."
        # no topics yet: the welcome still says pushes are back on
        resumed = (await bot.say(ALICE, "/start"))[-1].params["text"]
        assert resumed.startswith("▶️ Pushes resumed.") and "Welcome" in resumed
        again = (await bot.say(ALICE, "/start"))[-1].params["text"]
        assert "resumed" not in again, "a /start while pushes are on says nothing of resuming"
        await bot.say(ALICE, "/topic add bolivia")
        await bot.say(ALICE, "/stop")
        with_topics = (await bot.say(ALICE, "/start"))[-1].params["text"]
        assert with_topics.startswith("▶️ Pushes resumed.") and "bolivia" in with_topics


async def test_a_broadcast_to_no_chat_cannot_be_confirmed(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with running_bot(
        fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE, admin_ids=[ADMIN]
    ) as bot:
        await bot.say(ADMIN, "/start")
        calls = await bot.say(ADMIN, "/broadcast channels Hello channels", replies=2)
        preview, answer = calls[-2], calls[-1]
        assert preview.params["text"] == "Hello channels"
        text = answer.params["text"]
        assert "no active chat" in text and "Nothing was queued" in text
        assert "reply_markup" not in answer.params, "no confirm button for nobody"
        assert await bot.services.broadcasts.active() == []
        # with chats in the audience, the button counts them, singular or plural
        calls = await bot.say(ADMIN, "/broadcast users Hello", replies=2)
        assert "1 active chat. Send it?" in calls[-1].params["text"]
        assert button_texts(calls[-1].params["reply_markup"])[0] == "✅ Send to 1 chat"


async def test_stats_and_the_alerts_count_feeds_added_with_feeds_add(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    feed_server.set_feed(SECOND, rss([item(50, "Second Wire Story", "z")]))
    async with running_bot(
        fake_tg,
        feed_server,
        tmp_path / "db.sqlite3",
        items=BASE,
        admin_ids=[ADMIN],
        allow_private_feeds=True,
        feed_alert_after_seconds=1,
    ) as bot:
        await bot.say(ADMIN, "/start")
        await bot.say(ADMIN, f"/feeds add {feed_server.url(SECOND)} Wire", replies=2)
        stats = (await bot.say(ADMIN, "/stats"))[-1].params["text"]
        assert "<b>Feeds</b> (2)" in stats and feed_server.url(SECOND) in stats
        # the same count as the console's banner (bot/console.py reads services.feeds.all())
        assert len(await bot.services.feeds.all()) == 2
        feed_server.set_status(SECOND, 503)
        await fake_tg.wait_for(
            lambda: any(
                feed_server.url(SECOND) in t and "Feed failing" in t for t in bot.texts(ADMIN)
            ),
            timeout=20,
        )


async def test_long_button_labels_end_with_an_ellipsis(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    long_topic = "extraordinarily protracted negotiations over lithium royalty tax"  # 64
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        await bot.say(ALICE, f"/topic add {long_topic}")
        listing = (await bot.say(ALICE, "/topic"))[-1]
        [label] = button_texts(listing.params["reply_markup"])
        assert len(label) <= 64 and label.endswith("…"), label
        assert label.startswith("✖ extraordinarily protracted")


async def test_topic_add_past_the_limit_keeps_what_fits_and_names_the_rest(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with running_bot(
        fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE, max_topics_per_chat=3
    ) as bot:
        await bot.say(ALICE, "/start")
        text = (await bot.say(ALICE, "/topic add bolivia, chile, peru, lithium, copper"))[
            -1
        ].params["text"]
        kept = [s.topic for s in await bot.services.chats.list_topics(ALICE)]
        assert sorted(kept) == ["bolivia", "chile", "peru"]
        assert "✅ Following: <b>bolivia</b>, <b>chile</b>, <b>peru</b>" in text
        assert "A chat may follow 3 topics, so these were left out:" in text
        assert "<b>lithium</b>, <b>copper</b>" in text
        one = (await bot.say(ALICE, "/topic add zinc"))[-1].params["text"]
        assert "so this one was left out: <b>zinc</b>" in one


async def test_a_channel_reader_cannot_press_its_remove_buttons(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    fake_tg.add_chat(CHANNEL, "channel", title="News Channel", username="newschan")
    fake_tg.set_admins(CHANNEL, [OWNER])
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        fake_tg.push_update(fake_tg.my_chat_member_update(CHANNEL, OWNER, "left", "administrator"))
        await bot.say(CHANNEL, "/topic add bolivia")
        listing = (await bot.say(CHANNEL, "/topic"))[-1]
        data = listing.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        message_id = listing.result["message_id"]
        before = len(fake_tg.calls_of("answerCallbackQuery"))
        fake_tg.push_update(fake_tg.callback_update(CHANNEL, message_id, data, from_user=READER))
        answers = await fake_tg.wait_calls("answerCallbackQuery", before + 1)
        assert "Only admins" in answers[before].params["text"]
        assert [s.topic for s in await bot.services.chats.list_topics(CHANNEL)] == ["bolivia"]
        # the channel's admin may
        fake_tg.push_update(fake_tg.callback_update(CHANNEL, message_id, data, from_user=OWNER))
        answers = await fake_tg.wait_calls("answerCallbackQuery", before + 2)
        assert answers[before + 1].params["text"] == "Removed bolivia"
        for _ in range(50):
            if not await bot.services.chats.list_topics(CHANNEL):
                break
            await asyncio.sleep(0.05)
        assert await bot.services.chats.list_topics(CHANNEL) == []


async def test_search_on_the_command_line_says_how_many_and_refuses_zero(tmp_path: Path) -> None:
    env = clean_env(FEED_URLS=str(SAMPLE), DATABASE_PATH=str(tmp_path / "h.sqlite3"))
    code, out = await run("poll", env=env, cwd=tmp_path)
    assert code == 0, out
    code, out = await run("search", "-n", "1", "bolivia", env=env, cwd=tmp_path)
    assert code == 0, out
    first = out.splitlines()[0]
    assert first.startswith("Showing 1 of ") and first.endswith("results for: bolivia:"), out
    assert "To see " in out and "python -m bot search -n " in out and "bolivia" in out
    code, out = await run("search", '"bolivia"', env=env, cwd=tmp_path)
    assert 'for: "bolivia"' in out, "the query as typed, not its repr"
    for bad in ("0", "-3"):
        code, out = await run("search", "-n", bad, "bolivia", env=env, cwd=tmp_path)
        assert code == 2 and "must be 1 or more" in out, out


async def test_the_installed_script_names_itself(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("headline-bot")
    if not script.exists() and shutil.which("headline-bot") is None:
        pytest.skip("the headline-bot script is not installed")
    proc = await asyncio.create_subprocess_exec(
        str(script) if script.exists() else "headline-bot",
        "--help",
        env=clean_env(),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0
    assert out.decode().startswith("usage: headline-bot"), out
