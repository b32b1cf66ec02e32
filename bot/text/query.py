"""The one query language of /topic, /latest and /search, parsed into plain values (pure).

Topics (`parse_topic`):

| form | meaning |
| --- | --- |
| `bolivia`, `south africa` | whole consecutive words, stemmed in the headline's language |
| `"bolivian"` | exact words, not stemmed (case and accents are still ignored) |
| `lithium + chile` | every part somewhere in the headline, in any order |
| `lithium -mining` | not when the headline also mentions `mining` |
| `-israel` | a mute: headlines it matches are never pushed to the chat |
| `from:HANDLE` | every headline of that feed (several: of any of them) |
| `bolivia from:HANDLE` | the topic, only in that feed's headlines |
| `-from:HANDLE` | a mute of that feed |
| `*` | every headline of every feed |

- A `-` excludes when it starts a word (`lithium -mining`); inside a word it is a hyphen
  (`co-operation`), and a dash standing alone is punctuation. An exclusion runs to the next
  `+` or `-`: `lithium -open pit` excludes the phrase "open pit".
- A dash at the very start makes the whole topic a mute (`-israel`, `– israel`).
- `+` glued to the end of a word is part of the name (`C++`, `Canal+`, which read as `c`
  and `canal`); anywhere else it joins two parts and needs words on both sides.
- `from:HANDLE` may stand anywhere in a topic: it is taken out and the rest is read as if it
  were not there (a `+` left with nothing on one side is dropped). A `-` right before it is
  refused: a feed is muted by a topic of its own. The handle is a feed's (bot/text/handles.py)
  or `#12`, a feed's id: parsing only checks its form; the bot core resolves handles to ids
  (so a topic keeps its feed when the feed's handle changes) and refuses unknown ones.
- Quoted text is one exact part; unquoted words beside it in the same part form parts of
  their own (`"bolivian" election` is `"bolivian" + election`). An unclosed quote is
  refused: a topic is kept for good, so a misread one would quietly match the wrong things.

A topic's `key` is its canonical text (its sources first, sorted, then folded words, parts
sorted): `Bogotá` and `bogota`, `chile + lithium` and `lithium + chile` are one topic, and
`bolivia from:#12` is `from:#12 bolivia`. Parsing a key gives the same key.

Searches (`parse_search`): words are all required (stemmed), `a OR b` either (OR binds the
two terms beside it: `bolivia OR peru election` is (bolivia OR peru) AND election),
`"a b"` an exact phrase, `pre*` a prefix (not stemmed; at least two letters), `-a` and
`NOT a` without, `from:HANDLE` only in that feed's headlines (several: any of them),
`-from:HANDLE` not in them, and `*` alone every headline. `OR`, `NOT` and `AND` are operators
only in capitals. A search of only exclusions searches everything else. An unclosed quote
runs to the end (a search is retyped, not kept). Common words (`the`, `de`) are not required
when other words are. `+` separates as a space does (`lithium + chile` needs both), and the
words of one chunk must be adjacent (`co-operation`, `0:0`). A search longer than max_chars
is cut at a space.

Storage compiles these values into its own query dialect (storage/sqlite/search.py); this
module only parses. `matches()` is the reference semantics every index must keep.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from bot.text.handles import is_handle
from bot.text.i18n import N_, Translator, translator
from bot.text.language import is_stop_word, stems, words

__all__ = [
    "DASHES",
    "FIELD_BOUNDARY",
    "MAX_SEARCH_CHARS",
    "MAX_SEARCH_TERMS",
    "MAX_TOPIC_CHARS",
    "HeadlineTerms",
    "Part",
    "Refusal",
    "RefusalReason",
    "SearchQuery",
    "Term",
    "TermKind",
    "Topic",
    "headline_terms",
    "is_mute_text",
    "matches",
    "parse_search",
    "parse_topic",
    "parse_topic_list",
    "show_sources",
    "upgrade_key",
    "with_feed_ids",
]

MAX_TOPIC_CHARS = 64  # of a topic's key
MAX_SEARCH_CHARS = 256  # of a search, as Telegram caps an inline query
MAX_SEARCH_TERMS = 32  # more only make a search slower, never more precise
MAX_SOURCES = 5  # `from:` in one topic or search
SOURCE_PREFIX = "from:"
EVERYTHING = "*"
# Longer input is refused before any work, so hostile text stays cheap.
_MAX_TOPIC_INPUT = 4 * MAX_TOPIC_CHARS

# A private-use character: words() never yields it, so no topic or search word can equal it.
# It sits between a headline's fields, so that no phrase spans a title and a summary.
FIELD_BOUNDARY = "\ue001"

# The dashes people type (or phones substitute): one in front of a topic mutes it, one in
# front of a word excludes it.
DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2212"
_QUOTES = '"\u201c\u201d\u201e\u201f\u00ab\u00bb\u2033\uff02'
_OPERATORS = frozenset({"OR", "AND", "NOT"})

RefusalReason = Literal[
    "empty",
    "too_long",
    "weak",
    "empty_side",
    "unclosed_quote",
    "only_excluded",
    "bad_source",
    "excluded_source",
    "too_many_sources",
    "mute_everything",
    "unknown_source",
]


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a topic or a search was not taken: a reason code and a sentence for the reader."""

    text: str
    reason: RefusalReason
    detail: str = ""

    @property
    def message(self) -> str:
        """The reason, said to the reader in English (plain text: escape it for HTML)."""
        return self.describe()

    def describe(self, t: Translator | None = None) -> str:
        """The reason in t's language (plain text: escape it for HTML)."""
        t = t or translator(None)
        minus = self.reason == "empty_side" and self.detail == "-"
        template = REFUSALS["empty_minus" if minus else self.reason]
        return t._(template).format(text=_shorten(self.text), detail=self.detail)


# What each refusal says; {text} is the topic or search as typed, {detail} the reason's detail.
REFUSALS: dict[str, str] = {
    "empty": N_("“{text}” has no words in it."),
    "too_long": N_("“{text}” is too long: keep it to {detail} characters or fewer."),
    "weak": N_("“{text}” reads as “{detail}”, which is too short or too common to follow."),
    "empty_side": N_("In “{text}”, “+” needs words on both sides, as in lithium + chile."),
    "empty_minus": N_("In “{text}”, “-” needs a word right after it, as in lithium -mining."),
    "unclosed_quote": N_("In “{text}”, a quotation mark is not closed."),
    "only_excluded": N_(
        "“{text}” only excludes words: say what to follow too, as in lithium -mining."
    ),
    "bad_source": N_("In “{text}”, “from:{detail}” is not a feed's handle: /sources lists them."),
    "excluded_source": N_(
        "In “{text}”, “-from:{detail}” can't be part of a topic: "
        "mute that feed with a topic of its own, -from:{detail}."
    ),
    "too_many_sources": N_("“{text}” names more than {detail} feeds."),
    "mute_everything": N_("“{text}” would mute every headline: /stop pauses pushes instead."),
    "unknown_source": N_("In “{text}”, no feed has the handle “{detail}”."),
}


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class Part:
    """Folded words that must occur together, in order; stemmed unless exact."""

    words: tuple[str, ...]
    exact: bool = False

    @property
    def key(self) -> str:
        """The part as canonical topic text: `south africa`, `"bolivian"`."""
        text = " ".join(self.words)
        return f'"{text}"' if self.exact else text


def _feed_id(ref: str) -> int | None:
    """The feed id a source names (`#12`), or None for a handle not resolved yet."""
    return int(ref[1:]) if ref.startswith("#") and ref[1:].isdigit() else None


def _valid_ref(ref: str) -> bool:
    return is_handle(ref) or (ref.startswith("#") and ref[1:].isdigit() and len(ref) <= 19)


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed topic: what the reader typed, its canonical key and what it matches.

    `sources` are the feeds it is limited to (none: every feed), as written: handles, or
    `#12` once resolved to feed ids; `everything` is the topic `*`.
    """

    display: str
    key: str
    mute: bool
    parts: tuple[Part, ...]
    excluded: tuple[Part, ...] = ()
    sources: tuple[str, ...] = ()
    everything: bool = False

    @property
    def feed_ids(self) -> frozenset[int]:
        """The feeds its sources name by id (a handle not resolved yet names none)."""
        return frozenset(i for ref in self.sources if (i := _feed_id(ref)) is not None)

    @property
    def handles(self) -> tuple[str, ...]:
        """Its sources written as handles, which the core resolves to ids."""
        return tuple(ref for ref in self.sources if _feed_id(ref) is None)


# --- topics ------------------------------------------------------------------------------------

# Scanner items: ("word", raw text), ("quote", raw text inside the quotes), ("+", ""), ("-", ""),
# ("from", the source after `from:`, lower-cased)
_Item = tuple[str, str]


def _source_of(raw: str) -> str | None:
    """The source a word names when it is `from:…` (any case), else None."""
    if len(raw) >= len(SOURCE_PREFIX) and raw[: len(SOURCE_PREFIX)].lower() == SOURCE_PREFIX:
        return raw[len(SOURCE_PREFIX) :].lower()
    return None


def _scan_topic(text: str, spans: list[tuple[int, int]] | None = None) -> list[_Item] | None:
    """Split a topic (without its mute mark) into items; None when a quote is not closed.

    spans, when given, receives where each `from:` item stands in text.
    """
    items: list[_Item] = []
    word: list[str] = []
    at_start = True  # at the start of a word: a dash here excludes
    i, n = 0, len(text)

    def flush() -> None:
        if word:
            raw = "".join(word)
            source = _source_of(raw)
            if source is None:
                items.append(("word", raw))
            else:
                items.append(("from", source))
                if spans is not None:
                    spans.append((i - len(raw), i))
            word.clear()

    while i < n:
        ch = text[i]
        if ch.isspace():
            flush()
            at_start = True
            i += 1
        elif ch in _QUOTES:
            flush()
            end = next((j for j in range(i + 1, n) if text[j] in _QUOTES), -1)
            if end < 0:
                return None
            items.append(("quote", text[i + 1 : end]))
            at_start = False
            i = end + 1
        elif ch == "+":
            j = i
            while j < n and text[j] == "+":
                j += 1
            if word and (j == n or text[j].isspace()):
                word.append(text[i:j])  # `C++`, `Canal+`: part of the name
                i = j
            else:
                flush()
                items.append(("+", ""))
                at_start = True
                i += 1
        elif ch in DASHES and at_start and i + 1 < n and not text[i + 1].isspace():
            flush()
            items.append(("-", ""))
            at_start = False
            i += 1
        else:
            word.append(ch)
            at_start = False
            i += 1
    flush()
    return items


def _segment_parts(items: Sequence[_Item]) -> list[Part]:
    """The parts of one segment: each quote, and each run of unquoted words between them."""
    parts: list[Part] = []
    loose: list[str] = []

    def flush() -> None:
        found = words(" ".join(loose))
        if found:
            parts.append(Part(tuple(found)))
        loose.clear()

    for kind, raw in items:
        if kind == "word":
            loose.append(raw)
        else:
            flush()
            found = words(raw)
            if found:
                parts.append(Part(tuple(found), exact=True))
    flush()
    return parts


def _weak(word: str, language: str) -> bool:
    if len(word) == 1 and word.isascii():
        return True
    return is_stop_word(word, "en") or is_stop_word(word, language)


def _all_weak(parts: Iterable[Part], language: str) -> bool:
    return all(_weak(w, language) for p in parts for w in p.words)


def _unique_sorted(parts: Iterable[Part]) -> tuple[Part, ...]:
    by_key = {p.key: p for p in parts}
    return tuple(by_key[k] for k in sorted(by_key))


def _topic_key(
    mute: bool, parts: Sequence[Part], excluded: Sequence[Part], sources: Sequence[str] = ()
) -> str:
    pieces = [SOURCE_PREFIX + s for s in sources]
    if parts:
        pieces.append(" + ".join(p.key for p in parts))
    pieces.extend(f"-{p.key}" for p in excluded)
    key = " ".join(pieces)
    return "-" + key if mute else key


def _words_key_length(parts: Sequence[Part], excluded: Sequence[Part]) -> int:
    return len(_topic_key(False, parts, excluded))


def _take_sources(display: str, items: list[_Item]) -> tuple[list[_Item], list[str]] | Refusal:
    """The items without their `from:` sources, and the sources (sorted, once each).

    A `+` that a source leaves with nothing on one side is dropped (`bolivia + from:x`).
    """
    kept: list[_Item] = []
    sources: list[str] = []
    loose = False  # a source was taken out since the last item kept
    for kind, raw in items:
        if kind == "from":
            if kept and kept[-1][0] == "-":
                return Refusal(display, "excluded_source", raw)
            if not _valid_ref(raw):
                return Refusal(display, "bad_source", raw)
            sources.append(raw)
            loose = True
            continue
        if kind == "+" and loose and (not kept or kept[-1][0] == "+"):
            continue
        kept.append((kind, raw))
        loose = False
    if sources and kept and kept[-1][0] == "+":
        kept.pop()
    unique = sorted(set(sources))
    if len(unique) > MAX_SOURCES:
        return Refusal(display, "too_many_sources", str(MAX_SOURCES))
    return kept, unique


def parse_topic(text: str, *, language: str = "en") -> Topic | Refusal:
    """Parse one topic as the module docstring describes, or say why it can't be followed.

    language is the reader's (a code or tag): its stop words, besides English ones, count as
    too common to follow alone.
    """
    display = " ".join(text.split())
    if not display:
        return Refusal(display, "empty")
    if len(display) > _MAX_TOPIC_INPUT:
        return Refusal(display, "too_long", str(MAX_TOPIC_CHARS))
    body = display
    mute = body[0] in DASHES
    if mute:
        body = body.lstrip(DASHES).lstrip()
    if body == EVERYTHING:
        if mute:
            return Refusal(display, "mute_everything")
        return Topic(display, EVERYTHING, False, (), everything=True)
    scanned = _scan_topic(body)
    if scanned is None:
        return Refusal(display, "unclosed_quote")
    taken = _take_sources(display, scanned)
    if isinstance(taken, Refusal):
        return taken
    items, sources = taken
    if sources and not items:
        key = _topic_key(mute, (), (), sources)
        return Topic(display, key, mute, (), (), tuple(sources))

    # Segments: runs of items between operators, each positive or excluded.
    segments: list[tuple[bool, list[_Item]]] = [(False, [])]
    operators: list[str] = []  # the operator in front of each segment after the first
    for kind, raw in items:
        if kind in "+-":
            segments.append((kind == "-", []))
            operators.append(kind)
        else:
            segments[-1][1].append((kind, raw))
    parted = [(excluding, _segment_parts(seg)) for excluding, seg in segments]

    if not any(parts for _, parts in parted):
        return Refusal(display, "empty")
    for index, operator in enumerate(operators, start=1):
        left, right = parted[index - 1][1], parted[index][1]
        if operator == "-" and not right:
            return Refusal(display, "empty_side", "-")
        if operator == "+" and not (left and right):
            return Refusal(display, "empty_side", "+")

    positive = [p for excluding, parts in parted if not excluding for p in parts]
    excluded = [p for excluding, parts in parted if excluding for p in parts]
    if not positive and not sources:
        return Refusal(display, "only_excluded")
    if positive and _all_weak(positive, language):
        return Refusal(display, "weak", " ".join(w for p in positive for w in p.words))
    for part in excluded:
        if _all_weak([part], language):
            return Refusal(display, "weak", " ".join(part.words))

    parts_sorted = _unique_sorted(positive)
    excluded_sorted = _unique_sorted(excluded)
    # the words are held to the limit; sources are short once resolved (`from:#12`)
    if _words_key_length(parts_sorted, excluded_sorted) > MAX_TOPIC_CHARS:
        return Refusal(display, "too_long", str(MAX_TOPIC_CHARS))
    key = _topic_key(mute, parts_sorted, excluded_sorted, sources)
    return Topic(display, key, mute, parts_sorted, excluded_sorted, tuple(sources))


def with_feed_ids(topic: Topic, ids: Mapping[str, int]) -> Topic:
    """The topic with each handle among its sources replaced by its feed's id (`#12`), in
    its key and in its display text, so that it keeps its feed when the handle changes.

    ids maps handles to feed ids; a handle missing from it stays as it is.
    """
    if not topic.sources:
        return topic

    def ref(source: str) -> str:
        found = ids.get(source)
        return source if found is None else f"#{found}"

    sources = tuple(sorted({ref(s) for s in topic.sources}))
    key = _topic_key(topic.mute, topic.parts, topic.excluded, sources)
    display = _rewrite_sources(topic.display, ref)
    return Topic(display, key, topic.mute, topic.parts, topic.excluded, sources)


def show_sources(text: str, names: Mapping[int, str]) -> str:
    """A topic's text (a key or its display) with each `from:#12` written with the feed's
    current handle (`from:popular-resistance`); an id not in names stays as it is."""
    if SOURCE_PREFIX not in text.lower():
        return text

    def handle(source: str) -> str:
        found = _feed_id(source)
        return names.get(found, source) if found is not None else source

    return _rewrite_sources(text, handle)


def _rewrite_sources(text: str, rewrite: Callable[[str], str]) -> str:
    """text with the source of each `from:` item replaced by rewrite(source)."""
    body = text.lstrip(DASHES).lstrip() if is_mute_text(text) else text
    offset = len(text) - len(body)
    spans: list[tuple[int, int]] = []
    if _scan_topic(body, spans) is None or not spans:
        return text
    out: list[str] = []
    last = 0
    for start, end in spans:
        source = body[start + len(SOURCE_PREFIX) : end].lower()
        out.append(text[last : offset + start])
        out.append(SOURCE_PREFIX + rewrite(source))
        last = offset + end
    out.append(text[last:])
    return "".join(out)


def _split_list(text: str) -> list[str]:
    """Split on newlines, and on commas outside quotes."""
    pieces: list[str] = []
    for line in text.splitlines():
        current: list[str] = []
        quoted = False
        for ch in line:
            if ch in _QUOTES:
                quoted = not quoted
            if ch == "," and not quoted:
                pieces.append("".join(current))
                current = []
            else:
                current.append(ch)
        pieces.append("".join(current))
    return pieces


def parse_topic_list(text: str, *, language: str = "en") -> tuple[list[Topic], list[Refusal]]:
    """Parse comma-separated topics ("a, b, -c"): the topics (one per key) and the refusals."""
    topics: list[Topic] = []
    refusals: list[Refusal] = []
    seen: set[str] = set()
    for piece in _split_list(text):
        if not piece.strip():
            continue
        parsed = parse_topic(piece, language=language)
        if isinstance(parsed, Refusal):
            refusals.append(parsed)
        elif parsed.key not in seen:
            seen.add(parsed.key)
            topics.append(parsed)
    return topics, refusals


def is_mute_text(text: str) -> bool:
    """Whether topic text (a key, or as typed) is a mute: it starts with a dash."""
    return text[:1] in DASHES if text else False


def upgrade_key(old: str) -> str:
    """The key parse_topic() gives a topic stored by the older parser (folded words only).

    Those keys lost what was typed, but two of their forms can be read back: a lone `s`
    after a word was a possessive (`Bolivia's` was `bolivia s`, now `bolivia`), and single
    letters split off by `&` (`AT&T` was `at t`, `R&D` `r d`) are one word now (`att`, `rd`)
    when the parser would refuse them apart. Anything the parser refuses stays as it was.
    """
    mute = old.startswith("-")
    phrase = old[1:] if mute else old
    kept = [w for i, w in enumerate(phrase.split()) if not (i and w == "s")]
    sign = "-" if mute else ""
    parsed = parse_topic(sign + " ".join(kept))
    if isinstance(parsed, Refusal) and 1 < len(kept) <= 3 and any(len(w) == 1 for w in kept):
        parsed = parse_topic(sign + "".join(kept))
    return old if isinstance(parsed, Refusal) else parsed.key


# --- headlines ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeadlineTerms:
    """A headline's folded words and their stems, fields apart by FIELD_BOUNDARY, and the
    feeds that carry it (its story's copies: one feed each)."""

    language: str
    words: tuple[str, ...]
    stems: tuple[str, ...]
    feeds: tuple[int, ...] = ()


def headline_terms(
    title: str,
    summary: str,
    categories: Iterable[str],
    language: str,
    *,
    feeds: Iterable[int] = (),
) -> HeadlineTerms:
    """The words and stems (in the headline's language) of its title, summary and categories,
    and the feeds that carry it."""
    all_words: list[str] = []
    all_stems: list[str] = []
    for index, field in enumerate((title, summary, *categories)):
        found = words(field)
        if index:
            all_words.append(FIELD_BOUNDARY)
            all_stems.append(FIELD_BOUNDARY)
        all_words.extend(found)
        all_stems.extend(stems(found, language))
    return HeadlineTerms(language, tuple(all_words), tuple(all_stems), tuple(feeds))


def _occurs(needle: Sequence[str], haystack: Sequence[str]) -> bool:
    n = len(needle)
    if n == 0:
        return False
    first = needle[0]
    for i in range(len(haystack) - n + 1):
        if haystack[i] == first and (n == 1 or tuple(haystack[i : i + n]) == tuple(needle)):
            return True
    return False


def _part_in(part: Part, terms: HeadlineTerms) -> bool:
    if part.exact:
        return _occurs(part.words, terms.words)
    return _occurs(stems(part.words, terms.language), terms.stems)


def matches(topic: Topic, terms: HeadlineTerms) -> bool:
    """Whether a topic matches a headline: the reference semantics the indexes must keep.

    For a mute, True means the headline is muted. `*` matches every headline; a topic with
    sources only a headline one of those feeds carries (a handle not resolved to an id names
    no feed). Routing a story several feeds carry asks this of each copy (terms with one
    feed) and pushes it to a chat when one copy is followed and not muted.
    """
    if topic.everything:
        return True
    if topic.sources:
        ids = topic.feed_ids
        if not any(feed in ids for feed in terms.feeds):
            return False
    if not all(_part_in(p, terms) for p in topic.parts):
        return False
    return not any(_part_in(p, terms) for p in topic.excluded)


# --- searches ----------------------------------------------------------------------------------

TermKind = Literal["stem", "exact", "prefix"]


@dataclass(frozen=True, slots=True)
class Term:
    """One search term: folded words that must be adjacent, stemmed, exact or a prefix."""

    words: tuple[str, ...]
    kind: TermKind

    @property
    def shown(self) -> str:
        """The term as the reader would retype it: `co-operation`, `"la paz"`, `pre*`."""
        text = " ".join(self.words)
        if self.kind == "exact":
            return f'"{text}"'
        if self.kind == "prefix":
            return f'"{text}"*' if len(self.words) > 1 else f"{text}*"
        return "-".join(self.words)  # `co-operation`: stemmed words that must be adjacent


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A parsed search: what it requires and excludes, and what of the reader's text it used."""

    clauses: tuple[tuple[Term, ...], ...]  # all required; each is satisfied by any of its terms
    excluded: tuple[Term, ...]  # none may occur
    used: str  # the search as understood: `bolivia OR peru "la paz" pre* -israel`
    dropped: tuple[str, ...] = ()  # words left out: too common, or past the term limit
    truncated: bool = False  # the text was cut (at a space) to the length limit
    sources: tuple[str, ...] = ()  # only in these feeds (handles, or `#12` once resolved)
    excluded_sources: tuple[str, ...] = ()  # not in these feeds
    everything: bool = False  # nothing required (`*`, or only exclusions): every headline

    @property
    def negative_only(self) -> bool:
        """No words required: everything else matches (ranked by date)."""
        return not self.clauses

    @property
    def words_free(self) -> bool:
        """Neither words required nor excluded: only feeds (or `*`) say what matches."""
        return not self.clauses and not self.excluded

    @property
    def feed_ids(self) -> frozenset[int]:
        """The feeds its sources name by id."""
        return frozenset(i for ref in self.sources if (i := _feed_id(ref)) is not None)

    @property
    def excluded_feed_ids(self) -> frozenset[int]:
        """The feeds its excluded sources name by id."""
        return frozenset(i for ref in self.excluded_sources if (i := _feed_id(ref)) is not None)

    @property
    def handles(self) -> tuple[str, ...]:
        """Its sources (either kind) written as handles, which the core resolves to ids."""
        refs = (*self.sources, *self.excluded_sources)
        return tuple(dict.fromkeys(r for r in refs if _feed_id(r) is None))

    def with_feed_ids(self, ids: Mapping[str, int]) -> SearchQuery:
        """The search with its handles replaced by feed ids (`used` keeps the handles, as
        the reader retypes it); a handle missing from ids stays as it is."""

        def ref(source: str) -> str:
            found = ids.get(source)
            return source if found is None else f"#{found}"

        return replace(
            self,
            sources=tuple(sorted({ref(s) for s in self.sources})),
            excluded_sources=tuple(sorted({ref(s) for s in self.excluded_sources})),
        )


@dataclass(frozen=True, slots=True)
class _Chunk:
    text: str
    quoted: bool
    prefix: bool  # a `*` right behind it
    negative: bool  # a dash right in front of it


def _scan_search(text: str) -> list[_Chunk]:
    """The chunks of a search; an unclosed quote runs to the end; `+` separates, as a space."""
    chunks: list[_Chunk] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace() or ch == "+":
            i += 1
            continue
        negative = ch in DASHES and i + 1 < n and not (text[i + 1].isspace() or text[i + 1] == "+")
        if negative:
            i += 1
            ch = text[i]
        if ch in _QUOTES:
            end = next((j for j in range(i + 1, n) if text[j] in _QUOTES), n)
            star = end + 1 < n and text[end + 1] == "*"
            chunks.append(_Chunk(text[i + 1 : end], True, star, negative))
            i = end + 1 + star
            continue
        j = i
        while j < n and not text[j].isspace() and text[j] != "+" and text[j] not in _QUOTES:
            j += 1
        raw = text[i:j]
        chunks.append(_Chunk(raw.rstrip("*"), False, raw.endswith("*"), negative))
        i = j
    return chunks


def _cut(text: str, max_chars: int) -> tuple[str, bool]:
    """The text cut to max_chars at a space, never inside a word."""
    if len(text) <= max_chars:
        return text, False
    kept = text[:max_chars]
    if not text[max_chars].isspace():
        space = max(kept.rfind(" "), kept.rfind("\n"), kept.rfind("\t"))
        kept = kept[:space] if space > 0 else ""
    return kept.rstrip(), True


def parse_search(
    text: str,
    *,
    max_chars: int = MAX_SEARCH_CHARS,
    language: str = "en",
) -> SearchQuery | Refusal:
    """Parse a search as the module docstring describes; language is the reader's (for its
    common words)."""
    stripped = " ".join(text.split())
    kept, truncated = _cut(stripped, max_chars)
    if not kept and stripped:
        return Refusal(stripped, "too_long", str(max_chars))

    clauses: list[list[Term]] = []  # positive, ANDed; each clause ORs its terms
    negatives: list[Term] = []
    dropped: list[str] = []
    seen: set[tuple[bool, Term]] = set()
    sources: dict[str, bool] = {}  # feed -> excluded
    everything = False
    count = 0
    negate = False
    join = False  # an OR came after the last positive term
    for chunk in _scan_search(kept):
        if not chunk.quoted and not chunk.negative and chunk.text in _OPERATORS:
            if chunk.text == "NOT":
                negate = True
            elif chunk.text == "OR" and clauses and not negate:
                join = True
            continue
        negative = negate or chunk.negative
        negate = False
        source = None if chunk.quoted else _source_of(chunk.text)
        if source is not None:
            if not _valid_ref(source):
                return Refusal(stripped, "bad_source", source)
            sources[source] = negative
            join = False
            continue
        if not chunk.quoted and chunk.prefix and not chunk.text and not negative:
            everything = True  # `*` standing alone
            continue
        found = tuple(words(chunk.text))
        if not found:
            continue
        kind: TermKind = "exact" if chunk.quoted else "stem"
        if chunk.prefix and len(found[-1]) >= 2:
            kind = "prefix"
        term = Term(found, kind)
        if (negative, term) in seen:
            continue  # a repeated term says nothing more
        seen.add((negative, term))
        if count >= MAX_SEARCH_TERMS:
            dropped.append(("-" if negative else "") + term.shown)
            continue
        count += 1
        if negative:
            negatives.append(term)
            join = False
        elif join:
            clauses[-1].append(term)
            join = False
        else:
            clauses.append([term])

    included = sorted(s for s, excluding in sources.items() if not excluding)
    excluded_sources = sorted(s for s, excluding in sources.items() if excluding)
    if len(sources) > MAX_SOURCES:
        return Refusal(stripped, "too_many_sources", str(MAX_SOURCES))
    if not (clauses or negatives or included or excluded_sources or everything):
        return Refusal(stripped, "empty")
    everything = not (clauses or included)  # nothing required: every headline but exclusions
    clauses, common = _drop_common(clauses, language)
    dropped[:0] = common

    used = " ".join(
        [" OR ".join(t.shown for t in c) for c in clauses]
        + [f"-{t.shown}" for t in negatives]
        + [SOURCE_PREFIX + s for s in included]
        + [f"-{SOURCE_PREFIX}{s}" for s in excluded_sources]
    )
    if everything and not (negatives or excluded_sources):
        used = EVERYTHING
    return SearchQuery(
        tuple(tuple(c) for c in clauses),
        tuple(negatives),
        used,
        tuple(dropped),
        truncated,
        tuple(included),
        tuple(excluded_sources),
        everything,
    )


def _drop_common(clauses: list[list[Term]], language: str) -> tuple[list[list[Term]], list[str]]:
    """Leave out lone common words (`the`, `de`), unless nothing else would be left."""

    def common(clause: list[Term]) -> bool:
        if len(clause) != 1 or clause[0].kind != "stem":
            return False
        return all(is_stop_word(w, "en") or is_stop_word(w, language) for w in clause[0].words)

    kept = [c for c in clauses if not common(c)]
    if not kept:
        return clauses, []
    return kept, [c[0].shown for c in clauses if common(c)]
