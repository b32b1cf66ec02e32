"""Giving feeds their handles in SQLite: at insertion, at a feed's first titled read, and
for the feeds migration 012 found (bot/text/handles.py makes them)."""

from __future__ import annotations

import aiosqlite

from bot.text.handles import handle_for, handle_from, unique_handle


async def _taken(conn: aiosqlite.Connection, *, besides: int | None = None) -> set[str]:
    cur = await conn.execute(
        "SELECT handle FROM feeds WHERE handle IS NOT NULL AND id IS NOT ?", (besides,)
    )
    return {row[0] for row in await cur.fetchall()}


async def give_handles(conn: aiosqlite.Connection) -> int:
    """Give every feed without a handle one (inside the caller's transaction); return how
    many. A feed with neither name nor title gets a provisional one, from its host."""
    cur = await conn.execute(
        "SELECT id, name, title, url FROM feeds WHERE handle IS NULL ORDER BY id"
    )
    missing = list(await cur.fetchall())
    if not missing:
        return 0
    taken = await _taken(conn)
    for feed_id, name, title, url in missing:
        handle = unique_handle(handle_for(name, title, url), taken)
        taken.add(handle)
        provisional = int(not (name or "").strip() and not (title or "").strip())
        await conn.execute(
            "UPDATE feeds SET handle = ?, handle_provisional = ? WHERE id = ?",
            (handle, provisional, feed_id),
        )
    return len(missing)


async def settle_handle(conn: aiosqlite.Connection, feed_id: int, title: str | None) -> None:
    """A feed read with a title: a provisional handle (from its host) becomes the title's."""
    if not title:
        return
    cur = await conn.execute(
        "SELECT handle_provisional FROM feeds WHERE id = ? AND handle_provisional = 1",
        (feed_id,),
    )
    if await cur.fetchone() is None:
        return
    base = handle_from(title)
    if base is None:  # nothing to keep in it: the host's handle stays
        return
    handle = unique_handle(base, await _taken(conn, besides=feed_id))
    await conn.execute(
        "UPDATE feeds SET handle = ?, handle_provisional = 0 WHERE id = ?", (handle, feed_id)
    )


async def migration_step(conn: aiosqlite.Connection) -> None:
    """Migration 012's Python step: handles for the feeds already stored."""
    await give_handles(conn)
