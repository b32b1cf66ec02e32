"""The topic index: subscriptions keyed by their parts' first words, routing in O(headline).

Pure: no I/O. It routes with the semantics of :func:`bot.text.query.matches` (stems in the
headline's language, exact parts, `+` parts in any order, `-` exclusions, mutes, feeds and
`*`), and routing a headline costs time in proportion to its length and to the topics it
mentions, not to the number of subscriptions.

Feeds: a headline's terms name the feeds that carry it (`HeadlineTerms.feeds`). A topic
limited to feeds (`bolivia from:#12`) is found by its words, then kept for a copy of its
feeds; a topic of feeds alone (`from:#12`, the mute `-from:#12`) is kept per feed, and `*`
once: routing finds them from the headline's feeds, never by looking at chats. A story
several feeds carry goes to a chat when one copy reaches it: a topic of the chat matches that
copy and no mute of the chat does (so a chat that mutes one feed still gets the story from
the other). The router routes each copy as it arrives, with the feeds of the copies before
it: a copy goes only to the chats its own feed reaches and theirs did not, so a story reaches
a chat once.
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

from bot.text.language import stemmer_name, stems, words
from bot.text.query import HeadlineTerms, Part, Refusal, Topic, is_mute_text, parse_topic

__all__ = ["Route", "TopicIndex", "topic_of_key"]

_UNSTEMMED = "none"


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
    mute = is_mute_text(text)
    found = tuple(words(text))
    if not found:
        return None
    plain = " ".join(found)
    return Topic(key, "-" + plain if mute else plain, mute, (Part(found),))


@dataclass(frozen=True, slots=True)
class _Compiled:
    mute: bool
    parts: tuple[int, ...]  # part ids, all required
    excluded: tuple[int, ...]  # part ids, none allowed
    feeds: frozenset[int] | None = None  # only headlines these feeds carry (None: any feed)


# first token -> part id -> the part's tokens (words for exact parts, stems for the others)
_Lookup = dict[str, dict[int, tuple[str, ...]]]


def _drop(table: dict[int, list[str]], pid: int, key: str) -> None:
    keys = table[pid]
    keys.remove(key)
    if not keys:
        del table[pid]


class TopicIndex:
    """Subscriptions indexed by their parts' first words, so routing never loops over chats.

    Memory: 8 bytes per subscription (each topic's chats in a sorted array), one small tuple
    of interned topic keys per chat, and a dict entry only for subscriptions posting to a
    thread. Parts are kept once, as small ints, however many topics and chats share them;
    the stems of the stemmed parts are worked out once per language headlines come in.

    A topic is checked only when it can match: one of one part when that part occurs, one
    of several parts (`a + b`) when its first two both occur, found through a table of
    pairs, so a popular word in thousands of `word + x` topics costs nothing extra.
    """

    __slots__ = (
        "_bound",
        "_by_chat",
        "_by_feed",
        "_count",
        "_everything",
        "_exact",
        "_next_part",
        "_pairs",
        "_part_ids",
        "_parts",
        "_refs",
        "_simple",
        "_single",
        "_stemmed",
        "_subscribers",
        "_threads",
        "_topics",
    )

    def __init__(self) -> None:
        # topic key -> what it matches
        self._topics: dict[str, _Compiled] = {}
        # parts: id <-> part, and how many topics use each
        self._part_ids: dict[Part, int] = {}
        self._parts: dict[int, Part] = {}
        self._refs: dict[int, int] = {}
        self._next_part = 0
        self._exact: _Lookup = {}
        # stemmer name ('none': no stemmer) -> lookup of the stemmed parts in its stems
        self._stemmed: dict[str, _Lookup] = {}
        # part -> topics of that one part and no exclusion / with exclusions
        self._simple: dict[int, list[str]] = {}
        self._single: dict[int, list[str]] = {}
        # first part -> second part -> topics of two or more parts
        self._pairs: dict[int, dict[int, list[str]]] = {}
        # topic key -> its chats, sorted (or its one chat: 8 bytes instead of 80)
        self._subscribers: dict[str, array[int] | int] = {}
        # topic -> chat -> thread, for the few subscriptions that post to a forum thread
        self._threads: dict[str, dict[int, int]] = {}
        # chat -> its topics
        self._by_chat: dict[int, tuple[str, ...]] = {}
        self._count = 0
        # feed id -> topics of that feed and no words (`from:#12`, `-from:#12`, `from:#12 -x`)
        self._by_feed: dict[int, list[str]] = {}
        self._everything: str | None = None  # `*`, while a chat follows it
        self._bound = 0  # topics limited to feeds: none, and routing never looks at feeds

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
            parts = tuple(self._use_part(p) for p in parsed.parts)
            excluded = tuple(self._use_part(p) for p in parsed.excluded)
            feeds = parsed.feed_ids if parsed.sources else None
            self._topics[key] = _Compiled(parsed.mute, parts, excluded, feeds)
            if feeds is not None:
                self._bound += 1
            if parsed.everything:
                self._everything = key
            elif not parts:
                for feed in feeds or ():
                    self._by_feed.setdefault(feed, []).append(key)
            elif len(parts) == 1:
                table = self._single if excluded else self._simple
                table.setdefault(parts[0], []).append(key)
            else:
                self._pairs.setdefault(parts[0], {}).setdefault(parts[1], []).append(key)
        return key

    def _use_part(self, part: Part) -> int:
        pid = self._part_ids.get(part)
        if pid is not None:
            self._refs[pid] += 1
            return pid
        pid = self._next_part
        self._next_part += 1
        self._part_ids[part] = pid
        self._parts[pid] = part
        self._refs[pid] = 1
        if part.exact:
            tokens = tuple(sys.intern(w) for w in part.words)
            self._exact.setdefault(tokens[0], {})[pid] = tokens
        else:
            for name, lookup in self._stemmed.items():
                self._add_stemmed(lookup, name, pid, part)
        return pid

    @staticmethod
    def _add_stemmed(lookup: _Lookup, name: str, pid: int, part: Part) -> None:
        stemmed = part.words if name == _UNSTEMMED else tuple(stems(part.words, name))
        tokens = tuple(sys.intern(s) for s in stemmed)
        lookup.setdefault(tokens[0], {})[pid] = tokens

    def _release_part(self, pid: int) -> None:
        self._refs[pid] -= 1
        if self._refs[pid]:
            return
        del self._refs[pid]
        part = self._parts.pop(pid)
        del self._part_ids[part]
        lookups = [self._exact] if part.exact else list(self._stemmed.values())
        for lookup in lookups:
            for first, candidates in list(lookup.items()):
                if candidates.pop(pid, None) is not None and not candidates:
                    del lookup[first]

    def _drop_topic(self, key: str) -> None:
        compiled = self._topics.pop(key)
        parts = compiled.parts
        if compiled.feeds is not None:
            self._bound -= 1
        if key == self._everything:
            self._everything = None
        elif not parts:
            for feed in compiled.feeds or ():
                _drop(self._by_feed, feed, key)
        elif len(parts) == 1:
            _drop(self._single if compiled.excluded else self._simple, parts[0], key)
        else:
            seconds = self._pairs[parts[0]]
            _drop(seconds, parts[1], key)
            if not seconds:
                del self._pairs[parts[0]]
        for pid in (*parts, *compiled.excluded):
            self._release_part(pid)

    def _stemmed_lookup(self, language: str) -> _Lookup:
        name = stemmer_name(language) or _UNSTEMMED
        lookup = self._stemmed.get(name)
        if lookup is None:
            lookup = self._stemmed[name] = {}
            for pid, part in self._parts.items():
                if not part.exact:
                    self._add_stemmed(lookup, name, pid, part)
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
        topics = self._by_chat.get(chat_id)
        if topics is None:
            self._by_chat[chat_id] = (topic,)
            self._count += 1
        elif topic not in topics:
            self._by_chat[chat_id] = (*topics, topic)
            self._count += 1
        subscribers = self._subscribers.get(topic)
        if subscribers is None:
            self._subscribers[topic] = chat_id  # most `a + b` topics have one chat
        elif isinstance(subscribers, int):
            if subscribers != chat_id:
                self._subscribers[topic] = array("q", sorted((subscribers, chat_id)))
        else:
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
        self._set_thread(topic, chat_id, None)
        self._count -= 1
        if isinstance(subscribers, array):
            del subscribers[bisect_left(subscribers, chat_id)]
            if len(subscribers) == 1:
                self._subscribers[topic] = subscribers[0]
            if subscribers:
                return
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
    def _scan(tokens: Sequence[str], lookup: _Lookup, found: set[int]) -> None:
        n_tokens = len(tokens)
        for i, token in enumerate(tokens):
            candidates = lookup.get(token)
            if candidates is None:
                continue
            for pid, seq in candidates.items():
                n = len(seq)
                if n == 1 or (i + n <= n_tokens and tuple(tokens[i : i + n]) == seq):
                    found.add(pid)

    def _matching_ids(self, terms: HeadlineTerms) -> set[int]:
        found: set[int] = set()
        if self._exact:
            self._scan(terms.words, self._exact, found)
        lookup = self._stemmed_lookup(terms.language)
        if lookup:
            self._scan(terms.stems, lookup, found)
        return found

    def matching_topics(self, terms: HeadlineTerms) -> set[str]:
        """The indexed topic keys (mutes included) that match a headline."""
        return self._topics_from(self._matching_ids(terms))

    def _topics_from(self, matched: set[int]) -> set[str]:
        result: set[str] = set()
        topics = self._topics
        simple, single, pairs = self._simple, self._single, self._pairs
        for pid in matched:
            keys = simple.get(pid)
            if keys is not None:
                result.update(keys)
            keys = single.get(pid)
            if keys is not None:
                for key in keys:
                    if not any(e in matched for e in topics[key].excluded):
                        result.add(key)
            seconds = pairs.get(pid)
            if seconds is None:
                continue
            if len(seconds) <= len(matched):
                groups = [ks for second, ks in seconds.items() if second in matched]
            else:
                groups = [ks for second in matched if (ks := seconds.get(second)) is not None]
            for keys in groups:
                for key in keys:
                    compiled = topics[key]
                    if len(compiled.parts) > 2 and not all(p in matched for p in compiled.parts):
                        continue
                    if compiled.excluded and any(e in matched for e in compiled.excluded):
                        continue
                    result.add(key)
        return result

    def _on_copy(self, found: set[str], matched: set[int], feed: int | None) -> set[str]:
        """The topics (mutes included) that match the copy of a headline a feed carries (None:
        a headline of no known feed), given the topics its words match."""
        topics = self._topics
        if self._bound:
            keys = {
                k
                for k in found
                if (feeds := topics[k].feeds) is None or (feed is not None and feed in feeds)
            }
        else:
            keys = set(found)
        if feed is not None:
            for key in self._by_feed.get(feed, ()):
                excluded = topics[key].excluded
                if not excluded or not any(e in matched for e in excluded):
                    keys.add(key)
        if self._everything is not None:
            keys.add(self._everything)
        return keys

    def route(self, terms: HeadlineTerms, *, before: Sequence[int] = ()) -> dict[int, Route]:
        """Chats with a matching topic and no matching mute, and what matched for each.

        A headline several feeds carry (terms.feeds) goes to a chat when one copy does (see
        the module's docstring). `before` are the feeds of the copies routed already: the
        chats one of them reaches are left out, so a late copy adds only its own feed's.

        Chats with the same outcome share one (immutable) Route object, so the common case
        (one matching topic, no thread) costs a C-level dict insertion per chat.
        """
        matched = self._matching_ids(terms)
        found = self._topics_from(matched)
        if not self._bound and not self._by_feed and self._everything is None:
            # no topic depends on the feed: every copy reaches the same chats
            return {} if before else self._routes(found)
        copies = [self._on_copy(found, matched, feed) for feed in terms.feeds or (None,)]
        earlier = [self._on_copy(found, matched, feed) for feed in before]
        if len(copies) == 1 and copies[0] in earlier:
            return {}  # a copy routed already reached exactly these chats
        routes = self._routes(copies[0])
        for keys in copies[1:]:
            for chat_id, route in self._routes(keys).items():
                known = routes.get(chat_id)
                if known is None:
                    routes[chat_id] = route
                elif known != route:
                    both = tuple(sorted({*known.topics, *route.topics}))
                    routes[chat_id] = Route(self._thread(both[0], chat_id), both)
        for keys in earlier:
            if not routes:
                break
            for chat_id in self._routes(keys):
                routes.pop(chat_id, None)
        return routes

    def _routes(self, found: set[str]) -> dict[int, Route]:
        """The chats these matching topics (mutes included) reach, and what matched."""
        if not found:
            return {}
        subscribers = self._subscribers
        topics = self._topics
        phrases = sorted(k for k in found if not topics[k].mute)
        if not phrases:
            return {}
        routes: dict[int, Route] = {}
        several: set[int] = set()  # chats more than one topic matched
        for phrase in phrases:
            chats = subscribers[phrase]
            if isinstance(chats, int):
                if chats in routes:
                    several.add(chats)
                else:
                    routes[chats] = Route(None, (phrase,))
                continue
            if routes:
                several |= routes.keys() & chats
            routes.update(dict.fromkeys(chats, Route(None, (phrase,))))
        for phrase in phrases:
            threads = self._threads.get(phrase)
            if threads:
                for chat_id, thread_id in threads.items():
                    if chat_id not in several:
                        routes[chat_id] = Route(thread_id, (phrase,))
        by_chat = self._by_chat
        for chat_id in several:
            # a chat has a handful of topics, a headline may match thousands of them
            matched = tuple(sorted(t for t in by_chat[chat_id] if t in found))
            matched = tuple(t for t in matched if not topics[t].mute)
            routes[chat_id] = Route(self._thread(matched[0], chat_id), matched)
        for key in found:
            if topics[key].mute:
                mutes = subscribers[key]
                for chat_id in (mutes,) if isinstance(mutes, int) else mutes:
                    routes.pop(chat_id, None)
        return routes
