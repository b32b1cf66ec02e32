"""Running the feeds: add (the first read is the baseline), remove, pause, resume, OPML.

:class:`FeedAdmin` is what /feeds and ``python -m bot feeds`` call. A feed is only added
after it was fetched and read as a feed, so a refusal always says why (not a feed, an HTTP
status, a timeout, too large, a private address). Configured feeds (FEED_URLS) can be
paused but not removed: the next start would add them again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from bot.feeds import FeedFetcher, parse_feed
from bot.feeds.opml import OpmlError, OpmlFeed, read_opml, write_opml
from bot.formatting import escape, split_messages, truncate
from bot.text.i18n import N_, Translator, translator
from storage.sqlite.db import Database
from storage.sqlite.feeds import FeedHealth, FeedRecord, FeedRepo
from storage.sqlite.headlines import HeadlineRepo

log = logging.getLogger(__name__)

__all__ = [
    "MAX_NAME_CHARS",
    "AddResult",
    "ChangeResult",
    "FeedAdmin",
    "ImportReport",
    "address_refusal",
    "describe_reason",
    "render_added",
    "render_change",
    "render_feeds",
    "render_import",
]

MAX_NAME_CHARS = 64
MAX_URL_CHARS = 2048
Resolver = Callable[[str, int], Awaitable[list[str]]]


def address_refusal(address: str) -> str | None:
    """Why an IP address may not be fetched from (loopback, private ...), or None. Pure."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_unspecified or ip.is_reserved:
        return "reserved"
    if ip.is_private or not ip.is_global:
        return "private"
    return None


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
    reason: str | None = None  # why it was refused

    @property
    def added(self) -> bool:
        """Whether the feed was added now."""
        return self.outcome == "added"


@dataclass(frozen=True, slots=True)
class ChangeResult:
    """What a remove, pause or resume did; `feed` is the feed it named (None if none)."""

    outcome: Literal["done", "unchanged", "not found", "refused"]
    feed: FeedRecord | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an OPML import did, feed by feed."""

    added: list[AddResult] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    refused: list[AddResult] = field(default_factory=list)
    error: str | None = None  # the file itself was refused


class FeedAdmin:
    """The service behind /feeds and the feeds command line."""

    def __init__(
        self,
        db: Database,
        fetcher: FeedFetcher,
        *,
        configured: Sequence[str],
        allow_private: bool,
        clock: Callable[[], float] = time.time,
        resolve: Resolver = _resolve,
    ) -> None:
        self.db = db
        self.fetcher = fetcher
        self.configured = frozenset(configured)
        self.allow_private = allow_private
        self.clock = clock
        self.resolve = resolve
        self.feeds = FeedRepo(db)
        self.headlines = HeadlineRepo(db)

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

    async def check_url(self, url: str) -> str | None:
        """Why this URL may not be added (scheme, host, a private address), or None."""
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port
        except ValueError:
            return "not a valid URL"
        if parts.scheme.lower() not in ("http", "https"):
            return "only http:// and https:// feeds can be added"
        host = parts.hostname
        if not host:
            return "the URL has no host"
        if len(url) > MAX_URL_CHARS:
            return f"the URL is longer than {MAX_URL_CHARS} characters"
        if self.allow_private:
            return None
        try:
            addresses = [str(ipaddress.ip_address(host))]
        except ValueError:
            try:
                addresses = await self.resolve(host, port or 443)
            except (OSError, UnicodeError):
                return f"host not found: {host}"
        for address in addresses:
            kind = address_refusal(address)
            if kind is not None:
                return (
                    f"{host} is a {kind} address ({address}); feeds on private networks "
                    "are refused unless ALLOW_PRIVATE_FEEDS=true"
                )
        return None

    async def add(
        self, url: str, name: str | None = None, *, added_by: int | None = None
    ) -> AddResult:
        """Fetch the URL and, if it is a feed, add it with this read as its baseline."""
        url = url.strip()
        name = " ".join((name or "").split())[:MAX_NAME_CHARS] or None
        existing = await self.feeds.record(url)
        if existing is not None and existing.removed_at is None:
            return AddResult(url, "present", title=existing.label)
        refusal = await self.check_url(url)
        if refusal is not None:
            return AddResult(url, "refused", reason=refusal)
        result = await self.fetcher.fetch(url)
        if result.status != "ok":
            return AddResult(url, "refused", reason=result.error or "fetch failed")
        if result.final_url and result.final_url != url:
            refusal = await self.check_url(result.final_url)  # a redirect into a private net
            if refusal is not None:
                return AddResult(url, "refused", reason=f"redirected: {refusal}")
        now = self.clock()
        parsed = await asyncio.to_thread(
            parse_feed,
            result.body,
            url=result.final_url or url,
            fetched_at=now,
            content_type=result.content_type,
        )
        if parsed.error:
            return AddResult(url, "refused", reason=parsed.error)
        async with self.db.transaction() as conn:
            state = await self.feeds.add(conn, url, name=name, added_by=added_by, now=now)
            # the first read is the baseline: stored, never pushed
            await self.headlines.upsert(conn, state.id, parsed.entries, baseline=True, now=now)
            await self.feeds.record_success(
                conn,
                state.id,
                now=now,
                etag=result.etag,
                last_modified=result.last_modified,
                title=parsed.title,
            )
        log.info("feed %s added by %s: %d entries", url, added_by, len(parsed.entries))
        return AddResult(url, "added", title=name or parsed.title, entries=len(parsed.entries))

    async def remove(self, ref: str) -> ChangeResult:
        """Stop polling a feed for good (its headlines stay in the archive)."""
        feed = await self.find(ref)
        if feed is None:
            return ChangeResult("not found")
        if feed.url in self.configured:
            return ChangeResult(
                "refused",
                feed,
                "it is in FEED_URLS and would come back at the next start: pause it, "
                "or take it out of FEED_URLS",
            )
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

    async def import_opml(self, data: bytes, *, added_by: int | None = None) -> ImportReport:
        """Add every feed an OPML file lists, each checked and read as /feeds add does."""
        try:
            listed = read_opml(data)
        except OpmlError as exc:
            return ImportReport(error=str(exc))
        results = await asyncio.gather(
            *(self.add(feed.url, feed.title, added_by=added_by) for feed in listed)
        )
        report = ImportReport()
        for result in results:
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


# --- why a feed was refused, in the admin's language -------------------------------------
# The reasons are English where they are made (fetcher, parser, OPML reader, check_url): that
# is what the logs and `last_error` keep. Each pattern here names the message id that says
# the same in the catalogs; its named groups fill the placeholders. Groups named `reason` are
# reasons themselves (described again), `n` and `seconds` are numbers written the admin's
# way, `kind` is an address kind; every other group is kept as it came (a host, a URL, a
# message from a library). A reason no pattern knows is shown as it is.
_REASONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.DOTALL), message)
    for pattern, message in (
        # check_url and FeedAdmin
        (r"redirected: (?P<reason>.+)", N_("redirected: {reason}")),
        (r"not a valid URL", N_("not a valid URL")),
        (
            r"only http:// and https:// feeds can be added",
            N_("only http:// and https:// feeds can be added"),
        ),
        (r"the URL has no host", N_("the URL has no host")),
        (
            r"the URL is longer than (?P<n>\d+) characters",
            N_("the URL is longer than {n} characters"),
        ),
        (r"host not found: (?P<host>.+)", N_("host not found: {host}")),
        (
            r"(?P<host>\S+) is an? (?P<kind>[a-z -]+?) address \((?P<address>[^()]*)\); "
            r"feeds on private networks are refused unless ALLOW_PRIVATE_FEEDS=true",
            N_(
                "{host} is {kind} ({address}); feeds on private networks are refused "
                "unless ALLOW_PRIVATE_FEEDS=true"
            ),
        ),
        (r"fetch failed", N_("fetch failed")),
        (r"refused", N_("refused")),
        (
            r"it is in FEED_URLS and would come back at the next start: pause it, "
            r"or take it out of FEED_URLS",
            N_(
                "it is in FEED_URLS and would come back at the next start: pause it, "
                "or take it out of FEED_URLS"
            ),
        ),
        # the fetcher
        (r"unsupported URL scheme (?P<scheme>'.*')", N_("unsupported URL scheme {scheme}")),
        (r"timed out after (?P<seconds>[0-9.e+]+) s", N_("timed out after {seconds} s")),
        (
            r"connect timed out after (?P<seconds>[0-9.e+]+) s",
            N_("connect timed out after {seconds} s"),
        ),
        (r"HTTP (?P<status>\d{3})", N_("HTTP {status}")),
        (
            r"body larger than (?P<size>\d+ (?:MB|KB|bytes))",
            N_("body larger than {size}"),
        ),
        (r"file not found", N_("file not found")),
        (r"permission denied", N_("permission denied")),
        (r"is a directory", N_("is a directory")),
        (r"cannot read file: (?P<detail>.+)", N_("cannot read file: {detail}")),
        (r"invalid URL: (?P<detail>.+)", N_("invalid URL: {detail}")),
        (r"redirect loop", N_("redirect loop")),
        (r"too many redirects", N_("too many redirects")),
        (r"protocol error: (?P<detail>.+)", N_("protocol error: {detail}")),
        (r"bad content encoding", N_("bad content encoding")),
        (r"connection lost: (?P<detail>.+)", N_("connection lost: {detail}")),
        (r"connection refused", N_("connection refused")),
        (r"host not found", N_("host not found")),
        (r"TLS error: (?P<detail>.+)", N_("TLS error: {detail}")),
        (r"connection failed: (?P<detail>.+)", N_("connection failed: {detail}")),
        # the parser
        (
            r"not a feed: XML entities expand beyond the safe limit",
            N_("not a feed: XML entities expand beyond the safe limit"),
        ),
        (r"not a feed: empty document", N_("not a feed: empty document")),
        (r"not a feed: no feed found", N_("not a feed: no feed found")),
        (r"not a feed: unrecognised document", N_("not a feed: unrecognised document")),
        (r"not a feed: (?P<detail>.+)", N_("not a feed: {detail}")),
        # the poller (a stored last_error)
        (r"internal error: (?P<detail>.+)", N_("internal error: {detail}")),
        # the OPML reader
        (r"larger than (?P<n>\d+) MB", N_("larger than {n} MB")),
        (
            r"declares XML entities, which an OPML file never needs",
            N_("declares XML entities, which an OPML file never needs"),
        ),
        (r"not XML \((?P<detail>.*)\)", N_("not XML ({detail})")),
        (
            r"not OPML \(the root element is (?P<element><.*>)\)",
            N_("not OPML (the root element is {element})"),
        ),
        (r"not OPML \(no (?P<element><body>)\)", N_("not OPML (no {element})")),
        (r"more than (?P<n>\d+) feeds", N_("more than {n} feeds")),
    )
)
_ADDRESS_KINDS = {
    "loopback": N_("a loopback address"),
    "link-local": N_("a link-local address"),
    "multicast": N_("a multicast address"),
    "reserved": N_("a reserved address"),
    "private": N_("a private address"),
}


def describe_reason(reason: str, t: Translator) -> str:
    """A refusal or fetch error said in the translator's language (plain text, not HTML);
    a reason no pattern knows comes back as it is. Pure."""
    for pattern, message in _REASONS:
        match = pattern.fullmatch(reason)
        if match is None:
            continue
        values: dict[str, str] = {}
        for name, value in match.groupdict().items():
            if name == "reason":
                value = describe_reason(value, t)
            elif name in ("n", "seconds"):
                try:
                    value = t.format_number(float(value))
                except ValueError:  # "1.2.3 s": no number, so no message of ours
                    return reason
            elif name == "kind":
                if value not in _ADDRESS_KINDS:
                    return reason  # a kind with no words yet: the English is still exact
                value = t._(_ADDRESS_KINDS[value])
            values[name] = value
        return t._(message).format(**values)
    return reason


# --- what /feeds says (pure: values in, Telegram HTML out, in the admin's language) ---------


def _status(feed: FeedRecord, *, t: Translator, tz: str) -> str:
    state = feed.state
    if feed.paused:
        return t._("⏸ paused")
    if state.consecutive_failures and state.failing_since is not None:
        since = t.format_datetime(state.failing_since, tz)
        error = state.last_error
        why = escape(truncate(describe_reason(error, t) if error else t._("unknown error"), 120))
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
        blocks.append(
            f"{number}. <b>{name}</b>{tags}\n{_status(feed, t=t, tz=tz)}\n{recent}{own}\n"
            f"<code>{escape(truncate(feed.url, 200))}</code>"
        )
    footer = hints and t._(
        "<code>/feeds add URL [name]</code> · <code>/feeds remove|pause|resume N</code> · "
        "<code>/feeds export</code> · send an OPML file captioned <code>/feeds import</code>"
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
        reason = escape(describe_reason(result.reason or "refused", t))
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
        reason = escape(describe_reason(result.reason or "refused", t))
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


def render_import(report: ImportReport, t: Translator | None = None) -> list[str]:
    """The answer to /feeds import: counts, then each refusal with its reason."""
    t = t or translator(None)
    n = t.format_number
    if report.error is not None:
        error = escape(describe_reason(report.error, t))
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
        + escape(describe_reason(r.reason or "refused", t))
        for r in report.refused
    ]
    return split_messages(blocks, header=head)
