"""A chat's whole life: registering, pausing, resuming, deactivating, migrating, its topics.

ChatService is the one owner of that life. It keeps the database and the in-memory topic
index in step: every change is one transaction, and the index follows right after the
commit, before any other task runs, so routing only ever considers the chats and topics the
database holds as active. Handlers, delivery and the chat-member handler ask it; none of
them touches the index, or the chats and subscriptions tables, for this themselves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from bot.feeds.handles import SourceBook
from bot.routing import TopicIndex, topic_of_key
from bot.text.query import SOURCE_PREFIX, Refusal, Topic, parse_topic_list
from storage import Storage
from storage.models import Chat, ChatKind, Subscription

PAUSED = "paused with /stop"  # the inactive reason of a chat that asked for the pause
MIGRATED = "migrated"  # the inactive reason of a group whose supergroup had an id already


@dataclass(frozen=True, slots=True)
class Conflict:
    """A topic not added because it contradicts one the chat has (`bolivia` and `-bolivia`)."""

    topic: Topic  # the one asked for
    existing: str  # the key of the one it contradicts


@dataclass(frozen=True, slots=True)
class TopicChange:
    """What a /topic add or remove did; topics are named as the reader typed them."""

    done: list[str] = field(default_factory=list)  # added / removed
    unchanged: list[str] = field(default_factory=list)  # already there / not there
    refused: list[str] = field(default_factory=list)  # over the per-chat limit
    invalid: list[str] = field(default_factory=list)  # why a piece is not a topic (plain text)
    conflicts: list[Conflict] = field(default_factory=list)
    added: list[Topic] = field(default_factory=list)  # the topics newly followed
    refusals: list[Refusal] = field(default_factory=list)  # `invalid`, to say in a language
    # the handles a reader may name, when a refusal named an unknown one
    known_sources: list[str] = field(default_factory=list)
    # the feeds as named now: `from:#12` topics are shown with their handles
    book: SourceBook | None = None

    def shown(self, text: str) -> str:
        """A topic's key or display text with its feeds named by their current handles."""
        return self.book.show(text) if self.book is not None else text


def _opposite(key: str) -> str:
    """The key that contradicts this one: the mute of a topic, or the topic of a mute."""
    return key[1:] if key.startswith("-") else "-" + key


class ChatService:
    """Owns the chats the bot knows and the topics they follow, database and index together."""

    def __init__(
        self,
        storage: Storage,
        index: TopicIndex,
        *,
        max_topics: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.index = index
        self.max_topics = max_topics
        self._store = storage.store
        self._clock = clock
        self._chats = storage.chats
        self._subscriptions = storage.subscriptions
        self._outbox = storage.outbox
        self._broadcasts = storage.broadcasts
        self._feeds = storage.feeds

    # --- a chat's life -----------------------------------------------------------------

    async def register(
        self,
        chat_id: int,
        *,
        kind: ChatKind,
        title: str | None = None,
        username: str | None = None,
        is_forum: bool = False,
    ) -> Chat:
        """Record a chat (creating it, active, on first contact) or refresh what we know of it.

        Whether an existing chat is active does not change: resume() does that.
        """
        return await self._chats.upsert(
            chat_id,
            kind=kind,
            title=title,
            username=username,
            is_forum=is_forum,
            now=self._clock(),
        )

    async def get(self, chat_id: int) -> Chat | None:
        """The chat, or None when the bot does not know it."""
        return await self._chats.get(chat_id)

    async def pause(self, chat_id: int) -> bool:
        """Stop pushes at the chat's own request, keeping its topics; its queue is dropped.

        False when pushes were off already (paused, or inactive for another reason, which
        the pause then replaces: the chat is evidently reachable).
        """
        async with self._store.transaction() as tx:
            chat = await self._chats.fetch(tx, chat_id)
            if chat is None:
                return False
            now = self._clock()
            await self._chats.set_inactive(tx, chat_id, reason=PAUSED, now=now)
            await self._outbox.drop_pending(tx, chat_id, reason=PAUSED, now=now)
        self.index.remove_chat(chat_id)
        return chat.active

    async def resume(self, chat_id: int) -> bool:
        """Turn pushes back on; whether the chat was paused or inactive (False if unknown)."""
        async with self._store.transaction() as tx:
            resumed = await self._chats.set_active(tx, chat_id, now=self._clock())
        if resumed:
            await self.load_chat(chat_id)
        return resumed

    async def deactivate(self, chat_id: int, *, reason: str) -> int:
        """Mark the chat inactive (blocked, removed, gone) and drop its unsent rows.

        Returns how many rows were dropped. The chat leaves the topic index at once, so
        routing no longer considers it; its topics stay in the database for a resume.
        """
        async with self._store.transaction() as tx:
            now = self._clock()
            await self._chats.set_inactive(tx, chat_id, reason=reason, now=now)
            dropped = await self._outbox.drop_pending(tx, chat_id, reason=reason, now=now)
        self.index.remove_chat(chat_id)
        return dropped

    async def migrate(self, old_id: int, new_id: int) -> None:
        """Move a group that became a supergroup to its new id: topics, queue and index.

        When the new id is unknown the chat is renamed (its rows follow). When it is known
        already (the bot saw the supergroup first), the old chat's topics and unsent pushes
        merge into it and the old chat stays behind inactive. Repeating it changes nothing.
        """
        if old_id == new_id:
            return
        async with self._store.transaction() as tx:
            now = self._clock()
            if await self._chats.fetch(tx, old_id) is not None:
                if await self._chats.fetch(tx, new_id) is None:
                    await self._chats.rename(tx, old_id, new_id, now=now)
                else:
                    await self._subscriptions.move(tx, old_id, new_id)
                    await self._outbox.move_chat(tx, old_id, new_id, now=now)
                    await self._chats.carry_pushed_upto(tx, old_id, new_id)
                    await self._chats.set_inactive(tx, old_id, reason=MIGRATED, now=now)
        self.index.remove_chat(old_id)
        await self.load_chat(new_id)

    # --- topics ------------------------------------------------------------------------

    async def load_all(self) -> int:
        """Fill the index with every active chat's topics (at start-up); return how many."""
        count = 0
        async for rows in self._subscriptions.active_chunks():
            for chat_id, topic, thread_id in rows:
                self.index.add(chat_id, topic, thread_id)
            count += len(rows)
        return count

    async def load_chat(self, chat_id: int) -> None:
        """Make the index hold the chat's topics as stored: all of them if active, else none."""
        # One transaction for both reads: a deactivation cannot fall between them.
        async with self._store.transaction() as tx:
            chat = await self._chats.fetch(tx, chat_id)
            subscriptions = await self._subscriptions.fetch(tx, chat_id)
        # no await from here on: the index changes before any other task runs
        self.index.remove_chat(chat_id)
        if chat is not None and chat.active:
            for sub in subscriptions:
                self.index.add(chat_id, sub.topic, sub.thread_id)

    async def sources(self) -> SourceBook:
        """Every feed by handle and by id (removed ones too), as topics name them."""
        return SourceBook(await self._feeds.records(removed=True))

    async def list_topics(self, chat_id: int) -> list[Subscription]:
        """The chat's topics by key, then its mutes; each as typed, its feeds (`from:`) named
        by their current handles."""
        return await self._named(await self._subscriptions.list(chat_id))

    async def _named(self, subs: list[Subscription]) -> list[Subscription]:
        """The subscriptions with the feeds they name (`from:#12`) shown by current handle."""
        if not any(SOURCE_PREFIX in s.topic for s in subs):
            return subs
        book = await self.sources()
        return [
            replace(s, display=book.show(s.display)) if SOURCE_PREFIX in s.topic else s
            for s in subs
        ]

    async def _resolve(
        self, topics: Sequence[Topic], *, removed: bool = False
    ) -> tuple[list[Topic], list[Refusal], SourceBook | None]:
        """The topics with their feeds by id (one each), and those naming no feed refused."""
        if not any(t.sources for t in topics):
            return list(topics), [], None
        book = await self.sources()
        resolved: dict[str, Topic] = {}
        refused: list[Refusal] = []
        for topic in topics:
            found = book.resolve(topic, removed=removed)
            if isinstance(found, Refusal):
                refused.append(found)
            else:
                resolved.setdefault(found.key, found)
        return list(resolved.values()), refused, book

    async def add_topics(
        self, chat_id: int, text: str, *, thread_id: int | None = None, language: str = "en"
    ) -> TopicChange:
        """Follow comma-separated topics; a paused chat's are routed once it resumes.

        language is the reader's (for the words too common to follow). A topic that
        contradicts one the chat has (a mute of a followed topic, or the reverse) is not
        added: see switch_topic().
        """
        parsed, refusals = parse_topic_list(text, language=language)
        topics, unknown, book = await self._resolve(parsed)
        refusals = [*refusals, *unknown]
        existing = {s.topic for s in await self._subscriptions.list(chat_id)}
        wanted: list[Topic] = []
        conflicts: list[Conflict] = []
        for topic in topics:
            if _opposite(topic.key) in existing:
                conflicts.append(Conflict(topic, _opposite(topic.key)))
            else:
                wanted.append(topic)
        added, already, refused = await self._subscriptions.add(
            chat_id,
            [(t.key, t.display) for t in wanted],
            thread_id=thread_id,
            max_topics=self.max_topics,
            now=self._clock(),
        )
        await self._follow(chat_id, [*added, *already], thread_id)
        shown = {t.key: book.show(t.display) if book else t.display for t in wanted}
        return TopicChange(
            done=[shown[k] for k in added],
            unchanged=[shown[k] for k in already],
            refused=[shown[k] for k in refused],
            invalid=[r.message for r in refusals],
            refusals=list(refusals),
            conflicts=conflicts,
            added=[t for t in wanted if t.key in set(added)],
            known_sources=book.handles() if book and unknown else [],
            book=book,
        )

    async def _follow(self, chat_id: int, keys: list[str], thread_id: int | None) -> None:
        chat = await self._chats.get(chat_id)
        if chat is not None and chat.active:
            for key in keys:  # re-adding may have moved it to this thread
                self.index.add(chat_id, key, thread_id)

    async def switch_topic(
        self, chat_id: int, key: str, *, thread_id: int | None = None
    ) -> TopicChange:
        """Follow a topic (or mute) by key in place of the one contradicting it."""
        topic = topic_of_key(key)
        if topic is None:
            return TopicChange(invalid=[f"“{key}” is not a topic."])
        removed = await self._subscriptions.remove(chat_id, [_opposite(topic.key)])
        for gone in removed:
            self.index.remove(chat_id, gone)
        added, already, refused = await self._subscriptions.add(
            chat_id,
            [(topic.key, topic.display)],
            thread_id=thread_id,
            max_topics=self.max_topics,
            now=self._clock(),
        )
        await self._follow(chat_id, [*added, *already], thread_id)
        return TopicChange(
            done=[topic.display] if added else [],
            unchanged=[topic.display] if already else [],
            refused=[topic.display] if refused else [],
            added=[topic] if added else [],
        )

    async def remove_topics(self, chat_id: int, text: str) -> TopicChange:
        """Stop following comma-separated topics (by what was typed, or by key)."""
        parsed, refusals = parse_topic_list(text)
        topics, unknown, book = await self._resolve(parsed, removed=True)
        keys = [t.key for t in topics]
        invalid: list[str] = [r.message for r in unknown]
        refused: list[Refusal] = list(unknown)
        for refusal in refusals:  # a key an older version stored may not parse today
            legacy = topic_of_key(refusal.text)
            if legacy is None:
                invalid.append(refusal.message)
                refused.append(refusal)
            else:
                keys.append(legacy.key)
        subs = {s.topic: s.shown for s in await self.list_topics(chat_id)}
        if text.strip() in subs and text.strip() not in keys:
            keys.append(text.strip())  # a stored key, as a remove button sends it
        removed = await self._subscriptions.remove(chat_id, keys)
        for key in removed:
            self.index.remove(chat_id, key)
        missing = [k for k in dict.fromkeys(keys) if k not in removed]
        return TopicChange(
            done=[subs.get(k, k) for k in removed],
            unchanged=[book.show(k) if book else k for k in missing],
            invalid=invalid,
            refusals=refused,
            known_sources=book.handles() if book and unknown else [],
            book=book,
        )

    async def clear_topics(self, chat_id: int) -> int:
        """Stop following every topic; return how many there were."""
        count = await self._subscriptions.clear(chat_id)
        self.index.remove_chat(chat_id)
        return count

    # --- forgetting ---------------------------------------------------------------------

    async def forget(self, chat_id: int) -> int:
        """Delete everything held about the chat, in one transaction; return the rows deleted.

        Its queued and sent messages, its topics, the broadcasts it made (with their rows
        for other chats: an announcement is its author's) and the chat itself. Each table's
        rows go through that table's own repository. The chat leaves the topic index too;
        the bot knows it again only once it writes to the bot again (/start).
        """
        async with self._store.transaction() as tx:
            broadcasts = await self._broadcasts.of_chat(tx, chat_id)
            deleted = await self._outbox.delete_chat(tx, chat_id)
            deleted += await self._outbox.delete_broadcasts(tx, broadcasts)
            deleted += await self._broadcasts.delete(tx, broadcasts)
            deleted += await self._subscriptions.delete_chat(tx, chat_id)
            deleted += await self._chats.delete(tx, chat_id)
        self.index.remove_chat(chat_id)
        return deleted

    async def export(self, chat_id: int) -> tuple[Chat | None, list[Subscription]]:
        """What /export sends: the chat as stored and its topics, read together."""
        async with self._store.transaction() as tx:
            chat = await self._chats.fetch(tx, chat_id)
            subscriptions = await self._subscriptions.fetch(tx, chat_id)
        return chat, await self._named(subscriptions)

    # --- figures -----------------------------------------------------------------------

    async def audience_size(self, audience: str) -> int:
        """How many active chats a broadcast to this audience would reach."""
        return await self._chats.count_active(audience)
