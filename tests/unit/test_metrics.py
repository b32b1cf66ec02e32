"""Metrics: what the bot counts comes out of render() in the Prometheus text format."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
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

from bot.metrics import Metrics, api_error_class


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
