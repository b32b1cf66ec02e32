"""Admin commands: /broadcast (with confirmation and live progress) and /stats."""

from __future__ import annotations

import logging
import time

from telegram import Update
from telegram.error import BadRequest
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot.context import BotApp, BotContext
from bot.delivery.announce import audience_name, confirm_keyboard, parse_broadcast_args
from bot.formatting import escape
from bot.ops.stats import collect_stats, render_stats
from bot.text.i18n import N_, translator
from handlers.common import bot_admins, chat_translator, command_args, preferences_of, reply

log = logging.getLogger(__name__)

USAGE = N_(
    "Usage: <code>/broadcast [users|groups|channels|all] text</code> (HTML allowed), "
    "or reply to any message with <code>/broadcast [audience]</code> to send that message."
)


async def cmd_broadcast(update: Update, context: BotContext) -> None:
    """Draft an announcement, preview it and ask for confirmation."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return
    services = context.services
    t = await chat_translator(update, context)
    audience, text = parse_broadcast_args(command_args(update))
    source = message.reply_to_message
    if source is None and not text:
        await reply(update, t._(USAGE))
        return
    if source is None and len(text) > 4096:
        await reply(
            update, escape(t._("That announcement is longer than Telegram's 4,096 characters."))
        )
        return
    # The preview is the validation: Telegram's own parser refuses bad HTML here, before
    # anything is queued.
    try:
        if source is not None:
            await context.bot.copy_message(message.chat.id, message.chat.id, source.message_id)
        else:
            await reply(update, text, preview=True)
    except BadRequest as exc:
        refused = t._("❌ Not queued: Telegram refuses this announcement ({error}).")
        await reply(update, refused.format(error=escape(exc.message)))
        return
    shown_audience = escape(audience_name(t, audience))
    total = await services.chats.audience_size(audience)
    if total == 0:  # nothing to confirm: no draft, no button
        nobody = t._(
            "⬆️ That is the preview. Audience: <b>{audience}</b>: no active chat, "
            "so there is nobody to send it to. Nothing was queued."
        )
        await reply(update, nobody.format(audience=shown_audience))
        return
    broadcast = await services.broadcasts.create(
        admin_id=user.id,
        audience=audience,
        text=None if source is not None else text,
        from_chat_id=message.chat.id if source is not None else None,
        from_message_id=source.message_id if source is not None else None,
        now=time.time(),
    )
    log.info(
        "admin %s drafted broadcast %s to %s (%d chats)", user.id, broadcast.id, audience, total
    )
    preview = t.ngettext(
        "⬆️ Preview of broadcast #{id}.\nAudience: <b>{audience}</b>, {n} active chat. Send it?",
        "⬆️ Preview of broadcast #{id}.\nAudience: <b>{audience}</b>, {n} active chats. Send it?",
        total,
    )
    await reply(
        update,
        preview.format(id=broadcast.id, audience=shown_audience, n=t.format_number(total)),
        markup=confirm_keyboard(broadcast.id, total, t),
    )


async def on_broadcast_button(update: Update, context: BotContext) -> None:
    """Confirm or cancel a broadcast (stale or repeated presses never queue twice)."""
    query = update.callback_query
    if query is None or query.data is None or query.message is None:
        return
    services = context.services
    t = await chat_translator(update, context)
    if not services.is_admin(query.from_user.id):
        log.warning("user %s pressed a broadcast button but is not an admin", query.from_user.id)
        await query.answer(t._("Only admins can do that."), show_alert=True)
        return
    _, action, raw_id = query.data.split(":", 2)
    broadcast_id = int(raw_id)
    now = time.time()
    if action == "ok":
        total = await services.broadcasts.confirm(broadcast_id, now=now)
        if total is None:
            await query.answer(t._("Already sent or cancelled: nothing queued again."))
            return
        if total == 0:
            await query.answer(
                t._("No active chat in this audience any more: nothing was queued."),
                show_alert=True,
            )
        else:
            queued = t.ngettext("Queued for {n} chat", "Queued for {n} chats", total)
            await query.answer(queued.format(n=t.format_number(total)))
        await services.broadcasts.set_report_message(
            broadcast_id, query.message.chat.id, query.message.message_id
        )
        log.info(
            "admin %s confirmed broadcast %s (%d chats)", query.from_user.id, broadcast_id, total
        )
        services.delivery.wake()
    else:
        cancelled = await services.broadcasts.cancel(broadcast_id, now=now)
        await query.answer(t._("Cancelled") if cancelled else t._("Already finished or cancelled"))
        if cancelled:
            log.info("admin %s cancelled broadcast %s", query.from_user.id, broadcast_id)
    broadcast = await services.broadcasts.get(broadcast_id)
    if broadcast is not None:
        if broadcast.report_message_id is None:
            await services.broadcasts.set_report_message(
                broadcast_id, query.message.chat.id, query.message.message_id
            )
            broadcast = await services.broadcasts.get(broadcast_id) or broadcast
        await services.reporter.show(context.bot, broadcast, now=now)


async def cmd_stats(update: Update, context: BotContext) -> None:
    """The bot's figures."""
    services = context.services
    settings = await preferences_of(update, context)
    stats = await collect_stats(services.storage)
    t = translator(settings.language)
    await reply(update, render_stats(stats, t=t, tz=settings.timezone))


async def refuse(update: Update, context: BotContext) -> None:
    """A non-admin tried an admin command: one line, and a log entry with the user id."""
    user = update.effective_user
    log.warning("user %s tried an admin command; refused", user.id if user else None)
    t = await chat_translator(update, context)
    await reply(update, escape(t._("⛔ This command is for the bot's admins.")))


def register(app: BotApp) -> None:
    """Admin commands for ADMIN_IDS only; a refusal for everyone else."""
    admins = bot_admins(app)
    message = filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("broadcast", cmd_broadcast, filters=admins & message))
    app.add_handler(CommandHandler("stats", cmd_stats, filters=admins & message))
    app.add_handler(CommandHandler(["broadcast", "stats"], refuse, filters=message))
    # ASCII digits, short enough for an SQLite integer: forged data never reaches the store
    app.add_handler(CallbackQueryHandler(on_broadcast_button, pattern=r"^b:(ok|no):[0-9]{1,18}\Z"))
