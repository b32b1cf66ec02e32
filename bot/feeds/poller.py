"""Fetch -> parse -> store, for every feed that is due; then the router queues the pushes."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.feeds import FeedFetcher, FetchResult, parse_feed
from bot.feeds.failures import FeedFailure, Reason
from bot.feeds.parsing import ParsedFeed
from bot.feeds.policy import failure_delay, interval_after_429, interval_after_read
from bot.feeds.pool import ParsePool
from bot.feeds.reads import store_read
from bot.routing.router import Router
from bot.telemetry.liveness import Liveness
from bot.telemetry.metrics import Metrics
from storage import Storage
from storage.models import FeedRecord

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 3600.0
SPREAD_FRACTION = 0.5  # a round's fetches start spread over this share of the interval
NOT_MODIFIED_BATCH = 64  # 304 answers recorded per transaction


@dataclass(frozen=True, slots=True)
class FeedReport:
    """The outcome of polling one feed once."""

    url: str
    outcome: str  # new | unchanged | not modified | error | waiting
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    queued: int = 0
    baseline: bool = False
    error: str | None = None  # why it failed (in English: the failure's text) or is waiting
    failure: FeedFailure | None = None  # why it failed, as a value

    @property
    def ok(self) -> bool:
        """Whether the feed was read (or did not need to be)."""
        return self.outcome != "error"

    def describe(self) -> str:
        """One line for people: what happened to this feed."""
        if self.outcome == "error":
            return f"{self.url}: error: {self.error}"
        if self.outcome in ("not modified", "waiting"):
            extra = f" ({self.error})" if self.error else ""
            return f"{self.url}: {self.outcome}{extra}"
        parts = [f"{self.new} new", f"{self.updated} updated", f"{self.unchanged} unchanged"]
        if self.baseline and self.new:
            parts.append("first read: stored as baseline, not pushed")
        elif self.queued:
            parts.append(f"{self.queued} pushes queued")
        return f"{self.url}: " + ", ".join(parts)


def document_hash(body: bytes) -> str:
    """What tells one feed document from another: its bytes' hash."""
    return hashlib.blake2b(body, digest_size=16).hexdigest()


def _slot(feed_id: int) -> int:
    """A feed's stable place in a spread round (its id scrambled, so neighbours spread)."""
    return (feed_id * 2654435761) % 2**32


def backoff_seconds(failures: int, interval: float) -> float:
    """Exponential backoff after `failures` consecutive failures, capped at one hour."""
    return float(min(MAX_BACKOFF_SECONDS, interval * 2 ** max(0, failures - 1)))


class Poller:
    """Polls feeds into the store and queues pushes for matching chats."""

    def __init__(
        self,
        storage: Storage,
        fetcher: FeedFetcher,
        router: Router,
        *,
        urls: Sequence[str],
        interval: float,
        default_language: str = "en",
        on_queued: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
        liveness: Liveness | None = None,
        parser: ParsePool | None = None,
    ) -> None:
        self.store = storage.store
        self.fetcher = fetcher
        self.router = router  # queues the pushes of what a poll stored
        self.urls = list(urls)
        self.interval = interval
        # the language of headlines whose feed declares none (DEFAULT_LANGUAGE)
        self.default_language = default_language
        self.feeds = storage.feeds
        self.headlines = storage.headlines
        self.on_queued = on_queued
        self.clock = clock
        self.metrics = metrics  # fetch outcomes and round durations, when given
        self.liveness = liveness  # told when a round completes, for /healthz
        self._lock = asyncio.Lock()  # one spread round at a time
        self._feed_locks: dict[int, asyncio.Lock] = {}  # one poll of a feed at a time
        # A round's bookkeeping takes the database one write at a time: with 32 fetches
        # finishing together, a reply's query would otherwise queue behind all of them.
        self._writes = asyncio.Lock()
        self._unchanged: list[tuple[int, float, float | None, float]] = []  # 304s to record
        self.spread_fraction = SPREAD_FRACTION
        # parses in worker processes, so that a round's parsing never holds the event loop
        # (None: in a thread, as tests that build a Poller of their own do)
        self.parser = parser

    async def poll_all(self, *, force: bool = False) -> list[FeedReport]:
        """Poll every active feed that is due (all of them with `force`); FEED_URLS first.

        The feeds are the database's: neither paused nor removed, the configured ones added
        at each round. Without `force` the due feeds' fetches start spread over
        SPREAD_FRACTION of the interval, each feed at its own stable slot, instead of all at
        once; a forced round starts them all at once and does not wait for a spread round
        (a feed polled by it meanwhile is skipped by that round). The fetcher caps how many
        run at a time (per host and overall).
        """
        await self.feeds.ensure_configured(self.urls, now=self.clock())
        if force:
            return await self._round(force=True)
        async with self._lock:
            return await self._round(force=False)

    async def _round(self, *, force: bool) -> list[FeedReport]:
        began = time.monotonic()
        round_began = self.clock()
        feeds = await self.feeds.active()
        spread = 0.0 if force or len(feeds) < 2 else self.interval * self.spread_fraction
        rank = {f.id: i for i, f in enumerate(sorted(feeds, key=lambda f: _slot(f.id)))}

        async def one(feed: FeedRecord) -> FeedReport:
            delay = spread * rank[feed.id] / len(feeds)
            if delay > 0:
                await asyncio.sleep(max(0.0, began + delay - time.monotonic()))
            return await self._poll_record(
                feed, force=force, fresh_since=round_began if delay > 0 else None
            )

        try:
            reports = await asyncio.gather(*(one(feed) for feed in feeds))
        finally:
            await self._flush_not_modified()
        # headlines a crash left unrouted, even when every feed was unchanged
        leftover = await self.router.route_pending()
        if self.metrics is not None:
            self.metrics.observe_poll(time.monotonic() - began)
        if self.liveness is not None:
            self.liveness.poll_completed()
        queued = sum(r.queued for r in reports) + leftover
        if queued and self.on_queued is not None:
            self.on_queued()
        return list(reports)

    async def poll_feed(self, url: str, *, force: bool = False) -> FeedReport:
        """Poll one feed (added first when unknown); failures are recorded, never raised."""
        await self.feeds.ensure(url)
        record = await self.feeds.record(url)
        assert record is not None
        try:
            return await self._poll_record(record, force=force)
        finally:
            await self._flush_not_modified()

    async def _poll_record(
        self, feed: FeedRecord, *, force: bool, fresh_since: float | None = None
    ) -> FeedReport:
        """Poll one feed, one poll of it at a time. `fresh_since`: the round's start, when
        the feed waited for its slot (its state is read again: it may have been polled,
        paused or removed meanwhile)."""
        url = feed.url
        lock = self._feed_locks.setdefault(feed.id, asyncio.Lock())
        async with lock:
            if fresh_since is not None:
                again = await self.feeds.record(url)
                if again is None or again.paused or again.removed_at is not None:
                    return FeedReport(url, "waiting", error="paused or removed meanwhile")
                if (again.state.last_attempt_at or 0) >= fresh_since:
                    return FeedReport(url, "waiting", error="polled a moment ago")
                feed = again
            state = feed.state
            now = self.clock()
            if not force and state.next_attempt_at > now:
                wait = state.next_attempt_at - now
                why = "backing off" if state.consecutive_failures else "its own interval"
                return FeedReport(url, "waiting", error=f"{why}, next try in {wait:.0f} s")
            try:
                report = await self._poll(feed)
            except Exception as exc:  # a bug or a storage failure must not stop the others
                log.exception("feed %s: unexpected failure", url)
                failure = FeedFailure(Reason.INTERNAL, f"{type(exc).__name__}: {exc}")
                report = await self._fail(feed, failure)
        if self.metrics is not None:
            self.metrics.fetched(report.outcome)
        if report.outcome == "error":
            log.warning("feed %s failed: %s", url, report.error)
        else:
            log.info("poll %s", report.describe())
        return report

    async def _poll(self, feed: FeedRecord) -> FeedReport:
        state = feed.state
        result = await self.fetcher.fetch(
            state.url, etag=state.etag, last_modified=state.last_modified
        )
        now = self.clock()
        if result.status == "not_modified":
            await self._not_modified(feed, result, now=now)
            return FeedReport(state.url, "not modified")
        if result.status == "error":
            return await self._fail(
                feed,
                result.failure or FeedFailure(Reason.FETCH_FAILED),
                retry_after=result.retry_after,
                throttled=result.http_status == 429,
            )
        fingerprint = document_hash(result.body)
        if state.baseline_done and fingerprint == state.body_hash:
            # the very document stored last time (a server that answers 200 whatever the
            # validators say): a 304 for the books, neither parsed nor stored again
            await self._same_document(feed, result, now=now)
            return FeedReport(state.url, "not modified")
        parsed = await self._parse(
            result.body,
            url=result.final_url or state.url,
            fetched_at=now,
            content_type=result.content_type,
        )
        if parsed.failure is not None:
            return await self._fail(feed, parsed.failure)
        baseline = not state.baseline_done
        async with self._writes, self.store.transaction() as tx:
            stored = await store_read(
                tx,
                self.feeds,
                self.headlines,
                state.id,
                result,
                parsed,
                baseline=baseline,
                default_language=self.default_language,
                now=now,
                body_hash=fingerprint,
            )
        async with self._writes:
            await self._schedule(feed, result, parsed.ttl_seconds, now=now)
        queued = await self.router.route_pending() if stored.new and not baseline else 0
        return FeedReport(
            state.url,
            "new" if stored.new else "unchanged",
            new=len(stored.new),
            updated=stored.updated,
            unchanged=stored.unchanged,
            queued=queued,
            baseline=baseline,
        )

    async def _parse(
        self, data: bytes, *, url: str, fetched_at: float, content_type: str | None
    ) -> ParsedFeed:
        if self.parser is not None:
            return await self.parser.parse(
                data, url=url, fetched_at=fetched_at, content_type=content_type
            )
        return await asyncio.to_thread(
            parse_feed, data, url=url, fetched_at=fetched_at, content_type=content_type
        )

    async def _same_document(self, feed: FeedRecord, result: FetchResult, *, now: float) -> None:
        """Note a 200 that brought the document stored last time: as a 304 (written a batch
        at a time) unless its validators changed, which one short write records."""
        state = feed.state
        if (result.etag, result.last_modified) == (state.etag, state.last_modified):
            await self._not_modified(feed, result, now=now)
            return
        async with self._writes, self.store.transaction() as tx:
            await self.feeds.record_success(
                tx,
                state.id,
                now=now,
                etag=result.etag,
                last_modified=result.last_modified,
                title=state.title,
                body_hash=state.body_hash,
            )
        async with self._writes:
            await self._schedule(feed, result, None, now=now)

    async def _not_modified(self, feed: FeedRecord, result: FetchResult, *, now: float) -> None:
        """Note a 304; they are written NOT_MODIFIED_BATCH at a time (and at a round's end):
        most of a round's answers are 304s, and one transaction each kept replies waiting."""
        own = interval_after_read(
            self.interval,
            feed.interval_seconds,
            retry_after=result.retry_after,
            max_age=result.max_age,
        )
        self._unchanged.append((feed.id, now, own, now + own if own else 0.0))
        if len(self._unchanged) >= NOT_MODIFIED_BATCH:
            await self._flush_not_modified()

    async def _flush_not_modified(self) -> None:
        rows, self._unchanged = self._unchanged, []
        if rows:
            async with self._writes:
                await self.feeds.record_not_modified_many(rows)

    async def _schedule(
        self, feed: FeedRecord, result: FetchResult, ttl: float | None, *, now: float
    ) -> None:
        """After a read: the feed's own interval from its server's hints (or the default)."""
        own = interval_after_read(
            self.interval,
            feed.interval_seconds,
            retry_after=result.retry_after,
            max_age=result.max_age,
            ttl=ttl,
        )
        if own is None and feed.interval_seconds is None:
            return  # the default interval: due at every round, as record_* left it
        await self.feeds.set_schedule(
            feed.id, interval_seconds=own, next_attempt_at=now + own if own else 0.0
        )

    async def _fail(
        self,
        feed: FeedRecord,
        failure: FeedFailure,
        *,
        retry_after: float | None = None,
        throttled: bool = False,
    ) -> FeedReport:
        """Record a failure: exponential backoff, or later when the server asked (Retry-After);
        an HTTP 429 also doubles the feed's own interval."""
        state = feed.state
        now = self.clock()
        delay = failure_delay(
            backoff_seconds(state.consecutive_failures + 1, self.interval), retry_after=retry_after
        )
        async with self._writes:
            await self.feeds.record_failure(
                state.id,
                now=now,
                error=failure.text,
                reason=failure.reason,
                detail=failure.detail,
                next_attempt_at=now + delay,
            )
            if throttled:
                own = interval_after_429(
                    self.interval, feed.interval_seconds, retry_after=retry_after
                )
                await self.feeds.set_schedule(
                    state.id, interval_seconds=own, next_attempt_at=now + max(delay, own)
                )
        return FeedReport(state.url, "error", error=failure.text, failure=failure)
