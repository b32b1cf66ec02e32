"""Feed-health alerts: one message to every admin when a feed fails for long, one on recovery."""

from __future__ import annotations

import logging
import time

from telegram import Bot
from telegram.error import TelegramError

from bot.context import Services
from bot.formatting import escape, format_datetime

log = logging.getLogger(__name__)


async def alert_feed_health(bot: Bot, services: Services, *, now: float | None = None) -> int:
    """Tell admins about feeds failing longer than the threshold, or recovered; return messages."""
    settings = services.settings
    if not settings.admin_ids:
        return 0
    now = time.time() if now is None else now
    sent = 0
    for feed in await services.feeds.all():
        if feed.url not in settings.feed_urls:
            continue
        failing = (
            feed.consecutive_failures > 0
            and feed.failing_since is not None
            and now - feed.failing_since >= settings.feed_alert_after_seconds
        )
        if failing and not feed.alerted:
            assert feed.failing_since is not None
            text = (
                f"⚠️ <b>Feed failing</b>: {escape(feed.url)}\n"
                f"Since {format_datetime(feed.failing_since)}, "
                f"{feed.consecutive_failures} failed attempt(s).\n"
                f"Last error: {escape(feed.last_error or 'unknown')}"
            )
        elif feed.alerted and feed.consecutive_failures == 0:
            text = f"✅ <b>Feed recovered</b>: {escape(feed.url)}"
        else:
            continue
        await services.feeds.set_alerted(feed.id, not feed.alerted)
        log.warning("feed %s: %s; telling admins", feed.url, "failing" if failing else "recovered")
        for admin_id in settings.admin_ids:
            try:
                await bot.send_message(admin_id, text)
                sent += 1
            except TelegramError as exc:
                log.warning("admin %s: feed alert not delivered: %s", admin_id, exc)
    return sent
