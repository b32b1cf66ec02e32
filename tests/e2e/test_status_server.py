"""The status server over real HTTP: /healthz decides 200 or 503, /metrics is scrapeable.

Also the operations settings: METRICS_PORT, METRICS_HOST, and WEBHOOK_URL's https check.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from bot.config import SettingsError, load_settings
from bot.ops.status import (
    BotHealthProvider,
    FailingFeed,
    HealthSnapshot,
    StatusServer,
    add_status_routes,
)
from bot.telemetry.liveness import Liveness
from bot.telemetry.metrics import Metrics
from storage.sqlite.db import Database, database_write_error
from tests.e2e.test_process import ROOT, SAMPLE, clean_env, run

INTERVAL = 60.0


class FakeProvider:
    """A HealthProvider whose snapshot the test sets."""

    def __init__(self) -> None:
        now = time.time()
        self.current = HealthSnapshot(
            started_at=now - 600,
            last_poll_at=now - 5,
            last_api_answer_at=now - 1,
            database_writable=True,
            outbox_backlog=2,
        )
        self.calls = 0

    def change(self, **values: Any) -> None:
        self.current = dataclasses.replace(self.current, **values)

    async def snapshot(self) -> HealthSnapshot:
        self.calls += 1
        return self.current


async def get(url: str) -> tuple[int, str, Any]:
    """GET url; return the status, the Content-Type and the body (JSON when it is JSON)."""
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        ctype = response.headers.get("Content-Type", "")
        body = await response.json() if "json" in ctype else await response.text()
        return response.status, ctype, body


async def test_healthz_answers_and_recovers() -> None:
    provider = FakeProvider()
    async with StatusServer(provider, Metrics(), interval=INTERVAL, port=0) as server:
        assert server.port != 0
        failing = FailingFeed("https://feeds.example/digest.xml", time.time() - 900, "HTTP 503")
        provider.change(failing_feeds=(failing,))
        status, ctype, body = await get(f"{server.url}/healthz")
        assert status == 200 and ctype.startswith("application/json"), body
        assert body["status"] == "ok" and body["outbox_backlog"] == 2
        assert body["failing_feeds"][0]["url"] == "https://feeds.example/digest.xml"
        assert body["failing_feeds"][0]["error"] == "HTTP 503"

        provider.change(database_writable=False, database_error="disk I/O error")
        status, _, body = await get(f"{server.url}/healthz")
        assert status == 503 and body["problems"] == ["database not writable: disk I/O error"]

        provider.change(
            database_writable=True, database_error=None, last_api_answer_at=time.time() - 301
        )
        status, _, body = await get(f"{server.url}/healthz")
        assert status == 503 and body["problems"][0].startswith("no Bot API answer for 5 min")

        provider.change(last_api_answer_at=time.time())
        status, _, body = await get(f"{server.url}/healthz")
        assert status == 200 and body["problems"] == []
        assert body["failing_feeds"][0]["url"] == "https://feeds.example/digest.xml"
        assert provider.calls == 4


async def test_metrics_page_is_scrapeable_and_refreshes_gauges() -> None:
    metrics = Metrics(gauge_max_age=0)
    backlog = [5]

    async def read_backlog() -> float:
        return backlog[0]

    metrics.read_gauges_from(outbox_backlog=read_backlog)
    metrics.sent("push", 2)
    async with StatusServer(FakeProvider(), metrics, interval=INTERVAL, port=0) as server:
        status, ctype, text = await get(f"{server.url}/metrics")
        assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
        values = {
            (s.name, tuple(s.labels.items())): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }
        assert values[("headline_bot_messages_sent_total", (("kind", "push"),))] == 2
        assert values[("headline_bot_outbox_backlog", ())] == 5
        backlog[0] = 9
        _, _, text = await get(f"{server.url}/metrics")
        assert "headline_bot_outbox_backlog 9.0" in text


async def test_a_failing_provider_is_a_503() -> None:
    class Broken:
        async def snapshot(self) -> HealthSnapshot:
            raise sqlite3.OperationalError("unable to open database file")

    async with StatusServer(Broken(), None, interval=INTERVAL, port=0) as server:
        status, _, body = await get(f"{server.url}/healthz")
        assert status == 503 and "unable to open database file" in body["problems"][0]
        status, _, _ = await get(f"{server.url}/metrics")
        assert status == 404  # no Metrics given: no page


async def test_routes_join_another_app() -> None:
    async def hook(request: web.Request) -> web.Response:
        return web.Response(text="update")

    app = web.Application()
    app.router.add_post("/hook", hook)
    add_status_routes(app, FakeProvider(), Metrics(), interval=INTERVAL)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        status, _, body = await get(f"http://127.0.0.1:{port}/healthz")
        assert status == 200 and body["status"] == "ok"
        status, _, text = await get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200 and "headline_bot_flood_waits_total 0.0" in text
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"http://127.0.0.1:{port}/hook") as response,
        ):
            assert await response.text() == "update"
    finally:
        await runner.cleanup()


async def test_port_in_use_raises() -> None:
    async with StatusServer(FakeProvider(), None, interval=INTERVAL, port=0) as first:
        second = StatusServer(FakeProvider(), None, interval=INTERVAL, port=first.port)
        with pytest.raises(OSError, match="in use"):
            await second.start()
        await second.stop()


async def test_real_database_locked_then_free(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    db = await Database.open(path)
    try:
        assert await database_write_error(db) is None
        tables = await db.fetchall("SELECT name FROM sqlite_master WHERE name = 'health_probe'")
        assert tables == []  # the probe rolled back
        liveness = Liveness()
        liveness.poll_completed()
        liveness.api_answered()

        async def no_feeds() -> list[FailingFeed]:
            return []

        async def backlog() -> int:
            return 0

        provider = BotHealthProvider(
            liveness, db, failing_feeds=no_feeds, outbox_backlog=backlog, write_timeout=0.5
        )
        async with StatusServer(provider, None, interval=INTERVAL, port=0) as server:
            status, _, body = await get(f"{server.url}/healthz")
            assert status == 200, body
            # another process holds the write lock: the bot could not store anything
            other = sqlite3.connect(path, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")
            try:
                status, _, body = await get(f"{server.url}/healthz")
                assert status == 503
                assert body["problems"] == [
                    "database not writable: no write within 0.5 s (database locked or stalled)"
                ]
            finally:
                other.execute("ROLLBACK")
                other.close()
            status, _, body = await get(f"{server.url}/healthz")
            assert status == 200, body
        # the probe left no transaction open: BEGIN would fail inside one
        async with db.transaction() as conn:
            await conn.execute("SELECT 1")
    finally:
        await db.close()


async def test_liveness_records_times() -> None:
    clock = [1000.0]
    liveness = Liveness(clock=lambda: clock[0])
    assert liveness.started_at == 1000 and liveness.last_poll_at is None
    clock[0] = 1010
    liveness.poll_completed()
    liveness.api_answered(at=1005)
    assert liveness.last_poll_at == 1010 and liveness.last_api_answer_at == 1005
    await asyncio.sleep(0)


def test_metrics_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("METRICS_PORT", raising=False)
    monkeypatch.delenv("METRICS_HOST", raising=False)
    settings = load_settings(_env_file=None)
    assert settings.metrics_port is None and settings.metrics_host == "127.0.0.1"
    monkeypatch.setenv("METRICS_PORT", "")  # as config.example.env leaves it: off
    assert load_settings(_env_file=None).metrics_port is None
    monkeypatch.setenv("METRICS_PORT", "9464")
    monkeypatch.setenv("METRICS_HOST", "0.0.0.0")
    settings = load_settings(_env_file=None)
    assert (settings.metrics_port, settings.metrics_host) == (9464, "0.0.0.0")
    monkeypatch.setenv("METRICS_PORT", "70000")
    with pytest.raises(SettingsError, match="METRICS_PORT"):
        load_settings(_env_file=None)


@pytest.mark.parametrize(
    "url", ["http://bot.example.org/hook", "bot.example.org/hook", "https://", "ftp://x.org/"]
)
def test_webhook_url_must_be_https(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("WEBHOOK_URL", url)
    with pytest.raises(SettingsError, match="WEBHOOK_URL: must be an https:// URL"):
        load_settings(_env_file=None)


async def test_http_webhook_url_stops_the_program_with_code_2(tmp_path: Path) -> None:
    env = clean_env(
        BOT_TOKEN="123:abc",
        FEED_URLS=str(SAMPLE),
        DATABASE_PATH=str(tmp_path / "w.sqlite3"),
        WEBHOOK_URL="http://bot.example.org/hook",
    )
    code, out = await run(env=env, cwd=tmp_path)
    assert code == 2 and "WEBHOOK_URL" in out and "https" in out and "Traceback" not in out
    assert len(out.strip().splitlines()) == 1
    assert "123:abc" not in out
    assert not (tmp_path / "w.sqlite3").exists()


async def healthcheck(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """Run deploy/healthcheck.py as the systemd units do; return its code and output."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "deploy" / "healthcheck.py"),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_deploy_healthcheck_script() -> None:
    provider = FakeProvider()
    async with StatusServer(provider, None, interval=INTERVAL, port=0) as server:
        env = clean_env(METRICS_PORT=str(server.port), METRICS_HOST="0.0.0.0")
        assert await healthcheck(env=env) == (0, "")
        provider.change(database_writable=False, database_error="disk I/O error")
        code, out = await healthcheck("--attempts", "2", "--delay", "0.1", env=env)
        assert code == 1 and "503 database not writable: disk I/O error" in out
    code, out = await healthcheck(env=clean_env(METRICS_PORT=""))
    assert code == 0 and "METRICS_PORT is not set" in out
    code, out = await healthcheck("--url", server.url + "/healthz", env=clean_env())
    assert code == 1 and "no answer" in out  # the server has stopped
