"""Announcements from admins to every chat of an audience: the repository interface."""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from storage.models import Broadcast, BroadcastProgress
from storage.store import Transaction


class BroadcastRepo(Protocol):
    """Reads and writes broadcasts; their outbox rows are OutboxRepo's, in one transaction."""

    async def create(
        self,
        *,
        admin_id: int,
        audience: str,
        text: str | None = None,
        from_chat_id: int | None = None,
        from_message_id: int | None = None,
        now: float,
    ) -> Broadcast:
        """Store a draft announcement."""
        ...

    async def get(self, broadcast_id: int) -> Broadcast | None:
        """Return the broadcast, or None."""
        ...

    async def confirm(self, broadcast_id: int, *, now: float) -> int | None:
        """Queue a draft for every active chat of its audience; return the number queued."""
        ...

    async def cancel(self, broadcast_id: int, *, now: float) -> bool:
        """Cancel a draft or queued broadcast and its unsent rows; False if already over."""
        ...

    async def set_report_message(self, broadcast_id: int, chat_id: int, message_id: int) -> None:
        """Remember the admin's message that shows the broadcast's progress."""
        ...

    async def progress(self, broadcast_id: int) -> BroadcastProgress:
        """Count the broadcast's rows by outcome."""
        ...

    async def finish_if_complete(self, broadcast_id: int, *, now: float) -> bool:
        """Mark a queued broadcast done once no row is left to send; True if it just was."""
        ...

    async def of_chat(self, tx: Transaction, chat_id: int) -> list[int]:
        """The broadcasts a chat made or shows: written by it, copied from it, reported in it."""
        ...

    async def delete(self, tx: Transaction, broadcast_ids: Collection[int]) -> int:
        """Delete these broadcasts (their outbox rows are OutboxRepo's to delete first)."""
        ...

    async def active(self) -> list[Broadcast]:
        """Return the queued broadcasts, oldest first."""
        ...
