"""Small frozen records that the repositories take and return, and the states they hold.

The enums' values are what the tables store (their CHECK constraints list the same ones), so
Python and SQL parameters share one spelling and a typo is a type error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from enum import IntEnum, StrEnum


class ChatKind(StrEnum):
    """What kind of chat a chat is (Telegram's own names; a 'sender' chat counts as private)."""

    PRIVATE = "private"
    GROUP = "group"
    SUPERGROUP = "supergroup"
    CHANNEL = "channel"


class Audience(StrEnum):
    """Who a broadcast goes to."""

    ALL = "all"
    USERS = "users"
    GROUPS = "groups"
    CHANNELS = "channels"


AUDIENCE_KINDS: dict[Audience, tuple[ChatKind, ...]] = {
    Audience.ALL: tuple(ChatKind),
    Audience.USERS: (ChatKind.PRIVATE,),
    Audience.GROUPS: (ChatKind.GROUP, ChatKind.SUPERGROUP),
    Audience.CHANNELS: (ChatKind.CHANNEL,),
}


class OutboxStatus(StrEnum):
    """Where an outbox row is: pending -> sending -> sent, failed, dropped or cancelled."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"  # Telegram refused it; never retried
    DROPPED = "dropped"  # its chat blocked the bot, is gone, or moved
    CANCELLED = "cancelled"  # its broadcast was cancelled


OPEN_STATUSES = (OutboxStatus.PENDING, OutboxStatus.SENDING)  # rows still to be sent


class Priority(IntEnum):
    """Send order, most urgent first: outbox rows hold PUSH or BROADCAST."""

    REPLY = 0  # a command's answer: never queued, the limiter lets it go first
    PUSH = 1
    BROADCAST = 2


class BroadcastStatus(StrEnum):
    """A broadcast's life: draft -> queued -> done, or cancelled."""

    DRAFT = "draft"
    QUEUED = "queued"
    CANCELLED = "cancelled"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class HeadlineInput:
    """One normalised feed entry, ready to store."""

    key: str
    title: str
    link: str | None
    summary: str
    categories: tuple[str, ...]
    published_at: float
    picture: str | None = None  # an absolute http(s) URL of the item's picture


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
    picture: str | None = None  # an absolute http(s) URL of the item's picture


@dataclass(frozen=True, slots=True)
class SourcedHeadline(Headline):
    """A headline with the names of the feeds that carry its story (first one first).

    Returned only when the bot reads more than one feed; otherwise there is nothing to name.
    """

    sources: tuple[str, ...] = ()


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
    last_error: str | None  # the failure in English (logs, /healthz)
    baseline_done: bool
    alerted: bool
    # the failure as a value (bot/feeds/failures.py rebuilds it): its reason code and detail
    last_error_reason: str | None = None
    last_error_detail: str | None = None
    body_hash: str | None = None  # the hash of the last document stored (None: unknown)


@dataclass(frozen=True, slots=True)
class FeedRecord:
    """A feed as admins manage it: its polling state and how it is run."""

    state: FeedState
    name: str | None  # given with /feeds add URL name
    paused: bool
    added_at: float | None
    added_by: int | None
    interval_seconds: float | None  # its own interval when a server stretched it
    removed_at: float | None = None
    handle: str = ""  # the short name `from:HANDLE` takes (bot/text/handles.py)

    @property
    def id(self) -> int:
        """The feed's id."""
        return self.state.id

    @property
    def url(self) -> str:
        """The feed's URL (or file path)."""
        return self.state.url

    @property
    def label(self) -> str:
        """What people call it: the given name, else the feed's title, else its URL."""
        return self.name or self.state.title or self.state.url


@dataclass(frozen=True, slots=True)
class FeedHealth:
    """A feed with its recent output, for /feeds."""

    feed: FeedRecord
    last_new_at: float | None  # when its newest headline was first seen (baseline excluded)
    new_recent: int  # headlines first seen since the time asked for
    stored: int  # headlines stored for it


@dataclass(frozen=True, slots=True)
class Chat:
    """A chat the bot knows."""

    id: int
    kind: ChatKind
    title: str | None
    username: str | None
    is_forum: bool
    active: bool
    inactive_reason: str | None = None  # why it is inactive (None while active)


@dataclass(frozen=True, slots=True)
class Subscription:
    """One topic of one chat: its key (a leading '-' mutes) and what the reader typed."""

    chat_id: int
    topic: str
    thread_id: int | None
    display: str = ""  # as typed (`Bogotá`); empty for topics stored before it was kept

    @property
    def shown(self) -> str:
        """How the topic is shown: as typed when known, else its key."""
        return self.display or self.topic


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
    priority: Priority
    attempts: int
    posted: int = 0  # a push's headlines already sent, one post each (the post format)


@dataclass(frozen=True, slots=True)
class Broadcast:
    """An announcement from an admin."""

    id: int
    admin_id: int
    audience: Audience
    text: str | None
    from_chat_id: int | None
    from_message_id: int | None
    status: BroadcastStatus
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


def audience_kinds(audience: str) -> tuple[ChatKind, ...]:
    """Return the chat kinds an audience covers; ValueError for an unknown audience."""
    try:
        return AUDIENCE_KINDS[Audience(audience)]
    except ValueError:
        raise ValueError(f"unknown audience {audience!r}") from None


@dataclass(frozen=True, slots=True)
class MoreList:
    """The headlines behind a More button: what a sent message held, in headline order."""

    id: int
    chat_id: int
    items: tuple[tuple[int, tuple[str, ...]], ...]
    dropped: int  # older headlines the row no longer kept
    digest: bool


DEFAULT_TIMEZONE = "UTC"
DEFAULT_LANGUAGE = "en"


class MessageFormat(StrEnum):
    """How pushes and digests show headlines."""

    FULL = "full"  # title as a link, summary, date, matched topics
    COMPACT = "compact"  # linked titles only
    POST = "post"  # one message per headline, shaped by the chat's template, with its picture


@dataclass(frozen=True, slots=True)
class ChatPreferences:
    """One chat's settings (the defaults for a chat that never changed any)."""

    chat_id: int
    digest_times: tuple[time, ...] = ()  # local times of day, sorted; () = no digest
    timezone: str = DEFAULT_TIMEZONE
    quiet_start: time | None = None  # local; both None = no quiet hours
    quiet_end: time | None = None
    language: str = DEFAULT_LANGUAGE
    format: MessageFormat = MessageFormat.FULL
    previews: bool = True
    pictures: bool = True  # posts carry the headline's picture (the post format)
    template: str | None = None  # the chat's own post template (None: the default)
    digest_since: float | None = None  # when the digest times were set
    last_digest_at: float | None = None  # when the last digest was sent
    stored: bool = False  # whether the chat has a row (False: these are the defaults)
