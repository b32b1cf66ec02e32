"""/forget and /export: a chat takes its data with it, or has the bot delete all of it."""

from __future__ import annotations

import time

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Message, Update
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.chats.privacy import export_document, export_filename, export_json, settings_export
from bot.context import BotApp, BotContext
from bot.formatting import escape
from bot.text.i18n import N_, Translator, translator
from handlers.common import (
    button_label,
    chat_translator,
    edit_in_place,
    reply,
    split_command,
    thread_of,
)
from handlers.unknown import is_for_another_bot

EXPORT = "pv:export"
FORGET = "pv:forget"
CANCEL = "pv:cancel"

NOT_ADMIN = N_("Only this group's admins can export or delete what I hold about it.")
NOTHING = N_("I hold nothing about this chat. /start registers it.")
DONE = N_("✅ Deleted: I hold nothing about this chat any more. /start begins again.")
KEPT = N_("Nothing was deleted.")
CAPTION = N_("Everything I hold about this chat: its topics and settings.")


def ask_text(t: Translator, topics: int) -> str:
    """The question /forget asks before deleting anything."""
    head = "🗑 <b>" + escape(t._("Delete everything I hold about this chat?")) + "</b>"
    body = t.ngettext(
        "Its {n} topic, its settings and every message queued for it go, and so does the "
        "chat itself. I stop writing here until someone sends /start again.",
        "Its {n} topics, its settings and every message queued for it go, and so does the "
        "chat itself. I stop writing here until someone sends /start again.",
        topics,
    ).format(n=t.format_number(topics))
    keep = t._("Keep a copy first with <b>Export first</b>.")
    return f"{head}\n\n{escape(body)}\n\n{keep}"


def buttons(t: Translator) -> InlineKeyboardMarkup:
    """Export first, Delete everything, Cancel."""
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(button_label(t._("📄 Export first")), callback_data=EXPORT)],
            [
                InlineKeyboardButton(
                    button_label(t._("🗑 Delete everything")), callback_data=FORGET
                ),
                InlineKeyboardButton(button_label(t._("Cancel")), callback_data=CANCEL),
            ],
        ]
    )


async def _may_act(context: BotContext, message: Message) -> bool:
    return await context.services.admins.may_manage(context.bot, message)


async def send_export(
    context: BotContext, chat_id: int, thread_id: int | None = None, t: Translator | None = None
) -> None:
    """Send the chat its export as a JSON document."""
    t = t or translator(None)
    chat, topics = await context.services.chats.export(chat_id)
    settings = await context.services.preferences.get(chat_id)
    document = export_document(
        chat, topics, settings=settings_export(settings), exported_at=time.time()
    )
    await context.bot.send_document(
        chat_id,
        InputFile(export_json(document), filename=export_filename(chat_id)),
        caption=escape(t._(CAPTION)),
        message_thread_id=thread_id,
    )


async def cmd_export(update: Update, context: BotContext) -> None:
    """Send the chat's topics and settings as a JSON document."""
    message = update.effective_message
    if message is None:
        return
    t = await chat_translator(update, context)
    if not await _may_act(context, message):
        await reply(update, escape(t._(NOT_ADMIN)))
        return
    await send_export(context, message.chat.id, thread_of(message), t)


async def cmd_forget(update: Update, context: BotContext) -> None:
    """Ask for a confirmation, then delete everything the bot holds about the chat."""
    message = update.effective_message
    if message is None:
        return
    chat, topics = await context.services.chats.export(message.chat.id)
    t = await chat_translator(update, context)
    if not await _may_act(context, message):
        await reply(update, escape(t._(NOT_ADMIN)))
        return
    if chat is None:
        await reply(update, escape(t._(NOTHING)))
        return
    await reply(update, ask_text(t, len(topics)), markup=buttons(t))


async def on_privacy_button(update: Update, context: BotContext) -> None:
    """Export first, Delete everything, or Cancel."""
    query = update.callback_query
    if query is None or query.data is None or query.message is None:
        return
    message = query.message
    chat_id = message.chat.id
    t = await chat_translator(update, context)
    allowed = await context.services.admins.may_press(
        context.bot, chat_id, message.chat.type, query.from_user.id
    )
    if not allowed:
        await query.answer(t._("Only this chat's admins can do that."), show_alert=True)
        return
    if query.data == EXPORT:
        await query.answer(t._("Sending the export"))
        thread = thread_of(message) if isinstance(message, Message) else None
        await send_export(context, chat_id, thread, t)
        return
    if query.data == FORGET:
        await context.services.chats.forget(chat_id)
        await query.answer(t._("Deleted"))
        text = escape(t._(DONE))
    else:
        await query.answer()
        text = escape(t._(KEPT))
    if not message.is_accessible:
        return
    await edit_in_place(context, message, text)


async def on_channel_post(update: Update, context: BotContext) -> None:
    """/forget or /export posted in a channel (CommandHandler does not see channel posts)."""
    message = update.effective_message
    if message is None or is_for_another_bot(message.text, context.bot.username):
        return
    command, _ = split_command(message.text)
    await (cmd_forget if command == "forget" else cmd_export)(update, context)


def register(app: BotApp) -> None:
    """Register /forget, /export (in channels too) and their buttons."""
    for name, handler in (("forget", cmd_forget), ("export", cmd_export)):
        app.add_handler(CommandHandler(name, handler, filters=filters.UpdateType.MESSAGE))
    app.add_handler(
        MessageHandler(
            filters.UpdateType.CHANNEL_POST & filters.Regex(r"(?i)^/(forget|export)(@\w+)?(\s|$)"),
            on_channel_post,
        )
    )
    app.add_handler(CallbackQueryHandler(on_privacy_button, pattern=r"^pv:"))
