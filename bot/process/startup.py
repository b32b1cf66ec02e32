"""Start-up calls to a Bot API that may not answer yet: retried with backoff until it does."""

from __future__ import annotations

import asyncio
import datetime as dtm
import logging
import warnings
from collections.abc import Awaitable, Callable
from typing import TypeVar

from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

log = logging.getLogger(__name__)

T = TypeVar("T")

FIRST_WAIT = 1.0
MAX_WAIT = 60.0


def backoff(retry: int, *, first: float = FIRST_WAIT, cap: float = MAX_WAIT) -> float:
    """Seconds before retry number `retry` (1, 2, 3 …): 1, 2, 4 … capped at `cap`."""
    return min(cap, first * (1 << min(retry - 1, 32)))


def retry_wait(exc: BaseException, retry: int) -> float | None:
    """How long to wait before retrying a start-up call that failed with `exc`; None: give up.

    Transport failures, timeouts and 5xx (all NetworkError) are the Bot API being out of
    reach, worth waiting for; a 400 (BadRequest, itself a NetworkError) or a 401 is not.
    """
    if isinstance(exc, RetryAfter):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PTBDeprecationWarning)
            value = exc.retry_after
        seconds = value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)
        return max(seconds, backoff(retry))
    if isinstance(exc, NetworkError) and not isinstance(exc, BadRequest):
        return backoff(retry)
    return None


async def until_up(
    call: Callable[[], Awaitable[T]],
    what: str,
    *,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> T:
    """Run `call` until the Bot API answers it; one WARNING line per failed attempt.

    Any other error is raised at once. The traceback of a failure is logged at DEBUG only:
    an unreachable API is a state to wait out, not a bug.
    """
    retry = 0
    while True:
        try:
            return await call()
        except TelegramError as exc:
            wait = retry_wait(exc, retry + 1)
            if wait is None:
                raise
            retry += 1
            log.warning(
                "Bot API unreachable at start-up (%s: %s); retry %d in %g s",
                what,
                exc.message or type(exc).__name__,
                retry,
                wait,
            )
            log.debug("%s failed", what, exc_info=exc)
            await sleep(wait)
