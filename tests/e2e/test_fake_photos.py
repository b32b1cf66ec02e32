"""The fake Bot API's sendPhoto answers as Telegram does: it fetches a picture's URL itself
(within a short time) and refuses what it cannot use as a photo, it counts a caption in UTF-16
units once entities are parsed, and it checks link_preview_options field by field."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.fakes.feed_server import FeedServer
from tests.fakes.images import gif, image_size, jpeg, png
from tests.fakes.telegram import FakeTelegram

CHAT = 4343


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        server.photo_fetch_timeout = 0.5
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        yield client


async def call(
    http: httpx.AsyncClient, fake: FakeTelegram, method: str, **params: Any
) -> tuple[int, dict[str, Any]]:
    form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
    resp = await http.post(fake.url(method), data=form)
    return resp.status_code, resp.json()


def test_the_images_the_fakes_make_say_their_size() -> None:
    assert image_size(png(1200, 630)) == ("png", 1200, 630)
    assert image_size(jpeg(800, 600)) == ("jpeg", 800, 600)
    assert image_size(gif(40, 30)) == ("gif", 40, 30)
    assert image_size(b"<html></html>") is None


async def test_a_picture_url_is_fetched_and_measured(
    fake: FakeTelegram, http: httpx.AsyncClient, feed_server: FeedServer
) -> None:
    feed_server.set_image("/a.png", width=640, height=480)
    url = feed_server.url("/a.png")
    status, body = await call(
        http, fake, "sendPhoto", chat_id=CHAT, photo=url, caption="<b>A</b>", parse_mode="HTML"
    )
    assert status == 200, body
    assert body["result"]["caption"] == "A"
    assert body["result"]["photo"][0]["width"] == 640
    assert fake.photo_fetches == [url]
    [message] = fake.messages(CHAT)
    assert (message.kind, message.photo, message.photo_size) == ("photo", url, (640, 480))
    # the file_id Telegram handed back can be sent again
    again = body["result"]["photo"][0]["file_id"]
    status, _ = await call(http, fake, "sendPhoto", chat_id=CHAT, photo=again)
    assert status == 200
    assert fake.violations == []


@pytest.mark.parametrize(
    ("path", "description"),
    [
        ("/missing.png", "Bad Request: failed to get HTTP URL content"),
        ("/slow.png", "Bad Request: failed to get HTTP URL content"),
        ("/page.html", "Bad Request: wrong type of the web page content"),
        ("/junk.png", "Bad Request: IMAGE_PROCESS_FAILED"),
        ("/thin.png", "Bad Request: PHOTO_INVALID_DIMENSIONS"),
        ("/huge.png", "Bad Request: PHOTO_INVALID_DIMENSIONS"),
    ],
)
async def test_pictures_telegram_cannot_use_are_refused(
    fake: FakeTelegram,
    http: httpx.AsyncClient,
    feed_server: FeedServer,
    path: str,
    description: str,
) -> None:
    feed_server.set_image("/slow.png")
    feed_server.set_delay("/slow.png", 2.0)
    feed_server.set_feed("/page.html", b"<html>a page</html>", content_type="text/html")
    feed_server.set_image("/junk.png", b"\x89PNG but not really")
    feed_server.set_image("/thin.png", width=2100, height=100)  # longer side over 20 x
    feed_server.set_image("/huge.png", width=6000, height=5000)  # sides over 10,000 together
    status, body = await call(http, fake, "sendPhoto", chat_id=CHAT, photo=feed_server.url(path))
    assert (status, body["description"]) == (400, description)
    assert fake.messages(CHAT) == []


async def test_an_unknown_file_id_or_address_is_refused(
    fake: FakeTelegram, http: httpx.AsyncClient
) -> None:
    for photo in ("AgACAgIAAxkBAAI", "ftp://img.example/a.png", "http://127.0.0.1:9/a.png"):
        status, body = await call(http, fake, "sendPhoto", chat_id=CHAT, photo=photo)
        assert status == 400
        assert body["description"] in (
            "Bad Request: wrong file identifier/HTTP URL specified",
            "Bad Request: failed to get HTTP URL content",
        )


async def test_a_caption_is_counted_in_utf16_units_after_entities(
    fake: FakeTelegram, http: httpx.AsyncClient, feed_server: FeedServer
) -> None:
    feed_server.set_image("/p.png")
    url = feed_server.url("/p.png")
    fits = "&amp;" * 1024  # 1,024 characters once parsed
    status, _ = await call(
        http, fake, "sendPhoto", chat_id=CHAT, photo=url, caption=fits, parse_mode="HTML"
    )
    assert status == 200
    flags = "🇧🇴" * 256  # 512 characters, 1,024 UTF-16 units
    status, _ = await call(http, fake, "sendPhoto", chat_id=CHAT, photo=url, caption=flags)
    assert status == 200
    with fake.expect_violation() as caught:
        status, body = await call(
            http, fake, "sendPhoto", chat_id=CHAT, photo=url, caption=flags + "x"
        )
    assert (status, body["description"]) == (400, "Bad Request: message caption is too long")
    assert "1025 > 1024 UTF-16 units" in caught[0]


async def test_link_preview_options_are_checked_field_by_field(
    fake: FakeTelegram, http: httpx.AsyncClient
) -> None:
    good = {"url": "https://news.example/1", "prefer_large_media": True}
    status, _ = await call(
        http, fake, "sendMessage", chat_id=CHAT, text="x", link_preview_options=good
    )
    assert status == 200
    with fake.expect_violation() as caught:
        status, _ = await call(
            http, fake, "sendMessage", chat_id=CHAT, text="x", link_preview_options={"big": 1}
        )
    assert status == 400 and "unknown field 'big'" in caught[0]
