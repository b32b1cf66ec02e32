"""The error handler: log what went wrong with the update's chat id, never message bodies.

A failure that is not Telegram refusing something (a bug) also answers the user, once.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import ApplicationHandlerStop

from bot.context import BotContext
from bot.delivery.limiter import was_reported
from bot.formatting import escape
from bot.text.i18n import N_, translator
from handlers.common import reply

log = logging.getLogger("handlers")

FAILURE_TEXT = N_("Something went wrong on my side; it has been logged.")


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
    elif was_reported(exc):  # an undelivered reply: the limiter has logged it once
        log.debug("chat %s: reply not delivered (logged by the limiter)", chat_id)
    elif isinstance(exc, Conflict):
        log.warning("another process is polling with this token (409 Conflict); retrying")
    elif isinstance(exc, Forbidden):
        log.info("chat %s: reply not delivered: %s", chat_id, exc.message)
    elif isinstance(exc, RetryAfter):
        log.warning("chat %s: reply hit flood control: %s", chat_id, exc.message)
    elif isinstance(exc, ChatMigrated):
        log.info("chat %s: reply not delivered: the group moved to %s", chat_id, exc.new_chat_id)
    elif isinstance(exc, BadRequest):
        log.warning("chat %s: request refused: %s", chat_id, exc.message)
    elif isinstance(exc, NetworkError):
        log.warning("chat %s: network error: %s", chat_id, exc)
    elif isinstance(exc, TelegramError):
        log.warning("chat %s: Bot API error: %s", chat_id, exc)
    elif not isinstance(update, Update):
        log.error("unhandled error outside any update (a job?)", exc_info=exc)
    else:
        log.error("update %s in chat %s failed", update.update_id, chat_id, exc_info=exc)
        await apologise(update, context)
        # no later handler group answers the same update a second time
        raise ApplicationHandlerStop


async def apologise(update: Update, context: BotContext | None = None) -> None:
    """Tell the user their update failed: answer the button, or reply in its chat and thread."""
    try:
        text = translator(await _language(update, context))._(FAILURE_TEXT)
        if update.callback_query is not None:
            await update.callback_query.answer(text)  # also stops the client's spinner
        else:
            await reply(update, escape(text))
    except Exception as exc:  # the apology must never fail in turn
        log.info("update %s: the failure notice was not delivered: %s", update.update_id, exc)


async def _language(update: Update, context: BotContext | None) -> str | None:
    """The chat's stored language, read without writing (the database may be what failed)."""
    user = update.effective_user
    chat = update.effective_chat
    private = chat is None or chat.type == ChatType.PRIVATE
    fallback = user.language_code if user is not None and private else None
    if context is None or chat is None:
        return fallback
    try:
        settings = await context.services.preferences.get(chat.id)
    except Exception:  # the apology must not depend on the database
        return fallback
    return settings.language if settings.stored else fallback
