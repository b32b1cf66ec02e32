"""Feeds as topics and searches name them: handles resolved to feed ids, ids shown as handles.

A topic keeps a feed by its id (`from:#12`, bot/text/query.py's `with_feed_ids`), so renaming
a handle (/feeds handle) keeps every topic that names it, and the topic is shown with the
new handle. A reader names feeds by handle: an unknown one is refused, and so is a removed
feed's when following (its topics stay, marked, and match nothing until it is added back).
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.text.query import Refusal, SearchQuery, Topic, show_sources, with_feed_ids
from storage.models import FeedRecord

__all__ = ["SourceBook"]


class SourceBook:
    """Every feed (removed ones too) by handle and by id, read once for one command."""

    __slots__ = ("_by_handle", "_by_id")

    def __init__(self, feeds: Iterable[FeedRecord]) -> None:
        self._by_id = {feed.id: feed for feed in feeds}
        self._by_handle = {feed.handle: feed for feed in self._by_id.values() if feed.handle}

    def feed(self, feed_id: int) -> FeedRecord | None:
        """The feed with this id, removed or not."""
        return self._by_id.get(feed_id)

    def handles(self) -> list[str]:
        """The handles a reader may name: every feed that is not removed, oldest first."""
        return [f.handle for f in self._by_id.values() if f.removed_at is None and f.handle]

    def _ids(self, refs: Iterable[str], *, removed: bool) -> dict[str, int] | str:
        """Each handle (or `#12`) to its feed's id, or the first one that names no feed."""
        ids: dict[str, int] = {}
        for ref in refs:
            if ref.startswith("#") and ref[1:].isdigit():
                feed = self._by_id.get(int(ref[1:]))
            else:
                feed = self._by_handle.get(ref)
            if feed is None or (feed.removed_at is not None and not removed):
                return ref
            ids[ref] = feed.id
        return ids

    def resolve(self, topic: Topic, *, removed: bool = False) -> Topic | Refusal:
        """The topic with its feeds by id; refused when a handle names no feed (with
        `removed`, a removed feed's handle counts, as when a topic is removed)."""
        if not topic.sources:
            return topic
        ids = self._ids(topic.sources, removed=removed)
        if isinstance(ids, str):
            return Refusal(topic.display, "unknown_source", ids)
        return with_feed_ids(topic, ids)

    def resolve_search(self, query: SearchQuery) -> SearchQuery | Refusal:
        """The search with its feeds by id; refused when a handle names no feed."""
        refs = (*query.sources, *query.excluded_sources)
        if not refs:
            return query
        ids = self._ids(refs, removed=False)
        if isinstance(ids, str):
            return Refusal(query.used, "unknown_source", ids)
        return query.with_feed_ids(ids)

    def show(self, text: str) -> str:
        """A topic's text (key or display) with its feeds named by their current handles."""
        return show_sources(text, {i: f.handle for i, f in self._by_id.items() if f.handle})

    def removed_in(self, topic: Topic) -> bool:
        """Whether every feed the topic is limited to is removed (or gone): it matches
        nothing until one is added back."""
        ids = topic.feed_ids
        return bool(ids) and all(
            (feed := self._by_id.get(i)) is None or feed.removed_at is not None for i in ids
        )
