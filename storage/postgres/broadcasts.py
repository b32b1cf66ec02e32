"""Announcements from admins to every chat of an audience, on PostgreSQL.

The semantics are storage/sqlite/broadcasts.py's; the outbox rows are PgOutboxRepo's,
written in the same transaction.
"""

from __future__ import annotations

from collections.abc import Collection

import asyncpg

from storage.models import (
    OPEN_STATUSES,
    Audience,
    Broadcast,
    BroadcastProgress,
    BroadcastStatus,
    OutboxStatus,
    audience_kinds,
)
from storage.postgres.chats import changed
from storage.postgres.db import PgDatabase, conn_of
from storage.postgres.outbox import PgOutboxRepo
from storage.store import Transaction

_BROADCAST = (
    "id, admin_id, audience, text, from_chat_id, from_message_id, status, report_chat_id,"
    " report_message_id, total, created_at, confirmed_at, finished_at"
)


def _broadcast(row: asyncpg.Record) -> Broadcast:
    return Broadcast(
        id=row["id"],
        admin_id=row["admin_id"],
        audience=Audience(row["audience"]),
        text=row["text"],
        from_chat_id=row["from_chat_id"],
        from_message_id=row["from_message_id"],
        status=BroadcastStatus(row["status"]),
        report_chat_id=row["report_chat_id"],
        report_message_id=row["report_message_id"],
        total=row["total"],
        created_at=row["created_at"],
        confirmed_at=row["confirmed_at"],
        finished_at=row["finished_at"],
    )


class PgBroadcastRepo:
    """Reads and writes broadcasts; their outbox rows are PgOutboxRepo's, in one transaction."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

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
        audience_kinds(audience)  # fail early on an unknown audience
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                "INSERT INTO broadcasts (admin_id, audience, text, from_chat_id,"  # noqa: S608
                " from_message_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)"
                f" RETURNING {_BROADCAST}",
                admin_id,
                str(audience),
                text,
                from_chat_id,
                from_message_id,
                now,
            )
        assert row is not None
        return _broadcast(row)

    async def get(self, broadcast_id: int) -> Broadcast | None:
        """Return the broadcast, or None."""
        row = await self._db.fetchrow(
            f"SELECT {_BROADCAST} FROM broadcasts WHERE id = $1",  # noqa: S608 (fixed names)
            broadcast_id,
        )
        return None if row is None else _broadcast(row)

    async def confirm(self, broadcast_id: int, *, now: float) -> int | None:
        """Queue a draft for every active chat of its audience; return the number queued.

        None when it was no longer a draft, so a second press queues nothing. A broadcast
        with nobody to send to is done at once.
        """
        async with self._db.connection() as conn:
            audience = await conn.fetchval(
                "SELECT audience FROM broadcasts WHERE id = $1 AND status = $2",
                broadcast_id,
                str(BroadcastStatus.DRAFT),
            )
            if audience is None:
                return None
            total = await PgOutboxRepo.queue_broadcast(
                conn, broadcast_id, kinds=audience_kinds(audience), now=now
            )
            await conn.execute(
                "UPDATE broadcasts SET status = $1, total = $2, confirmed_at = $3,"
                " finished_at = $4 WHERE id = $5",
                str(BroadcastStatus.QUEUED if total else BroadcastStatus.DONE),
                total,
                now,
                None if total else now,
                broadcast_id,
            )
            return total

    async def cancel(self, broadcast_id: int, *, now: float) -> bool:
        """Cancel a draft or queued broadcast and its unsent rows; False if already over."""
        async with self._db.connection() as conn:
            status = await conn.execute(
                "UPDATE broadcasts SET status = $1, finished_at = $2"
                " WHERE id = $3 AND status IN ($4, $5)",
                str(BroadcastStatus.CANCELLED),
                now,
                broadcast_id,
                str(BroadcastStatus.DRAFT),
                str(BroadcastStatus.QUEUED),
            )
            if changed(status) == 0:
                return False
            await PgOutboxRepo.cancel_broadcast(conn, broadcast_id, now=now)
            return True

    async def set_report_message(self, broadcast_id: int, chat_id: int, message_id: int) -> None:
        """Remember the admin's message that shows the broadcast's progress."""
        await self._db.execute(
            "UPDATE broadcasts SET report_chat_id = $1, report_message_id = $2 WHERE id = $3",
            chat_id,
            message_id,
            broadcast_id,
        )

    async def progress(self, broadcast_id: int) -> BroadcastProgress:
        """Count the broadcast's rows by outcome."""
        rows = await self._db.fetch(
            "SELECT status, count(*) FROM outbox WHERE broadcast_id = $1 GROUP BY status",
            broadcast_id,
        )
        n = {OutboxStatus(row[0]): int(row[1]) for row in rows}
        return BroadcastProgress(
            sent=n.get(OutboxStatus.SENT, 0),
            blocked=n.get(OutboxStatus.DROPPED, 0),
            failed=n.get(OutboxStatus.FAILED, 0),
            remaining=sum(n.get(status, 0) for status in OPEN_STATUSES),
            cancelled=n.get(OutboxStatus.CANCELLED, 0),
        )

    async def finish_if_complete(self, broadcast_id: int, *, now: float) -> bool:
        """Mark a queued broadcast done once no row is left to send; True if it just was."""
        status = await self._db.execute(
            "UPDATE broadcasts SET status = $1, finished_at = $2"
            " WHERE id = $3 AND status = $4 AND NOT EXISTS (SELECT 1 FROM outbox"
            " WHERE broadcast_id = $3 AND status = ANY($5::text[]))",
            str(BroadcastStatus.DONE),
            now,
            broadcast_id,
            str(BroadcastStatus.QUEUED),
            [str(status) for status in OPEN_STATUSES],
        )
        return changed(status) > 0

    @staticmethod
    async def of_chat(tx: Transaction, chat_id: int) -> list[int]:
        """The broadcasts a chat made or shows: written by it, copied from it, reported in it."""
        rows = await conn_of(tx).fetch(
            "SELECT id FROM broadcasts WHERE admin_id = $1 OR from_chat_id = $1"
            " OR report_chat_id = $1 ORDER BY id",
            chat_id,
        )
        return [int(row[0]) for row in rows]

    @staticmethod
    async def delete(tx: Transaction, broadcast_ids: Collection[int]) -> int:
        """Delete these broadcasts (their outbox rows are PgOutboxRepo's to delete first)."""
        if not broadcast_ids:
            return 0
        status = await conn_of(tx).execute(
            "DELETE FROM broadcasts WHERE id = ANY($1::bigint[])", list(broadcast_ids)
        )
        return changed(status)

    async def active(self) -> list[Broadcast]:
        """Return the queued broadcasts, oldest first."""
        rows = await self._db.fetch(
            f"SELECT {_BROADCAST} FROM broadcasts WHERE status = $1 ORDER BY id",  # noqa: S608
            str(BroadcastStatus.QUEUED),
        )
        return [_broadcast(row) for row in rows]
