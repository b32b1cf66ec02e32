"""Feeds in the query language: handles, `from:HANDLE`, `-from:HANDLE` and `*`, parsed, resolved
and routed (the index against the reference semantics, copy by copy)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.feeds.handles import SourceBook
from bot.routing import Route, TopicIndex, topic_of_key
from bot.text.handles import MAX_HANDLE_CHARS, handle_for, is_handle, make_handle, unique_handle
from bot.text.query import (
    HeadlineTerms,
    Refusal,
    SearchQuery,
    Topic,
    headline_terms,
    matches,
    parse_search,
    parse_topic,
    show_sources,
    with_feed_ids,
)
from storage.models import FeedRecord, FeedState

# --- handles -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "handle"),
    [
        ("Popular Resistance", "popular-resistance"),
        ("Página/12", "pagina-12"),
        ("  El  País — España ", "el-pais-espana"),
        ("ABC News (Australia)", "abc-news-australia"),
        ("Ça va? Ünïcödé!", "ca-va-unicode"),
        ("日本語", "feed"),
        ("---", "feed"),
    ],
)
def test_make_handle_folds_and_joins_with_dashes(text: str, handle: str) -> None:
    assert make_handle(text) == handle
    assert is_handle(handle)


def test_a_long_name_is_cut_at_a_dash_within_32_characters() -> None:
    handle = make_handle("The International Consortium of Investigative Journalists")
    assert handle == "the-international-consortium-of"
    assert len(handle) <= MAX_HANDLE_CHARS and is_handle(handle)
    one_word = make_handle("x" * 50)
    assert one_word == "x" * MAX_HANDLE_CHARS


def test_handles_come_from_the_name_else_the_title_else_the_host() -> None:
    assert handle_for("Andes Desk", "Wire", "https://a.example/feed") == "andes-desk"
    assert handle_for(None, "Second Wire", "https://a.example/feed") == "second-wire"
    assert handle_for(None, "日本", "https://www.news.example/rss") == "news-example"
    assert handle_for(None, None, "https://feeds.bbci.co.uk/news/rss.xml") == "bbci-co-uk"
    assert handle_for(None, None, "/srv/feeds/local.xml") == "local"


def test_a_clash_gets_a_number_within_the_limit() -> None:
    assert unique_handle("wire", set()) == "wire"
    assert unique_handle("wire", {"wire"}) == "wire-2"
    assert unique_handle("wire", {"wire", "wire-2"}) == "wire-3"
    long = "a" * 32
    numbered = unique_handle(long, {long})
    assert numbered == "a" * 30 + "-2" and is_handle(numbered)


@pytest.mark.parametrize("text", ["", "-a", "a-", "a--b", "A", "a b", "á", "a" * 33, "a_b"])
def test_malformed_handles(text: str) -> None:
    assert not is_handle(text)


# --- parsing -----------------------------------------------------------------------------------


def _topic(text: str) -> Topic:
    parsed = parse_topic(text)
    assert isinstance(parsed, Topic), parsed
    return parsed


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("from:Popular-Resistance", "from:popular-resistance"),
        ("bolivia from:wire", "from:wire bolivia"),
        ("From:wire Bolivia", "from:wire bolivia"),
        ("bolivia from:b from:a", "from:a from:b bolivia"),
        ("lithium + chile -mining from:wire", "from:wire chile + lithium -mining"),
        ("bolivia + from:wire", "from:wire bolivia"),
        ("from:wire + bolivia", "from:wire bolivia"),
        ("bolivia + from:wire + chile", "from:wire bolivia + chile"),
        ("-from:wire", "-from:wire"),
        ("– from:wire", "-from:wire"),
        ("from:wire -sports", "from:wire -sports"),
        ("-bolivia from:wire", "-from:wire bolivia"),
        ("from:#12 bolivia", "from:#12 bolivia"),
        ("*", "*"),
    ],
)
def test_sources_and_everything_parse_to_canonical_keys(text: str, key: str) -> None:
    topic = _topic(text)
    assert topic.key == key
    again = _topic(topic.key)
    assert again.key == key and again.sources == topic.sources
    assert again.everything == (key == "*")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("-*", "mute_everything"),
        ("bolivia -from:wire", "excluded_source"),
        ("from:", "bad_source"),
        ("from:bad_handle", "bad_source"),
        ("from:a from:b from:c from:d from:e from:f", "too_many_sources"),
        ("the from:wire", "weak"),
    ],
)
def test_malformed_sources_are_refused_with_the_reason(text: str, reason: str) -> None:
    refused = parse_topic(text)
    assert isinstance(refused, Refusal)
    assert refused.reason == reason
    assert refused.message


def test_handles_resolve_to_ids_in_key_and_display_and_show_as_handles() -> None:
    topic = _topic("Bogotá from:El-Tiempo -fútbol")
    assert topic.handles == ("el-tiempo",) and topic.feed_ids == frozenset()
    resolved = with_feed_ids(topic, {"el-tiempo": 7})
    assert resolved.key == "from:#7 bogota -futbol"
    assert resolved.display == "Bogotá from:#7 -fútbol"  # as typed, but for the feed
    assert resolved.feed_ids == frozenset({7}) and not resolved.handles
    assert show_sources(resolved.display, {7: "tiempo"}) == "Bogotá from:tiempo -fútbol"
    assert show_sources("-from:#7", {7: "tiempo"}) == "-from:tiempo"
    assert show_sources("from:#8", {7: "tiempo"}) == "from:#8"  # a feed gone: its id
    assert show_sources("bolivia", {7: "tiempo"}) == "bolivia"


def test_searches_take_sources_exclusions_of_feeds_and_everything() -> None:
    query = parse_search("bolivia OR peru from:Wire -from:other")
    assert isinstance(query, SearchQuery)
    assert query.sources == ("wire",) and query.excluded_sources == ("other",)
    assert query.used == "bolivia OR peru from:wire -from:other"
    assert query.handles == ("wire", "other")
    resolved = query.with_feed_ids({"wire": 1, "other": 2})
    assert resolved.feed_ids == frozenset({1}) and resolved.excluded_feed_ids == frozenset({2})
    assert resolved.used == query.used  # retyped by the reader: handles
    everything = parse_search("*")
    assert isinstance(everything, SearchQuery)
    assert everything.everything and everything.words_free and everything.used == "*"
    feed = parse_search("from:wire")
    assert isinstance(feed, SearchQuery) and feed.words_free and not feed.everything
    refused = parse_search("bolivia from:no_such")
    assert isinstance(refused, Refusal) and refused.reason == "bad_source"


# --- the reference semantics -------------------------------------------------------------------


def _terms(text: str, *feeds: int) -> HeadlineTerms:
    return headline_terms(text, "", (), "en", feeds=feeds)


def test_matches_knows_the_feeds_that_carry_a_headline() -> None:
    bolivia_in_1 = _topic("bolivia from:#1")
    assert matches(bolivia_in_1, _terms("Bolivia votes", 1))
    assert not matches(bolivia_in_1, _terms("Bolivia votes", 2))
    assert not matches(bolivia_in_1, _terms("Peru votes", 1))
    assert matches(_topic("from:#1"), _terms("Anything", 1))
    assert matches(_topic("from:#1 from:#2"), _terms("Anything", 2))
    assert matches(_topic("*"), _terms("Anything"))
    assert matches(_topic("-from:#1"), _terms("Anything", 1))  # a mute: muted
    assert not matches(_topic("from:#1 -sports"), _terms("Sports news", 1))
    assert not matches(_topic("from:wire"), _terms("Anything", 1))  # unresolved: no feed


# --- the index ---------------------------------------------------------------------------------


def test_route_a_feed_whole_a_topic_in_a_feed_and_everything() -> None:
    index = TopicIndex()
    index.add(1, "from:#1")
    index.add(2, "bolivia from:#2")
    index.add(3, "*")
    index.add(4, "bolivia")
    index.add(5, "from:#1 -sports")
    assert index.route(_terms("Bolivia votes", 1)) == {
        1: Route(None, ("from:#1",)),
        3: Route(None, ("*",)),
        4: Route(None, ("bolivia",)),
        5: Route(None, ("from:#1 -sports",)),
    }
    assert set(index.route(_terms("Bolivia votes", 2))) == {2, 3, 4}
    assert set(index.route(_terms("Sports in Bolivia", 1))) == {1, 3, 4}
    assert set(index.route(_terms("Peru votes", 3))) == {3}


def test_mutes_apply_to_everything_and_a_feed_mute_to_its_feed_only() -> None:
    index = TopicIndex()
    index.add(1, "*")
    index.add(1, "-israel")
    index.add(2, "*")
    index.add(2, "-from:#1")
    assert set(index.route(_terms("Israel and Gaza", 2))) == {2}
    assert set(index.route(_terms("Gaza", 1))) == {1}
    # a story two feeds carry: the chat that mutes one still gets it from the other
    assert set(index.route(_terms("Gaza", 1, 2))) == {1, 2}


def test_a_late_copy_goes_only_where_its_own_feed_adds_a_chat() -> None:
    index = TopicIndex()
    index.add(1, "from:#1")
    index.add(2, "from:#2")
    index.add(3, "from:#1")
    index.add(3, "from:#2")
    index.add(4, "*")
    index.add(4, "-from:#1")
    index.add(5, "bolivia")
    first = index.route(_terms("Bolivia votes", 1))
    assert set(first) == {1, 3, 5}
    late = index.route(_terms("Bolivia votes", 2), before=(1,))
    assert set(late) == {2, 4}  # never 1, 3 or 5 again
    assert index.route(_terms("Bolivia votes", 2), before=(2,)) == {}


def test_removing_source_topics_leaves_nothing_behind() -> None:
    index = TopicIndex()
    for chat_id, topic in [(1, "from:#1"), (1, "*"), (2, "-from:#1"), (2, "bolivia from:#1")]:
        index.add(chat_id, topic)
    index.remove(1, "from:#1")
    index.remove_chat(1)
    index.remove_chat(2)
    assert len(index) == 0
    assert index.route(_terms("Bolivia", 1)) == {}
    assert not index._by_feed and index._everything is None and index._bound == 0
    assert not index._topics


TOPICS = [
    "bolivia",
    "-bolivia",
    "peru",
    "*",
    "from:#1",
    "from:#2",
    "-from:#1",
    "-from:#2",
    "bolivia from:#1",
    "peru from:#1 from:#2",
    "from:#2 -peru",
    "-bolivia from:#2",
]


def _expected(
    index: TopicIndex, chats: set[int], terms: HeadlineTerms, before: tuple[int, ...]
) -> dict[int, Route]:
    """The reference: a copy reaches a chat when a topic matches it and no mute does."""

    def reach(feed: int) -> dict[int, list[str]]:
        copy = replace(terms, feeds=(feed,))
        out: dict[int, list[str]] = {}
        for chat_id in chats:
            parsed = {t: topic_of_key(t) for t in index.topics_of(chat_id)}
            hits = [t for t, p in parsed.items() if p and not p.mute and matches(p, copy)]
            mutes = [t for t, p in parsed.items() if p and p.mute and matches(p, copy)]
            if hits and not mutes:
                out[chat_id] = hits
        return out

    merged: dict[int, set[str]] = {}
    for feed in terms.feeds:
        for chat_id, hits in reach(feed).items():
            merged.setdefault(chat_id, set()).update(hits)
    for feed in before:
        for chat_id in reach(feed):
            merged.pop(chat_id, None)
    expected = {}
    for chat_id, hits in merged.items():
        topics = tuple(sorted(hits))
        expected[chat_id] = Route(index.topics_of(chat_id)[topics[0]], topics)
    return expected


@settings(max_examples=300)
@given(
    subs=st.lists(
        st.tuples(st.integers(1, 5), st.sampled_from(TOPICS), st.sampled_from([None, 10])),
        max_size=20,
    ),
    words=st.lists(st.sampled_from(["Bolivia", "Peru", "votes", "x"]), max_size=6),
    feeds=st.lists(st.integers(1, 3), min_size=1, max_size=3, unique=True),
    before=st.lists(st.integers(1, 3), max_size=2, unique=True),
)
def test_route_agrees_with_the_reference_copy_by_copy(
    subs: list[tuple[int, str, int | None]],
    words: list[str],
    feeds: list[int],
    before: list[int],
) -> None:
    index = TopicIndex()
    for chat_id, topic, thread_id in subs:
        index.add(chat_id, topic, thread_id)
    terms = _terms(" ".join(words), *feeds)
    chats = {c for c, _, _ in subs}
    assert index.route(terms, before=tuple(before)) == _expected(index, chats, terms, tuple(before))


# --- resolving handles -------------------------------------------------------------------------


def _feed(feed_id: int, handle: str, *, removed: bool = False) -> FeedRecord:
    state = FeedState(
        id=feed_id,
        url=f"https://{handle}.example/feed",
        title=handle.title(),
        etag=None,
        last_modified=None,
        last_attempt_at=None,
        last_success_at=None,
        consecutive_failures=0,
        failing_since=None,
        next_attempt_at=0,
        last_error=None,
        baseline_done=True,
        alerted=False,
    )
    return FeedRecord(
        state=state,
        name=None,
        paused=False,
        added_at=None,
        added_by=None,
        interval_seconds=None,
        removed_at=1.0 if removed else None,
        handle=handle,
    )


def test_a_book_resolves_handles_refuses_unknown_ones_and_shows_current_handles() -> None:
    book = SourceBook([_feed(1, "wire"), _feed(2, "gone", removed=True)])
    assert book.handles() == ["wire"]
    resolved = book.resolve(_topic("bolivia from:wire"))
    assert isinstance(resolved, Topic) and resolved.key == "from:#1 bolivia"
    unknown = book.resolve(_topic("from:nobody"))
    assert isinstance(unknown, Refusal) and unknown.reason == "unknown_source"
    assert "nobody" in unknown.message
    refused = book.resolve(_topic("from:gone"))  # a removed feed is not followed anew
    assert isinstance(refused, Refusal)
    kept = book.resolve(_topic("from:gone"), removed=True)  # but its topic can be removed
    assert isinstance(kept, Topic) and kept.key == "from:#2"
    assert book.removed_in(kept) and not book.removed_in(_topic("from:#1 from:#2"))
    assert book.show("from:#2 bolivia") == "from:gone bolivia"
    search = parse_search("from:wire -from:nobody")
    assert isinstance(search, SearchQuery)
    assert isinstance(book.resolve_search(search), Refusal)
