"""Feeds' handles and the feeds (`from:`, `*`) of topics and searches, in storage (on both
backends; the migration that gives existing feeds their handles on SQLite)."""

from __future__ import annotations

from pathlib import Path

import aiosqlite

from bot.text.query import SearchQuery, Topic, parse_search, parse_topic, with_feed_ids
from storage import Storage
from storage.sqlite import fts
from storage.sqlite.db import Database
from storage.sqlite.feeds import SqliteFeedRepo
from storage.sqlite.migrate import migration_files
from tests.storage.conftest import NOW, entry, execute, store

A = "https://a.example/feed.xml"
B = "https://www.b.example/rss"
DAY = 86400.0


async def _handles(storage: Storage) -> dict[str, str]:
    return {r.url: r.handle for r in await storage.feeds.records(removed=True)}


async def _read(storage: Storage, url: str, title: str | None) -> None:
    feed = await storage.feeds.ensure(url)
    async with storage.store.transaction() as tx:
        await storage.feeds.record_success(
            tx, feed.id, now=NOW, etag=None, last_modified=None, title=title
        )


def _topic(text: str, ids: dict[str, int] | None = None) -> Topic:
    parsed = parse_topic(text)
    assert isinstance(parsed, Topic), parsed
    return with_feed_ids(parsed, ids or {})


def _search(text: str, ids: dict[str, int]) -> SearchQuery:
    parsed = parse_search(text)
    assert isinstance(parsed, SearchQuery), parsed
    return parsed.with_feed_ids(ids)


async def test_a_feed_gets_a_handle_from_its_host_then_its_title(storage: Storage) -> None:
    await storage.feeds.ensure(A)
    await storage.feeds.ensure(B)
    assert await _handles(storage) == {A: "a-example", B: "b-example"}
    await _read(storage, A, "Popular Resistance")
    await _read(storage, B, "Popular Resistance")  # a clash: a number
    assert await _handles(storage) == {A: "popular-resistance", B: "popular-resistance-2"}
    await _read(storage, A, "Renamed Upstream")  # settled: a later title changes nothing
    assert (await _handles(storage))[A] == "popular-resistance"


async def test_a_named_feed_takes_its_name_and_a_rename_is_final(storage: Storage) -> None:
    async with storage.store.transaction() as tx:
        state = await storage.feeds.add(tx, A, name="Andes Desk", added_by=1, now=NOW)
    assert (await _handles(storage))[A] == "andes-desk"
    async with storage.store.transaction() as tx:
        other = await storage.feeds.add(tx, B, name=None, added_by=1, now=NOW)
    assert not await storage.feeds.set_handle(other.id, "andes-desk")  # taken
    assert await storage.feeds.set_handle(other.id, "beta")
    await _read(storage, B, "Beta Wire Daily")  # a handle given by hand stays
    assert await _handles(storage) == {A: "andes-desk", B: "beta"}
    # a removed feed keeps its handle, so adding it back revives the topics that name it
    assert await storage.feeds.remove(state.id, now=NOW)
    assert [r.url for r in await storage.feeds.records()] == [B]
    assert (await _handles(storage))[A] == "andes-desk"
    async with storage.store.transaction() as tx:
        back = await storage.feeds.add(tx, A, name=None, added_by=1, now=NOW)
    assert back.id == state.id and (await _handles(storage))[A] == "andes-desk"


async def test_configured_feeds_get_unique_handles(storage: Storage) -> None:
    urls = [f"https://news.example/{n}.xml" for n in range(3)]
    await storage.feeds.ensure_configured(urls, now=NOW)
    assert sorted((await _handles(storage)).values()) == [
        "news-example",
        "news-example-2",
        "news-example-3",
    ]


async def test_feeds_filter_latest_preview_and_search(storage: Storage) -> None:
    a1, a2 = await store(
        storage,
        [
            entry("a1", "Bolivia votes", published_at=NOW + 1),
            entry("a2", "Peru protests", published_at=NOW + 2),
        ],
        url=A,
    )
    (b1,) = await store(storage, [entry("b1", "Bolivia mines", published_at=NOW + 3)], url=B)
    ids = {r.handle: r.id for r in await storage.feeds.records()}
    ids = {"a": ids["a-example"], "b": ids["b-example"]}
    repo = storage.headlines

    assert [h.id for h in await repo.latest(10, topic=_topic("from:a", ids))] == [a2.id, a1.id]
    assert [h.id for h in await repo.latest(10, topic=_topic("bolivia from:b", ids))] == [b1.id]
    both = _topic("bolivia from:a from:b", ids)
    assert [h.id for h in await repo.latest(10, topic=both)] == [b1.id, a1.id]
    everything = _topic("*")
    assert [h.id for h in await repo.latest(2, topic=everything)] == [b1.id, a2.id]
    excluded = _topic("from:a -peru", ids)
    assert [h.id for h in await repo.latest(10, topic=excluded)] == [a1.id]
    unresolved = _topic("from:nobody")  # a handle no feed has names no feed
    assert await repo.latest(10, topic=unresolved) == []

    count, newest = await repo.preview(_topic("from:a", ids), since=NOW - DAY)
    assert count == 2 and [h.id for h in newest] == [a2.id, a1.id]
    count, _ = await repo.preview(everything, since=NOW - DAY)
    assert count == 3
    count, newest = await repo.preview(_topic("bolivia from:b", ids), since=NOW - DAY)
    assert count == 1 and [h.id for h in newest] == [b1.id]

    page = await repo.search(_search("bolivia from:a", ids))
    assert [hit.headline.id for hit in page.hits] == [a1.id]
    page = await repo.search(_search("bolivia -from:a", ids))
    assert [hit.headline.id for hit in page.hits] == [b1.id]
    page = await repo.search(_search("from:a", ids))  # a feed alone: its newest
    assert [hit.headline.id for hit in page.hits] == [a2.id, a1.id] and page.total == 2
    page = await repo.search(_search("*", ids))
    assert page.total == 3
    page = await repo.search(_search("-from:b", ids))
    assert {hit.headline.id for hit in page.hits} == {a1.id, a2.id}


async def test_a_story_two_feeds_carry_is_listed_once_for_either_feed(storage: Storage) -> None:
    (first,) = await store(storage, [entry("a1", "Bolivia elects a president")], url=A)
    (copy,) = await store(
        storage, [entry("b1", "Bolivia elects a president", link="https://a.example/x")], url=B
    )
    (late,) = await store(
        storage, [entry("c1", "Bolivia elects a president", link="https://c.example/")], url=B
    )
    assert copy.id != first.id
    feeds = {r.handle: r.id for r in await storage.feeds.records()}
    a, b = feeds["a-example"], feeds["b-example"]
    listed = await storage.headlines.latest(10, topic=_topic("from:b", {"b": b}))
    assert [h.id for h in listed] == [first.id]  # the story, once, as its first headline
    earlier = await storage.headlines.earlier_feeds([first.id, copy.id, late.id])
    assert earlier == {copy.id: (a,), late.id: (a, b)}


async def test_the_migration_gives_existing_feeds_handles(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    async with aiosqlite.connect(path) as conn:  # the schema as migration 11 left it
        await fts.install(conn)
        for number, sql in migration_files()[:11]:
            await conn.executescript(f"{sql}\nPRAGMA user_version = {number};")
        await conn.executemany(
            "INSERT INTO feeds (url, name, title) VALUES (?, ?, ?)",
            [
                ("https://a.example/", "Andes Desk", "Ignored"),
                ("https://b.example/", None, "Página/12"),
                ("https://c.example/", None, "Página 12"),
                ("https://www.d.example/feed", None, None),
            ],
        )
        await conn.commit()
    db = await Database.open(path)
    try:
        records = await SqliteFeedRepo(db).records()
        handles = [r.handle for r in records]
        assert handles == ["andes-desk", "pagina-12", "pagina-12-2", "d-example"]
        # the one from its host is settled by the feed's first read with a title
        async with db.transaction() as tx:
            await SqliteFeedRepo(db).record_success(
                tx, records[3].id, now=NOW, etag=None, last_modified=None, title="Delta"
            )
        assert (await SqliteFeedRepo(db).records())[3].handle == "delta"
    finally:
        await db.close()


async def test_handles_stay_unique_in_the_database(storage: Storage) -> None:
    await storage.feeds.ensure(A)
    await storage.feeds.ensure(B)
    failed = False
    try:
        await execute(storage, "UPDATE feeds SET handle = 'same'")
    except Exception:  # the unique index refuses it, whatever the driver calls the error
        failed = True
    assert failed
