"""Announcements from admins to every chat of an audience."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection

from storage.models import (
    OPEN_STATUSES,
    Audience,
    Broadcast,
    BroadcastProgress,
    BroadcastStatus,
    OutboxStatus,
    audience_kinds,
)
from storage.sqlite.db import Database, conn_of
from storage.sqlite.outbox import SqliteOutboxRepo
from storage.store import Transaction


def _broadcast(row: sqlite3.Row) -> Broadcast:
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


class SqliteBroadcastRepo:
    """Reads and writes broadcasts; their outbox rows are SqliteOutboxRepo's, in one transaction."""

    def __init__(self, db: Database) -> None:
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
            cur = await conn.execute(
                "INSERT INTO broadcasts (admin_id, audience, text, from_chat_id,"
                " from_message_id, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING *",
                (admin_id, audience, text, from_chat_id, from_message_id, now),
            )
            row = await cur.fetchone()
            await cur.close()
        assert row is not None
        return _broadcast(row)

    async def get(self, broadcast_id: int) -> Broadcast | None:
        """Return the broadcast, or None."""
        row = await self._db.fetchone("SELECT * FROM broadcasts WHERE id = ?", (broadcast_id,))
        return None if row is None else _broadcast(row)

    async def confirm(self, broadcast_id: int, *, now: float) -> int | None:
        """Queue a draft for every active chat of its audience; return the number queued.

        None when it was no longer a draft, so a second press queues nothing. A broadcast
        with nobody to send to is done at once.
        """
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT audience FROM broadcasts WHERE id = ? AND status = ?",
                (broadcast_id, BroadcastStatus.DRAFT),
            )
            row = await cur.fetchone()
            if row is None:
                return None
            total = await SqliteOutboxRepo.queue_broadcast(
                conn, broadcast_id, kinds=audience_kinds(row[0]), now=now
            )
            await conn.execute(
                "UPDATE broadcasts SET status = ?, total = ?, confirmed_at = ?, finished_at = ?"
                " WHERE id = ?",
                (
                    BroadcastStatus.QUEUED if total else BroadcastStatus.DONE,
                    total,
                    now,
                    None if total else now,
                    broadcast_id,
                ),
            )
            return total

    async def cancel(self, broadcast_id: int, *, now: float) -> bool:
        """Cancel a draft or queued broadcast and its unsent rows; False if already over."""
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "UPDATE broadcasts SET status = ?, finished_at = ?"
                " WHERE id = ? AND status IN (?, ?)",
                (
                    BroadcastStatus.CANCELLED,
                    now,
                    broadcast_id,
                    BroadcastStatus.DRAFT,
                    BroadcastStatus.QUEUED,
                ),
            )
            if cur.rowcount == 0:
                return False
            await SqliteOutboxRepo.cancel_broadcast(conn, broadcast_id, now=now)
            return True

    async def set_report_message(self, broadcast_id: int, chat_id: int, message_id: int) -> None:
        """Remember the admin's message that shows the broadcast's progress."""
        await self._db.execute(
            "UPDATE broadcasts SET report_chat_id = ?, report_message_id = ? WHERE id = ?",
            (chat_id, message_id, broadcast_id),
        )

    async def progress(self, broadcast_id: int) -> BroadcastProgress:
        """Count the broadcast's rows by outcome."""
        rows = await self._db.fetchall(
            "SELECT status, count(*) FROM outbox WHERE broadcast_id = ? GROUP BY status",
            (broadcast_id,),
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
        changed = await self._db.execute(
            "UPDATE broadcasts SET status = ?, finished_at = ?"
            " WHERE id = ? AND status = ? AND NOT EXISTS (SELECT 1 FROM outbox"
            " WHERE broadcast_id = ? AND status IN (?, ?))",
            (
                BroadcastStatus.DONE,
                now,
                broadcast_id,
                BroadcastStatus.QUEUED,
                broadcast_id,
                *OPEN_STATUSES,
            ),
        )
        return changed > 0

    @staticmethod
    async def of_chat(tx: Transaction, chat_id: int) -> list[int]:
        """The broadcasts a chat made or shows: written by it, copied from it, reported in it."""
        conn = conn_of(tx)
        cur = await conn.execute(
            "SELECT id FROM broadcasts WHERE admin_id = ?1 OR from_chat_id = ?1"
            " OR report_chat_id = ?1 ORDER BY id",
            (chat_id,),
        )
        return [int(row[0]) for row in await cur.fetchall()]

    @staticmethod
    async def delete(tx: Transaction, broadcast_ids: Collection[int]) -> int:
        """Delete these broadcasts (their outbox rows are SqliteOutboxRepo's to delete first)."""
        conn = conn_of(tx)
        if not broadcast_ids:
            return 0
        cur = await conn.execute(
            "DELETE FROM broadcasts WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(broadcast_ids)),),
        )
        return cur.rowcount

    async def active(self) -> list[Broadcast]:
        """Return the queued broadcasts, oldest first."""
        rows = await self._db.fetchall(
            "SELECT * FROM broadcasts WHERE status = ? ORDER BY id", (BroadcastStatus.QUEUED,)
        )
        return [_broadcast(row) for row in rows]
