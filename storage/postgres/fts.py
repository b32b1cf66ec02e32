"""The search vectors of a headline on PostgreSQL: explicit lexemes, computed in Python.

`headlines.search` (migration 010) holds the same terms as SQLite's FTS5 index
(storage/sqlite/fts.py): the headline's stems in its language, its folded words, and a
marker naming its stemmer, all from bot.text.query.headline_terms, so that routing and
search agree on both backends. No PostgreSQL text-search configuration touches them: the
vector is written as a tsvector literal, lexeme by lexeme, with positions.

Namespaces keep the kinds apart in one vector, as SQLite's two columns do:

- `s:<stem>`  a word's stem, when it differs from the word (searched for plain words),
- `w:<word>`  a folded word whose stem differs (searched for "exact" words and prefixes),
- `b:<word>`  a folded word that is its own stem: both at once (searched for either),
- `m:<stemmer>` the marker, at position 1 (`m:none` for a language without a stemmer),
- `n9:<id >> 9>`, `n10:<id >> 10>`, ... `n16:<id >> 16>`: the row's windows of ids (below).

Most words are their own stem (`the`, `bank`, `chile`): one `b:` lexeme instead of a `w:`
and an `s:` of the same text keeps the vector and the GIN index about a third smaller,
which is what storing a headline mostly costs; a query asks `s:x | b:x` for a stem and
`w:x | b:x` for a word (storage/postgres/search.py). Words never hold a colon
(bot.text.language.words), so no word reaches another namespace, and a prefix of a `w:`
lexeme never matches an `s:` one. A word and its stem share a position, so phrases (`<->`)
work in either namespace; one position is left empty between fields (title, summary, each
category), so that no phrase spans two of them, as SQLite's field boundary token does.

`headlines.title_search` holds the same of the title alone (marker, stems, words), as
SQLite's title columns do: ranking asks each match whether a searched word is in its title,
and this short vector, stored in the row, answers without reading the long one, which is
kept out of line (a search reads it only to check a phrase).

The windows let a search take the newest matches as FTS5 does, walking its index newest
first: SQLite ranks only the newest SEARCH_CANDIDATES matches of a search, and the GIN
index cannot walk by id. A search first asks for its matches among the newest ids, ANDing
the two newest windows of 512 ids with its query inside the index, so that only rows that
match are ever read; with too few there, the newest windows of a size that the matches found
so far say is enough (each size twice the last, up to 65,536 ids), then everything
(storage/postgres/headlines.py). A common word is answered from the newest thousand rows,
a rare one from its few matches, and a word in between from a window little larger than it
needs.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Sequence

import asyncpg

from bot.text.language import stemmer_name
from bot.text.query import FIELD_BOUNDARY, headline_terms

log = logging.getLogger(__name__)

STEM = "s:"
WORD = "w:"
BOTH = "b:"
MARK = "m:"
UNSTEMMED = "none"

# PostgreSQL's limits: a position is at most 16383, a lexeme keeps at most 256 positions and
# is at most 2046 bytes long. Headlines stay far below the first two (summaries are cut to
# 2,000 characters); a longer lexeme is cut, which no search can tell apart: a search word
# is at most 256 characters (1,024 bytes), and a prefix still finds the cut word.
MAX_POSITION = 16383
MAX_POSITIONS = 256
MAX_LEXEME_BYTES = 1500

# The sizes of the windows of ids, as shifts: 512, 1,024, 2,048, ... 65,536 ids.
WINDOW_SHIFTS = tuple(range(9, 17))

# Beyond this many rows, filling the vectors of copied headlines says how far it got.
REINDEX_CHUNK = 20_000


def language_marker(language: str) -> str:
    """The marker lexeme of a headline in this language."""
    return MARK + (stemmer_name(language) or UNSTEMMED)


def _lexeme(namespace: str, token: str) -> str:
    text = namespace + token
    if len(text) * 4 > MAX_LEXEME_BYTES:  # UTF-8 takes at most 4 bytes a character
        raw = text.encode()
        if len(raw) > MAX_LEXEME_BYTES:
            text = raw[:MAX_LEXEME_BYTES].decode(errors="ignore")
    return text


def quote(lexeme: str) -> str:
    """A lexeme as tsvector and tsquery literals write it: in single quotes, escaped."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def window(shift: int, bucket: int) -> str:
    """The lexeme of one window of ids: those whose id >> shift is bucket."""
    return f"n{shift}:{bucket}"


def search_vectors(
    row_id: int, title: str, summary: str, categories: str, language: str
) -> tuple[str, str]:
    """The tsvector literals of a headline (categories one a line): its search vector, with
    its windows of ids, and its title's vector. See the module docstring."""
    whole, title_only = _terms_vectors(title, summary, categories, language)
    windows = " ".join(quote(window(shift, row_id >> shift)) for shift in WINDOW_SHIFTS)
    return f"{whole} {windows}", title_only


@functools.lru_cache(maxsize=256)
def _terms_vectors(title: str, summary: str, categories: str, language: str) -> tuple[str, str]:
    """The vectors' words, stems and marker, of every field and of the title (cached: an
    unchanged story under a new guid is rewritten with the same text)."""
    cats = categories.split("\n") if categories else []
    terms = headline_terms(title, summary, cats, language)
    at: dict[str, list[str]] = {language_marker(language): ["1"]}
    in_title: dict[str, list[str]] | None = None  # `at` as the title left it
    long = MAX_LEXEME_BYTES // 4 - len(WORD)  # longer words may need cutting (4 bytes a char)
    for position, (word, stem) in enumerate(zip(terms.words, terms.stems, strict=True), 2):
        if word == FIELD_BOUNDARY:
            if in_title is None:
                in_title = {lexeme: list(places) for lexeme, places in at.items()}
            continue  # the boundary's own position stays empty
        entry = str(min(position, MAX_POSITION))
        lexemes: tuple[str, ...]
        if word == stem:
            lexemes = (_lexeme(BOTH, word) if len(word) > long else BOTH + word,)
        elif len(word) > long or len(stem) > long:
            lexemes = (_lexeme(WORD, word), _lexeme(STEM, stem))
        else:
            lexemes = (WORD + word, STEM + stem)
        for lexeme in lexemes:
            found = at.get(lexeme)
            if found is None:
                at[lexeme] = [entry]
            elif len(found) < MAX_POSITIONS:
                found.append(entry)
    return _literal(at), _literal(in_title if in_title is not None else at)


def _literal(at: dict[str, list[str]]) -> str:
    """A tsvector literal of lexemes and their positions."""
    if any("'" in lexeme or "\\" in lexeme for lexeme in at):
        return " ".join(quote(lexeme) + ":" + ",".join(places) for lexeme, places in at.items())
    # words hold neither quotes nor backslashes (bot.text.language.words): no escaping
    return " ".join(f"'{lexeme}':{','.join(places)}" for lexeme, places in at.items())


def _vectors_of(rows: Sequence[asyncpg.Record]) -> list[tuple[str, str]]:
    return [
        search_vectors(r["id"], r["title"], r["summary"], r["categories"], r["language"])
        for r in rows
    ]


async def reindex(conn: asyncpg.Connection) -> int:
    """Fill the search vectors of every headline that has none (rows a copy wrote), in
    chunks, saying how far it got; return how many it filled."""
    total = int(await conn.fetchval("SELECT count(*) FROM headlines WHERE search IS NULL"))
    done, began = 0, time.monotonic()
    if total > REINDEX_CHUNK:
        log.info("indexing %d headlines for search", total)
    while True:
        rows = await conn.fetch(
            "SELECT id, title, summary, categories, language FROM headlines"
            " WHERE search IS NULL ORDER BY id LIMIT $1",
            REINDEX_CHUNK,
        )
        if not rows:
            return done
        vectors = await asyncio.to_thread(_vectors_of, rows)
        await conn.execute(
            "UPDATE headlines AS h SET search = u.search::tsvector,"
            " title_search = u.title_search::tsvector"
            " FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u (id, search, title_search)"
            " WHERE h.id = u.id",
            [row["id"] for row in rows],
            [whole for whole, _ in vectors],
            [title for _, title in vectors],
        )
        done += len(rows)
        if total > REINDEX_CHUNK:
            log.info("indexed %d of %d headlines (%.0f s)", done, total, time.monotonic() - began)
