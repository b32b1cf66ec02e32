"""The sliding-window limiter's own bookkeeping."""

from __future__ import annotations

import asyncio

from bot.ratelimit import KEEP_CHAT_WINDOWS, Limits, SlidingWindowLimiter


async def test_idle_chat_windows_are_forgotten() -> None:
    limits = Limits(overall=10**9, private_period=0.001, group_period=0.001)
    limiter = SlidingWindowLimiter(limits)
    for chat_id in range(1, 3 * KEEP_CHAT_WINDOWS):
        await limiter.acquire(chat_id)
        if chat_id % 100 == 0:
            await asyncio.sleep(0.002)  # the windows so far fall idle
    assert limiter.granted == 3 * KEEP_CHAT_WINDOWS - 1
    assert len(limiter._chats) <= KEEP_CHAT_WINDOWS
    await limiter.shutdown()
