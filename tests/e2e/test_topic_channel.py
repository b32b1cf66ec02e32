"""/topic @channel from a private chat: each reason a channel cannot be managed is said."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.harness import item, running_bot
from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram import FakeTelegram

CHANNEL, OTHER_USER, OWNER = -1001234567891, 302, 301


async def test_a_channel_that_cannot_be_managed_says_why(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    fake_tg.add_chat(CHANNEL, "channel", title="Wire", username="wirechan")
    fake_tg.set_admins(CHANNEL, [OWNER])
    fake_tg.set_bot_admin(CHANNEL, False)
    fake_tg.add_chat(OTHER_USER, "private", username="someone")
    items = [item(1, "Bolivia Severs Ties", "x")]
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=items) as bot:
        unknown = await bot.say(OWNER, "/topic @nosuchchan add lithium")
        assert "I can't find @nosuchchan" in unknown[-1].params["text"]
        user = await bot.say(OWNER, "/topic @someone add lithium")
        assert "@someone is not a channel or group" in user[-1].params["text"]
        not_admin = await bot.say(OWNER, "/topic @wirechan add lithium")
        assert "Make me an admin of @wirechan first" in not_admin[-1].params["text"]
        assert await bot.services.chats.list_topics(CHANNEL) == []
