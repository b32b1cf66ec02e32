"""The error handler: log what went wrong with the update's chat id, never message bodies.

A failure that is not Telegram refusing something (a bug) also answers the user, once.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop

from bot.context import BotContext
from bot.delivery.limiter import was_reported
from bot.delivery.policy import Action, Cause, decide
from bot.formatting import escape
from bot.text.i18n import N_, translator
from handlers.common import reply

log = logging.getLogger("handlers")

FAILURE_TEXT = N_("Something went wrong on my side; it has been logged.")


async def on_error(update: object, context: BotContext) -> None:
    """Log what a handler or job raised, as the send policy judges it; a refused token stops."""
    exc = context.error
    if exc is None:  # python-telegram-bot always passes one; nothing to report otherwise
        return
    chat_id = (
        update.effective_chat.id if isinstance(update, Update) and update.effective_chat else None
    )
    decision = decide(exc)
    cause = decision.cause
    if decision.action is Action.STOP_BOT:
        log.critical("the Bot API refused the token (revoked?); stopping")
        context.bot_data.exit_code = 3
        context.application.stop_running()
    elif was_reported(exc):  # an undelivered reply: the limiter has logged it once
        log.debug("chat %s: reply not delivered (logged by the limiter)", chat_id)
    elif cause is Cause.CONFLICT:
        log.warning("another process is polling with this token (409 Conflict); retrying")
    elif cause is Cause.FORBIDDEN:
        log.info("chat %s: reply not delivered: %s", chat_id, decision.reason)
    elif cause is Cause.FLOOD:
        log.warning("chat %s: reply hit flood control: %s", chat_id, exc)
    elif cause is Cause.MIGRATED:
        log.info(
            "chat %s: reply not delivered: the group moved to %s", chat_id, decision.new_chat_id
        )
    elif cause is Cause.REFUSED:
        log.warning("chat %s: request refused: %s", chat_id, decision.reason)
    elif cause is Cause.NETWORK:
        log.warning("chat %s: network error: %s", chat_id, exc)
    elif cause is Cause.UNDOCUMENTED:
        log.warning("chat %s: Bot API error: %s", chat_id, exc)
    elif not isinstance(update, Update):  # a bug of ours, or a transport failure outside PTB
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
