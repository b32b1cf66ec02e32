"""Running the feeds: add (the first read is the baseline), remove, pause, resume, OPML,
and a feed's handle (`from:HANDLE` in topics and searches).

:class:`FeedAdmin` is what /feeds and ``python -m bot feeds`` call. A feed is only added
after it was fetched and read as a feed, so a refusal always says why (not a feed, an HTTP
status, a timeout, too large, a private address). Configured feeds (FEED_URLS) can be
paused but not removed: the next start would add them again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from bot.feeds import FeedFetcher, FetchResult, ParsedFeed, parse_feed
from bot.feeds.failures import FeedFailure, Reason, address_refusal, describe, stored_failure
from bot.feeds.opml import OpmlError, OpmlFeed, read_opml, write_opml
from bot.feeds.reads import store_read
from bot.formatting import escape, split_messages, truncate
from bot.text.handles import MAX_HANDLE_CHARS, is_handle
from bot.text.i18n import N_, Translator, translator
from bot.text.query import SOURCE_PREFIX
from storage import Storage
from storage.models import FeedHealth, FeedRecord

log = logging.getLogger(__name__)

__all__ = [
    "MAX_NAME_CHARS",
    "AddResult",
    "ChangeResult",
    "FeedAdmin",
    "HandleResult",
    "ImportReport",
    "address_refusal",
    "render_added",
    "render_change",
    "render_feeds",
    "render_handle",
    "render_import",
]

MAX_NAME_CHARS = 64
MAX_URL_CHARS = 2048
Resolver = Callable[[str, int], Awaitable[list[str]]]


async def _resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


@dataclass(frozen=True, slots=True)
class AddResult:
    """What /feeds add did: added (with the feed's title and entries), present, or refused."""

    url: str
    outcome: Literal["added", "present", "refused"]
    title: str | None = None
    entries: int = 0
    failure: FeedFailure | None = None  # why it was refused
    redirected: bool = False  # refused at the address a redirect led to

    @property
    def added(self) -> bool:
        """Whether the feed was added now."""
        return self.outcome == "added"


@dataclass(frozen=True, slots=True)
class ChangeResult:
    """What a remove, pause or resume did; `feed` is the feed it named (None if none)."""

    outcome: Literal["done", "unchanged", "not found", "refused"]
    feed: FeedRecord | None = None
    failure: FeedFailure | None = None  # why it was refused


@dataclass(frozen=True, slots=True)
class HandleResult:
    """What /feeds handle did: the feed it named, its handle before and the one asked for."""

    outcome: Literal["done", "unchanged", "not found", "invalid", "taken"]
    feed: FeedRecord | None = None
    handle: str = ""  # the handle asked for (lower-cased, without `from:`)


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an OPML import did, feed by feed."""

    added: list[AddResult] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    refused: list[AddResult] = field(default_factory=list)
    error: FeedFailure | None = None  # the file itself was refused


@dataclass(frozen=True, slots=True)
class _Read:
    """A feed checked, fetched and parsed, ready to be added with this read as its baseline."""

    url: str
    name: str | None
    fetched: FetchResult
    parsed: ParsedFeed
    now: float


class FeedAdmin:
    """The service behind /feeds and the feeds command line."""

    def __init__(
        self,
        storage: Storage,
        fetcher: FeedFetcher,
        *,
        configured: Sequence[str],
        allow_private: bool,
        clock: Callable[[], float] = time.time,
        resolve: Resolver = _resolve,
        default_language: str = "en",
    ) -> None:
        self.store = storage.store
        self.fetcher = fetcher
        self.configured = frozenset(configured)
        self.allow_private = allow_private
        self.clock = clock
        self.resolve = resolve
        self.default_language = default_language  # for feeds that declare no language
        self.feeds = storage.feeds
        self.headlines = storage.headlines

    async def health(self, *, window: float = 86400.0) -> list[FeedHealth]:
        """Every feed with its status and output over the last `window` seconds, in /feeds
        order (the numbers /feeds remove N and the others take)."""
        return await self.feeds.health(since=self.clock() - window)

    async def find(self, ref: str) -> FeedRecord | None:
        """The feed a reference names: its number in the /feeds list, or its URL."""
        ref = ref.strip()
        records = await self.feeds.records()
        if ref.isascii() and ref.isdigit():
            number = int(ref[:6])
            return records[number - 1] if 1 <= number <= len(records) else None
        return next((r for r in records if r.url == ref), None)

    async def check_url(self, url: str) -> FeedFailure | None:
        """Why this URL may not be added (scheme, host, a private address), or None."""
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port
        except ValueError:
            return FeedFailure(Reason.BAD_URL)
        if parts.scheme.lower() not in ("http", "https"):
            return FeedFailure(Reason.SCHEME_REFUSED)
        host = parts.hostname
        if not host:
            return FeedFailure(Reason.NO_HOST)
        if len(url) > MAX_URL_CHARS:
            return FeedFailure(Reason.URL_TOO_LONG, str(MAX_URL_CHARS))
        if self.allow_private:
            return None
        try:
            addresses = [str(ipaddress.ip_address(host))]
        except ValueError:
            try:
                addresses = await self.resolve(host, port or 443)
            except (OSError, UnicodeError):
                return FeedFailure(Reason.DNS, host)
        for address in addresses:
            if address_refusal(address) is not None:
                return FeedFailure(Reason.PRIVATE_ADDRESS, address, host=host)
        return None

    async def add(
        self, url: str, name: str | None = None, *, added_by: int | None = None
    ) -> AddResult:
        """Fetch the URL and, if it is a feed, add it with this read as its baseline."""
        read = await self._read(url, name)
        return read if isinstance(read, AddResult) else await self._store(read, added_by)

    async def _read(self, url: str, name: str | None) -> AddResult | _Read:
        """Check, fetch and parse a feed to add; an AddResult when there is nothing to add."""
        url = url.strip()
        name = " ".join((name or "").split())[:MAX_NAME_CHARS] or None
        existing = await self.feeds.record(url)
        if existing is not None and existing.removed_at is None:
            return AddResult(url, "present", title=existing.label)
        refusal = await self.check_url(url)
        if refusal is not None:
            return AddResult(url, "refused", failure=refusal)
        result = await self.fetcher.fetch(url)
        if result.status != "ok":
            failure = result.failure or FeedFailure(Reason.FETCH_FAILED)
            return AddResult(url, "refused", failure=failure)
        if result.final_url and result.final_url != url:
            refusal = await self.check_url(result.final_url)  # a redirect into a private net
            if refusal is not None:
                return AddResult(url, "refused", failure=refusal, redirected=True)
        now = self.clock()
        parsed = await asyncio.to_thread(
            parse_feed,
            result.body,
            url=result.final_url or url,
            fetched_at=now,
            content_type=result.content_type,
        )
        if parsed.failure is not None:
            return AddResult(url, "refused", failure=parsed.failure)
        return _Read(url, name, result, parsed, now)

    async def _store(self, read: _Read, added_by: int | None) -> AddResult:
        """Add the feed with its first read, the baseline: stored, never pushed."""
        async with self.store.transaction() as tx:
            state = await self.feeds.add(
                tx, read.url, name=read.name, added_by=added_by, now=read.now
            )
            await store_read(
                tx,
                self.feeds,
                self.headlines,
                state.id,
                read.fetched,
                read.parsed,
                baseline=True,
                default_language=self.default_language,
                now=read.now,
            )
        entries = len(read.parsed.entries)
        log.info("feed %s added by %s: %d entries", read.url, added_by, entries)
        return AddResult(read.url, "added", title=read.name or read.parsed.title, entries=entries)

    async def remove(self, ref: str) -> ChangeResult:
        """Stop polling a feed for good (its headlines stay in the archive)."""
        feed = await self.find(ref)
        if feed is None:
            return ChangeResult("not found")
        if feed.url in self.configured:
            return ChangeResult("refused", feed, FeedFailure(Reason.CONFIGURED))
        done = await self.feeds.remove(feed.id, now=self.clock())
        log.info("feed %s removed", feed.url)
        return ChangeResult("done" if done else "unchanged", feed)

    async def pause(self, ref: str) -> ChangeResult:
        """Stop fetching a feed until it is resumed."""
        return await self._set_paused(ref, True)

    async def resume(self, ref: str) -> ChangeResult:
        """Fetch a paused feed again from the next round."""
        return await self._set_paused(ref, False)

    async def _set_paused(self, ref: str, paused: bool) -> ChangeResult:
        feed = await self.find(ref)
        if feed is None:
            return ChangeResult("not found")
        done = await self.feeds.set_paused(feed.id, paused)
        log.info("feed %s %s", feed.url, "paused" if paused else "resumed")
        return ChangeResult("done" if done else "unchanged", feed)

    async def set_handle(self, ref: str, handle: str) -> HandleResult:
        """Rename a feed's handle. Topics hold the feed by id, so those that name it keep
        following it and are shown with the new handle; the old one names no feed after."""
        feed = await self.find(ref)
        wanted = handle.strip().lower()
        if wanted.startswith(SOURCE_PREFIX):
            wanted = wanted[len(SOURCE_PREFIX) :]
        if feed is None:
            return HandleResult("not found", handle=wanted)
        if not is_handle(wanted):
            return HandleResult("invalid", feed, wanted)
        if wanted == feed.handle:
            return HandleResult("unchanged", feed, wanted)
        if not await self.feeds.set_handle(feed.id, wanted):
            return HandleResult("taken", feed, wanted)
        log.info("feed %s: handle %s -> %s", feed.url, feed.handle, wanted)
        return HandleResult("done", feed, wanted)

    async def import_opml(self, data: bytes, *, added_by: int | None = None) -> ImportReport:
        """Add every feed an OPML file lists, each checked and read as /feeds add does."""
        try:
            listed = read_opml(data)
        except OpmlError as exc:
            return ImportReport(error=exc.failure)
        # fetched at once, stored in the file's order: the feeds keep its numbering
        reads = await asyncio.gather(*(self._read(feed.url, feed.title) for feed in listed))
        report = ImportReport()
        for read in reads:
            result = read if isinstance(read, AddResult) else await self._store(read, added_by)
            if result.outcome == "added":
                report.added.append(result)
            elif result.outcome == "present":
                report.present.append(result.url)
            else:
                report.refused.append(result)
        return report

    async def export_opml(self) -> bytes:
        """Every feed (paused ones too) as an OPML 2.0 document."""
        feeds = [OpmlFeed(url=r.url, title=r.label) for r in await self.feeds.records()]
        return write_opml(feeds, title="headline-bot feeds", created=self.clock())


# --- what /feeds says (pure: values in, Telegram HTML out, in the admin's language) ---------


def _refusal(failure: FeedFailure | None, t: Translator, *, redirected: bool = False) -> str:
    """Why something was refused, in the admin's language (plain text)."""
    said = describe(failure, t) if failure is not None else t._("refused")
    return t._("redirected: {reason}").format(reason=said) if redirected else said


def _status(feed: FeedRecord, *, t: Translator, tz: str) -> str:
    state = feed.state
    if feed.paused:
        return t._("⏸ paused")
    if state.consecutive_failures and state.failing_since is not None:
        since = t.format_datetime(state.failing_since, tz)
        failure = stored_failure(state)
        why = escape(truncate(describe(failure, t) if failure else t._("unknown error"), 120))
        return t._("⚠️ failing since {since}: {error}").format(since=since, error=why)
    if state.last_success_at is None:
        return t._("⏳ not read yet")
    return t._("✅ OK")


def render_feeds(
    health: Sequence[FeedHealth],
    *,
    configured: frozenset[str],
    now: float,
    hints: bool = True,
    t: Translator | None = None,
    tz: str = "UTC",
) -> list[str]:
    """/feeds: every feed, numbered, with its status, newest headline and last 24 hours
    (and, with `hints`, the commands that change them)."""
    t = t or translator(None)
    if not health:
        return [t._("No feeds yet. Add one: <code>/feeds add https://example.org/feed.xml</code>")]
    blocks = []
    for number, item in enumerate(health, start=1):
        feed = item.feed
        name = escape(truncate(feed.label, 80))
        tags = " · " + t._("configured") if feed.url in configured else ""
        last = t.format_datetime(item.last_new_at, tz) if item.last_new_at else t._("none yet")
        own = ""
        if feed.interval_seconds:
            minutes = round(feed.interval_seconds / 60)
            own = " · " + t.ngettext(
                "every {n} minute (the feed asks)", "every {n} minutes (the feed asks)", minutes
            ).format(n=t.format_number(minutes))
        recent = t._("Last new headline: {when} · {n} in 24 h").format(
            when=last, n=t.format_number(item.new_recent)
        )
        lines = [f"{number}. <b>{name}</b>{tags}", _status(feed, t=t, tz=tz), recent + own]
        if feed.handle:
            lines.append(f"🏷 <code>{escape(SOURCE_PREFIX + feed.handle)}</code>")
        lines.append(f"<code>{escape(truncate(feed.url, 200))}</code>")
        blocks.append("\n".join(lines))
    footer = hints and t._(
        "<code>/feeds add URL [name]</code> · <code>/feeds remove|pause|resume N</code> · "
        "<code>/feeds handle N new-name</code> · <code>/feeds export</code> · "
        "send an OPML file captioned <code>/feeds import</code>"
    )
    header = t._("📡 <b>Feeds</b> ({n})").format(n=t.format_number(len(health)))
    return split_messages(blocks, header=header, footer=footer or "")


def render_added(result: AddResult, t: Translator | None = None) -> str:
    """The answer to /feeds add."""
    t = t or translator(None)
    url = escape(truncate(result.url, 200))
    if result.outcome == "present":
        title = escape(result.title or result.url)
        return t._("Already there: <b>{title}</b>").format(title=title) + f"\n<code>{url}</code>"
    if result.outcome == "refused":
        reason = escape(_refusal(result.failure, t, redirected=result.redirected))
        return t._("❌ Not added: {reason}").format(reason=reason) + f"\n<code>{url}</code>"
    title = escape(truncate(result.title or t._("(untitled feed)"), 120))
    added = t.ngettext(
        "✅ Added <b>{title}</b>: {n} entry, stored as the baseline (not pushed). "
        "New ones are pushed from the next poll.",
        "✅ Added <b>{title}</b>: {n} entries, stored as the baseline (not pushed). "
        "New ones are pushed from the next poll.",
        result.entries,
    )
    return added.format(title=title, n=t.format_number(result.entries)) + f"\n<code>{url}</code>"


def render_change(
    result: ChangeResult,
    action: Literal["remove", "pause", "resume"],
    t: Translator | None = None,
) -> str:
    """The answer to /feeds remove, pause or resume."""
    t = t or translator(None)
    if result.feed is None:
        return t._("No such feed: give its number in /feeds or its URL.")
    name = escape(truncate(result.feed.label, 80))
    if result.outcome == "refused":
        reason = escape(_refusal(result.failure, t))
        return t._("❌ <b>{name}</b> was not removed: {reason}.").format(name=name, reason=reason)
    if result.outcome == "unchanged":
        already = {
            "remove": N_("<b>{name}</b> is already removed."),
            "pause": N_("<b>{name}</b> is already paused."),
            "resume": N_("<b>{name}</b> is already running."),
        }[action]
        return t._(already).format(name=name)
    done = {
        "remove": N_("Removed <b>{name}</b>. Its headlines stay in the archive."),
        "pause": N_("Paused <b>{name}</b>."),
        "resume": N_("Resumed <b>{name}</b>."),
    }[action]
    return t._(done).format(name=name)


def render_handle(result: HandleResult, t: Translator | None = None) -> str:
    """The answer to /feeds handle."""
    t = t or translator(None)
    if result.feed is None:
        return t._("No such feed: give its number in /feeds or its URL.")
    name = escape(truncate(result.feed.label, 80))
    new = f"<code>{escape(SOURCE_PREFIX + truncate(result.handle, 40))}</code>"
    if result.outcome == "invalid":
        return t._(
            "❌ {handle} is not a handle: lowercase letters, digits and “-”, at most {max} "
            "characters, starting and ending with a letter or digit."
        ).format(handle=new, max=MAX_HANDLE_CHARS)
    if result.outcome == "taken":
        return t._("❌ Another feed has the handle {handle}.").format(handle=new)
    if result.outcome == "unchanged":
        return t._("<b>{name}</b> has the handle {handle} already.").format(name=name, handle=new)
    old = f"<code>{escape(SOURCE_PREFIX + result.feed.handle)}</code>"
    return t._(
        "✅ <b>{name}</b> is now {handle} (it was {old}). Topics that name it follow it still."
    ).format(name=name, handle=new, old=old)


def render_import(report: ImportReport, t: Translator | None = None) -> list[str]:
    """The answer to /feeds import: counts, then each refusal with its reason."""
    t = t or translator(None)
    n = t.format_number
    if report.error is not None:
        error = escape(describe(report.error, t))
        return [t._("❌ That file was not imported: {error}.").format(error=error)]
    head = t._(
        "📥 <b>OPML import</b>: {added} added, {present} already present, {refused} refused."
    ).format(
        added=n(len(report.added)), present=n(len(report.present)), refused=n(len(report.refused))
    )
    blocks = [
        "✅ "
        + t.ngettext("{name} ({n} entry)", "{name} ({n} entries)", r.entries).format(
            name=escape(truncate(r.title or r.url, 80)), n=n(r.entries)
        )
        for r in report.added
    ]
    blocks += [
        f"❌ <code>{escape(truncate(r.url, 200))}</code>: "
        + escape(_refusal(r.failure, t, redirected=r.redirected))
        for r in report.refused
    ]
    return split_messages(blocks, header=head)
