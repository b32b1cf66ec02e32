"""Feed polling state and the hourly counters, on both backends (but for a SQLite migration)."""

from __future__ import annotations

from pathlib import Path

import aiosqlite

from bot.feeds import FetchResult, ParsedFeed, parse_feed
from bot.feeds.failures import FeedFailure, Reason, stored_failure
from bot.feeds.reads import store_read
from storage import Storage
from storage.sqlite import fts
from storage.sqlite.db import Database
from storage.sqlite.feeds import SqliteFeedRepo
from storage.sqlite.migrate import migration_files
from tests.storage.conftest import NOW

URL = "https://example.org/feed.xml"


async def test_ensure_is_idempotent(storage: Storage) -> None:
    feeds = storage.feeds
    first = await feeds.ensure(URL)
    again = await feeds.ensure(URL)
    assert first == again
    assert (first.consecutive_failures, first.baseline_done, first.alerted) == (0, False, False)
    assert await feeds.get("https://other.example/") is None
    await feeds.ensure("https://other.example/")
    assert [f.url for f in await feeds.all()] == [URL, "https://other.example/"]


async def test_failure_then_success(storage: Storage) -> None:
    feeds = storage.feeds
    feed = await feeds.ensure(URL)
    await feeds.record_failure(feed.id, now=NOW, error="timeout " * 200, next_attempt_at=NOW + 60)
    await feeds.record_failure(feed.id, now=NOW + 60, error="HTTP 500", next_attempt_at=NOW + 180)
    failing = await feeds.get(URL)
    assert failing is not None
    assert failing.consecutive_failures == 2
    assert failing.failing_since == NOW
    assert failing.last_error == "HTTP 500"
    assert (failing.last_attempt_at, failing.next_attempt_at) == (NOW + 60, NOW + 180)

    await feeds.set_alerted(feed.id, True)
    async with storage.store.transaction() as conn:
        await feeds.record_success(
            conn, feed.id, now=NOW + 200, etag='"v1"', last_modified="Mon", title="News"
        )
    ok = await feeds.get(URL)
    assert ok is not None
    assert (ok.consecutive_failures, ok.failing_since, ok.last_error) == (0, None, None)
    assert (ok.etag, ok.last_modified, ok.title) == ('"v1"', "Mon", "News")
    assert (ok.last_success_at, ok.next_attempt_at, ok.baseline_done) == (NOW + 200, 0, True)
    assert ok.alerted  # cleared by the alerting code, not by a success
    await feeds.set_alerted(feed.id, False)
    cleared = await feeds.get(URL)
    assert cleared is not None
    assert not cleared.alerted


async def test_error_is_truncated(storage: Storage) -> None:
    feeds = storage.feeds
    feed = await feeds.ensure(URL)
    await feeds.record_failure(feed.id, now=NOW, error="x" * 2000, next_attempt_at=NOW)
    stored = await feeds.get(URL)
    assert stored is not None
    assert stored.last_error == "x" * 500


async def test_not_modified_keeps_validators(storage: Storage) -> None:
    feeds = storage.feeds
    feed = await feeds.ensure(URL)
    async with storage.store.transaction() as conn:
        await feeds.record_success(
            conn, feed.id, now=NOW, etag='"v1"', last_modified="Mon", title="News"
        )
    await feeds.record_failure(feed.id, now=NOW + 5, error="boom", next_attempt_at=NOW + 65)
    await feeds.record_not_modified(feed.id, now=NOW + 70)
    state = await feeds.get(URL)
    assert state is not None
    assert (state.etag, state.last_modified, state.title) == ('"v1"', "Mon", "News")
    assert (state.consecutive_failures, state.last_error, state.failing_since) == (0, None, None)
    assert (state.last_success_at, state.next_attempt_at) == (NOW + 70, 0)


async def test_counters_sum_by_hour(storage: Storage) -> None:
    counters = storage.counters
    hour = 3600.0
    start = NOW - NOW % hour
    await counters.bump("sent", now=start - 1)
    await counters.bump("sent", 2, now=start)
    await counters.bump("sent", 3, now=start + hour - 1)
    await counters.bump("flood", now=start)
    assert await counters.total_since("sent", start) == 5
    assert await counters.total_since("sent", start - hour) == 6
    assert await counters.total_since("flood", start) == 1
    assert await counters.total_since("missing", 0) == 0


async def test_a_failure_keeps_its_reason_and_detail(storage: Storage) -> None:
    feeds = storage.feeds
    feed = await feeds.ensure(URL)
    await feeds.record_failure(
        feed.id,
        now=NOW,
        error="HTTP 503",
        reason=Reason.HTTP_STATUS,
        detail="503",
        next_attempt_at=NOW + 60,
    )
    failing = await feeds.get(URL)
    assert failing is not None
    assert stored_failure(failing) == FeedFailure(Reason.HTTP_STATUS, "503")
    assert failing.last_error == "HTTP 503"  # the English text stays for logs and /healthz
    async with storage.store.transaction() as tx:
        await feeds.record_success(
            tx, feed.id, now=NOW + 1, etag=None, last_modified=None, title=None
        )
    ok = await feeds.get(URL)
    assert ok is not None and (ok.last_error_reason, ok.last_error_detail) == (None, None)
    assert stored_failure(ok) is None


async def test_failures_stored_before_reasons_get_theirs(tmp_path: Path) -> None:
    """Migration 010 reads the reasons back from the English texts rows already hold.

    SQLite only: PostgreSQL databases start at schema 010, with the reasons in place.
    """
    path = tmp_path / "old.sqlite3"
    old = {
        "https://a.example/": ("HTTP 503", FeedFailure(Reason.HTTP_STATUS, "503")),
        "https://b.example/": ("timed out after 2.5 s", FeedFailure(Reason.TIMEOUT, "2.5")),
        "https://c.example/": ("host not found", FeedFailure(Reason.DNS)),
        "https://d.example/": (
            "not a feed: line 3: mismatched tag",
            FeedFailure(Reason.NOT_A_FEED, "line 3: mismatched tag"),
        ),
        "https://e.example/": ("not a feed: empty document", FeedFailure(Reason.EMPTY_DOCUMENT)),
        "https://f.example/": (
            "unsupported URL scheme 'ftp'",
            FeedFailure(Reason.UNSUPPORTED_SCHEME, "ftp"),
        ),
        "https://g.example/": ("body larger than 10 MB", FeedFailure(Reason.TOO_LARGE, "10 MB")),
        "https://h.example/": ("something odd", FeedFailure(Reason.OTHER, "something odd")),
    }
    async with aiosqlite.connect(path) as conn:
        await fts.install(conn)  # the headline triggers call its functions on a schema change
        for number, sql in migration_files()[:9]:  # a file written before migration 010
            await conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;")
        await conn.executemany(
            "INSERT INTO feeds (url, last_error, consecutive_failures) VALUES (?, ?, 1)",
            [(url, text) for url, (text, _) in old.items()],
        )
        await conn.execute("INSERT INTO feeds (url) VALUES ('https://ok.example/')")
        await conn.commit()
    db = await Database.open(path)
    try:
        feeds = SqliteFeedRepo(db)
        for url, (text, failure) in old.items():
            state = await feeds.get(url)
            assert state is not None and state.last_error == text
            assert stored_failure(state) == failure, url
            assert failure.text == text
        fine = await feeds.get("https://ok.example/")
        assert fine is not None and stored_failure(fine) is None
    finally:
        await db.close()


def _read(language: str | None) -> tuple[FetchResult, ParsedFeed]:
    declared = f"<language>{language}</language>" if language else ""
    body = (
        f"<rss version='2.0'><channel><title>Wire</title>{declared}"
        "<item><guid>1</guid><title>Los mineros protestaron</title></item></channel></rss>"
    ).encode()
    fetched = FetchResult("ok", body, '"v1"', None, URL, "application/rss+xml", None, 0.0)
    return fetched, parse_feed(body, url=URL, fetched_at=NOW)


async def test_a_read_is_stored_in_the_feeds_language_else_the_default(storage: Storage) -> None:
    feeds, headlines = storage.feeds, storage.headlines
    for url, declared, default, expected in [
        ("https://es.example/", "es-419", "en", "es"),
        ("https://none.example/", None, "es", "es"),
        ("https://en.example/", "en-US", "es", "en"),
    ]:
        feed = await feeds.ensure(url)
        fetched, parsed = _read(declared)
        async with storage.store.transaction() as tx:
            stored = await store_read(
                tx,
                feeds,
                headlines,
                feed.id,
                fetched,
                parsed,
                baseline=True,
                default_language=default,
                now=NOW,
            )
        (headline,) = stored.new
        assert headline.baseline
        assert await headlines.languages_of([headline.id]) == {headline.id: expected}, url
        state = await feeds.get(url)
        assert state is not None
        assert (state.baseline_done, state.etag, state.title) == (True, '"v1"', "Wire")
