"""How often a feed is fetched: the hints its server gives, as plain decisions. Pure.

A feed's own interval is never below POLL_INTERVAL_SECONDS. ``Retry-After`` (on any answer),
``Cache-Control: max-age`` and RSS ``<ttl>`` stretch it; an HTTP 429 doubles it. Without a
hint, a stretched interval halves at each read until it is back to the default. Every
stretch is capped at a day, so a hostile or broken header cannot silence a feed for good.
"""

from __future__ import annotations

import email.utils
import math
import re

__all__ = [
    "MAX_STRETCH_SECONDS",
    "failure_delay",
    "interval_after_429",
    "interval_after_read",
    "parse_max_age",
    "parse_retry_after",
]

MAX_STRETCH_SECONDS = 86400.0
_MAX_AGE = re.compile(r"(?:^|[,\s])(s-maxage|max-age)\s*=\s*\"?(\d{1,10})\"?", re.IGNORECASE)


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(int(text[:10]))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def parse_max_age(cache_control: str | None) -> float | None:
    """Seconds a response may be cached for, from Cache-Control (s-maxage wins over max-age).

    ``no-cache`` and ``no-store`` say nothing about how often to ask again: None.
    """
    if not cache_control:
        return None
    found = {name.lower(): int(seconds) for name, seconds in _MAX_AGE.findall(cache_control)}
    seconds = found.get("s-maxage", found.get("max-age"))
    return float(seconds) if seconds is not None else None


def _clamp(seconds: float, base: float) -> float:
    if not math.isfinite(seconds):
        return MAX_STRETCH_SECONDS
    return max(base, min(MAX_STRETCH_SECONDS, seconds))


def interval_after_read(
    base: float,
    previous: float | None,
    *,
    retry_after: float | None = None,
    max_age: float | None = None,
    ttl: float | None = None,
) -> float | None:
    """The feed's own interval after a successful read; None means the default (`base`)."""
    hints = [h for h in (retry_after, max_age, ttl) if h is not None]
    decayed = previous / 2 if previous is not None else base
    own = _clamp(max([base, decayed, *hints]), base)
    return own if own > base else None


def interval_after_429(base: float, previous: float | None, *, retry_after: float | None) -> float:
    """The feed's own interval after an HTTP 429: doubled, or as long as Retry-After asks."""
    doubled = 2 * max(base, previous or base)
    return _clamp(max(doubled, retry_after or 0.0), base)


def failure_delay(backoff: float, *, retry_after: float | None) -> float:
    """When to try a failed feed again: its backoff, or later when the server asked so."""
    if retry_after is None:
        return backoff
    return max(backoff, min(MAX_STRETCH_SECONDS, retry_after))
