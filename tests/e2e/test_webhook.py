"""Webhook mode: the real process registers its webhook and accepts only the secret's updates."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

from tests.e2e.test_process import SAMPLE, clean_env
from tests.fakes.telegram import FakeTelegram


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_webhook_mode_with_secret(tmp_path: Path, fake_tg: FakeTelegram) -> None:
    port = free_port()
    env = clean_env(
        BOT_TOKEN=fake_tg.token,
        TELEGRAM_API_URL=f"http://127.0.0.1:{fake_tg.port}",
        FEED_URLS=str(SAMPLE),
        DATABASE_PATH=str(tmp_path / "w.sqlite3"),
        WEBHOOK_URL="https://bot.example.org/hook/updates",
        WEBHOOK_SECRET="s3cret-Token_1",
        PORT=str(port),
    )
    log = (tmp_path / "bot.log").open("w")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", env=env, cwd=tmp_path, stdout=log, stderr=log
    )
    try:
        calls = await fake_tg.wait_calls("setWebhook", 1, timeout=30)
        assert calls[0].params["url"] == "https://bot.example.org/hook/updates"
        assert calls[0].params["secret_token"] == "s3cret-Token_1"
        url = f"http://127.0.0.1:{port}/hook/updates"
        update = fake_tg.message_update(77, "/help")
        for _ in range(100):  # the listener may start a moment after setWebhook
            try:
                status = await fake_tg.post_update(url, update, secret_token="wrong")
                break
            except OSError:
                await asyncio.sleep(0.1)
        assert status == 403
        assert await fake_tg.post_update(url, update, secret_token="") == 403  # none at all
        await asyncio.sleep(0.3)
        assert fake_tg.sent_to(77) == []
        assert await fake_tg.post_update(url, update, secret_token="s3cret-Token_1") == 200
        await fake_tg.wait_for(lambda: len(fake_tg.sent_to(77)) == 1, 10)
        assert "/topic add" in fake_tg.sent_to(77)[0].params["text"]
        assert fake_tg.calls_of("getUpdates") == []
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 15)
        log.close()
    output = (tmp_path / "bot.log").read_text()
    assert "s3cret-Token_1" not in output and fake_tg.token not in output
