"""Pure language handling: fold text, split it into words, stem words with Snowball.

How text becomes words (`words()`), the same for topics, searches and headlines:

- Text is folded first (`fold()`): lowercase, accents removed, compatibility forms unified.
- A word is a run of letters and digits of any script (combining marks of scripts other than
  Latin stay inside it); everything else separates words. So `G20` is one word, `covid-19`
  and `co-operation` are two (`co`, `operation`: "cooperation" is another word), `C++` is
  `c`, and `São Paulo` is `sao`, `paulo`.
- An ampersand between two letters or digits joins them: `AT&T` is `att`, `R&D` is `rd`
  (spaced, as in "Procter & Gamble", it separates).
- Apostrophes separate, but a possessive `'s` (or a bare trailing apostrophe) is dropped:
  `Bolivia's` is `bolivia`, `O'Brien` is `o`, `brien`, `l'Europe` is `l`, `europe`.

Stemming comes after folding, so the stemmer sees the same input whether or not the reader
typed the accents: Spanish Snowball stems `minería` to `min` but `mineria` to `mineri`,
while folded first both are `mineri`. `elección` and `elecciones` both give `eleccion`,
`Elections` and `election` give `elect`, `protesters` and `protest` give `protest`.

The stop-word lists are data (bot/data/stopwords_<code>.txt), read once when first asked.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from collections.abc import Iterable
from importlib import resources
from typing import cast

import Stemmer

__all__ = [
    "fold",
    "is_stop_word",
    "language_of",
    "stem",
    "stemmer_name",
    "stemmer_names",
    "stems",
    "word_pattern",
    "words",
]

# Diacritic blocks only: marks of other scripts (Devanagari vowel signs, viramas...) are part
# of their words and are kept.
_DIACRITICS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")

# Letters without a canonical decomposition that readers still expect to fold to ASCII, and
# the typographic quotes and apostrophes phones type, folded to their ASCII forms.
_FOLD_TABLE = str.maketrans(
    {
        "ø": "o",
        "ł": "l",
        "ß": "ss",
        "æ": "ae",
        "œ": "oe",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "ħ": "h",
        "ı": "i",
        "ŀ": "l",
        "ŧ": "t",
        "ŋ": "n",
        "ĸ": "k",
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u02bc": "'",
        "\u00b4": "'",
        "`": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00ab": '"',
        "\u00bb": '"',
    }
)

_ASCII_WORD = re.compile(r"[a-z0-9]+")
# `AT&T` -> `att`; `'s` and a trailing apostrophe after a word -> dropped.
_JOINING_AMPERSAND = re.compile(r"(?<=[^\W_])&(?=[^\W_])")
_POSSESSIVE = re.compile(r"(?<=[^\W_])'s?(?![^\W_])")

# ISO 639-1 (and a few 639-2) codes -> Snowball algorithm names. Only those PyStemmer
# ships are used (see _algorithms()); a language missing here is left unstemmed.
_SNOWBALL = {
    "ar": "arabic",
    "hy": "armenian",
    "eu": "basque",
    "ca": "catalan",
    "cs": "czech",
    "da": "danish",
    "nl": "dutch",
    "en": "english",
    "eo": "esperanto",
    "et": "estonian",
    "fi": "finnish",
    "fr": "french",
    "de": "german",
    "el": "greek",
    "hi": "hindi",
    "hu": "hungarian",
    "id": "indonesian",
    "ga": "irish",
    "it": "italian",
    "lt": "lithuanian",
    "ne": "nepali",
    "no": "norwegian",
    "nb": "norwegian",
    "nn": "norwegian",
    "fa": "persian",
    "pl": "polish",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sr": "serbian",
    "st": "sesotho",
    "es": "spanish",
    "sv": "swedish",
    "ta": "tamil",
    "tr": "turkish",
    "yi": "yiddish",
}
# Three-letter codes feeds sometimes carry, mapped to the two-letter ones.
_ISO3 = {
    "eng": "en",
    "spa": "es",
    "por": "pt",
    "fra": "fr",
    "fre": "fr",
    "deu": "de",
    "ger": "de",
    "ita": "it",
    "nld": "nl",
    "dut": "nl",
    "rus": "ru",
    "cat": "ca",
}
_BY_NAME = {name: code for code, name in _SNOWBALL.items() if code not in ("nb", "nn")}
_SUBTAG = re.compile(r"[-_\s.]")


def fold(text: str) -> str:
    """Lowercase, strip accents, NFKC-normalise and unify quotes: 'Marquéz’' -> "marquez'"."""
    if text.isascii():
        return text.lower().replace("`", "'")
    # Case-fold between two decompositions: compatibility forms ('𝒢') only gain a case once
    # decomposed, and case-folding can produce undecomposed text ('İ' -> 'i̇').
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    text = _DIACRITICS.sub("", text).translate(_FOLD_TABLE)
    # Recompose what NFKD split apart that is not a diacritic (Hangul syllables, for one).
    return unicodedata.normalize("NFC", text)


@functools.cache
def word_pattern() -> re.Pattern[str]:
    """Letters, digits and combining marks, as one compiled class (built once, ~50 ms)."""
    category = unicodedata.category
    ranges: list[str] = []
    start: int | None = None
    for cp in range(0x30000):  # no marks between U+30000 and the variation selectors below
        mark = category(chr(cp)).startswith("M")
        if mark and start is None:
            start = cp
        elif not mark and start is not None:
            ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(cp - 1))}")
            start = None
    ranges.append("\U000e0100-\U000e01ef")
    return re.compile(rf"(?:[^\W_]|[{''.join(ranges)}])+")


def words(text: str) -> list[str]:
    """Folded words of text, split as the module docstring describes: "AT&T's G20" -> att, g20."""
    folded = fold(text)
    if "&" in folded:
        folded = _JOINING_AMPERSAND.sub("", folded)
    if "'" in folded:
        folded = _POSSESSIVE.sub("", folded)
    if folded.isascii():
        return _ASCII_WORD.findall(folded)
    return word_pattern().findall(folded)


def language_of(tag: str | None, default: str) -> str:
    """The language code of a tag ('es-419', 'en_US', 'pt-BR', 'spa', 'Spanish') or default."""
    if not tag:
        return default
    primary = _SUBTAG.split(tag.strip().lower(), maxsplit=1)[0]
    if primary.isascii() and primary.isalpha():
        if len(primary) == 2:
            return primary
        if len(primary) == 3:
            return _ISO3.get(primary, primary)
        if primary in _BY_NAME:
            return _BY_NAME[primary]
    return default


@functools.cache
def _algorithms() -> frozenset[str]:
    return frozenset(cast("list[str]", Stemmer.algorithms()))


@functools.cache
def stemmer_name(language: str) -> str | None:
    """The Snowball algorithm for a language code, tag or Snowball name; None: no stemmer."""
    name = language.strip().lower()
    if name not in _algorithms():
        name = _SNOWBALL.get(language_of(language, ""), "")
    return name if name in _algorithms() else None


@functools.cache
def stemmer_names() -> tuple[str, ...]:
    """Every Snowball algorithm a language code reaches, sorted."""
    return tuple(sorted({n for n in _SNOWBALL.values() if n in _algorithms()}))


# PyStemmer's Stemmer objects keep a cache and are not safe to share between threads: each
# thread gets its own, created on first use per algorithm.
_local = threading.local()


def _stemmer(algorithm: str) -> Stemmer.Stemmer:
    cache: dict[str, Stemmer.Stemmer] | None = getattr(_local, "stemmers", None)
    if cache is None:
        cache = _local.stemmers = {}
    stemmer = cache.get(algorithm)
    if stemmer is None:
        stemmer = cache[algorithm] = Stemmer.Stemmer(algorithm)
    return stemmer


def _clean(stemmed: str, word: str) -> str:
    # A stemmer may put an accent back ('africa' -> 'afriç' in one of them) or, in theory,
    # return nothing: fold what FTS5 would fold anyway, and never lose the word.
    if not stemmed:
        return word
    return stemmed if stemmed.isascii() else fold(stemmed)


def stem(word: str, language: str) -> str:
    """The stem of a folded word in a language (code, tag or Snowball name); else the word."""
    algorithm = stemmer_name(language)
    if algorithm is None:
        return word
    return _clean(cast("str", _stemmer(algorithm).stemWord(word)), word)


def stems(words: Iterable[str], language: str) -> list[str]:
    """The stems of folded words in a language; the words themselves when it has no stemmer."""
    listed = list(words)
    algorithm = stemmer_name(language)
    if algorithm is None or not listed:
        return listed
    stemmed = cast("list[str]", _stemmer(algorithm).stemWords(listed))
    return [_clean(s, w) for s, w in zip(stemmed, listed, strict=True)]


@functools.cache
def _stop_words(code: str) -> frozenset[str]:
    """The stop words of a language code, from bot/data (empty when there is no list)."""
    if not code.isascii() or not code.isalpha():
        return frozenset()
    resource = resources.files("bot.data").joinpath(f"stopwords_{code}.txt")
    if not resource.is_file():
        return frozenset()
    lines = resource.read_text(encoding="utf-8").splitlines()
    return frozenset(
        fold(line.strip()) for line in lines if line.strip() and not line.startswith("#")
    )


def is_stop_word(word: str, language: str) -> bool:
    """Whether a folded word is too common to follow or require, in a language (code or tag)."""
    return word in _stop_words(language_of(language, ""))
