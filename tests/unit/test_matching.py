"""Folding, whole-word topic matching and routing through the TopicIndex."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.routing import Route, TopicIndex, suggest_topics, topic_of_key
from bot.text.language import fold
from bot.text.query import FIELD_BOUNDARY, Refusal, Topic, headline_terms, matches, parse_topic

# --- fold --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Marquéz", "marquez"),
        ("SÃO PAULO", "sao paulo"),
        ("Øresund", "oresund"),
        ("Łódź", "lodz"),
        ("Straße", "strasse"),
        ("Ærø", "aero"),
        ("Africa’s", "africa's"),
        ("“quoted”", '"quoted"'),
        ("ﬁnance", "finance"),
        ("ＡＢＣ", "abc"),
        ("plain ascii", "plain ascii"),
    ],
)
def test_fold(text: str, expected: str) -> None:
    assert fold(text) == expected


# --- matching ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "text", "expected"),
    [
        ("ali", "Ali Arce wins", True),
        ("ali", "Kaliman speaks", False),
        ("ali", "Salinas market", False),
        ("ali", "Troops leave Mali", False),
        ("bogotá", "BOGOTA TODAY", True),
        ("bogota", "Bogotá's mayor", True),
        ("south africa", "South Africa's case", True),
        ("south africa", "South of Africa", False),
        ("africa south", "South Africa", False),
        ("-israel", "Israel responds", True),  # the phrase of a mute matches too
    ],
)
def test_topic_matches(topic: str, text: str, expected: bool) -> None:
    assert matches(_topic(topic), headline_terms(text, "", (), "en")) is expected


def test_headline_terms_keep_phrases_inside_one_field() -> None:
    terms = headline_terms("Talks in South", "Africa watches", ["Politics", "Latin America"], "en")
    assert FIELD_BOUNDARY in terms.words
    assert not matches(_topic("south africa"), terms)
    assert not matches(_topic("politics latin"), terms)
    assert matches(_topic("latin america"), terms)
    assert matches(_topic("africa watches"), terms)


def _topic(text: str) -> Topic:
    parsed = parse_topic(text)
    assert isinstance(parsed, Topic), parsed
    return parsed


def _key(text: str) -> str | None:
    parsed = parse_topic(text)
    return None if isinstance(parsed, Refusal) else parsed.key


# --- the index ---------------------------------------------------------------------------------


def _route(
    index: TopicIndex, title: str, summary: str = "", language: str = "en"
) -> dict[int, Route]:
    return index.route(headline_terms(title, summary, (), language))


def test_route_whole_words_and_phrases() -> None:
    index = TopicIndex()
    index.add(1, "ali")
    index.add(2, "south africa", thread_id=7)
    index.add(2, "case")
    index.add(3, "africa")
    routes = _route(index, "South Africa’s case", "Ali Arce comments; Kaliman silent")
    assert routes == {
        1: Route(None, ("ali",)),
        2: Route(None, ("case", "south africa")),
        3: Route(None, ("africa",)),
    }
    assert _route(index, "Kaliman in Mali") == {}


def test_route_thread_is_the_first_matching_topic() -> None:
    index = TopicIndex()
    index.add(5, "venezuela", thread_id=20)
    index.add(5, "bolivia", thread_id=10)
    assert _route(index, "Bolivia and Venezuela") == {5: Route(10, ("bolivia", "venezuela"))}
    assert _route(index, "Venezuela votes") == {5: Route(20, ("venezuela",))}


def test_mutes_win_over_matches() -> None:
    index = TopicIndex()
    index.add(1, "gaza")
    index.add(1, "-israel")
    index.add(2, "gaza")
    index.add(3, "-israel")  # a chat with only mutes gets nothing
    routes = _route(index, "Gaza ceasefire", "Israel and Hamas agree")
    assert set(routes) == {2}
    assert set(_route(index, "Gaza ceasefire")) == {1, 2}


def test_add_normalises_and_is_idempotent() -> None:
    index = TopicIndex()
    index.add(1, "  Bogotá ")
    index.add(1, "bogota", thread_id=3)
    assert len(index) == 1
    assert index.topics_of(1) == {"bogota": 3}
    with pytest.raises(ValueError, match="not a valid topic"):
        index.add(1, "!!")


def test_remove_and_remove_chat() -> None:
    index = TopicIndex()
    index.add(1, "bolivia")
    index.add(1, "-bolivia")
    index.add(2, "bolivia")
    assert index.remove(1, "-bolivia")
    assert not index.remove(1, "-bolivia")
    assert not index.remove(9, "bolivia")
    assert set(_route(index, "Bolivia")) == {1, 2}
    assert index.remove_chat(1) == 1
    assert index.remove_chat(1) == 0
    assert set(_route(index, "Bolivia")) == {2}
    assert index.remove(2, "Bolivia")
    assert len(index) == 0
    assert _route(index, "Bolivia") == {}
    assert index.topics_of(2) == {}
    # Nothing is left behind once the last subscriber leaves.
    assert index.matching_topics(headline_terms("Bolivia", "", (), "en")) == set()


def test_move_chat_keeps_topics_and_threads() -> None:
    index = TopicIndex()
    index.add(-100, "peru", thread_id=4)
    index.add(-100, "chile")
    index.add(-200, "chile", thread_id=9)
    index.move_chat(-100, -200)
    assert index.topics_of(-100) == {}
    assert index.topics_of(-200) == {"chile": 9, "peru": 4}
    assert len(index) == 2
    assert _route(index, "Peru and Chile") == {-200: Route(9, ("chile", "peru"))}


@settings(max_examples=80, deadline=None)
@given(
    subs=st.lists(
        st.tuples(
            st.integers(1, 6),
            st.sampled_from(["ali", "south africa", "africa", "case", "-ali", "-case", "mali"]),
            st.sampled_from([None, None, 10, 20]),
        ),
        max_size=25,
    ),
    removals=st.lists(st.tuples(st.integers(1, 6), st.sampled_from(["ali", "-ali"])), max_size=3),
    words=st.lists(st.sampled_from(["Ali", "South", "Africa", "case", "Mali", "x"]), max_size=12),
)
def test_route_agrees_with_naive_matching(
    subs: list[tuple[int, str, int | None]],
    removals: list[tuple[int, str]],
    words: list[str],
) -> None:
    index = TopicIndex()
    for chat_id, topic, thread_id in subs:
        index.add(chat_id, topic, thread_id)
    for chat_id, topic in removals:
        index.remove(chat_id, topic)
    terms = headline_terms(" ".join(words), "", (), "en")
    expected: dict[int, Route] = {}
    for chat_id in {c for c, _, _ in subs}:
        topics = index.topics_of(chat_id)
        parsed = {t: topic_of_key(t) for t in topics}
        hits = sorted(t for t, p in parsed.items() if p and not p.mute and matches(p, terms))
        mutes = [t for t, p in parsed.items() if p and p.mute and matches(p, terms)]
        if hits and not mutes:
            expected[chat_id] = Route(topics[hits[0]], tuple(hits))
    assert index.route(terms) == expected
    assert len(index) == sum(len(index.topics_of(c)) for c in range(1, 7))


def test_index_holds_many_chats() -> None:
    words = [f"word{i}" for i in range(300)]
    index = TopicIndex()
    for chat_id in range(20_000):
        for k in range(5):
            index.add(chat_id, words[(chat_id * 7 + k * 13) % 300])
    # benchmarks/matching.py prints the bytes a subscription takes (about 100)
    assert len(index) == 100_000
    assert len(index.topics_of(19_999)) == 5


# --- suggestions -------------------------------------------------------------------------------

TITLES = [
    "Bolivia votes as Venezuela watches",
    "Protests in Bolivia over fuel prices",
    "South Africa files case at the court",
    "Court hears South Africa's arguments",
    "Venezuela and Bolivia sign gas deal",
    "Why South Africa went to court",
    "Floods hit Bolivia again",
    "The Breaking News Of The Day In Title Case",
    "Officials in Venezuela deny report",
    "Police arrest suspect",
]


def test_suggest_topics_finds_names() -> None:
    suggestions = suggest_topics(TITLES, n=5)
    assert suggestions[:3] == ["Bolivia", "Venezuela", "South Africa"]
    assert "Police" not in suggestions  # a sentence's first word is not a name
    assert "South" not in suggestions  # "South Africa" took its uses
    for topic in suggestions:
        normalized = _key(topic)
        assert normalized is not None
        assert len(("t:" + normalized).encode()) <= 64


def test_suggest_topics_prefers_whole_names() -> None:
    titles = [
        "Bolivia’s Arce faces protests in La Paz",
        "Evo Morales rally in Cochabamba",
        "Venezuela: Maduro meets Lula",
        "Arce and Evo Morales split the party",
        "Floods in La Paz kill 3",
        "Lula backs Venezuela talks",
        "Morales supporters block roads in Bolivia",
    ]
    suggestions = suggest_topics(titles, n=6)
    assert suggestions[:5] == ["Bolivia", "Arce", "La Paz", "Evo Morales", "Venezuela"]
    assert "Paz" not in suggestions
    assert "Morales" not in suggestions


def test_suggest_topics_with_nothing() -> None:
    assert suggest_topics([]) == []
    assert suggest_topics(["the end", "...", ""]) == []


@given(st.lists(st.text(max_size=120), max_size=20))
def test_suggest_topics_are_always_usable(titles: list[str]) -> None:
    suggestions = suggest_topics(titles, n=4)
    assert len(suggestions) <= 4
    normalized = [_key(s) for s in suggestions]
    assert None not in normalized
    assert len(set(normalized)) == len(normalized)
    for topic in normalized:
        assert topic is not None
        assert not topic.startswith("-")
        assert len(("t:" + topic).encode()) <= 64


# --- the query language in the index -----------------------------------------------------------


def test_route_stems_exact_parts_and_exclusions() -> None:
    index = TopicIndex()
    index.add(1, "election")
    index.add(2, '"bolivian"')
    index.add(3, "chile + lithium")
    index.add(4, "lithium -mining")
    index.add(5, "protest")
    assert set(_route(index, "Elections In Bolivia")) == {1}
    assert set(_route(index, "Bolivian protesters march")) == {2, 5}
    assert set(_route(index, "Bolivia's protests")) == {5}  # not the exact "bolivian"
    assert set(_route(index, "Lithium deal", "Chile signs")) == {3, 4}
    assert set(_route(index, "Lithium mining in Chile")) == {3}
    assert _route(index, "Lithium deal")[4] == Route(None, ("lithium -mining",))


def test_route_in_the_headlines_language() -> None:
    index = TopicIndex()
    index.add(1, "elección")
    index.add(2, "elecciones")
    routes = _route(index, "Las elecciones en Bolivia", language="es")
    assert set(routes) == {1, 2}
    assert set(_route(index, "Elección presidencial", language="es")) == {1, 2}
    # a language without a stemmer is matched word for word
    assert set(_route(index, "Elecciones", language="xx")) == {2}


def test_a_mute_with_parts_mutes_only_when_all_match() -> None:
    index = TopicIndex()
    index.add(1, "chile")
    index.add(1, "-lithium + mining")
    assert set(_route(index, "Chile lithium")) == {1}
    assert _route(index, "Chile lithium mining") == {}


def test_keys_an_older_version_stored_still_route() -> None:
    index = TopicIndex()
    index.add(1, "at t")  # refused by today's parser (too weak), kept as plain words
    assert index.topics_of(1) == {"at t": None}
    assert set(_route(index, "Look at t shirts")) == {1}


TOPICS = [
    "election",
    '"elections"',
    "south africa",
    "africa + election",
    "election -south africa",
    "-protest",
    "-africa + vote",
    "votes",
    '"vote" + south',
]
WORDS = ["Election", "elections", "South", "Africa", "votes", "vote", "protesters", "x"]


@settings(max_examples=120, deadline=None)
@given(
    subs=st.lists(
        st.tuples(st.integers(1, 5), st.sampled_from(TOPICS), st.sampled_from([None, 10])),
        max_size=20,
    ),
    title=st.lists(st.sampled_from(WORDS), max_size=8),
    summary=st.lists(st.sampled_from(WORDS), max_size=8),
)
def test_route_agrees_with_the_reference_semantics(
    subs: list[tuple[int, str, int | None]], title: list[str], summary: list[str]
) -> None:
    index = TopicIndex()
    for chat_id, topic, thread_id in subs:
        index.add(chat_id, topic, thread_id)
    terms = headline_terms(" ".join(title), " ".join(summary), (), "en")
    expected: dict[int, Route] = {}
    for chat_id in {c for c, _, _ in subs}:
        topics = index.topics_of(chat_id)
        parsed = {t: topic_of_key(t) for t in topics}
        hits = sorted(t for t, p in parsed.items() if p and not p.mute and matches(p, terms))
        mutes = [t for t, p in parsed.items() if p and p.mute and matches(p, terms)]
        if hits and not mutes:
            expected[chat_id] = Route(topics[hits[0]], tuple(hits))
    assert index.route(terms) == expected
