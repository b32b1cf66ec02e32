"""The error handler: log what went wrong with the update's chat id, never message bodies."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)

from bot.context import BotContext

log = logging.getLogger("handlers")


async def on_error(update: object, context: BotContext) -> None:
    """Log errors raised by handlers and jobs; a revoked token stops the bot."""
    exc = context.error
    chat_id = (
        update.effective_chat.id if isinstance(update, Update) and update.effective_chat else None
    )
    if isinstance(exc, InvalidToken):
        log.critical("the Bot API refused the token (revoked?); stopping")
        context.bot_data.exit_code = 3
        context.application.stop_running()
    elif isinstance(exc, Conflict):
        log.warning("another process is polling with this token (409 Conflict); retrying")
    elif isinstance(exc, Forbidden):
        log.info("chat %s: reply not delivered: %s", chat_id, exc.message)
    elif isinstance(exc, RetryAfter):
        log.warning("chat %s: reply hit flood control: %s", chat_id, exc.message)
    elif isinstance(exc, BadRequest):
        log.warning("chat %s: request refused: %s", chat_id, exc.message)
    elif isinstance(exc, NetworkError):
        log.warning("chat %s: network error: %s", chat_id, exc)
    else:
        log.error("chat %s: unhandled error", chat_id, exc_info=exc)
