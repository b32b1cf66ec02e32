"""Housekeeping jobs of the running bot."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from bot.app import KEEP_FINISHED_SECONDS, prune_job
from storage.sqlite.chats import SqliteChatRepo
from tests.e2e.harness import item, running_bot
from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram import FakeTelegram


async def test_prune_job_deletes_old_finished_rows_and_keeps_the_rest(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with running_bot(
        fake_tg, feed_server, tmp_path / "db.sqlite3", items=[item(1, "Old news")]
    ) as bot:
        db = bot.services.storage.store
        now = time.time()
        old = now - KEEP_FINISHED_SECONDS - 60
        for chat in (1, 2, 3):
            await SqliteChatRepo(db).upsert(chat, kind="private", now=now, activate=True)
        headline = await db.scalar("SELECT id FROM headlines")
        rows = [
            (1, "sent", old, old),  # finished long ago: pruned
            (2, "sent", now, now),  # finished recently: kept
            (3, "pending", old, None),  # waiting (put off for an hour), however old: kept
        ]
        async with db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO outbox (chat_id, headline_id, priority, status, not_before,"
                " created_at, sent_at, closed_at) VALUES (?, ?, 1, ?, ?, ?, ?, ?)",
                [
                    (chat, headline, status, now + 3600, created, closed, closed)
                    for chat, status, created, closed in rows
                ],
            )
        assert bot.app.job_queue is not None
        bot.app.job_queue.run_once(prune_job, 0)
        for _ in range(100):
            if await db.scalar("SELECT count(*) FROM outbox") == 2:
                break
            await asyncio.sleep(0.05)
        left = await db.fetchall("SELECT chat_id FROM outbox ORDER BY chat_id")
        assert [r[0] for r in left] == [2, 3]
