"""The full-text index of headlines: what it holds, the SQL functions that fill it, snippets.

The index (`headlines_fts`, migration 013) has four columns over the text
:func:`index_texts` gives: `stems` (a marker naming the headline's stemmer, then its stemmed
words) and `words` (its folded words) over every field, so that /search and topic routing
read a headline alike (storage/sqlite/search.py compiles topics and searches to expressions
over them); and `title_stems` and `title_words`, the same of the title alone, which tell a
search which of its matches have a searched word in their title (titles rank first). The
title's tokens carry the TITLE mark, so that they are terms of their own: asking which
matches have a word in their title reads the word's title occurrences only, not every row
that has the word somewhere.

SQLite computes the columns itself, in the triggers on `headlines` and through the view
`headlines_indexed`, by calling the functions :func:`install` registers on a connection:
every connection that writes headlines must have them (storage/sqlite/db.py opens it so).
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Iterable

import aiosqlite

from bot.text.language import stemmer_name, stems, words
from bot.text.query import FIELD_BOUNDARY, SearchQuery, headline_terms

log = logging.getLogger(__name__)

# Beyond this many headlines, the migration that re-indexes them says how far it got.
REINDEX_CHUNK = 20_000

# Private-use characters: FTS5's unicode61 keeps them as token characters and words() never
# yields them, so no user text can produce these tokens. MARK opens a row's `stems`, followed
# by the name of the stemmer that made them (UNSTEMMED for a language without one); the
# field boundary (bot.text.query.FIELD_BOUNDARY) sits between fields.
MARK = "\ue000"
UNSTEMMED = "none"
TITLE = "\ue002"  # opens every token of `title_stems` and `title_words`


def language_marker(language: str) -> str:
    """The token that opens the `stems` column of a headline in this language."""
    return MARK + (stemmer_name(language) or UNSTEMMED)


# --- the index's columns -----------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def index_texts(
    title: str, summary: str, categories: str, language: str
) -> tuple[str, str, str, str]:
    """The `stems`, `words`, `title_stems` and `title_words` texts of a headline (its
    categories one a line).

    Cached: SQLite asks for the columns of one row in separate calls.
    """
    cats = categories.split("\n") if categories else []
    terms = headline_terms(title, summary, cats, language)
    cut = terms.words.index(FIELD_BOUNDARY)  # there is always a summary field after the title
    return (
        " ".join((language_marker(language), *terms.stems)),
        " ".join(terms.words),
        " ".join(TITLE + s for s in terms.stems[:cut]),
        " ".join(TITLE + w for w in terms.words[:cut]),
    )


def index_columns(
    title: str, summary: str, categories: Iterable[str], language: str
) -> tuple[str, str]:
    """The `stems` and `words` texts of a headline: what the search expressions run on
    (their tests index this)."""
    return index_texts(title, summary, "\n".join(categories), language)[:2]


def _column_sql(
    column: int,
    title: str | None,
    summary: str | None,
    categories: str | None,
    lang: str | None,
) -> str:
    return index_texts(title or "", summary or "", categories or "", lang or "en")[column]


async def install(conn: aiosqlite.Connection) -> None:
    """Register the functions the index's triggers and view call: hb_stems, hb_words,
    hb_title_stems and hb_title_words, each of (title, summary, categories, language)."""
    names = ("hb_stems", "hb_words", "hb_title_stems", "hb_title_words")
    for column, name in enumerate(names):
        await conn.create_function(
            name, 4, functools.partial(_column_sql, column), deterministic=True
        )


async def reindex(conn: aiosqlite.Connection) -> int:
    """Fill the (empty) index from every headline, in chunks, saying how far it got.

    The columns are the index's own, as the migration being run left it.
    """
    cur = await conn.execute("SELECT name FROM pragma_table_info('headlines_fts')")
    columns = ", ".join(str(row[0]) for row in await cur.fetchall())
    cur = await conn.execute("SELECT count(*), coalesce(max(id), 0) FROM headlines")
    row = await cur.fetchone()
    total, top = (int(row[0]), int(row[1])) if row else (0, 0)
    done, lo, began = 0, 0, time.monotonic()
    if total > REINDEX_CHUNK:
        log.info("re-indexing %d headlines for search", total)
    while lo < top:
        cur = await conn.execute(
            "SELECT max(id), count(*) FROM (SELECT id FROM headlines WHERE id > ?"
            " ORDER BY id LIMIT ?)",
            (lo, REINDEX_CHUNK),
        )
        row = await cur.fetchone()
        if row is None or row[0] is None:
            break
        hi = int(row[0])
        await conn.execute(
            f"INSERT INTO headlines_fts (rowid, {columns})"  # noqa: S608 (the index's own names)
            f" SELECT id, {columns} FROM headlines_indexed WHERE id > ? AND id <= ?",
            (lo, hi),
        )
        done += int(row[1])
        lo = hi
        if total > REINDEX_CHUNK:
            log.info(
                "re-indexed %d of %d headlines (%.0f s)", done, total, time.monotonic() - began
            )
    return done


# --- snippets --------------------------------------------------------------------------------

_SNIPPET_WORD = re.compile(r"[^\W_]+(?:['’&][^\W_]+)*")


def query_words(query: SearchQuery) -> tuple[frozenset[str], bool]:
    """The folded words a search asked for (its exclusions left out); True if any is a prefix."""
    terms = [term for clause in query.clauses for term in clause]
    found = frozenset(word for term in terms for word in term.words)
    return found, any(term.kind == "prefix" for term in terms)


def mark_snippet(
    text: str,
    wanted: frozenset[str],
    language: str,
    *,
    open_mark: str,
    close_mark: str,
    ellipsis: str,
    max_words: int,
    prefix: bool = False,
) -> str | None:
    """Text with the words a search asked for between marks, cut around the first; None if
    no word of it matches."""
    if not wanted:
        return None
    wanted_stems = frozenset(stems(sorted(wanted), language))
    spans: list[tuple[int, int]] = []
    hit_at: list[int] = []
    matches = list(_SNIPPET_WORD.finditer(text))
    per_match = [words(m.group()) for m in matches]
    flat = [w for found in per_match for w in found]
    flat_stems = iter(stems(flat, language))  # one call: the stemmer's own loop is in C
    for n, (match, found) in enumerate(zip(matches, per_match, strict=True)):
        stemmed = [next(flat_stems) for _ in found]
        hit = any(w in wanted for w in found) or any(s in wanted_stems for s in stemmed)
        if not hit and prefix:
            hit = any(w.startswith(q) for w in found for q in wanted if len(q) >= 2)
        if hit:
            spans.append(match.span())
            hit_at.append(n)
    if not spans:
        return None
    first = hit_at[0]
    start_word = max(0, first - max_words // 4)
    end_word = min(len(matches), start_word + max_words)
    start = matches[start_word].start() if start_word else 0
    end = matches[end_word - 1].end() if end_word < len(matches) else len(text)
    out: list[str] = [ellipsis] if start_word else []
    position = start
    for a, b in spans:
        if a < start or b > end:
            continue
        out.append(text[position:a])
        out.append(open_mark + text[a:b] + close_mark)
        position = b
    out.append(text[position:end])
    if end < len(text):
        out.append(ellipsis)
    return "".join(out)
