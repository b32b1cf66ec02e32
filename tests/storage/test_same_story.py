"""One story, once: two feeds carrying one story store it twice but list and push it once."""

from __future__ import annotations

from bot.text.query import SearchQuery, parse_search
from storage.models import SourcedHeadline
from storage.sqlite.db import Database
from storage.sqlite.feeds import SqliteFeedRepo
from tests.storage.conftest import NOW, entry, store

A = "https://a.example/feed.xml"
B = "https://b.example/rss"
HOUR = 3600.0


async def _name(db: Database, url: str, name: str) -> None:
    await SqliteFeedRepo(db).ensure(url)
    await db.execute("UPDATE feeds SET name = ? WHERE url = ?", (name, url))


async def _unrouted(db: Database) -> list[str]:
    rows = await db.fetchall("SELECT title FROM headlines WHERE routed = 0 ORDER BY id")
    return [row[0] for row in rows]


async def test_same_canonical_link_is_one_story_naming_both_feeds(db: Database) -> None:
    await _name(db, A, "Alpha News")
    await _name(db, B, "Beta Digest")
    (first,) = await store(
        db, [entry("a1", "Bolivia votes", link="https://News.example/bolivia/")], url=A
    )
    link = "https://news.example/bolivia?utm_source=digest&fbclid=x#top"
    (copy,) = await store(db, [entry("b1", "Vote in Bolivia today", link=link)], url=B)
    assert await db.scalar("SELECT count(*) FROM headlines") == 2  # stored once per feed
    assert await db.scalar("SELECT story_id FROM headlines WHERE id = ?", (copy.id,)) == first.id
    assert await _unrouted(db) == ["Bolivia votes"]  # routed (pushed) once

    from storage.sqlite.headlines import SqliteHeadlineRepo

    repo = SqliteHeadlineRepo(db)
    (listed,) = await repo.latest(10)
    assert listed.id == first.id
    assert isinstance(listed, SourcedHeadline)
    assert listed.sources == ("Alpha News", "Beta Digest")
    query = parse_search("bolivia")
    assert isinstance(query, SearchQuery)
    page = await repo.search(query)
    assert page is not None
    assert [hit.headline.id for hit in page.hits] == [first.id]
    assert page.total == 1
    pushed = await repo.get_many([first.id])
    assert getattr(pushed[first.id], "sources", ()) == ("Alpha News", "Beta Digest")


async def test_same_title_within_48_hours_is_one_story(db: Database) -> None:
    await store(db, [entry("a1", "Lithium deal signed in La Paz")], url=A)
    later = NOW + 47 * HOUR
    (copy,) = await store(
        db,
        [entry("b1", "LITHIUM Deal signed, in La Paz!", link="https://b.example/x")],
        url=B,
        now=later,
    )
    assert await db.scalar("SELECT story_id FROM headlines WHERE id = ?", (copy.id,)) is not None
    # more than two days after its last sighting, the same title is news again
    c = "https://c.example/feed"
    (again,) = await store(
        db,
        [entry("c1", "Lithium deal signed in La Paz", link="https://c.example/y")],
        url=c,
        now=later + 49 * HOUR,
    )
    assert await db.scalar("SELECT story_id FROM headlines WHERE id = ?", (again.id,)) is None


async def test_short_or_different_titles_stay_apart(db: Database) -> None:
    await store(db, [entry("a1", "Open thread"), entry("a2", "Lithium deal signed")], url=A)
    await store(db, [entry("b1", "Open thread"), entry("b2", "Lithium deal cancelled")], url=B)
    assert await db.scalar("SELECT count(*) FROM headlines WHERE story_id IS NOT NULL") == 0
    assert len(await _unrouted(db)) == 4


async def test_a_single_feed_names_no_source(db: Database) -> None:
    from storage.sqlite.headlines import SqliteHeadlineRepo

    (h,) = await store(db, [entry("a1", "Bolivia votes")], url=A)
    (listed,) = await SqliteHeadlineRepo(db).latest(1)
    assert type(listed) is not SourcedHeadline and listed == h


async def test_the_same_feed_keeps_its_own_rules(db: Database) -> None:
    """Within one feed a new guid for a known story is an update (HeadlineRepo.upsert); the
    cross-feed rule never marks a feed's headline as a copy of its own."""
    await store(db, [entry("a1", "Bolivia votes in a runoff")], url=A)
    new = await store(
        db, [entry("a2", "Bolivia votes in a runoff", link="https://o.example/2")], url=A
    )
    assert len(new) == 1
    assert await db.scalar("SELECT count(*) FROM headlines WHERE story_id IS NOT NULL") == 0
