"""Headlines and their search: the repository interface.

It takes parsed values (bot.text.query's Topic and SearchQuery) and compiles them to its own
query dialect, so no query syntax crosses this interface. Their feeds (`from:`) come resolved
to ids (Topic.feed_ids, SearchQuery.feed_ids): a handle left unresolved names no feed.
A story several feeds carry is its first headline (the one listed) and its copies; a topic
limited to feeds matches a story when one of its copies is in those feeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.text.query import SearchQuery, Topic
from storage.models import Headline, HeadlineInput, SearchPage, UpsertResult
from storage.store import Transaction


class HeadlineRepo(Protocol):
    """Reads and writes the stored headlines and finds them by topic or search."""

    async def upsert(
        self,
        tx: Transaction,
        feed_id: int,
        entries: Sequence[HeadlineInput],
        *,
        baseline: bool,
        now: float,
    ) -> UpsertResult:
        """Insert new entries, update changed ones in place (a known story under a new guid
        included); return what was new."""
        ...

    async def set_language(self, tx: Transaction, feed_id: int, language: str) -> None:
        """Record the language a feed's new headlines are indexed and routed in."""
        ...

    async def get_many(self, ids: Sequence[int]) -> dict[int, Headline]:
        """The headlines with these ids (missing ids left out), naming their story's feeds."""
        ...

    async def latest(
        self, limit: int, offset: int = 0, *, topic: Topic | None = None
    ) -> list[Headline]:
        """The newest headlines (those a topic matches, when given; `*` is every one), each
        story once."""
        ...

    async def search(self, query: SearchQuery, *, limit: int = 5, offset: int = 0) -> SearchPage:
        """A page of the headlines a search finds, best first, with marked snippets."""
        ...

    async def preview(
        self, topic: Topic, *, since: float, limit: int = 3
    ) -> tuple[int, list[Headline]]:
        """How many headlines first seen since `since` a topic matches, and the newest."""
        ...

    async def recent_texts(
        self, *, since: float, limit: int = 300, topics: Sequence[Topic] = ()
    ) -> list[str]:
        """Titles and summaries first seen since `since` (matching any of these topics, when
        given): what topic suggestions are drawn from."""
        ...

    async def languages(self) -> list[str]:
        """The languages headlines are indexed in."""
        ...

    async def languages_of(self, ids: Sequence[int]) -> dict[int, str]:
        """The language each of these headlines was indexed in."""
        ...

    async def earlier_feeds(self, ids: Sequence[int]) -> dict[int, tuple[int, ...]]:
        """For each of these headlines that repeats a story another feed brought first (a
        copy), the feeds of the story's headlines stored before it, in order; a story's
        first headline is left out. Routing pushes a copy only where its feed adds a chat."""
        ...

    async def unrouted(self, limit: int) -> list[Headline]:
        """New headlines not yet routed to chats, oldest first."""
        ...

    async def mark_routed(self, tx: Transaction, ids: Sequence[int]) -> None:
        """Record that these headlines' pushes are in the outbox."""
        ...

    async def count(self) -> int:
        """How many headlines are stored."""
        ...

    async def count_since(self, ts: float) -> int:
        """How many headlines were first seen at or after ts."""
        ...
