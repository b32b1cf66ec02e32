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
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from bot.text.language import stemmer_name, stems, words
from bot.text.query import HeadlineTerms, Part, Refusal, Topic, is_mute_text, parse_topic

__all__ = ["Plan", "Route", "TopicIndex", "topic_of_key"]

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
    number: int = 0  # where the topic's key is in TopicIndex._keys (chats list topics so)


# first token -> part id -> the part's tokens (words for exact parts, stems for the others)
_Lookup = dict[str, dict[int, tuple[str, ...]]]


def _drop(table: dict[int, list[str]], pid: int, key: str) -> None:
    keys = table[pid]
    keys.remove(key)
    if not keys:
        del table[pid]


# second part -> the topic of those two first parts, or the topics when several share them
_Seconds = dict[int, "str | list[str]"]


class TopicIndex:
    """Subscriptions indexed by their parts' first words, so routing never loops over chats.

    Memory: 8 bytes per subscription in its topic's sorted array of chats, and 4 in its
    chat's list of topic numbers: chats added in increasing id order (as the start-up load
    adds them) are three flat arrays (the chats, where each one's topics start, the topics'
    numbers), about 12 bytes a chat; a chat changed afterwards is a small tuple in a dict
    that overrides them. A dict entry only for subscriptions posting to a thread. Parts are
    kept once, as small ints, however many topics and chats share them; the stems of the
    stemmed parts are worked out once per language headlines come in.

    A topic is checked only when it can match: one of one part when that part occurs, one
    of several parts (`a + b`) when its first two both occur, found through a table of
    pairs, so a popular word in thousands of `word + x` topics costs nothing extra.
    """

    __slots__ = (
        "_base_chats",
        "_base_numbers",
        "_base_starts",
        "_bound",
        "_by_feed",
        "_changed",
        "_count",
        "_everything",
        "_exact",
        "_keys",
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
        self._pairs: dict[int, _Seconds] = {}
        # topic key -> its chats, sorted (or its one chat: 8 bytes instead of 80)
        self._subscribers: dict[str, array[int] | int] = {}
        # topic -> chat -> thread, for the few subscriptions that post to a forum thread
        self._threads: dict[str, dict[int, int]] = {}
        # chat -> its topics: chats added in increasing id order, each with its topics'
        # numbers (the `_keys` they stand at) from its start to the next chat's; `_changed`
        # overrides them for a chat changed since (an empty tuple: none left)
        self._base_chats: array[int] = array("q")
        self._base_starts: array[int] = array("I")
        self._base_numbers: array[int] = array("I")
        self._changed: dict[int, tuple[str, ...]] = {}
        self._keys: list[str | None] = []  # topic keys by number (None: dropped)
        self._count = 0
        # feed id -> topics of that feed and no words (`from:#12`, `-from:#12`, `from:#12 -x`)
        self._by_feed: dict[int, list[str]] = {}
        self._everything: str | None = None  # `*`, while a chat follows it
        self._bound = 0  # topics limited to feeds: none, and routing never looks at feeds

    def __len__(self) -> int:
        return self._count

    def __contains__(self, chat_id: object) -> bool:
        return isinstance(chat_id, int) and bool(self._topics_of_chat(chat_id))

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
            self._topics[key] = _Compiled(parsed.mute, parts, excluded, feeds, len(self._keys))
            self._keys.append(key)
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
                seconds = self._pairs.setdefault(parts[0], {})
                known = seconds.get(parts[1])
                if known is None:
                    seconds[parts[1]] = key  # most pairs of parts are one topic's
                elif isinstance(known, str):
                    seconds[parts[1]] = [known, key]
                else:
                    known.append(key)
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
        self._keys[compiled.number] = None  # no chat lists it any longer
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
            known = seconds[parts[1]]
            if isinstance(known, str):
                del seconds[parts[1]]
            else:
                known.remove(key)
                if len(known) == 1:
                    seconds[parts[1]] = known[0]
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

    def _topics_of_chat(self, chat_id: int) -> tuple[str, ...]:
        """A chat's topic keys, in the order it took them."""
        changed = self._changed.get(chat_id)
        if changed is not None:
            return changed
        chats = self._base_chats
        i = bisect_left(chats, chat_id)
        if i == len(chats) or chats[i] != chat_id:
            return ()
        starts = self._base_starts
        end = starts[i + 1] if i + 1 < len(starts) else len(self._base_numbers)
        keys = self._keys
        return tuple(keys[n] or "" for n in self._base_numbers[starts[i] : end])

    def _take(self, chat_id: int, topic: str, topics: tuple[str, ...]) -> None:
        """Add a topic to a chat's list: in place when the chat is the last one loaded."""
        chats = self._base_chats
        if chat_id not in self._changed:
            number = self._topics[topic].number
            if not chats or chat_id > chats[-1]:  # the start-up load, chat by chat
                chats.append(chat_id)
                self._base_starts.append(len(self._base_numbers))
                self._base_numbers.append(number)
                return
            if chat_id == chats[-1]:
                self._base_numbers.append(number)
                return
        self._changed[chat_id] = (*topics, topic)

    def add(self, chat_id: int, topic: str, thread_id: int | None = None) -> None:
        """Subscribe a chat to a topic, by key or text (re-adding updates the thread)."""
        topic = self._canonical(topic)
        topics = self._topics_of_chat(chat_id)
        if topic not in topics:
            self._take(chat_id, topic, topics)
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
        topics = self._topics_of_chat(chat_id)
        if key is None or key not in topics:
            return False
        self._unsubscribe(key, chat_id)
        self._changed[chat_id] = tuple(t for t in topics if t != key)
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
        topics = self._topics_of_chat(chat_id)
        if topics:
            self._changed[chat_id] = ()
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
        return {t: self._thread(t, chat_id) for t in self._topics_of_chat(chat_id)}

    def chat_ids(self) -> list[int]:
        """Every chat with at least one subscription."""
        changed = self._changed
        found = [c for c in self._base_chats if c not in changed]
        found.extend(c for c, topics in changed.items() if topics)
        return found

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
            for found in groups:
                for key in (found,) if isinstance(found, str) else found:
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

    def plan(self, terms: HeadlineTerms, *, before: Sequence[int] = ()) -> Plan:
        """What a headline matches, before any chat is listed: see :meth:`route`.

        Costs time in proportion to the headline's text and the topics it matches; the
        chats follow from the plan a range of chat ids at a time (:meth:`routes_in`).
        """
        matched = self._matching_ids(terms)
        found = self._topics_from(matched)
        if not self._bound and not self._by_feed and self._everything is None:
            # no topic depends on the feed: every copy reaches the same chats
            return _NOWHERE if before else Plan((self._reach(found),))
        copies = [self._on_copy(found, matched, feed) for feed in terms.feeds or (None,)]
        earlier = [self._on_copy(found, matched, feed) for feed in before]
        if len(copies) == 1 and copies[0] in earlier:
            return _NOWHERE  # a copy routed already reached exactly these chats
        return Plan(
            tuple(self._reach(keys) for keys in copies),
            tuple(self._reach(keys) for keys in earlier),
        )

    def route(self, terms: HeadlineTerms, *, before: Sequence[int] = ()) -> dict[int, Route]:
        """Chats with a matching topic and no matching mute, and what matched for each.

        A headline several feeds carry (terms.feeds) goes to a chat when one copy does (see
        the module's docstring). `before` are the feeds of the copies routed already: the
        chats one of them reaches are left out, so a late copy adds only its own feed's.

        Chats with the same outcome share one (immutable) Route object, so the common case
        (one matching topic, no thread) costs a C-level dict insertion per chat.
        """
        return self.routes_in(self.plan(terms, before=before))

    def routes_in(
        self, plan: Plan, after: int | None = None, upto: int | None = None
    ) -> dict[int, Route]:
        """The routes of a planned headline to the chats whose ids are above `after` and at
        most `upto` (None: no bound), as :meth:`route` gives them."""
        if not plan.copies:
            return {}
        routes = self._routes_in(plan.copies[0], after, upto)
        for reach in plan.copies[1:]:
            for chat_id, route in self._routes_in(reach, after, upto).items():
                known = routes.get(chat_id)
                if known is None:
                    routes[chat_id] = route
                elif known != route:
                    both = tuple(sorted({*known.topics, *route.topics}))
                    routes[chat_id] = Route(self._thread(both[0], chat_id), both)
        for reach in plan.earlier:
            if not routes:
                break
            for chat_id in self._routes_in(reach, after, upto):
                routes.pop(chat_id, None)
        return routes

    def _reach(self, found: set[str]) -> _Reach:
        """These matching topics' (mutes included) subscribers, laid out for routes_in."""
        topics = self._topics
        subscribers = self._subscribers
        arrays: list[tuple[str, array[int]]] = []
        singles: list[tuple[int, str]] = []
        mute_arrays: list[array[int]] = []
        mute_singles: list[int] = []
        threaded: list[tuple[str, dict[int, int]]] = []
        for key in sorted(found):
            chats = subscribers[key]
            if topics[key].mute:
                if isinstance(chats, int):
                    mute_singles.append(chats)
                else:
                    mute_arrays.append(chats)
                continue
            if isinstance(chats, int):
                singles.append((chats, key))
            else:
                arrays.append((key, chats))
            threads = self._threads.get(key)
            if threads:
                threaded.append((key, threads))
        singles.sort()
        return _Reach(
            tuple(arrays),
            array("q", [chat for chat, _ in singles]),
            tuple(key for _, key in singles),
            tuple(threaded),
            tuple(mute_arrays),
            array("q", sorted(mute_singles)),
        )

    def _routes_in(self, reach: _Reach, after: int | None, upto: int | None) -> dict[int, Route]:
        """The chats one set of matching topics reaches in a range of ids, and what matched."""
        routes: dict[int, Route] = {}
        several: set[int] = set()  # chats more than one topic matched
        parts: list[tuple[str, array[int]]] = []
        for phrase, chats in reach.arrays:
            part = _cut(chats, after, upto)
            if not part:
                continue
            parts.append((phrase, part))
            if routes:
                several |= routes.keys() & part
            routes.update(dict.fromkeys(part, Route(None, (phrase,))))
        chats = reach.single_chats
        lo, hi = _span(chats, after, upto)
        for i in range(lo, hi):
            chat_id = chats[i]
            if chat_id in routes:
                several.add(chat_id)
            else:
                routes[chat_id] = Route(None, (reach.single_keys[i],))
        if not routes:
            return routes
        for phrase, threads in reach.threaded:
            for chat_id, thread_id in threads.items():
                if chat_id in routes and chat_id not in several:
                    routes[chat_id] = Route(thread_id, (phrase,))
        if several:
            # what matched each of them: the topics whose chats in the range hold it
            matched: dict[int, list[str]] = {chat_id: [] for chat_id in several}
            for phrase, part in parts:
                for chat_id in several.intersection(part):
                    matched[chat_id].append(phrase)
            for i in range(lo, hi):
                topics = matched.get(chats[i])
                if topics is not None:
                    topics.append(reach.single_keys[i])
            for chat_id, topics in matched.items():
                topics.sort()
                routes[chat_id] = Route(self._thread(topics[0], chat_id), tuple(topics))
        for mutes in reach.mute_arrays:
            for chat_id in _cut(mutes, after, upto):
                routes.pop(chat_id, None)
        mutes = reach.mute_singles
        lo, hi = _span(mutes, after, upto)
        for i in range(lo, hi):
            routes.pop(mutes[i], None)
        return routes

    def reached(self, plan: Plan) -> Iterator[array[int]]:
        """The subscribers of the topics a planned headline matches (a chat several times
        when several of its topics match): what a pass samples to cut its chat ranges."""
        for reach in plan.copies:
            for _, chats in reach.arrays:
                yield chats
            yield reach.single_chats


def _span(chats: array[int], after: int | None, upto: int | None) -> tuple[int, int]:
    """Where the chats above `after` and at most `upto` are in a sorted array."""
    lo = 0 if after is None else bisect_right(chats, after)
    hi = len(chats) if upto is None else bisect_right(chats, upto)
    return lo, hi


def _cut(chats: array[int], after: int | None, upto: int | None) -> array[int]:
    if after is None and upto is None:
        return chats
    lo, hi = _span(chats, after, upto)
    return chats[lo:hi]


@dataclass(frozen=True, slots=True)
class _Reach:
    """The subscribers of a set of matching topics: those of several chats (their arrays,
    shared with the index), those of one (sorted by chat), the threads, the mutes'."""

    arrays: tuple[tuple[str, array[int]], ...]
    single_chats: array[int]
    single_keys: tuple[str, ...]
    threaded: tuple[tuple[str, dict[int, int]], ...]
    mute_arrays: tuple[array[int], ...]
    mute_singles: array[int]


@dataclass(frozen=True, slots=True)
class Plan:
    """What one headline matches (TopicIndex.plan): the subscribers each copy of it reaches
    and those the copies routed before reached. It holds no chat of its own: the chats a
    range of ids holds follow from it (TopicIndex.routes_in), so a routing pass can list its
    pushes a range at a time instead of holding them all."""

    copies: tuple[_Reach, ...] = ()
    earlier: tuple[_Reach, ...] = ()

    @property
    def pushes(self) -> int:
        """At most how many chats it reaches (a chat counted once per matching topic)."""
        return sum(
            sum(len(chats) for _, chats in reach.arrays) + len(reach.single_chats)
            for reach in self.copies
        )


_NOWHERE = Plan()
