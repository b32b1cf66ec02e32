"""The chats the bot knows and the topics they follow: the repository interfaces."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Protocol

from storage.models import Chat, ChatKind, Subscription
from storage.store import Transaction


class ChatRepo(Protocol):
    """Reads and writes the chats table."""

    async def upsert(
        self,
        chat_id: int,
        *,
        kind: ChatKind | str,
        title: str | None = None,
        username: str | None = None,
        is_forum: bool = False,
        now: float,
        activate: bool | None = None,
    ) -> Chat:
        """Insert or refresh a chat's metadata; activate=True/False also sets `active`."""
        ...

    async def get(self, chat_id: int) -> Chat | None:
        """Return the chat, or None."""
        ...

    async def fetch(self, tx: Transaction, chat_id: int) -> Chat | None:
        """Return the chat, or None, inside the caller's transaction."""
        ...

    async def set_inactive(self, tx: Transaction, chat_id: int, *, reason: str, now: float) -> None:
        """Mark the chat inactive, for `reason`."""
        ...

    async def set_active(self, tx: Transaction, chat_id: int, *, now: float) -> bool:
        """Mark the chat active again; False when it was active already (or is unknown)."""
        ...

    async def rename(self, tx: Transaction, old_id: int, new_id: int, *, now: float) -> None:
        """Give a group that became a supergroup its new id."""
        ...

    async def carry_pushed_upto(self, tx: Transaction, old_id: int, new_id: int) -> None:
        """Raise new_id's `pushed_upto` to old_id's, as new_id now owes old_id's pushes."""
        ...

    async def pushed_upto(self, tx: Transaction, chat_ids: Sequence[int]) -> dict[int, int]:
        """The `pushed_upto` mark of each of these chats that is active (others left out)."""
        ...

    async def set_pushed_upto(self, tx: Transaction, marks: Mapping[int, int]) -> None:
        """Record the highest headline queued to each chat."""
        ...

    async def delete(self, tx: Transaction, chat_id: int) -> int:
        """Delete the chat's row (its other tables' rows go first, by their own writers)."""
        ...

    async def count_active(self, audience: str) -> int:
        """How many active chats an audience (all|users|groups|channels) reaches."""
        ...

    async def count_by_kind(self) -> dict[ChatKind, tuple[int, int]]:
        """Return kind -> (active, inactive) for every chat kind."""
        ...

    async def count_unreachable(self, *, paused_reason: str) -> int:
        """Chats inactive for any reason but a pause of their own (blocked, removed, gone)."""
        ...


class SubscriptionRepo(Protocol):
    """Reads and writes the topics chats follow: each topic's key, beside what was typed."""

    async def list(self, chat_id: int) -> builtins.list[Subscription]:
        """Return the chat's subscriptions: topics by key, then mutes."""
        ...

    async def fetch(self, tx: Transaction, chat_id: int) -> builtins.list[Subscription]:
        """The chat's subscriptions (as list()), inside the caller's transaction."""
        ...

    async def add(
        self,
        chat_id: int,
        topics: Sequence[str | tuple[str, str]],
        *,
        thread_id: int | None,
        max_topics: int,
        now: float,
    ) -> tuple[builtins.list[str], builtins.list[str], builtins.list[str]]:
        """Add topics (keys, or (key, display) pairs); return (added, present, over the limit)."""
        ...

    async def remove(self, chat_id: int, topics: Sequence[str]) -> builtins.list[str]:
        """Remove topics by key; return those the chat had."""
        ...

    async def clear(self, chat_id: int) -> int:
        """Remove every topic of the chat; return how many there were."""
        ...

    async def delete_chat(self, tx: Transaction, chat_id: int) -> int:
        """Delete every topic of the chat, inside the caller's transaction; return how many."""
        ...

    async def move(self, tx: Transaction, old_id: int, new_id: int) -> None:
        """Give new_id the topics of old_id it does not follow yet; old_id keeps none."""
        ...

    def active_chunks(
        self, size: int = ...
    ) -> AsyncIterator[builtins.list[tuple[int, str, int | None]]]:
        """Yield (chat_id, topic, thread_id) of active chats' subscriptions, `size` at a time."""
        ...

    async def count(self) -> int:
        """Return how many subscriptions there are."""
        ...

    async def top_topics(self, limit: int) -> builtins.list[tuple[str, int]]:
        """Return the most followed topics with their chat counts (mutes left out)."""
        ...
