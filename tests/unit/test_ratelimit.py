"""The sliding-window limiter: counting until the answer, priorities, holds, replies' retries."""

from __future__ import annotations

import asyncio
import datetime as dtm
import heapq
import logging
import math
import random
import time
from collections import deque
from typing import Any

import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

from bot.delivery.limiter import (
    KEEP_CHAT_WINDOWS,
    Limits,
    Priority,
    SlidingWindowLimiter,
    Window,
    chat_key,
    is_message_method,
    is_reply_method,
)

# ---------------------------------------------------------------- the window, with no clock


def test_a_message_counts_while_in_flight_and_one_period_after_its_answer() -> None:
    window = Window(2, 1.0)
    assert window.wait(0.0) == 0
    window.grant()
    window.grant()
    assert window.wait(0.5) == 1.0  # both in flight: at least a period, finish() says more
    window.finish(3.0)  # the answer came back late
    assert window.wait(3.5) == pytest.approx(0.5)  # counted until 4.0, not 1.0
    assert window.wait(4.0) == 0
    window.finish(4.2)
    assert window.wait(4.2) == 0  # one still counted, one place free
    assert not window.idle(4.5)
    assert window.idle(5.2)


class _GrantTimeWindow:
    """The counting this limiter did before: a message counted at its grant only."""

    def __init__(self, limit: int, period: float) -> None:
        self.limit, self.period = limit, period
        self.times: deque[float] = deque()
        self.open = 0

    def wait(self, now: float) -> float:
        while self.times and self.times[0] <= now - self.period:
            self.times.popleft()
        if len(self.times) < self.limit:
            return 0.0
        return self.times[len(self.times) - self.limit] + self.period - now

    def grant(self, now: float) -> None:
        self.times.append(now)

    def finish(self, now: float) -> None:
        pass


def _simulate(
    window: Window | _GrantTimeWindow, n: int, latency: tuple[float, float], seed: int
) -> list[float]:
    """Send n messages as fast as the window allows; return when each arrives at the server.

    Each message takes a random round trip and arrives at a random moment within it.
    """
    rng = random.Random(seed)
    t = 0.0
    answers: list[float] = []
    arrivals: list[float] = []
    sent = 0
    while sent < n or answers:
        while sent < n and window.wait(t) <= 0:
            if isinstance(window, Window):
                window.grant()
            else:
                window.grant(t)
            trip = rng.uniform(*latency)
            arrivals.append(t + rng.random() * trip)
            heapq.heappush(answers, t + trip)
            sent += 1
        next_grant = t + window.wait(t) if sent < n else math.inf
        t = min(next_grant, answers[0] if answers else math.inf)
        while answers and answers[0] <= t:
            window.finish(heapq.heappop(answers))
    return sorted(arrivals)


def _most_in_one_period(arrivals: list[float], period: float) -> int:
    """The most arrivals in any (t - period, t]: what a strict server counts."""
    most, start = 0, 0
    for end, at in enumerate(arrivals):
        while arrivals[start] <= at - period:
            start += 1
        most = max(most, end - start + 1)
    return most


@pytest.mark.parametrize("latency", [(0.001, 0.005), (0.0, 0.05), (0.0, 0.4), (0.2, 0.2)])
@pytest.mark.parametrize("seed", range(5))
def test_no_period_at_the_server_ever_sees_more_than_the_limit(
    latency: tuple[float, float], seed: int
) -> None:
    arrivals = _simulate(Window(30, 1.0), 600, latency, seed)
    assert _most_in_one_period(arrivals, 1.0) <= 30


def test_counting_at_grant_time_lets_31_arrive_in_one_second() -> None:
    """Why the window counts until the answer: the old counting fails the same check."""
    worst = max(
        _most_in_one_period(_simulate(_GrantTimeWindow(30, 1.0), 600, (0.0, 0.05), s), 1.0)
        for s in range(5)
    )
    assert worst > 30


def test_the_rate_stays_within_five_percent_of_the_limit() -> None:
    """30 per (1 s + the round trip), here 1-5 ms: the steady rate, 30 messages apart."""
    arrivals = _simulate(Window(30, 1.0), 900, (0.001, 0.005), seed=1)
    gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[30:], strict=False)]
    rate = 30 / (sum(gaps) / len(gaps))
    assert 28.5 <= rate <= 30.0, rate


def test_private_chats_meet_the_strict_servers_rules() -> None:
    """The fake Bot API allows 2 per second and 3 per 3 s in one private chat."""
    limits = Limits()
    arrivals = _simulate(Window(limits.private, limits.private_period), 40, (0.0, 0.3), seed=3)
    assert _most_in_one_period(arrivals, 1.0) <= 1
    assert _most_in_one_period(arrivals, 3.0) <= 3


def test_methods_that_count_and_methods_that_are_replies() -> None:
    assert is_message_method("sendMessage") and is_message_method("editMessageText")
    assert is_message_method("copyMessage") and not is_message_method("getChat")
    assert not is_message_method("answerCallbackQuery")
    assert is_reply_method("answerCallbackQuery") and is_reply_method("sendMessage")
    assert not is_reply_method("getChatMember") and not is_reply_method("setMyCommands")
    assert chat_key(5) == 5 and chat_key("-100123") == -100123 and chat_key("@news") == "@news"


# ---------------------------------------------------------------- the limiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_idle_chat_windows_are_forgotten() -> None:
    limits = Limits(overall=10**9, private_period=0.001, group_period=0.001)
    limiter = SlidingWindowLimiter(limits)
    for chat_id in range(1, 3 * KEEP_CHAT_WINDOWS):
        limiter.release(await limiter.acquire(chat_id))
        if chat_id % 100 == 0:
            await asyncio.sleep(0.002)  # the windows so far fall idle
    assert limiter.granted == 3 * KEEP_CHAT_WINDOWS - 1
    assert len(limiter._chats) <= KEEP_CHAT_WINDOWS
    await limiter.shutdown()


async def test_a_window_with_a_message_in_flight_is_never_forgotten() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(Limits(overall=10**9), clock=clock)
    pending = await limiter.acquire(1)
    for chat_id in range(2, KEEP_CHAT_WINDOWS + 10):
        limiter.release(await limiter.acquire(chat_id))
        clock.now += 5
    assert 1 in limiter._chats
    assert limiter.chat_wait(1) > 0
    limiter.release(pending)
    assert limiter.chat_wait(1) == pytest.approx(1.1)
    await limiter.shutdown()


async def test_a_clean_restart_waits_only_for_what_is_left_of_the_last_runs_second() -> None:
    """The overall window starts full: the run before may have sent a second's worth just
    before it stopped. When it stopped cleanly 0.7 s ago, 0.3 s are left to wait, not 1 s;
    what this run sent meanwhile still counts in full."""
    clock = FakeClock()
    limiter = SlidingWindowLimiter(Limits(overall=2), clock=clock)
    await limiter.initialize()
    clock.now += 0.1
    limiter.quiet_for(0.8)  # stopped 0.7 s before the start
    clock.now += 0.21  # 1.01 s after the stop
    sent = await asyncio.wait_for(limiter.acquire(1), 0.5)
    limiter.release(sent)
    limiter.quiet_for(60)  # only the start's filling moves, never a message sent since
    limiter.release(await asyncio.wait_for(limiter.acquire(2), 0.5))
    with pytest.raises(TimeoutError):  # two sent within the second: the third waits
        await asyncio.wait_for(limiter.acquire(3), 0.2)
    await limiter.shutdown()


async def test_quiet_seconds_count_from_the_newest_message_answered() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(Limits(overall=3), clock=clock)
    assert limiter.quiet_seconds() == 1.0, "nothing counts: one window or more"
    await limiter.initialize()  # what the run before might have sent, as of now
    clock.now += 0.25
    assert limiter.quiet_seconds() == 0.25
    clock.now += 1
    assert limiter.quiet_seconds() == 1.0
    grant = await asyncio.wait_for(limiter.acquire(1), 0.5)
    clock.now += 0.5
    assert limiter.quiet_seconds() == 0, "a message in flight"
    limiter.release(grant)
    clock.now += 0.125
    assert limiter.quiet_seconds() == 0.125
    clock.now += 5
    assert limiter.quiet_seconds() == 1.0
    await limiter.shutdown()


async def test_a_hold_keeps_a_chat_waiting_and_ends() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(Limits.unlimited(), clock=clock)
    limiter.hold(7, 30)
    assert limiter.chat_wait(7) == 30
    assert limiter.held_for(7) == 30
    assert limiter.chat_wait(8) == 0
    clock.now += 31
    assert limiter.chat_wait(7) == 0
    limiter.release(await limiter.acquire(7))
    await limiter.shutdown()


async def test_replies_go_before_pushes_before_broadcasts() -> None:
    limiter = SlidingWindowLimiter(Limits(overall=1, overall_period=0.05))
    first = await limiter.acquire(-1)
    order: list[str] = []

    async def one(name: str, chat_id: int, priority: Priority) -> None:
        limiter.release(await limiter.acquire(chat_id, priority=priority))
        order.append(name)

    tasks = [
        asyncio.create_task(one("broadcast", 10, Priority.BROADCAST)),
        asyncio.create_task(one("push", 11, Priority.PUSH)),
        asyncio.create_task(one("reply", 12, Priority.REPLY)),
    ]
    await asyncio.sleep(0)
    limiter.release(first)
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert order == ["reply", "push", "broadcast"]
    await limiter.shutdown()


async def test_a_cancelled_waiter_gives_its_place_back() -> None:
    limiter = SlidingWindowLimiter(Limits(overall=1, overall_period=0.02))
    first = await limiter.acquire(1)
    waiting = asyncio.create_task(limiter.acquire(2))
    await asyncio.sleep(0.01)
    waiting.cancel()
    limiter.release(first)
    with pytest.raises(asyncio.CancelledError):
        await waiting
    # nothing is left counted in flight: chat 2 and the overall window drain
    await asyncio.sleep(0.05)
    assert limiter._overall.open == 0
    assert limiter._chats.get(2) is None or limiter._chats[2].open == 0
    await limiter.shutdown()


# ---------------------------------------------------------------- process_request


class Endpoint:
    """A Bot API method answering with the given outcomes in turn (exceptions are raised)."""

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[float] = []

    async def __call__(self, endpoint: str, data: dict[str, Any]) -> Any:
        self.calls.append(time.monotonic())
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


async def _request(
    limiter: SlidingWindowLimiter,
    api: Endpoint,
    method: str = "sendMessage",
    *,
    priority: int | None = None,
    **data: Any,
) -> Any:
    data = {"chat_id": 42, "text": "hi", **data} if "chat_id" not in data else data
    if data.get("chat_id") is None:
        del data["chat_id"]
    return await limiter.process_request(api, (method, data), {}, method, data, priority)


def _flood(seconds: float) -> RetryAfter:
    return RetryAfter(dtm.timedelta(seconds=seconds))


async def test_a_reply_meeting_a_429_waits_and_is_sent_again() -> None:
    limiter = SlidingWindowLimiter(Limits.unlimited())
    api = Endpoint(_flood(0.2), {"message_id": 1})
    assert await _request(limiter, api) == {"message_id": 1}
    assert len(api.calls) == 2
    assert api.calls[1] - api.calls[0] >= 0.2
    await limiter.shutdown()


async def test_a_429_holds_the_chats_other_messages_too() -> None:
    limiter = SlidingWindowLimiter(Limits.unlimited())
    flooded = Endpoint(_flood(0.3), True)
    other = Endpoint(True)
    started = time.monotonic()
    reply = asyncio.create_task(_request(limiter, flooded))
    for _ in range(100_000):  # turns of the loop, not time: until the 429 has been seen
        if limiter.held_for(42) > 0:
            break
        await asyncio.sleep(0)
    assert 0.2 < limiter.held_for(42) <= 0.3
    await _request(limiter, other, priority=Priority.PUSH)  # the same chat: waits the hold
    assert other.calls[0] - started >= 0.3
    await reply
    await _request(limiter, Endpoint(True), chat_id=43)  # another chat never waited
    await limiter.shutdown()


async def test_a_flood_wait_past_the_replys_deadline_ends_it_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = SlidingWindowLimiter(Limits.unlimited(), reply_deadline=5)
    api = Endpoint(_flood(3600))
    with caplog.at_level(logging.WARNING, "bot.delivery.limiter"), pytest.raises(RetryAfter):
        await _request(limiter, api)
    assert len(api.calls) == 1
    (record,) = caplog.records
    assert record.levelno == logging.WARNING and "chat 42" in record.getMessage()
    await limiter.shutdown()


async def test_a_reply_is_retried_through_5xx_for_its_deadline_then_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = SlidingWindowLimiter(Limits.unlimited(), reply_deadline=0.3)
    api = Endpoint(NetworkError("Bad Gateway"))
    started = time.monotonic()
    with caplog.at_level(logging.INFO, "bot.delivery.limiter"), pytest.raises(NetworkError):
        await _request(limiter, api)
    assert time.monotonic() - started >= 0.3
    assert len(api.calls) == 2  # the backoff (2 s) is cut to the deadline
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "chat 42" in warnings[0].getMessage()
    await limiter.shutdown()


async def test_a_reply_gets_through_after_a_transient_failure() -> None:
    limiter = SlidingWindowLimiter(Limits.unlimited(), reply_deadline=0.2)
    api = Endpoint(NetworkError("Service Unavailable"), {"message_id": 9})
    assert await _request(limiter, api) == {"message_id": 9}
    assert len(api.calls) == 2
    await limiter.shutdown()


@pytest.mark.parametrize(
    "exc",
    [
        BadRequest("Bad Request: can't parse entities: Unsupported start tag"),
        BadRequest("Bad Request: message is too long"),
        Forbidden("Forbidden: bot was blocked by the user"),
    ],
)
async def test_400_and_403_end_a_reply_at_once(
    exc: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    limiter = SlidingWindowLimiter(Limits.unlimited())
    api = Endpoint(exc)
    with caplog.at_level(logging.WARNING, "bot.delivery.limiter"), pytest.raises(type(exc)):
        await _request(limiter, api)
    assert len(api.calls) == 1
    (record,) = caplog.records
    assert "chat 42" in record.getMessage() and exc.message in record.getMessage()
    await limiter.shutdown()


async def test_an_edit_to_the_same_content_is_not_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = SlidingWindowLimiter(Limits.unlimited())
    api = Endpoint(BadRequest("Bad Request: message is not modified: same content"))
    with caplog.at_level(logging.WARNING, "bot.delivery.limiter"), pytest.raises(BadRequest):
        await _request(limiter, api, "editMessageText", message_id=3)
    assert caplog.records == []
    await limiter.shutdown()


async def test_the_outboxs_requests_are_tried_once_but_still_hold_the_chat() -> None:
    limiter = SlidingWindowLimiter(Limits.unlimited())
    with pytest.raises(NetworkError):
        await _request(limiter, Endpoint(NetworkError("Bad Gateway")), priority=Priority.PUSH)
    api = Endpoint(_flood(30))
    with pytest.raises(RetryAfter):
        await _request(limiter, api, priority=Priority.BROADCAST)
    assert len(api.calls) == 1
    assert limiter.chat_wait(42) > 29
    await limiter.shutdown()


async def test_an_answer_to_a_button_is_retried_without_a_chat() -> None:
    limiter = SlidingWindowLimiter(Limits.unlimited())
    api = Endpoint(_flood(0.1), True)
    assert await _request(limiter, api, "answerCallbackQuery", chat_id=None) is True
    assert len(api.calls) == 2
    await limiter.shutdown()


async def test_other_requests_pass_straight_through() -> None:
    limiter = SlidingWindowLimiter(Limits(overall=1, overall_period=60))
    await limiter.initialize()  # the overall window starts full: messages would wait
    api = Endpoint(BadRequest("Bad Request: chat not found"))
    with pytest.raises(BadRequest):
        await asyncio.wait_for(_request(limiter, api, "getChat"), 1)
    assert len(api.calls) == 1
    await limiter.shutdown()


async def test_busy_chat_windows_are_not_swept_on_every_new_chat() -> None:
    """A thousand chats within one period are all still counted: sweeping them for each new
    chat would cost a thousand checks per message."""
    clock = FakeClock()
    limiter = SlidingWindowLimiter(Limits(overall=10**9), clock=clock)
    sweeps = 0
    sweep = limiter._forget_idle_chats

    def counted() -> None:
        nonlocal sweeps
        sweeps += 1
        sweep()

    limiter._forget_idle_chats = counted  # type: ignore[method-assign]
    for chat_id in range(1, 5 * KEEP_CHAT_WINDOWS):
        limiter.release(await limiter.acquire(chat_id))  # all within one period
    assert sweeps <= 3
    clock.now += 10
    for chat_id in range(10**6, 10**6 + 10 * KEEP_CHAT_WINDOWS):
        limiter.release(await limiter.acquire(chat_id))
        clock.now += 0.01  # 100 new chats a second: a window falls idle 1.1 s after
    assert len(limiter._chats) <= 2 * KEEP_CHAT_WINDOWS
    await limiter.shutdown()


async def test_a_bug_in_a_reply_is_raised_at_once_not_sent_again() -> None:
    limiter = SlidingWindowLimiter(Limits.unlimited())
    api = Endpoint(RuntimeError("AiohttpRequest is not initialized"))
    with pytest.raises(RuntimeError):
        await _request(limiter, api)
    assert len(api.calls) == 1
    await limiter.shutdown()
