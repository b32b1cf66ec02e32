"""What a reply waits for in the database: a plain read waits for no transaction (it has a
connection of its own), and a reply's statement goes ahead of the background work queued
before it (the lock lets replies' waiters first)."""

from __future__ import annotations

import asyncio

from storage.sqlite.db import Database, RepliesFirst
from storage.store import is_replying, replying


async def test_a_read_does_not_wait_for_a_transaction(db: Database) -> None:
    await db.execute("CREATE TABLE t (x INTEGER)")
    await db.execute("INSERT INTO t VALUES (1)")
    holding = asyncio.Event()
    done = asyncio.Event()

    async def writer() -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO t VALUES (2)")  # type: ignore[attr-defined]
            holding.set()
            await done.wait()

    task = asyncio.create_task(writer())
    await holding.wait()
    # the write transaction is open: the read sees what was committed, without waiting
    assert await asyncio.wait_for(db.scalar("SELECT count(*) FROM t"), 5) == 1
    done.set()
    await task
    assert await db.scalar("SELECT count(*) FROM t") == 2


async def test_replies_go_ahead_of_the_background_queue() -> None:
    lock = RepliesFirst()
    order: list[str] = []
    await lock.__aenter__()  # a background transaction under way

    async def take(name: str, reply: bool) -> None:
        async def inner() -> None:
            async with lock:
                order.append(name)

        if reply:
            with replying():
                await inner()
        else:
            await inner()

    background = [asyncio.create_task(take(f"poll{n}", False)) for n in range(3)]
    await asyncio.sleep(0)  # they queue first
    reply = asyncio.create_task(take("reply", True))
    await asyncio.sleep(0)
    await lock.__aexit__(None, None, None)
    await asyncio.gather(*background, reply)
    assert order == ["reply", "poll0", "poll1", "poll2"]
    assert not lock.locked()
    assert not is_replying()


async def test_a_cancelled_waiter_passes_the_lock_on() -> None:
    lock = RepliesFirst()
    await lock.__aenter__()
    got: list[str] = []

    async def take(name: str) -> None:
        async with lock:
            got.append(name)

    first = asyncio.create_task(take("first"))
    second = asyncio.create_task(take("second"))
    await asyncio.sleep(0)
    await lock.__aexit__(None, None, None)  # handed to `first`...
    first.cancel()  # ...which is cancelled before it runs
    await asyncio.gather(first, second, return_exceptions=True)
    assert got == ["second"]
    assert not lock.locked()


async def test_a_transaction_cancelled_at_its_begin_leaves_none_open(db: Database) -> None:
    """A task cancelled while its BEGIN runs (a worker stopped at start-up): the BEGIN still
    runs in the connection's thread, and what it opened is rolled back."""
    await db.execute("CREATE TABLE t (x INTEGER)")

    async def write() -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO t VALUES (1)")  # type: ignore[attr-defined]

    for _ in range(20):
        task = asyncio.create_task(write())
        await asyncio.sleep(0)  # it holds the lock and waits for its BEGIN
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await write()  # a transaction of its own: none is left open
    assert await db.scalar("SELECT count(*) FROM t") == 20
