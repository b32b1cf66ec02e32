"""Feed-health alerts: one message to every admin when a feed fails for long, one on recovery."""

from __future__ import annotations

import logging
import time
from collections.abc import Collection

from telegram import Bot

from bot.chats.preferences import PreferencesService
from bot.delivery.limiter import delivered
from bot.feeds.failures import describe, stored_failure
from bot.formatting import escape
from bot.text.i18n import Translator, translator
from storage.feeds import FeedRepo
from storage.models import FeedState

log = logging.getLogger(__name__)


def render_alert(feed: FeedState, *, failing: bool, t: Translator, tz: str) -> str:
    """The alert about one feed, failing or recovered, in an admin's language."""
    if not failing:
        return t._("✅ <b>Feed recovered</b>: {url}").format(url=escape(feed.url))
    since = feed.failing_since if feed.failing_since is not None else 0.0
    failure = stored_failure(feed)
    attempts = t.ngettext(
        "Since {since}, {n} failed attempt.",
        "Since {since}, {n} failed attempts.",
        feed.consecutive_failures,
    ).format(since=t.format_datetime(since, tz), n=t.format_number(feed.consecutive_failures))
    return "\n".join(
        [
            t._("⚠️ <b>Feed failing</b>: {url}").format(url=escape(feed.url)),
            escape(attempts),
            t._("Last error: {error}").format(
                error=escape(describe(failure, t) if failure else t._("unknown"))
            ),
        ]
    )


async def alert_feed_health(
    bot: Bot,
    feeds: FeedRepo,
    preferences: PreferencesService,
    *,
    admin_ids: Collection[int],
    after_seconds: float,
    now: float | None = None,
) -> int:
    """Tell admins about feeds failing longer than after_seconds, or recovered; return messages.

    Every feed in the database counts, those added with /feeds as well as FEED_URLS.
    """
    if not admin_ids:
        return 0
    now = time.time() if now is None else now
    sent = 0
    for feed in await feeds.all():
        failing = (
            feed.consecutive_failures > 0
            and feed.failing_since is not None
            and now - feed.failing_since >= after_seconds
        )
        if not (failing and not feed.alerted) and not (
            feed.alerted and feed.consecutive_failures == 0
        ):
            continue
        await feeds.set_alerted(feed.id, not feed.alerted)
        log.warning("feed %s: %s; telling admins", feed.url, "failing" if failing else "recovered")
        for admin_id in admin_ids:
            admin = await preferences.get(admin_id)
            text = render_alert(
                feed, failing=failing, t=translator(admin.language), tz=admin.timezone
            )
            # the reply path: retried by the send policy, logged there when given up
            if await delivered(bot.send_message(admin_id, text)) is not None:
                sent += 1
    return sent
