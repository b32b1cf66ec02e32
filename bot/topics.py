"""Subscriptions: the database and the in-memory matcher index changed together."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from bot.matching import TopicIndex, parse_topic_list
from storage.chats import SubscriptionRepo
from storage.db import Database
from storage.models import Subscription


@dataclass(frozen=True, slots=True)
class TopicChange:
    """What a /topic add or remove did."""

    done: list[str] = field(default_factory=list)  # added / removed
    unchanged: list[str] = field(default_factory=list)  # already there / not there
    refused: list[str] = field(default_factory=list)  # over the per-chat limit
    invalid: list[str] = field(default_factory=list)  # not a valid topic


class TopicService:
    """Adds and removes topics, keeping the matcher index in step with the database."""

    def __init__(self, db: Database, index: TopicIndex, *, max_topics: int) -> None:
        self.repo = SubscriptionRepo(db)
        self.index = index
        self.max_topics = max_topics

    async def load_all(self) -> int:
        """Fill the index with every active chat's topics (at start-up)."""
        count = 0
        async for rows in self.repo.active_chunks():
            for chat_id, topic, thread_id in rows:
                self.index.add(chat_id, topic, thread_id)
            count += len(rows)
        return count

    async def load_chat(self, chat_id: int) -> None:
        """(Re)load one chat's topics into the index, e.g. when it becomes active again."""
        self.index.remove_chat(chat_id)
        for sub in await self.repo.list(chat_id):
            self.index.add(chat_id, sub.topic, sub.thread_id)

    async def list(self, chat_id: int) -> list[Subscription]:
        """The chat's topics, sorted."""
        return await self.repo.list(chat_id)

    async def add(self, chat_id: int, text: str, *, thread_id: int | None = None) -> TopicChange:
        """Subscribe to comma-separated topics."""
        topics, invalid = parse_topic_list(text)
        added, already, refused = await self.repo.add(
            chat_id, topics, thread_id=thread_id, max_topics=self.max_topics, now=time.time()
        )
        for topic in [*added, *already]:
            self.index.add(chat_id, topic, thread_id)
        return TopicChange(added, already, refused, invalid)

    async def remove(self, chat_id: int, text: str) -> TopicChange:
        """Unsubscribe from comma-separated topics."""
        topics, invalid = parse_topic_list(text)
        removed = await self.repo.remove(chat_id, topics)
        for topic in removed:
            self.index.remove(chat_id, topic)
        missing = [t for t in topics if t not in removed]
        return TopicChange(removed, missing, [], invalid)

    async def clear(self, chat_id: int) -> int:
        """Remove every topic of the chat."""
        count = await self.repo.clear(chat_id)
        self.index.remove_chat(chat_id)
        return count


def display_topic(topic: str) -> str:
    """How a stored topic is shown: mutes as 'not: x'."""
    return f"not: {topic[1:]}" if topic.startswith("-") else topic
