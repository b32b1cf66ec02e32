"""What a Bot API error means for the message that met it: a pure function of the exception.

The send paths (bot/delivery/limiter.py for handler replies, bot/delivery/worker.py for the
outbox) act on the Decision, start-up waits by it, and the error handler logs by its Cause;
nothing here sends, logs or writes.
"""

from __future__ import annotations

import datetime as dtm
import enum
import warnings
from dataclasses import dataclass, field

from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.warnings import PTBDeprecationWarning

MAX_BACKOFF = 300.0  # seconds: the longest wait between two tries of a transient failure

# Telegram's words for refused HTML (all of them follow "can't parse entities" today).
_MARKUP = ("can't parse entities", "unsupported start tag", "can't find end tag")
_THREAD = ("message thread not found", "thread not found")
# Telegram's words when it cannot use a photo it was given by URL (it fetches the URL itself):
# "wrong file identifier/HTTP URL specified", "failed to get HTTP URL content", "wrong type of
# the web page content", IMAGE_PROCESS_FAILED, PHOTO_INVALID_DIMENSIONS, and the other 400s
# that name the photo, the image or the file.
_PICTURE = (
    "file identifier",
    "http url",
    "web page content",
    "photo",
    "image",
    "remote file",
    "file_reference",
)
_CHAT_GONE = ("chat not found", "peer_id_invalid")
_NOT_MODIFIED = "message is not modified"


class Action(enum.Enum):
    """What the send path does with the message."""

    SEND_AGAIN = "send again"  # after Decision.after seconds, or backoff(attempt)
    RESEND_PLAIN = "resend as plain text"  # the HTML was refused
    RESEND_WITHOUT_THREAD = "resend without the thread"  # the forum thread is gone
    RESEND_WITHOUT_PICTURE = "resend without the picture"  # Telegram could not use the photo
    DEACTIVATE = "deactivate the chat"  # the bot can no longer write there
    MIGRATE = "move the chat to its new id"  # a group became a supergroup
    STOP_BOT = "stop the bot"  # the token was refused
    DROP = "drop the message"  # Telegram will never accept this message


class Cause(enum.Enum):
    """What happened, as a log line names it: who failed, and how."""

    FLOOD = "429 flood control"
    MIGRATED = "the group became a supergroup"
    UNAUTHORIZED = "401: the token was refused"
    FORBIDDEN = "403: the bot may not write there"
    REFUSED = "400: the request was refused"
    CONFLICT = "409: another process polls with the token"
    NETWORK = "the Bot API is out of reach (5xx, timeout, transport)"
    UNDOCUMENTED = "a Bot API error nothing documents"
    TRANSPORT = "a transport failure outside python-telegram-bot's mapping"
    BUG = "not a failure of the Bot API: a bug on our side"


@dataclass(frozen=True, slots=True)
class Decision:
    """An Action with what it needs: the wait, the new chat id, the reason to record."""

    action: Action
    reason: str
    after: float | None = None  # SEND_AGAIN: Telegram's retry_after; None = transient
    new_chat_id: int | None = None  # MIGRATE
    noop: bool = False  # DROP of an edit to the same content: the chat already shows it
    # Why, for the log line only: two decisions that act alike are equal whatever the cause.
    cause: Cause = field(default=Cause.UNDOCUMENTED, compare=False)

    @property
    def transient(self) -> bool:
        """A failure of the moment (5xx, network): the caller picks the wait by backoff()."""
        return self.action is Action.SEND_AGAIN and self.after is None

    def delay(self, attempt: int) -> float:
        """Seconds to wait before sending again, `attempt` being the number of tries so far."""
        return self.after if self.after is not None else backoff(attempt)


def backoff(attempt: int) -> float:
    """The wait after the `attempt`-th failed try (1, 2, ...): 2, 4, 8 ... up to 300 s."""
    return min(MAX_BACKOFF, 2.0 ** max(1, attempt))


def retry_after_seconds(exc: RetryAfter) -> float:
    """The wait a 429 asks for, in seconds, whether or not PTB_TIMEDELTA is set.

    Without PTB_TIMEDELTA, python-telegram-bot 22 warns on every read of `retry_after`
    (its type changes in the next major version); the value is the same either way.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


def _bad_request(exc: BadRequest) -> Decision:
    text = exc.message.lower()
    refused = Cause.REFUSED
    if any(words in text for words in _CHAT_GONE):
        return Decision(Action.DEACTIVATE, exc.message, cause=refused)
    if any(words in text for words in _MARKUP):
        return Decision(Action.RESEND_PLAIN, exc.message, cause=refused)
    if any(words in text for words in _THREAD):
        return Decision(Action.RESEND_WITHOUT_THREAD, exc.message, cause=refused)
    if any(words in text for words in _PICTURE):
        return Decision(Action.RESEND_WITHOUT_PICTURE, exc.message, cause=refused)
    return Decision(Action.DROP, exc.message, noop=_NOT_MODIFIED in text, cause=refused)


def decide(exc: BaseException) -> Decision:
    """What this exception, raised by a Bot API call that sends a message, means for it."""
    # Subclasses before their bases: BadRequest and TimedOut are NetworkErrors.
    if isinstance(exc, RetryAfter):
        return Decision(
            Action.SEND_AGAIN,
            "429 flood control",
            after=retry_after_seconds(exc),
            cause=Cause.FLOOD,
        )
    if isinstance(exc, ChatMigrated):
        return Decision(
            Action.MIGRATE,
            "the group became a supergroup",
            new_chat_id=int(exc.new_chat_id),
            cause=Cause.MIGRATED,
        )
    if isinstance(exc, InvalidToken | EndPointNotFound):
        # Bot.do_api_request reports a refused token as EndPointNotFound once initialized
        return Decision(Action.STOP_BOT, exc.message, cause=Cause.UNAUTHORIZED)
    if isinstance(exc, Forbidden):
        return Decision(Action.DEACTIVATE, exc.message, cause=Cause.FORBIDDEN)
    if isinstance(exc, BadRequest):
        return _bad_request(exc)
    if isinstance(exc, Conflict):
        return Decision(Action.DROP, exc.message, cause=Cause.CONFLICT)
    if isinstance(exc, NetworkError):  # 5xx, TimedOut, transport failures
        return Decision(
            Action.SEND_AGAIN, f"{type(exc).__name__}: {exc.message}", cause=Cause.NETWORK
        )
    if isinstance(exc, TelegramError):  # nothing Telegram documents: never loop on it
        return Decision(
            Action.DROP, f"{type(exc).__name__}: {exc.message}", cause=Cause.UNDOCUMENTED
        )
    if isinstance(exc, OSError):  # a transport failure outside python-telegram-bot's mapping
        return Decision(Action.SEND_AGAIN, f"{type(exc).__name__}: {exc}", cause=Cause.TRANSPORT)
    # a bug on our side: the message is kept and tried again later, as for a 5xx
    return Decision(Action.SEND_AGAIN, f"unexpected {type(exc).__name__}: {exc}", cause=Cause.BUG)
