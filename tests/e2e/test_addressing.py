"""Commands addressed to other bots get no answer; unknown ones get a hint only when ours.

Each check is followed by a /help in the same chat: a chat's updates are handled in order,
so once /help is answered, the command before it has had its chance to answer too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.harness import Harness, item, running_bot
from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram import FakeTelegram

BASE = [item(1, "Bolivia Severs Ties", "x")]
READER, GROUP, MEMBER, CHANNEL = 701, -700, 702, -1007000000001
HINT = "I don't know"
HELP = "Headline Bot"


async def answers(bot: Harness, chat_id: int, text: str, **kwargs: Any) -> list[str]:
    """What the bot said to `text`, read once a /help sent after it has been answered."""
    before = len(bot.texts(chat_id))
    for sent in (text, "/help"):
        bot.fake.push_update(bot.fake.message_update(chat_id, sent, **kwargs))
    await bot.fake.wait_for(lambda: any(HELP in t for t in bot.texts(chat_id)[before:]))
    await bot.quiet()  # a stray answer, were one sent, has arrived by now
    said = bot.texts(chat_id)[before:]
    assert HELP in said[-1], said
    return said[:-1]


async def test_commands_for_another_bot_are_ignored_in_private(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        await bot.say(READER, "/start")
        assert await answers(bot, READER, "/help@other_bot") == []
        assert await answers(bot, READER, "/stop@other_bot") == []
        assert await answers(bot, READER, "/Nonsense@Other_Bot with words") == []
        chat = await bot.services.chats.get(READER)
        assert chat is not None and chat.active, "/stop@other_bot did not pause pushes"
        # without a name, or with ours in any case, the private chat keeps its hint
        said = await answers(bot, READER, "/nonsense")
        assert len(said) == 1 and HINT in said[0] and "/nonsense" in said[0]
        said = await answers(bot, READER, "/nonsense@HEADLINE_test_BOT")
        assert len(said) == 1 and HINT in said[0]
        # a known command with our name in another case is ours
        said = await answers(bot, READER, "/latest@Headline_Test_Bot 1")
        assert len(said) == 1 and "Bolivia Severs Ties" in said[0]


async def test_groups_answer_only_commands_named_for_this_bot(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    fake_tg.add_chat(GROUP, "group", title="Readers")
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        member = {"from_user": MEMBER}
        assert await answers(bot, GROUP, "/nonsense", **member) == []
        assert await answers(bot, GROUP, "/help@other_bot", **member) == []
        assert await answers(bot, GROUP, "/stop@other_bot", **member) == []
        assert await answers(bot, GROUP, "/nonsense@other_bot", **member) == []
        said = await answers(bot, GROUP, "/nonsense@headline_test_bot", **member)
        assert len(said) == 1 and HINT in said[0]
        said = await answers(bot, GROUP, "/NONSENSE@Headline_Test_Bot", **member)
        assert len(said) == 1 and HINT in said[0] and "/nonsense" in said[0]
        said = await answers(bot, GROUP, "/latest@HEADLINE_TEST_BOT 1", **member)
        assert len(said) == 1 and "Bolivia Severs Ties" in said[0]


async def test_channel_posts_answer_only_commands_for_this_bot(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    fake_tg.add_chat(CHANNEL, "channel", title="News Channel", username="addrchan")
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        assert await answers(bot, CHANNEL, "/nonsense") == []
        assert await answers(bot, CHANNEL, "/help@other_bot") == []
        assert await answers(bot, CHANNEL, "/latest@other_bot") == []
        said = await answers(bot, CHANNEL, "/nonsense@Headline_Test_Bot")
        assert len(said) == 1 and HINT in said[0]
        said = await answers(bot, CHANNEL, "/latest@headline_TEST_bot 1")
        assert len(said) == 1 and "Bolivia Severs Ties" in said[0]
        assert all(c.params.get("chat_id") == CHANNEL for c in fake_tg.sent_to(CHANNEL))
