"""A chat's whole life: registering, pausing, resuming, deactivating, migrating, its topics.

ChatService is the one owner of that life. It keeps the database and the in-memory topic
index in step: every change is one transaction, and the index follows right after the
commit, before any other task runs, so routing only ever considers the chats and topics the
database holds as active. Handlers, delivery and the chat-member handler ask it; none of
them touches the index, or the chats and subscriptions tables, for this themselves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.matching import TopicIndex, parse_topic_list
from storage.chats import ChatRepo, SubscriptionRepo
from storage.db import Database
from storage.models import Chat, ChatKind, Subscription
from storage.outbox import OutboxRepo

PAUSED = "paused with /stop"  # the inactive reason of a chat that asked for the pause
MIGRATED = "migrated"  # the inactive reason of a group whose supergroup had an id already


@dataclass(frozen=True, slots=True)
class TopicChange:
    """What a /topic add or remove did."""

    done: list[str] = field(default_factory=list)  # added / removed
    unchanged: list[str] = field(default_factory=list)  # already there / not there
    refused: list[str] = field(default_factory=list)  # over the per-chat limit
    invalid: list[str] = field(default_factory=list)  # not a valid topic


class ChatService:
    """Owns the chats the bot knows and the topics they follow, database and index together."""

    def __init__(
        self,
        db: Database,
        index: TopicIndex,
        *,
        max_topics: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.index = index
        self.max_topics = max_topics
        self._db = db
        self._clock = clock
        self._chats = ChatRepo(db)
        self._subscriptions = SubscriptionRepo(db)

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
        async with self._db.transaction() as conn:
            chat = await self._chats.fetch(conn, chat_id)
            if chat is None:
                return False
            now = self._clock()
            await self._chats.set_inactive(conn, chat_id, reason=PAUSED, now=now)
            await OutboxRepo.drop_pending(conn, chat_id, reason=PAUSED, now=now)
        self.index.remove_chat(chat_id)
        return chat.active

    async def resume(self, chat_id: int) -> bool:
        """Turn pushes back on; whether the chat was paused or inactive (False if unknown)."""
        async with self._db.transaction() as conn:
            resumed = await self._chats.set_active(conn, chat_id, now=self._clock())
        if resumed:
            await self.load_chat(chat_id)
        return resumed

    async def deactivate(self, chat_id: int, *, reason: str) -> int:
        """Mark the chat inactive (blocked, removed, gone) and drop its unsent rows.

        Returns how many rows were dropped. The chat leaves the topic index at once, so
        routing no longer considers it; its topics stay in the database for a resume.
        """
        async with self._db.transaction() as conn:
            now = self._clock()
            await self._chats.set_inactive(conn, chat_id, reason=reason, now=now)
            dropped = await OutboxRepo.drop_pending(conn, chat_id, reason=reason, now=now)
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
        async with self._db.transaction() as conn:
            now = self._clock()
            if await self._chats.fetch(conn, old_id) is not None:
                if await self._chats.fetch(conn, new_id) is None:
                    await self._chats.rename(conn, old_id, new_id, now=now)
                else:
                    await self._subscriptions.move(conn, old_id, new_id)
                    await OutboxRepo.move_chat(conn, old_id, new_id, now=now)
                    await self._chats.carry_pushed_upto(conn, old_id, new_id)
                    await self._chats.set_inactive(conn, old_id, reason=MIGRATED, now=now)
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
        async with self._db.transaction() as conn:
            chat = await self._chats.fetch(conn, chat_id)
            subscriptions = await self._subscriptions.fetch(conn, chat_id)
        # no await from here on: the index changes before any other task runs
        self.index.remove_chat(chat_id)
        if chat is not None and chat.active:
            for sub in subscriptions:
                self.index.add(chat_id, sub.topic, sub.thread_id)

    async def list_topics(self, chat_id: int) -> list[Subscription]:
        """The chat's topics, sorted."""
        return await self._subscriptions.list(chat_id)

    async def add_topics(
        self, chat_id: int, text: str, *, thread_id: int | None = None
    ) -> TopicChange:
        """Follow comma-separated topics; a paused chat's are routed once it resumes."""
        topics, invalid = parse_topic_list(text)
        added, already, refused = await self._subscriptions.add(
            chat_id, topics, thread_id=thread_id, max_topics=self.max_topics, now=self._clock()
        )
        chat = await self._chats.get(chat_id)
        if chat is not None and chat.active:
            for topic in [*added, *already]:  # re-adding may have moved it to this thread
                self.index.add(chat_id, topic, thread_id)
        return TopicChange(added, already, refused, invalid)

    async def remove_topics(self, chat_id: int, text: str) -> TopicChange:
        """Stop following comma-separated topics."""
        topics, invalid = parse_topic_list(text)
        removed = await self._subscriptions.remove(chat_id, topics)
        for topic in removed:
            self.index.remove(chat_id, topic)
        missing = [t for t in topics if t not in removed]
        return TopicChange(removed, missing, [], invalid)

    async def clear_topics(self, chat_id: int) -> int:
        """Stop following every topic; return how many there were."""
        count = await self._subscriptions.clear(chat_id)
        self.index.remove_chat(chat_id)
        return count

    # --- figures -----------------------------------------------------------------------

    async def audience_size(self, audience: str) -> int:
        """How many active chats a broadcast to this audience would reach."""
        return await self._chats.count_active(audience)
