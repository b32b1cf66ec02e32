"""Prometheus metrics: counters and histograms the bot bumps, gauges it refreshes.

Each `Metrics` owns its own registry, so several bots in one process (the tests) never
share a series. The gauges (outbox backlog, active chats, headlines stored) come from the
database: a scrape must not wait on it, so they are cached values, refreshed by
`refresh()` from async readers the bot registers (after a poll or delivery round, or by the
/metrics handler when the cache is older than `gauge_max_age`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from telegram import error

log = logging.getLogger(__name__)

# generate_latest writes the classic text format; every Prometheus version reads 0.0.4.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

MessageKind = Literal["reply", "push", "digest", "broadcast"]
MESSAGE_KINDS: tuple[MessageKind, ...] = ("reply", "push", "digest", "broadcast")

# What the poller reports for one feed; "not modified" is written not_modified here.
FETCH_OUTCOMES = ("new", "unchanged", "not_modified", "error")

# The api_errors classes shown from the start (a 429 is a flood wait, counted apart).
API_ERROR_CLASSES = (
    "chat_migrated",
    "invalid_token",
    "forbidden",
    "conflict",
    "bad_request",
    "timed_out",
    "network",
    "other",
)

GaugeName = Literal["outbox_backlog", "active_chats", "headlines"]
GaugeReader = Callable[[], Awaitable[float]]

POLL_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
SEND_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def api_error_class(exc: BaseException) -> str:
    """The `class` label for a Bot API error (a python-telegram-bot exception)."""
    # Subclasses first: ChatMigrated and RetryAfter are TelegramErrors, BadRequest and
    # TimedOut are NetworkErrors.
    checks: tuple[tuple[type[BaseException], str], ...] = (
        (error.ChatMigrated, "chat_migrated"),
        (error.RetryAfter, "retry_after"),
        (error.InvalidToken, "invalid_token"),
        (error.Forbidden, "forbidden"),
        (error.Conflict, "conflict"),
        (error.BadRequest, "bad_request"),
        (error.TimedOut, "timed_out"),
        (error.NetworkError, "network"),
    )
    for kind, name in checks:
        if isinstance(exc, kind):
            return name
    return "other"


class Metrics:
    """The bot's Prometheus metrics, in a registry of their own."""

    def __init__(self, *, gauge_max_age: float = 10.0, clock: Callable[[], float] = time.monotonic):
        self.registry = CollectorRegistry(auto_describe=True)
        self.gauge_max_age = gauge_max_age
        self._clock = clock
        reg = self.registry
        self._sent = Counter(
            "headline_bot_messages_sent",
            "Messages Telegram accepted, by kind.",
            ["kind"],
            registry=reg,
        )
        self._flood = Counter(
            "headline_bot_flood_waits",
            "Bot API answers 429 Too Many Requests.",
            registry=reg,
        )
        self._pictures_refused = Counter(
            "headline_bot_pictures_refused",
            "Posts whose picture Telegram refused: each went again as text, in its place.",
            registry=reg,
        )
        self._errors = Counter(
            "headline_bot_api_errors",
            "Bot API calls that failed, by error class.",
            ["class"],
            registry=reg,
        )
        self._fetches = Counter(
            "headline_bot_feed_fetches",
            "Feed fetches, by outcome.",
            ["outcome"],
            registry=reg,
        )
        self._poll = Histogram(
            "headline_bot_poll_duration_seconds",
            "Time one poll round of every feed took.",
            buckets=POLL_BUCKETS,
            registry=reg,
        )
        self._send = Histogram(
            "headline_bot_send_latency_seconds",
            "Time one Bot API send took, from request to answer.",
            buckets=SEND_BUCKETS,
            registry=reg,
        )
        self._gauges: dict[GaugeName, Gauge] = {
            "outbox_backlog": Gauge(
                "headline_bot_outbox_backlog",
                "Messages waiting in the outbox.",
                registry=reg,
            ),
            "active_chats": Gauge(
                "headline_bot_active_chats",
                "Chats the bot may send to.",
                registry=reg,
            ),
            "headlines": Gauge(
                "headline_bot_headlines_stored",
                "Headlines in the database.",
                registry=reg,
            ),
        }
        # Every known label value starts at 0, so rate() sees a series from the first scrape.
        for kind in MESSAGE_KINDS:
            self._sent.labels(kind=kind)
        for cls in API_ERROR_CLASSES:
            self._errors.labels(cls)
        for outcome in FETCH_OUTCOMES:
            self._fetches.labels(outcome=outcome)
        self._readers: dict[GaugeName, GaugeReader] = {}
        self._refreshed_at: float | None = None
        self._refresh_lock = asyncio.Lock()

    # -- what the send path and the poller call ------------------------------------------

    def sent(self, kind: MessageKind, n: int = 1) -> None:
        """Count `n` messages of `kind` that Telegram accepted."""
        self._sent.labels(kind=kind).inc(n)

    def flood_wait(self) -> None:
        """Count one 429 answer (count it here only, not as an api_error too)."""
        self._flood.inc()

    def picture_refused(self) -> None:
        """Count one post whose picture Telegram refused (the post went as text)."""
        self._pictures_refused.inc()

    def api_error(self, cls: str) -> None:
        """Count one failed Bot API call of class `cls` (see `api_error_class`)."""
        self._errors.labels(cls).inc()

    def failed(self, exc: BaseException) -> None:
        """Count one failed Bot API call: a 429 as a flood wait, anything else by its class."""
        cls = api_error_class(exc)
        if cls == "retry_after":
            self.flood_wait()
        else:
            self.api_error(cls)

    def fetched(self, outcome: str) -> None:
        """Count one feed fetch by its outcome (`not modified` is counted as not_modified)."""
        self._fetches.labels(outcome=outcome.strip().replace(" ", "_")).inc()

    def observe_poll(self, seconds: float) -> None:
        """Record how long one poll round took."""
        self._poll.observe(seconds)

    def observe_send(self, seconds: float) -> None:
        """Record how long one send took."""
        self._send.observe(seconds)

    # -- gauges ----------------------------------------------------------------------------

    def set_gauge(self, name: GaugeName, value: float) -> None:
        """Set a gauge now, for a caller that already has the value at hand."""
        self._gauges[name].set(value)

    def read_gauges_from(
        self,
        *,
        outbox_backlog: GaugeReader | None = None,
        active_chats: GaugeReader | None = None,
        headlines: GaugeReader | None = None,
    ) -> None:
        """Register async readers that `refresh()` awaits for the gauges."""
        given: dict[GaugeName, GaugeReader | None] = {
            "outbox_backlog": outbox_backlog,
            "active_chats": active_chats,
            "headlines": headlines,
        }
        for name, reader in given.items():
            if reader is not None:
                self._readers[name] = reader

    async def refresh(self, *, force: bool = True) -> None:
        """Await every gauge reader and cache its value; a failing reader keeps the old one.

        With `force=False` it does nothing while the cache is younger than `gauge_max_age`,
        so frequent scrapes cost the database one round of reads every few seconds at most.
        """
        async with self._refresh_lock:
            now = self._clock()
            fresh = self._refreshed_at is not None and now - self._refreshed_at < self.gauge_max_age
            if fresh and not force:
                return
            for name, reader in self._readers.items():
                try:
                    value = await reader()
                except Exception as exc:  # a scrape must still answer with the other series
                    log.warning("metrics: reading %s failed: %s", name, exc)
                    continue
                self._gauges[name].set(value)
            self._refreshed_at = self._clock()

    def render(self) -> bytes:
        """The metrics in the Prometheus text format (serve with `CONTENT_TYPE`)."""
        return generate_latest(self.registry)
