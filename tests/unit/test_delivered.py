"""`delivered`: a message sent outside a handler's reply (feed alerts, a broadcast's report,
a note to whoever added the bot) goes by the reply path and is judged by the send policy."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from telegram.error import BadRequest, Forbidden

from bot.delivery.limiter import Limits, SlidingWindowLimiter, delivered


class Endpoint:
    """A Bot API method answering with one outcome (an exception is raised)."""

    def __init__(self, outcome: Any) -> None:
        self.outcome = outcome
        self.calls = 0

    async def __call__(self, endpoint: str, data: dict[str, Any]) -> Any:
        self.calls += 1
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


async def _send(limiter: SlidingWindowLimiter, api: Endpoint, method: str) -> Any:
    data = {"chat_id": 42, "text": "hi"}
    return await limiter.process_request(api, (method, data), {}, method, data, None)


async def test_a_message_that_got_through_is_its_answer() -> None:
    limiter = SlidingWindowLimiter(Limits.unlimited())
    api = Endpoint({"message_id": 5})
    assert await delivered(_send(limiter, api, "sendMessage")) == {"message_id": 5}
    await limiter.shutdown()


async def test_a_refusal_is_none_and_one_warning_from_the_send_path(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = SlidingWindowLimiter(Limits.unlimited())
    api = Endpoint(Forbidden("Forbidden: bot can't initiate conversation with a user"))
    with caplog.at_level(logging.DEBUG):
        assert await delivered(_send(limiter, api, "sendMessage")) is None
    assert api.calls == 1
    (record,) = caplog.records
    assert record.levelno == logging.WARNING and record.name == "bot.delivery.limiter"
    assert "chat 42" in record.getMessage() and "initiate" in record.getMessage()
    await limiter.shutdown()


async def test_an_edit_that_changes_nothing_is_none_and_no_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = SlidingWindowLimiter(Limits.unlimited())
    api = Endpoint(BadRequest("Bad Request: message is not modified: same content"))
    with caplog.at_level(logging.DEBUG):
        assert await delivered(_send(limiter, api, "editMessageText")) is None
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]
    await limiter.shutdown()


async def test_what_the_send_path_did_not_judge_is_raised() -> None:
    """A bug of ours (or a send that bypassed the limiter) is not swallowed."""

    async def broken() -> None:
        raise ValueError("a bug of ours")

    with pytest.raises(ValueError, match="a bug of ours"):
        await delivered(broken())
    with pytest.raises(Forbidden):  # not through the reply path: nobody logged it
        await delivered(Endpoint(Forbidden("Forbidden: blocked"))("sendMessage", {}))
