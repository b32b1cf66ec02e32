"""Feed polling state and the hourly counters."""

from __future__ import annotations

from storage.sqlite.counters import CounterRepo
from storage.sqlite.db import Database
from storage.sqlite.feeds import FeedRepo
from tests.storage.conftest import NOW

URL = "https://example.org/feed.xml"


async def test_ensure_is_idempotent(feeds: FeedRepo) -> None:
    first = await feeds.ensure(URL)
    again = await feeds.ensure(URL)
    assert first == again
    assert (first.consecutive_failures, first.baseline_done, first.alerted) == (0, False, False)
    assert await feeds.get("https://other.example/") is None
    await feeds.ensure("https://other.example/")
    assert [f.url for f in await feeds.all()] == [URL, "https://other.example/"]


async def test_failure_then_success(db: Database, feeds: FeedRepo) -> None:
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
    async with db.transaction() as conn:
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


async def test_error_is_truncated(feeds: FeedRepo) -> None:
    feed = await feeds.ensure(URL)
    await feeds.record_failure(feed.id, now=NOW, error="x" * 2000, next_attempt_at=NOW)
    stored = await feeds.get(URL)
    assert stored is not None
    assert stored.last_error == "x" * 500


async def test_not_modified_keeps_validators(db: Database, feeds: FeedRepo) -> None:
    feed = await feeds.ensure(URL)
    async with db.transaction() as conn:
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


async def test_counters_sum_by_hour(counters: CounterRepo) -> None:
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
