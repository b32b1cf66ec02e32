"""`python -m bot backup` beside a running bot, and `restore` once it has stopped."""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e.harness import FEED, item
from tests.e2e.test_process import (
    SAMPLE,
    bot_env,
    clean_env,
    kill_if_running,
    run,
    sigterm_stops_cleanly,
    spawn_bot,
)
from tests.fakes.feed_server import FeedServer, rss
from tests.fakes.telegram import FakeTelegram


def counted(out: str, what: str) -> int:
    match = re.search(rf"(\d+) {what}", out)
    assert match, out
    return int(match.group(1))


async def test_backup_while_running_then_restore(
    tmp_path: Path, fake_tg: FakeTelegram, feed_server: FeedServer
) -> None:
    feed_server.set_feed(FEED, rss([item(n, f"Bolivia story {n}", "x") for n in range(1, 13)]))
    env = bot_env(fake_tg, feed_server, tmp_path, POLL_INTERVAL_SECONDS="1")
    backup = tmp_path / "backups" / "nightly.sqlite3"
    proc = await spawn_bot(env, tmp_path)
    try:
        await fake_tg.wait_calls("getUpdates", 1, timeout=30)
        fake_tg.push_update(fake_tg.message_update(42, "/start"))
        await fake_tg.wait_for(lambda: len(fake_tg.sent_to(42)) >= 1, 15)
        await fake_tg.wait_for(lambda: feed_server.hits(FEED) >= 1, 15)

        code, out = await run("backup", str(backup), env=env, cwd=tmp_path)
        assert code == 0, out
        assert "integrity ok" in out and "KB" in out
        assert counted(out, "headlines") == 12 and counted(out, "chats") == 1
        assert "subscriptions" in out and "outbox pending" in out

        code, out = await run("restore", str(backup), env=env, cwd=tmp_path)
        assert code == 1 and "restore refused" in out and "stop it first" in out, out

        # more news after the backup: the restore takes the database back before it
        hits = feed_server.hits(FEED)
        feed_server.set_feed(FEED, rss([item(n, f"Bolivia story {n}", "x") for n in range(1, 16)]))
        await fake_tg.wait_for(lambda: feed_server.hits(FEED) >= hits + 2, 15)
        await sigterm_stops_cleanly(proc)
    finally:
        await kill_if_running(proc)
    code, out = await run("search", "bolivia", env=env, cwd=tmp_path)
    assert code == 0 and "Showing 10 of 15 results" in out, out

    code, out = await run("restore", str(backup), env=env, cwd=tmp_path)
    assert code == 0, out
    assert "restored" in out and counted(out, "headlines") == 12
    assert "bot.sqlite3.pre-restore" in out
    code, out = await run("search", "bolivia", env=env, cwd=tmp_path)
    assert code == 0 and "Showing 10 of 12 results" in out, out


async def test_backup_failures_exit_1(tmp_path: Path) -> None:
    env = clean_env(FEED_URLS=str(SAMPLE), DATABASE_PATH=str(tmp_path / "bot.sqlite3"))
    code, out = await run("backup", str(tmp_path / "b.sqlite3"), env=env, cwd=tmp_path)
    assert code == 1 and "backup failed" in out and "Traceback" not in out, out
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_text("hello")
    code, out = await run("restore", str(garbage), env=env, cwd=tmp_path)
    assert code == 1 and "restore failed" in out and "Traceback" not in out, out
    assert not (tmp_path / "bot.sqlite3").exists()
    code, out = await run("backup", "--help", env=env, cwd=tmp_path)
    assert code == 0 and "integrity_check" in out
