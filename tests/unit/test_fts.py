"""Compiling parsed topics and searches to FTS5 (storage/sqlite/search.py), and the words a
search marks in snippets (pure; tests/unit/test_query.py runs the expressions on SQLite)."""

from __future__ import annotations

import re
import sqlite3

from hypothesis import given
from hypothesis import strategies as st

from bot.text.query import SearchQuery, Topic, parse_search, parse_topic
from storage.sqlite.fts import index_columns, query_words
from storage.sqlite.search import search_to_fts, topic_to_fts, topics_to_fts


def _topic(text: str) -> Topic:
    parsed = parse_topic(text)
    assert isinstance(parsed, Topic), parsed
    return parsed


def _search(text: str) -> SearchQuery:
    parsed = parse_search(text)
    assert isinstance(parsed, SearchQuery), parsed
    return parsed


# Outside its quoted strings an expression holds only column names, operators and brackets.
_STRING = re.compile(r'"(?:[^"]|"")*"')
_SYNTAX = re.compile(r"(?:stems|words|AND|OR|NOT|[():* ])*")


@given(st.text(max_size=80))
def test_user_text_only_reaches_fts5_quoted(text: str) -> None:
    parsed = parse_search(text)
    if isinstance(parsed, SearchQuery):
        assert _SYNTAX.fullmatch(_STRING.sub("", search_to_fts(parsed)))
    topic = parse_topic(text)
    if isinstance(topic, Topic):
        assert _SYNTAX.fullmatch(_STRING.sub("", topic_to_fts(topic, ["en", "es"])))


def test_any_of_several_topics() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(stems, words)")
    rows = [("Lithium prices", "", (), "en"), ("Chile votes", "", (), "en"), ("Rain", "", (), "en")]
    conn.executemany(
        "INSERT INTO t (rowid, stems, words) VALUES (?, ?, ?)",
        [(i, *index_columns(*row)) for i, row in enumerate(rows)],
    )
    expression = topics_to_fts([_topic("lithium"), _topic("chile")], ["en"])
    assert expression == f'({topic_to_fts(_topic("lithium"), ["en"])}) OR (stems : "chile")'
    found = {row[0] for row in conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (expression,))}
    assert found == {0, 1}


def test_query_words_leave_exclusions_out() -> None:
    assert query_words(_search('bolivia OR "la paz" -israel')) == (
        frozenset({"bolivia", "la", "paz"}),
        False,
    )
    assert query_words(_search("elect* -open")) == (frozenset({"elect"}), True)
    assert query_words(_search("-israel")) == (frozenset(), False)
