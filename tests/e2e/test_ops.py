"""Operations, wired into the running bot: /metrics, /healthz, an online backup during a
broadcast, and the webhook endpoint as a stranger on the internet would try it."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

import bot.ops.status
from tests.e2e.harness import FEED, item, running_bot
from tests.e2e.test_process import SAMPLE, clean_env, run
from tests.e2e.test_webhook import free_port
from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram import FakeTelegram

READER = 5501
BROKEN = "/broken.xml"


async def get(url: str) -> tuple[int, Any]:
    """GET url: the status and the body (JSON when it is JSON, else text)."""
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        if "json" in response.headers.get("Content-Type", ""):
            return response.status, await response.json()
        return response.status, await response.text()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, parsed by prometheus-client's own parser."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def wait_health(url: str, status: int, timeout: float = 20) -> Any:
    """Poll /healthz until it answers `status`; return its body."""
    deadline = time.monotonic() + timeout
    while True:
        got, body = await get(url)
        if got == status:
            return body
        assert time.monotonic() < deadline, (got, body)
        await asyncio.sleep(0.2)


async def test_metrics_after_a_poll_and_a_push(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    port = free_port()
    async with running_bot(
        fake_tg, feed_server, tmp_path / "bot.sqlite3", items=[item(1, "Old")], metrics_port=port
    ) as h:
        await h.say(READER, "/start")
        await h.say(READER, "/topic add bolivia")
        fake_tg.flood(READER, retry_after=1)  # the push meets one 429, then goes through
        h.publish(item(2, "Bolivia votes"))
        await h.poll()
        await h.wait_sent(READER, 3, timeout=15)
        await h.quiet()
        status, text = await get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        got = samples(text)

        def value(name: str, **labels: str) -> float:
            return got[(name, tuple(sorted(labels.items())))]

        assert value("headline_bot_messages_sent_total", kind="reply") == 2
        assert value("headline_bot_messages_sent_total", kind="push") == 1
        assert value("headline_bot_messages_sent_total", kind="broadcast") == 0
        assert value("headline_bot_flood_waits_total") == 1
        assert value("headline_bot_api_errors_total", **{"class": "forbidden"}) == 0
        fetches = {o: value("headline_bot_feed_fetches_total", outcome=o) for o in ("new", "error")}
        assert fetches == {"new": 2, "error": 0}  # the baseline at start-up, then the poll
        assert value("headline_bot_poll_duration_seconds_count") >= 2
        # the two replies, the 429 and the push: each send from request to answer
        assert value("headline_bot_send_latency_seconds_count") == 4
        assert value("headline_bot_active_chats") == 1
        assert value("headline_bot_headlines_stored") == 2
        assert value("headline_bot_outbox_backlog") == 0


async def test_healthz_reports_a_failing_feed_and_turns_503_for_the_bots_own_faults(
    fake_tg: FakeTelegram,
    feed_server: FeedServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port()
    feed_server.set_status(BROKEN, 503)
    feeds = [feed_server.url(FEED), feed_server.url(BROKEN)]
    url = f"http://127.0.0.1:{port}/healthz"
    async with running_bot(
        fake_tg, feed_server, tmp_path / "bot.sqlite3", metrics_port=port, feed_urls=feeds
    ) as h:
        body = await wait_health(url, 200)
        assert body["status"] == "ok" and body["database_writable"] is True
        assert [f["url"] for f in body["failing_feeds"]] == [feed_server.url(BROKEN)]
        assert body["failing_feeds"][0]["error"] == "HTTP 503"

        # the database takes no write
        await h.services.storage.store.execute("PRAGMA query_only = ON")
        body = await wait_health(url, 503)
        assert any("database not writable" in p for p in body["problems"]), body
        assert body["database_writable"] is False
        await h.services.storage.store.execute("PRAGMA query_only = OFF")
        body = await wait_health(url, 200)
        assert body["database_writable"] is True

        # the Bot API stops answering (five minutes are two seconds here)
        monkeypatch.setattr(bot.ops.status, "API_SILENCE_SECONDS", 2.0)
        fake_tg.delay("getUpdates", 60)
        fake_tg.delay("getMe", 60)
        body = await wait_health(url, 503)
        assert body["problems"][0].startswith("no Bot API answer for"), body
        fake_tg.clear_faults()
        await wait_health(url, 200, timeout=30)


async def test_backup_during_a_broadcast_holds_every_headline(
    fake_tg: FakeTelegram, feed_server: FeedServer, tmp_path: Path
) -> None:
    db = tmp_path / "bot.sqlite3"
    items = [item(n, f"Story number {n}", f"Summary {n} " * 20) for n in range(1, 301)]
    async with running_bot(fake_tg, feed_server, db, items=items) as h:
        for chat_id in range(10_001, 10_401):
            await h.services.chats.register(chat_id, kind="private")
        fake_tg.delay("sendMessage", 0.005)  # a broadcast that takes a few seconds
        draft = await h.services.broadcasts.create(
            admin_id=1, audience="all", text="Scheduled maintenance tonight", now=time.time()
        )
        assert await h.services.broadcasts.confirm(draft.id, now=time.time()) == 400
        h.services.delivery.wake()
        await fake_tg.wait_for(lambda: len(fake_tg.calls_of("sendMessage")) >= 20)

        backup = tmp_path / "backup.sqlite3"
        env = clean_env(DATABASE_PATH=str(db), FEED_URLS=str(SAMPLE))
        code, out = await run("backup", str(backup), env=env, cwd=tmp_path)
        progress = await h.services.broadcasts.progress(draft.id)
        assert progress.remaining > 0, progress  # it was still running
        assert code == 0 and "integrity ok" in out and "300 headlines" in out, out

    copy = sqlite3.connect(backup)
    live = sqlite3.connect(db)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        query = "SELECT id, title, link FROM headlines ORDER BY id"
        assert copy.execute(query).fetchall() == live.execute(query).fetchall()
        assert len(copy.execute(query).fetchall()) == 300
        (rows,) = copy.execute("SELECT count(*) FROM outbox WHERE broadcast_id = ?", (draft.id,))
        assert rows == (400,)
    finally:
        copy.close()
        live.close()


async def post(url: str, body: bytes, secret: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as response,
    ):
        await response.read()
        return response.status


@pytest.mark.parametrize("given", [True, False], ids=["secret-given", "secret-generated"])
async def test_webhook_takes_bad_requests_calmly_and_never_logs_the_secret(
    tmp_path: Path, fake_tg: FakeTelegram, given: bool
) -> None:
    port = free_port()
    env = clean_env(
        BOT_TOKEN=fake_tg.token,
        TELEGRAM_API_URL=f"http://127.0.0.1:{fake_tg.port}",
        FEED_URLS=str(SAMPLE),
        DATABASE_PATH=str(tmp_path / "w.sqlite3"),
        WEBHOOK_URL="https://bot.example.org/hook",
        PORT=str(port),
        LOG_LEVEL="DEBUG",
        **({"WEBHOOK_SECRET": "Very-s3cret_hook-token"} if given else {}),
    )
    log_path = tmp_path / "bot.log"
    with log_path.open("w") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", env=env, cwd=tmp_path, stdout=log, stderr=log
        )
        try:
            calls = await fake_tg.wait_calls("setWebhook", 1, timeout=30)
            secret = str(calls[0].params["secret_token"])
            assert len(secret) >= 16
            hook = f"http://127.0.0.1:{port}/hook"
            for _ in range(100):  # the listener starts a moment after setWebhook
                try:
                    status = await post(hook, b"{}", "wrong")
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            assert status == 403
            assert await post(hook, b"{}", None) == 403
            bad = [b"this is not json", b"[1, 2, 3]", b'{"no": "update_id"}', b"\xff\xfe"]
            bad.append(b'{"update_id": 7, "message": "not a message"}')
            for body in bad:
                assert await post(hook, body, secret) == 400, body
            update = fake_tg.message_update(77, "/help")
            update["update_id"] = 8
            assert await fake_tg.post_update(hook, update, secret_token=secret) == 200
            await fake_tg.wait_for(lambda: len(fake_tg.sent_to(77)) == 1, 10)
            status, body = await get(f"http://127.0.0.1:{port}/healthz")
            assert status == 200 and body["status"] == "ok", body
            status, text = await get(f"http://127.0.0.1:{port}/metrics")
            assert status == 200
            assert samples(text)[("headline_bot_messages_sent_total", (("kind", "reply"),))] == 1
        finally:
            proc.terminate()
            assert await asyncio.wait_for(proc.wait(), 15) == 0
    output = log_path.read_text()
    assert secret not in output and fake_tg.token not in output
    assert "Traceback" not in output and "CRITICAL" not in output, output
    assert "DEBUG" in output  # the debug lines were there to leak it, and did not
    warnings = [line for line in output.splitlines() if " WARNING " in line]
    refused = [line for line in warnings if "webhook: refused" in line]
    assert len(refused) == 2 + len(bad), warnings
    assert len([line for line in refused if "(400)" in line]) == len(bad)
    assert all(re.search(r"\(40[03]\)$", line) for line in refused), refused
