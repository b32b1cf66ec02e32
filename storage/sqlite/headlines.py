"""Headlines: storing feed entries and finding them again."""

from __future__ import annotations

import json
import re
import sqlite3
import unicodedata
from collections.abc import Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit

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
from storage.sqlite.db import Database, conn_of
from storage.sqlite.fts import mark_snippet, query_words
from storage.sqlite.search import search_to_fts, term_to_fts, topic_to_fts, topics_to_fts
from storage.store import Transaction

SNIPPET_TOKENS = 24
SEARCH_CANDIDATES = 500  # the newest matches a search ranks (see SqliteHeadlineRepo.search)
RANKED_TERMS = 8  # a search's terms weighed one by one; beyond them, only "in the title"
# the newest matches, with what ranking them needs, in one read
_NEWEST = (
    "SELECT id, story_id, published_at FROM headlines WHERE id IN (SELECT rowid FROM"
    " headlines_fts WHERE headlines_fts MATCH ? ORDER BY rowid DESC LIMIT ?)"
)
_UNWEIGHED = (1, 0, 0)
ELLIPSIS = "…"
# How far back a new guid is compared with stored stories (see SqliteHeadlineRepo.upsert).
SAME_STORY_WINDOW_SECONDS = 7 * 86400

# Across feeds, the same normalised title is the same story only this close in time.
CROSS_FEED_TITLE_WINDOW_SECONDS = 48 * 3600
MIN_TITLE_KEY_WORDS = 3  # shorter titles ("Open thread", "News") tell stories apart poorly
_TRACKING_PARAMS = frozenset({"fbclid", "gclid"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_WORD = re.compile(r"\w+")

Story = tuple[str, str | None, str | None]


def canonical_link(link: str | None) -> str | None:
    """A link as compared across feeds: scheme and host lower-cased, default port, trailing
    slash, fragment and tracking parameters (utm_*, fbclid, gclid) dropped. Pure."""
    if not link:
        return None
    try:
        parts = urlsplit(link.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if not scheme or not host:
        return None
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    path = parts.path.rstrip("/")
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_") and k.lower() not in _TRACKING_PARAMS
    ]
    return f"{scheme}://{host}{path}" + (f"?{urlencode(query)}" if query else "")


def title_key(title: str) -> str | None:
    """A title as compared across feeds: case, accents, punctuation and spacing folded.

    None for titles of fewer than MIN_TITLE_KEY_WORDS words. Pure.
    """
    decomposed = unicodedata.normalize("NFKD", title.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    words = _WORD.findall(plain.replace("_", " "))
    if len(words) < MIN_TITLE_KEY_WORDS:
        return None
    return " ".join(words)


def story_identity(title: str, link: str | None, summary: str) -> Story:
    """What makes two entries of one feed the same story whatever their guids say.

    The title compared without case or spacing, and the link; an entry without a link is
    identified by its title and summary together.
    """
    return (" ".join(title.casefold().split()), link, None if link else summary)


def _categories(text: str) -> tuple[str, ...]:
    return tuple(text.split("\n")) if text else ()


def _headline(row: sqlite3.Row) -> Headline:
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


class SqliteHeadlineRepo:
    """Reads and writes the headlines table and its full-text index (storage.headlines)."""

    def __init__(self, db: Database) -> None:
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

        Entries are matched by key (the guid) first. An entry whose key is unknown but whose
        story (:func:`story_identity`: feed, normalised title and link) equals a headline of
        the same feed first seen in the last seven days, or an earlier entry of this batch,
        is that headline under a new guid: it is updated in place (or counted unchanged),
        never new, so it is never pushed twice. Feeds that mint a new guid on every request
        (a session or a timestamp in it) would otherwise push the same story at every poll.
        The stored key stays the first one seen.
        """
        conn = conn_of(tx)
        batch: dict[str, HeadlineInput] = {}
        for entry in entries:
            batch.setdefault(entry.key, entry)  # a key repeated in one feed: first wins
        if not batch:
            return UpsertResult(new=(), updated=0, unchanged=0)
        keys = json.dumps(list(batch))
        cur = await conn.execute(
            "SELECT id, key, title, link, summary, categories, picture FROM headlines"
            " WHERE feed_id = ? AND key IN (SELECT value FROM json_each(?))",
            (feed_id, keys),
        )
        known = {
            row[1]: (row[0], row[2], row[3], row[4], row[5], row[6]) for row in await cur.fetchall()
        }

        unknown = [entry for key, entry in batch.items() if key not in known]
        stories = await self._recent_stories(
            conn, feed_id, unknown, since=now - SAME_STORY_WINDOW_SECONDS
        )
        claimed = {old[0] for old in known.values()}  # rows already matched in this batch
        seen = {
            story_identity(entry.title, entry.link, entry.summary)
            for key, entry in batch.items()
            if key in known
        }
        fresh: list[HeadlineInput] = []
        changes: list[tuple[str, str | None, str, str, str | None, float, int]] = []
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
                changes.append(
                    (entry.title, entry.link, entry.summary, categories, entry.picture, now, old[0])
                )
            else:
                unchanged += 1

        if changes:
            await conn.executemany(
                "UPDATE headlines SET title = ?, link = ?, summary = ?, categories = ?,"
                " picture = ?, updated_at = ? WHERE id = ?",
                changes,
            )
        new: tuple[Headline, ...] = ()
        if fresh:
            flag = int(baseline)
            story_keys = [(canonical_link(e.link), title_key(e.title)) for e in fresh]
            roots = await self._other_feeds_stories(conn, feed_id, story_keys, now=now)
            rows = []
            for e, (link_key, t_key) in zip(fresh, story_keys, strict=True):
                root = roots.get(("link", link_key)) or roots.get(("title", t_key))
                rows.append(
                    (
                        feed_id,
                        e.key,
                        e.title,
                        e.link,
                        e.summary,
                        "\n".join(e.categories),
                        e.published_at,
                        now,
                        now,
                        flag,
                        # a baseline needs no routing; a new headline awaits it, a story
                        # another feed brought first too: the router pushes such a copy
                        # only to chats its own feed reaches and the earlier ones did not
                        flag,
                        root,
                        link_key,
                        t_key,
                        e.picture,
                    )
                )
            await conn.executemany(
                "INSERT INTO headlines (feed_id, key, title, link, summary, categories,"
                " published_at, first_seen_at, updated_at, baseline, routed,"
                " story_id, canonical_link, title_key, picture)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            cur = await conn.execute(
                "SELECT id, key FROM headlines"
                " WHERE feed_id = ? AND key IN (SELECT value FROM json_each(?))",
                (feed_id, json.dumps([e.key for e in fresh])),
            )
            ids = {row[1]: row[0] for row in await cur.fetchall()}
            new = tuple(
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
        return UpsertResult(new=new, updated=len(changes), unchanged=unchanged)

    @staticmethod
    async def _recent_stories(
        tx: Transaction,
        feed_id: int,
        entries: Sequence[HeadlineInput],
        *,
        since: float,
    ) -> dict[Story, tuple[int, str, str | None, str, str, str | None]]:
        """Headlines of the feed first seen since `since` that tell one of these stories."""
        conn = conn_of(tx)
        if not entries:
            return {}
        links = json.dumps(sorted({e.link for e in entries if e.link}))
        titles = json.dumps(sorted({e.title for e in entries if not e.link}))
        cur = await conn.execute(
            "SELECT id, title, link, summary, categories, picture FROM headlines"
            " WHERE first_seen_at >= ? AND feed_id = ?"
            " AND (link IN (SELECT value FROM json_each(?))"
            " OR (link IS NULL AND title IN (SELECT value FROM json_each(?))))"
            " ORDER BY id",
            (since, feed_id, links, titles),
        )
        found: dict[Story, tuple[int, str, str | None, str, str, str | None]] = {}
        for row in await cur.fetchall():
            story = story_identity(row[1], row[2], row[3])
            found.setdefault(story, (row[0], row[1], row[2], row[3], row[4], row[5]))
        return found

    @staticmethod
    async def _other_feeds_stories(
        tx: Transaction,
        feed_id: int,
        keys: Sequence[tuple[str | None, str | None]],
        *,
        now: float,
    ) -> dict[tuple[str, str | None], int]:
        """The stories other feeds already brought, by ("link", canonical link) and by
        ("title", title key) for titles first seen in the last 48 hours; each maps to the
        story's first headline."""
        conn = conn_of(tx)
        links = sorted({link for link, _ in keys if link})
        titles = sorted({title for _, title in keys if title})
        if not links and not titles:
            return {}
        cur = await conn.execute(
            "SELECT coalesce(story_id, id), canonical_link, title_key, first_seen_at"
            " FROM headlines WHERE feed_id <> ?"
            " AND (canonical_link IN (SELECT value FROM json_each(?))"
            " OR (title_key IN (SELECT value FROM json_each(?)) AND first_seen_at >= ?))"
            " ORDER BY id",
            (feed_id, json.dumps(links), json.dumps(titles), now - CROSS_FEED_TITLE_WINDOW_SECONDS),
        )
        since = now - CROSS_FEED_TITLE_WINDOW_SECONDS
        found: dict[tuple[str, str | None], int] = {}
        wanted_links, wanted_titles = set(links), set(titles)
        for root, link, title, seen in await cur.fetchall():
            if link in wanted_links:
                found.setdefault(("link", link), root)
            if title in wanted_titles and seen >= since:
                found.setdefault(("title", title), root)
        return found

    async def _sourced(self, rows: Sequence[sqlite3.Row]) -> list[Headline]:
        """Headlines from rows, naming the feeds that carry each story when there are
        several feeds (a story is its first headline and those pointing at it)."""
        if not rows:
            return []
        feeds = await self._db.scalar("SELECT count(*) FROM feeds WHERE removed_at IS NULL")
        if int(feeds or 0) < 2:
            return [_headline(row) for row in rows]
        roots = sorted({row["story_id"] or row["id"] for row in rows})
        listed = json.dumps(roots)
        names = await self._db.fetchall(
            "SELECT coalesce(h.story_id, h.id), coalesce(f.name, f.title, f.url)"
            " FROM headlines h JOIN feeds f ON f.id = h.feed_id"
            " WHERE h.id IN (SELECT value FROM json_each(?))"
            " OR h.story_id IN (SELECT value FROM json_each(?)) ORDER BY h.id",
            (listed, listed),
        )
        by_root: dict[int, list[str]] = {}
        for root, name in names:
            labels = by_root.setdefault(root, [])
            if name not in labels:
                labels.append(name)
        out: list[Headline] = []
        for row in rows:
            plain = _headline(row)
            sources = tuple(by_root.get(row["story_id"] or row["id"], ()))
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
                    sources=sources,
                )
            )
        return out

    async def get_many(self, ids: Sequence[int]) -> dict[int, Headline]:
        """Return the headlines with these ids (missing ids are left out), sourced."""
        if not ids:
            return {}
        rows = await self._db.fetchall(
            "SELECT * FROM headlines WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(ids)),),
        )
        return {h.id: h for h in await self._sourced(rows)}

    async def latest(
        self, limit: int, offset: int = 0, *, topic: Topic | None = None
    ) -> list[Headline]:
        """Return the newest headlines, optionally only those a topic matches.

        A story several feeds carry is listed once, as its first headline, naming them all;
        a topic limited to feeds (`from:`) lists the stories one of them carries.
        """
        if topic is None or topic.everything:
            rows = await self._db.fetchall(
                "SELECT * FROM headlines WHERE story_id IS NULL"
                " ORDER BY published_at DESC, id DESC LIMIT ? OFFSET ?",
                (limit, offset),
            )
        elif topic.sources:
            stories, params = await self._stories_of(topic)
            rows = await self._db.fetchall(
                f"SELECT * FROM headlines WHERE story_id IS NULL AND id IN ({stories})"  # noqa: S608 (fixed clauses)
                " ORDER BY published_at DESC, id DESC LIMIT ? OFFSET ?",
                (*params, limit, offset),
            )
        else:
            match = topic_to_fts(topic, await self.languages())
            rows = await self._db.fetchall(
                "SELECT * FROM headlines WHERE story_id IS NULL AND id IN"
                " (SELECT coalesce(story_id, id) FROM headlines WHERE id IN"
                "  (SELECT rowid FROM headlines_fts WHERE headlines_fts MATCH ?))"
                " ORDER BY published_at DESC, id DESC LIMIT ? OFFSET ?",
                (match, limit, offset),
            )
        return await self._sourced(rows)

    async def languages(self) -> list[str]:
        """The languages headlines are indexed in (those of the feeds, and the default)."""
        rows = await self._db.fetchall("SELECT DISTINCT language FROM feed_languages")
        return sorted({"en", *(row[0] for row in rows)})

    async def search(self, query: SearchQuery, *, limit: int = 5, offset: int = 0) -> SearchPage:
        """Rank the headlines a search finds.

        Only the newest SEARCH_CANDIDATES matches are ranked, so a search for a common word
        costs the same as one for a rare word: FTS5 walks its matches newest first and stops
        there. They rank by :meth:`_relevance`: a searched word in the title first, then how
        many of the searched words the title and the whole headline have, then newest first.
        A search of exclusions only, or of common words only, lists the newest. The total is
        capped at the same figure.
        """
        wanted, prefix = query_words(query)
        # Only common words ("the", "of the"): every headline has them, so relevance says
        # nothing, and scoring their many occurrences is what costs most: newest first.
        by_date = query.negative_only or (
            bool(wanted) and not prefix and all(is_stop_word(w, "en") for w in wanted)
        )
        # Few reads: under load, each waits its turn for the database's thread.
        languages = [] if query.words_free else await self.languages()
        rows = await self._candidates(query, languages)
        # a story is listed once: a copy is left out when its first headline matches too
        matched = {row[0] for row in rows}
        ranked = [row for row in rows if row[1] is None or row[1] not in matched]
        if by_date or query.words_free:
            ranked.sort(key=lambda row: (-row[2], -row[0]))
        else:
            weight = await self._relevance(query, [row[0] for row in ranked], languages)
            ranked.sort(key=lambda row: (weight.get(row[0], _UNWEIGHED), -row[2], -row[0]))
        total = len(ranked)
        ids = [row[0] for row in ranked[offset : offset + limit]]
        if not ids:
            return SearchPage(hits=(), total=total)
        page = await self._db.fetchall(
            "SELECT * FROM headlines WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(ids),),
        )
        by_id = {row["id"]: row for row in page}
        rows_in_order = [by_id[i] for i in ids if i in by_id]
        snippets: dict[int, str] = {}
        for row in rows_in_order:
            language = row["language"]
            snippet = None
            for text in (row["summary"], row["title"]):
                snippet = mark_snippet(
                    text,
                    wanted,
                    language,
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
            for h in await self._sourced(rows_in_order)
        )
        return SearchPage(hits=hits, total=total)

    @staticmethod
    def _feed_filter(query: SearchQuery) -> tuple[list[str], list[object]]:
        """The conditions on `headlines` a search's `from:` and `-from:` set, and their
        parameters."""
        feeds: list[str] = []
        params: list[object] = []
        if query.sources:
            feeds.append("feed_id IN (SELECT value FROM json_each(?))")
            params.append(json.dumps(sorted(query.feed_ids)))
        if query.excluded_sources:
            feeds.append("feed_id NOT IN (SELECT value FROM json_each(?))")
            params.append(json.dumps(sorted(query.excluded_feed_ids)))
        return feeds, params

    async def _candidates(self, query: SearchQuery, languages: Sequence[str]) -> list[sqlite3.Row]:
        """The newest SEARCH_CANDIDATES headlines a search finds: (id, story_id, published_at).

        `from:` keeps the headlines of those feeds, `-from:` leaves theirs out; a search of
        feeds alone (or `*`) needs no full-text index: the newest headlines are its matches.
        """
        feeds, params = self._feed_filter(query)
        if query.words_free:
            where = " WHERE " + " AND ".join(feeds) if feeds else ""
            return await self._db.fetchall(
                f"SELECT id, story_id, published_at FROM headlines{where}"  # noqa: S608 (fixed clauses)
                " ORDER BY id DESC LIMIT ?",
                (*params, SEARCH_CANDIDATES),
            )
        match = search_to_fts(query, languages)
        if not feeds:
            return await self._db.fetchall(_NEWEST, (match, SEARCH_CANDIDATES))
        return await self._db.fetchall(
            "SELECT id, story_id, published_at FROM headlines WHERE id IN (SELECT rowid FROM"  # noqa: S608 (fixed clauses)
            " headlines_fts WHERE headlines_fts MATCH ?"
            f" AND rowid IN (SELECT id FROM headlines WHERE {' AND '.join(feeds)})"
            " ORDER BY rowid DESC LIMIT ?)",
            (match, *params, SEARCH_CANDIDATES),
        )

    async def _relevance(
        self, query: SearchQuery, ids: Sequence[int], languages: Sequence[str]
    ) -> dict[int, tuple[int, int, int]]:
        """How each of these matches of a search ranks: a sort key, lowest first.

        A headline with a searched word in its title comes first, whatever the search's form;
        among those alike, the one whose title has more of the searched words (the first
        RANKED_TERMS of them), then the one that has more of them at all (the alternatives
        of an `OR`). Each is an FTS5 question over the matches' range of ids, asked of all
        the terms in one statement: which matches also have this term in the title (or at
        all). Unlike bm25, which reads every occurrence of every searched word in the whole
        index to weigh it, this costs the same for a common word as for a rare one.
        """
        terms = list(dict.fromkeys(term for clause in query.clauses for term in clause))
        if not ids or not terms:
            return {}
        match = search_to_fts(query, languages)
        either = {term for clause in query.clauses if len(clause) > 1 for term in clause}
        asks: list[tuple[str, str]] = []  # (what the answer counts, its expression)
        for term in terms[:RANKED_TERMS]:
            asks.append(("title", term_to_fts(term, languages, title=True)))
            if term in either:
                asks.append(("any", term_to_fts(term, languages)))
        if len(terms) > RANKED_TERMS:
            asks.append(
                ("title-any", " OR ".join(term_to_fts(t, languages, title=True) for t in terms))
            )
        feeds, feed_params = self._feed_filter(query)
        where = "headlines_fts MATCH ? AND rowid >= ?"
        if feeds:
            where += f" AND rowid IN (SELECT id FROM headlines WHERE {' AND '.join(feeds)})"  # noqa: S608 (fixed clauses)
        lo = min(ids)
        sql = " UNION ALL ".join(
            f"SELECT {n}, rowid FROM headlines_fts WHERE {where}"  # noqa: S608 (fixed clauses)
            for n in range(len(asks))
        )
        params: list[object] = []
        for _, expression in asks:
            params += [f"({match}) AND ({expression})", lo, *feed_params]
        wanted = set(ids)
        in_title: dict[int, int] = {}
        anywhere: dict[int, int] = {}
        titled: set[int] = set()
        for n, rowid in await self._db.fetchall(sql, params):
            if rowid not in wanted:
                continue
            kind = asks[n][0]
            if kind == "title":
                in_title[rowid] = in_title.get(rowid, 0) + 1
                titled.add(rowid)
            elif kind == "any":
                anywhere[rowid] = anywhere.get(rowid, 0) + 1
            else:
                titled.add(rowid)
        return {
            rowid: (0 if rowid in titled else 1, -in_title.get(rowid, 0), -anywhere.get(rowid, 0))
            for rowid in ids
        }

    async def preview(
        self, topic: Topic, *, since: float, limit: int = 3
    ) -> tuple[int, list[Headline]]:
        """How many headlines first seen since `since` a topic matches, and the newest.

        The window is a range of ids (they grow with time), which FTS5 narrows to at once.
        `*` counts every story; a topic limited to feeds (`from:`) the stories one of them
        carried in the window.
        """
        first = await self._db.scalar(
            "SELECT min(id) FROM headlines WHERE first_seen_at >= ?", (since,)
        )
        if first is None:
            return 0, []
        if topic.everything or topic.sources:
            if topic.everything:
                stories, params = "SELECT id FROM headlines WHERE id >= ?", [first]
            else:
                stories, params = await self._stories_of(topic, first=first)
            where = f"story_id IS NULL AND id IN ({stories})"
            count = int(
                await self._db.scalar(
                    f"SELECT count(*) FROM headlines WHERE {where}",  # noqa: S608 (fixed clauses)
                    params,
                )
            )
            rows = await self._db.fetchall(
                f"SELECT * FROM headlines WHERE {where}"  # noqa: S608 (fixed clauses)
                " ORDER BY published_at DESC, id DESC LIMIT ?",
                (*params, limit),
            )
            return count, await self._sourced(rows)
        match = topic_to_fts(topic, await self.languages())
        count = int(
            await self._db.scalar(
                "SELECT count(*) FROM headlines WHERE story_id IS NULL AND id IN"
                " (SELECT rowid FROM headlines_fts WHERE headlines_fts MATCH ? AND rowid >= ?)"
                " AND first_seen_at >= ?",
                (match, first, since),
            )
        )
        rows = await self._db.fetchall(
            "SELECT * FROM headlines WHERE story_id IS NULL AND id IN"
            " (SELECT rowid FROM headlines_fts WHERE headlines_fts MATCH ? AND rowid >= ?)"
            " AND first_seen_at >= ? ORDER BY published_at DESC, id DESC LIMIT ?",
            (match, first, since, limit),
        )
        return count, await self._sourced(rows)

    async def _stories_of(
        self, topic: Topic, *, first: int | None = None
    ) -> tuple[str, list[object]]:
        """A subquery of the stories (first headlines' ids) a topic limited to feeds matches:
        those its feeds carry (from id `first` on), its words in that feed's copy."""
        sql = "SELECT coalesce(story_id, id) FROM headlines WHERE feed_id IN"
        sql += " (SELECT value FROM json_each(?))"
        params: list[object] = [json.dumps(sorted(topic.feed_ids))]
        if first is not None:
            sql += " AND id >= ?"
            params.append(first)
        if topic.parts or topic.excluded:
            match = topic_to_fts(topic, await self.languages())
            sql += " AND id IN (SELECT rowid FROM headlines_fts WHERE headlines_fts MATCH ?"
            params.append(match)
            if first is not None:
                sql += " AND rowid >= ?"
                params.append(first)
            sql += ")"
        return sql, params

    async def earlier_feeds(self, ids: Sequence[int]) -> dict[int, tuple[int, ...]]:
        """For each of these headlines that repeats a story another feed brought first (a
        copy), the feeds of the story's headlines stored before it, in order; a story's
        first headline is left out."""
        if not ids:
            return {}
        listed = json.dumps(list(ids))
        rows = await self._db.fetchall(
            "SELECT h.id, o.id, o.feed_id FROM headlines h JOIN headlines o ON o.id = h.story_id"
            " WHERE h.id IN (SELECT value FROM json_each(?)) AND h.story_id IS NOT NULL"
            " UNION ALL"
            " SELECT h.id, o.id, o.feed_id FROM headlines h"
            " JOIN headlines o ON o.story_id = h.story_id AND o.id < h.id"
            " WHERE h.id IN (SELECT value FROM json_each(?)) AND h.story_id IS NOT NULL"
            " ORDER BY 1, 2",
            (listed, listed),
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
        first = await self._db.scalar(
            "SELECT min(id) FROM headlines WHERE first_seen_at >= ?", (since,)
        )
        if first is None:
            return []
        if not topics:
            rows = await self._db.fetchall(
                "SELECT title, summary FROM headlines WHERE id >= ? AND story_id IS NULL"
                " ORDER BY id DESC LIMIT ?",
                (first, limit),
            )
        else:
            match = topics_to_fts(topics, await self.languages())
            rows = await self._db.fetchall(
                "SELECT title, summary FROM headlines WHERE story_id IS NULL AND id IN"
                " (SELECT rowid FROM headlines_fts WHERE headlines_fts MATCH ? AND rowid >= ?"
                " ORDER BY rowid DESC LIMIT ?)",
                (match, first, limit),
            )
        return [row[0] for row in rows] + [row[1] for row in rows if row[1]]

    @staticmethod
    async def set_language(tx: Transaction, feed_id: int, language: str) -> None:
        """Record the language a feed's new headlines are indexed and routed in."""
        conn = conn_of(tx)
        await conn.execute(
            "INSERT INTO feed_languages (feed_id, language) VALUES (?, ?)"
            " ON CONFLICT (feed_id) DO UPDATE SET language = excluded.language"
            " WHERE language != excluded.language",
            (feed_id, language),
        )

    async def languages_of(self, ids: Sequence[int]) -> dict[int, str]:
        """The language each of these headlines was indexed in (routing uses the same)."""
        if not ids:
            return {}
        rows = await self._db.fetchall(
            "SELECT id, language FROM headlines WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(ids)),),
        )
        return {row[0]: row[1] for row in rows}

    async def unrouted(self, limit: int) -> list[Headline]:
        """New headlines not yet routed to chats, oldest first."""
        rows = await self._db.fetchall(
            "SELECT * FROM headlines INDEXED BY headlines_unrouted WHERE routed = 0"
            " ORDER BY id LIMIT ?",
            (limit,),
        )
        return [_headline(row) for row in rows]

    async def mark_routed(self, tx: Transaction, ids: Sequence[int]) -> None:
        """Record that these headlines' pushes are in the outbox."""
        conn = conn_of(tx)
        await conn.execute(
            "UPDATE headlines SET routed = 1 WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(ids)),),
        )

    async def count(self) -> int:
        """Return how many headlines are stored."""
        return int(await self._db.scalar("SELECT count(*) FROM headlines"))

    async def count_since(self, ts: float) -> int:
        """Return how many headlines were first seen at or after ts."""
        return int(
            await self._db.scalar("SELECT count(*) FROM headlines WHERE first_seen_at >= ?", (ts,))
        )
