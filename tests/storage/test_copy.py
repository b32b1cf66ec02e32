"""copy-db's copy (storage/copy.py): every table, row for row, from SQLite to PostgreSQL and
back, the search index rebuilt on each side, ids given out after the copied ones; refused
while a bot runs on either side, or into a database that holds rows."""

from __future__ import annotations

import sqlite3
from datetime import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot.text.query import SearchQuery, parse_search
from storage import Storage, open_storage
from storage.copy import TABLES, CopyError, copy_database
from storage.lock import claim
from storage.models import ChatPush, HeadlineInput

NOW = 1_750_000_000.0
Dump = dict[str, list[tuple[tuple[str, Any], ...]]]


def entry(n: int, title: str, summary: str = "", categories: tuple[str, ...] = ()) -> HeadlineInput:
    return HeadlineInput(
        key=f"item-{n}",
        title=title,
        link=f"https://news.example/{n}",
        summary=summary,
        categories=categories,
        published_at=NOW - n * 60,
    )


async def fill(storage: Storage) -> None:
    """A little of everything the bot keeps: feeds (one in Spanish), headlines, chats with
    topics and settings, a push waiting, a digest held, a broadcast under way, counters, a run."""
    english = await storage.feeds.ensure("https://news.example/en.xml")
    spanish = await storage.feeds.ensure("https://news.example/es.xml")
    async with storage.store.transaction() as tx:
        await storage.headlines.set_language(tx, spanish.id, "es")
        await storage.headlines.upsert(
            tx, english.id, [entry(i, f"Old story {i}") for i in range(1, 4)], baseline=True,
            now=NOW - 3600,
        )  # fmt: skip
        new = await storage.headlines.upsert(
            tx,
            english.id,
            [
                entry(10, "Bolivia votes on lithium", "Miners protested.", ("Politics",)),
                entry(11, "Chile's copper prices", "A quote: 'it's up'"),
                entry(12, "Elections in Bolivia", "Observers arrive."),
            ],
            baseline=False,
            now=NOW,
        )
        spanish_new = await storage.headlines.upsert(
            tx, spanish.id, [entry(20, "Elecciones en Bolivia", "Los mineros protestan.")],
            baseline=False, now=NOW,
        )  # fmt: skip
    for chat, kind in ((1, "private"), (2, "private"), (-100, "supergroup"), (-200, "channel")):
        await storage.chats.upsert(chat, kind=kind, title=f"Chat {chat}", now=NOW)
        await storage.subscriptions.add(
            chat, ["bolivia", "-sports"], thread_id=None, max_topics=50, now=NOW
        )
    await storage.preferences.set_digest_times(2, [time(8, 0)], now=NOW, language_if_new="en")
    await storage.preferences.set_quiet_hours(
        -100, (time(22, 0), time(7, 0)), now=NOW, language_if_new="en"
    )
    await storage.preferences.set_language(1, "es", now=NOW)
    ids = [h.id for h in new.new] + [h.id for h in spanish_new.new]
    async with storage.store.transaction() as tx:
        await storage.outbox.enqueue_pushes(
            tx,
            [ChatPush(1, None, tuple((i, ("bolivia",)) for i in ids[:-1]))],
            batch=1,
            now=NOW,
        )
        await storage.outbox.enqueue_pushes(
            tx,
            [ChatPush(2, None, tuple((i, ("bolivia",)) for i in ids))],
            batch=1,
            now=NOW,
            release={2: NOW + 8 * 3600},  # held for the morning digest
        )
    # a later routing pass adds to the reader's pending row
    async with storage.store.transaction() as tx:
        await storage.outbox.enqueue_pushes(
            tx, [ChatPush(1, None, ((ids[-1], ("bolivia", "lithium")),))], batch=2, now=NOW + 60
        )
    # a push already sent to the group, whose More button pages through a list
    async with storage.store.transaction() as tx:
        await storage.outbox.enqueue_pushes(
            tx, [ChatPush(-100, None, ((ids[0], ("bolivia",)),))], batch=1, now=NOW
        )
    sent = (await storage.outbox.claim_units([-100], now=NOW))[-100]
    await storage.outbox.mark_sent([row.id for row in sent], now=NOW)
    items = [(i, ("bolivia",)) for i in ids]
    await storage.outbox.keep_more_list(-100, sent[0].id, items, dropped=0, digest=False, now=NOW)
    broadcast = await storage.broadcasts.create(
        admin_id=1, audience="all", text="<b>Maintenance</b> tonight", now=NOW
    )
    await storage.broadcasts.confirm(broadcast.id, now=NOW)
    await storage.counters.bump("sent", 7, now=NOW)
    run, _ago = await storage.runs.begin()
    await storage.runs.end(run)  # a run that stopped cleanly


def sqlite_dump(path: Path) -> Dump:
    conn = sqlite3.connect(path)
    try:
        dump: Dump = {}
        for table in TABLES:
            cur = conn.execute(f"SELECT * FROM {table}")
            names = [d[0] for d in cur.description]
            dump[table] = sorted(tuple(sorted(zip(names, row, strict=True))) for row in cur)
        return dump
    finally:
        conn.close()


# PostgreSQL's own columns, derived from the others: its search vectors
PG_DERIVED = frozenset({"search", "title_search"})


async def pg_dump(url: str) -> Dump:
    conn = await asyncpg.connect(url)
    try:
        dump: Dump = {}
        for table in TABLES:
            rows = await conn.fetch(f"SELECT * FROM {table}")
            dump[table] = sorted(
                tuple(sorted((k, v) for k, v in row.items() if k not in PG_DERIVED)) for row in rows
            )
        return dump
    finally:
        await conn.close()


SEARCHES = ("bolivia", "elección", '"chile\'s"', "lith*", "bolivia -lithium", "copper OR miners")


async def answers(database: str | Path) -> dict[str, list[tuple[int, str]]]:
    """What /search finds for each of SEARCHES: (id, snippet), best first."""
    storage = await open_storage(database)
    try:
        found = {}
        for text in SEARCHES:
            query = parse_search(text)
            assert isinstance(query, SearchQuery)
            page = await storage.headlines.search(query, limit=10)
            found[text] = [(hit.headline.id, hit.snippet) for hit in page.hits]
        return found
    finally:
        await storage.close()


async def next_ids(database: str | Path) -> tuple[int, int]:
    """The ids the database gives the next feed and the next broadcast."""
    storage = await open_storage(database)
    try:
        feed = await storage.feeds.ensure("https://news.example/after-the-copy.xml")
        broadcast = await storage.broadcasts.create(admin_id=1, audience="all", text="x", now=NOW)
        return feed.id, broadcast.id
    finally:
        await storage.close()


async def source(tmp_path: Path) -> Path:
    path = tmp_path / "source.sqlite3"
    storage = await open_storage(path)
    try:
        await fill(storage)
    finally:
        await storage.close()
    return path


async def test_sqlite_to_sqlite_copies_every_row_and_rebuilds_the_index(tmp_path: Path) -> None:
    original = await source(tmp_path)
    target = tmp_path / "copy" / "target.sqlite3"
    seen: list[tuple[str, int, int]] = []
    report = await copy_database(original, target, progress=lambda *p: seen.append(p))
    before = sqlite_dump(original)
    assert sqlite_dump(target) == before
    assert dict(report.rows) == {t: len(rows) for t, rows in before.items()}
    assert all(before[t] for t in TABLES), "the test data fills every table"
    assert {(t, done, total) for t, done, total in seen if done == total} == {
        (t, n, n) for t, n in report.rows
    }
    assert await answers(target) == await answers(original)
    assert all(await answers(target)), "every search finds something"
    # the full-text index of the copy passes its own check
    conn = sqlite3.connect(target)
    conn.execute("INSERT INTO headlines_fts (headlines_fts) VALUES ('integrity-check')")
    conn.close()
    assert await next_ids(target) == await next_ids(original)


async def test_round_trip_through_postgres(tmp_path: Path, pg_url: str) -> None:
    original = await source(tmp_path)
    expected = sqlite_dump(original)
    report = await copy_database(original, pg_url)
    assert report.indexed == len(expected["headlines"])
    assert await pg_dump(pg_url) == expected
    # /search finds the same headlines, with the same marks (each backend ranks its own way:
    # bm25 and ts_rank weigh a longer text differently)
    found = await answers(original)
    assert {q: sorted(hits) for q, hits in (await answers(pg_url)).items()} == {
        q: sorted(hits) for q, hits in found.items()
    }
    back = tmp_path / "back.sqlite3"
    await copy_database(pg_url, back)
    assert sqlite_dump(back) == expected
    assert await answers(back) == found
    # ids continue after the copied ones on every side (PostgreSQL's sequences were moved)
    ids = await next_ids(original)
    assert await next_ids(pg_url) == ids
    assert await next_ids(back) == ids


async def test_refuses_a_target_with_rows_and_leaves_it_alone(tmp_path: Path) -> None:
    original = await source(tmp_path)
    other = tmp_path / "other.sqlite3"
    storage = await open_storage(other)
    await storage.feeds.ensure("https://elsewhere.example/feed.xml")
    await storage.close()
    before = sqlite_dump(other)
    with pytest.raises(CopyError, match="not empty"):
        await copy_database(original, other)
    assert sqlite_dump(other) == before


async def test_refuses_while_a_bot_holds_either_database(tmp_path: Path, pg_url: str) -> None:
    original = await source(tmp_path)
    running = await claim(original)
    assert running is not None
    try:
        with pytest.raises(CopyError, match=r"running on the source .*stop it first"):
            await copy_database(original, tmp_path / "copy.sqlite3")
    finally:
        await running.release()
    assert not (tmp_path / "copy.sqlite3").exists()  # a refused copy leaves no file behind
    busy = await claim(pg_url)
    assert busy is not None
    try:
        with pytest.raises(CopyError, match="running on the target"):
            await copy_database(original, pg_url)
    finally:
        await busy.release()
    conn = await asyncpg.connect(pg_url)  # refused before anything was written, schema too
    try:
        assert await conn.fetchval("SELECT to_regclass('feeds')") is None
    finally:
        await conn.close()


async def test_refuses_itself_and_a_missing_source(tmp_path: Path) -> None:
    original = await source(tmp_path)
    with pytest.raises(CopyError, match="source database itself"):
        await copy_database(original, tmp_path / "." / "source.sqlite3")
    with pytest.raises(CopyError, match="no such database"):
        await copy_database(tmp_path / "missing.sqlite3", tmp_path / "copy.sqlite3")
    assert not (tmp_path / "missing.sqlite3").exists()
    assert not (tmp_path / "missing.sqlite3.lock").exists()
    assert not (tmp_path / "copy.sqlite3").exists()
