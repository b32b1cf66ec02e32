"""The topic index: subscriptions keyed by their parts' first words, routing in O(headline).

Pure: no I/O. It routes with the semantics of :func:`bot.query.matches` (stems in the
headline's language, exact parts, `+` parts in any order, `-` exclusions, mutes), and routing
a headline costs time in proportion to its length and to the topics it mentions, not to the
number of subscriptions.
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.language import stemmer_name, stems, words
from bot.query import HeadlineTerms, Part, Refusal, Topic, parse_topic

__all__ = ["Route", "TopicIndex", "topic_of_key"]

_UNSTEMMED = "none"
_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2212"


@dataclass(frozen=True, slots=True)
class Route:
    """Where one headline goes in one chat, and which of the chat's topics it matched."""

    thread_id: int | None
    topics: tuple[str, ...]


def topic_of_key(key: str) -> Topic | None:
    """The topic a stored key (or any topic text) stands for; None when it has no words.

    A key the parser would refuse today (written by an older version, say) still means its
    words as one plain part, so a chat never silently loses a topic it follows.
    """
    parsed = parse_topic(key)
    if not isinstance(parsed, Refusal):
        return parsed
    text = key.strip()
    mute = bool(text) and text[0] in _DASHES
    found = tuple(words(text))
    if not found:
        return None
    plain = " ".join(found)
    return Topic(key, "-" + plain if mute else plain, mute, (Part(found),))


@dataclass(frozen=True, slots=True)
class _Compiled:
    mute: bool
    parts: tuple[Part, ...]
    excluded: tuple[Part, ...]


# first token -> part -> the part's tokens (words for exact parts, stems for the others)
_Lookup = dict[str, dict[Part, tuple[str, ...]]]


class TopicIndex:
    """Subscriptions indexed by their parts' first words, so routing never loops over chats.

    Memory: 8 bytes per subscription (each topic's chats in a sorted array), one small tuple
    of interned topic keys per chat, and a dict entry only for subscriptions posting to a
    thread. Parts are kept once however many topics and chats share them; the stems of the
    stemmed parts are worked out once per language the headlines come in.
    """

    __slots__ = (
        "_by_chat",
        "_count",
        "_exact",
        "_parts",
        "_stemmed",
        "_subscribers",
        "_threads",
        "_topics",
    )

    def __init__(self) -> None:
        # topic key -> what it matches
        self._topics: dict[str, _Compiled] = {}
        # part -> the topic keys using it (positively or as an exclusion)
        self._parts: dict[Part, set[str]] = {}
        self._exact: _Lookup = {}
        # stemmer name ('none': no stemmer) -> lookup of the stemmed parts in its stems
        self._stemmed: dict[str, _Lookup] = {}
        # topic key -> its chats, sorted
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

    # --- topics and their parts ---------------------------------------------------------

    def _canonical(self, topic: str) -> str:
        if topic in self._topics:
            return sys.intern(topic)  # the key's own object, shared by every chat
        parsed = topic_of_key(topic)
        if parsed is None:
            raise ValueError(f"not a valid topic: {topic!r}")
        key = sys.intern(parsed.key)
        if key not in self._topics:
            self._topics[key] = _Compiled(parsed.mute, parsed.parts, parsed.excluded)
            for part in (*parsed.parts, *parsed.excluded):
                self._use_part(part, key)
        return key

    def _use_part(self, part: Part, key: str) -> None:
        users = self._parts.get(part)
        if users is not None:
            users.add(key)
            return
        self._parts[part] = {key}
        if part.exact:
            tokens = tuple(sys.intern(w) for w in part.words)
            self._exact.setdefault(tokens[0], {})[part] = tokens
        else:
            for name, lookup in self._stemmed.items():
                self._add_stemmed(lookup, name, part)

    @staticmethod
    def _add_stemmed(lookup: _Lookup, name: str, part: Part) -> None:
        stemmed = part.words if name == _UNSTEMMED else tuple(stems(part.words, name))
        tokens = tuple(sys.intern(s) for s in stemmed)
        lookup.setdefault(tokens[0], {})[part] = tokens

    def _drop_topic(self, key: str) -> None:
        compiled = self._topics.pop(key)
        for part in (*compiled.parts, *compiled.excluded):
            users = self._parts[part]
            users.discard(key)
            if users:
                continue
            del self._parts[part]
            lookups = [self._exact] if part.exact else list(self._stemmed.values())
            for lookup in lookups:
                for first, candidates in list(lookup.items()):
                    if candidates.pop(part, None) is not None and not candidates:
                        del lookup[first]

    def _stemmed_lookup(self, language: str) -> _Lookup:
        name = stemmer_name(language) or _UNSTEMMED
        lookup = self._stemmed.get(name)
        if lookup is None:
            lookup = self._stemmed[name] = {}
            for part in self._parts:
                if not part.exact:
                    self._add_stemmed(lookup, name, part)
        return lookup

    # --- subscriptions ------------------------------------------------------------------

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
        """Subscribe a chat to a topic, by key or text (re-adding updates the thread)."""
        topic = self._canonical(topic)
        subscribers = self._subscribers.get(topic)
        if subscribers is None:
            subscribers = self._subscribers[topic] = array("q")
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

    def _key_of(self, topic: str) -> str | None:
        if topic in self._topics:
            return topic
        parsed = topic_of_key(topic)
        return None if parsed is None else parsed.key

    def remove(self, chat_id: int, topic: str) -> bool:
        """Unsubscribe a chat from a topic; False when it was not subscribed."""
        key = self._key_of(topic)
        if key is None or key not in self._by_chat.get(chat_id, ()):
            return False
        self._unsubscribe(key, chat_id)
        remaining = tuple(t for t in self._by_chat[chat_id] if t != key)
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
        if not subscribers:
            del self._subscribers[topic]
            self._drop_topic(topic)

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
        """A chat's topics (keys) and the thread each one posts to."""
        return {t: self._thread(t, chat_id) for t in self._by_chat.get(chat_id, ())}

    def chat_ids(self) -> list[int]:
        """Every chat with at least one subscription."""
        return list(self._by_chat)

    # --- routing ------------------------------------------------------------------------

    @staticmethod
    def _scan(tokens: Sequence[str], lookup: _Lookup, found: set[Part]) -> None:
        n_tokens = len(tokens)
        for i, token in enumerate(tokens):
            candidates = lookup.get(token)
            if candidates is None:
                continue
            for part, seq in candidates.items():
                n = len(seq)
                if n == 1 or (i + n <= n_tokens and tuple(tokens[i : i + n]) == seq):
                    found.add(part)

    def matching_parts(self, terms: HeadlineTerms) -> set[Part]:
        """The indexed parts that occur in a headline; O(len(headline) + candidates)."""
        found: set[Part] = set()
        if self._exact:
            self._scan(terms.words, self._exact, found)
        lookup = self._stemmed_lookup(terms.language)
        if lookup:
            self._scan(terms.stems, lookup, found)
        return found

    def matching_topics(self, terms: HeadlineTerms) -> set[str]:
        """The indexed topic keys (mutes included) that match a headline."""
        found = self.matching_parts(terms)
        return self._topics_from(found)

    def _topics_from(self, found: Iterable[Part]) -> set[str]:
        matched = found if isinstance(found, set) else set(found)
        result: set[str] = set()
        checked: set[str] = set()
        topics = self._topics
        for part in matched:
            for key in self._parts[part]:
                if key in checked:
                    continue
                checked.add(key)
                compiled = topics[key]
                if all(p in matched for p in compiled.parts) and not any(
                    p in matched for p in compiled.excluded
                ):
                    result.add(key)
        return result

    def route(self, terms: HeadlineTerms) -> dict[int, Route]:
        """Chats with a matching topic and no matching mute, and what matched for each.

        Chats with the same outcome share one (immutable) Route object, so the common case
        (one matching topic, no thread) costs a C-level dict insertion per chat.
        """
        found = self.matching_topics(terms)
        if not found:
            return {}
        subscribers = self._subscribers
        topics = self._topics
        phrases = sorted(k for k in found if not topics[k].mute)
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
            matched = tuple(p for p in phrases if p in mine)
            routes[chat_id] = Route(self._thread(matched[0], chat_id), matched)
        for key in found:
            if topics[key].mute:
                for chat_id in subscribers[key]:
                    routes.pop(chat_id, None)
        return routes
