"""Turn user text into FTS5 MATCH expressions that can never be read as FTS syntax."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

# FTS5's unicode61 tokenizer keeps letters, digits and private-use characters together and
# treats everything else as a separator; `[^\W_]` is Python's letters-and-digits.
_WORD = re.compile(r"(?:[^\W_]|[\ue000-\uf8ff])+")
# A word, an optional prefix star right behind it, or a double quote opening/closing a phrase.
_PIECE = re.compile(
    r'(?P<word>(?:[^\W_]|[\ue000-\uf8ff])+)(?P<star>\*)?|(?P<quote>")(?P<qstar>\*)?'
)

# More terms than this only make a query slower, never more precise.
MAX_TERMS = 32


def _strip_marks(text: str) -> str:
    """Drop combining marks, which unicode61 (remove_diacritics 2) folds away inside a word."""
    if text.isascii():
        return text
    return "".join(ch for ch in text if unicodedata.category(ch) != "Mn")


def words(text: str) -> list[str]:
    """Split text into the words FTS5's unicode61 tokenizer would see."""
    return _WORD.findall(_strip_marks(text))


def _quoted(tokens: Iterable[str]) -> str:
    # Tokens hold only letters and digits, so a double quote can never occur inside.
    return '"' + " ".join(tokens) + '"'


def phrase_query(tokens: Sequence[str]) -> str | None:
    """Return an exact-phrase MATCH expression for the words of tokens (None if no word)."""
    found = [w for token in tokens for w in words(token)]
    return _quoted(found) if found else None


def build_match_query(text: str) -> str | None:
    """Return a safe MATCH expression ANDing the words of text, or None when it has no word.

    "Quoted text" is a phrase (an unterminated quote runs to the end), and a `*` right after
    a word or a closing quote asks for a prefix match; nothing else has any meaning.
    """
    terms: list[str] = []
    seen: set[str] = set()
    phrase: list[str] | None = None

    def add(term: str) -> None:
        key = term.casefold()
        if key not in seen and len(terms) < MAX_TERMS:
            seen.add(key)
            terms.append(term)

    for piece in _PIECE.finditer(_strip_marks(text)):
        if piece.group("quote"):
            if phrase is None:
                phrase = []
            else:
                if phrase:
                    add(_quoted(phrase) + ("*" if piece.group("qstar") else ""))
                phrase = None
        elif phrase is not None:
            phrase.append(piece.group("word"))
        else:
            add(_quoted([piece.group("word")]) + ("*" if piece.group("star") else ""))
    if phrase:
        add(_quoted(phrase))
    return " ".join(terms) if terms else None
