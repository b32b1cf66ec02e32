"""The query language (bot/text/query.py): topics, searches and the FTS5 expressions they become.

bot/text/query.py is pure; storage/sqlite/search.py compiles what it parses to FTS5, and these
tests run the expressions on an in-memory SQLite FTS5 table with the two columns they assume,
filled from storage/sqlite/fts.py's index_columns().
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.text.query import (
    MAX_SEARCH_CHARS,
    MAX_SEARCH_TERMS,
    MAX_TOPIC_CHARS,
    Part,
    Refusal,
    SearchQuery,
    Topic,
    headline_terms,
    matches,
    parse_search,
    parse_topic,
    parse_topic_list,
)
from storage.sqlite.fts import index_columns, language_marker
from storage.sqlite.search import search_to_fts, topic_to_fts

Headline = tuple[str, str, tuple[str, ...], str]  # title, summary, categories, language

HEADLINES: list[Headline] = [
    ("Elections In Bolivia", "Voters queue in La Paz", ("Politics",), "en"),
    ("Protesters gather in Lima", "Peru's police watch", (), "en"),
    ("Elecciones en Bolivia", "Las protestas siguen en El Alto", ("Política",), "es"),
    ("Chile bets on lithium", "A new plan for the salt flats", (), "en"),
    ("Lithium mining expands in Argentina", "", ("Mining",), "en"),
    ("Bolivian miners strike", "Lithium output falls", (), "en"),
    ("Israel and Gaza talks resume", "", ("Middle East",), "en"),
    ("AT&T and Bogotá sign a deal", "São Paulo follows", (), "en"),
    ("La elección en Perú", "Protestas por el litio", (), "es-419"),
    ("Preview: predictions for 2025", "", (), "en"),
    ("報道 日本語 ニュース", "", (), "ja"),
]


@pytest.fixture
def db() -> Iterator[sqlite3.Connection]:
    """An in-memory FTS5 table with the columns the expressions are written for: stems, words."""
    conn = _table(HEADLINES)
    yield conn
    conn.close()


def _table(headlines: Iterable[Headline]) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE VIRTUAL TABLE t USING fts5(stems, words,"
        " tokenize = 'unicode61 remove_diacritics 2')"
    )
    conn.executemany(
        "INSERT INTO t (rowid, stems, words) VALUES (?, ?, ?)",
        [(i, *index_columns(*h)) for i, h in enumerate(headlines)],
    )
    return conn


def _found(conn: sqlite3.Connection, expression: str) -> set[int]:
    rows = conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (expression,))
    return {row[0] for row in rows}


def _topic(text: str) -> Topic:
    parsed = parse_topic(text)
    assert isinstance(parsed, Topic), parsed
    return parsed


def _search(text: str, max_chars: int = MAX_SEARCH_CHARS, language: str = "en") -> SearchQuery:
    parsed = parse_search(text, max_chars=max_chars, language=language)
    assert isinstance(parsed, SearchQuery), parsed
    return parsed


def _matching(topic: Topic, headlines: Sequence[Headline] = HEADLINES) -> set[int]:
    return {i for i, h in enumerate(headlines) if matches(topic, headline_terms(*h))}


def _titles(ids: Iterable[int]) -> set[str]:
    return {HEADLINES[i][0] for i in ids}


# --- topics: the examples --------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "title"),
    [
        ("election", "Elections In Bolivia"),
        ("protest", "Protesters gather in Lima"),
        ("protest", "Elecciones en Bolivia"),  # "protestas", stemmed as Spanish
        ("elección", "Elecciones en Bolivia"),
        ("eleccion", "La elección en Perú"),
        ("Bolivia", "Elecciones en Bolivia"),
        ("peru", "Protesters gather in Lima"),  # "Peru's"
        ("la paz", "Elections In Bolivia"),
        ("litio", "La elección en Perú"),
    ],
)
def test_topic_matches(topic: str, title: str, db: sqlite3.Connection) -> None:
    parsed = _topic(topic)
    assert title in _titles(_matching(parsed))
    assert title in _titles(_found(db, topic_to_fts(parsed)))


def test_quoted_is_exact() -> None:
    loose, exact = _topic("bolivians"), _topic('"bolivian"')
    assert exact.parts == (Part(("bolivian",), exact=True),)
    assert _titles(_matching(loose)) == {"Bolivian miners strike"}  # stemmed: bolivian
    assert _titles(_matching(exact)) == {"Bolivian miners strike"}
    assert _matching(_topic('"bolivians"')) == set()
    assert _titles(_matching(_topic('"elections"'))) == {"Elections In Bolivia"}
    assert _matching(_topic('"election"')) == set()


def test_plus_is_any_order() -> None:
    topic = _topic("lithium + chile")
    assert topic.parts == (Part(("chile",)), Part(("lithium",)))
    assert _titles(_matching(topic)) == {"Chile bets on lithium"}
    assert _topic("chile+lithium").key == topic.key == "chile + lithium"
    assert _titles(_matching(_topic("lithium + bolivian"))) == {"Bolivian miners strike"}


def test_minus_excludes_inside_a_topic() -> None:
    topic = _topic("lithium -mining")
    assert not topic.mute
    assert topic.excluded == (Part(("mining",)),)
    assert _titles(_matching(topic)) == {"Chile bets on lithium", "Bolivian miners strike"}
    # A hyphen inside a word is not an exclusion.
    assert _topic("co-operation").parts == (Part(("co", "operation")),)


def test_leading_minus_is_a_mute() -> None:
    for text in ("-israel", "-Israel", "– Israel", "--israel"):
        topic = _topic(text)
        assert topic.mute
        assert topic.key == "-israel"
        assert topic.display == text
        assert _titles(_matching(topic)) == {"Israel and Gaza talks resume"}
    assert _topic("-israel -gaza").excluded == (Part(("gaza",)),)


def test_whole_words_only() -> None:
    assert _matching(_topic("ali")) == set()  # not "Mali", not "salt"
    assert _matching(_topic("lim")) == set()
    assert _titles(_matching(_topic("lima"))) == {"Protesters gather in Lima"}


def test_phrases_do_not_span_fields() -> None:
    # "... in La Paz" ends the summary; "Politics" is a category.
    assert _matching(_topic("paz politics")) == set()
    assert _matching(_topic("bolivia voters")) == set()  # title "...Bolivia", summary "Voters..."


@pytest.mark.parametrize(
    ("text", "display", "key"),
    [
        ("Bogotá", "Bogotá", "bogota"),
        ("  bogota ", "bogota", "bogota"),
        ("São Paulo", "São Paulo", "sao paulo"),
        ("SAO   PAULO", "SAO PAULO", "sao paulo"),
        ("AT&T", "AT&T", "att"),
        ("Bolivia's lithium", "Bolivia's lithium", "bolivia lithium"),
        ('"Bolivian"', '"Bolivian"', '"bolivian"'),
        ("“Bolivian”", "“Bolivian”", '"bolivian"'),
        ("Lithium + Chile -Mining", "Lithium + Chile -Mining", "chile + lithium -mining"),
        ("-Israel", "-Israel", "-israel"),
        ('"bolivian" election', '"bolivian" election', '"bolivian" + election'),
        ("lithium -open pit", "lithium -open pit", "lithium -open pit"),
        ("Canal+", "Canal+", "canal"),
        ("US", "US", "us"),
        ("G20", "G20", "g20"),
    ],
)
def test_display_and_key(text: str, display: str, key: str) -> None:
    topic = _topic(text)
    assert (topic.display, topic.key) == (display, key)
    assert _topic(topic.key).key == key


def test_same_topic_whatever_the_spelling() -> None:
    assert _topic("Bogotá").key == _topic("BOGOTA").key
    assert _titles(_matching(_topic("bogota"))) == {"AT&T and Bogotá sign a deal"}
    assert _titles(_matching(_topic("at&t"))) == {"AT&T and Bogotá sign a deal"}
    assert _titles(_matching(_topic("sao paulo"))) == {"AT&T and Bogotá sign a deal"}


# --- topics: refusals --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("!!!", "empty"),
        ("🔥🚀", "empty"),
        ("x" * (MAX_TOPIC_CHARS + 1), "too_long"),
        ("word " * 100, "too_long"),
        ("a", "weak"),
        ("the", "weak"),
        ("The", "weak"),
        ("of the", "weak"),
        ("C++", "weak"),
        ("C#", "weak"),
        ("-a", "weak"),
        ("lithium -the", "weak"),
        ("lithium +", "empty_side"),
        ("+ chile", "empty_side"),
        ("lithium ++ chile", "empty_side"),
        ("lithium + 🔥", "empty_side"),
        ("lithium -🔥", "empty_side"),
        ('"bolivian', "unclosed_quote"),
        ('lithium + "chile', "unclosed_quote"),
        ("🔥 -mining", "only_excluded"),
    ],
)
def test_refusals(text: str, reason: str) -> None:
    refused = parse_topic(text)
    assert isinstance(refused, Refusal)
    assert refused.reason == reason
    assert refused.message.endswith(".")


def test_refusal_messages_say_why() -> None:
    refused = parse_topic("C++")
    assert isinstance(refused, Refusal)
    assert refused.message == "“C++” reads as “c”, which is too short or too common to follow."
    refused = parse_topic("lithium +")
    assert isinstance(refused, Refusal)
    assert "both sides" in refused.message


def test_readers_language_adds_its_stop_words() -> None:
    assert isinstance(parse_topic("de la"), Topic)  # an English reader: maybe a name
    refused = parse_topic("de la", language="es-419")
    assert isinstance(refused, Refusal)
    assert refused.reason == "weak"
    assert isinstance(parse_topic("de la paz", language="es"), Topic)


def test_parse_topic_list() -> None:
    topics, refusals = parse_topic_list(
        'Bolivia, south africa, -Israel, "Paris, Texas", a, bolivia'
    )
    assert [t.key for t in topics] == ["bolivia", "south africa", "-israel", '"paris texas"']
    assert topics[0].display == "Bolivia"
    assert [(r.text, r.reason) for r in refusals] == [("a", "weak")]
    assert parse_topic_list(" , ,\n") == ([], [])
    topics, refusals = parse_topic_list("lithium + chile\nlithium -mining")
    assert [t.key for t in topics] == ["chile + lithium", "lithium -mining"]


# --- searches ----------------------------------------------------------------------------------


def test_search_words_are_all_required_and_stemmed(db: sqlite3.Connection) -> None:
    query = _search("bolivia elections")
    assert query.used == "bolivia elections"
    # Each headline is stemmed in its language: English "elections" is not Spanish.
    assert _titles(_found(db, search_to_fts(query))) == {"Elections In Bolivia"}
    query = _search("Bolivia elecciones")
    assert _titles(_found(db, search_to_fts(query))) == {"Elecciones en Bolivia"}
    assert _search("co-operation").used == "co-operation"
    assert _search("lithium+chile").used == "lithium chile"


def test_search_or(db: sqlite3.Connection) -> None:
    query = _search("bolivia OR peru")
    assert query.used == "bolivia OR peru"
    assert _titles(_found(db, search_to_fts(query))) == {
        "Elections In Bolivia",
        "Elecciones en Bolivia",
        "Protesters gather in Lima",
        "La elección en Perú",
    }
    # OR binds the two terms beside it; the rest is still required.
    both = _search("bolivia OR peru protest")
    assert _titles(_found(db, search_to_fts(both))) == {
        "Protesters gather in Lima",
        "Elecciones en Bolivia",
        "La elección en Perú",
    }
    # Lowercase "or" is a common word, not an operator.
    assert _search("bolivia or peru").dropped == ("or",)


def test_search_without(db: sqlite3.Connection) -> None:
    every = set(range(len(HEADLINES)))
    for text in ("-israel", "NOT israel", "NOT Israel"):
        query = _search(text)
        assert query.negative_only
        assert query.used == "-israel"
        assert _found(db, search_to_fts(query)) == every - _found(
            db, search_to_fts(_search("israel"))
        )
    query = _search("bolivia -elections")
    assert _titles(_found(db, search_to_fts(query))) == {"Elecciones en Bolivia"}
    query = _search("bolivia -elections -elecciones")
    assert _found(db, search_to_fts(query)) == set()
    query = _search("NOT bolivia lithium")
    assert _titles(_found(db, search_to_fts(query))) == {
        "Chile bets on lithium",
        "Lithium mining expands in Argentina",
        "Bolivian miners strike",  # "bolivian" is not "bolivia"
    }


def test_search_phrase_and_prefix(db: sqlite3.Connection) -> None:
    assert _titles(_found(db, search_to_fts(_search('"la paz"')))) == {"Elections In Bolivia"}
    assert _found(db, search_to_fts(_search('"paz la"'))) == set()
    assert _titles(_found(db, search_to_fts(_search("pre*")))) == {"Preview: predictions for 2025"}
    assert _titles(_found(db, search_to_fts(_search("protest*")))) == {
        "Protesters gather in Lima",
        "Elecciones en Bolivia",
        "La elección en Perú",
    }
    # A prefix is not stemmed: "elect*" finds "elections", "eleccion*" the Spanish ones.
    assert _titles(_found(db, search_to_fts(_search("eleccion*")))) == {
        "Elecciones en Bolivia",
        "La elección en Perú",
    }
    assert _search("b*").used == "b"  # a one-letter prefix would scan the whole index


def test_search_drops_common_words_unless_nothing_else(db: sqlite3.Connection) -> None:
    query = _search("the elections in bolivia")
    assert query.used == "elections bolivia"
    assert query.dropped == ("the", "in")
    assert _search("the").used == "the"
    assert _search("el la", language="es").used == "el la"
    assert _search("elecciones en bolivia", language="es").dropped == ("en",)


def test_search_keeps_whole_words_within_the_limit() -> None:
    query = _search("bolivia elections protesters", max_chars=20)
    assert query.truncated
    assert query.used == "bolivia elections"
    query = _search("bolivia elections", max_chars=17)
    assert not query.truncated
    refused = parse_search("x" * 300)
    assert isinstance(refused, Refusal)
    assert refused.reason == "too_long"
    many = _search(" ".join(f"w{i}" for i in range(100)), max_chars=10_000)
    assert len(many.used.split()) == MAX_SEARCH_TERMS
    assert many.dropped[0] == f"w{MAX_SEARCH_TERMS}"


# `*` alone is every headline now (the query language's `*`): see test_sources.py
@pytest.mark.parametrize("text", ["", "   ", "OR", "NOT", "AND OR NOT", '"', "🔥", "-", "+"])
def test_search_with_no_words_is_refused(text: str) -> None:
    refused = parse_search(text)
    assert isinstance(refused, Refusal)
    assert refused.reason == "empty"


@pytest.mark.parametrize(
    "text",
    [
        "NEAR(a b, 3)",
        "stems : x",
        "words:x*",
        "^start",
        '"a" AND "b" OR "c" NOT "d"',
        '" OR "',
        'a"b"c',
        "{stems words} : x",
        "x - y",
        "-" * 50,
        '""""""',
        "\ue000english",
        "a\ue001b",
    ],
)
def test_search_never_passes_syntax_through(text: str, db: sqlite3.Connection) -> None:
    parsed = parse_search(text)
    if isinstance(parsed, SearchQuery):
        _found(db, search_to_fts(parsed))  # runs
        words = [w for group in (*parsed.clauses, parsed.excluded) for t in group for w in t.words]
        # only plain words go on: no quote, colon, star, caret, brace or bracket, and none of
        # the language's operators (AND, OR, NOT in capitals, outside quotes); FTS5's NEAR is
        # a word here, quoted as every word is
        assert words and all(word.isalnum() for word in words), (text, parsed)
        operators = {"AND", "OR", "NOT"} & set(re.sub(r'"[^"]*"', " ", text).split())
        assert not operators & {word.upper() for word in words}, parsed
    else:
        assert parsed.reason == "empty", parsed  # syntax and nothing else: no words at all


def test_languages_shorten_expressions(db: sqlite3.Connection) -> None:
    topic = _topic("elections + bolivia")
    short = topic_to_fts(topic, ["en-US", "es", "es-419", "ja"])
    assert len(short) < len(topic_to_fts(topic)) / 2
    assert _found(db, short) == _found(db, topic_to_fts(topic)) == _matching(topic)
    assert topic_to_fts(_topic("elections"), ["en"]) == 'stems : "elect"'


def test_index_columns() -> None:
    stems_text, words_text = index_columns(
        "Elections In Bolivia", "Protesters' demands", ("Politics",), "en-GB"
    )
    assert stems_text.split(" ")[0] == language_marker("en") == "\ue000english"
    assert stems_text.split(" ")[1:] == [
        "elect",
        "in",
        "bolivia",
        "\ue001",
        "protest",
        "demand",
        "\ue001",
        "polit",
    ]
    assert words_text == "elections in bolivia \ue001 protesters demands \ue001 politics"
    assert language_marker("ja") == "\ue000none"


# --- agreement: matches() is what the FTS expressions find ------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "election",
        "elección",
        "protest",
        "bolivia",
        '"bolivian"',
        "lithium + chile",
        "lithium -mining",
        "-israel",
        "bogota",
        "at&t",
        "la paz",
        "peru + protest",
        '"elecciones" + bolivia',
        "lithium -mining -chile",
        "日本語",
    ],
)
def test_topic_fts_finds_what_matches_says(text: str, db: sqlite3.Connection) -> None:
    topic = _topic(text)
    expected = _matching(topic)
    assert _found(db, topic_to_fts(topic)) == expected
    assert _found(db, topic_to_fts(topic, ["en", "es", "ja"])) == expected
    if not topic.mute and not topic.excluded:
        # What a topic matches, a search with the same words finds.
        assert expected <= _found(db, search_to_fts(_search(text)))


_VOCAB = [
    "Bolivia",
    "bolivian",
    "Bolivia's",
    "elections",
    "Election",
    "elección",
    "elecciones",
    "protest",
    "Protesters",
    "protestas",
    "lithium",
    "litio",
    "mining",
    "miners",
    "minería",
    "chile",
    "Chile",
    "la",
    "paz",
    "the",
    "in",
    "en",
    "AT&T",
    "co-operation",
    "G20",
]
_OPS = [" ", " ", " ", " + ", " -", ", ", '"', "'", "-"]


@st.composite
def _texts(draw: st.DrawFn) -> str:
    pieces = draw(st.lists(st.sampled_from(_VOCAB + _OPS), min_size=1, max_size=8))
    return "".join(pieces)


@st.composite
def _topic_texts(draw: st.DrawFn) -> str:
    """Well-formed topics: parts of one or two words, some quoted, some excluded or muted."""

    def part() -> str:
        text = " ".join(draw(st.lists(st.sampled_from(_VOCAB), min_size=1, max_size=2)))
        return f'"{text}"' if draw(st.booleans()) and draw(st.booleans()) else text

    text = " + ".join(part() for _ in range(draw(st.integers(1, 3))))
    for _ in range(draw(st.integers(0, 2)) // 2 * draw(st.integers(1, 2))):
        text += " -" + part()
    return ("-" if draw(st.integers(0, 4)) == 0 else "") + text


def _slices(headlines: Sequence[Headline]) -> st.SearchStrategy[str]:
    """Runs of words cut from the headlines themselves, so many topics do match."""
    pieces = [field.split() for h in headlines for field in (h[0], h[1])]
    runs = [" ".join(ws[i:j]) for ws in pieces for i in range(len(ws)) for j in (i + 1, i + 2)]
    runs = [r for r in runs if r] or ["bolivia"]
    part = st.sampled_from(runs)
    return st.one_of(
        part,
        st.builds(lambda a, b: f"{a} + {b}", part, part),
        st.builds(lambda a, b: f"{a} -{b}", part, part),
        st.builds(lambda a: f'"{a}"', part),
        st.builds(lambda a: f"-{a}", part),
    )


_headlines = st.lists(
    st.tuples(
        _texts(),
        _texts(),
        st.lists(st.sampled_from(_VOCAB), max_size=2).map(tuple),
        st.sampled_from(["en", "es", "es-419", "pt", "ja"]),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(headlines=_headlines, data=st.data())
def test_fts_agrees_with_matches(headlines: list[Headline], data: st.DataObject) -> None:
    topics = data.draw(
        st.lists(st.one_of(_texts(), _topic_texts(), _slices(headlines)), min_size=1, max_size=6)
    )
    conn = _table(headlines)
    try:
        for text in topics:
            topic = parse_topic(text)
            if isinstance(topic, Refusal):
                continue
            expected = _matching(topic, headlines)
            assert _found(conn, topic_to_fts(topic)) == expected, (text, topic)
            assert _found(conn, topic_to_fts(topic, ["en", "es", "pt", "ja"])) == expected
            if not topic.mute and not topic.excluded:
                search = parse_search(topic.display)
                assert isinstance(search, SearchQuery)
                assert expected <= _found(conn, search_to_fts(search)), (text, search)
    finally:
        conn.close()


# --- properties: never raise, always a refusal or a valid expression ---------------------------


@pytest.fixture(scope="module")
def empty() -> Iterator[sqlite3.Connection]:
    """An empty table, shared by the examples of a property: MATCH still checks the syntax."""
    conn = _table([])
    yield conn
    conn.close()


_grammar = st.text(alphabet=" +-–\"“”«»*,:()^'&abcéAB1日\ue000\u0301\n\t", max_size=40)


@settings(max_examples=500)
@given(st.one_of(st.text(), _grammar, _texts()))
def test_parse_topic_never_raises(empty: sqlite3.Connection, text: str) -> None:
    parsed = parse_topic(text)
    if isinstance(parsed, Refusal):
        assert parsed.message
        return
    assert parsed.parts or parsed.sources or parsed.everything
    assert len(parsed.key) <= MAX_TOPIC_CHARS or parsed.sources  # sources shrink once resolved
    again = parse_topic(parsed.key)
    assert isinstance(again, Topic)
    assert again.key == parsed.key
    assert (again.mute, again.parts, again.excluded) == (parsed.mute, parsed.parts, parsed.excluded)
    _found(empty, topic_to_fts(parsed))
    _found(empty, topic_to_fts(parsed, ["en"]))


@settings(max_examples=500)
@given(st.one_of(st.text(), _grammar, _texts()), st.integers(min_value=1, max_value=300))
def test_parse_search_never_raises(empty: sqlite3.Connection, text: str, max_chars: int) -> None:
    parsed = parse_search(text, max_chars=max_chars)
    if isinstance(parsed, Refusal):
        assert parsed.message
        return
    _found(empty, search_to_fts(parsed))
    # What was used, searched again, is the same search.
    again = parse_search(parsed.used, max_chars=10_000)
    assert isinstance(again, SearchQuery)
    assert (again.used, search_to_fts(again)) == (parsed.used, search_to_fts(parsed))


@given(st.lists(st.text(), max_size=3))
def test_parse_topic_list_never_raises(pieces: list[str]) -> None:
    topics, refusals = parse_topic_list(", ".join(pieces))
    assert len({t.key for t in topics}) == len(topics)
    assert all(r.message for r in refusals)
