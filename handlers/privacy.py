"""/forget and /export: a chat takes its data with it, or has the bot delete all of it."""

from __future__ import annotations

import time

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Message, Update
from telegram.constants import ChatType
from telegram.error import BadRequest
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.context import BotApp, BotContext
from bot.privacy import export_document, export_filename, export_json
from handlers.common import reply, split_command, thread_of
from handlers.unknown import is_for_another_bot

EXPORT = "pv:export"
FORGET = "pv:forget"
CANCEL = "pv:cancel"

NOT_ADMIN = "Only this group's admins can export or delete what I hold about it."
ASK = (
    "🗑 <b>Delete everything I hold about this chat?</b>\n\n"
    "Its topics ({topics}), its settings and every message queued for it go, and so does "
    "the chat itself. I stop writing here until someone sends /start again.\n\n"
    "Keep a copy first with <b>Export first</b>."
)
NOTHING = "I hold nothing about this chat. /start registers it."
DONE = "✅ Deleted: I hold nothing about this chat any more. /start begins again."
KEPT = "Nothing was deleted."
CAPTION = "Everything I hold about this chat: its topics and settings."

_BUTTONS = InlineKeyboardMarkup(
    [
        [InlineKeyboardButton("📄 Export first", callback_data=EXPORT)],
        [
            InlineKeyboardButton("🗑 Delete everything", callback_data=FORGET),
            InlineKeyboardButton("Cancel", callback_data=CANCEL),
        ],
    ]
)


async def _may_act(context: BotContext, message: Message) -> bool:
    return await context.services.admins.may_manage(context.bot, message)


async def send_export(context: BotContext, chat_id: int, thread_id: int | None = None) -> None:
    """Send the chat its export as a JSON document."""
    chat, topics = await context.services.chats.export(chat_id)
    document = export_document(chat, topics, exported_at=time.time())
    await context.bot.send_document(
        chat_id,
        InputFile(export_json(document), filename=export_filename(chat_id)),
        caption=CAPTION,
        message_thread_id=thread_id,
    )


async def cmd_export(update: Update, context: BotContext) -> None:
    """Send the chat's topics and settings as a JSON document."""
    message = update.effective_message
    if message is None:
        return
    if not await _may_act(context, message):
        await reply(update, NOT_ADMIN)
        return
    await send_export(context, message.chat.id, thread_of(message))


async def cmd_forget(update: Update, context: BotContext) -> None:
    """Ask for a confirmation, then delete everything the bot holds about the chat."""
    message = update.effective_message
    if message is None:
        return
    if not await _may_act(context, message):
        await reply(update, NOT_ADMIN)
        return
    chat, topics = await context.services.chats.export(message.chat.id)
    if chat is None:
        await reply(update, NOTHING)
        return
    await reply(update, ASK.format(topics=len(topics)), markup=_BUTTONS)


async def on_privacy_button(update: Update, context: BotContext) -> None:
    """Export first, Delete everything, or Cancel."""
    query = update.callback_query
    if query is None or query.data is None or query.message is None:
        return
    message = query.message
    chat_id = message.chat.id
    allowed = message.chat.type in (ChatType.PRIVATE, ChatType.CHANNEL) or (
        await context.services.admins.is_admin(context.bot, chat_id, query.from_user.id)
    )
    if not allowed:
        await query.answer("Only this chat's admins can do that.", show_alert=True)
        return
    if query.data == EXPORT:
        await query.answer("Sending the export")
        thread = thread_of(message) if isinstance(message, Message) else None
        await send_export(context, chat_id, thread)
        return
    if query.data == FORGET:
        await context.services.chats.forget(chat_id)
        await query.answer("Deleted")
        text = DONE
    else:
        await query.answer()
        text = KEPT
    if not message.is_accessible:
        return
    try:
        await context.bot.edit_message_text(text, chat_id=chat_id, message_id=message.message_id)
    except BadRequest as exc:  # a second tap on a button already handled
        if "not modified" not in exc.message.lower():
            raise


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
