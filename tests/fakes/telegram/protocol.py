"""What the parts of the fake share: the recorded Call, the error answer, limits, wording."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BOT_FIRST_NAME",
    "BOT_ID",
    "BOT_USERNAME",
    "CONFLICT_POLL",
    "CONFLICT_WEBHOOK",
    "DEFAULT_TOKEN",
    "DEFAULT_USER_ID",
    "EDIT_METHODS",
    "LIMITED_METHODS",
    "MAX_CALLBACK_ANSWER",
    "MAX_CALLBACK_DATA",
    "MAX_CAPTION",
    "MAX_COMMANDS",
    "MAX_TEXT",
    "MESSAGE_METHODS",
    "NOT_MODIFIED",
    "ApiError",
    "Call",
    "Json",
    "Notifier",
    "flood_error",
]

DEFAULT_TOKEN = "123456:TEST-TOKEN"
BOT_ID = 123456
BOT_FIRST_NAME = "Headline Bot"
BOT_USERNAME = "headline_test_bot"
DEFAULT_USER_ID = 1001

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
MAX_CALLBACK_ANSWER = 200
MAX_COMMANDS = 100

CONFLICT_POLL = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)

# The methods the fake models that put a message into a chat.
MESSAGE_METHODS = frozenset({"sendMessage", "sendPhoto", "sendDocument", "copyMessage"})
EDIT_METHODS = frozenset({"editMessageText", "editMessageReplyMarkup"})
# Methods that count against the flood limits.
LIMITED_METHODS = MESSAGE_METHODS | EDIT_METHODS

Json = dict[str, Any]


class ApiError(Exception):
    """An error answer: HTTP status, description and optional ResponseParameters.

    With a `page`, the answer is that HTML page instead of JSON (a proxy's error page).
    """

    def __init__(
        self,
        status: int,
        description: str,
        parameters: Json | None = None,
        *,
        page: str | None = None,
    ) -> None:
        super().__init__(f"{status} {description}")
        self.status = status
        self.description = description
        self.parameters = parameters
        self.page = page

    def body(self) -> Json:
        out: Json = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            out["parameters"] = self.parameters
        return out


def flood_error(retry_after: int) -> ApiError:
    """Telegram's flood-control answer."""
    return ApiError(
        429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
    )


@dataclass
class Call:
    """One request as the fake saw it and what it answered."""

    method: str
    params: dict[str, Any]
    at: float
    token: str = ""
    content_type: str = ""  # of the request body (multipart/form-data for uploads)
    chat_id: int | None = None
    status: int = 0
    response: Json | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def result(self) -> Any:
        return None if self.response is None else self.response.get("result")

    @property
    def description(self) -> str | None:
        return None if self.response is None else self.response.get("description")


class Notifier:
    """Wake every waiter on each change without holding a lock (generation events)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)
