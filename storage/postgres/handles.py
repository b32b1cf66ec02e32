"""Giving feeds their handles on PostgreSQL: at insertion and at a feed's first titled read
(bot/text/handles.py makes them), as storage/sqlite/handles.py does on SQLite."""

from __future__ import annotations

import asyncpg

from bot.text.handles import handle_for, handle_from, unique_handle


async def _taken(conn: asyncpg.Connection, *, besides: int | None = None) -> set[str]:
    rows = await conn.fetch(
        "SELECT handle FROM feeds WHERE handle IS NOT NULL AND id IS DISTINCT FROM $1", besides
    )
    return {row[0] for row in rows}


async def give_handles(conn: asyncpg.Connection) -> int:
    """Give every feed without a handle one (inside the caller's transaction); return how
    many. A feed with neither name nor title gets a provisional one, from its host."""
    missing = await conn.fetch(
        "SELECT id, name, title, url FROM feeds WHERE handle IS NULL ORDER BY id"
    )
    if not missing:
        return 0
    taken = await _taken(conn)
    updates: list[tuple[str, int, int]] = []
    for feed_id, name, title, url in missing:
        handle = unique_handle(handle_for(name, title, url), taken)
        taken.add(handle)
        provisional = int(not (name or "").strip() and not (title or "").strip())
        updates.append((handle, provisional, feed_id))
    await conn.executemany(
        "UPDATE feeds SET handle = $1, handle_provisional = $2 WHERE id = $3", updates
    )
    return len(missing)


async def settle_handle(conn: asyncpg.Connection, feed_id: int, title: str | None) -> None:
    """A feed read with a title: a provisional handle (from its host) becomes the title's."""
    if not title:
        return
    provisional = await conn.fetchval(
        "SELECT 1 FROM feeds WHERE id = $1 AND handle_provisional = 1", feed_id
    )
    if provisional is None:
        return
    base = handle_from(title)
    if base is None:  # nothing to keep in it: the host's handle stays
        return
    handle = unique_handle(base, await _taken(conn, besides=feed_id))
    await conn.execute(
        "UPDATE feeds SET handle = $1, handle_provisional = 0 WHERE id = $2", handle, feed_id
    )
