"""Quoting user text for FTS5 MATCH (pure; the storage tests run the output on SQLite)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.sqlite.fts import MAX_TERMS, build_match_query, phrase_query, words


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ukraine", '"ukraine"'),
        ("Central bank", '"Central" "bank"'),
        ('"central bank" rates', '"central bank" "rates"'),
        ('rates "central bank', '"rates" "central bank"'),
        ("elect*", '"elect"*'),
        ("elect *", '"elect"'),
        ('"new yo"*', '"new yo"*'),
        ("a:b", '"a" "b"'),
        ("-x", '"x"'),
        ("snake_case", '"snake" "case"'),
        ("NOT AND OR", '"NOT" "AND" "OR"'),
        ("NEAR(a b, 3)", '"NEAR" "a" "b" "3"'),
        ('"((AND*', '"AND"'),
        ("^start", '"start"'),
        ("covid-19", '"covid" "19"'),
        ("Bogotá", '"Bogotá"'),
        ("Bogota\u0301", '"Bogota"'),
        ("日本語", '"日本語"'),
        ("bank Bank BANK", '"bank"'),
        ("🔥 fire", '"fire"'),
    ],
)
def test_build_match_query(text: str, expected: str) -> None:
    assert build_match_query(text) == expected


@pytest.mark.parametrize(
    "text", ["", "   ", "*", '"', '""', '" "', "-", "()", "🔥🚀", "__", "\u0301"]
)
def test_no_word_gives_none(text: str) -> None:
    assert build_match_query(text) is None


def test_long_input_is_capped() -> None:
    query = build_match_query(" ".join(f"w{i}" for i in range(5000)))
    assert query is not None
    assert query.count('"') == 2 * MAX_TERMS
    assert build_match_query("x" * 10_000) == '"' + "x" * 10_000 + '"'


def test_phrase_query() -> None:
    assert phrase_query(["New York"]) == '"New York"'
    assert phrase_query(["new", "york:city"]) == '"new york city"'
    assert phrase_query(['say "hi"']) == '"say hi"'
    assert phrase_query(["--", ""]) is None
    assert phrase_query([]) is None


def test_words_split_like_unicode61() -> None:
    assert words("x²y ½, a_b; café") == ["x²y", "½", "a", "b", "café"]


@given(st.text())
def test_output_is_only_quoted_words(text: str) -> None:
    query = build_match_query(text)
    if query is None:
        assert words(text) == []
        return
    # Between the quotes only letters and digits; outside them only spaces and prefix stars.
    parts = query.split('"')
    assert len(parts) % 2 == 1
    assert all(p in ("", " ", "*", "* ") for p in parts[0::2])
    assert all(p and all(_is_word(w) for w in p.split(" ")) for p in parts[1::2])


def _is_word(word: str) -> bool:
    return bool(word) and all(ch.isalnum() or "\ue000" <= ch <= "\uf8ff" for ch in word)
