"""The topic index: subscriptions keyed by a phrase's first word, routing in O(headline).

Pure: no I/O. Routing a headline costs time in proportion to its length, not to the number
of subscriptions.
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

from bot.matching.tokens import normalize_topic, topic_phrase

__all__ = ["Route", "TopicIndex"]


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
