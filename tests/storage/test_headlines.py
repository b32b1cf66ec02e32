"""Storing headlines: dedupe, updates in place, the newest list and the counters (on both
backends)."""

from __future__ import annotations

from bot.text.query import SearchQuery, Topic, parse_search, parse_topic
from storage import Storage
from tests.storage.conftest import NOW, entry, store


def _query(text: str) -> SearchQuery:
    parsed = parse_search(text)
    assert isinstance(parsed, SearchQuery), parsed
    return parsed


async def test_new_entries_are_returned_with_ids(storage: Storage) -> None:
    new = await store(
        storage, [entry("a", "Alpha", categories=("World", "Europe")), entry("b", "Beta")]
    )
    assert [h.title for h in new] == ["Alpha", "Beta"]
    assert all(h.id > 0 and not h.baseline and h.first_seen_at == NOW for h in new)
    stored = await storage.headlines.get_many([h.id for h in new])
    assert stored[new[0].id] == new[0]
    assert stored[new[0].id].categories == ("World", "Europe")
    assert stored[new[1].id].categories == ()


async def test_re_upsert_adds_nothing(storage: Storage) -> None:
    entries = [entry(str(i), f"Title {i}") for i in range(10)]
    assert len(await store(storage, entries)) == 10
    feed_id = (await storage.headlines.latest(1))[0].feed_id
    async with storage.store.transaction() as conn:
        result = await storage.headlines.upsert(
            conn, feed_id, entries, baseline=False, now=NOW + 60
        )
    assert (result.new, result.updated, result.unchanged) == ((), 0, 10)
    assert await storage.headlines.count() == 10


async def test_same_key_in_two_feeds_is_two_headlines(storage: Storage) -> None:
    await store(storage, [entry("x", "One")], url="https://a.example/feed")
    assert len(await store(storage, [entry("x", "One")], url="https://b.example/feed")) == 1


async def test_duplicate_key_in_one_batch_first_wins(storage: Storage) -> None:
    new = await store(storage, [entry("k", "First"), entry("k", "Second")])
    assert [h.title for h in new] == ["First"]
    assert [h.title for h in await storage.headlines.latest(5)] == ["First"]


async def test_baseline_flag_is_stored(storage: Storage) -> None:
    new = await store(storage, [entry("a", "Old news")], baseline=True)
    assert new[0].baseline
    assert (await storage.headlines.get_many([new[0].id]))[new[0].id].baseline


async def test_changed_entry_is_updated_in_place(storage: Storage) -> None:
    (old,) = await store(storage, [entry("a", "Volcano erupts", "Ash over the island")])
    async with storage.store.transaction() as conn:
        result = await storage.headlines.upsert(
            conn,
            old.feed_id,
            [entry("a", "Earthquake strikes", "Ash over the island")],
            baseline=False,
            now=NOW + 60,
        )
    assert (result.new, result.updated, result.unchanged) == ((), 1, 0)
    assert (await storage.headlines.get_many([old.id]))[old.id].title == "Earthquake strikes"
    found = await storage.headlines.search(_query("earthquake"))
    assert found is not None
    assert [hit.headline.id for hit in found.hits] == [old.id]
    gone = await storage.headlines.search(_query("volcano"))
    assert gone is not None
    assert gone.total == 0
    assert await storage.headlines.count() == 1


async def test_link_or_categories_change_counts_as_update(storage: Storage) -> None:
    (old,) = await store(storage, [entry("a", "Same", link="https://x.example/1")])
    async with storage.store.transaction() as conn:
        result = await storage.headlines.upsert(
            conn,
            old.feed_id,
            [entry("a", "Same", link="https://x.example/2", categories=("Sport",))],
            baseline=False,
            now=NOW,
        )
    assert result.updated == 1
    stored = (await storage.headlines.get_many([old.id]))[old.id]
    assert (stored.link, stored.categories) == ("https://x.example/2", ("Sport",))


async def test_upsert_of_five_thousand_entries_in_one_go(storage: Storage) -> None:
    entries = [
        entry(f"k{i}", f"Headline number {i} about markets", "Some summary text " * 5)
        for i in range(5000)
    ]
    new = await store(storage, entries)
    assert len(new) == 5000
    assert len({h.id for h in new}) == 5000
    # benchmarks/store.py times both (a per-row round trip would be ten times slower)
    async with storage.store.transaction() as conn:
        result = await storage.headlines.upsert(
            conn, new[0].feed_id, entries, baseline=False, now=NOW
        )
    assert result.unchanged == 5000


async def test_latest_is_newest_first_and_pages(storage: Storage) -> None:
    await store(storage, [entry(str(i), f"Item {i}", published_at=NOW + i) for i in range(7)])
    first = await storage.headlines.latest(3)
    second = await storage.headlines.latest(3, offset=3)
    assert [h.title for h in first] == ["Item 6", "Item 5", "Item 4"]
    assert [h.title for h in second] == ["Item 3", "Item 2", "Item 1"]
    assert [h.title for h in await storage.headlines.latest(3, offset=6)] == ["Item 0"]


async def test_latest_filtered_by_topic(storage: Storage) -> None:
    await store(
        storage,
        [
            entry("1", "New York marathon", published_at=NOW + 1),
            entry("2", "York minster repairs", published_at=NOW + 2),
            entry("3", "A new start in York", "york", published_at=NOW + 3),
            entry("4", "Weather", categories=("New York",), published_at=NOW + 4),
        ],
    )
    phrase = parse_topic("new york")
    assert isinstance(phrase, Topic)
    assert [h.title for h in await storage.headlines.latest(10, topic=phrase)] == [
        "Weather",
        "New York marathon",
    ]
    words = parse_topic("york")
    assert isinstance(words, Topic)
    assert len(await storage.headlines.latest(10, topic=words)) == 4


async def test_counts_and_latest_titles(storage: Storage) -> None:
    await store(storage, [entry("a", "A", published_at=NOW - 10)], now=NOW - 100)
    await store(storage, [entry("b", "B", published_at=NOW), entry("c", "C", published_at=NOW - 5)])
    assert await storage.headlines.count() == 3
    assert await storage.headlines.count_since(NOW - 50) == 2
    assert [h.title for h in await storage.headlines.latest(2)] == ["B", "C"]
    assert await storage.headlines.get_many([]) == {}


def _topic(text: str) -> Topic:
    parsed = parse_topic(text)
    assert isinstance(parsed, Topic), parsed
    return parsed


async def test_preview_counts_a_topics_recent_stories(storage: Storage) -> None:
    await store(
        storage, [entry("old", "Lithium prices fall", published_at=NOW - 900)], now=NOW - 900
    )
    await store(
        storage,
        [
            entry("a", "Lithium mining in Chile", published_at=NOW + 1),
            entry("b", "Chile votes", published_at=NOW + 2),
            entry("c", "More lithium", "From the salt flats", published_at=NOW + 3),
        ],
    )
    count, newest = await storage.headlines.preview(_topic("lithium"), since=NOW - 60, limit=1)
    assert count == 2
    assert [h.title for h in newest] == ["More lithium"]
    assert await storage.headlines.preview(_topic("bolivia"), since=NOW - 60) == (0, [])
    assert await storage.headlines.preview(_topic("lithium"), since=NOW + 60) == (0, [])


async def test_recent_texts_feed_suggestions(storage: Storage) -> None:
    await store(storage, [entry("old", "Ancient news", published_at=NOW - 900)], now=NOW - 900)
    await store(
        storage,
        [
            entry("a", "Lithium mining in Chile", "Salt flats", published_at=NOW + 1),
            entry("b", "Chile votes", published_at=NOW + 2),
        ],
    )
    texts = await storage.headlines.recent_texts(since=NOW - 60)
    assert sorted(texts) == ["Chile votes", "Lithium mining in Chile", "Salt flats"]
    texts = await storage.headlines.recent_texts(since=NOW - 60, topics=[_topic("lithium")])
    assert sorted(texts) == ["Lithium mining in Chile", "Salt flats"]
    assert await storage.headlines.recent_texts(since=NOW + 60) == []


async def test_routing_reads_unrouted_headlines_and_marks_them(storage: Storage) -> None:
    baseline = await store(storage, [entry("a", "Old")], baseline=True)
    new = await store(storage, [entry("b", "New one"), entry("c", "New two")])
    assert [h.id for h in await storage.headlines.unrouted(10)] == [h.id for h in new]
    async with storage.store.transaction() as tx:
        await storage.headlines.mark_routed(tx, [new[0].id])
    assert [h.id for h in await storage.headlines.unrouted(10)] == [new[1].id]
    ids = [baseline[0].id, new[0].id]
    assert await storage.headlines.languages_of(ids) == {i: "en" for i in ids}
    assert await storage.headlines.languages_of([]) == {}


async def test_a_copy_names_the_feeds_that_brought_its_story_first(storage: Storage) -> None:
    link = "https://news.example/bolivia"
    (first,) = await store(
        storage, [entry("a", "Bolivia votes", link=link)], url="https://a.example/"
    )
    (second,) = await store(storage, [entry("b", "Vote", link=link)], url="https://b.example/")
    (third,) = await store(storage, [entry("c", "Votes", link=link)], url="https://c.example/")
    earlier = await storage.headlines.earlier_feeds([first.id, second.id, third.id])
    assert earlier == {second.id: (first.feed_id,), third.id: (first.feed_id, second.feed_id)}
    assert await storage.headlines.earlier_feeds([]) == {}
