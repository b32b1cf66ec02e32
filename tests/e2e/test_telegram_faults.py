"""The Bot API misbehaving: 5xx storms, timeouts, long flood waits, 409, 401, vanished chats.

Invariant for each: nothing lost (every queued push arrives once the fault clears), nothing
doubled (each headline reaches each chat once), and the bot keeps running, except for a
revoked token, where the process stops with exit code 3 and says why.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.e2e.harness import FEED, Harness, item, running_bot
from tests.e2e.test_process import bot_env
from tests.fakes.feed_server import FeedServer, rss
from tests.fakes.telegram import FakeTelegram

BASE = [item(1, "Bolivia Severs Ties", "x"), item(2, "Venezuela Backs Case", "y")]


async def subscribe(bot: Harness, *readers: int, topic: str = "bolivia") -> None:
    for reader in readers:
        await bot.say(reader, "/start")
        await bot.say(reader, f"/topic add {topic}")


def pushes(bot: Harness, chat_id: int, title: str) -> int:
    """How many messages to the chat carry this headline."""
    return sum(title in text for text in bot.texts(chat_id))


async def outbox_rows(bot: Harness, chat_id: int) -> list[sqlite3.Row]:
    return await bot.services.storage.store.fetchall(
        "SELECT status, not_before, attempts, last_error FROM outbox WHERE chat_id = ? ORDER BY id",
        (chat_id,),
    )


async def still_alive(bot: Harness, chat_id: int = 4242) -> None:
    """The bot is running and answers."""
    assert bot.app.running
    assert bot.app.updater is not None and bot.app.updater.running
    reply = await bot.say(chat_id, "/help")
    assert "Headline Bot" in reply[-1].params["text"]


@contextmanager
def captured(level: int = logging.WARNING) -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect(level)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield records
    finally:
        root.removeHandler(handler)


async def test_5xx_storm_loses_and_doubles_nothing(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    readers = (1101, 1102)
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        await subscribe(bot, *readers)
        counts = {r: len(bot.texts(r)) for r in readers}
        fake_tg.fail("sendMessage", 502, times=2)
        fake_tg.fail("sendMessage", 500, times=1)
        fake_tg.fail("sendMessage", 503, times=1)
        bot.publish(item(3, "Bolivia Storm Story", "x"))
        await bot.poll()
        await fake_tg.wait_for(
            lambda: sum(c.status >= 500 for c in fake_tg.calls_of("sendMessage")) == 4, 10
        )
        for reader in readers:
            await bot.wait_sent(reader, counts[reader] + 1, timeout=20)
        await bot.quiet()
        for reader in readers:
            assert pushes(bot, reader, "Bolivia Storm Story") == 1
            assert [r["status"] for r in await outbox_rows(bot, reader)] == ["sent"]
        await still_alive(bot)


async def test_a_timed_out_send_is_sent_again_once(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    """A send that gets no answer within python-telegram-bot's 5 s read timeout is retried.

    Here the request was lost on its way (the fake never completes it). Had Telegram
    processed it after all, the retry would show the headline twice: the Bot API has no
    idempotency key, and losing a push is the worse failure.
    """
    reader, other = 1201, 1202
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        await subscribe(bot, reader)
        count = len(bot.texts(reader))
        sends = len(fake_tg.calls_of("sendMessage"))
        fake_tg.delay("sendMessage", 60)
        started = time.monotonic()
        bot.publish(item(3, "Bolivia Slow Story", "x"))
        await bot.poll()
        await fake_tg.wait_for(lambda: len(fake_tg.calls_of("sendMessage")) > sends, 5)
        assert fake_tg.calls_of("sendMessage")[sends].params["chat_id"] == reader
        fake_tg.delay("sendMessage", 0)  # only the first request hangs
        # meanwhile the bot still answers other chats
        reply = await bot.say(other, "/latest 1")
        assert "Bolivia Slow Story" in reply[-1].params["text"]
        await bot.wait_sent(reader, count + 1, timeout=15)
        elapsed = time.monotonic() - started
        assert 5 <= elapsed < 12, elapsed
        await bot.quiet()
        assert pushes(bot, reader, "Bolivia Slow Story") == 1
        await still_alive(bot)


async def test_an_hour_of_flood_wait_for_one_chat_holds_up_no_other(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    flooded, other = 1301, 1302
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        await subscribe(bot, flooded, other)
        count = len(bot.texts(other))
        fake_tg.flood(flooded, retry_after=3600)
        started = time.time()
        bot.publish(item(3, "Bolivia Flood One", "x"))
        await bot.poll()
        await bot.wait_sent(other, count + 1, timeout=5)
        await fake_tg.wait_for(lambda: any(c.status == 429 for c in fake_tg.calls), 5)
        await bot.quiet()
        (row,) = await outbox_rows(bot, flooded)
        assert row["status"] == "pending"
        assert row["not_before"] >= started + 3599
        # more news: the other chat gets it at once, the flooded chat is not even tried
        calls = len([c for c in fake_tg.calls if c.chat_id == flooded])
        bot.publish(item(4, "Bolivia Flood Two", "y"))
        await bot.poll()
        await bot.wait_sent(other, count + 2, timeout=5)
        await bot.quiet()
        assert len([c for c in fake_tg.calls if c.chat_id == flooded]) == calls
        # the new headline joined the message the flooded chat is owed
        assert [r["status"] for r in await outbox_rows(bot, flooded)] == ["pending"]
        await still_alive(bot)
        items = bot.items
    # the queue outlives the process: restarted "an hour later" (moved forward by hand),
    # both arrive, once
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=items) as bot:
        await bot.services.storage.store.execute(
            "UPDATE outbox SET not_before = 0 WHERE chat_id = ?", (flooded,)
        )
        bot.services.delivery.wake()
        await fake_tg.wait_for(
            lambda: min(pushes(bot, flooded, f"Bolivia Flood {n}") for n in ("One", "Two")) >= 1,
            5,
        )
        await bot.quiet()
        assert pushes(bot, flooded, "Bolivia Flood One") == 1
        assert pushes(bot, flooded, "Bolivia Flood Two") == 1
        assert pushes(bot, other, "Bolivia Flood One") == 1
        assert pushes(bot, other, "Bolivia Flood Two") == 1


async def test_409_conflict_on_get_updates_is_survived(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    reader = 1401
    with captured() as records:
        async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
            await subscribe(bot, reader)
            fake_tg.conflict_get_updates(times=2)
            await fake_tg.wait_for(
                lambda: sum(c.status == 409 for c in fake_tg.calls_of("getUpdates")) == 2, 10
            )
            await still_alive(bot, reader)
            # pushes were never affected
            count = len(bot.texts(reader))
            bot.publish(item(3, "Bolivia After Conflict", "x"))
            await bot.poll()
            await bot.wait_sent(reader, count + 1, timeout=5)
            assert pushes(bot, reader, "Bolivia After Conflict") == 1
    conflicts = [r for r in records if "Conflict" in r.getMessage() or "409" in r.getMessage()]
    assert conflicts, "the conflict is logged"
    assert all(r.levelno == logging.WARNING for r in conflicts), [
        (r.name, r.levelname, r.getMessage()) for r in conflicts
    ]


async def test_chats_that_disappear_are_deactivated_and_others_unaffected(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    gone, deleted, blocked, kept = 1501, 1502, 1503, 1504
    group = -1505
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        await subscribe(bot, gone, deleted, blocked, kept)
        fake_tg.add_chat(group, "group")
        fake_tg.set_admins(group, [1506])
        await bot.say(group, "/topic add bolivia", from_user=1506)
        fake_tg.chat_not_found(gone)
        fake_tg.block(deleted, "Forbidden: user is deactivated")
        fake_tg.block(blocked)
        fake_tg.kick(group)
        bot.publish(item(3, "Bolivia Vanishing Act", "x"))
        await bot.poll()
        await bot.wait_sent(kept, 3)
        failed = {gone, deleted, blocked, group}
        await fake_tg.wait_for(
            lambda: (
                {c.chat_id for c in fake_tg.calls_of("sendMessage") if c.status >= 400} >= failed
            ),
            5,
        )
        await bot.quiet()
        for chat_id in failed:
            chat = await bot.services.chats.get(chat_id)
            assert chat is not None and not chat.active, chat_id
            assert [r["status"] for r in await outbox_rows(bot, chat_id)] == ["dropped"]
        # the next headline goes to the remaining chat only, once
        attempts = len(fake_tg.calls_of("sendMessage"))
        bot.publish(item(4, "Bolivia Second Act", "y"))
        await bot.poll()
        await bot.wait_sent(kept, 4)
        await bot.quiet()
        assert len(fake_tg.calls_of("sendMessage")) == attempts + 1
        assert pushes(bot, kept, "Bolivia Vanishing Act") == 1
        assert pushes(bot, kept, "Bolivia Second Act") == 1
        # a reader who comes back with /start is served again
        fake_tg.unblock(blocked)
        await bot.say(blocked, "/start")
        bot.publish(item(5, "Bolivia Third Act", "z"))
        await bot.poll()
        await fake_tg.wait_for(lambda: pushes(bot, blocked, "Bolivia Third Act") == 1, 5)
        await still_alive(bot)


async def test_revoked_token_stops_the_process_with_exit_code_3(
    tmp_path: Path, fake_tg: FakeTelegram, feed_server: FeedServer
) -> None:
    feed_server.set_feed(FEED, rss(BASE))
    env = bot_env(fake_tg, feed_server, tmp_path, POLL_INTERVAL_SECONDS="1")
    log_path = tmp_path / "bot.log"
    with log_path.open("w") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", env=env, cwd=tmp_path, stdout=log, stderr=log
        )
        try:
            await fake_tg.wait_calls("getUpdates", 1, timeout=30)
            fake_tg.push_update(fake_tg.message_update(42, "/start"))
            await fake_tg.wait_for(lambda: len(fake_tg.sent_to(42)) >= 1, 15)
            fake_tg.revoke_token()
            started = time.monotonic()
            # ends the long poll at once; what follows is refused
            fake_tg.push_update(fake_tg.message_update(42, "/help"))
            code = await asyncio.wait_for(proc.wait(), 20)
            elapsed = time.monotonic() - started
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    output = log_path.read_text()
    assert code == 3, output
    assert elapsed < 15, elapsed
    assert "401 Unauthorized: the token was revoked; stopping" in output, output
    assert "refused BOT_TOKEN" in output, output
    assert fake_tg.token.split(":", 1)[1] not in output
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        (active,) = db.execute("SELECT active FROM chats WHERE id = 42").fetchone()
        assert active == 1  # a revoked token says nothing about the readers
