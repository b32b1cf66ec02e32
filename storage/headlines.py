"""Headlines: storing feed entries and finding them again."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

import aiosqlite

from storage.db import Database
from storage.fts import build_match_query
from storage.models import (
    SNIPPET_CLOSE,
    SNIPPET_OPEN,
    Headline,
    HeadlineInput,
    SearchHit,
    SearchPage,
    UpsertResult,
)

SNIPPET_TOKENS = 24
ELLIPSIS = "…"
# How far back a new guid is compared with stored stories (see HeadlineRepo.upsert).
SAME_STORY_WINDOW_SECONDS = 7 * 86400

Story = tuple[str, str | None, str | None]


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
    )


class HeadlineRepo:
    """Reads and writes the headlines table and its full-text index."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def upsert(
        self,
        conn: aiosqlite.Connection,
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
        batch: dict[str, HeadlineInput] = {}
        for entry in entries:
            batch.setdefault(entry.key, entry)  # a key repeated in one feed: first wins
        if not batch:
            return UpsertResult(new=(), updated=0, unchanged=0)
        keys = json.dumps(list(batch))
        cur = await conn.execute(
            "SELECT id, key, title, link, summary, categories FROM headlines"
            " WHERE feed_id = ? AND key IN (SELECT value FROM json_each(?))",
            (feed_id, keys),
        )
        known = {row[1]: (row[0], row[2], row[3], row[4], row[5]) for row in await cur.fetchall()}

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
        changes: list[tuple[str, str | None, str, str, float, int]] = []
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
            if old[1:] != (entry.title, entry.link, entry.summary, categories):
                changes.append((entry.title, entry.link, entry.summary, categories, now, old[0]))
            else:
                unchanged += 1

        if changes:
            await conn.executemany(
                "UPDATE headlines SET title = ?, link = ?, summary = ?, categories = ?,"
                " updated_at = ? WHERE id = ?",
                changes,
            )
        new: tuple[Headline, ...] = ()
        if fresh:
            flag = int(baseline)
            await conn.executemany(
                "INSERT INTO headlines (feed_id, key, title, link, summary, categories,"
                " published_at, first_seen_at, updated_at, baseline, routed)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
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
                        flag,  # a baseline needs no routing; a new headline awaits it
                    )
                    for e in fresh
                ],
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
                )
                for e in fresh
            )
        return UpsertResult(new=new, updated=len(changes), unchanged=unchanged)

    @staticmethod
    async def _recent_stories(
        conn: aiosqlite.Connection,
        feed_id: int,
        entries: Sequence[HeadlineInput],
        *,
        since: float,
    ) -> dict[Story, tuple[int, str, str | None, str, str]]:
        """Headlines of the feed first seen since `since` that tell one of these stories."""
        if not entries:
            return {}
        links = json.dumps(sorted({e.link for e in entries if e.link}))
        titles = json.dumps(sorted({e.title for e in entries if not e.link}))
        cur = await conn.execute(
            "SELECT id, title, link, summary, categories FROM headlines"
            " WHERE first_seen_at >= ? AND feed_id = ?"
            " AND (link IN (SELECT value FROM json_each(?))"
            " OR (link IS NULL AND title IN (SELECT value FROM json_each(?))))"
            " ORDER BY id",
            (since, feed_id, links, titles),
        )
        found: dict[Story, tuple[int, str, str | None, str, str]] = {}
        for row in await cur.fetchall():
            story = story_identity(row[1], row[2], row[3])
            found.setdefault(story, (row[0], row[1], row[2], row[3], row[4]))
        return found

    async def get_many(self, ids: Sequence[int]) -> dict[int, Headline]:
        """Return the headlines with these ids (missing ids are left out)."""
        if not ids:
            return {}
        rows = await self._db.fetchall(
            "SELECT * FROM headlines WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(ids)),),
        )
        return {row["id"]: _headline(row) for row in rows}

    async def latest(
        self, limit: int, offset: int = 0, *, match: str | None = None
    ) -> list[Headline]:
        """Return the newest headlines, optionally only those matching an FTS expression."""
        if match is None:
            rows = await self._db.fetchall(
                "SELECT * FROM headlines ORDER BY published_at DESC, id DESC LIMIT ? OFFSET ?",
                (limit, offset),
            )
        else:
            rows = await self._db.fetchall(
                "SELECT * FROM headlines"
                " WHERE id IN (SELECT rowid FROM headlines_fts WHERE headlines_fts MATCH ?)"
                " ORDER BY published_at DESC, id DESC LIMIT ? OFFSET ?",
                (match, limit, offset),
            )
        return [_headline(row) for row in rows]

    async def search(self, query: str, *, limit: int = 5, offset: int = 0) -> SearchPage | None:
        """Rank headlines matching the user's query; None when the query has no word."""
        match = build_match_query(query)
        if match is None:
            return None
        total = int(
            await self._db.scalar(
                "SELECT count(*) FROM headlines_fts WHERE headlines_fts MATCH ?", (match,)
            )
        )
        if total == 0 or offset >= total:
            return SearchPage(hits=(), total=total)
        # bm25 weights the columns (title, summary, categories): a word in the title says
        # more about a headline than the same word in its summary.
        # Rank first and build snippets only for the page: snippet() is costly, and SQLite
        # would compute it for every match before sorting if it sat in the ranking query.
        page = await self._db.fetchall(
            "SELECT h.* FROM headlines_fts JOIN headlines h ON h.id = headlines_fts.rowid"
            " WHERE headlines_fts MATCH ?"
            " ORDER BY bm25(headlines_fts, 10.0, 3.0, 2.0), h.published_at DESC, h.id DESC"
            " LIMIT ? OFFSET ?",
            (match, limit, offset),
        )
        if not page:
            return SearchPage(hits=(), total=total)
        marks = (SNIPPET_OPEN, SNIPPET_CLOSE, ELLIPSIS, SNIPPET_TOKENS)
        snippets = await self._db.fetchall(
            "SELECT rowid, snippet(headlines_fts, 1, ?, ?, ?, ?),"
            " snippet(headlines_fts, 0, ?, ?, ?, ?) FROM headlines_fts"
            " WHERE headlines_fts MATCH ? AND rowid IN (SELECT value FROM json_each(?))",
            (*marks, *marks, match, json.dumps([row["id"] for row in page])),
        )
        by_id: dict[int, str] = {}
        for rowid, in_summary, in_title in snippets:
            by_id[rowid] = in_summary if SNIPPET_OPEN in in_summary else in_title
        hits = tuple(
            SearchHit(headline=_headline(row), snippet=by_id.get(row["id"], row["title"]))
            for row in page
        )
        return SearchPage(hits=hits, total=total)

    async def unrouted(self, limit: int) -> list[Headline]:
        """New headlines not yet routed to chats, oldest first."""
        rows = await self._db.fetchall(
            "SELECT * FROM headlines INDEXED BY headlines_unrouted WHERE routed = 0"
            " ORDER BY id LIMIT ?",
            (limit,),
        )
        return [_headline(row) for row in rows]

    async def mark_routed(self, conn: aiosqlite.Connection, ids: Sequence[int]) -> None:
        """Record that these headlines' pushes are in the outbox."""
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

    async def recent_titles(self, limit: int) -> list[str]:
        """Return the titles of the newest headlines."""
        rows = await self._db.fetchall(
            "SELECT title FROM headlines ORDER BY published_at DESC, id DESC LIMIT ?", (limit,)
        )
        return [row[0] for row in rows]
