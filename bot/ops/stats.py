"""What /stats and `python -m bot stats` report, gathered from the store."""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.chats.service import PAUSED
from bot.feeds.failures import describe, stored_failure
from bot.formatting import escape
from bot.text.i18n import N_, Translator, translator
from storage import Storage
from storage.models import ChatKind, FeedState

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
    pictures_refused_24h: int = 0


async def collect_stats(storage: Storage) -> Stats:
    """Read every figure of the report: every feed in the database, however it was added."""
    now = time.time()
    chat_repo = storage.chats
    chats = await chat_repo.count_by_kind()
    subs = storage.subscriptions
    counters = storage.counters
    return Stats(
        chats=chats,
        subscriptions=await subs.count(),
        top_topics=await subs.top_topics(10),
        headlines=await storage.headlines.count(),
        headlines_24h=await storage.headlines.count_since(now - DAY),
        feeds=await storage.feeds.all(),
        backlog=await storage.outbox.backlog(),
        sent_24h=await counters.total_since("sent", now - DAY),
        blocked_24h=await counters.total_since("blocked", now - DAY),
        floods_24h=await counters.total_since("429", now - DAY),
        blocked_chats=await chat_repo.count_unreachable(paused_reason=PAUSED),
        pictures_refused_24h=await counters.total_since("picture_refused", now - DAY),
    )


KIND_NAMES = {
    ChatKind.PRIVATE: N_("private"),
    ChatKind.GROUP: N_("group"),
    ChatKind.SUPERGROUP: N_("supergroup"),
    ChatKind.CHANNEL: N_("channel"),
}


def render_stats(stats: Stats, *, t: Translator | None = None, tz: str = "UTC") -> str:
    """The report as Telegram HTML, in the reader's language and time zone."""
    t = t or translator(None)
    n = t.format_number

    def when(ts: float | None) -> str:
        return t.format_datetime(ts, tz) if ts else t._("never")

    lines = [t._("📊 <b>Headline Bot stats</b>"), "", t._("<b>Chats</b> (active / inactive)")]
    for kind in ChatKind:
        active, inactive = stats.chats.get(kind, (0, 0))
        name = t._(KIND_NAMES[kind]) if kind in KIND_NAMES else str(kind)
        lines.append(f"• {escape(name)}: {n(active)} / {n(inactive)}")
    lines.append(t._("Blocked or removed: {n}").format(n=n(stats.blocked_chats)))
    lines += ["", t._("<b>Subscriptions</b>: {n}").format(n=n(stats.subscriptions))]
    if stats.top_topics:
        top = ", ".join(f"{escape(topic)} ({n(count)})" for topic, count in stats.top_topics)
        lines.append(t._("Most followed: {topics}").format(topics=top))
    lines += [
        "",
        t._("<b>Headlines</b>: {stored} stored, {recent} added in 24 h").format(
            stored=n(stats.headlines), recent=n(stats.headlines_24h)
        ),
        "",
        t._("<b>Feeds</b> ({n})").format(n=n(len(stats.feeds))),
    ]
    for feed in stats.feeds:
        failures = feed.consecutive_failures
        state = "✅" if failures == 0 else "⚠️"
        line = f"{state} {escape(feed.url)}\n   " + t.ngettext(
            "last success {when}, {n} consecutive failure",
            "last success {when}, {n} consecutive failures",
            failures,
        ).format(when=when(feed.last_success_at), n=n(failures))
        if failures:
            line += t._(", next attempt {when}").format(when=when(feed.next_attempt_at))
        failure = stored_failure(feed)
        if failure is not None:
            line += "\n   " + t._("last error: {error}").format(
                error=escape(describe(failure, t)[:200])
            )
        lines.append(line)
    backlog = stats.backlog
    lines += [
        "",
        t._("<b>Delivery</b>"),
        t._("Outbox backlog: {total} (pushes: {pushes}, announcements: {broadcasts})").format(
            total=n(backlog.get("total", 0)),
            pushes=n(backlog.get("push", 0)),
            broadcasts=n(backlog.get("broadcast", 0)),
        ),
        t._("Messages sent in 24 h: {n}").format(n=n(stats.sent_24h)),
        t._("Chats blocked in 24 h: {n}").format(n=n(stats.blocked_24h)),
        t._("429 (flood control) answers in 24 h: {n}").format(n=n(stats.floods_24h)),
        t._("Pictures Telegram refused in 24 h (posted as text instead): {n}").format(
            n=n(stats.pictures_refused_24h)
        ),
    ]
    return "\n".join(lines)
