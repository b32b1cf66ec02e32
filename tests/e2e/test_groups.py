"""Groups, supergroups, forums and channels; the Telegram error policy."""

from __future__ import annotations

from pathlib import Path

from bot.delivery.limiter import Limits
from tests.e2e.harness import item, running_bot
from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram import FakeTelegram

BASE = [item(1, "Bolivia Severs Ties", "x"), item(2, "Venezuela Backs Case", "y")]
GROUP, ADMIN, MEMBER = -500, 201, 202
CHANNEL, OWNER = -1001234567890, 301


async def test_group_admin_changes_topics_member_is_refused(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    fake_tg.add_chat(GROUP, "group", title="Readers")
    fake_tg.set_admins(GROUP, [ADMIN])
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        fake_tg.push_update(fake_tg.my_chat_member_update(GROUP, ADMIN, "left", "member"))
        refused = await bot.say(GROUP, "/topic add bolivia", from_user=MEMBER)
        assert "admins" in refused[-1].params["text"]
        assert await bot.services.chats.list_topics(GROUP) == []
        ok = await bot.say(GROUP, "/topic@headline_test_bot add bolivia", from_user=ADMIN)
        assert "Following" in ok[-1].params["text"]
        # anonymous admin: posts as the group itself
        anon = await bot.say(GROUP, "/topic add venezuela", sender_chat=GROUP)
        assert "Following" in anon[-1].params["text"]
        # /latest works for everyone
        latest = await bot.say(GROUP, "/latest", from_user=MEMBER)
        assert "Bolivia" in latest[-1].params["text"]
        count = len(bot.texts(GROUP))
        bot.publish(item(3, "Bolivia News", "z"))
        await bot.poll()
        await bot.wait_sent(GROUP, count + 1)
        assert "Bolivia News" in bot.texts(GROUP)[-1]
        # a command meant for another bot is ignored
        fake_tg.push_update(fake_tg.message_update(GROUP, "/frob@other_bot", from_user=MEMBER))
        await bot.quiet()
        assert len(bot.texts(GROUP)) == count + 1


async def test_forum_topic_pushes_go_to_their_thread(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    forum = -1009999
    fake_tg.add_chat(forum, "supergroup", title="Forum", is_forum=True)
    fake_tg.set_admins(forum, [ADMIN])
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        await bot.say(
            forum, "/topic add lithium", from_user=ADMIN, message_thread_id=7, is_topic_message=True
        )
        count = len(bot.texts(forum))
        bot.publish(item(5, "Lithium Find", "x"))
        await bot.poll()
        calls = await bot.wait_sent(forum, count + 1)
        assert calls[-1].params.get("message_thread_id") == 7


async def test_channel_posts_and_private_management(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    fake_tg.add_chat(CHANNEL, "channel", title="News Channel", username="newschan")
    fake_tg.set_admins(CHANNEL, [OWNER])
    fake_tg.set_bot_admin(CHANNEL, True)
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        await bot.say(OWNER, "/start")
        before = len(bot.texts(OWNER))
        fake_tg.push_update(fake_tg.my_chat_member_update(CHANNEL, OWNER, "left", "administrator"))
        await bot.wait_sent(OWNER, before + 1)
        assert "/topic @newschan add" in bot.texts(OWNER)[-1]
        # a command posted in the channel itself
        posted = await bot.say(CHANNEL, "/topic add bolivia")
        assert "Following" in posted[-1].params["text"]
        # from private, as an admin of the channel
        managed = await bot.say(OWNER, "/topic @newschan add venezuela")
        assert "Following" in managed[-1].params["text"]
        topics = [s.topic for s in await bot.services.chats.list_topics(CHANNEL)]
        assert topics == ["bolivia", "venezuela"]
        # someone who is not an admin there is refused
        stranger = 999
        refused = await bot.say(stranger, "/topic @newschan add lithium")
        assert "Only admins" in refused[-1].params["text"]
        count = len(bot.texts(CHANNEL))
        bot.publish(item(6, "Venezuela Elections", "x"))
        await bot.poll()
        await bot.wait_sent(CHANNEL, count + 1)
        # removed from the channel: inactive
        fake_tg.push_update(fake_tg.my_chat_member_update(CHANNEL, OWNER, "administrator", "left"))
        await bot.quiet()
        chat = await bot.services.chats.get(CHANNEL)
        assert chat is not None and not chat.active


async def test_group_migration_keeps_topics_and_pending_pushes(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    new_id = -1002000000500
    fake_tg.add_chat(GROUP, "group")
    fake_tg.set_admins(GROUP, [ADMIN])
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        await bot.say(GROUP, "/topic add bolivia", from_user=ADMIN)
        fake_tg.migrate_chat(GROUP, new_id)  # sends to the old id now fail with migrate_to
        bot.publish(item(7, "Bolivia Upgrade", "x"))
        await bot.poll()
        await bot.wait_sent(new_id, 1)
        assert "Bolivia Upgrade" in bot.texts(new_id)[-1]
        topics = [s.topic for s in await bot.services.chats.list_topics(new_id)]
        assert topics == ["bolivia"]
        # the service message path is harmless afterwards
        fake_tg.push_update(fake_tg.migrate_update(GROUP, new_id, apply=False))
        bot.publish(item(8, "Bolivia Again", "x"))
        await bot.poll()
        await bot.wait_sent(new_id, 2)


async def test_service_message_migration(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    new_id = -1002000000600
    fake_tg.add_chat(-600, "group")
    fake_tg.set_admins(-600, [ADMIN])
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        await bot.say(-600, "/topic add venezuela", from_user=ADMIN)
        fake_tg.push_update(fake_tg.migrate_update(-600, new_id))
        await fake_tg.wait_for(lambda: bool(bot.services.index.topics_of(new_id)), 5)
        assert [s.topic for s in await bot.services.chats.list_topics(new_id)] == ["venezuela"]


async def test_blocked_reader_is_deactivated_and_others_still_served(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        for reader in (401, 402):
            await bot.say(reader, "/start")
            await bot.say(reader, "/topic add bolivia")
        fake_tg.block(401)
        count = len(bot.texts(402))
        bot.publish(item(9, "Bolivia Blocked Test", "x"))
        await bot.poll()
        await bot.wait_sent(402, count + 1)
        await fake_tg.wait_for(lambda: any(c.status == 403 for c in fake_tg.calls), 5)
        await bot.quiet()
        chat = await bot.services.chats.get(401)
        assert chat is not None and not chat.active
        backlog = await bot.services.outbox.backlog()
        assert backlog.get("total", 0) == 0


async def test_a_reader_who_blocks_the_bot_leaves_routing_at_once(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    """No restart and no failed send needed: the block itself takes the chat off the index."""
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        for reader in (411, 412):
            await bot.say(reader, "/start")
            await bot.say(reader, "/topic add bolivia")
        assert 411 in bot.services.index
        fake_tg.push_update(fake_tg.my_chat_member_update(411, 411, "member", "kicked"))
        await fake_tg.wait_for(lambda: 411 not in bot.services.index, 5)
        count = len(bot.texts(412))
        bot.publish(item(14, "Bolivia Goes Quiet", "x"))
        await bot.poll()
        await bot.wait_sent(412, count + 1)
        db = bot.services.storage.store
        assert await db.scalar("SELECT count(*) FROM outbox_pushes WHERE chat_id = 411") == 0
        assert not any(c.chat_id == 411 and c.status == 403 for c in fake_tg.calls)
        # unblocked, then /start: routed again from the next headline on
        fake_tg.push_update(fake_tg.my_chat_member_update(411, 411, "kicked", "member"))
        resumed = await bot.say(411, "/start")
        assert "bolivia" in resumed[-1].params["text"]
        assert 411 in bot.services.index
        count = len(bot.texts(411))
        bot.publish(item(15, "Bolivia Speaks Again", "x"))
        await bot.poll()
        await bot.wait_sent(411, count + 1)
        assert "Bolivia Speaks Again" in bot.texts(411)[-1]


async def test_429_for_one_chat_waits_and_does_not_stall_others(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with running_bot(fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE) as bot:
        for reader in (501, 502):
            await bot.say(reader, "/start")
            await bot.say(reader, "/topic add bolivia")
        fake_tg.flood(501, retry_after=2)
        counts = {r: len(bot.texts(r)) for r in (501, 502)}
        bot.publish(item(12, "Bolivia Flood Test", "x"))
        await bot.poll()
        await bot.wait_sent(502, counts[502] + 1)
        assert len(bot.texts(501)) == counts[501], "the other chat is not held up"
        await bot.wait_sent(501, counts[501] + 1, timeout=10)
        to_501 = [c for c in fake_tg.calls_of("sendMessage") if c.chat_id == 501]
        refused = next(c for c in to_501 if c.status == 429)
        assert to_501[-1].at - refused.at >= 2, "retry_after was respected"
        assert sum("Flood Test" in t for t in bot.texts(501)) == 1


async def test_pending_pushes_are_sent_after_a_restart(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    db = tmp_path / "db.sqlite3"
    async with running_bot(fake_tg, feed_server, db, items=BASE) as bot:
        await bot.say(601, "/start")
        await bot.say(601, "/topic add bolivia")
        count = len(bot.texts(601))
        fake_tg.flood(601, retry_after=30)  # the push stays queued
        bot.publish(item(13, "Bolivia Restart Test", "x"))
        await bot.poll()
        await fake_tg.wait_for(lambda: any(c.status == 429 for c in fake_tg.calls), 5)
        await bot.quiet()
        assert len(bot.texts(601)) == count
        items = bot.items
    fake_tg.clear_faults()
    async with running_bot(fake_tg, feed_server, db, items=items) as bot:
        # deferred rows keep their retry time; make it due now, as if 30 s had passed
        await bot.services.storage.store.execute("UPDATE outbox SET not_before = 0")
        bot.services.delivery.wake()
        await bot.wait_sent(601, count + 1)
        assert sum("Restart Test" in t for t in bot.texts(601)) == 1


async def test_strict_limits_get_no_429(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    """Several headlines to a private chat and a group within Telegram's windows."""
    fake_tg.enforce_limits = True
    fake_tg.add_chat(GROUP, "group")
    fake_tg.set_admins(GROUP, [ADMIN])
    async with running_bot(
        fake_tg, feed_server, tmp_path / "db.sqlite3", items=BASE, limits=Limits()
    ) as bot:
        await bot.say(701, "/start")
        await bot.say(701, "/topic add bolivia")
        await bot.say(701, "/help")
        await bot.say(GROUP, "/topic add bolivia", from_user=ADMIN)
        for n in range(3):
            bot.publish(item(800 + n, f"Bolivia Part {n}", "x"))
            await bot.poll()
        # pushes waiting for the chat's window may merge into one message: all arrive once
        await fake_tg.wait_for(
            lambda: all(any(f"Part {n}" in t for t in bot.texts(701)) for n in range(3)), 15
        )
        await bot.quiet()
        assert all(sum(f"Part {n}" in t for t in bot.texts(701)) == 1 for n in range(3))
        assert fake_tg.too_many_requests == 0
