"""Fetch -> parse -> store -> route -> enqueue, for every configured feed."""

from __future__ import annotations

import asyncio
import logging
import time
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from bot.feeds import FeedFetcher, parse_feed
from bot.matching import Route, TopicIndex, headline_tokens
from bot.metrics import Metrics
from bot.status_server import Liveness
from storage.db import Database
from storage.feeds import FeedRepo
from storage.headlines import HeadlineRepo
from storage.models import ChatPush, FeedState, Headline
from storage.outbox import OutboxRepo

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 3600.0
ROUTE_PASS = 1_000_000  # pushes matched before they are queued (8 bytes each)
ROUTE_CHUNK = 25_000  # pushes queued per transaction (whole chats)
ROUTE_PAUSE_AFTER = 0.02  # a chunk that held the database longer is followed by a pause
ROUTE_HEADLINES = 500  # unrouted headlines read at a time


@dataclass(frozen=True, slots=True)
class RoutedPass:
    """The pushes of a routing pass, kept compact: per headline and outcome, the sorted ids of
    the chats it goes to (8 bytes a push)."""

    ids: list[int]  # the headlines matched, in order
    groups: list[tuple[int, Route, array[int]]]  # (headline id, route, sorted chat ids)

    @property
    def pushes(self) -> int:
        """How many (chat, headline) pushes the pass holds."""
        return sum(len(chats) for _, _, chats in self.groups)

    def chunks(self, size: int) -> Iterator[list[ChatPush]]:
        """One ChatPush per chat and thread, in chat order, about `size` pushes at a time;
        a chat's pushes always come in one chunk.

        The chunks are ranges of chat ids cut at quantiles of a sample of the pushes (every
        size/16th of each group), so no list of the pass's chats is ever built.
        """
        step = max(1, size // 16)
        sample = sorted(chat for _, _, chats in self.groups for chat in chats[::step])
        per_chunk = max(1, size // step)
        lo: int | None = None  # the chunk is the chats above lo, up to hi
        for hi in [*sample[per_chunk - 1 :: per_chunk], None]:
            per_chat: dict[int, dict[int | None, list[tuple[int, tuple[str, ...]]]]] = {}
            for hid, route, chats in self.groups:  # in headline order
                start = 0 if lo is None else bisect_right(chats, lo)
                end = len(chats) if hi is None else bisect_right(chats, hi)
                item = (hid, route.topics)
                for chat_id in chats[start:end]:
                    threads = per_chat.get(chat_id)
                    if threads is None:
                        threads = per_chat[chat_id] = {}
                    threads.setdefault(route.thread_id, []).append(item)
            if per_chat:
                yield [
                    ChatPush(chat_id, thread_id, tuple(items))
                    for chat_id in sorted(per_chat)
                    for thread_id, items in per_chat[chat_id].items()
                ]
            lo = hi


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
    error: str | None = None

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


def backoff_seconds(failures: int, interval: float) -> float:
    """Exponential backoff after `failures` consecutive failures, capped at one hour."""
    return float(min(MAX_BACKOFF_SECONDS, interval * 2 ** max(0, failures - 1)))


class Poller:
    """Polls feeds into the store and queues pushes for matching chats."""

    def __init__(
        self,
        db: Database,
        fetcher: FeedFetcher,
        index: TopicIndex,
        *,
        urls: Sequence[str],
        interval: float,
        on_queued: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
        liveness: Liveness | None = None,
    ) -> None:
        self.db = db
        self.fetcher = fetcher
        self.index = index
        self.urls = list(urls)
        self.interval = interval
        self.feeds = FeedRepo(db)
        self.headlines = HeadlineRepo(db)
        self.outbox = OutboxRepo(db)
        self.on_queued = on_queued
        self.clock = clock
        self.metrics = metrics  # fetch outcomes and round durations, when given
        self.liveness = liveness  # told when a round completes, for /healthz
        self._lock = asyncio.Lock()
        self._route_lock = asyncio.Lock()

    async def poll_all(self, *, force: bool = False) -> list[FeedReport]:
        """Poll every feed that is due (all of them with `force`), a few at a time."""
        async with self._lock:
            began = time.monotonic()
            limit = asyncio.Semaphore(4)

            async def one(url: str) -> FeedReport:
                async with limit:
                    return await self.poll_feed(url, force=force)

            reports = await asyncio.gather(*(one(url) for url in self.urls))
            # headlines a crash left unrouted, even when every feed was unchanged
            leftover = await self.route_pending()
            if self.metrics is not None:
                self.metrics.observe_poll(time.monotonic() - began)
            if self.liveness is not None:
                self.liveness.poll_completed()
        queued = sum(r.queued for r in reports) + leftover
        if queued and self.on_queued is not None:
            self.on_queued()
        return list(reports)

    async def poll_feed(self, url: str, *, force: bool = False) -> FeedReport:
        """Poll one feed; failures are recorded and backed off, never raised."""
        state = await self.feeds.ensure(url)
        now = self.clock()
        if not force and state.next_attempt_at > now:
            wait = state.next_attempt_at - now
            return FeedReport(url, "waiting", error=f"backing off, next try in {wait:.0f} s")
        try:
            report = await self._poll(state)
        except Exception as exc:  # a bug or a storage failure must not stop the other feeds
            log.exception("feed %s: unexpected failure", url)
            report = await self._fail(state, f"internal error: {type(exc).__name__}: {exc}")
        if self.metrics is not None:
            self.metrics.fetched(report.outcome)
        if report.outcome == "error":
            log.warning("feed %s failed: %s", url, report.error)
        else:
            log.info("poll %s", report.describe())
        return report

    async def _poll(self, state: FeedState) -> FeedReport:
        result = await self.fetcher.fetch(
            state.url, etag=state.etag, last_modified=state.last_modified
        )
        now = self.clock()
        if result.status == "not_modified":
            await self.feeds.record_not_modified(state.id, now=now)
            return FeedReport(state.url, "not modified")
        if result.status == "error":
            return await self._fail(state, result.error or "fetch failed")
        parsed = await asyncio.to_thread(
            parse_feed,
            result.body,
            url=result.final_url or state.url,
            fetched_at=now,
            content_type=result.content_type,
        )
        if parsed.error:
            return await self._fail(state, parsed.error)
        baseline = not state.baseline_done
        async with self.db.transaction() as conn:
            stored = await self.headlines.upsert(
                conn, state.id, parsed.entries, baseline=baseline, now=now
            )
            await self.feeds.record_success(
                conn,
                state.id,
                now=now,
                etag=result.etag,
                last_modified=result.last_modified,
                title=parsed.title,
            )
        queued = await self.route_pending() if stored.new and not baseline else 0
        return FeedReport(
            state.url,
            "new" if stored.new else "unchanged",
            new=len(stored.new),
            updated=stored.updated,
            unchanged=stored.unchanged,
            queued=queued,
            baseline=baseline,
        )

    async def route_pending(self) -> int:
        """Queue the pushes of every headline not routed yet; return the pushes queued.

        Headlines are stored first and routed after, a pass at a time: a pass matches
        headlines (oldest first) until it holds ROUTE_PASS pushes, then adds each chat's
        headlines to the message it is owed (one outbox row per chat and thread), in short
        transactions of about ROUTE_CHUNK pushes, and finally marks its headlines routed. A poll
        that matches every chat does not hold the database for minutes: after a chunk that
        held it for a while, routing pauses as long, so replies and deliveries get the
        database at least half of the time. A pass a crash cut short is repeated by the next poll;
        each chat's `pushed_upto` mark keeps it from queuing a headline twice.
        """
        queued = 0
        async with self._route_lock:
            while headlines := await self.headlines.unrouted(ROUTE_HEADLINES):
                routed = await self.route_pass(headlines, ROUTE_PASS)
                batch = int(self.clock() * 1000)
                for pushes in routed.chunks(ROUTE_CHUNK):
                    now = self.clock()
                    async with self.db.transaction() as conn:
                        began = time.monotonic()
                        queued += await self.outbox.enqueue_pushes(
                            conn, pushes, batch=batch, now=now
                        )
                    held = time.monotonic() - began
                    if held > ROUTE_PAUSE_AFTER:
                        await asyncio.sleep(held)
                async with self.db.transaction() as conn:
                    await self.headlines.mark_routed(conn, routed.ids)
        return queued

    async def route_pass(self, headlines: Sequence[Headline], limit: int) -> RoutedPass:
        """Match headlines (in order) until `limit` pushes are found; the first is always
        taken. The cost grows with the headlines' text and their matches, not with the
        chats. Other tasks (replies, delivery) get a turn after every headline.
        """
        ids: list[int] = []
        groups: list[tuple[int, Route, array[int]]] = []
        found = 0  # pushes so far
        for headline in headlines:
            if ids and found >= limit:
                break
            tokens = headline_tokens(headline.title, headline.summary, headline.categories)
            routes = self.index.route(tokens)
            by_route: dict[Route, list[int]] = {}
            for chat_id, route in routes.items():
                same = by_route.get(route)
                if same is None:
                    by_route[route] = [chat_id]
                else:
                    same.append(chat_id)
            groups.extend(
                (headline.id, route, array("q", sorted(chat_ids)))
                for route, chat_ids in by_route.items()
            )
            found += len(routes)
            ids.append(headline.id)
            await asyncio.sleep(0)
        return RoutedPass(ids, groups)

    async def _fail(self, state: FeedState, error: str) -> FeedReport:
        now = self.clock()
        delay = backoff_seconds(state.consecutive_failures + 1, self.interval)
        await self.feeds.record_failure(state.id, now=now, error=error, next_attempt_at=now + delay)
        return FeedReport(state.url, "error", error=error)
