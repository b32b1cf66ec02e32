"""Headlines on PostgreSQL: storing feed entries and finding them again (storage.headlines).

The same rules as storage/sqlite/headlines.py, statement for statement where the dialects
allow: the same story under a new guid is an update, a story another feed brought first
points at it (story_id) and is listed once. Search runs on `headlines.search` and
`headlines.title_search`, tsvectors this module fills from Python (storage/postgres/fts.py)
on every insert and on every change of a title, summary or categories, as SQLite's triggers
refill FTS5; it finds what SQLite finds, ranked in the same order (tests/storage/
test_tsquery.py, test_search.py, test_ranking.py; benchmarks/store.py checks it at scale).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg

from bot.text.language import is_stop_word
from bot.text.query import SearchQuery, Topic
from storage.models import (
    SNIPPET_CLOSE,
    SNIPPET_OPEN,
    Headline,
    HeadlineInput,
    SearchHit,
    SearchPage,
    SourcedHeadline,
    UpsertResult,
)
from storage.postgres.db import PgDatabase, conn_of
from storage.postgres.fts import WINDOW_SHIFTS, quote, search_vectors, window
from storage.postgres.search import (
    search_to_tsquery,
    term_to_tsquery,
    topic_to_tsquery,
    topics_to_tsquery,
)
from storage.sqlite.fts import mark_snippet, query_words
from storage.sqlite.headlines import (
    CROSS_FEED_TITLE_WINDOW_SECONDS,
    ELLIPSIS,
    RANKED_TERMS,
    SAME_STORY_WINDOW_SECONDS,
    SEARCH_CANDIDATES,
    SNIPPET_TOKENS,
    Story,
    canonical_link,
    story_identity,
    title_key,
)
from storage.store import Transaction

DEFAULT_LANGUAGE = "en"  # a feed without a recorded language, as the column's default says
# Every column but the search vector: what a Headline is built from.
COLUMNS = (
    "id, feed_id, title, link, summary, categories, published_at, first_seen_at, baseline,"
    " story_id, language, picture"
)
_SELECT = f"SELECT {COLUMNS} FROM headlines"  # noqa: S608 (fixed names)
# A headline with the names of the feeds that carry its story (its first headline's and
# its copies', in id order) and how many feeds there are: a page and its sources in one read.
_SOURCED = (
    f"SELECT {COLUMNS}, ARRAY(SELECT coalesce(f.name, f.title, f.url)"  # noqa: S608 (fixed names)
    " FROM headlines o JOIN feeds f ON f.id = o.feed_id"
    " WHERE o.id = coalesce(h.story_id, h.id) OR o.story_id = coalesce(h.story_id, h.id)"
    " ORDER BY o.id) AS names, (SELECT count(*) FROM feeds WHERE removed_at IS NULL) AS feeds"
    " FROM headlines h"
)
# A window too small for SEARCH_CANDIDATES matches tells how many more ids to ask: this
# many times what its density says, so that the next question rarely falls short too.
WINDOW_MARGIN = 1.25
INSERT_CHUNK = 1000  # new headlines stored per statement (their vectors made meanwhile)

_Known = tuple[int, str, str | None, str, str, str | None]
# A new headline as stored: its id, the entry, its categories, story and story keys.
_Fresh = tuple[int, HeadlineInput, str, int | None, tuple[str | None, str | None]]


class _Params:
    """The values of a statement built in pieces, each named by its `$n` as it is added."""

    def __init__(self) -> None:
        self.values: list[object] = []

    def __call__(self, value: object) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def _categories(text: str) -> tuple[str, ...]:
    return tuple(text.split("\n")) if text else ()


def _headline(row: asyncpg.Record) -> Headline:
    return Headline(
        id=row["id"],
        feed_id=row["feed_id"],
        title=row["title"],
        link=row["link"],
        summary=row["summary"],
        categories=_categories(row["categories"]),
        published_at=row["published_at"],
        first_seen_at=row["first_seen_at"],
        baseline=bool(row["baseline"]),
        picture=row["picture"],
    )


def _asks(query: SearchQuery, languages: Sequence[str]) -> list[tuple[str, str]]:
    """What ranking asks of each match of a search, as storage/sqlite/headlines.py's
    _relevance asks it: (what the answer counts, its tsquery).

    Of each of the first RANKED_TERMS terms: is it in the title ("title": the term's
    tsquery on `title_search`); of each alternative of an `OR`, is it there at all ("any":
    on `search`); with more terms, is any of them in the title ("title-any").
    """
    terms = list(dict.fromkeys(term for clause in query.clauses for term in clause))
    either = {term for clause in query.clauses if len(clause) > 1 for term in clause}
    asks: list[tuple[str, str]] = []
    for term in terms[:RANKED_TERMS]:
        asks.append(("title", term_to_tsquery(term, languages)))
        if term in either:
            asks.append(("any", term_to_tsquery(term, languages)))
    if len(terms) > RANKED_TERMS:
        titles = (term_to_tsquery(t, languages) for t in terms)
        asks.append(("title-any", " | ".join(f"({t})" for t in titles)))
    return asks


def _weight(
    asks: Sequence[tuple[str, str]], in_title: Sequence[bool], anywhere: Sequence[bool]
) -> tuple[int, int, int]:
    """A match's rank from its answers (those of the title's questions, those of the
    others), lowest first: a searched word in the title, then how many of the words the
    title has, then how many of the alternatives it has at all."""
    titles = iter(in_title)
    others = iter(anywhere)
    count = every = 0
    titled = False
    for kind, _ in asks:
        if kind == "any":
            every += next(others)
        elif next(titles):
            titled = True
            count += kind == "title"
    return (0 if titled else 1, -count, -every)


class PgHeadlineRepo:
    """Reads and writes the headlines table and its search vectors (storage.headlines)."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    async def upsert(
        self,
        tx: Transaction,
        feed_id: int,
        entries: Sequence[HeadlineInput],
        *,
        baseline: bool,
        now: float,
    ) -> UpsertResult:
        """Insert new entries, update changed ones in place; return what was new.

        Entries are matched by key (the guid) first, then by story (storage/sqlite/
        headlines.py's story_identity) among the feed's headlines of the last seven days and
        the batch's earlier entries: a known story under a new guid is updated, never new.
        """
        conn = conn_of(tx)
        batch: dict[str, HeadlineInput] = {}
        for entry in entries:
            batch.setdefault(entry.key, entry)  # a key repeated in one feed: first wins
        if not batch:
            return UpsertResult(new=(), updated=0, unchanged=0)
        rows = await conn.fetch(
            "SELECT id, key, title, link, summary, categories, picture, language FROM headlines"
            " WHERE feed_id = $1 AND key = ANY($2::text[])",
            feed_id,
            list(batch),
        )
        known: dict[str, _Known] = {}
        languages: dict[int, str] = {}
        for row in rows:
            known[row["key"]] = (
                row["id"],
                row["title"],
                row["link"],
                row["summary"],
                row["categories"],
                row["picture"],
            )
            languages[row["id"]] = row["language"]

        unknown = [entry for key, entry in batch.items() if key not in known]
        stories = await self._recent_stories(
            conn, feed_id, unknown, since=now - SAME_STORY_WINDOW_SECONDS, languages=languages
        )
        claimed = {old[0] for old in known.values()}  # rows already matched in this batch
        seen = {
            story_identity(entry.title, entry.link, entry.summary)
            for key, entry in batch.items()
            if key in known
        }
        fresh: list[HeadlineInput] = []
        changes: list[tuple[int, HeadlineInput]] = []
        unchanged = 0
        for key, entry in batch.items():
            categories = "\n".join(entry.categories)
            old = known.get(key)
            if old is None:
                story = story_identity(entry.title, entry.link, entry.summary)
                old = stories.get(story)
                if old is None or old[0] in claimed:
                    if old is None and story not in seen:
                        seen.add(story)
                        fresh.append(entry)
                    else:  # the same story twice in one document
                        unchanged += 1
                    continue
                claimed.add(old[0])
            if old[1:] != (entry.title, entry.link, entry.summary, categories, entry.picture):
                changes.append((old[0], entry))
            else:
                unchanged += 1

        if changes:
            await self._update(conn, changes, languages, now=now)
        new: tuple[Headline, ...] = ()
        if fresh:
            new = await self._insert(conn, feed_id, fresh, baseline=baseline, now=now)
        return UpsertResult(new=new, updated=len(changes), unchanged=unchanged)

    @staticmethod
    async def _update(
        conn: asyncpg.Connection,
        changes: Sequence[tuple[int, HeadlineInput]],
        languages: dict[int, str],
        *,
        now: float,
    ) -> None:
        """Rewrite changed headlines and their search vectors (in their stored language)."""
        cats = ["\n".join(e.categories) for _, e in changes]
        vectors = await asyncio.to_thread(
            lambda: [
                search_vectors(row_id, e.title, e.summary, c, languages[row_id])
                for (row_id, e), c in zip(changes, cats, strict=True)
            ]
        )
        await conn.execute(
            "UPDATE headlines AS h SET title = u.title, link = u.link, summary = u.summary,"
            " categories = u.categories, picture = u.picture, updated_at = $1,"
            " search = u.search::tsvector, title_search = u.title_search::tsvector"
            " FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[],"
            " $7::text[], $8::text[], $9::text[])"
            " AS u (id, title, link, summary, categories, picture, search, title_search)"
            " WHERE h.id = u.id",
            now,
            [row_id for row_id, _ in changes],
            [e.title for _, e in changes],
            [e.link for _, e in changes],
            [e.summary for _, e in changes],
            cats,
            [e.picture for _, e in changes],
            [whole for whole, _ in vectors],
            [title for _, title in vectors],
        )

    async def _insert(
        self,
        conn: asyncpg.Connection,
        feed_id: int,
        fresh: Sequence[HeadlineInput],
        *,
        baseline: bool,
        now: float,
    ) -> tuple[Headline, ...]:
        """Insert new headlines in the feed's language, in order; return them with their ids."""
        language = (
            await conn.fetchval("SELECT language FROM feed_languages WHERE feed_id = $1", feed_id)
            or DEFAULT_LANGUAGE
        )
        story_keys = [(canonical_link(e.link), title_key(e.title)) for e in fresh]
        roots = await self._other_feeds_stories(conn, feed_id, story_keys, now=now)
        story_ids = [
            roots.get(("link", link_key)) or roots.get(("title", t_key))
            for link_key, t_key in story_keys
        ]
        cats = ["\n".join(e.categories) for e in fresh]
        # the ids first: each row's vector names its windows of ids (storage/postgres/fts.py)
        given = await conn.fetch(
            "SELECT nextval(pg_get_serial_sequence('headlines', 'id')) FROM generate_series(1, $1)",
            len(fresh),
        )
        new_ids = sorted(row[0] for row in given)
        rows: list[_Fresh] = list(zip(new_ids, fresh, cats, story_ids, story_keys, strict=True))
        chunks = [rows[i : i + INSERT_CHUNK] for i in range(0, len(rows), INSERT_CHUNK)]

        def vectors_of(chunk: Sequence[_Fresh]) -> list[tuple[str, str]]:
            return [search_vectors(r[0], r[1].title, r[1].summary, r[2], language) for r in chunk]

        # The vectors are made in a thread, as SQLite's are in its connection's: the bot's
        # loop goes on meanwhile, and the next chunk's are made while this one is stored.
        making = asyncio.ensure_future(asyncio.to_thread(vectors_of, chunks[0]))
        for n, chunk in enumerate(chunks):
            vectors = await making
            if n + 1 < len(chunks):
                making = asyncio.ensure_future(asyncio.to_thread(vectors_of, chunks[n + 1]))
            await conn.execute(
                "INSERT INTO headlines (id, feed_id, key, title, link, summary, categories,"
                " published_at, first_seen_at, updated_at, baseline, routed, story_id,"
                " canonical_link, title_key, picture, language, search, title_search)"
                " SELECT u.id, $1, u.key, u.title, u.link, u.summary, u.categories,"
                " u.published_at, $2, $2, $3, $3, u.story_id, u.canonical_link, u.title_key,"
                " u.picture, $4, u.search::tsvector, u.title_search::tsvector"
                " FROM unnest($5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[],"
                " $10::text[], $11::float8[], $12::bigint[], $13::text[], $14::text[],"
                " $15::text[], $16::text[], $17::text[]) AS u (id, key, title, link, summary,"
                " categories, published_at, story_id, canonical_link, title_key, picture, search,"
                " title_search)",
                feed_id,
                now,
                # a baseline needs no routing; a new headline awaits it, a story another feed
                # brought first too: the router pushes such a copy only to chats its own feed
                # reaches and the earlier ones did not
                int(baseline),
                language,
                [r[0] for r in chunk],
                [r[1].key for r in chunk],
                [r[1].title for r in chunk],
                [r[1].link for r in chunk],
                [r[1].summary for r in chunk],
                [r[2] for r in chunk],
                [r[1].published_at for r in chunk],
                [r[3] for r in chunk],
                [r[4][0] for r in chunk],
                [r[4][1] for r in chunk],
                [r[1].picture for r in chunk],
                [whole for whole, _ in vectors],
                [title for _, title in vectors],
            )
        ids = {e.key: row_id for row_id, e in zip(new_ids, fresh, strict=True)}
        return tuple(
            Headline(
                id=ids[e.key],
                feed_id=feed_id,
                title=e.title,
                link=e.link,
                summary=e.summary,
                categories=tuple(e.categories),
                published_at=e.published_at,
                first_seen_at=now,
                baseline=baseline,
                picture=e.picture,
            )
            for e in fresh
        )

    @staticmethod
    async def _recent_stories(
        conn: asyncpg.Connection,
        feed_id: int,
        entries: Sequence[HeadlineInput],
        *,
        since: float,
        languages: dict[int, str],
    ) -> dict[Story, _Known]:
        """Headlines of the feed first seen since `since` that tell one of these stories
        (their languages go into `languages`)."""
        if not entries:
            return {}
        rows = await conn.fetch(
            "SELECT id, title, link, summary, categories, picture, language FROM headlines"
            " WHERE first_seen_at >= $1 AND feed_id = $2"
            " AND (link = ANY($3::text[]) OR (link IS NULL AND title = ANY($4::text[])))"
            " ORDER BY id",
            since,
            feed_id,
            sorted({e.link for e in entries if e.link}),
            sorted({e.title for e in entries if not e.link}),
        )
        found: dict[Story, _Known] = {}
        for row in rows:
            story = story_identity(row["title"], row["link"], row["summary"])
            found.setdefault(
                story,
                (
                    row["id"],
                    row["title"],
                    row["link"],
                    row["summary"],
                    row["categories"],
                    row["picture"],
                ),
            )
            languages[row["id"]] = row["language"]
        return found

    @staticmethod
    async def _other_feeds_stories(
        conn: asyncpg.Connection,
        feed_id: int,
        keys: Sequence[tuple[str | None, str | None]],
        *,
        now: float,
    ) -> dict[tuple[str, str | None], int]:
        """The stories other feeds already brought, by ("link", canonical link) and by
        ("title", title key) for titles first seen in the last 48 hours; each maps to the
        story's first headline."""
        links = sorted({link for link, _ in keys if link})
        titles = sorted({title for _, title in keys if title})
        if not links and not titles:
            return {}
        since = now - CROSS_FEED_TITLE_WINDOW_SECONDS
        rows = await conn.fetch(
            "SELECT coalesce(story_id, id), canonical_link, title_key, first_seen_at"
            " FROM headlines WHERE feed_id <> $1"
            " AND (canonical_link = ANY($2::text[])"
            " OR (title_key = ANY($3::text[]) AND first_seen_at >= $4))"
            " ORDER BY id",
            feed_id,
            links,
            titles,
            since,
        )
        found: dict[tuple[str, str | None], int] = {}
        wanted_links, wanted_titles = set(links), set(titles)
        for root, link, title, seen in rows:
            if link in wanted_links:
                found.setdefault(("link", link), root)
            if title in wanted_titles and seen >= since:
                found.setdefault(("title", title), root)
        return found

    @staticmethod
    def _sourced(rows: Sequence[asyncpg.Record]) -> list[Headline]:
        """Headlines from rows read with _SOURCED, naming the feeds that carry each story
        when there are several feeds (a story is its first headline and those pointing at
        it)."""
        if not rows or rows[0]["feeds"] < 2:
            return [_headline(row) for row in rows]
        out: list[Headline] = []
        for row in rows:
            plain = _headline(row)
            out.append(
                SourcedHeadline(
                    id=plain.id,
                    feed_id=plain.feed_id,
                    title=plain.title,
                    link=plain.link,
                    summary=plain.summary,
                    categories=plain.categories,
                    published_at=plain.published_at,
                    first_seen_at=plain.first_seen_at,
                    baseline=plain.baseline,
                    picture=plain.picture,
                    sources=tuple(dict.fromkeys(row["names"])),
                )
            )
        return out

    async def get_many(self, ids: Sequence[int]) -> dict[int, Headline]:
        """Return the headlines with these ids (missing ids are left out), sourced."""
        if not ids:
            return {}
        rows = await self._db.fetch(
            _SOURCED + " WHERE id = ANY($1::bigint[])",
            list(ids),
        )
        return {h.id: h for h in self._sourced(rows)}

    async def latest(
        self, limit: int, offset: int = 0, *, topic: Topic | None = None
    ) -> list[Headline]:
        """Return the newest headlines, optionally only those a topic matches.

        A story several feeds carry is listed once, as its first headline, naming them all;
        a topic limited to feeds (`from:`) lists the stories one of them carries.
        """
        if topic is None or topic.everything:
            rows = await self._db.fetch(
                _SOURCED + " WHERE story_id IS NULL"
                " ORDER BY published_at DESC, id DESC LIMIT $1 OFFSET $2",
                limit,
                offset,
            )
        else:
            p = _Params()
            stories = await self._stories_of(topic, p)
            rows = await self._db.fetch(
                _SOURCED + f" WHERE story_id IS NULL AND id IN ({stories})"
                f" ORDER BY published_at DESC, id DESC LIMIT {p(limit)} OFFSET {p(offset)}",
                *p.values,
            )
        return self._sourced(rows)

    async def _stories_of(self, topic: Topic, p: _Params, *, first: int | None = None) -> str:
        """A subquery of the stories (first headlines' ids) a topic matches: those its words
        match (from id `first` on), in one of its feeds when it names feeds (`from:`)."""
        sql = "SELECT coalesce(story_id, id) FROM headlines WHERE TRUE"
        if topic.sources:
            sql += f" AND feed_id = ANY({p(sorted(topic.feed_ids))}::bigint[])"
        if first is not None:
            sql += f" AND id >= {p(first)}"
        if topic.parts or topic.excluded or not topic.sources:
            match = topic_to_tsquery(topic, await self.languages())
            sql += f" AND search @@ {p(match)}::tsquery"
        return sql

    async def languages(self) -> list[str]:
        """The languages headlines are indexed in (those of the feeds, and the default)."""
        rows = await self._db.fetch("SELECT DISTINCT language FROM feed_languages")
        return sorted({DEFAULT_LANGUAGE, *(row[0] for row in rows)})

    async def search(self, query: SearchQuery, *, limit: int = 5, offset: int = 0) -> SearchPage:
        """Rank the headlines a search finds.

        As on SQLite, only the newest SEARCH_CANDIDATES matches are ranked, so a common word
        costs what a rare one does; the total is capped at the same figure. They rank by
        SQLite's order (storage/sqlite/headlines.py's _relevance): a searched word in the title
        first, then how many of the searched words the title and the whole headline have,
        then newest first (the questions: :func:`_asks`). A search of exclusions only, or of
        common words only, lists the newest.
        """
        wanted, prefix = query_words(query)
        by_date = query.negative_only or (
            bool(wanted) and not prefix and all(is_stop_word(w, "en") for w in wanted)
        )
        # the languages and the newest id in one round trip
        context = await self._db.fetchrow(
            "SELECT array(SELECT DISTINCT language FROM feed_languages), max(id) FROM headlines"
        )
        assert context is not None
        languages = sorted({DEFAULT_LANGUAGE, *context[0]})
        asks = [] if by_date or query.words_free else _asks(query, languages)
        titles = [tsquery for kind, tsquery in asks if kind != "any"]
        found, asked = await self._candidates(query, languages, titles, top=context[1])
        matched = {row[0] for row in found}
        # a story is listed once: a copy is left out when its first headline matches too
        ranked = [row for row in found if row[1] is None or row[1] not in matched]
        if asks:
            elsewhere = [tsquery for kind, tsquery in asks if kind == "any"]
            having = await self._having(asked, elsewhere, [row[0] for row in ranked])
            ranked.sort(
                key=lambda row: (
                    _weight(asks, row[3:], [row[0] in ids for ids in having]),
                    -row[2],
                    -row[0],
                )
            )
        else:
            ranked.sort(key=lambda row: (-row[2], -row[0]))
        total = len(ranked)
        ids = [row[0] for row in ranked[offset : offset + limit]]
        if not ids:
            return SearchPage(hits=(), total=total)
        page = await self._db.fetch(_SOURCED + " WHERE id = ANY($1::bigint[])", ids)
        by_id = {row["id"]: row for row in page}
        rows_in_order = [by_id[i] for i in ids if i in by_id]
        snippets: dict[int, str] = {}
        for row in rows_in_order:
            snippet = None
            for text in (row["summary"], row["title"]):
                snippet = mark_snippet(
                    text,
                    wanted,
                    row["language"],
                    open_mark=SNIPPET_OPEN,
                    close_mark=SNIPPET_CLOSE,
                    ellipsis=ELLIPSIS,
                    max_words=SNIPPET_TOKENS,
                    prefix=prefix,
                )
                if snippet is not None:
                    break
            snippets[row["id"]] = snippet if snippet is not None else row["title"]
        hits = tuple(
            SearchHit(headline=h, snippet=snippets.get(h.id, h.title))
            for h in self._sourced(rows_in_order)
        )
        return SearchPage(hits=hits, total=total)

    async def _candidates(
        self,
        query: SearchQuery,
        languages: Sequence[str],
        titles: Sequence[str],
        *,
        top: int | None,
    ) -> tuple[list[asyncpg.Record], str]:
        """The newest SEARCH_CANDIDATES headlines a search finds: (id, story_id,
        published_at, then whether its title answers each of `titles`), newest first; and
        the tsquery that found them. `top` is the newest id.

        `from:` keeps the headlines of those feeds, `-from:` leaves theirs out; a search of
        feeds alone (or `*`) needs no index: the newest headlines are its matches. Otherwise
        the newest windows of ids are asked first (storage/postgres/fts.py): a window that
        holds SEARCH_CANDIDATES matches holds the newest ones, and only matching rows are
        read; the last question is the whole index.
        """
        p = _Params()
        feeds = ""
        if query.sources:
            feeds += f" AND feed_id = ANY({p(sorted(query.feed_ids))}::bigint[])"
        if query.excluded_sources:
            feeds += f" AND feed_id <> ALL({p(sorted(query.excluded_feed_ids))}::bigint[])"
        limit = p(SEARCH_CANDIDATES)
        if query.words_free:
            rows = await self._db.fetch(
                "SELECT id, story_id, published_at FROM headlines"  # noqa: S608 (fixed clauses)
                f" WHERE TRUE{feeds} ORDER BY id DESC LIMIT {limit}",
                *p.values,
            )
            return rows, ""
        match = search_to_tsquery(query, languages)
        at = len(p.values)  # where each question's tsquery goes
        asked = p(match)
        answers = "".join(f", c.title_search @@ {p(tsquery)}::tsquery" for tsquery in titles)
        # `id + 0`: the GIN index, never a walk of the primary key reading every vector
        sql = (
            f"SELECT c.id, c.story_id, c.published_at{answers} FROM"  # noqa: S608 (fixed clauses)
            " (SELECT id, story_id, published_at, title_search FROM headlines"
            f" WHERE search @@ {asked}::tsquery{feeds} ORDER BY id + 0 DESC LIMIT {limit})"
            " AS c"
        )
        if top is None:
            return [], match
        needed = 0.0  # how many of the newest ids seem to hold enough matches
        for shift in WINDOW_SHIFTS:
            bucket = top >> shift
            if bucket < 2:  # its two newest windows hold every id
                break
            lowest = (bucket - 1) << shift
            if top - lowest + 1 < needed:
                continue  # too few matches in a window this size, judging by the last one
            newest = f"{quote(window(shift, bucket))} | {quote(window(shift, bucket - 1))}"
            p.values[at] = f"({match}) & ({newest})"
            rows = await self._db.fetch(sql, *p.values)
            if len(rows) >= SEARCH_CANDIDATES:
                return rows, str(p.values[at])
            if not rows:
                break  # none among the newest: ask the whole index at once
            needed = WINDOW_MARGIN * (top - lowest + 1) * SEARCH_CANDIDATES / len(rows)
        p.values[at] = match
        return await self._db.fetch(sql, *p.values), match

    async def _having(
        self, asked: str, terms: Sequence[str], ids: Sequence[int]
    ) -> list[frozenset[int]]:
        """Which of these matches of the tsquery `asked` have each term anywhere.

        As SQLite asks FTS5, each is a question to the index, not to the rows: the matches
        that also have the term, from the lowest of these ids on, so that no vector is read
        (only the rows that answer yes are visited, and those are among the matches).
        """
        if not terms or not ids:
            return [frozenset() for _ in terms]
        p = _Params()
        lowest = p(min(ids))
        # `id + 0`: the GIN index, as for the candidates
        sql = " UNION ALL ".join(
            f"SELECT {n}, id FROM headlines"  # noqa: S608 (fixed clauses)
            f" WHERE search @@ {p(f'({asked}) & ({term})')}::tsquery AND id + 0 >= {lowest}"
            for n, term in enumerate(terms)
        )
        found: list[set[int]] = [set() for _ in terms]
        for n, row_id in await self._db.fetch(sql, *p.values):
            found[n].add(row_id)
        return [frozenset(ids_found) for ids_found in found]

    async def preview(
        self, topic: Topic, *, since: float, limit: int = 3
    ) -> tuple[int, list[Headline]]:
        """How many headlines first seen since `since` a topic matches, and the newest.

        The window is a range of ids (they grow with time), as on SQLite. `*` counts every
        story; a topic limited to feeds (`from:`) the stories one of them carried in it.
        """
        first = await self._db.fetchval(
            "SELECT min(id) FROM headlines WHERE first_seen_at >= $1", since
        )
        if first is None:
            return 0, []
        p = _Params()
        if topic.everything:
            where = f" WHERE story_id IS NULL AND id >= {p(first)}"
        elif topic.sources:
            stories = await self._stories_of(topic, p, first=first)
            where = f" WHERE story_id IS NULL AND id IN ({stories})"
        else:
            match = topic_to_tsquery(topic, await self.languages())
            where = (
                f" WHERE story_id IS NULL AND id >= {p(first)} AND search @@ {p(match)}::tsquery"
                f" AND first_seen_at >= {p(since)}"
            )
        count = int(
            await self._db.fetchval(
                "SELECT count(*) FROM headlines" + where,  # noqa: S608 (fixed clauses)
                *p.values,
            )
        )
        rows = await self._db.fetch(
            _SOURCED + where + f" ORDER BY published_at DESC, id DESC LIMIT {p(limit)}",
            *p.values,
        )
        return count, self._sourced(rows)

    async def earlier_feeds(self, ids: Sequence[int]) -> dict[int, tuple[int, ...]]:
        """For each of these headlines that repeats a story another feed brought first (a
        copy), the feeds of the story's headlines stored before it, in order; a story's
        first headline is left out."""
        if not ids:
            return {}
        rows = await self._db.fetch(
            "SELECT h.id, o.id, o.feed_id FROM headlines h JOIN headlines o ON o.id = h.story_id"
            " WHERE h.id = ANY($1::bigint[]) AND h.story_id IS NOT NULL"
            " UNION ALL"
            " SELECT h.id, o.id, o.feed_id FROM headlines h"
            " JOIN headlines o ON o.story_id = h.story_id AND o.id < h.id"
            " WHERE h.id = ANY($1::bigint[]) AND h.story_id IS NOT NULL"
            " ORDER BY 1, 2",
            list(ids),
        )
        found: dict[int, list[int]] = {}
        for headline_id, _, feed_id in rows:
            feeds = found.setdefault(headline_id, [])
            if feed_id not in feeds:
                feeds.append(feed_id)
        return {k: tuple(v) for k, v in found.items()}

    async def recent_texts(
        self, *, since: float, limit: int = 300, topics: Sequence[Topic] = ()
    ) -> list[str]:
        """Titles and summaries of the newest headlines first seen since `since` (matching any
        of these topics, when given): the text topic suggestions are drawn from."""
        first = await self._db.fetchval(
            "SELECT min(id) FROM headlines WHERE first_seen_at >= $1", since
        )
        if first is None:
            return []
        if not topics:
            rows = await self._db.fetch(
                "SELECT title, summary FROM headlines WHERE id >= $1 AND story_id IS NULL"
                " ORDER BY id DESC LIMIT $2",
                first,
                limit,
            )
        else:
            match = topics_to_tsquery(topics, await self.languages())
            rows = await self._db.fetch(
                "SELECT title, summary FROM headlines WHERE story_id IS NULL AND id IN"
                " (SELECT id FROM headlines WHERE search @@ $1::tsquery AND id >= $2"
                " ORDER BY id DESC LIMIT $3) ORDER BY id DESC",
                match,
                first,
                limit,
            )
        return [row[0] for row in rows] + [row[1] for row in rows if row[1]]

    @staticmethod
    async def set_language(tx: Transaction, feed_id: int, language: str) -> None:
        """Record the language a feed's new headlines are indexed and routed in."""
        await conn_of(tx).execute(
            "INSERT INTO feed_languages (feed_id, language) VALUES ($1, $2)"
            " ON CONFLICT (feed_id) DO UPDATE SET language = excluded.language"
            " WHERE feed_languages.language <> excluded.language",
            feed_id,
            language,
        )

    async def languages_of(self, ids: Sequence[int]) -> dict[int, str]:
        """The language each of these headlines was indexed in (routing uses the same)."""
        if not ids:
            return {}
        rows = await self._db.fetch(
            "SELECT id, language FROM headlines WHERE id = ANY($1::bigint[])", list(ids)
        )
        return {row[0]: row[1] for row in rows}

    async def unrouted(self, limit: int) -> list[Headline]:
        """New headlines not yet routed to chats, oldest first."""
        rows = await self._db.fetch(
            _SELECT + " WHERE routed = 0 ORDER BY id LIMIT $1",
            limit,
        )
        return [_headline(row) for row in rows]

    async def mark_routed(self, tx: Transaction, ids: Sequence[int]) -> None:
        """Record that these headlines' pushes are in the outbox."""
        await conn_of(tx).execute(
            "UPDATE headlines SET routed = 1 WHERE id = ANY($1::bigint[])", list(ids)
        )

    async def count(self) -> int:
        """Return how many headlines are stored."""
        return int(await self._db.fetchval("SELECT count(*) FROM headlines"))

    async def count_since(self, ts: float) -> int:
        """Return how many headlines were first seen at or after ts."""
        return int(
            await self._db.fetchval("SELECT count(*) FROM headlines WHERE first_seen_at >= $1", ts)
        )
