"""The outbox."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Protocol

from storage.models import ChatKind, ChatPush, MoreList, OutboxItem
from storage.store import Transaction

Items = Sequence[tuple[int, tuple[str, ...]]]


class OutboxRepo(Protocol):
    """Queues sends and tracks their state (pending -> sending -> sent/failed/dropped)."""

    async def enqueue_pushes(
        self,
        tx: Transaction,
        pushes: Sequence[ChatPush],
        *,
        batch: int,
        now: float,
        release: Mapping[int, float] | None = None,
    ) -> int:
        """Add pushes to the message each active chat is owed; return the headlines queued."""
        ...

    async def queue_broadcast(
        self, tx: Transaction, broadcast_id: int, *, kinds: Sequence[ChatKind], now: float
    ) -> int:
        """Queue one broadcast row per active chat of these kinds; return the rows added."""
        ...

    async def delete_chat(self, tx: Transaction, chat_id: int) -> int:
        """Delete every row of the chat, sent or not (a /forget); return how many."""
        ...

    async def delete_broadcasts(self, tx: Transaction, broadcast_ids: Collection[int]) -> int:
        """Delete every row of these broadcasts, whatever chat it is for; return how many."""
        ...

    async def cancel_broadcast(self, tx: Transaction, broadcast_id: int, *, now: float) -> int:
        """Close a broadcast's rows not yet claimed."""
        ...

    async def drop_pending(self, tx: Transaction, chat_id: int, *, reason: str, now: float) -> int:
        """Drop every unsent row of a chat (blocked, gone or paused); return how many."""
        ...

    async def move_chat(self, tx: Transaction, old_id: int, new_id: int, *, now: float) -> None:
        """Hand old_id's unsent rows to new_id, which exists already, and drop the rest."""
        ...

    async def reset_inflight(self) -> int:
        """Put rows a crash left 'sending' back to 'pending'; return how many."""
        ...

    async def ready_chats(
        self, *, now: float, limit: int, exclude: Collection[int] = ()
    ) -> list[int]:
        """Return up to limit chats with a ready send, most urgent first, each chat once."""
        ...

    async def claim_units(
        self, chat_ids: Sequence[int], *, now: float, max_rows: int = ...
    ) -> dict[int, list[OutboxItem]]:
        """Claim the next message's worth of rows of each chat, in one transaction."""
        ...

    async def units(
        self, tx: Transaction, chat_ids: Sequence[int], *, now: float, max_rows: int = ...
    ) -> dict[int, list[OutboxItem]]:
        """The next unit of each chat (see claim_units), read in the caller's transaction."""
        ...

    async def next_wakeup(self) -> float | None:
        """Return when the first row put off (by a 429 or a retry) is due; None if none is."""
        ...

    async def mark_sent(self, ids: Collection[int], *, now: float) -> int:
        """Record rows as delivered."""
        ...

    async def mark_posted(
        self,
        row_id: int,
        posted: int,
        *,
        done: bool,
        now: float,
        not_before: float = 0.0,
        error: str | None = None,
    ) -> int:
        """Record that a push row's first `posted` headlines went out, one post each: sent
        when `done`, else back to pending until `not_before` to go on from there; committed
        at once."""
        ...

    async def mark_failed(self, ids: Collection[int], *, error: str, now: float) -> int:
        """Record rows that can never be delivered."""
        ...

    async def prune(self, *, before: float, limit: int = 5000) -> int:
        """Delete up to `limit` rows finished before `before`; return how many went."""
        ...

    async def defer(self, ids: Collection[int], *, not_before: float, error: str) -> int:
        """Put rows back to pending until not_before, counting the attempt."""
        ...

    async def hold(self, ids: Collection[int], *, until: float) -> int:
        """Put claimed rows back to pending until `until`, not counting an attempt."""
        ...

    async def reschedule(self, chat_id: int, *, until: float, now: float) -> int:
        """Move a chat's pending push rows to `until`."""
        ...

    async def keep_more_list(
        self, chat_id: int, outbox_id: int, items: Items, *, dropped: int, digest: bool, now: float
    ) -> int:
        """Keep the headlines a sent message shows only part of; return the list's key."""
        ...

    async def more_list(self, list_id: int, chat_id: int) -> MoreList | None:
        """The list behind a More button of this chat (None once pruned, or another chat's)."""
        ...

    async def backlog(self) -> dict[str, int]:
        """Return the pending rows by kind ('push', 'broadcast') and in 'total'."""
        ...
