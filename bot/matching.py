"""Pure topic matching: fold and tokenise text, normalise topics, route headlines to chats.

Tokenisation mirrors SQLite FTS5's ``unicode61 remove_diacritics 2`` closely on purpose, so a
topic that routes a headline is also a search that finds it.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "FIELD_BOUNDARY",
    "MAX_TOPIC_CHARS",
    "Route",
    "TopicIndex",
    "fold",
    "headline_tokens",
    "is_mute",
    "normalize_topic",
    "parse_topic_list",
    "suggest_topics",
    "tokenize",
    "topic_matches",
    "topic_phrase",
]

MAX_TOPIC_CHARS = 64
# Never produced by tokenize(), so no topic word can equal it and no phrase can span two fields.
FIELD_BOUNDARY = ""

# Diacritic blocks only (as unicode61 does): marks of other scripts (Devanagari vowel signs,
# viramas...) are part of their words and are kept.
_DIACRITICS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")

# Letters without a canonical decomposition that readers still expect to fold to ASCII.
_FOLD_TABLE = str.maketrans(
    {
        "ø": "o",
        "ł": "l",
        "ß": "ss",
        "æ": "ae",
        "œ": "oe",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "ħ": "h",
        "ı": "i",
        "ŀ": "l",
        "ŧ": "t",
        "ŋ": "n",
        "ĸ": "k",
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u02bc": "'",
        "\u00b4": "'",
        "`": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00ab": '"',
        "\u00bb": '"',
    }
)

_ASCII_TOKEN = re.compile(r"[a-z0-9]+")
# Dashes people type (or phones substitute) in front of a topic to mute it.
_MUTE_MARKS = "-\u2010\u2011\u2012\u2013\u2014\u2212"


def fold(text: str) -> str:
    """Case-fold, strip diacritics and normalise quotes: 'Marquéz’' -> "marquez'"."""
    if text.isascii():
        return text.lower().replace("`", "'")
    # Case-fold between two decompositions: compatibility forms ('𝒢') only gain a case once
    # decomposed, and case-folding can produce undecomposed text ('İ' -> 'i̇').
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    text = _DIACRITICS.sub("", text).translate(_FOLD_TABLE)
    # Recompose what NFKD split apart that is not a diacritic (Hangul syllables, for one).
    return unicodedata.normalize("NFC", text)


@functools.cache
def _unicode_token() -> re.Pattern[str]:
    """Letters, digits and combining marks (marks are token characters in unicode61)."""
    category = unicodedata.category
    ranges: list[str] = []
    start: int | None = None
    for cp in range(0x30000):  # no marks between U+30000 and the variation selectors below
        mark = category(chr(cp)).startswith("M")
        if mark and start is None:
            start = cp
        elif not mark and start is not None:
            ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(cp - 1))}")
            start = None
    ranges.append("\U000e0100-\U000e01ef")
    return re.compile(rf"(?:[^\W_]|[{''.join(ranges)}])+")


def tokenize(text: str) -> list[str]:
    """Folded word tokens: runs of letters/digits; everything else separates."""
    folded = fold(text)
    if folded.isascii():
        return _ASCII_TOKEN.findall(folded)
    return _unicode_token().findall(folded)


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


@dataclass(frozen=True, slots=True)
class Route:
    """Where one headline goes in one chat, and which of the chat's topics it matched."""

    thread_id: int | None
    topics: tuple[str, ...]


class TopicIndex:
    """Subscriptions indexed by a phrase's first word, so routing never loops over chats.

    Memory: 8 bytes per subscription (each topic's chats in a sorted array; a set would
    take about 50), one small tuple of interned topic strings per chat, and a dict entry
    only for subscriptions posting to a thread.
    """

    __slots__ = ("_by_chat", "_count", "_phrases", "_subscribers", "_threads")

    def __init__(self) -> None:
        # first word -> phrase -> the phrase's words
        self._phrases: dict[str, dict[str, tuple[str, ...]]] = {}
        # topic ('-' + phrase for mutes) -> its chats, sorted
        self._subscribers: dict[str, array[int]] = {}
        # topic -> chat -> thread, for the few subscriptions that post to a forum thread
        self._threads: dict[str, dict[int, int]] = {}
        # chat -> its topics
        self._by_chat: dict[int, tuple[str, ...]] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __contains__(self, chat_id: object) -> bool:
        return chat_id in self._by_chat

    def _canonical(self, topic: str) -> str:
        if topic in self._subscribers:
            return sys.intern(topic)  # the key's own object, shared by every chat
        normalized = normalize_topic(topic)
        if normalized is None:
            raise ValueError(f"not a valid topic: {topic!r}")
        return sys.intern(normalized)

    def _thread(self, topic: str, chat_id: int) -> int | None:
        threads = self._threads.get(topic)
        return None if threads is None else threads.get(chat_id)

    def _set_thread(self, topic: str, chat_id: int, thread_id: int | None) -> None:
        threads = self._threads.get(topic)
        if thread_id is not None:
            if threads is None:
                threads = self._threads[topic] = {}
            threads[chat_id] = thread_id
        elif threads is not None and threads.pop(chat_id, None) is not None and not threads:
            del self._threads[topic]

    def add(self, chat_id: int, topic: str, thread_id: int | None = None) -> None:
        """Subscribe a chat to a topic (re-adding updates the thread)."""
        topic = self._canonical(topic)
        subscribers = self._subscribers.get(topic)
        if subscribers is None:
            subscribers = self._subscribers[topic] = array("q")
            phrase = topic_phrase(topic)
            words = tuple(sys.intern(w) for w in phrase.split(" "))
            self._phrases.setdefault(words[0], {})[sys.intern(phrase)] = words
        topics = self._by_chat.get(chat_id)
        if topics is None:
            self._by_chat[chat_id] = (topic,)
            self._count += 1
        elif topic not in topics:
            self._by_chat[chat_id] = (*topics, topic)
            self._count += 1
        i = bisect_left(subscribers, chat_id)
        if i == len(subscribers) or subscribers[i] != chat_id:
            subscribers.insert(i, chat_id)  # chats load in id order: mostly an append
        self._set_thread(topic, chat_id, thread_id)

    def remove(self, chat_id: int, topic: str) -> bool:
        """Unsubscribe a chat from a topic; False when it was not subscribed."""
        normalized = topic if topic in self._subscribers else normalize_topic(topic)
        if normalized is None:
            return False
        if normalized not in self._by_chat.get(chat_id, ()):
            return False
        self._unsubscribe(normalized, chat_id)
        remaining = tuple(t for t in self._by_chat[chat_id] if t != normalized)
        if remaining:
            self._by_chat[chat_id] = remaining
        else:
            del self._by_chat[chat_id]
        return True

    def _unsubscribe(self, topic: str, chat_id: int) -> None:
        subscribers = self._subscribers[topic]
        del subscribers[bisect_left(subscribers, chat_id)]
        self._set_thread(topic, chat_id, None)
        self._count -= 1
        if subscribers:
            return
        del self._subscribers[topic]
        phrase = topic_phrase(topic)
        if phrase in self._subscribers or "-" + phrase in self._subscribers:
            return
        first = phrase.split(" ", 1)[0]
        phrases = self._phrases[first]
        del phrases[phrase]
        if not phrases:
            del self._phrases[first]

    def remove_chat(self, chat_id: int) -> int:
        """Drop every subscription of a chat; returns how many there were."""
        topics = self._by_chat.pop(chat_id, ())
        for topic in topics:
            self._unsubscribe(topic, chat_id)
        return len(topics)

    def move_chat(self, old_id: int, new_id: int) -> None:
        """Move a chat's subscriptions to a new id (a group that became a supergroup)."""
        if old_id == new_id:
            return
        moved = self.topics_of(old_id)
        self.remove_chat(old_id)
        existing = self.topics_of(new_id)
        for topic, thread_id in moved.items():
            if topic not in existing:
                self.add(new_id, topic, thread_id)

    def topics_of(self, chat_id: int) -> dict[str, int | None]:
        """A chat's topics and the thread each one posts to."""
        return {t: self._thread(t, chat_id) for t in self._by_chat.get(chat_id, ())}

    def chat_ids(self) -> list[int]:
        """Every chat with at least one subscription."""
        return list(self._by_chat)

    def matching_phrases(self, tokens: Sequence[str]) -> set[str]:
        """The indexed phrases that occur in tokens; costs O(len(tokens) + candidates)."""
        found: set[str] = set()
        index = self._phrases
        n_tokens = len(tokens)
        for i, token in enumerate(tokens):
            candidates = index.get(token)
            if candidates is None:
                continue
            for phrase, words in candidates.items():
                n = len(words)
                if n == 1 or (i + n <= n_tokens and tuple(tokens[i : i + n]) == words):
                    found.add(phrase)
        return found

    def route(self, tokens: Sequence[str]) -> dict[int, Route]:
        """Chats with a matching topic and no matching mute, and what matched for each.

        Chats with the same outcome share one (immutable) Route object, so the common case
        (one matching topic, no thread) costs a C-level dict insertion per chat.
        """
        found = self.matching_phrases(tokens)
        subscribers = self._subscribers
        phrases = sorted(p for p in found if p in subscribers)
        if not phrases:
            return {}
        routes: dict[int, Route] = {}
        several: set[int] = set()
        seen: set[int] = set()
        for phrase in phrases:
            chats = subscribers[phrase]
            if len(phrases) > 1:
                several |= seen.intersection(chats)
                seen.update(chats)
            routes.update(dict.fromkeys(chats, Route(None, (phrase,))))
        for phrase in phrases:
            threads = self._threads.get(phrase)
            if threads:
                for chat_id, thread_id in threads.items():
                    if chat_id not in several:
                        routes[chat_id] = Route(thread_id, (phrase,))
        for chat_id in several:
            mine = self._by_chat[chat_id]
            topics = tuple(p for p in phrases if p in mine)
            routes[chat_id] = Route(self._thread(topics[0], chat_id), topics)
        for phrase in found:
            mutes = subscribers.get("-" + phrase)
            if mutes:
                for chat_id in mutes:
                    routes.pop(chat_id, None)
        return routes


# --- topic suggestions -------------------------------------------------------------------------

_STOP_WORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "ago",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "back",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "down",
        "during",
        "each",
        "even",
        "ever",
        "every",
        "few",
        "first",
        "for",
        "from",
        "further",
        "get",
        "gets",
        "had",
        "has",
        "have",
        "he",
        "her",
        "here",
        "hers",
        "him",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "just",
        "last",
        "late",
        "latest",
        "least",
        "less",
        "like",
        "live",
        "many",
        "may",
        "me",
        "more",
        "most",
        "much",
        "must",
        "my",
        "new",
        "news",
        "next",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "one",
        "only",
        "or",
        "other",
        "our",
        "out",
        "over",
        "own",
        "per",
        "report",
        "reports",
        "said",
        "same",
        "say",
        "says",
        "see",
        "she",
        "should",
        "since",
        "so",
        "some",
        "still",
        "such",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "though",
        "three",
        "through",
        "to",
        "today",
        "too",
        "top",
        "two",
        "under",
        "until",
        "up",
        "update",
        "updates",
        "upon",
        "us",
        "very",
        "via",
        "was",
        "watch",
        "way",
        "we",
        "week",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "year",
        "years",
        "yesterday",
        "you",
        "your",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "mr",
        "mrs",
        "ms",
        "dr",
        "breaking",
        "exclusive",
        "analysis",
        "opinion",
        "explainer",
        "video",
        "photos",
        "el",
        "la",
        "los",
        "las",
        "de",
        "del",
        "y",
        "en",
        "un",
        "una",
        "por",
        "para",
        "con",
        "que",
        "se",
        "al",
        "lo",
        "es",
        "su",
        "le",
        "les",
        "des",
        "du",
        "et",
        "au",
        "aux",
        "une",
        "pour",
        "par",
        "sur",
        "dans",
    ]
)

_DISPLAY_WORD = re.compile(r"[^\W_]+(?:['’][^\W\d_]+)?")


def _is_name_word(word: str) -> bool:
    return len(word) >= 2 and word[0].isupper() and fold(word) not in _STOP_WORDS


def suggest_topics(titles: Sequence[str], n: int = 5) -> list[str]:
    """A few topics for /start buttons: frequent capitalised names in recent headlines."""
    words: Counter[str] = Counter()
    pairs: Counter[tuple[str, str]] = Counter()
    first_seen: dict[str, int] = {}
    display: dict[str, Counter[str]] = {}
    mid_sentence: set[str] = set()
    order = 0

    def note(key: str, shown: str) -> None:
        nonlocal order
        display.setdefault(key, Counter())[shown] += 1
        if key not in first_seen:
            first_seen[key] = order
            order += 1

    titled: list[list[tuple[str, bool, bool]]] = []
    for title in titles:
        matches = list(_DISPLAY_WORD.finditer(title))
        if not matches:
            continue
        # Title Case headlines capitalise every longer word, so they say nothing about names.
        if len(matches) >= 4 and not any(
            len(m.group()) >= 4 and m.group()[0].islower() for m in matches
        ):
            continue
        row: list[tuple[str, bool, bool]] = []
        previous_end = -1
        for position, match in enumerate(matches):
            word = match.group()
            # A possessive's "'s" is not part of the name: "Bolivia's" -> "Bolivia".
            if word[-2:] in ("'s", "’s"):
                word = word[:-2]
            adjacent = previous_end >= 0 and title[previous_end : match.start()].isspace()
            previous_end = match.end() if word == match.group() else -1
            row.append((word, position == 0, adjacent))
            if position > 0 and _is_name_word(word):
                mid_sentence.add(fold(word))
        titled.append(row)

    for row in titled:
        for i, (word, initial, adjacent) in enumerate(row):
            if not _is_name_word(word):
                continue
            key = fold(word)
            if initial and key not in mid_sentence:
                continue
            words[key] += 1
            note(key, word)
            if i > 0 and adjacent:
                prev_word, prev_initial, _ = row[i - 1]
                prev_key = fold(prev_word)
                # A capitalised article mid-sentence starts a name: "La Paz", "El Alto".
                if (
                    _is_name_word(prev_word) and (not prev_initial or prev_key in mid_sentence)
                ) or (not prev_initial and len(prev_word) >= 2 and prev_word[0].isupper()):
                    pairs[(prev_key, key)] += 1
                    note(f"{prev_key} {key}", f"{prev_word} {word}")

    scores: Counter[str] = Counter(words)
    in_names: dict[str, int] = {}
    for (left, right), count in pairs.items():
        # A pair that accounts for most uses of its words is a name ("South Africa"): prefer it.
        if count >= 2 and count * 2 >= min(words[left] or count, words[right]):
            scores[f"{left} {right}"] = count
            for word in (left, right):
                scores[word] -= count
                in_names[word] = max(in_names.get(word, 0), count)
    for word, count in in_names.items():
        # Mostly seen inside a name: the name alone stands for it ("Morales" in "Evo Morales").
        if scores[word] < count:
            del scores[word]

    ranked = sorted(
        (key for key, score in scores.items() if score > 0),
        key=lambda key: (-scores[key], first_seen[key]),
    )
    suggestions: list[str] = []
    taken: set[str] = set()
    for key in ranked:
        shown = display[key].most_common(1)[0][0]
        normalized = normalize_topic(shown)
        if normalized is None or normalized in taken:
            continue
        if len(("t:" + normalized).encode()) > 64 or len(shown) > MAX_TOPIC_CHARS:
            continue
        taken.add(normalized)
        suggestions.append(shown)
        if len(suggestions) >= n:
            break
    return suggestions
