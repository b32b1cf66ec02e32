"""One story, once: two feeds carrying one story store it twice but list and push it once
(on both backends)."""

from __future__ import annotations

from bot.text.query import SearchQuery, parse_search
from storage import Storage
from storage.models import SourcedHeadline
from tests.storage.conftest import NOW, entry, execute, rows, scalar, store

A = "https://a.example/feed.xml"
B = "https://b.example/rss"
HOUR = 3600.0


async def _name(storage: Storage, url: str, name: str) -> None:
    await storage.feeds.ensure(url)
    await execute(storage, "UPDATE feeds SET name = ? WHERE url = ?", name, url)


async def _unrouted(storage: Storage) -> list[str]:
    found = await rows(storage, "SELECT title FROM headlines WHERE routed = 0 ORDER BY id")
    return [row[0] for row in found]


async def _story_of(storage: Storage, headline_id: int) -> int | None:
    story: int | None = await scalar(
        storage, "SELECT story_id FROM headlines WHERE id = ?", headline_id
    )
    return story


async def test_same_canonical_link_is_one_story_naming_both_feeds(storage: Storage) -> None:
    await _name(storage, A, "Alpha News")
    await _name(storage, B, "Beta Digest")
    (first,) = await store(
        storage, [entry("a1", "Bolivia votes", link="https://News.example/bolivia/")], url=A
    )
    link = "https://news.example/bolivia?utm_source=digest&fbclid=x#top"
    (copy,) = await store(storage, [entry("b1", "Vote in Bolivia today", link=link)], url=B)
    assert await scalar(storage, "SELECT count(*) FROM headlines") == 2  # stored once per feed
    assert await _story_of(storage, copy.id) == first.id
    # both await routing: the copy goes only to chats its own feed adds (from:, mutes), so
    # the story is still pushed once (tests/unit/test_sources.py, tests/e2e/test_sources.py)
    assert await _unrouted(storage) == ["Bolivia votes", "Vote in Bolivia today"]

    repo = storage.headlines
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


async def test_same_title_within_48_hours_is_one_story(storage: Storage) -> None:
    await store(storage, [entry("a1", "Lithium deal signed in La Paz")], url=A)
    later = NOW + 47 * HOUR
    (copy,) = await store(
        storage,
        [entry("b1", "LITHIUM Deal signed, in La Paz!", link="https://b.example/x")],
        url=B,
        now=later,
    )
    assert await _story_of(storage, copy.id) is not None
    # more than two days after its last sighting, the same title is news again
    c = "https://c.example/feed"
    (again,) = await store(
        storage,
        [entry("c1", "Lithium deal signed in La Paz", link="https://c.example/y")],
        url=c,
        now=later + 49 * HOUR,
    )
    assert await _story_of(storage, again.id) is None


async def test_short_or_different_titles_stay_apart(storage: Storage) -> None:
    await store(storage, [entry("a1", "Open thread"), entry("a2", "Lithium deal signed")], url=A)
    await store(storage, [entry("b1", "Open thread"), entry("b2", "Lithium deal cancelled")], url=B)
    assert await scalar(storage, "SELECT count(*) FROM headlines WHERE story_id IS NOT NULL") == 0
    assert len(await _unrouted(storage)) == 4


async def test_a_single_feed_names_no_source(storage: Storage) -> None:
    (h,) = await store(storage, [entry("a1", "Bolivia votes")], url=A)
    (listed,) = await storage.headlines.latest(1)
    assert type(listed) is not SourcedHeadline and listed == h


async def test_the_same_feed_keeps_its_own_rules(storage: Storage) -> None:
    """Within one feed a new guid for a known story is an update (HeadlineRepo.upsert); the
    cross-feed rule never marks a feed's headline as a copy of its own."""
    await store(storage, [entry("a1", "Bolivia votes in a runoff")], url=A)
    new = await store(
        storage, [entry("a2", "Bolivia votes in a runoff", link="https://o.example/2")], url=A
    )
    assert len(new) == 1
    assert await scalar(storage, "SELECT count(*) FROM headlines WHERE story_id IS NOT NULL") == 0
