"""`python -m bot copy-db` on real data, there and back: SQLite -> PostgreSQL -> SQLite.

The SQLite database is made by the real bot: readers with topics and settings (a language,
a digest held for later), two feeds, headlines, a broadcast the bot was killed in the middle
of, and pushes `python -m bot poll` queued while no bot ran. After the copy, the bot started
on PostgreSQL sends what was pending (the pushes, the rest of the broadcast), holds the
digest still, and answers /search as the SQLite bot did. Copied back into a new SQLite file,
the same again, with what was queued on PostgreSQL in the meantime.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest

from storage import open_storage
from tests.e2e import harness
from tests.e2e.harness import FEED, item
from tests.e2e.test_crash import ADMIN, confirm_broadcast, message_text
from tests.e2e.test_process import clean_env, run
from tests.e2e.test_standby import LoggedBot
from tests.fakes.feed_server import FeedServer, rss
from tests.fakes.telegram import Call, FakeTelegram

AUDIENCE = range(1, 201)  # registered straight in the database: the broadcast's readers
BOLIVIA, DIGEST, SPANISH = 11, 12, 13  # readers who talk to the bot
SECOND = "/second.xml"


async def say(fake: FakeTelegram, chat_id: int, text: str) -> Call:
    """Send a message as the user; return the bot's reply."""
    before = len(fake.sent_to(chat_id))
    fake.push_update(fake.message_update(chat_id, text))
    await fake.wait_for(lambda: len(fake.sent_to(chat_id)) > before, 20)
    return fake.sent_to(chat_id)[before]


def texts(fake: FakeTelegram, chat_id: int) -> str:
    return "\n\n".join(message_text(c) for c in fake.sent_to(chat_id))


@pytest.mark.slow
async def test_copy_to_postgres_and_back_keeps_what_was_pending(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    assert harness.postgres is not None, "a PostgreSQL test (see conftest.py)"
    source = tmp_path / "bot.sqlite3"
    postgres = harness.postgres.url_for(tmp_path / "copy")
    back = tmp_path / "back.sqlite3"
    items = [item(1, "Old news", "x")]
    feed_server.set_feed(FEED, rss(items))
    feed_server.set_feed(SECOND, rss([item(100, "Second feed's first item", "y")]))
    storage = await open_storage(source)
    for chat in AUDIENCE:
        await storage.chats.upsert(chat, kind="private", title=f"Reader {chat}", now=time.time())
    await storage.close()

    def env(fake: FakeTelegram, **database: str) -> dict[str, str]:
        values = clean_env(
            BOT_TOKEN=fake.token,
            TELEGRAM_API_URL=f"http://127.0.0.1:{fake.port}",
            FEED_URLS=feed_server.url(FEED),
            POLL_INTERVAL_SECONDS="1",
            ADMIN_IDS=str(ADMIN),
            ALLOW_PRIVATE_FEEDS="true",
            LOG_LEVEL="INFO",
        )
        values.update(database)  # this test names each database itself
        return values

    on_sqlite = {"DATABASE_PATH": str(source)}
    on_postgres = {"DATABASE_PATH": str(tmp_path / "unused.sqlite3"), "DATABASE_URL": postgres}
    on_back = {"DATABASE_PATH": str(back)}
    later = time.gmtime(time.time() + 6 * 3600)  # a digest hour that is hours away
    announcement = "<b>Copy test</b> announcement"

    def announced(*fakes: FakeTelegram) -> list[Call]:
        return [
            c
            for fake in fakes
            for c in fake.calls
            if c.ok and c.chat_id != ADMIN and "Copy test" in message_text(c)
        ]

    # 1. The bot on SQLite: readers, settings, a second feed, a push, a broadcast cut short.
    async with FakeTelegram(enforce_limits=True) as fake1:
        bot = LoggedBot("sqlite", env(fake1, **on_sqlite), tmp_path)
        try:
            await bot.start()
            await fake1.wait_calls("getUpdates", 1, timeout=30)
            for chat, commands in (
                (BOLIVIA, ["/start", "/topic add bolivia"]),
                (DIGEST, ["/start", "/topic add lithium", f"/digest {later.tm_hour:02d}:00"]),
                (SPANISH, ["/start", "/language es", "/topic add bolivia"]),
                (ADMIN, ["/start", f"/feeds add {feed_server.url(SECOND)} Second"]),
            ):
                for command in commands:
                    await say(fake1, chat, command)
            items[:0] = [
                item(2, "Referendum in Bolivia", "Voters decide."),
                item(3, "Referendum in Chile", "Voters decide."),
            ]
            feed_server.set_feed(FEED, rss(items))
            await fake1.wait_for(
                lambda: all("Referendum in Bolivia" in texts(fake1, c) for c in (BOLIVIA, SPANISH)),
                20,
            )
            search_sqlite = message_text(await say(fake1, BOLIVIA, "/search referendum"))
            assert "Referendum in Chile" in search_sqlite
            await confirm_broadcast(fake1, announcement)
            await fake1.wait_for(lambda: len(announced(fake1)) >= 40, 30)
            await bot.kill()
        finally:
            await bot.stop()
    cut_short = len(announced(fake1))
    assert cut_short < len(AUDIENCE), "the broadcast finished before the kill"

    # 2. Pushes queued while no bot runs, for the readers and for the digest held.
    items.insert(0, item(4, "Bolivia signs a lithium deal", "Prices moved."))
    feed_server.set_feed(FEED, rss(items))
    code, out = await run("poll", env=env(fake1, **on_sqlite), cwd=tmp_path)
    assert code == 0 and "1 new" in out, out

    # 3. Copy to PostgreSQL; a second copy into it is refused.
    code, out = await run("copy-db", postgres, env=env(fake1, **on_sqlite), cwd=tmp_path)
    assert code == 0, out
    assert "every table's row count matches" in out and "copied headlines:" in out, out
    assert postgres not in out  # nor its password, were there one
    code, out = await run("copy-db", postgres, env=env(fake1, **on_sqlite), cwd=tmp_path)
    assert code == 1 and "not empty" in out, out

    # 4. The bot on PostgreSQL sends what was pending and answers /search as before.
    async with FakeTelegram(enforce_limits=True) as fake2:
        bot = LoggedBot("postgres", env(fake2, **on_postgres), tmp_path)
        try:
            await bot.start()
            await fake2.wait_for(
                lambda: all("lithium deal" in texts(fake2, c) for c in (BOLIVIA, SPANISH)), 30
            )
            reached = {c.chat_id for c in announced(fake1, fake2)}
            await fake2.wait_for(
                lambda: reached | {c.chat_id for c in announced(fake2)} >= set(AUDIENCE), 60
            )
            assert "Referendum" not in texts(fake2, BOLIVIA) + texts(fake2, SPANISH)  # not again
            assert message_text(await say(fake2, BOLIVIA, "/search referendum")) == search_sqlite
            assert "lithium deal" not in texts(fake2, DIGEST)  # still held for its hour
        finally:
            assert await bot.stop() == 0, bot.tail()
        per_chat = Counter(c.chat_id for c in announced(fake1, fake2))
        assert set(per_chat) >= set(AUDIENCE)
        assert len([c for c, n in per_chat.items() if n > 1]) <= 1  # the one in flight

    # 5. Queued on PostgreSQL, copied back into a new SQLite file: the same again.
    items.insert(0, item(5, "Bolivia sets an election date", "Officials said."))
    feed_server.set_feed(FEED, rss(items))
    code, out = await run("poll", env=env(fake2, **on_postgres), cwd=tmp_path)
    assert code == 0 and "1 new" in out, out
    code, out = await run("copy-db", str(back), env=env(fake2, **on_postgres), cwd=tmp_path)
    assert code == 0 and "every table's row count matches" in out, out
    async with FakeTelegram(enforce_limits=True) as fake3:
        bot = LoggedBot("back", env(fake3, **on_back), tmp_path)
        try:
            await bot.start()
            await fake3.wait_for(
                lambda: all("election date" in texts(fake3, c) for c in (BOLIVIA, SPANISH)), 30
            )
            assert message_text(await say(fake3, BOLIVIA, "/search referendum")) == search_sqlite
            spanish = texts(fake3, SPANISH)
        finally:
            assert await bot.stop() == 0, bot.tail()
        assert "lithium deal" not in texts(fake3, BOLIVIA) + spanish  # sent on PostgreSQL
        assert not announced(fake3)  # the broadcast was finished there
        assert texts(fake3, DIGEST) == ""
    # the digest is still held, both headlines in it
    conn = sqlite3.connect(back)
    try:
        held = conn.execute(
            "SELECT h.title FROM outbox_pushes AS p JOIN headlines AS h ON h.id = p.headline_id"
            " WHERE p.chat_id = ? AND p.status = 'pending'",
            (DIGEST,),
        ).fetchall()
    finally:
        conn.close()
    assert [t for (t,) in held] == ["Bolivia signs a lithium deal"]


async def test_backup_and_restore_on_postgres_name_its_own_tools(tmp_path: Path) -> None:
    url = "postgresql://bot:s3cretpw@db.example:5432/headlines"
    env = clean_env(DATABASE_URL=url)
    code, out = await run("backup", "nightly.dump", env=env, cwd=tmp_path)
    assert code == 2 and len(out.strip().splitlines()) == 1, out
    assert 'pg_dump --format=custom --file=nightly.dump "$DATABASE_URL"' in out
    code, out = await run("restore", "nightly.dump", env=env, cwd=tmp_path)
    assert code == 2 and len(out.strip().splitlines()) == 1, out
    assert "stop every bot" in out and "pg_restore" in out and "nightly.dump" in out
    assert "s3cretpw" not in out
