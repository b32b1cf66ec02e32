"""FeedFetcher against the fake feed server on 127.0.0.1 (real HTTP, no mocks)."""

from __future__ import annotations

import asyncio
import gzip
import os
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from bot.feeds import USER_AGENT, FeedFetcher, parse_feed
from tests.fakes.feed_server import FeedServer, rss

FEEDS = Path(__file__).resolve().parents[1] / "data" / "feeds"
MB = 1024 * 1024

ITEMS: list[dict[str, Any]] = [
    {
        "title": "First headline",
        "link": "https://example.com/1",
        "guid": "g-1",
        "description": "<p>One</p>",
        "pubDate": "Tue, 30 Apr 2024 10:00:00 GMT",
        "categories": ["World"],
    },
    {"title": "Second headline", "link": "https://example.com/2", "guid": "g-2"},
]


@pytest.fixture
async def fetcher() -> AsyncIterator[FeedFetcher]:
    async with FeedFetcher(timeout=5, max_bytes=MB) as f:
        yield f


async def test_etag_then_304(feed_server: FeedServer, fetcher: FeedFetcher) -> None:
    feed_server.set_feed("/feed.xml", rss(ITEMS))
    url = feed_server.url("/feed.xml")
    first = await fetcher.fetch(url)
    assert first.status == "ok", first.error
    assert first.etag
    assert first.last_modified
    assert first.final_url == url
    assert first.content_type == "application/rss+xml"
    parsed = parse_feed(first.body, url=first.final_url, fetched_at=time.time())
    assert [e.key for e in parsed.entries] == ["g-1", "g-2"]

    second = await fetcher.fetch(url, etag=first.etag, last_modified=first.last_modified)
    assert second.status == "not_modified"
    assert second.body == b""
    assert second.etag == first.etag
    assert feed_server.hits("/feed.xml") == 2
    sent = feed_server.requests_for("/feed.xml")[1].headers
    assert sent["If-None-Match"] == first.etag
    assert sent["User-Agent"] == USER_AGENT
    assert sent["Accept-Encoding"] == "gzip, deflate"

    feed_server.set_feed("/feed.xml", rss([*ITEMS, {"title": "Third", "guid": "g-3"}]))
    third = await fetcher.fetch(url, etag=first.etag, last_modified=first.last_modified)
    assert third.status == "ok"
    assert third.etag != first.etag


async def test_last_modified_only(feed_server: FeedServer, fetcher: FeedFetcher) -> None:
    feed_server.set_feed("/lm.xml", rss(ITEMS), etag=False)
    url = feed_server.url("/lm.xml")
    first = await fetcher.fetch(url)
    assert first.status == "ok"
    assert first.etag is None
    assert first.last_modified
    again = await fetcher.fetch(url, last_modified=first.last_modified)
    assert again.status == "not_modified"
    assert again.last_modified == first.last_modified
    assert feed_server.requests_for("/lm.xml")[1].headers["If-Modified-Since"] == (
        first.last_modified
    )
    feed_server.set_feed("/lm.xml", rss(ITEMS[:1]), etag=False)
    changed = await fetcher.fetch(url, last_modified=first.last_modified)
    assert changed.status == "ok"
    assert changed.last_modified != first.last_modified


async def test_slow_response_times_out(feed_server: FeedServer) -> None:
    feed_server.set_feed("/slow.xml", rss(ITEMS))
    feed_server.set_delay("/slow.xml", 5)
    async with FeedFetcher(timeout=1) as fetcher:
        result = await fetcher.fetch(feed_server.url("/slow.xml"))
    assert result.status == "error"
    assert result.error == "timed out after 1 s"
    assert 0.9 < result.elapsed < 2.5


async def test_trickle_hits_overall_deadline(feed_server: FeedServer) -> None:
    # One byte a second never trips a per-read timeout; only the overall deadline ends it.
    feed_server.set_feed("/trickle.xml", rss(ITEMS))
    feed_server.set_trickle("/trickle.xml", 1)
    async with FeedFetcher(timeout=2) as fetcher:
        result = await fetcher.fetch(feed_server.url("/trickle.xml"))
    assert result.status == "error"
    assert result.error == "timed out after 2 s"
    assert 1.9 < result.elapsed < 3.5


@pytest.mark.parametrize("status", [500, 503, 404, 410])
async def test_http_errors(feed_server: FeedServer, fetcher: FeedFetcher, status: int) -> None:
    feed_server.set_status("/broken", status)
    result = await fetcher.fetch(feed_server.url("/broken"))
    assert (result.status, result.error, result.http_status) == ("error", f"HTTP {status}", status)


@pytest.mark.parametrize("declare_length", [False, True])
async def test_oversized_body(
    feed_server: FeedServer, fetcher: FeedFetcher, declare_length: bool
) -> None:
    feed_server.set_huge("/huge.xml", 50 * MB, declare_length=declare_length)
    started = time.monotonic()
    result = await fetcher.fetch(feed_server.url("/huge.xml"))
    assert (result.status, result.error) == ("error", "body larger than 1 MB")
    assert result.body == b""
    assert time.monotonic() - started < 3


async def test_body_at_the_limit_is_accepted(feed_server: FeedServer) -> None:
    feed_server.set_huge("/exact.xml", 256 * 1024)
    async with FeedFetcher(max_bytes=256 * 1024) as fetcher:
        result = await fetcher.fetch(feed_server.url("/exact.xml"))
    assert result.status == "ok"
    assert len(result.body) == 256 * 1024


async def test_gzip_bomb_stops_at_the_limit(feed_server: FeedServer, fetcher: FeedFetcher) -> None:
    feed_server.set_gzip_bomb("/bomb.xml", 2 * 1024 * MB)
    started = time.monotonic()
    result = await fetcher.fetch(feed_server.url("/bomb.xml"))
    assert (result.status, result.error) == ("error", "body larger than 1 MB")
    assert time.monotonic() - started < 3


async def test_gzip_body_is_decoded(feed_server: FeedServer, fetcher: FeedFetcher) -> None:
    body = rss(ITEMS)

    async def gzipped(request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=gzip.compress(body),
            headers={"Content-Encoding": "gzip", "Content-Type": "application/rss+xml"},
        )

    feed_server.set_handler("/gz.xml", gzipped)
    result = await fetcher.fetch(feed_server.url("/gz.xml"))
    assert result.status == "ok"
    assert result.body == body


async def test_redirect_chain(feed_server: FeedServer, fetcher: FeedFetcher) -> None:
    feed_server.set_feed("/final.xml", rss(ITEMS))
    feed_server.set_redirect("/r1", "/r2", status=301)
    feed_server.set_redirect("/r2", "/r3")
    feed_server.set_redirect("/r3", feed_server.url("/final.xml"), status=307)
    result = await fetcher.fetch(feed_server.url("/r1"))
    assert result.status == "ok", result.error
    assert result.final_url == feed_server.url("/final.xml")
    assert feed_server.hits("/final.xml") == 1


async def test_too_many_redirects(feed_server: FeedServer, fetcher: FeedFetcher) -> None:
    for i in range(7):
        feed_server.set_redirect(f"/hop{i}", f"/hop{i + 1}")
    feed_server.set_feed("/hop7", rss(ITEMS))
    result = await fetcher.fetch(feed_server.url("/hop0"))
    assert (result.status, result.error) == ("error", "too many redirects")
    assert feed_server.hits("/hop7") == 0
    # Five hops are allowed.
    ok = await fetcher.fetch(feed_server.url("/hop2"))
    assert ok.status == "ok"


async def test_redirect_loop(feed_server: FeedServer, fetcher: FeedFetcher) -> None:
    feed_server.set_redirect("/ping", "/pong")
    feed_server.set_redirect("/pong", "/ping")
    result = await fetcher.fetch(feed_server.url("/ping"))
    assert (result.status, result.error) == ("error", "redirect loop")
    assert feed_server.hits("/ping") == 1


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("broken.xml", "application/xml"), ("not_a_feed.html", "text/html; charset=utf-8")],
)
async def test_invalid_documents_fetch_but_do_not_parse(
    feed_server: FeedServer, fetcher: FeedFetcher, name: str, content_type: str
) -> None:
    feed_server.set_feed(f"/{name}", (FEEDS / name).read_bytes(), content_type=content_type)
    result = await fetcher.fetch(feed_server.url(f"/{name}"))
    assert result.status == "ok"
    parsed = parse_feed(
        result.body, url=result.final_url, fetched_at=time.time(), content_type=result.content_type
    )
    assert parsed.entries == ()
    assert parsed.error is not None
    assert parsed.error.startswith("not a feed: ")


async def test_entity_bomb_is_bounded(feed_server: FeedServer, fetcher: FeedFetcher) -> None:
    feed_server.set_feed("/lol.xml", (FEEDS / "entity_bomb.xml").read_bytes())
    result = await fetcher.fetch(feed_server.url("/lol.xml"))
    # refused unexpanded (tests/unit/test_feeds.py); benchmarks/limits.py times the refusal
    parsed = await asyncio.to_thread(
        parse_feed, result.body, url=result.final_url, fetched_at=time.time()
    )
    assert parsed.entries == ()
    assert parsed.error is not None


async def test_connection_refused(fetcher: FeedFetcher) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = await fetcher.fetch(f"http://127.0.0.1:{port}/feed.xml")
    assert (result.status, result.error) == ("error", "connection refused")


async def test_unsupported_scheme(fetcher: FeedFetcher) -> None:
    result = await fetcher.fetch("ftp://127.0.0.1/feed.xml")
    assert result.status == "error"
    assert result.error == "unsupported URL scheme 'ftp'"


async def test_local_file_change_detection(tmp_path: Path, fetcher: FeedFetcher) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(rss(ITEMS))
    first = await fetcher.fetch(str(path))
    assert first.status == "ok"
    assert first.body == path.read_bytes()
    assert first.etag
    assert first.last_modified
    same = await fetcher.fetch(str(path), etag=first.etag, last_modified=first.last_modified)
    assert same.status == "not_modified"
    via_uri = await fetcher.fetch(path.as_uri(), etag=first.etag)
    assert via_uri.status == "not_modified"

    path.write_bytes(rss(ITEMS[:1]))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    changed = await fetcher.fetch(str(path), etag=first.etag, last_modified=first.last_modified)
    assert changed.status == "ok"
    assert changed.etag != first.etag

    missing = await fetcher.fetch(str(tmp_path / "nope.xml"))
    assert (missing.status, missing.error) == ("error", "file not found")


async def test_local_file_too_big(tmp_path: Path) -> None:
    path = tmp_path / "big.xml"
    path.write_bytes(b"x" * 2048)
    async with FeedFetcher(max_bytes=1024) as fetcher:
        result = await fetcher.fetch(str(path))
    assert (result.status, result.error) == ("error", "body larger than 1 KB")


async def test_environment_proxy_is_ignored(
    feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy that does not exist: a client trusting the environment would fail.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    feed_server.set_feed("/feed.xml", rss(ITEMS))
    async with FeedFetcher() as fetcher:
        result = await fetcher.fetch(feed_server.url("/feed.xml"))
    assert result.status == "ok", result.error


async def test_given_client_is_used_and_left_open(feed_server: FeedServer) -> None:
    feed_server.set_feed("/feed.xml", rss(ITEMS))
    async with httpx.AsyncClient(trust_env=False) as client:
        fetcher = FeedFetcher(client)
        result = await fetcher.fetch(feed_server.url("/feed.xml"))
        await fetcher.aclose()
        assert result.status == "ok"
        assert not client.is_closed


async def test_changing_guids_give_new_keys(feed_server: FeedServer, fetcher: FeedFetcher) -> None:
    feed_server.set_changing_guids("/churn.xml", 3)
    keys = []
    for _ in range(2):
        result = await fetcher.fetch(feed_server.url("/churn.xml"))
        parsed = parse_feed(result.body, url=result.final_url, fetched_at=time.time())
        keys.append({e.key for e in parsed.entries})
    assert len(keys[0]) == 3
    assert not keys[0] & keys[1]
