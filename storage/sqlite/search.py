"""The compiler from parsed topics and searches (bot.text.query) to FTS5 expressions.

The expressions run on the index storage/sqlite/fts.py describes: `stems` (a language marker,
then the stemmed words) and `words` (the folded words), tokenize='unicode61 remove_diacritics
2'. Stemmed forms are searched in `stems`, exact and prefix forms in `words`. User text
never reaches MATCH raw: every token is a quoted string here.

`languages` is always the set of languages the index holds (codes or tags), which keeps an
expression short; None covers every stemmer.

Feeds (`from:`) and `*` are no FTS5 matter: the repository filters on the headline's feed
(storage/sqlite/headlines.py). A topic of no words but exclusions (`from:x -sports`) compiles
to every row but those.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bot.text.language import stemmer_name, stemmer_names, stems
from bot.text.query import Part, SearchQuery, Term, Topic
from storage.sqlite.fts import MARK, TITLE, UNSTEMMED

__all__ = ["search_to_fts", "term_to_fts", "topic_to_fts", "topics_to_fts"]


def _string(tokens: Iterable[str]) -> str:
    """One FTS5 string: the tokens in double quotes, any inner quote doubled."""
    return '"' + " ".join(tokens).replace('"', '""') + '"'


def _groups(languages: Iterable[str] | None) -> tuple[str, ...]:
    """The stemmers (and `none`) whose rows an expression must cover."""
    if languages is None:
        return (*stemmer_names(), UNSTEMMED)
    return tuple(sorted({stemmer_name(lang) or UNSTEMMED for lang in languages}))


def _markers(groups: Iterable[str]) -> str:
    return "stems : (" + " OR ".join(_string([MARK + g]) for g in groups) + ")"


def _stemmed(part_words: Sequence[str], groups: Sequence[str], *, title: bool = False) -> str:
    """Where the words occur stemmed, each row in its own language's stems (with `title`, in
    the title alone: `title_stems`, whose tokens carry the TITLE mark).

    Rows are stemmed in their language, so the words are stemmed once per stemmer; where
    stemmers disagree, each stem is searched only in rows marked with its stemmers. The
    stem most stemmers share is searched in every row not marked for another.
    """
    column = "title_stems" if title else "stems"
    by_stem: dict[tuple[str, ...], list[str]] = {}
    for group in groups:
        stemmed = tuple(part_words) if group == UNSTEMMED else tuple(stems(part_words, group))
        if title:
            stemmed = tuple(TITLE + s for s in stemmed)
        by_stem.setdefault(stemmed, []).append(group)
    if len(by_stem) == 1:
        return f"{column} : " + _string(next(iter(by_stem)))
    ranked = sorted(by_stem.items(), key=lambda item: (-len(item[1]), item[0]))
    (common, _), rest = ranked[0], ranked[1:]
    others = [g for _, gs in rest for g in gs]
    pieces = [f"({column} : {_string(common)} NOT {_markers(others)})"]
    pieces.extend(f"({column} : {_string(s)} AND {_markers(gs)})" for s, gs in rest)
    return "(" + " OR ".join(pieces) + ")"


def _part_fts(part: Part, groups: Sequence[str]) -> str:
    if part.exact:
        return "words : " + _string(part.words)
    return _stemmed(part.words, groups)


# Every row's `stems` opens with a marker: this prefix matches them all.
_EVERY_ROW = f"stems : {_string([MARK])}*"


def _topic_fts(topic: Topic, groups: Sequence[str]) -> str:
    positive = " AND ".join(_part_fts(p, groups) for p in topic.parts) or _EVERY_ROW
    if not topic.excluded:
        return positive
    excluded = " OR ".join(_part_fts(p, groups) for p in topic.excluded)
    return f"({positive}) NOT ({excluded})"


def topic_to_fts(topic: Topic, languages: Iterable[str] | None = None) -> str:
    """The FTS5 expression that finds the headlines a topic matches (bot.text.query.matches)."""
    return _topic_fts(topic, _groups(languages))


def topics_to_fts(topics: Sequence[Topic], languages: Iterable[str] | None = None) -> str:
    """The FTS5 expression that finds the headlines any of these (one or more) topics match."""
    groups = _groups(languages)
    return " OR ".join(f"({_topic_fts(t, groups)})" for t in topics)


def _term_fts(term: Term, groups: Sequence[str], *, title: bool = False) -> str:
    if term.kind == "stem":
        return _stemmed(term.words, groups, title=title)
    column, tokens = "words", term.words
    if title:
        column, tokens = "title_words", tuple(TITLE + w for w in term.words)
    return f"{column} : " + _string(tokens) + ("*" if term.kind == "prefix" else "")


def term_to_fts(term: Term, languages: Iterable[str] | None = None, *, title: bool = False) -> str:
    """The FTS5 expression that finds one search term: anywhere, or in the title alone."""
    return _term_fts(term, _groups(languages), title=title)


def _clause_fts(clause: Sequence[Term], groups: Sequence[str]) -> str:
    if len(clause) == 1:
        return _term_fts(clause[0], groups)
    return "(" + " OR ".join(_term_fts(t, groups) for t in clause) + ")"


def search_to_fts(query: SearchQuery, languages: Iterable[str] | None = None) -> str:
    """The FTS5 expression that finds what a search asks for."""
    groups = _groups(languages)
    positive = " AND ".join(_clause_fts(c, groups) for c in query.clauses)
    excluded = " OR ".join(_term_fts(t, groups) for t in query.excluded)
    if positive and excluded:
        return f"({positive}) NOT ({excluded})"
    if positive:
        return positive
    if excluded:
        return f"{_EVERY_ROW} NOT ({excluded})"
    return _EVERY_ROW
