"""Folding, word splitting, Snowball stemming and stop words (bot/language.py, pure)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.text.language import (
    fold,
    is_stop_word,
    language_of,
    stem,
    stemmer_name,
    stemmer_names,
    stems,
    words,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Marquéz", "marquez"),
        ("SÃO PAULO", "sao paulo"),
        ("Bogotá", "bogota"),
        ("Łódź", "lodz"),
        ("Straße", "strasse"),
        ("Africa’s", "africa's"),
        ("“quoted”", '"quoted"'),
        ("ﬁnance", "finance"),
        ("ＡＢＣ", "abc"),
        ("ELECCIÓN", "eleccion"),
    ],
)
def test_fold(text: str, expected: str) -> None:
    assert fold(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("AT&T", ["att"]),
        ("AT&T's results", ["att", "results"]),
        ("R&D", ["rd"]),
        ("Procter & Gamble", ["procter", "gamble"]),
        ("C++", ["c"]),
        ("São Paulo", ["sao", "paulo"]),
        ("Bolivia's lithium", ["bolivia", "lithium"]),
        ("Bolivia’s lithium", ["bolivia", "lithium"]),
        ("Protesters' demands", ["protesters", "demands"]),
        ("O'Brien", ["o", "brien"]),
        ("l'Europe", ["l", "europe"]),
        ("co-operation", ["co", "operation"]),
        ("G20 summit", ["g20", "summit"]),
        ("COVID-19: 2,000 cases", ["covid", "19", "2", "000", "cases"]),
        ("snake_case", ["snake", "case"]),
        ("  ...  ", []),
        ("हिन्दी समाचार", ["हिन्दी", "समाचार"]),
        ("Привет, мир", ["привет", "мир"]),
    ],
)
def test_words(text: str, expected: list[str]) -> None:
    assert words(text) == expected


@given(st.text())
def test_words_are_folded_letters_and_digits(text: str) -> None:
    found = words(text)
    for word in found:
        assert word
        assert not any(ch.isspace() or ch in "&'\"-_+*" for ch in word)
        assert not any("\ue000" <= ch <= "\uf8ff" for ch in word)  # private use: never a word
    assert words(" ".join(found)) == found


@pytest.mark.parametrize(
    ("word", "other", "language"),
    [
        ("election", "Elections", "en"),
        ("protest", "protesters", "en"),
        ("elección", "elecciones", "es"),
        ("eleccion", "Elecciones", "es"),
        ("minería", "mineria", "es"),  # folded before stemming: accents never change a stem
        ("protesta", "protestas", "es-419"),
    ],
)
def test_stems_meet(word: str, other: str, language: str) -> None:
    (a,) = words(word)
    (b,) = words(other)
    assert stem(a, language) == stem(b, language)


def test_stems_of_several_words() -> None:
    assert stems(words("Elecciones en Bolivia"), "es") == ["eleccion", "en", "bolivi"]
    assert stems(words("Elections In Bolivia"), "en-US") == ["elect", "in", "bolivia"]
    assert stems([], "en") == []


def test_language_without_a_stemmer_keeps_words() -> None:
    assert stemmer_name("ja") is None
    assert stem("elections", "ja") == "elections"
    assert stems(["elections", "news"], "zz") == ["elections", "news"]


@pytest.mark.parametrize(
    ("tag", "code", "stemmer"),
    [
        ("en", "en", "english"),
        ("en-US", "en", "english"),
        ("EN_gb", "en", "english"),
        ("es-419", "es", "spanish"),
        ("pt_BR", "pt", "portuguese"),
        ("pt-br", "pt", "portuguese"),
        ("fr-CA", "fr", "french"),
        ("de", "de", "german"),
        ("it-IT", "it", "italian"),
        ("nb-NO", "nb", "norwegian"),
        ("spa", "es", "spanish"),
        ("Spanish", "es", "spanish"),
        ("ja-JP", "ja", None),
    ],
)
def test_language_tags(tag: str, code: str, stemmer: str | None) -> None:
    assert language_of(tag, "en") == code
    assert stemmer_name(tag) == stemmer
    assert stemmer_name(code) == stemmer


@pytest.mark.parametrize("tag", [None, "", "  ", "x", "12", "e-n", "!!"])
def test_language_of_falls_back(tag: str | None) -> None:
    assert language_of(tag, "es") == "es"


def test_snowball_names_are_accepted() -> None:
    assert stemmer_name("spanish") == "spanish"
    assert {"english", "spanish", "portuguese", "french", "german"} <= set(stemmer_names())
    assert stem("elections", "english") == "elect"


def test_stop_words() -> None:
    assert is_stop_word("the", "en")
    assert is_stop_word("the", "en-GB")
    assert is_stop_word("de", "es-419")
    assert is_stop_word("mas", "es")  # the list says "más": lines are folded when loaded
    assert not is_stop_word("bolivia", "en")
    assert not is_stop_word("us", "en")  # the US
    assert not is_stop_word("who", "en")  # the WHO
    assert not is_stop_word("de", "en")
    assert not is_stop_word("the", "ja")  # no list: nothing is a stop word


def test_stemming_from_threads_agrees() -> None:
    sample = words("Elections protesters governments mining elecciones protestas") * 200

    def run(language: str) -> list[str]:
        return [stem(w, language) for w in sample]

    expected = {lang: run(lang) for lang in ("en", "es")}
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(run, ["en", "es"] * 8))
    assert results == [expected["en"], expected["es"]] * 8
