"""Which commands are addressed to this bot, and the hint for those it does not know."""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatType

from bot.context import BotContext
from bot.formatting import escape
from handlers.common import chat_translator, reply, split_command


def addressee(text: str | None) -> str | None:
    """The bot a command names, lower-cased: '/cmd@Some_Bot x' -> 'some_bot'; else None."""
    words = (text or "").split(maxsplit=1)
    if not words or not words[0].startswith("/"):
        return None
    _, at, name = words[0].partition("@")
    return name.lower() if at else None


def is_for_another_bot(text: str | None, username: str | None) -> bool:
    """Whether the command names a bot other than `username` (case does not matter)."""
    target = addressee(text)
    return target is not None and target != (username or "").lower()


def wants_hint(text: str | None, chat_type: str, username: str | None) -> bool:
    """Whether an unknown command deserves the hint.

    In a private chat every command is ours unless it names another bot; in groups and
    channels several bots may listen, so only a command naming this bot is ours.
    """
    if addressee(text) is not None:
        return not is_for_another_bot(text, username)
    return chat_type == ChatType.PRIVATE


async def cmd_unknown(update: Update, context: BotContext) -> None:
    """A command this bot does not know: a short hint, when the command is meant for it."""
    message = update.effective_message
    chat = update.effective_chat
    if message is None or chat is None or not message.text:
        return
    if not wants_hint(message.text, chat.type, context.bot.username):
        return
    command, _ = split_command(message.text)
    t = await chat_translator(update, context)
    hint = t._("I don't know /{command}. /help lists what I can do.")
    await reply(update, hint.format(command=escape(command[:32])))
