"""The Telegram error policy, decided from the exception alone, without any I/O."""

from __future__ import annotations

import ast
import datetime as dtm
import re
from pathlib import Path

import pytest
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    PassportDecryptionError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

import bot.delivery.policy
from bot.delivery.policy import MAX_BACKOFF, Action, Cause, Decision, backoff, decide

FACTS = Path(__file__).resolve().parents[3] / "shared" / "design" / "telegram-facts.md"


@pytest.mark.parametrize(
    ("exc", "action"),
    [
        # 403: the bot can no longer write to the chat
        (Forbidden("Forbidden: bot was blocked by the user"), Action.DEACTIVATE),
        (Forbidden("Forbidden: user is deactivated"), Action.DEACTIVATE),
        (Forbidden("Forbidden: bot was kicked from the group chat"), Action.DEACTIVATE),
        (Forbidden("Forbidden: bot was kicked from the supergroup chat"), Action.DEACTIVATE),
        (Forbidden("Forbidden: bot was kicked from the channel chat"), Action.DEACTIVATE),
        (Forbidden("Forbidden: bot is not a member of the channel chat"), Action.DEACTIVATE),
        # 400
        (BadRequest("Bad Request: chat not found"), Action.DEACTIVATE),
        (BadRequest("Chat not found"), Action.DEACTIVATE),
        (
            BadRequest(
                'Bad Request: can\'t parse entities: Unsupported start tag "foo" at byte offset 3'
            ),
            Action.RESEND_PLAIN,
        ),
        (
            BadRequest(
                "Bad Request: can't parse entities: Can't find end tag corresponding to start "
                'tag "b"'
            ),
            Action.RESEND_PLAIN,
        ),
        (BadRequest('Unsupported start tag "x" at byte offset 0'), Action.RESEND_PLAIN),
        (BadRequest("Bad Request: message thread not found"), Action.RESEND_WITHOUT_THREAD),
        (BadRequest("Bad Request: message is too long"), Action.DROP),
        (
            BadRequest(
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message"
            ),
            Action.DROP,
        ),
        (BadRequest("Bad Request: message text is empty"), Action.DROP),
        # the rest
        (ChatMigrated(-1001234567890), Action.MIGRATE),
        (InvalidToken("Unauthorized"), Action.STOP_BOT),
        (InvalidToken("Not Found"), Action.STOP_BOT),
        (InvalidToken(), Action.STOP_BOT),
        (EndPointNotFound("Endpoint 'sendMessage' not found in Bot API"), Action.STOP_BOT),
        (
            Conflict(
                "Conflict: terminated by other getUpdates request; make sure that only one bot "
                "instance is running"
            ),
            Action.DROP,
        ),
        (NetworkError("Bad Gateway"), Action.SEND_AGAIN),
        (NetworkError("Internal Server Error"), Action.SEND_AGAIN),
        (NetworkError("Service Unavailable (503)"), Action.SEND_AGAIN),
        (NetworkError("aiohttp.ClientConnectorError: Connection refused"), Action.SEND_AGAIN),
        (TimedOut(), Action.SEND_AGAIN),
        (TimedOut("Pool timeout"), Action.SEND_AGAIN),
        (TelegramError("something Telegram never documented"), Action.DROP),
        (PassportDecryptionError("no key"), Action.DROP),
        (ConnectionResetError("reset by peer"), Action.SEND_AGAIN),
        (ValueError("a bug of ours"), Action.SEND_AGAIN),
    ],
    ids=lambda value: value.name if isinstance(value, Action) else type(value).__name__,
)
def test_each_error_has_one_action(exc: BaseException, action: Action) -> None:
    decision = decide(exc)
    assert decision.action is action, decision
    assert decision.reason


def test_bad_request_is_never_taken_for_a_network_error() -> None:
    """BadRequest subclasses NetworkError: it must not be retried as a transient failure."""
    assert issubclass(BadRequest, NetworkError)
    assert not decide(BadRequest("Bad Request: message is too long")).transient
    assert decide(NetworkError("Bad Gateway")).transient
    assert decide(TimedOut()).transient


def test_transient_failures_wait_by_backoff() -> None:
    decision = decide(NetworkError("Bad Gateway"))
    assert decision.after is None
    assert [decision.delay(n) for n in (1, 2, 3, 4, 5)] == [2.0, 4.0, 8.0, 16.0, 32.0]
    assert decision.delay(50) == MAX_BACKOFF


def test_backoff_is_bounded_and_grows() -> None:
    waits = [backoff(n) for n in range(0, 20)]
    assert waits == sorted(waits)
    assert waits[0] == waits[1] == 2.0
    assert max(waits) == MAX_BACKOFF
    assert sum(backoff(n) for n in range(1, 5)) < 60 < sum(backoff(n) for n in range(1, 6))


def test_migration_carries_the_new_id() -> None:
    decision = decide(ChatMigrated(-1009876))
    assert decision == Decision(
        Action.MIGRATE, "the group became a supergroup", new_chat_id=-1009876
    )


def test_an_edit_to_the_same_content_is_a_noop_drop() -> None:
    same = decide(BadRequest("Bad Request: message is not modified: specified new message"))
    assert same.action is Action.DROP and same.noop
    assert not decide(BadRequest("Bad Request: message is too long")).noop


@pytest.mark.parametrize("timedelta_env", [True, False])
@pytest.mark.parametrize("given", [5, dtm.timedelta(seconds=5)])
def test_retry_after_in_both_forms_without_warnings(
    monkeypatch: pytest.MonkeyPatch, timedelta_env: bool, given: int | dtm.timedelta
) -> None:
    """python-telegram-bot warns on reading retry_after unless PTB_TIMEDELTA=1 (warnings are
    errors here: a warning would fail the test)."""
    exc = RetryAfter(given)  # built with PTB_TIMEDELTA=1 (tests/conftest.py): no warning
    if not timedelta_env:
        monkeypatch.delenv("PTB_TIMEDELTA")
    decision = decide(exc)
    assert decision.action is Action.SEND_AGAIN
    assert decision.after == 5.0
    assert not decision.transient
    assert decision.delay(7) == 5.0  # Telegram's wait, whatever the attempt


def test_the_policy_module_is_pure() -> None:
    """No I/O, logging, clocks or event loop: only telegram.error and the standard library."""
    tree = ast.parse(Path(bot.delivery.policy.__file__).read_text())
    imported = {
        alias.name if isinstance(node, ast.Import) else node.module or ""
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported <= {
        "__future__",
        "datetime",
        "enum",
        "warnings",
        "dataclasses",
        "telegram.error",
        "telegram.warnings",
    }, imported


_ERROR_CLASSES: dict[str, type[TelegramError]] = {
    "RetryAfter": RetryAfter,
    "Forbidden": Forbidden,
    "BadRequest": BadRequest,
    "ChatMigrated": ChatMigrated,
    "Conflict": Conflict,
    "InvalidToken": InvalidToken,
}
_EXPECTED = {
    "flood control": Action.SEND_AGAIN,
    "user blocked the bot": Action.DEACTIVATE,
    "user deleted account": Action.DEACTIVATE,
    "bot removed from a chat": Action.DEACTIVATE,
    "chat gone": Action.DEACTIVATE,
    "group became a supergroup": Action.MIGRATE,
    "bad HTML": Action.RESEND_PLAIN,
    "text too long": Action.DROP,
    "edit with same content": Action.DROP,
    "two pollers on one token": Action.DROP,
    "bad token": Action.STOP_BOT,
}


def test_every_error_in_the_telegram_facts_is_decided() -> None:
    """Each row of the errors table in the shared Telegram facts, built as PTB raises it."""
    if not FACTS.is_file():
        pytest.skip("the shared Telegram facts are not present")
    text = FACTS.read_text()
    section = text.split("## Errors", 1)[1].split("\n## ", 1)[0]
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("|") and not line.startswith("| case") and "---" not in line
    ]
    seen = set()
    for case, _code, description, raised in rows:
        cls = _ERROR_CLASSES[raised.strip("`")]
        messages = re.findall(r"`([^`]+)`", description) or [description]
        for message in messages:
            if cls is RetryAfter:
                exc: TelegramError = RetryAfter(7)
            elif cls is ChatMigrated:
                exc = ChatMigrated(-100555)
            else:
                exc = cls(message.replace("...", "details"))
            assert decide(exc).action is _EXPECTED[case], (case, message)
        seen.add(case)
    assert seen == set(_EXPECTED), seen ^ set(_EXPECTED)


@pytest.mark.parametrize(
    ("exc", "cause"),
    [
        (ChatMigrated(-100123), Cause.MIGRATED),
        (InvalidToken(), Cause.UNAUTHORIZED),
        (EndPointNotFound("Endpoint 'x' not found in Bot API"), Cause.UNAUTHORIZED),
        (Forbidden("Forbidden: bot was blocked by the user"), Cause.FORBIDDEN),
        (BadRequest("Bad Request: chat not found"), Cause.REFUSED),
        (BadRequest("Bad Request: can't parse entities: x"), Cause.REFUSED),
        (BadRequest("Bad Request: message thread not found"), Cause.REFUSED),
        (BadRequest("Bad Request: message is not modified"), Cause.REFUSED),
        (Conflict("Conflict: terminated by other getUpdates request"), Cause.CONFLICT),
        (NetworkError("the Bot API answered 502 with a non-JSON page"), Cause.NETWORK),
        (TimedOut(), Cause.NETWORK),
        (TelegramError("something Telegram never documented"), Cause.UNDOCUMENTED),
        (ConnectionResetError("reset by peer"), Cause.TRANSPORT),
        (ValueError("a bug of ours"), Cause.BUG),
    ],
    ids=lambda value: value.name if isinstance(value, Cause) else type(value).__name__,
)
def test_each_error_names_its_cause(exc: BaseException, cause: Cause) -> None:
    """What the error handler logs by: the cause, decided beside the action."""
    assert decide(exc).cause is cause


def test_flood_control_is_its_own_cause() -> None:
    assert decide(RetryAfter(5)).cause is Cause.FLOOD  # built with PTB_TIMEDELTA=1


def test_a_conflict_is_told_from_other_drops() -> None:
    conflict = decide(Conflict("Conflict: terminated by other getUpdates request"))
    refused = decide(BadRequest("Bad Request: message is too long"))
    assert conflict.action is refused.action is Action.DROP
    assert (conflict.cause, refused.cause) == (Cause.CONFLICT, Cause.REFUSED)


def test_the_cause_explains_and_does_not_tell_decisions_apart() -> None:
    """Two decisions that act alike are equal: the cause is for the log line only."""
    decided = decide(Forbidden("Forbidden: bot was blocked by the user"))
    assert decided == Decision(Action.DEACTIVATE, "Forbidden: bot was blocked by the user")
    assert decided.cause is Cause.FORBIDDEN
