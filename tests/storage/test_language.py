"""The stemmed index: migration 006, feeds' languages, updates, and routing agreeing with search.

All but the first test run on both backends; migration 006 re-indexed SQLite files written
before stemming, which a PostgreSQL database never was.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from bot.routing import TopicIndex
from bot.text.query import Refusal, headline_terms, parse_search, parse_topic
from storage import Storage
from storage.headlines import HeadlineRepo
from storage.models import SearchPage
from storage.sqlite import fts
from storage.sqlite.db import Database
from storage.sqlite.headlines import SqliteHeadlineRepo
from storage.sqlite.migrate import migration_files
from tests.storage.conftest import NOW, entry, execute, store


async def search(repo: HeadlineRepo, text: str, **kwargs: int) -> SearchPage | None:
    """Search as /search does: parse the text (None when it is refused), then run it."""
    parsed = parse_search(text)
    return None if isinstance(parsed, Refusal) else await repo.search(parsed, **kwargs)


async def test_an_existing_database_is_reindexed_and_its_topics_rekeyed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite only: an old SQLite file migrated in place."""
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    for number, sql in migration_files()[:5]:
        conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;")
    conn.executescript(
        "INSERT INTO feeds (id, url) VALUES (1, 'https://example.org/feed');"
        "INSERT INTO headlines (id, feed_id, key, title, summary, published_at, first_seen_at,"
        " updated_at) VALUES (1, 1, 'a', 'Elections In Bolivia', 'Protesters march', 0, 0, 0),"
        " (2, 1, 'b', 'Lithium deal', 'Chile signs', 0, 0, 0),"
        " (3, 1, 'c', 'Peru votes', '', 0, 0, 0);"
        "INSERT INTO chats (id, kind, created_at, updated_at) VALUES (1, 'private', 0, 0);"
        "INSERT INTO subscriptions (chat_id, topic, created_at) VALUES (1, 'bogota', 0),"
        " (1, 'bolivia s', 0), (1, 'bolivia', 0), (1, 'at t', 0), (1, '-israel', 0),"
        " (1, 'a', 0);"
    )
    conn.close()
    monkeypatch.setattr(fts, "REINDEX_CHUNK", 2)  # a "large" database: progress lines
    with caplog.at_level(logging.INFO, logger="storage.sqlite.fts"):
        db = await Database.open(path)
    try:
        assert "re-indexing 3 headlines" in caplog.text
        assert "re-indexed 3 of 3 headlines" in caplog.text
        repo = SqliteHeadlineRepo(db)
        page = await search(repo, "election protest")
        assert page is not None
        assert [h.headline.title for h in page.hits] == ["Elections In Bolivia"]
        rows = await db.fetchall("SELECT topic, display FROM subscriptions ORDER BY topic")
        # 'bolivia s' (Bolivia's) is `bolivia` now, which the chat follows already
        assert [tuple(r) for r in rows] == [
            ("-israel", "-israel"),
            ("a", "a"),  # refused today (too weak): kept, still matching its word
            ("att", "at t"),  # AT&T, one word now
            ("bogota", "bogota"),
            ("bolivia", "bolivia"),
        ]
        assert await db.integrity_check() == "ok"
        await db.execute("INSERT INTO headlines_fts (headlines_fts) VALUES ('integrity-check')")
    finally:
        await db.close()


async def test_a_feeds_language_stems_its_headlines(storage: Storage) -> None:
    headlines = storage.headlines
    feed = await storage.feeds.ensure("https://example.org/es.xml")
    async with storage.store.transaction() as tx:
        await headlines.set_language(tx, feed.id, "es")
    found = await store(
        storage, [entry("1", "Las elecciones en Bolivia", "Mineros en huelga")], url=feed.url
    )
    assert await headlines.languages_of([found[0].id]) == {found[0].id: "es"}
    assert await headlines.languages() == ["en", "es"]
    for query in ("elección", "eleccion", "minero", '"elecciones"'):
        page = await search(headlines, query)
        assert page is not None
        assert page.total == 1, query
    page = await search(headlines, '"eleccion"')
    assert page is not None
    assert page.total == 0  # exact: not stemmed


async def test_updates_and_deletes_keep_the_index_exact(storage: Storage) -> None:
    headlines = storage.headlines
    await store(storage, [entry("1", "Volcano erupts", "Ash everywhere")])
    await store(storage, [entry("1", "Earthquake strikes", "Ash everywhere")], now=NOW + 60)
    volcano = await search(headlines, "volcano")
    quake = await search(headlines, "earthquakes")
    assert volcano is not None and quake is not None
    assert (volcano.total, quake.total) == (0, 1)
    await execute(storage, "DELETE FROM headlines")
    quake = await search(headlines, "earthquake")
    assert quake is not None and quake.total == 0
    if isinstance(storage.store, Database):  # FTS5's own check (a vector goes with its row)
        await storage.store.execute(
            "INSERT INTO headlines_fts (headlines_fts) VALUES ('integrity-check')"
        )


async def test_search_snippets_mark_the_stemmed_matches(storage: Storage) -> None:
    headlines = storage.headlines
    await store(
        storage, [entry("1", "Vote today", "Thousands of protesters marched to the square.")]
    )
    page = await search(headlines, "protest")
    assert page is not None
    assert "\x02protesters\x03" in page.hits[0].snippet


HEADLINES = [
    ("Elections In Bolivia", "Bolivian voters go to the polls"),
    ("Lithium deal in Chile", "Mining groups sign"),
    ("Chile votes", "A lithium referendum"),
    ("South Africa's case", "Hearings at the court in The Hague"),
    ("Protesters march", "Africa summit ends, south of the city"),
    ("Copper mining strike", "Copper prices rise"),
    ("Copper output up", "Zambia exports more"),
]
TOPICS = [
    "election",
    '"bolivian"',
    "lithium + chile",
    "lithium -mining",
    "south africa",
    "protest",
    "copper -mining",
    '"votes" + chile',
]


async def test_routing_and_search_agree(storage: Storage) -> None:
    headlines = storage.headlines
    stored = await store(storage, [entry(str(i), t, s) for i, (t, s) in enumerate(HEADLINES)])
    index = TopicIndex()
    for n, topic in enumerate(TOPICS):
        index.add(n, topic)
    routed: dict[str, set[int]] = {t: set() for t in TOPICS}
    for h in stored:
        for chat_id in index.route(headline_terms(h.title, h.summary, h.categories, "en")):
            routed[TOPICS[chat_id]].add(h.id)
    for topic in TOPICS:
        parsed = parse_topic(topic)
        assert not isinstance(parsed, Refusal)
        found = await headlines.latest(50, topic=parsed)
        assert {h.id for h in found} == routed[topic], topic
        assert routed[topic], f"{topic} should match something in this test"
