"""Feed handles: the short names `from:HANDLE` takes, made from a feed's name (pure).

A handle is lowercase ASCII letters, digits and `-`, at most 32 characters, with no dash at
either end or two in a row: `Popular Resistance` -> `popular-resistance`, `Página/12` ->
`pagina-12`. Accents are folded as topics fold them; anything else separates words. Handles
are unique among all feeds (removed ones too, so adding a feed back revives its topics): a
clash gets a number, `-2`, `-3`, ….

It lives beside the query language, which parses `from:HANDLE`, so that storage can give
handles to the feeds it inserts and migrates without reaching into the bot core.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Collection

from bot.text.language import fold

__all__ = [
    "MAX_HANDLE_CHARS",
    "handle_for",
    "handle_from",
    "is_handle",
    "make_handle",
    "unique_handle",
]

MAX_HANDLE_CHARS = 32
FALLBACK = "feed"  # a name with no letter or digit to keep
_HANDLE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?")
_RUNS = re.compile(r"[^a-z0-9]+")
_WWW = re.compile(r"^(?:www|feeds?|rss)\.")


def is_handle(text: str) -> bool:
    """Whether text is a well-formed handle (not whether a feed has it)."""
    return _HANDLE.fullmatch(text) is not None and "--" not in text


def make_handle(text: str) -> str:
    """The handle a name makes: folded, non-alphanumerics as one dash, cut at 32 characters
    (at a dash when one falls in the second half); `feed` when nothing is left."""
    slug = _RUNS.sub("-", fold(text)).strip("-")
    if len(slug) > MAX_HANDLE_CHARS:
        cut = slug[: MAX_HANDLE_CHARS + 1]
        dash = cut.rfind("-")
        slug = cut[:dash] if dash >= MAX_HANDLE_CHARS // 2 else slug[:MAX_HANDLE_CHARS]
        slug = slug.strip("-")
    return slug or FALLBACK


def _host(url: str) -> str:
    try:
        host = urllib.parse.urlsplit(url).hostname or ""
    except ValueError:
        host = ""
    if not host:  # a local file: its name without the extension
        host = url.rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return _WWW.sub("", host)


def handle_from(text: str | None) -> str | None:
    """The handle text makes, or None when it has no letter or digit to keep."""
    if text and _RUNS.sub("", fold(text)):
        return make_handle(text)
    return None


def handle_for(name: str | None, title: str | None, url: str) -> str:
    """The handle a feed's name makes, else its title's, else its host's (not yet unique)."""
    return handle_from(name) or handle_from(title) or make_handle(_host(url))


def unique_handle(base: str, taken: Collection[str]) -> str:
    """base, or base with the first free number (`-2`, `-3`, …) when another feed has it;
    the number replaces the end of a long base, so the handle stays within 32 characters."""
    if base not in taken:
        return base
    n = 2
    while True:
        suffix = f"-{n}"
        candidate = base[: MAX_HANDLE_CHARS - len(suffix)].rstrip("-") + suffix
        if candidate not in taken:
            return candidate
        n += 1
