"""Small frozen records that the repositories take and return."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HeadlineInput:
    """One normalised feed entry, ready to store."""

    key: str
    title: str
    link: str | None
    summary: str
    categories: tuple[str, ...]
    published_at: float


@dataclass(frozen=True, slots=True)
class Headline:
    """A stored headline."""

    id: int
    feed_id: int
    title: str
    link: str | None
    summary: str
    categories: tuple[str, ...]
    published_at: float
    first_seen_at: float
    baseline: bool


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """What storing one feed's entries changed."""

    new: tuple[Headline, ...]
    updated: int
    unchanged: int


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A search result; the snippet marks matches between SNIPPET_OPEN and SNIPPET_CLOSE."""

    headline: Headline
    snippet: str


SNIPPET_OPEN = "\x02"
SNIPPET_CLOSE = "\x03"


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of search results and the total number of matches."""

    hits: tuple[SearchHit, ...]
    total: int


@dataclass(frozen=True, slots=True)
class FeedState:
    """A feed's polling state."""

    id: int
    url: str
    title: str | None
    etag: str | None
    last_modified: str | None
    last_attempt_at: float | None
    last_success_at: float | None
    consecutive_failures: int
    failing_since: float | None
    next_attempt_at: float
    last_error: str | None
    baseline_done: bool
    alerted: bool


@dataclass(frozen=True, slots=True)
class Chat:
    """A chat the bot knows."""

    id: int
    kind: str  # private | group | supergroup | channel
    title: str | None
    username: str | None
    is_forum: bool
    active: bool


@dataclass(frozen=True, slots=True)
class Subscription:
    """One topic of one chat (a leading '-' mutes)."""

    chat_id: int
    topic: str
    thread_id: int | None


@dataclass(frozen=True, slots=True)
class ChatPush:
    """The headlines one routing pass sends to a chat's thread (added to the row it owes)."""

    chat_id: int
    thread_id: int | None
    items: tuple[tuple[int, tuple[str, ...]], ...]  # (headline id, matched topics), id order


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A pending send: a push row (one or more headlines) or a broadcast row."""

    id: int
    chat_id: int
    headline_id: int | None
    broadcast_id: int | None
    batch: int
    thread_id: int | None
    items: tuple[tuple[int, tuple[str, ...]], ...]  # a push's headlines and matched topics
    more: int  # a push's further headlines, counted only
    priority: int
    attempts: int


@dataclass(frozen=True, slots=True)
class Broadcast:
    """An announcement from an admin."""

    id: int
    admin_id: int
    audience: str
    text: str | None
    from_chat_id: int | None
    from_message_id: int | None
    status: str  # draft | queued | cancelled | done
    report_chat_id: int | None
    report_message_id: int | None
    total: int
    created_at: float
    confirmed_at: float | None
    finished_at: float | None


@dataclass(frozen=True, slots=True)
class BroadcastProgress:
    """Counts of a broadcast's outbox rows by outcome."""

    sent: int
    blocked: int
    failed: int
    remaining: int
    cancelled: int
