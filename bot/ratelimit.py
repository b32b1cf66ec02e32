"""Sliding-window rate limiting in front of every Bot API request.

python-telegram-bot's AIORateLimiter uses leaky buckets that let a full bucket go at once, so
a strict server counting any one-second window sees up to twice the limit. This limiter counts
real sliding windows (the last N grant times), never bursts, and serves waiters by priority:
command replies (0) before pushes (1) before broadcasts (2).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)

JSONDict = dict[str, Any]

PRIORITY_REPLY = 0
PRIORITY_PUSH = 1
PRIORITY_BROADCAST = 2

# Methods that put or change a message in a chat; everything else (getUpdates, getMe,
# answerCallbackQuery, getChatMember ...) is not subject to Telegram's message limits.
_MESSAGE_PREFIXES = ("send", "copyMessage", "forwardMessage", "editMessage")


def is_message_method(endpoint: str) -> bool:
    """Whether Telegram counts this method against its message limits."""
    return endpoint.startswith(_MESSAGE_PREFIXES)


KEEP_CHAT_WINDOWS = 1000  # chat windows held before the idle ones are dropped


class Window:
    """At most `limit` events in any `period` seconds."""

    __slots__ = ("limit", "period", "times")

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self.times: deque[float] = deque()

    def wait(self, now: float) -> float:
        """Seconds until one more event fits (0 when it fits now)."""
        times = self.times
        while times and times[0] <= now - self.period:
            times.popleft()
        if len(times) < self.limit:
            return 0.0
        return times[len(times) - self.limit] + self.period - now

    def record(self, now: float) -> None:
        """Count one event at `now`."""
        self.times.append(now)


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits this bot keeps, a little inside Telegram's published ones."""

    overall: int = 29  # Telegram: about 30 messages per second
    overall_period: float = 1.0
    private: int = 1  # Telegram: about one message per second per private chat
    private_period: float = 1.1
    group: int = 20  # Telegram: 20 messages per minute per group or channel
    group_period: float = 61.0
    paid: int = 950  # Telegram: up to 1000 per second for paid broadcasts
    paid_period: float = 1.0

    @classmethod
    def unlimited(cls) -> Limits:
        """No limits at all (benchmarks of the bot's own ceiling)."""
        big = 10**9
        return cls(overall=big, private=big, group=big, paid=big)


@dataclass(order=True)
class _Waiter:
    priority: int
    seq: int
    key: int | str = field(compare=False)
    paid: bool = field(compare=False)
    future: asyncio.Future[None] = field(compare=False)


class SlidingWindowLimiter(BaseRateLimiter[int]):
    """Grants Bot API message requests so that no sliding window is ever exceeded.

    `rate_limit_args` is the request's priority (see PRIORITY_*); replies from handlers pass
    none and so come first.
    """

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._overall = Window(self.limits.overall, self.limits.overall_period)
        self._paid = Window(self.limits.paid, self.limits.paid_period)
        self._chats: dict[int | str, Window] = {}
        self._waiters: list[_Waiter] = []
        self._seq = 0
        self._wake = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None
        self.granted = 0

    async def initialize(self) -> None:
        """Start with the overall windows full.

        A process restarted right after a crash cannot know what its predecessor sent in
        the last second; waiting one window before the first message keeps the two together
        under Telegram's overall limit.
        """
        now = time.monotonic()
        for window in (self._overall, self._paid):
            window.times.clear()
            window.times.extend([now] * min(window.limit, 10_000))

    async def shutdown(self) -> None:
        """Stop granting; waiters still queued are cancelled."""
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None
        for waiter in self._waiters:
            waiter.future.cancel()
        self._waiters.clear()

    def _chat_window(self, key: int | str) -> Window:
        window = self._chats.get(key)
        if window is None:
            # A window costs about 800 bytes (its deque); forgetting the idle ones every
            # thousand new chats keeps a broadcast to 100,000 chats from holding 80 MB.
            if len(self._chats) >= KEEP_CHAT_WINDOWS:
                self._forget_idle_chats()
            private = isinstance(key, int) and key > 0
            window = (
                Window(self.limits.private, self.limits.private_period)
                if private
                else Window(self.limits.group, self.limits.group_period)
            )
            self._chats[key] = window
        return window

    def _forget_idle_chats(self) -> None:
        now = time.monotonic()
        for key in [k for k, w in self._chats.items() if w.wait(now) == 0 and not w.times]:
            del self._chats[key]

    def chat_wait(self, chat_id: int | str) -> float:
        """Seconds until a message to this chat would fit its own window."""
        window = self._chats.get(chat_id)
        return 0.0 if window is None else window.wait(time.monotonic())

    async def acquire(self, chat_id: int | str, *, priority: int = 0, paid: bool = False) -> None:
        """Wait until a message to `chat_id` fits every window, then count it."""
        if not self._waiters:  # nobody queued ahead: no need to go through the pump
            now = time.monotonic()
            overall = self._paid if paid else self._overall
            chat = self._chat_window(chat_id)
            if overall.wait(now) <= 0 and chat.wait(now) <= 0:
                overall.record(now)
                chat.record(now)
                self.granted += 1
                return
        self._seq += 1
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(_Waiter(priority, self._seq, chat_id, paid, future))
        self._waiters.sort()
        self._wake.set()
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._run_pump(), name="rate-limiter")
        await future

    async def _run_pump(self) -> None:
        while self._waiters:
            now = time.monotonic()
            next_wake = 3600.0
            for waiter in list(self._waiters):
                if waiter.future.done():
                    self._waiters.remove(waiter)
                    continue
                overall = self._paid if waiter.paid else self._overall
                chat = self._chat_window(waiter.key)
                delay = max(overall.wait(now), chat.wait(now))
                if delay <= 0:
                    overall.record(now)
                    chat.record(now)
                    self.granted += 1
                    self._waiters.remove(waiter)
                    waiter.future.set_result(None)
                else:
                    next_wake = min(next_wake, delay)
            if not self._waiters:
                break
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=next_wake)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | JSONDict | list[JSONDict]:
        """Wait for the windows of a message request; pass other requests straight on."""
        chat_id = data.get("chat_id")
        if chat_id is not None and is_message_method(endpoint):
            key: int | str
            try:
                key = int(chat_id)
            except (TypeError, ValueError):
                key = str(chat_id)
            await self.acquire(
                key,
                priority=rate_limit_args or PRIORITY_REPLY,
                paid=bool(data.get("allow_paid_broadcast")),
            )
        return await callback(*args, **kwargs)
