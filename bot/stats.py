"""What /stats and `python -m bot stats` report, gathered from the store."""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.chats import PAUSED
from bot.formatting import escape, format_datetime
from storage.chats import ChatRepo, SubscriptionRepo
from storage.counters import CounterRepo
from storage.db import Database
from storage.feeds import FeedRepo
from storage.headlines import HeadlineRepo
from storage.models import ChatKind, FeedState
from storage.outbox import OutboxRepo

DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Stats:
    """A snapshot of the bot's state."""

    chats: dict[ChatKind, tuple[int, int]]
    subscriptions: int
    top_topics: list[tuple[str, int]]
    headlines: int
    headlines_24h: int
    feeds: list[FeedState]
    backlog: dict[str, int]
    sent_24h: int
    blocked_24h: int
    floods_24h: int
    blocked_chats: int


async def collect_stats(db: Database, *, feed_urls: list[str] | None = None) -> Stats:
    """Read every figure of the report."""
    now = time.time()
    chat_repo = ChatRepo(db)
    chats = await chat_repo.count_by_kind()
    subs = SubscriptionRepo(db)
    counters = CounterRepo(db)
    feeds = await FeedRepo(db).all()
    if feed_urls is not None:
        feeds = [f for f in feeds if f.url in feed_urls]
    return Stats(
        chats=chats,
        subscriptions=await subs.count(),
        top_topics=await subs.top_topics(10),
        headlines=await HeadlineRepo(db).count(),
        headlines_24h=await HeadlineRepo(db).count_since(now - DAY),
        feeds=feeds,
        backlog=await OutboxRepo(db).backlog(),
        sent_24h=await counters.total_since("sent", now - DAY),
        blocked_24h=await counters.total_since("blocked", now - DAY),
        floods_24h=await counters.total_since("429", now - DAY),
        blocked_chats=await chat_repo.count_unreachable(paused_reason=PAUSED),
    )


def _when(ts: float | None) -> str:
    return format_datetime(ts) if ts else "never"


def render_stats(stats: Stats) -> str:
    """The report as Telegram HTML."""
    lines = ["📊 <b>Headline Bot stats</b>", "", "<b>Chats</b> (active / inactive)"]
    for kind in ChatKind:
        active, inactive = stats.chats.get(kind, (0, 0))
        lines.append(f"• {kind}: {active} / {inactive}")
    lines.append(f"Blocked or removed: {stats.blocked_chats}")
    lines += ["", f"<b>Subscriptions</b>: {stats.subscriptions}"]
    if stats.top_topics:
        top = ", ".join(f"{escape(t)} ({n})" for t, n in stats.top_topics)
        lines.append(f"Most followed: {top}")
    lines += [
        "",
        f"<b>Headlines</b>: {stats.headlines} stored, {stats.headlines_24h} added in 24 h",
        "",
        "<b>Feeds</b>",
    ]
    for feed in stats.feeds:
        state = "✅" if feed.consecutive_failures == 0 else "⚠️"
        lines.append(
            f"{state} {escape(feed.url)}\n"
            f"   last success {_when(feed.last_success_at)}, "
            f"{feed.consecutive_failures} consecutive failure(s)"
            + (f", next attempt {_when(feed.next_attempt_at)}" if feed.consecutive_failures else "")
            + (f"\n   last error: {escape(feed.last_error[:200])}" if feed.last_error else "")
        )
    backlog = stats.backlog
    lines += [
        "",
        "<b>Delivery</b>",
        f"Outbox backlog: {backlog.get('total', 0)} "
        f"({backlog.get('push', 0)} pushes, {backlog.get('broadcast', 0)} announcements)",
        f"Messages sent in 24 h: {stats.sent_24h}",
        f"Chats blocked in 24 h: {stats.blocked_24h}",
        f"429 (flood control) answers in 24 h: {stats.floods_24h}",
    ]
    return "\n".join(lines)
