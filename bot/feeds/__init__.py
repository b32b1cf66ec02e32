"""Feeds: fetch them with conditional GET (httpx) and turn their bytes into headlines.

One module per part: fetching (:class:`FeedFetcher`, I/O within time and size limits),
parsing (:func:`parse_feed` with feedparser, pure), entities (the XML entity guard, pure),
text (HTML to plain text, pure), failures (why a feed failed, as a value, pure) and reads
(:func:`store_read`, the one way a feed's read is stored); then the poller, admin and OPML.
"""

from bot.feeds.entities import MAX_ENTITY_EXPANSION
from bot.feeds.failures import FeedFailure, Reason
from bot.feeds.fetching import (
    ACCEPT,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_REDIRECTS,
    DEFAULT_TIMEOUT,
    USER_AGENT,
    FeedFetcher,
    FetchResult,
)
from bot.feeds.parsing import (
    MAX_CATEGORIES,
    MAX_SUMMARY_CHARS,
    ParsedFeed,
    feedparser_result,
    normalise,
    parse_feed,
)
from bot.feeds.text import MAX_TITLE_CHARS, clean_text, first_sentence

__all__ = [
    "ACCEPT",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_REDIRECTS",
    "DEFAULT_TIMEOUT",
    "MAX_CATEGORIES",
    "MAX_ENTITY_EXPANSION",
    "MAX_SUMMARY_CHARS",
    "MAX_TITLE_CHARS",
    "USER_AGENT",
    "FeedFailure",
    "FeedFetcher",
    "FetchResult",
    "ParsedFeed",
    "Reason",
    "clean_text",
    "feedparser_result",
    "first_sentence",
    "normalise",
    "parse_feed",
]
