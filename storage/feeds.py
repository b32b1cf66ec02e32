"""Feeds and their polling state: the repository interface (storage/sqlite/feeds.py is SQLite's)."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Protocol

from storage.models import FeedHealth, FeedRecord, FeedState
from storage.store import Transaction


class FeedRepo(Protocol):
    """Reads and updates the feeds: the list the poller reads and admins manage."""

    async def ensure(self, url: str) -> FeedState:
        """Return the feed for url, inserting it first when it is new."""
        ...

    async def get(self, url: str) -> FeedState | None:
        """Return the feed for url, or None."""
        ...

    async def all(self) -> builtins.list[FeedState]:
        """Return every feed (removed ones left out), oldest first."""
        ...

    async def ensure_configured(self, urls: Sequence[str], *, now: float) -> None:
        """Add the configured feeds (FEED_URLS) that are missing, and bring back removed ones."""
        ...

    async def active(self) -> builtins.list[FeedRecord]:
        """The feeds to poll: neither paused nor removed, oldest first."""
        ...

    async def records(self, *, removed: bool = False) -> builtins.list[FeedRecord]:
        """Every feed that is not removed (with `removed`, those too), as admins manage it,
        oldest first."""
        ...

    async def set_handle(self, feed_id: int, handle: str) -> bool:
        """Give a feed this handle, for good (a later title does not replace it); False when
        another feed has it or there is no such feed.

        Every feed has a handle (bot/text/handles.py): the repository gives one, unique among
        all feeds, removed ones too, to each feed it inserts, from its name, else its host;
        a feed's first read with a title replaces a handle from its host with the title's.
        """
        ...

    async def record(self, url: str) -> FeedRecord | None:
        """The feed for url, removed or not, or None."""
        ...

    async def health(self, *, since: float) -> builtins.list[FeedHealth]:
        """Every feed that is not removed, with its newest headline and output since `since`."""
        ...

    async def add(
        self,
        tx: Transaction,
        url: str,
        *,
        name: str | None,
        added_by: int | None,
        now: float,
    ) -> FeedState:
        """Insert the feed, or bring a removed one back; its next read is a new baseline."""
        ...

    async def remove(self, feed_id: int, *, now: float) -> bool:
        """Stop polling a feed for good; its headlines stay. False when already removed."""
        ...

    async def set_paused(self, feed_id: int, paused: bool) -> bool:
        """Pause or resume a feed; False when it already was (or is removed)."""
        ...

    async def set_schedule(
        self, feed_id: int, *, interval_seconds: float | None, next_attempt_at: float
    ) -> None:
        """Record a feed's own (stretched) interval and when it is next due."""
        ...

    async def record_success(
        self,
        tx: Transaction,
        feed_id: int,
        *,
        now: float,
        etag: str | None,
        last_modified: str | None,
        title: str | None,
        baseline_done: bool = True,
        body_hash: str | None = None,
    ) -> None:
        """Record a fetched and stored feed; clears the failure state (not `alerted`).
        `body_hash`: the stored document's hash (None: not known)."""
        ...

    async def record_not_modified(self, feed_id: int, *, now: float) -> None:
        """Record a 304 answer: a success that keeps the validators and title."""
        ...

    async def record_not_modified_many(
        self, rows: Sequence[tuple[int, float, float | None, float]]
    ) -> None:
        """Record many 304 answers at once: (feed id, when, its own interval or None, when
        it is next due: 0 for the next round)."""
        ...

    async def record_failure(
        self,
        feed_id: int,
        *,
        now: float,
        error: str,
        next_attempt_at: float,
        reason: str | None = None,
        detail: str = "",
    ) -> None:
        """Record a failed fetch and when to try again: its English text, and the reason code
        and detail that rebuild it as a value (None: a text with no reason)."""
        ...

    async def set_alerted(self, feed_id: int, alerted: bool) -> None:
        """Remember whether admins were told about this feed's current failure."""
        ...
