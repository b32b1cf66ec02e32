"""GET /healthz and GET /metrics: an aiohttp server of their own, or routes on another app.

/healthz answers 503 only for faults a restart could cure or an operator must see: no poll
round completed within three intervals, a database that takes no write, or no answer from
the Bot API for five minutes. A failing upstream feed is the feed's fault: it is reported in
the body, with a 200. The decision is `health()`, a pure function over a `HealthSnapshot`;
the server asks a `HealthProvider` for the snapshot at each request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from aiohttp import web

from bot.telemetry.liveness import Liveness
from bot.telemetry.metrics import CONTENT_TYPE, Metrics
from storage import Store

log = logging.getLogger(__name__)

POLL_ROUNDS_LATE = 3  # no poll round completed within this many intervals: unhealthy
API_SILENCE_SECONDS = 300.0  # no Bot API answer for this long: unhealthy
WRITE_TIMEOUT_SECONDS = 10.0  # a database write that waits longer counts as not writable
SNAPSHOT_TIMEOUT_SECONDS = 15.0

Clock = Callable[[], float]


@dataclass(frozen=True)
class FailingFeed:
    """A feed whose last fetches failed, since `since` (unix time)."""

    url: str
    since: float
    error: str | None = None


@dataclass(frozen=True)
class HealthSnapshot:
    """What /healthz judges; times are unix seconds, None when it never happened."""

    started_at: float
    last_poll_at: float | None
    last_api_answer_at: float | None
    database_writable: bool
    database_error: str | None = None
    outbox_backlog: int = 0
    failing_feeds: tuple[FailingFeed, ...] = ()


class FeedLike(Protocol):
    """The fields of a feed's stored state that health reads (storage's FeedState has them)."""

    @property
    def url(self) -> str: ...
    @property
    def consecutive_failures(self) -> int: ...
    @property
    def failing_since(self) -> float | None: ...
    @property
    def last_error(self) -> str | None: ...


def failing_feeds(
    feeds: Iterable[FeedLike], urls: Collection[str] | None = None
) -> tuple[FailingFeed, ...]:
    """The feeds failing now, among `urls` when given (a feed removed from FEED_URLS is not)."""
    return tuple(
        FailingFeed(feed.url, feed.failing_since, feed.last_error)
        for feed in feeds
        if feed.consecutive_failures > 0
        and feed.failing_since is not None
        and (urls is None or feed.url in urls)
    )


class HealthProvider(Protocol):
    """Anything that can take a health snapshot of the running bot."""

    async def snapshot(self) -> HealthSnapshot:
        """The bot's state now."""
        ...


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _age(now: float, ts: float | None) -> float | None:
    return None if ts is None else round(max(0.0, now - ts), 1)


def health(snapshot: HealthSnapshot, now: float, interval: float) -> tuple[int, dict[str, Any]]:
    """Decide /healthz: (200 or 503, the JSON body)."""
    problems: list[str] = []
    # Before the first round (or answer), the clock runs from the start: a bot that never
    # completes one is as stuck as one that stopped.
    poll_ref = snapshot.last_poll_at if snapshot.last_poll_at is not None else snapshot.started_at
    late_after = POLL_ROUNDS_LATE * interval
    if now - poll_ref > late_after:
        limit = f"(more than {POLL_ROUNDS_LATE} intervals of {interval:g} s)"
        if snapshot.last_poll_at is None:
            since = _ago(now - poll_ref, suffix="")
            problems.append(f"no poll round completed in the {since} since the start {limit}")
        else:
            problems.append(f"the last poll round completed {_ago(now - poll_ref)} {limit}")
    if not snapshot.database_writable:
        problems.append(f"database not writable: {snapshot.database_error or 'unknown error'}")
    api_ref = (
        snapshot.last_api_answer_at
        if snapshot.last_api_answer_at is not None
        else snapshot.started_at
    )
    if now - api_ref > API_SILENCE_SECONDS:
        problems.append(f"no Bot API answer for {_ago(now - api_ref, suffix='')}")
    body: dict[str, Any] = {
        "status": "unhealthy" if problems else "ok",
        "problems": problems,
        "uptime_seconds": _age(now, snapshot.started_at),
        "last_poll_age_seconds": _age(now, snapshot.last_poll_at),
        "last_api_answer_age_seconds": _age(now, snapshot.last_api_answer_at),
        "database_writable": snapshot.database_writable,
        "outbox_backlog": snapshot.outbox_backlog,
        "failing_feeds": [
            {
                "url": feed.url,
                "since": _iso(feed.since),
                "failing_for_seconds": _age(now, feed.since),
                "error": feed.error,
            }
            for feed in snapshot.failing_feeds
        ],
    }
    if snapshot.database_error is not None:
        body["database_error"] = snapshot.database_error
    return (503 if problems else 200), body


def _ago(seconds: float, *, suffix: str = " ago") -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        text = f"{seconds:.0f} s"
    elif seconds < 7200:
        text = f"{seconds / 60:.0f} min"
    else:
        text = f"{seconds / 3600:.1f} h"
    return text + suffix


class WriteProbe:
    """The store's write probe with a time limit, never cancelling a probe half-way.

    A probe still running after `within` seconds is reported as a failure and left to
    finish; the next call waits for that one instead of starting a second.
    """

    def __init__(self, store: Store, *, within: float = WRITE_TIMEOUT_SECONDS) -> None:
        self._store = store
        self.within = within
        self._running: asyncio.Task[str | None] | None = None

    async def __call__(self) -> str | None:
        """None when the database took a write, else why not."""
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self._store.write_error())
        try:
            return await asyncio.wait_for(asyncio.shield(self._running), self.within)
        except TimeoutError:
            return f"no write within {self.within:g} s (database locked or stalled)"


class BotHealthProvider:
    """A `HealthProvider` over the running bot's Liveness, database and readers."""

    def __init__(
        self,
        liveness: Liveness,
        store: Store,
        *,
        failing_feeds: Callable[[], Awaitable[Sequence[FailingFeed]]],
        outbox_backlog: Callable[[], Awaitable[int]],
        write_timeout: float = WRITE_TIMEOUT_SECONDS,
    ) -> None:
        self._liveness = liveness
        self._probe = WriteProbe(store, within=write_timeout)
        self._failing_feeds = failing_feeds
        self._outbox_backlog = outbox_backlog

    async def snapshot(self) -> HealthSnapshot:
        """Probe the database, read the failing feeds and the backlog."""
        error = await self._probe()
        return HealthSnapshot(
            started_at=self._liveness.started_at,
            last_poll_at=self._liveness.last_poll_at,
            last_api_answer_at=self._liveness.last_api_answer_at,
            database_writable=error is None,
            database_error=error,
            outbox_backlog=int(await self._outbox_backlog()),
            failing_feeds=tuple(await self._failing_feeds()),
        )


def add_status_routes(
    app: web.Application,
    provider: HealthProvider,
    metrics: Metrics | None,
    *,
    interval: float,
    clock: Clock = time.time,
) -> None:
    """Serve GET /healthz (and GET /metrics when `metrics` is given) on `app`."""

    async def healthz(request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(SNAPSHOT_TIMEOUT_SECONDS):
                snapshot = await provider.snapshot()
        except Exception as exc:  # the probe itself failing is a fault to see
            log.warning("health snapshot failed: %s", exc)
            reason = (
                f"no health snapshot within {SNAPSHOT_TIMEOUT_SECONDS:g} s"
                if isinstance(exc, TimeoutError)
                else f"health snapshot failed: {type(exc).__name__}: {exc}"
            )
            return web.json_response({"status": "unhealthy", "problems": [reason]}, status=503)
        status, body = health(snapshot, clock(), interval)
        return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})

    app.router.add_get("/healthz", healthz)
    if metrics is None:
        return

    async def metrics_page(request: web.Request) -> web.Response:
        await metrics.refresh(force=False)
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    app.router.add_get("/metrics", metrics_page)


class StatusServer:
    """The /healthz and /metrics server on its own host and port (METRICS_HOST, METRICS_PORT)."""

    def __init__(
        self,
        provider: HealthProvider,
        metrics: Metrics | None,
        *,
        interval: float,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock = time.time,
    ) -> None:
        self.host = host
        self.port = port
        self._app = web.Application()
        add_status_routes(self._app, provider, metrics, interval=interval, clock=clock)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The server's base URL (the real port once started, when 0 was asked for)."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Listen; raises OSError when the port is taken."""
        runner = web.AppRunner(self._app, access_log=None)  # a scrape every 15 s is not news
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        addresses = runner.addresses  # the real port when 0 was asked for
        if addresses:
            self.port = int(addresses[0][1])
        log.info("status server on %s (/healthz, /metrics)", self.url)

    async def stop(self) -> None:
        """Stop listening; safe to call twice."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> StatusServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class StandbyServer:
    """/healthz and /metrics while the bot stands by for another on the same database.

    A standby is healthy as a standby: /healthz answers 200 with "status": "standby" (a
    supervisor must not restart it), and /metrics says so in one gauge.
    """

    def __init__(
        self, active: str, *, host: str = "127.0.0.1", port: int = 0, clock: Clock = time.time
    ) -> None:
        self.host = host
        self.port = port
        self.active = active
        self._clock = clock
        self._since = clock()
        self._runner: web.AppRunner | None = None

    async def _healthz(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = {
            "status": "standby",
            "problems": [],
            "active": self.active,
            "standby_seconds": _age(self._clock(), self._since),
        }
        return web.json_response(body, headers={"Cache-Control": "no-store"})

    async def _metrics(self, request: web.Request) -> web.Response:
        text = (
            "# HELP headline_bot_standby 1 while this process stands by for the active bot\n"
            "# TYPE headline_bot_standby gauge\nheadline_bot_standby 1\n"
        )
        return web.Response(body=text.encode(), headers={"Content-Type": CONTENT_TYPE})

    async def start(self) -> None:
        """Listen; raises OSError when the port is taken."""
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        if runner.addresses:
            self.port = int(runner.addresses[0][1])
        log.info("standby status server on http://%s:%d (/healthz, /metrics)", self.host, self.port)

    async def stop(self) -> None:
        """Stop listening (the active bot's server takes the port); safe to call twice."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
