"""Operations, pure parts: Metrics.render() in the Prometheus text format; health()."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)

from bot.ops.status import FailingFeed, HealthSnapshot, failing_feeds, health
from bot.telemetry.metrics import Metrics, api_error_class

NOW = 1_750_000_000.0
INTERVAL = 300.0


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of render(), keyed by name and sorted labels."""
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_counters_by_label() -> None:
    metrics = Metrics()
    metrics.sent("push", 3)
    metrics.sent("reply")
    metrics.sent("push")
    metrics.flood_wait()
    metrics.flood_wait()
    metrics.api_error("forbidden")
    metrics.fetched("new")
    metrics.fetched("not modified")
    metrics.fetched("error")
    metrics.fetched("error")
    got = samples(metrics)
    sent = "headline_bot_messages_sent_total"
    assert got[(sent, (("kind", "push"),))] == 4
    assert got[(sent, (("kind", "reply"),))] == 1
    assert got[(sent, (("kind", "broadcast"),))] == 0  # known kinds exist from the start
    assert got[(sent, (("kind", "digest"),))] == 0
    assert got[("headline_bot_flood_waits_total", ())] == 2
    assert got[("headline_bot_api_errors_total", (("class", "forbidden"),))] == 1
    assert got[("headline_bot_api_errors_total", (("class", "bad_request"),))] == 0
    fetches = "headline_bot_feed_fetches_total"
    assert got[(fetches, (("outcome", "new"),))] == 1
    assert got[(fetches, (("outcome", "not_modified"),))] == 1
    assert got[(fetches, (("outcome", "error"),))] == 2
    assert got[(fetches, (("outcome", "unchanged"),))] == 0


def test_histograms() -> None:
    metrics = Metrics()
    metrics.observe_poll(0.3)
    metrics.observe_poll(7.0)
    for seconds in (0.02, 0.04, 2.0):
        metrics.observe_send(seconds)
    got = samples(metrics)
    poll = "headline_bot_poll_duration_seconds"
    assert got[(f"{poll}_count", ())] == 2
    assert got[(f"{poll}_sum", ())] == pytest.approx(7.3)
    assert got[(f"{poll}_bucket", (("le", "0.5"),))] == 1
    assert got[(f"{poll}_bucket", (("le", "10.0"),))] == 2
    send = "headline_bot_send_latency_seconds"
    assert got[(f"{send}_count", ())] == 3
    assert got[(f"{send}_bucket", (("le", "0.05"),))] == 2
    assert got[(f"{send}_bucket", (("le", "+Inf"),))] == 3


def test_each_metrics_has_its_own_registry() -> None:
    one, two = Metrics(), Metrics()  # a second one would raise on the global registry
    one.sent("digest")
    assert samples(two)[("headline_bot_messages_sent_total", (("kind", "digest"),))] == 0
    assert samples(one)[("headline_bot_messages_sent_total", (("kind", "digest"),))] == 1


async def test_gauges_come_from_async_readers_and_are_cached() -> None:
    clock = [100.0]
    metrics = Metrics(gauge_max_age=10, clock=lambda: clock[0])
    reads: list[str] = []
    backlog = [7.0]

    async def read_backlog() -> float:
        reads.append("backlog")
        await asyncio.sleep(0)
        return backlog[0]

    async def read_chats() -> float:
        return 12

    async def read_headlines() -> float:
        raise RuntimeError("database is locked")

    metrics.read_gauges_from(
        outbox_backlog=read_backlog, active_chats=read_chats, headlines=read_headlines
    )
    metrics.set_gauge("headlines", 500)
    await metrics.refresh()
    got = samples(metrics)
    assert got[("headline_bot_outbox_backlog", ())] == 7
    assert got[("headline_bot_active_chats", ())] == 12
    assert got[("headline_bot_headlines_stored", ())] == 500  # a failed read keeps the value

    backlog[0] = 3
    clock[0] += 5
    await metrics.refresh(force=False)  # younger than gauge_max_age: no database reads
    assert reads == ["backlog"]
    assert samples(metrics)[("headline_bot_outbox_backlog", ())] == 7
    clock[0] += 6
    await metrics.refresh(force=False)
    assert reads == ["backlog", "backlog"]
    assert samples(metrics)[("headline_bot_outbox_backlog", ())] == 3


def test_render_names_follow_conventions() -> None:
    text = Metrics().render().decode()
    names = {f.name for f in text_string_to_metric_families(text)}
    assert {
        "headline_bot_messages_sent",
        "headline_bot_flood_waits",
        "headline_bot_api_errors",
        "headline_bot_feed_fetches",
        "headline_bot_poll_duration_seconds",
        "headline_bot_send_latency_seconds",
        "headline_bot_outbox_backlog",
        "headline_bot_active_chats",
        "headline_bot_headlines_stored",
    } <= names
    assert "# TYPE headline_bot_messages_sent_total counter" in text
    assert "# TYPE headline_bot_poll_duration_seconds histogram" in text


@pytest.mark.parametrize(
    ("make", "cls"),
    [
        (lambda: ChatMigrated(42), "chat_migrated"),
        # built in the test, where PTB_TIMEDELTA is set: RetryAfter warns without it
        (lambda: RetryAfter(timedelta(seconds=3)), "retry_after"),
        (lambda: InvalidToken(), "invalid_token"),
        (lambda: Forbidden("Forbidden: bot was blocked by the user"), "forbidden"),
        (lambda: BadRequest("Bad Request: chat not found"), "bad_request"),
        (lambda: TimedOut(), "timed_out"),
        (lambda: NetworkError("Bad Gateway"), "network"),
        (lambda: ValueError("x"), "other"),
    ],
)
def test_api_error_class(make: Callable[[], BaseException], cls: str) -> None:
    assert api_error_class(make()) == cls


def test_failed_counts_a_429_as_a_flood_wait_only() -> None:
    metrics = Metrics()
    metrics.failed(RetryAfter(timedelta(seconds=5)))
    metrics.failed(Forbidden("Forbidden: user is deactivated"))
    metrics.failed(TimedOut())
    got = samples(metrics)
    assert got[("headline_bot_flood_waits_total", ())] == 1
    assert got[("headline_bot_api_errors_total", (("class", "forbidden"),))] == 1
    assert got[("headline_bot_api_errors_total", (("class", "timed_out"),))] == 1
    assert ("headline_bot_api_errors_total", (("class", "retry_after"),)) not in got


def snap(**changes: object) -> HealthSnapshot:
    """A healthy bot, started an hour ago, with `changes`."""
    values: dict[str, object] = {
        "started_at": NOW - 3600,
        "last_poll_at": NOW - 20,
        "last_api_answer_at": NOW - 2,
        "database_writable": True,
        "outbox_backlog": 4,
    }
    values.update(changes)
    return HealthSnapshot(**values)  # type: ignore[arg-type]


def test_healthy_bot() -> None:
    status, body = health(snap(), NOW, INTERVAL)
    assert status == 200
    assert body["status"] == "ok" and body["problems"] == []
    assert body["last_poll_age_seconds"] == 20
    assert body["last_api_answer_age_seconds"] == 2
    assert body["outbox_backlog"] == 4 and body["database_writable"] is True
    assert body["failing_feeds"] == [] and body["uptime_seconds"] == 3600


def test_failing_feed_is_reported_not_a_fault() -> None:
    feed = FailingFeed("https://example.org/feed", since=NOW - 5400, error="HTTP 503")
    status, body = health(snap(failing_feeds=(feed,)), NOW, INTERVAL)
    assert status == 200
    assert body["failing_feeds"] == [
        {
            "url": "https://example.org/feed",
            "since": "2025-06-15T13:36:40Z",
            "failing_for_seconds": 5400,
            "error": "HTTP 503",
        }
    ]


def test_poll_late_after_three_intervals() -> None:
    assert health(snap(last_poll_at=NOW - 3 * INTERVAL), NOW, INTERVAL)[0] == 200
    status, body = health(snap(last_poll_at=NOW - 3 * INTERVAL - 1), NOW, INTERVAL)
    assert status == 503 and body["status"] == "unhealthy"
    assert body["problems"] == [
        "the last poll round completed 15 min ago (more than 3 intervals of 300 s)"
    ]


def test_first_poll_gets_three_intervals_from_the_start() -> None:
    young = snap(started_at=NOW - 60, last_poll_at=None, last_api_answer_at=None)
    status, body = health(young, NOW, INTERVAL)
    assert status == 200 and body["last_poll_age_seconds"] is None
    stuck = snap(started_at=NOW - 1000, last_poll_at=None)
    status, body = health(stuck, NOW, INTERVAL)
    assert status == 503
    assert "no poll round completed" in body["problems"][0]


def test_database_not_writable() -> None:
    status, body = health(
        snap(database_writable=False, database_error="attempt to write a readonly database"),
        NOW,
        INTERVAL,
    )
    assert status == 503
    assert body["problems"] == ["database not writable: attempt to write a readonly database"]
    assert body["database_error"] == "attempt to write a readonly database"


def test_bot_api_silent_for_five_minutes() -> None:
    assert health(snap(last_api_answer_at=NOW - 300), NOW, INTERVAL)[0] == 200
    status, body = health(snap(last_api_answer_at=NOW - 301), NOW, INTERVAL)
    assert status == 503 and body["problems"] == ["no Bot API answer for 5 min"]
    # never answered since a start ten minutes ago
    status, _ = health(snap(started_at=NOW - 600, last_api_answer_at=None), NOW, INTERVAL)
    assert status == 503


def test_every_problem_is_listed() -> None:
    status, body = health(
        snap(last_poll_at=NOW - 7200, last_api_answer_at=NOW - 7200, database_writable=False),
        NOW,
        INTERVAL,
    )
    assert status == 503 and len(body["problems"]) == 3


def test_failing_feeds_from_stored_states() -> None:
    @dataclass(frozen=True)
    class State:
        url: str
        consecutive_failures: int
        failing_since: float | None
        last_error: str | None

    states = [
        State("https://a.example/feed", 0, None, None),
        State("https://b.example/feed", 3, NOW - 60, "timed out"),
        State("https://gone.example/feed", 9, NOW - 9000, "HTTP 404"),
    ]
    urls = ["https://a.example/feed", "https://b.example/feed"]
    assert failing_feeds(states, urls) == (
        FailingFeed("https://b.example/feed", NOW - 60, "timed out"),
    )
    assert len(failing_feeds(states)) == 2
