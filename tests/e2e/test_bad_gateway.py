"""A proxy's HTML "502 Bad Gateway" page instead of the Bot API's JSON: the real process.

Each attempt that meets the page is one WARNING line, at start-up and while polling, with
no ERROR and no traceback even at DEBUG; the bot starts once the API answers again.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from telegram.error import InvalidToken, NetworkError
from telegram.request import RequestData

from bot.delivery.http import AiohttpRequest, is_json_object, not_json_answer
from bot.delivery.policy import Action, decide
from tests.e2e.harness import FEED, item
from tests.e2e.test_process import bot_env, sigterm_stops_cleanly
from tests.e2e.test_startup import RETRY_LINE, assert_clean, bot_process, wait_retries
from tests.fakes.feed_server import FeedServer, rss
from tests.fakes.telegram import FakeTelegram

NOT_JSON = "the Bot API answered 502 with a non-JSON page"


def test_only_an_object_is_taken_for_the_bot_apis_json() -> None:
    assert is_json_object(b'{"ok":true,"result":true}')
    assert is_json_object(b'  \r\n{"ok":false}')
    assert not is_json_object(b"<html>\r\n<head><title>502 Bad Gateway</title></head>")
    assert not is_json_object(b"")
    assert not is_json_object(b"Bad Gateway")


def test_a_page_becomes_the_error_answer_of_its_status() -> None:
    status, body = not_json_answer(502)
    assert status == 502
    assert json.loads(body) == {"ok": False, "error_code": 502, "description": NOT_JSON}
    with pytest.raises(NetworkError, match="answered 200 with a non-JSON page"):
        not_json_answer(200)


async def test_python_telegram_bot_maps_the_page_by_its_status(
    fake_tg: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    """Through BaseRequest.post, as every call goes: one short error, nothing logged."""
    caplog.set_level("DEBUG")
    request = AiohttpRequest()
    await request.initialize()
    url = f"http://127.0.0.1:{fake_tg.port}/bot{fake_tg.token}"
    try:
        fake_tg.fail("getMe", 502, html=True)
        with pytest.raises(NetworkError) as caught:
            await request.post(f"{url}/getMe", RequestData())
        assert caught.value.message == NOT_JSON
        assert decide(caught.value).transient
        fake_tg.fail("getMe", 404, description="Not Found", html=True)
        with pytest.raises(InvalidToken) as refused:
            await request.post(f"{url}/getMe", RequestData())
        assert decide(refused.value).action is Action.STOP_BOT
        me = await request.post(f"{url}/getMe", RequestData())
        assert isinstance(me, dict) and me["is_bot"] is True
    finally:
        await request.shutdown()
    assert [r for r in caplog.records if r.name.startswith("telegram")] == []


async def test_bad_gateway_pages_are_one_warning_each_at_start_up_and_while_polling(
    tmp_path: Path, fake_tg: FakeTelegram, feed_server: FeedServer
) -> None:
    feed_server.set_feed(FEED, rss([item(1, "Bolivia Old News", "x")]))
    fake_tg.fail("getMe", 502, times=2, html=True)
    env = bot_env(fake_tg, feed_server, tmp_path, LOG_LEVEL="DEBUG")
    async with bot_process(env, tmp_path) as (proc, log_path):
        assert [r[:2] for r in await wait_retries(log_path, 2)] == [("getMe", 1), ("getMe", 2)]
        # the page stops: the bot starts and answers
        await fake_tg.wait_calls("getUpdates", 1, timeout=30)
        fake_tg.push_update(fake_tg.message_update(42, "/start"))
        await fake_tg.wait_for(lambda: len(fake_tg.sent_to(42)) >= 1, 15)
        # later, while polling: the next two getUpdates meet the page, then it answers again
        polls = len(fake_tg.calls_of("getUpdates"))
        fake_tg.fail("getUpdates", 502, times=2, html=True)
        fake_tg.push_update(fake_tg.message_update(43, "/start"))  # ends the pending poll
        await fake_tg.wait_for(lambda: len(fake_tg.sent_to(43)) >= 1, 15)
        await fake_tg.wait_calls("getUpdates", polls + 4, timeout=30)
        fake_tg.push_update(fake_tg.message_update(44, "/start"))
        await fake_tg.wait_for(lambda: len(fake_tg.sent_to(44)) >= 1, 15)
        await sigterm_stops_cleanly(proc)
    output = log_path.read_text()
    assert_clean(output)
    lines = output.splitlines()
    assert [line for line in lines if " ERROR " in line or " CRITICAL " in line] == [], output
    assert not any("<html" in line or "Bad Gateway</" in line for line in lines), output
    assert fake_tg.token.split(":", 1)[1] not in output
    assert [r[:2] for r in RETRY_LINE.findall(output)] == [("getMe", "1"), ("getMe", "2")]
    page_lines = [line for line in lines if NOT_JSON in line]
    assert len(page_lines) == 4, output  # two at start-up, two while polling
    assert all(" WARNING " in line for line in page_lines), page_lines
    assert sum("network error" in line for line in page_lines) == 2, page_lines
    assert "Invalid server response" not in output and "Can not load" not in output
