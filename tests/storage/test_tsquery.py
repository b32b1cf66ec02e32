"""PostgreSQL's search (storage/postgres/fts.py, search.py) finds what SQLite's FTS5 finds.

The cases of tests/unit/test_query.py and tests/unit/test_fts.py, run on a real PostgreSQL
server: each headline's vector is written from Python as the repository writes it, each
topic and search compiled to a tsquery, and what it finds is compared with
bot.text.query.matches() (the reference) and with the FTS5 expression on SQLite.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator, Sequence

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.text.query import Refusal, SearchQuery, Topic, parse_search, parse_topic
from storage.postgres.fts import MAX_LEXEME_BYTES, search_vectors
from storage.postgres.search import (
    search_to_tsquery,
    term_to_tsquery,
    topic_to_tsquery,
    topics_to_tsquery,
)
from storage.sqlite.search import search_to_fts, topic_to_fts
from tests.unit.test_query import (
    HEADLINES,
    Headline,
    _headlines,
    _matching,
    _slices,
    _table,
    _texts,
    _topic_texts,
)
from tests.unit.test_query import _found as fts_found


@pytest.fixture
async def conn(pg_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to an empty database, with the test's headlines table `t` to fill."""
    connection = await asyncpg.connect(pg_url)
    yield connection
    await connection.close()


async def _fill(conn: asyncpg.Connection, headlines: Sequence[Headline]) -> None:
    await conn.execute("DROP TABLE IF EXISTS t")
    await conn.execute("CREATE TABLE t (id integer PRIMARY KEY, v tsvector, title tsvector)")
    await conn.executemany(
        "INSERT INTO t VALUES ($1, $2::text::tsvector, $3::text::tsvector)",
        [
            (i, *search_vectors(i, t, s, "\n".join(c), lang))
            for i, (t, s, c, lang) in enumerate(headlines)
        ],
    )


async def _found(conn: asyncpg.Connection, query: str, *, title: bool = False) -> set[int]:
    column = "title" if title else "v"
    rows = await conn.fetch(f"SELECT id FROM t WHERE {column} @@ $1::tsquery", query)
    return {row[0] for row in rows}


def _topic(text: str) -> Topic:
    parsed = parse_topic(text)
    assert isinstance(parsed, Topic), parsed
    return parsed


def _search(text: str) -> SearchQuery:
    parsed = parse_search(text)
    assert isinstance(parsed, SearchQuery), parsed
    return parsed


def _titles(ids: set[int]) -> set[str]:
    return {HEADLINES[i][0] for i in ids}


TOPICS = [
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
    "elections + bolivia",
]


async def test_topics_find_what_matches_says(conn: asyncpg.Connection) -> None:
    await _fill(conn, HEADLINES)
    fts = _table(HEADLINES)
    for text in TOPICS:
        topic = _topic(text)
        expected = _matching(topic)
        assert await _found(conn, topic_to_tsquery(topic)) == expected, text
        assert await _found(conn, topic_to_tsquery(topic, ["en", "es", "ja"])) == expected, text
        assert fts_found(fts, topic_to_fts(topic)) == expected, text
        if not topic.mute and not topic.excluded:
            # What a topic matches, a search with the same words finds.
            assert expected <= await _found(conn, search_to_tsquery(_search(text)))
    fts.close()


SEARCHES = [
    "bolivia elections",
    "Bolivia elecciones",
    "bolivia OR peru",
    "bolivia OR peru protest",
    "-israel",
    "NOT israel",
    "bolivia -elections",
    "bolivia -elections -elecciones",
    "NOT bolivia lithium",
    '"la paz"',
    '"paz la"',
    "pre*",
    "protest*",
    "eleccion*",
    '"la pa"*',
    "the elections in bolivia",
    "co-operation",
    "g20 OR at&t",
    "sao paulo",
]


async def test_searches_find_what_fts5_finds(conn: asyncpg.Connection) -> None:
    await _fill(conn, HEADLINES)
    fts = _table(HEADLINES)
    for text in SEARCHES:
        query = _search(text)
        expected = fts_found(fts, search_to_fts(query))
        assert await _found(conn, search_to_tsquery(query)) == expected, text
        assert await _found(conn, search_to_tsquery(query, ["en", "es", "ja"])) == expected, text
    fts.close()
    # the examples, as tests/unit/test_query.py states them
    assert _titles(await _found(conn, search_to_tsquery(_search("bolivia elections")))) == {
        "Elections In Bolivia"
    }
    assert _titles(await _found(conn, search_to_tsquery(_search("eleccion*")))) == {
        "Elecciones en Bolivia",
        "La elección en Perú",
    }
    assert await _found(conn, search_to_tsquery(_search('"paz la"'))) == set()


async def test_any_of_several_topics(conn: asyncpg.Connection) -> None:
    rows: list[Headline] = [
        ("Lithium prices", "", (), "en"),
        ("Chile votes", "", (), "en"),
        ("Rain", "", (), "en"),
    ]
    await _fill(conn, rows)
    query = topics_to_tsquery([_topic("lithium"), _topic("chile")], ["en"])
    assert query == f"({topic_to_tsquery(_topic('lithium'), ['en'])}) | (('s:chile' | 'b:chile'))"
    assert await _found(conn, query) == {0, 1}


async def test_phrases_do_not_span_fields(conn: asyncpg.Connection) -> None:
    await _fill(conn, [("Talks in La", "Paz today", ("Bolivia",), "en")])
    assert await _found(conn, topic_to_tsquery(_topic("la paz"))) == set()
    assert await _found(conn, search_to_tsquery(_search('"la paz"'))) == set()
    assert await _found(conn, topic_to_tsquery(_topic("la + paz"))) == {0}


async def test_a_term_in_the_title(conn: asyncpg.Connection) -> None:
    """What ranking asks of each match (storage/postgres/headlines.py's _asks): does the
    title alone have the term (the title's vector), as FTS5's title columns tell on SQLite."""
    await _fill(
        conn,
        [
            ("Markets today", "Shares in the harbour company fell", (), "en"),
            ("Harbour strike ends", "Dockers return to work", (), "en"),
            ("Elecciones en Bolivia", "La paz", (), "es"),
            ("La paz talks", "Bolivia elections", ("Harbours",), "en"),
        ],
    )
    for text, anywhere, in_title in [
        ("harbour", {0, 1, 3}, {1}),
        ('"la paz"', {2, 3}, {3}),
        ("elect*", {3}, set()),
        ("elecciones", {2}, {2}),  # stemmed in Spanish: not the English "elections"
        ("talk*", {3}, {3}),
    ]:
        (term,) = _search(text).clauses[0]
        languages = ["en", "es"]
        assert await _found(conn, term_to_tsquery(term, languages)) == anywhere, text
        assert await _found(conn, term_to_tsquery(term, languages), title=True) == in_title


async def test_long_and_odd_words_are_indexed(conn: asyncpg.Connection) -> None:
    long_word = "x" * 3000
    await _fill(conn, [(f"{long_word} o'brien's", "Ünïcödé 東京 ﬁnance", (), "xx")])
    assert await _found(conn, search_to_tsquery(_search("xxx*"))) == {0}
    assert await _found(conn, search_to_tsquery(_search('"brien"'))) == {0}
    assert await _found(conn, search_to_tsquery(_search("unicode 東京 finance"))) == {0}
    vector, _ = search_vectors(1, long_word, "", "", "en")
    assert max(len(lexeme.encode()) for lexeme in re.findall(r"'([^']*)'", vector)) <= (
        MAX_LEXEME_BYTES
    )


# Outside its quoted lexemes a tsquery holds only operators, brackets and prefix marks.
_LEXEME = re.compile(r"'(?:[^'\\]|''|\\.)*'")
_SYNTAX = re.compile(r"(?:&|\||!|<->|:\*|[() ])*")


@given(st.text(max_size=80))
def test_user_text_only_reaches_tsquery_quoted(text: str) -> None:
    parsed = parse_search(text)
    if isinstance(parsed, SearchQuery):
        assert _SYNTAX.fullmatch(_LEXEME.sub("", search_to_tsquery(parsed)))
        for clause in parsed.clauses:
            for term in clause:
                assert _SYNTAX.fullmatch(_LEXEME.sub("", term_to_tsquery(term)))
    topic = parse_topic(text)
    if isinstance(topic, Topic):
        assert _SYNTAX.fullmatch(_LEXEME.sub("", topic_to_tsquery(topic, ["en", "es"])))


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(headlines=_headlines, data=st.data())
async def test_tsquery_agrees_with_matches_and_fts5(
    conn: asyncpg.Connection, headlines: list[Headline], data: st.DataObject
) -> None:
    topics = data.draw(
        st.lists(st.one_of(_texts(), _topic_texts(), _slices(headlines)), min_size=1, max_size=6)
    )
    await _fill(conn, headlines)
    fts: sqlite3.Connection = _table(headlines)
    try:
        for text in topics:
            topic = parse_topic(text)
            if isinstance(topic, Refusal):
                continue
            expected = _matching(topic, headlines)
            assert await _found(conn, topic_to_tsquery(topic)) == expected, (text, topic)
            languages = ["en", "es", "pt", "ja"]
            assert await _found(conn, topic_to_tsquery(topic, languages)) == expected
            search = parse_search(text)
            if isinstance(search, SearchQuery):
                assert await _found(conn, search_to_tsquery(search)) == fts_found(
                    fts, search_to_fts(search)
                ), (text, search)
    finally:
        fts.close()


async def test_rows_copied_without_a_vector_are_indexed(pg_url: str) -> None:
    """copy-db writes plain rows (search NULL) and then fills their vectors with reindex."""
    from storage.postgres import fts, repositories
    from storage.postgres.db import PgDatabase

    db = await PgDatabase.open(pg_url)
    try:
        await db.execute("INSERT INTO feeds (id, url) VALUES (7, 'https://example.org/feed')")
        await db.execute("INSERT INTO feed_languages (feed_id, language) VALUES (7, 'es')")
        await db.execute(
            "INSERT INTO headlines (id, feed_id, key, title, summary, published_at,"
            " first_seen_at, updated_at, language) VALUES"
            " (5000, 7, 'a', 'Elecciones en Bolivia', 'Mineros en huelga', 1, 1, 1, 'es'),"
            " (5001, 7, 'b', 'Lithium deal', '', 2, 2, 2, 'en')"
        )
        headlines = repositories(db).headlines
        parsed = parse_search("elección")
        assert isinstance(parsed, SearchQuery)
        assert (await headlines.search(parsed)).total == 0  # no vector, not found
        async with db.connection() as conn:
            assert await fts.reindex(conn) == 2
            assert await fts.reindex(conn) == 0
        page = await headlines.search(parsed)
        assert [hit.headline.id for hit in page.hits] == [5000]
        vector, title = await db.fetchrow(
            "SELECT search::text, title_search::text FROM headlines WHERE id = 5001"
        )
        assert "'m:english'" in vector and "'n9:9'" in vector and "'n16:0'" in vector
        assert title == "'b:deal':3 'b:lithium':2 'm:english':1"
    finally:
        await db.close()
