"""Storing a feed's read: the one step the poller, /feeds add, OPML import and `poll` share.

A read is stored in the language the feed declares (its <language> or xml:lang), else the
bot's default language: new headlines are indexed in it (by the table's triggers) and
routed in it, so /search and topics read them alike. A first read is the baseline: stored,
never pushed.
"""

from __future__ import annotations

from bot.feeds.fetching import FetchResult
from bot.feeds.parsing import ParsedFeed
from bot.text.language import language_of
from storage.feeds import FeedRepo
from storage.headlines import HeadlineRepo
from storage.models import UpsertResult
from storage.store import Transaction

__all__ = ["store_read"]


async def store_read(
    tx: Transaction,
    feeds: FeedRepo,
    headlines: HeadlineRepo,
    feed_id: int,
    fetched: FetchResult,
    parsed: ParsedFeed,
    *,
    baseline: bool,
    default_language: str,
    now: float,
    body_hash: str | None = None,
) -> UpsertResult:
    """Store one read of a feed inside the caller's transaction: its language, its entries
    (as the baseline when `baseline`), and the read itself (validators, title, success, and
    the document's hash when given)."""
    await headlines.set_language(tx, feed_id, language_of(parsed.language, default_language))
    stored = await headlines.upsert(tx, feed_id, parsed.entries, baseline=baseline, now=now)
    await feeds.record_success(
        tx,
        feed_id,
        now=now,
        etag=fetched.etag,
        last_modified=fetched.last_modified,
        title=parsed.title,
        body_hash=body_hash,
    )
    return stored
