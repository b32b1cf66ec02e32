"""Sliding-window rate limiting in front of every Bot API request, and replies that get through.

python-telegram-bot's AIORateLimiter uses leaky buckets that let a full bucket go at once, so
a strict server counting any one-second window sees up to twice the limit. This limiter
counts real sliding windows and serves waiters by priority: command replies before pushes
before broadcasts.

Telegram counts a message when it arrives, which is some time after we grant it and before
its answer comes back. So a message occupies its windows from its grant until one period
after its answer (for as long as it is in flight, it counts). Two messages counted apart
then can never arrive within one period: if m is granted at g and an earlier message x
arrived at a > g - period, x's answer came back at r >= a > g - period, so x was still
counted when m was granted. No window of the server's ever holds more than `limit`. The
cost is the round trip: the rate is limit / (period + latency), 29.9/s at 3 ms.

Replies from handlers (requests without an outbox priority) are sent again here when they
meet a 429 or a transient failure, for about a minute; the outbox's own requests are tried
once, and bot/delivery/worker.py defers them in the database instead. What a failure means
is bot/delivery/policy.py's decide(), here as everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from telegram.error import TelegramError
from telegram.ext import BaseRateLimiter

from bot.delivery.policy import Action, Cause, Decision, decide
from bot.telemetry.metrics import Metrics
from storage.models import Priority

log = logging.getLogger(__name__)

JSONDict = dict[str, Any]
ChatKey = int | str
Clock = Callable[[], float]
Result = TypeVar("Result")


# Who goes first when the overall window is full (lower first): the outbox's own enum,
# with REPLY for handlers' requests, which carry no priority.
PRIORITY_REPLY = Priority.REPLY
PRIORITY_PUSH = Priority.PUSH
PRIORITY_BROADCAST = Priority.BROADCAST

# Methods that put or change a message in a chat; everything else (getUpdates, getMe,
# answerCallbackQuery, getChatMember ...) is not subject to Telegram's message limits.
_MESSAGE_PREFIXES = ("send", "copyMessage", "forwardMessage", "editMessage", "stopPoll")
# Answers a user waits for without a message of their own: retried like replies.
_ANSWER_METHODS = frozenset({"answerCallbackQuery", "answerInlineQuery"})

# Methods that put a new message in a chat: what the metrics count as messages sent.
_SEND_PREFIXES = ("send", "copyMessage", "forwardMessage")
KEEP_CHAT_WINDOWS = 1000  # chat windows held before the idle ones are dropped
REPLY_DEADLINE = 60.0  # seconds after its first try that a reply is given up


def is_message_method(endpoint: str) -> bool:
    """Whether Telegram counts this method against its message limits."""
    return endpoint.startswith(_MESSAGE_PREFIXES)


def is_send_method(endpoint: str) -> bool:
    """Whether this method puts a new message in a chat (what the metrics count as sent)."""
    return endpoint.startswith(_SEND_PREFIXES) and endpoint != "sendChatAction"


def is_reply_method(endpoint: str) -> bool:
    """Whether a user sees the result of this method: a reply, an edit or an answer."""
    return endpoint in _ANSWER_METHODS or endpoint.startswith(_MESSAGE_PREFIXES)


class Window:
    """At most `limit` messages arriving in any `period` seconds.

    A message counts from `grant()` until `period` after `finish()` (its answer came back).
    Pure bookkeeping: the caller passes the time.
    """

    __slots__ = ("ends", "limit", "open", "period")

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self.ends: deque[float] = deque()  # answer times of finished messages, in order
        self.open = 0  # granted, answer not back yet

    def wait(self, now: float) -> float:
        """Seconds until one more message fits (0 when it fits now).

        When every counted message is still in flight the wait is unknown; `period` is a
        lower bound (the next answer ends it at the earliest), and finish() wakes waiters.
        """
        ends = self.ends
        cutoff = now - self.period
        while ends and ends[0] <= cutoff:
            ends.popleft()
        excess = self.open + len(ends) - self.limit
        if excess < 0:
            return 0.0
        if excess >= len(ends):
            return self.period
        return ends[excess] + self.period - now

    def grant(self) -> None:
        """Count one more message from now on."""
        self.open += 1

    def finish(self, now: float) -> None:
        """A granted message's answer came back at `now`: it counts for one more period."""
        self.open -= 1
        self.ends.append(now)

    def idle(self, now: float) -> bool:
        """Nothing counts any more: the window can be forgotten."""
        return self.open == 0 and self.wait(now) == 0 and not self.ends


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits this bot keeps (counted as above, so the published figures are safe)."""

    overall: int = 30  # Telegram: about 30 messages per second
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


@dataclass(frozen=True, slots=True)
class Grant:
    """A message's place in its windows; give it back with SlidingWindowLimiter.release."""

    overall: Window
    chat: Window


@dataclass(order=True)
class _Waiter:
    priority: int
    seq: int
    key: ChatKey = field(compare=False)
    paid: bool = field(compare=False)
    hold_limit: float = field(compare=False)
    future: asyncio.Future[Grant] = field(compare=False)


def chat_key(chat_id: object) -> ChatKey:
    """The chat id as the limiter keys it: an int, or the @username of a channel."""
    if isinstance(chat_id, int):
        return chat_id
    try:
        return int(str(chat_id))
    except ValueError:
        return str(chat_id)


class SlidingWindowLimiter(BaseRateLimiter[int]):
    """Grants Bot API message requests so that no sliding window is ever exceeded.

    `rate_limit_args` is the outbox's priority (see Priority); handlers' replies pass none,
    so they come first, and they are sent again here after a 429 or a transient failure.
    """

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        clock: Clock = time.monotonic,
        reply_deadline: float = REPLY_DEADLINE,
    ) -> None:
        self.limits = limits or Limits()
        self._clock = clock
        self.reply_deadline = reply_deadline
        self._overall = Window(self.limits.overall, self.limits.overall_period)
        self._paid = Window(self.limits.paid, self.limits.paid_period)
        self._chats: dict[ChatKey, Window] = {}
        self._holds: dict[ChatKey, float] = {}  # chat -> end of its flood wait (our clock)
        self._sweep_at = KEEP_CHAT_WINDOWS  # chat windows held when idle ones are next dropped
        self._full_at = -math.inf  # when initialize() filled the overall windows
        self._waiters: list[_Waiter] = []
        self._seq = 0
        self._wake = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None
        self.granted = 0
        # When set: the replies that got through, and every failed call by its class.
        self.metrics: Metrics | None = None

    async def initialize(self) -> None:
        """Start with the overall windows full.

        A process restarted right after a crash cannot know what its predecessor sent in
        the last second; waiting one window before the first message keeps the two together
        under Telegram's overall limit.
        """
        now = self._clock()
        self._full_at = now
        for window in (self._overall, self._paid):
            window.ends.clear()
            window.ends.extend([now] * min(window.limit, 10_000))

    def quiet_for(self, seconds: float) -> None:
        """No other process of this bot has sent for `seconds`: the run before this one
        stopped cleanly that long ago (storage.runs). The overall windows, started full by
        initialize(), are full as of then instead: a clean restart keeps no wait for sends
        that ended before it. Only the start's filling moves, never a message sent since."""
        since = self._clock() - seconds
        for window in (self._overall, self._paid):
            ends = window.ends
            window.ends = deque(min(end, since) if end <= self._full_at else end for end in ends)

    def quiet_seconds(self) -> float:
        """Seconds since the newest message counted in the overall windows was answered: 0
        while one is in flight, one window (or more) once none counts any more. What a run
        records at its clean stop for the next run's windows (see quiet_for)."""
        windows = (self._overall, self._paid)
        if any(window.open for window in windows):
            return 0.0
        longest = max(window.period for window in windows)
        newest = max((window.ends[-1] for window in windows if window.ends), default=None)
        if newest is None:
            return longest
        return max(0.0, min(self._clock() - newest, longest))

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

    # ------------------------------------------------------------------ windows and holds

    def _chat_window(self, key: ChatKey) -> Window:
        window = self._chats.get(key)
        if window is None:
            # A window costs about 800 bytes (its deque); forgetting the idle ones every
            # thousand new chats keeps a broadcast to 100,000 chats from holding 80 MB.
            # When most are still busy (1,000 chats within a period), the next sweep waits
            # for twice as many: a sweep per new chat would cost more than the sends.
            if len(self._chats) >= self._sweep_at:
                self._forget_idle_chats()
                self._sweep_at = max(KEEP_CHAT_WINDOWS, 2 * len(self._chats))
            private = isinstance(key, int) and key > 0
            window = (
                Window(self.limits.private, self.limits.private_period)
                if private
                else Window(self.limits.group, self.limits.group_period)
            )
            self._chats[key] = window
        return window

    def _forget_idle_chats(self) -> None:
        now = self._clock()
        for key in [k for k, w in self._chats.items() if w.idle(now)]:
            del self._chats[key]
        for key in [k for k, until in self._holds.items() if until <= now]:
            del self._holds[key]

    def hold(self, chat_id: ChatKey, seconds: float) -> None:
        """Telegram asked for a flood wait: nothing more goes to this chat for `seconds`."""
        until = self._clock() + seconds
        if until > self._holds.get(chat_id, 0.0):
            self._holds[chat_id] = until
        self._wake.set()

    def held_for(self, chat_id: ChatKey) -> float:
        """Seconds left of this chat's flood wait (0 when none)."""
        until = self._holds.get(chat_id)
        return 0.0 if until is None else max(0.0, until - self._clock())

    def chat_wait(self, chat_id: ChatKey) -> float:
        """Seconds until a message to this chat would fit its own window and flood wait."""
        window = self._chats.get(chat_id)
        wait = 0.0 if window is None else window.wait(self._clock())
        return max(wait, self.held_for(chat_id)) if self._holds else wait

    def _delay(self, overall: Window, key: ChatKey, hold_limit: float, now: float) -> float:
        """Seconds until a message to `key` fits every window (0: now)."""
        delay = overall.wait(now)
        if delay > 0:
            return delay
        delay = self._chat_window(key).wait(now)
        if self._holds:
            until = self._holds.get(key)
            if until is not None:
                held = until - now
                if held <= 0:
                    del self._holds[key]
                elif held <= hold_limit:
                    delay = max(delay, held)
        return delay

    def _grant(self, overall: Window, key: ChatKey) -> Grant:
        grant = Grant(overall, self._chat_window(key))
        overall.grant()
        grant.chat.grant()
        self.granted += 1
        return grant

    # ------------------------------------------------------------------ granting

    async def acquire(
        self,
        chat_id: ChatKey,
        *,
        priority: int = Priority.REPLY,
        paid: bool = False,
        hold_limit: float = math.inf,
    ) -> Grant:
        """Wait until a message to `chat_id` fits every window, then count it.

        The caller must `release()` the grant when the answer is back (or the request
        failed). A flood wait longer than `hold_limit` seconds is not waited for.
        """
        overall = self._paid if paid else self._overall
        # nobody queued ahead: no need to go through the pump
        if not self._waiters and self._delay(overall, chat_id, hold_limit, self._clock()) <= 0:
            return self._grant(overall, chat_id)
        self._seq += 1
        future: asyncio.Future[Grant] = asyncio.get_running_loop().create_future()
        self._waiters.append(_Waiter(priority, self._seq, chat_id, paid, hold_limit, future))
        self._waiters.sort()
        self._wake.set()
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._run_pump(), name="rate-limiter")
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():  # granted as we were cancelled
                self.release(future.result())
            raise

    def release(self, grant: Grant) -> None:
        """The granted message's answer is back (or it failed): its windows start to drain."""
        now = self._clock()
        grant.overall.finish(now)
        grant.chat.finish(now)
        if self._waiters:
            self._wake.set()

    async def _run_pump(self) -> None:
        while self._waiters:
            self._wake.clear()
            now = self._clock()
            next_wake = 3600.0
            for waiter in list(self._waiters):
                if waiter.future.done():
                    self._waiters.remove(waiter)
                    continue
                overall = self._paid if waiter.paid else self._overall
                delay = self._delay(overall, waiter.key, waiter.hold_limit, now)
                if delay <= 0:
                    self._waiters.remove(waiter)
                    waiter.future.set_result(self._grant(overall, waiter.key))
                else:
                    next_wake = min(next_wake, delay)
            if not self._waiters:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=next_wake)

    # ------------------------------------------------------------------ python-telegram-bot's hook

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | JSONDict | list[JSONDict]:
        """Pace message requests; send handlers' replies again until they get through."""
        raw_chat = data.get("chat_id")
        key = None if raw_chat is None else chat_key(raw_chat)
        limited = key is not None and is_message_method(endpoint)
        paid = data.get("allow_paid_broadcast") is True
        call = partial(callback, *args, **kwargs)
        if rate_limit_args is not None:  # the outbox's: one try, its policy is Delivery's
            return await self.send(
                call, key=key, limited=limited, priority=rate_limit_args, paid=paid
            )
        if not is_reply_method(endpoint):  # getMe, getChat ...: straight through
            return await self.send(call, key=key, limited=limited, paid=paid)
        result = await self._send_reply(call, endpoint, key=key, limited=limited, paid=paid)
        if self.metrics is not None and is_send_method(endpoint):
            self.metrics.sent("reply")
        return result

    async def send(
        self,
        call: Callable[[], Awaitable[Result]],
        *,
        key: ChatKey | None,
        limited: bool = True,
        priority: int = Priority.REPLY,
        paid: bool = False,
        hold_limit: float = math.inf,
    ) -> Result:
        """One try of `call`: wait for the windows (when `limited`), call, give them back.

        A 429 holds the chat for its retry_after, whichever path the request came by.
        """
        grant = None
        if limited:
            assert key is not None
            grant = await self.acquire(key, priority=priority, paid=paid, hold_limit=hold_limit)
        try:
            return await call()
        except TelegramError as exc:  # every Bot API call but getUpdates passes here
            decision = decide(exc)
            if decision.cause is Cause.FLOOD:
                if key is not None and decision.after is not None:
                    self.hold(key, decision.after)
                if self.metrics is not None:
                    self.metrics.flood_wait()
            elif self.metrics is not None:
                self.metrics.failed(exc)
            raise
        finally:
            if grant is not None:
                self.release(grant)

    async def _send_reply(
        self,
        call: Callable[[], Awaitable[Result]],
        endpoint: str,
        *,
        key: ChatKey | None,
        limited: bool,
        paid: bool,
    ) -> Result:
        deadline = self._clock() + self.reply_deadline
        attempt = 0
        while True:
            attempt += 1
            # a flood wait that outlasts the reply's deadline is not waited for: Telegram
            # may take the reply anyway, and if not its 429 ends the reply below
            left = deadline - self._clock()
            try:
                return await self.send(call, key=key, limited=limited, paid=paid, hold_limit=left)
            except (TelegramError, OSError) as exc:  # a bug of ours is not sent again
                decision = decide(exc)
                wait = self._reply_wait(decision, attempt, deadline)
                if wait is None:
                    _log_undelivered(endpoint, key, decision, attempt)
                    setattr(exc, _REPORTED, True)  # the error handler need not log it again
                    raise
            log.info(
                "chat %s: %s %s; sending it again in %.1f s",
                key,
                endpoint,
                decision.reason,
                wait,
            )
            # after a 429 the chat's hold makes the next acquire wait, keeping the reply's
            # place ahead of pushes; other waits (and answers to buttons) happen here
            if decision.transient or not limited:
                await asyncio.sleep(wait)

    def _reply_wait(self, decision: Decision, attempt: int, deadline: float) -> float | None:
        """How long a reply waits before its next try, or None when it is given up."""
        if decision.action is not Action.SEND_AGAIN:
            return None
        left = deadline - self._clock()
        wait = decision.delay(attempt)
        if decision.transient:
            wait = min(wait, left)
            return wait if wait > 0 else None
        return wait if wait <= left else None


_REPORTED = "_headline_bot_reported"


def was_reported(exc: BaseException | None) -> bool:
    """Whether the limiter already logged this failure as an undelivered reply."""
    return bool(getattr(exc, _REPORTED, False))


async def delivered(send: Awaitable[Result]) -> Result | None:
    """The answer to a message sent by the reply path, or None when the policy gave it up.

    The limiter has then logged why, once (an edit that changed nothing at DEBUG); what the
    send path did not judge, a bug of ours, is raised.
    """
    try:
        return await send
    except Exception as exc:
        if was_reported(exc):
            return None
        raise


def _log_undelivered(endpoint: str, key: ChatKey | None, decision: Decision, tries: int) -> None:
    if decision.noop:  # an edit to the content the message already has
        log.debug("chat %s: %s changed nothing: %s", key, endpoint, decision.reason)
        return
    log.warning(
        "chat %s: reply not delivered (%s, %d %s): %s",
        key,
        endpoint,
        tries,
        "try" if tries == 1 else "tries",
        decision.reason,
    )
