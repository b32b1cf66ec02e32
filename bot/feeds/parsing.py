"""Feed bytes into normalised headlines with feedparser: pure CPU work, no I/O.

Callers run :func:`parse_feed` with ``asyncio.to_thread``. Untrusted bytes go through the
entity guard (entities.py) before feedparser sees them.
"""

from __future__ import annotations

import calendar
import hashlib
import io
import math
import re
import urllib.parse
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import feedparser

from bot.feeds.entities import MAX_ENTITY_EXPANSION, entity_expansion
from bot.feeds.failures import FeedFailure, Reason
from bot.feeds.text import MAX_TITLE_CHARS, clean_text, collapse, first_sentence, truncate
from storage.models import HeadlineInput

__all__ = [
    "MAX_CATEGORIES",
    "MAX_SUMMARY_CHARS",
    "ParsedFeed",
    "feedparser_result",
    "normalise",
    "parse_feed",
]

MAX_SUMMARY_CHARS = 2000
MAX_STORED_TITLE_CHARS = 300
MAX_KEY_CHARS = 512  # longer ids are stored as their hash
MAX_CATEGORIES = 20
MAX_CATEGORY_CHARS = 100
MAX_PICTURE_CHARS = 2048  # a longer picture URL is not kept (Telegram would refuse it)
# What makes a media:content an image when neither its medium nor its type says so.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".png", ".gif", ".webp", ".bmp", ".avif")


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """What one feed document holds: its title and normalised entries.

    ``failure`` is set when the document is not a feed (zero entries and feedparser found it
    malformed or unrecognisable). A malformed feed that still yields entries is ingested:
    ``bozo`` is True and ``failure`` is None.
    """

    title: str | None
    entries: tuple[HeadlineInput, ...]
    bozo: bool
    failure: FeedFailure | None
    ttl_seconds: float | None = None  # RSS <ttl>: how long the feed asks to be cached
    language: str | None = None  # declared: RSS <language>, Atom xml:lang ('es-419'), as given

    @property
    def error(self) -> str | None:
        """Why the document is not a feed, in English (for logs), or None."""
        return None if self.failure is None else self.failure.text


def _bozo_failure(exc: object) -> FeedFailure:
    if exc is None:
        return FeedFailure(Reason.UNRECOGNISED)
    message = str(exc).strip() or type(exc).__name__
    # SAX messages start with "<unknown>:LINE:COL:"; keep the position, drop the file.
    message = re.sub(r"^<unknown>:(\d+):(\d+):\s*", r"line \1: ", message)
    return FeedFailure(Reason.NOT_A_FEED, truncate(collapse(message), 120))


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


def _is_plain(detail: Any) -> bool:
    """Whether feedparser says a value is text, not HTML (Atom type="text")."""
    return isinstance(detail, Mapping) and detail.get("type") == "text/plain"


def _entry_summary(entry: Mapping[str, Any]) -> str:
    summary = entry.get("summary")
    plain = _is_plain(entry.get("summary_detail"))
    text = clean_text(summary, plain=plain) if isinstance(summary, str) else ""
    if not text:
        for content in entry.get("content") or ():
            value = content.get("value") if isinstance(content, Mapping) else None
            if isinstance(value, str):
                text = clean_text(value, plain=_is_plain(content))
                if text:
                    break
    return truncate(text, MAX_SUMMARY_CHARS)


def _entry_categories(entry: Mapping[str, Any]) -> tuple[str, ...]:
    seen: set[str] = set()
    categories: list[str] = []
    for tag in entry.get("tags") or ():
        if not isinstance(tag, Mapping):
            continue
        raw = tag.get("term") or tag.get("label")
        term = truncate(clean_text(raw), MAX_CATEGORY_CHARS) if isinstance(raw, str) else ""
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
    picture: str | None = None


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
    if entity_expansion(data) > MAX_ENTITY_EXPANSION:
        return ParsedFeed(
            title=None,
            entries=(),
            bozo=True,
            failure=FeedFailure(Reason.ENTITIES),
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
    # Relative URLs inside an item's HTML are left as written: a picture found there is
    # resolved against the item's own link (see _entry_picture).
    return feedparser.parse(io.BytesIO(data), response_headers=headers, resolve_relative_uris=False)


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
            picture=d.picture,
        )
        for d in _unique_keys(drafts)
    )

    failure: FeedFailure | None = None
    if not raw_entries:
        if bozo:
            failure = _bozo_failure(result.get("bozo_exception"))
        elif "encoding" not in result:  # feedparser stops before decoding empty input
            failure = FeedFailure(Reason.EMPTY_DOCUMENT)
        elif not result.get("version"):
            failure = FeedFailure(Reason.NO_FEED)
    return ParsedFeed(
        title=title,
        entries=entries,
        bozo=bozo,
        failure=failure,
        ttl_seconds=_ttl(feed_info),
        language=_language(feed_info),
    )


def _language(feed_info: Mapping[str, Any]) -> str | None:
    """The feed's declared language tag (feedparser reads <language> and xml:lang alike)."""
    raw = feed_info.get("language")
    if not isinstance(raw, str):
        return None
    tag = raw.strip()[:35]
    return tag or None


MAX_TTL_SECONDS = 7 * 86400.0  # a <ttl> longer than a week is read as a week


def _ttl(feed_info: Mapping[str, Any]) -> float | None:
    """RSS <ttl> (minutes) in seconds; None when absent or not a positive number."""
    raw = feed_info.get("ttl")
    if not isinstance(raw, str) or not raw.strip().isdigit():
        return None
    minutes = int(raw.strip()[:6])
    return min(minutes * 60.0, MAX_TTL_SECONDS) if minutes > 0 else None


def _normalise(entry: Mapping[str, Any], url: str, fetched_at: float) -> _Draft | None:
    raw_title = entry.get("title")
    title = clean_text(raw_title) if isinstance(raw_title, str) else ""
    summary = _entry_summary(entry)
    link = _entry_link(entry, url)
    raw_link = entry.get("link")
    if not title and not summary and not link:
        return None
    if not title:
        title = first_sentence(summary) if summary else truncate(link or "", MAX_TITLE_CHARS)
    title = truncate(title, MAX_STORED_TITLE_CHARS)

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
        picture=_entry_picture(entry, link or url),
    )


# --- pictures --------------------------------------------------------------------------------


def _picture_url(value: Any, base: str) -> str | None:
    """An absolute http(s) URL for a picture (a relative one resolved against base)."""
    if not isinstance(value, str) or not value.strip():
        return None
    raw = value.strip()
    if raw.lower().startswith("data:"):
        return None
    try:
        url = urllib.parse.urljoin(base, raw) if base else raw
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if len(url) > MAX_PICTURE_CHARS or any(c.isspace() for c in url):
        return None
    return url


def _has_image_extension(url: Any) -> bool:
    if not isinstance(url, str):
        return False
    try:
        path = urllib.parse.urlsplit(url.strip()).path.lower()
    except ValueError:
        return False
    return path.endswith(IMAGE_EXTENSIONS)


def _is_image_type(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower().startswith("image/")


def _media_images(entry: Mapping[str, Any]) -> Iterator[Any]:
    """media:content (feedparser lists those of a media:group there too) that are images:
    by medium="image", an image/* type or, when neither is given, an image extension."""
    for media in entry.get("media_content") or ():
        if not isinstance(media, Mapping):
            continue
        medium = media.get("medium")
        kind = media.get("type")
        url = media.get("url")
        said = medium == "image" or _is_image_type(kind)
        if said or (not medium and not kind and _has_image_extension(url)):
            yield url


def _thumbnails(entry: Mapping[str, Any]) -> Iterator[Any]:
    for thumbnail in entry.get("media_thumbnail") or ():
        if isinstance(thumbnail, Mapping):
            yield thumbnail.get("url")


def _image_enclosures(entry: Mapping[str, Any]) -> Iterator[Any]:
    for enclosure in entry.get("enclosures") or ():
        if isinstance(enclosure, Mapping) and _is_image_type(enclosure.get("type")):
            yield enclosure.get("href") or enclosure.get("url")


class _Images(HTMLParser):
    """Finds the src of the first few <img> of an HTML fragment, skipping tracking pixels."""

    KEEP = 8  # enough to pass a few that are no picture (data: or script URLs)

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "img" or len(self.found) >= self.KEEP:
            return
        values = {name: value or "" for name, value in attrs}
        # a 1x1 image is a feed's tracking pixel, not the item's picture
        sizes = (values.get("width", "").strip(), values.get("height", "").strip())
        if any(size in ("0", "1") for size in sizes):
            return
        src = values.get("src", "").strip()
        if src and not src.lower().startswith("data:"):
            self.found.append(src)


def _html_images(entry: Mapping[str, Any]) -> Iterator[str]:
    """The first <img src> of the item's content, then of its summary (HTML only)."""
    fragments: list[str] = []
    for content in entry.get("content") or ():
        if isinstance(content, Mapping) and not _is_plain(content):
            value = content.get("value")
            if isinstance(value, str):
                fragments.append(value)
    summary = entry.get("summary")
    if isinstance(summary, str) and not _is_plain(entry.get("summary_detail")):
        fragments.append(summary)
    for fragment in fragments:
        if "<img" not in fragment.lower():
            continue
        finder = _Images()
        try:
            finder.feed(fragment)
            finder.close()
        except (AssertionError, ValueError):  # markup HTMLParser cannot read: no picture there
            continue
        yield from finder.found


def _entry_picture(entry: Mapping[str, Any], base: str) -> str | None:
    """The item's picture: the first found of a media:content or media:group image, a
    media:thumbnail, an image enclosure, the first <img> of its content or summary; as an
    absolute http(s) URL (a relative one resolved against the item's link)."""
    for candidates in (_media_images, _thumbnails, _image_enclosures, _html_images):
        for candidate in candidates(entry):
            url = _picture_url(candidate, base)
            if url is not None:
                return url
    return None
