"""Folding and tokenising text, and topics normalised to their words: pure.

Tokenisation mirrors SQLite FTS5's ``unicode61 remove_diacritics 2`` closely on purpose, so a
topic that routes a headline is also a search that finds it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from bot.text.language import fold, word_pattern
from bot.text.query import Refusal, parse_topic

__all__ = [
    "FIELD_BOUNDARY",
    "MAX_TOPIC_CHARS",
    "fold",
    "headline_tokens",
    "is_mute",
    "normalize_topic",
    "parse_topic_list",
    "tokenize",
    "topic_matches",
    "topic_phrase",
    "upgrade_key",
]

MAX_TOPIC_CHARS = 64
# Never produced by tokenize(), so no topic word can equal it and no phrase can span two fields.
FIELD_BOUNDARY = ""

_ASCII_TOKEN = re.compile(r"[a-z0-9]+")
# Dashes people type (or phones substitute) in front of a topic to mute it.
_MUTE_MARKS = "-\u2010\u2011\u2012\u2013\u2014\u2212"


def tokenize(text: str) -> list[str]:
    """Folded word tokens: runs of letters/digits; everything else separates."""
    folded = fold(text)
    if folded.isascii():
        return _ASCII_TOKEN.findall(folded)
    return word_pattern().findall(folded)


def is_mute(topic: str) -> bool:
    """Whether a normalised topic mutes (starts with '-')."""
    return topic.startswith("-")


def topic_phrase(topic: str) -> str:
    """The phrase of a normalised topic, without its mute mark."""
    return topic[1:] if topic.startswith("-") else topic


def normalize_topic(raw: str) -> str | None:
    """Normalise a user's topic ('  Bogotá!! ' -> 'bogota', '-Israel' -> '-israel'), or None."""
    text = raw.strip()
    mute = bool(text) and text[0] in _MUTE_MARKS
    # A topic can't be longer than this anyway; the cap keeps hostile input cheap.
    tokens = tokenize(text[: MAX_TOPIC_CHARS * 8])
    if not tokens:
        return None
    phrase = " ".join(tokens)
    topic = "-" + phrase if mute else phrase
    if len(topic) > MAX_TOPIC_CHARS:
        return None
    return topic


def parse_topic_list(text: str) -> tuple[list[str], list[str]]:
    """Split on commas/newlines into (valid normalised topics, de-duplicated; invalid pieces)."""
    valid: list[str] = []
    invalid: list[str] = []
    seen: set[str] = set()
    for piece in re.split(r"[,\n\r]+", text):
        stripped = piece.strip()
        if not stripped:
            continue
        topic = normalize_topic(stripped)
        if topic is None:
            invalid.append(stripped)
        elif topic not in seen:
            seen.add(topic)
            valid.append(topic)
    return valid, invalid


def topic_matches(topic: str, tokens: Sequence[str]) -> bool:
    """Whether the topic's words occur in tokens as whole, consecutive words."""
    words = tokenize(topic_phrase(topic.strip()))
    n = len(words)
    if n == 0:
        return False
    first = words[0]
    for i in range(len(tokens) - n + 1):
        if tokens[i] == first and (n == 1 or list(tokens[i : i + n]) == words):
            return True
    return False


def headline_tokens(title: str, summary: str, categories: Iterable[str]) -> list[str]:
    """Tokens of a headline's fields, with a boundary so no phrase spans two fields."""
    tokens = tokenize(title)
    tokens.append(FIELD_BOUNDARY)
    tokens.extend(tokenize(summary))
    for category in categories:
        tokens.append(FIELD_BOUNDARY)
        tokens.extend(tokenize(category))
    return tokens


def upgrade_key(old: str) -> str:
    """The key today's parser (bot/query.py) gives a topic stored as normalize_topic() did.

    Those keys lost what was typed, but two of their forms can be read back: a lone `s`
    after a word was a possessive (`Bolivia's` was `bolivia s`, now `bolivia`), and single
    letters split off by `&` (`AT&T` was `at t`, `R&D` `r d`) are one word now (`att`, `rd`)
    when the parser would refuse them apart. Anything the parser refuses stays as it was.
    """
    mute = old.startswith("-")
    words = [w for i, w in enumerate(topic_phrase(old).split()) if not (i and w == "s")]
    text = ("-" if mute else "") + " ".join(words)
    parsed = parse_topic(text)
    if isinstance(parsed, Refusal) and 1 < len(words) <= 3 and any(len(w) == 1 for w in words):
        parsed = parse_topic(("-" if mute else "") + "".join(words))
    return old if isinstance(parsed, Refusal) else parsed.key
