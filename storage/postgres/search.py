"""The compiler from parsed topics and searches (bot.text.query) to PostgreSQL tsqueries.

The queries run on the vector storage/postgres/fts.py describes: `s:` stems, `w:` folded
words, `b:` words that are their own stems, and one `m:` marker naming the row's stemmer.
They mirror storage/sqlite/search.py step by step, so that both backends find the same
headlines: stemmed forms are searched among the stems, exact and prefix forms among the
words (each with the `b:` lexemes), words that must be adjacent are a phrase (`<->`), a
prefix is `:*` on the last word. User text never reaches a tsquery raw:
every lexeme is a quoted literal here, and the text is parsed by `::tsquery` (no
text-search configuration, no stop words, no stemming by PostgreSQL).

`languages` is always the set of languages the index holds (codes or tags), which keeps a
query short; None covers every stemmer.

Feeds (`from:`) and `*` are no tsquery matter: the repository filters on the headline's feed
(storage/postgres/headlines.py). A topic of no words but exclusions (`from:x -sports`)
compiles to every row but those, as on SQLite.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bot.text.language import stemmer_name, stemmer_names, stems
from bot.text.query import Part, SearchQuery, Term, Topic
from storage.postgres.fts import BOTH, MARK, STEM, UNSTEMMED, WORD, quote

__all__ = [
    "EVERY_ROW",
    "search_to_tsquery",
    "term_to_tsquery",
    "topic_to_tsquery",
    "topics_to_tsquery",
]

# Every row's vector holds a marker: this prefix matches them all.
EVERY_ROW = f"{quote(MARK)}:*"


def _phrase(namespace: str, tokens: Sequence[str], *, prefix: bool = False) -> str:
    """The tokens, adjacent and in order, in one namespace (or as words that are their own
    stems, `b:`); the last one a prefix if asked."""
    star = ":*" if prefix else ""
    lexemes = [f"({quote(namespace + token)} | {quote(BOTH + token)})" for token in tokens]
    if prefix:
        last = tokens[-1]
        lexemes[-1] = f"({quote(namespace + last)}{star} | {quote(BOTH + last)}{star})"
    if len(lexemes) == 1:
        return lexemes[0]
    return "(" + " <-> ".join(lexemes) + ")"


def _groups(languages: Iterable[str] | None) -> tuple[str, ...]:
    """The stemmers (and `none`) whose rows a query must cover."""
    if languages is None:
        return (*stemmer_names(), UNSTEMMED)
    return tuple(sorted({stemmer_name(lang) or UNSTEMMED for lang in languages}))


def _markers(groups: Iterable[str]) -> str:
    return "(" + " | ".join(quote(MARK + g) for g in groups) + ")"


def _stem_variants(
    part_words: Sequence[str], groups: Sequence[str]
) -> dict[tuple[str, ...], list[str]]:
    """The words stemmed by each stemmer, and the stemmers that give each result."""
    by_stem: dict[tuple[str, ...], list[str]] = {}
    for group in groups:
        stemmed = tuple(part_words) if group == UNSTEMMED else tuple(stems(part_words, group))
        by_stem.setdefault(stemmed, []).append(group)
    return by_stem


def _stemmed(part_words: Sequence[str], groups: Sequence[str]) -> str:
    """Where the words occur stemmed, each row in its own language's stems.

    As storage/sqlite/search.py does: the stem most stemmers share is searched in every row
    not marked for another stemmer; each other stem only in rows marked with its stemmers.
    """
    by_stem = _stem_variants(part_words, groups)
    if len(by_stem) == 1:
        return _phrase(STEM, next(iter(by_stem)))
    ranked = sorted(by_stem.items(), key=lambda item: (-len(item[1]), item[0]))
    (common, _), rest = ranked[0], ranked[1:]
    others = [g for _, gs in rest for g in gs]
    pieces = [f"({_phrase(STEM, common)} & !{_markers(others)})"]
    pieces.extend(f"({_phrase(STEM, s)} & {_markers(gs)})" for s, gs in rest)
    return "(" + " | ".join(pieces) + ")"


def _part(part: Part, groups: Sequence[str]) -> str:
    if part.exact:
        return _phrase(WORD, part.words)
    return _stemmed(part.words, groups)


def _topic(topic: Topic, groups: Sequence[str]) -> str:
    positive = " & ".join(_part(p, groups) for p in topic.parts)
    if not topic.excluded:
        return positive or EVERY_ROW
    excluded = " | ".join(_part(p, groups) for p in topic.excluded)
    if not positive:
        return f"!({excluded})"
    return f"({positive}) & !({excluded})"


def topic_to_tsquery(topic: Topic, languages: Iterable[str] | None = None) -> str:
    """The tsquery text that finds the headlines a topic matches (bot.text.query.matches)."""
    return _topic(topic, _groups(languages))


def topics_to_tsquery(topics: Sequence[Topic], languages: Iterable[str] | None = None) -> str:
    """The tsquery text that finds the headlines any of these (one or more) topics match."""
    groups = _groups(languages)
    return " | ".join(f"({_topic(t, groups)})" for t in topics)


def _term(term: Term, groups: Sequence[str]) -> str:
    if term.kind == "exact":
        return _phrase(WORD, term.words)
    if term.kind == "prefix":
        return _phrase(WORD, term.words, prefix=True)
    return _stemmed(term.words, groups)


def term_to_tsquery(term: Term, languages: Iterable[str] | None = None) -> str:
    """The tsquery text that finds one search term (on `search`: anywhere; on
    `title_search`: in the title)."""
    return _term(term, _groups(languages))


def _clause(clause: Sequence[Term], groups: Sequence[str]) -> str:
    if len(clause) == 1:
        return _term(clause[0], groups)
    return "(" + " | ".join(_term(t, groups) for t in clause) + ")"


def search_to_tsquery(query: SearchQuery, languages: Iterable[str] | None = None) -> str:
    """The tsquery text that finds what a search asks for."""
    groups = _groups(languages)
    positive = " & ".join(_clause(c, groups) for c in query.clauses)
    excluded = " | ".join(_term(t, groups) for t in query.excluded)
    if positive and excluded:
        return f"({positive}) & !({excluded})"
    if positive:
        return positive
    if excluded:
        return f"!({excluded})"
    return EVERY_ROW
