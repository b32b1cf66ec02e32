"""Fetch feeds with conditional GET (httpx) and turn feed bytes into headlines (feedparser).

:func:`parse_feed` is pure CPU work with no I/O: callers run it with ``asyncio.to_thread``.
:class:`FeedFetcher` does the network and file I/O and never raises for network or HTTP
problems: every failure comes back as a short readable ``FetchResult.error``.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import email.utils
import hashlib
import io
import math
import os
import re
import time
import unicodedata
import urllib.parse
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal

import feedparser
import httpx

from storage.models import HeadlineInput

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_TIMEOUT",
    "MAX_CATEGORIES",
    "MAX_ENTITY_EXPANSION",
    "MAX_SUMMARY_CHARS",
    "MAX_TITLE_CHARS",
    "USER_AGENT",
    "FeedFetcher",
    "FetchResult",
    "ParsedFeed",
    "clean_text",
    "feedparser_result",
    "first_sentence",
    "normalise",
    "parse_feed",
]

USER_AGENT = "headline-bot/0.1 (+https://github.com/)"
DEFAULT_TIMEOUT = 20.0
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_REDIRECTS = 5
MAX_SUMMARY_CHARS = 2000
MAX_TITLE_CHARS = 120  # a title made from a summary's first sentence
MAX_STORED_TITLE_CHARS = 300
MAX_KEY_CHARS = 512  # longer ids are stored as their hash
MAX_CATEGORIES = 20
MAX_CATEGORY_CHARS = 100
# Upper bound on the characters that entity references in one document may expand to.
# Real feeds declare a handful of short entities; a "billion laughs" or a quadratic blow-up
# declares big or nested ones. feedparser's fallback (loose) parser expands the entities it
# keeps without any limit, so the bound is checked before feedparser sees the bytes.
MAX_ENTITY_EXPANSION = 1_000_000

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)

# ---------------------------------------------------------------------------------------
# Parsing (pure)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """What one feed document holds: its title and normalised entries.

    ``error`` is set when the document is not a feed (zero entries and feedparser found it
    malformed or unrecognisable). A malformed feed that still yields entries is ingested:
    ``bozo`` is True and ``error`` is None.
    """

    title: str | None
    entries: tuple[HeadlineInput, ...]
    bozo: bool
    error: str | None


_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
        "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header",
        "hr", "img", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody",
        "td", "tfoot", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
_SKIP_TAGS = frozenset({"script", "style", "template", "noscript", "head", "title"})
_TAG_RE = re.compile(r"<[a-zA-Z/][^>]*>")


class _TextExtractor(HTMLParser):
    """Collects the text of an HTML fragment; block elements become spaces."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


def _strip_html_once(text: str) -> str:
    extractor = _TextExtractor()
    extractor.feed(text)
    extractor.close()
    return "".join(extractor.parts)


def _collapse(text: str) -> str:
    # Control characters (a stray 0x08 in a title) would break Telegram messages; drop them
    # along with the whitespace runs that str.split() folds (including NBSP).
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        text = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)
    return " ".join(text.split())


def clean_text(value: str | None) -> str:
    """Plain text from HTML or text: tags stripped, entities decoded, spaces collapsed."""
    if not value:
        return ""
    if "<" not in value and "&" not in value:
        return _collapse(value)
    text = _strip_html_once(value)
    # Publishers often escape their markup twice ("&amp;lt;b&amp;gt;"): one decoding leaves
    # literal tags behind, so strip again while tags remain.
    for _ in range(2):
        if not _TAG_RE.search(text):
            break
        text = _strip_html_once(text)
    if _TAG_RE.search(text):
        text = _TAG_RE.sub(" ", text)
    return _collapse(text)


def _truncate(text: str, limit: int) -> str:
    """Cut to at most ``limit`` characters on a word boundary, marking the cut with "…"."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-–—") + "…"


# A sentence ends at . ! ? or … (optionally closed by a quote or bracket) followed by space
# and an upper-case letter, digit or opening quote.
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*\s+(?=[A-Z0-9\"“‘'(¿¡À-Ý])")
_ABBREVIATION = re.compile(
    r"(?:\b[A-Z]|\b(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|Gen|Sen|Rep|Gov|Col|Lt|Mt|No|vs|etc|Inc|"
    r"Ltd|Co|Corp|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|approx|e\.g|i\.e))\.$"
)


def first_sentence(text: str, limit: int = MAX_TITLE_CHARS) -> str:
    """The first sentence of plain text, cut to ``limit`` characters on a word boundary."""
    for match in _SENTENCE_END.finditer(text):
        head = text[: match.start() + 1]
        if _ABBREVIATION.search(head):
            continue
        text = text[: match.end()].rstrip()
        break
    return _truncate(text, limit)


# The head of a declaration: "<!ENTITY", an optional "%", the name and the space after it.
# No part can run into the next, so matching is linear.
_ENTITY_HEAD_RE = re.compile(r"<!ENTITY\s+(%\s+)?([^\s\"'>%&;]+)\s+")
_FIRST_ELEMENT_RE = re.compile(r"<\w")
_ENTITY_REF_RE = re.compile(r"[&%]([^\s&%;<>\"'#]{1,200});")
_ENTITY_MARK = "<!ENTITY"


def _entity_declarations(text: str) -> dict[str, str] | None:
    """Entity names (with their "&" or "%") mapped to their replacement text.

    External entities map to "" (they are never fetched). None means a declaration in the
    prolog could not be read, which is refused rather than guessed at. Declarations after
    the first element have no effect on either of feedparser's parsers; the scan stops at
    the first one it cannot read. Each character is looked at a bounded number of times.
    """
    first_element = _FIRST_ELEMENT_RE.search(text)
    prolog_end = first_element.start() if first_element else len(text)
    values: dict[str, str] = {}
    pos = text.find(_ENTITY_MARK)
    while pos != -1:
        head = _ENTITY_HEAD_RE.match(text, pos)
        end = -1
        value = ""
        if head is not None:
            start = head.end()
            quote = text[start : start + 1]
            if quote in ('"', "'"):
                close = text.find(quote, start + 1)
                if close != -1:
                    value = text[start + 1 : close]
                    end = close + 1
            elif text.startswith(("SYSTEM", "PUBLIC"), start):
                close = text.find(">", start)
                end = close + 1 if close != -1 else -1
        if head is None or end == -1:
            return None if pos < prolog_end else values
        prefix = "%" if head.group(1) else "&"
        values.setdefault(prefix + head.group(2), value)
        if len(values) > 10_000:
            return None
        pos = text.find(_ENTITY_MARK, end)
    return values


def _entity_expansion(data: bytes) -> int:
    """An upper bound on how many characters entity references in ``data`` expand to.

    Works on the text in whatever encoding the declarations are visible in (feedparser
    re-encodes UTF-16/32 and EBCDIC documents to UTF-8 before parsing, so searching the raw
    bytes only for ASCII would miss those).
    """
    text: str | None = None
    for encoding in ("latin-1", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be", "cp037"):
        if _ENTITY_MARK.encode(encoding) in data:
            text = data.decode(encoding, errors="replace")
            break
    if text is None:
        return 0
    values = _entity_declarations(text)
    if values is None:
        return MAX_ENTITY_EXPANSION + 1
    if not values:
        return 0

    sizes: dict[str, float] = {}

    def size(name: str, stack: frozenset[str]) -> float:
        if name in sizes:
            return sizes[name]
        if name in stack or len(stack) > 32:  # a cycle expands forever; deep chains are refused
            return math.inf
        value = values[name]
        total: float = 0.0
        end = 0
        for ref in _ENTITY_REF_RE.finditer(value):
            total += ref.start() - end
            end = ref.end()
            ref_name = ref.group(0)[0] + ref.group(1)
            total += size(ref_name, stack | {name}) if ref_name in values else len(ref.group(0))
            if total > MAX_ENTITY_EXPANSION:
                break
        total += len(value) - end
        sizes[name] = total
        return total

    refs = Counter(m.group(0)[0] + m.group(1) for m in _ENTITY_REF_RE.finditer(text))
    expansion: float = 0.0
    for name, count in refs.items():
        if name in values:
            expansion += count * size(name, frozenset())
            if expansion > MAX_ENTITY_EXPANSION:
                return MAX_ENTITY_EXPANSION + 1
    return int(expansion)


def _describe_bozo(exc: object) -> str:
    if exc is None:
        return "unrecognised document"
    message = str(exc).strip() or type(exc).__name__
    # SAX messages start with "<unknown>:LINE:COL:"; keep the position, drop the file.
    message = re.sub(r"^<unknown>:(\d+):(\d+):\s*", r"line \1: ", message)
    return _truncate(_collapse(message), 120)


def _absolute_link(value: str | None, base: str) -> str | None:
    if not value:
        return None
    value = value.strip()
    try:
        link = urllib.parse.urljoin(base, value) if base else value
        parts = urllib.parse.urlsplit(link)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return link


def _entry_link(entry: Mapping[str, Any], base: str) -> str | None:
    candidates: list[str | None] = [entry.get("link")]
    for link in entry.get("links") or ():
        if isinstance(link, Mapping) and link.get("rel", "alternate") == "alternate":
            candidates.append(link.get("href"))
    for candidate in candidates:
        link = _absolute_link(candidate if isinstance(candidate, str) else None, base)
        if link:
            return link
    return None


def _entry_summary(entry: Mapping[str, Any]) -> str:
    summary = entry.get("summary")
    text = clean_text(summary) if isinstance(summary, str) else ""
    if not text:
        for content in entry.get("content") or ():
            value = content.get("value") if isinstance(content, Mapping) else None
            if isinstance(value, str):
                text = clean_text(value)
                if text:
                    break
    return _truncate(text, MAX_SUMMARY_CHARS)


def _entry_categories(entry: Mapping[str, Any]) -> tuple[str, ...]:
    seen: set[str] = set()
    categories: list[str] = []
    for tag in entry.get("tags") or ():
        if not isinstance(tag, Mapping):
            continue
        raw = tag.get("term") or tag.get("label")
        term = _truncate(clean_text(raw), MAX_CATEGORY_CHARS) if isinstance(raw, str) else ""
        if term and term.casefold() not in seen:
            seen.add(term.casefold())
            categories.append(term)
            if len(categories) >= MAX_CATEGORIES:
                break
    return tuple(categories)


def _entry_time(entry: Mapping[str, Any], fetched_at: float) -> float:
    for field in ("published_parsed", "updated_parsed", "created_parsed"):
        # dict.get reads the stored value: FeedParserDict.get maps a missing updated_parsed
        # to published_parsed with a DeprecationWarning.
        parsed = dict.get(entry, field) if isinstance(entry, dict) else entry.get(field)
        if not parsed:
            continue
        try:
            stamp = float(calendar.timegm(parsed))
        except (TypeError, ValueError, OverflowError):
            continue
        if not math.isfinite(stamp) or stamp < 0:
            continue
        return min(stamp, fetched_at)
    return fetched_at


def _sha1_key(*parts: str) -> str:
    return "sha1:" + hashlib.sha1("\n".join(parts).encode("utf-8")).hexdigest()  # noqa: S324


@dataclass(slots=True)
class _Draft:
    key: str
    title: str
    link: str | None
    summary: str
    categories: tuple[str, ...]
    published_at: float


def _unique_keys(drafts: list[_Draft]) -> list[_Draft]:
    """Drops repeated entries and gives distinct entries that share a key their own key.

    Feeds that reuse one guid for every item would otherwise collapse into one headline.
    The last entry carrying a key keeps it (feeds list newest first, so the oldest keeps the
    key when an item with a reused guid is added at the top) and the others get a suffix
    derived from their own content, so keys stay stable from one poll to the next.
    """
    by_key: dict[str, list[int]] = {}
    for index, draft in enumerate(drafts):
        by_key.setdefault(draft.key, []).append(index)
    keep: list[_Draft] = []
    dropped: set[int] = set()
    for indices in by_key.values():
        if len(indices) < 2:
            continue
        seen: set[tuple[str, str | None, str]] = set()
        for index in reversed(indices):
            draft = drafts[index]
            identity = (draft.title, draft.link, draft.summary)
            if identity in seen:
                dropped.add(index)
            seen.add(identity)
        survivors = [i for i in indices if i not in dropped]
        # The suffix comes from the link (or title) so that an edited summary keeps the key;
        # only entries that also share that fall back to including the summary.
        short = Counter(drafts[i].link or drafts[i].title for i in survivors[:-1])
        for index in survivors[:-1]:
            draft = drafts[index]
            basis = draft.link or draft.title
            parts = (basis,) if short[basis] == 1 else (basis, draft.title, draft.summary)
            draft.key = f"{draft.key}#{_sha1_key(*parts)[5:17]}"
    taken: set[str] = set()
    for index, draft in enumerate(drafts):
        if index in dropped or draft.key in taken:
            continue
        taken.add(draft.key)
        keep.append(draft)
    return keep


def parse_feed(
    data: bytes, *, url: str, fetched_at: float, content_type: str | None = None
) -> ParsedFeed:
    """Parse feed bytes into normalised headlines; never fetches anything."""
    if _entity_expansion(data) > MAX_ENTITY_EXPANSION:
        return ParsedFeed(
            title=None,
            entries=(),
            bozo=True,
            error="not a feed: XML entities expand beyond the safe limit",
        )
    result = feedparser_result(data, url=url, content_type=content_type)
    return normalise(result, url=url, fetched_at=fetched_at)


def feedparser_result(data: bytes, *, url: str, content_type: str | None = None) -> Any:
    """feedparser's own result for ``data``, with the headers it would have on the web.

    This skips the entity-expansion check: untrusted bytes go through :func:`parse_feed`.
    """
    # feedparser reads its argument as a URL or a file name when given a str or bytes that
    # look like one; a stream is always read as the document itself. Without a Content-Type
    # feedparser flags any document given response headers as bozo, so a missing type is
    # treated as generic XML (the encoding then comes from the BOM or the XML declaration).
    headers = {"content-location": url, "content-type": content_type or "application/xml"}
    return feedparser.parse(io.BytesIO(data), response_headers=headers)


def normalise(result: Any, *, url: str, fetched_at: float) -> ParsedFeed:
    """Turn a feedparser result into a :class:`ParsedFeed` of normalised entries."""
    bozo = bool(result.get("bozo"))
    feed_info = result.get("feed") or {}
    title = clean_text(feed_info.get("title")) or None
    raw_entries = result.get("entries") or []

    drafts: list[_Draft] = []
    for entry in raw_entries:
        draft = _normalise(entry, url, fetched_at)
        if draft is not None:
            drafts.append(draft)
    entries = tuple(
        HeadlineInput(
            key=d.key,
            title=d.title,
            link=d.link,
            summary=d.summary,
            categories=d.categories,
            published_at=d.published_at,
        )
        for d in _unique_keys(drafts)
    )

    error: str | None = None
    if not raw_entries:
        if bozo:
            error = "not a feed: " + _describe_bozo(result.get("bozo_exception"))
        elif "encoding" not in result:  # feedparser stops before decoding empty input
            error = "not a feed: empty document"
        elif not result.get("version"):
            error = "not a feed: no feed found"
    return ParsedFeed(title=title, entries=entries, bozo=bozo, error=error)


def _normalise(entry: Mapping[str, Any], url: str, fetched_at: float) -> _Draft | None:
    raw_title = entry.get("title")
    title = clean_text(raw_title) if isinstance(raw_title, str) else ""
    summary = _entry_summary(entry)
    link = _entry_link(entry, url)
    raw_link = entry.get("link")
    if not title and not summary and not link:
        return None
    if not title:
        title = first_sentence(summary) if summary else _truncate(link or "", MAX_TITLE_CHARS)
    title = _truncate(title, MAX_STORED_TITLE_CHARS)

    raw_id = entry.get("id")
    key = raw_id.strip() if isinstance(raw_id, str) else ""
    if not key:
        key = link or (raw_link.strip() if isinstance(raw_link, str) else "")
    if not key:
        key = _sha1_key(title, summary)
    elif len(key) > MAX_KEY_CHARS:
        key = _sha1_key(key)
    return _Draft(
        key=key,
        title=title,
        link=link,
        summary=summary,
        categories=_entry_categories(entry),
        published_at=_entry_time(entry, fetched_at),
    )


# ---------------------------------------------------------------------------------------
# Fetching (I/O)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The outcome of one fetch; ``error`` is a short readable reason when status is error."""

    status: Literal["ok", "not_modified", "error"]
    body: bytes
    etag: str | None
    last_modified: str | None
    final_url: str
    content_type: str | None
    error: str | None
    elapsed: float
    http_status: int | None = None


def _size_text(n: int) -> str:
    mib = 1024 * 1024
    if n >= mib and n % mib == 0:
        return f"{n // mib} MB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KB"
    return f"{n} bytes"


def _seconds_text(seconds: float) -> str:
    return f"{seconds:g} s"


class _Failure(Exception):
    """Ends a fetch early with a readable reason."""

    def __init__(self, reason: str, http_status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.http_status = http_status


def _connect_reason(exc: BaseException) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        cause = cause.__cause__ or cause.__context__
    text = str(exc).lower()
    if "refused" in text:
        return "connection refused"
    if "name or service not known" in text or "nodename nor servname" in text:
        return "host not found"
    if "temporary failure in name resolution" in text or "getaddrinfo" in text:
        return "host not found"
    if "certificate" in text or "ssl" in text:
        return "TLS error: " + _truncate(_collapse(str(exc)), 100)
    return "connection failed: " + (_truncate(_collapse(str(exc)), 100) or type(exc).__name__)


class FeedFetcher:
    """Fetches feeds over HTTP(S) with conditional GET, or from local files.

    When no client is given one is created with ``trust_env=False``: proxy variables from
    the environment would otherwise route requests for 127.0.0.1 (tests, a local feed
    server) through a proxy. A client that is handed in is used as it is and not closed.
    """

    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_redirects: int = DEFAULT_MAX_REDIRECTS,
        user_agent: str = USER_AGENT,
    ) -> None:
        self.timeout = float(timeout)
        self.max_bytes = int(max_bytes)
        self.max_redirects = max_redirects
        self.user_agent = user_agent
        self._owns_client = client is None
        self._client = client if client is not None else self._make_client()

    def _make_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            trust_env=False,
            follow_redirects=False,
            timeout=self._http_timeout(),
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        )

    def _http_timeout(self) -> httpx.Timeout:
        # The overall deadline (asyncio.timeout) is what normally fires; these per-phase
        # limits only back it up, so they are never shorter than it except for connecting.
        return httpx.Timeout(
            connect=min(10.0, self.timeout),
            read=self.timeout + 1,
            write=self.timeout + 1,
            pool=self.timeout + 1,
        )

    async def aclose(self) -> None:
        """Close the HTTP client if this fetcher created it."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> FeedFetcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        """Fetch one feed; problems come back as ``status='error'``, never as exceptions."""
        started = time.monotonic()
        scheme = urllib.parse.urlsplit(url).scheme.lower() if "://" in url else ""
        if scheme in ("", "file"):
            return await asyncio.to_thread(self._fetch_file, url, etag, last_modified, started)
        if scheme not in ("http", "https"):
            return self._error(url, f"unsupported URL scheme {scheme!r}", started)
        try:
            async with asyncio.timeout(self.timeout):
                return await self._fetch_http(url, etag, last_modified, started)
        except TimeoutError:
            return self._error(url, f"timed out after {_seconds_text(self.timeout)}", started)
        except _Failure as failure:
            return self._error(url, failure.reason, started, failure.http_status)

    def _error(
        self, url: str, reason: str, started: float, http_status: int | None = None
    ) -> FetchResult:
        return FetchResult(
            status="error",
            body=b"",
            etag=None,
            last_modified=None,
            final_url=url,
            content_type=None,
            error=reason,
            elapsed=time.monotonic() - started,
            http_status=http_status,
        )

    def _headers(self, etag: str | None, last_modified: str | None) -> dict[str, str]:
        headers = {
            "User-Agent": self.user_agent,
            "Accept": ACCEPT,
            "Accept-Encoding": "gzip, deflate",
        }
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        return headers

    async def _fetch_http(
        self, url: str, etag: str | None, last_modified: str | None, started: float
    ) -> FetchResult:
        try:
            request = self._client.build_request(
                "GET", url, headers=self._headers(etag, last_modified), timeout=self._http_timeout()
            )
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError, TypeError) as exc:
            raise _Failure("invalid URL: " + _truncate(_collapse(str(exc)), 80)) from exc
        visited = {str(request.url)}
        redirects = 0
        while True:
            response = await self._send(request)
            try:
                if response.is_redirect and response.next_request is not None:
                    request = response.next_request
                    redirects += 1
                    target = str(request.url)
                    if target in visited:
                        raise _Failure("redirect loop", response.status_code)
                    if redirects > self.max_redirects:
                        raise _Failure("too many redirects", response.status_code)
                    visited.add(target)
                    continue
                return await self._finish(response, etag, last_modified, started)
            finally:
                with contextlib.suppress(httpx.HTTPError, OSError):
                    await response.aclose()

    async def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._client.send(request, stream=True, follow_redirects=False)
        except httpx.ConnectTimeout as exc:
            connect = min(10.0, self.timeout)
            raise _Failure(f"connect timed out after {_seconds_text(connect)}") from exc
        except httpx.TimeoutException as exc:
            raise _Failure(f"timed out after {_seconds_text(self.timeout)}") from exc
        except httpx.ConnectError as exc:
            raise _Failure(_connect_reason(exc)) from exc
        except (httpx.RemoteProtocolError, httpx.LocalProtocolError) as exc:
            raise _Failure("protocol error: " + _truncate(_collapse(str(exc)), 100)) from exc
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise _Failure("invalid URL: " + _truncate(_collapse(str(exc)), 80)) from exc
        except (httpx.HTTPError, httpx.StreamError, OSError) as exc:
            raise _Failure(_connect_reason(exc)) from exc

    async def _finish(
        self,
        response: httpx.Response,
        etag: str | None,
        last_modified: str | None,
        started: float,
    ) -> FetchResult:
        final_url = str(response.url)
        status = response.status_code
        if status == 304:
            return FetchResult(
                status="not_modified",
                body=b"",
                etag=response.headers.get("etag") or etag,
                last_modified=response.headers.get("last-modified") or last_modified,
                final_url=final_url,
                content_type=response.headers.get("content-type"),
                error=None,
                elapsed=time.monotonic() - started,
                http_status=status,
            )
        if not 200 <= status < 300:
            raise _Failure(f"HTTP {status}", status)
        declared = response.headers.get("content-length")
        if (
            declared
            and declared.isdigit()
            and int(declared) > self.max_bytes
            and not response.headers.get("content-encoding")
        ):
            raise _Failure(f"body larger than {_size_text(self.max_bytes)}", status)
        body = await self._read_body(response)
        return FetchResult(
            status="ok",
            body=body,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            final_url=final_url,
            content_type=response.headers.get("content-type"),
            error=None,
            elapsed=time.monotonic() - started,
            http_status=status,
        )

    async def _read_body(self, response: httpx.Response) -> bytes:
        chunks: list[bytes] = []
        size = 0
        try:
            # aiter_bytes yields decoded (gunzipped) bytes: counting them stops a gzip bomb
            # at the limit instead of after it has filled memory.
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    raise _Failure(
                        f"body larger than {_size_text(self.max_bytes)}", response.status_code
                    )
                chunks.append(chunk)
        except httpx.DecodingError as exc:
            raise _Failure("bad content encoding", response.status_code) from exc
        except httpx.TimeoutException as exc:
            raise _Failure(f"timed out after {_seconds_text(self.timeout)}") from exc
        except (httpx.HTTPError, httpx.StreamError, OSError) as exc:
            raise _Failure(
                "connection lost: " + (_truncate(_collapse(str(exc)), 100) or type(exc).__name__)
            ) from exc
        return b"".join(chunks)

    def _fetch_file(
        self, url: str, etag: str | None, last_modified: str | None, started: float
    ) -> FetchResult:
        if url.lower().startswith("file:"):
            parts = urllib.parse.urlsplit(url)
            path = Path(urllib.parse.unquote(parts.path))
        else:
            path = Path(url).expanduser()
        try:
            info = path.stat()
            # A file's version is its mtime and size: cheap to check without reading it.
            token = f'"file-{info.st_mtime_ns}-{info.st_size}"'
            stamp = email.utils.formatdate(info.st_mtime, usegmt=True)
            unchanged = etag == token if etag else bool(last_modified) and last_modified == stamp
            if unchanged:
                return FetchResult(
                    status="not_modified",
                    body=b"",
                    etag=token,
                    last_modified=stamp,
                    final_url=url,
                    content_type=None,
                    error=None,
                    elapsed=time.monotonic() - started,
                )
            if info.st_size > self.max_bytes:
                return self._error(url, f"body larger than {_size_text(self.max_bytes)}", started)
            with path.open("rb") as handle:
                body = handle.read(self.max_bytes + 1)
        except FileNotFoundError:
            return self._error(url, "file not found", started)
        except PermissionError:
            return self._error(url, "permission denied", started)
        except IsADirectoryError:
            return self._error(url, "is a directory", started)
        except OSError as exc:
            return self._error(url, f"cannot read file: {os.strerror(exc.errno or 0)}", started)
        if len(body) > self.max_bytes:
            return self._error(url, f"body larger than {_size_text(self.max_bytes)}", started)
        return FetchResult(
            status="ok",
            body=body,
            etag=token,
            last_modified=stamp,
            final_url=url,
            content_type=None,
            error=None,
            elapsed=time.monotonic() - started,
        )
