"""Every handler, registered in order (the only module the assembly imports from here)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.ext import (
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    InlineQueryHandler,
    MessageHandler,
    filters,
)

from bot.context import BotApp, BotContext
from handlers import (
    admin,
    chats,
    errors,
    feeds,
    inline,
    latest,
    more,
    privacy,
    search,
    settings,
    sources,
    start,
    template,
    topics,
    unknown,
)
from handlers.common import chat_translator, split_command

Handler = Callable[[Update, BotContext], Coroutine[Any, Any, None]]

# Commands anyone may use; channels reach them through channel posts.
COMMANDS: dict[str, Handler] = {
    "start": start.cmd_start,
    "help": start.cmd_help,
    "stop": start.cmd_stop,
    "topic": topics.cmd_topic,
    "topics": topics.cmd_topic,
    "latest": latest.cmd_latest,
    "search": search.cmd_search,
    "sources": sources.cmd_sources,
    "template": template.cmd_template,
}


async def on_channel_command(update: Update, context: BotContext) -> None:
    """Channel posts are not seen by CommandHandler: dispatch them here."""
    message = update.effective_message
    if message is None:
        return
    if unknown.is_for_another_bot(message.text, context.bot.username):
        return
    command, _ = split_command(message.text)
    handler = COMMANDS.get(command, unknown.cmd_unknown)
    await handler(update, context)


async def on_unknown_button(update: Update, context: BotContext) -> None:
    """A button this bot does not (or no longer) know: stop the client's spinner."""
    if update.callback_query is not None:
        t = await chat_translator(update, context)
        await update.callback_query.answer(t._("This button has expired."))


def register(app: BotApp) -> None:
    """Register every handler on the application."""
    for name, handler in COMMANDS.items():
        app.add_handler(CommandHandler(name, handler, filters=filters.UpdateType.MESSAGE))
    admin.register(app)
    feeds.register(app)  # /feeds and OPML imports: before the unknown buttons and commands
    privacy.register(app)  # /forget, /export: before the channel dispatcher and unknown buttons
    settings.register(app)  # /settings and each setting's command: before the channel dispatcher
    more.register(app)  # the More button of pushes and digests: before the unknown buttons
    app.add_handler(
        MessageHandler(filters.UpdateType.CHANNEL_POST & filters.COMMAND, on_channel_command)
    )
    app.add_handler(CallbackQueryHandler(topics.on_topic_button, pattern=r"^t[+\-][:#]"))
    app.add_handler(CallbackQueryHandler(search.on_search_page, pattern=r"^s:"))
    app.add_handler(CallbackQueryHandler(on_unknown_button))
    app.add_handler(InlineQueryHandler(inline.on_inline_query))
    app.add_handler(ChatMemberHandler(chats.on_my_chat_member))
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, chats.on_migrate))
    app.add_handler(
        MessageHandler(filters.COMMAND & ~filters.UpdateType.CHANNEL_POSTS, unknown.cmd_unknown)
    )
    app.add_error_handler(errors.on_error)
