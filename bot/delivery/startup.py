"""Start-up calls to a Bot API that may not answer yet: retried with backoff until it does."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from telegram.error import TelegramError

from bot.delivery.policy import Action, Cause, decide

log = logging.getLogger(__name__)

T = TypeVar("T")

FIRST_WAIT = 1.0
MAX_WAIT = 60.0


def backoff(retry: int, *, first: float = FIRST_WAIT, cap: float = MAX_WAIT) -> float:
    """Seconds before retry number `retry` (1, 2, 3 …): 1, 2, 4 … capped at `cap`."""
    return min(cap, first * (1 << min(retry - 1, 32)))


def retry_wait(exc: BaseException, retry: int) -> float | None:
    """How long to wait before retrying a start-up call that failed with `exc`; None: give up.

    The send policy judges it: what it would send again (transport failures, timeouts, 5xx,
    a non-JSON page from a proxy, 429) is the Bot API being out of reach, worth waiting for;
    a refusal (400, 401, 403, 409) is not.
    """
    decision = decide(exc)
    if decision.action is not Action.SEND_AGAIN or decision.cause is Cause.BUG:
        return None  # a refusal, or a bug of ours: raised at once
    return max(decision.after or 0.0, backoff(retry))


async def until_up(
    call: Callable[[], Awaitable[T]],
    what: str,
    *,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> T:
    """Run `call` until the Bot API answers it; one WARNING line per failed attempt.

    Any other error is raised at once. No traceback, at any level: an unreachable API is a
    state to wait out, not a bug, and the line says what failed.
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
            await sleep(wait)
