"""Small helpers every handler module shares: arguments, chat registration, replies."""

from __future__ import annotations

from typing import Any

from telegram import Chat as TelegramChat
from telegram import (
    ChatFullInfo,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    MaybeInaccessibleMessage,
    Message,
    Update,
)
from telegram.constants import ChatType
from telegram.error import BadRequest
from telegram.ext import filters

from bot.context import BotApp, BotContext, after_answer
from bot.delivery.policy import decide
from bot.text.i18n import Translator, translator
from storage.models import Chat, ChatKind, ChatPreferences

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
BUTTON_TEXT_CHARS = 64  # a label longer than this is cut (Telegram shows about as much)


def split_command(text: str | None) -> tuple[str, str]:
    """'/Topic@bot add x' -> ('topic', 'add x'); text without a command -> ('', text)."""
    text = (text or "").strip()
    if not text.startswith("/"):
        return "", text
    head, _, rest = text.partition(" ")
    if "\n" in head:
        head, _, more = head.partition("\n")
        rest = f"{more} {rest}".strip()
    command = head[1:].split("@", 1)[0].lower()
    return command, rest.strip()


def command_args(update: Update) -> str:
    """The text after the command word."""
    message = update.effective_message
    return split_command(message.text if message else None)[1]


def thread_of(message: Message) -> int | None:
    """The forum thread a message was posted in (None outside forum topics)."""
    return message.message_thread_id if message.is_topic_message else None


def chat_kind(chat_type: str) -> ChatKind:
    """The kind of chat Telegram's type names (a 'sender' chat is the user's own)."""
    return ChatKind.PRIVATE if chat_type == ChatType.SENDER else ChatKind(chat_type)


async def remember_chat(context: BotContext, chat: TelegramChat | ChatFullInfo) -> Chat:
    """Record a Telegram chat with the chat service (creating it on first contact)."""
    return await context.services.chats.register(
        chat.id,
        kind=chat_kind(chat.type),
        title=chat.title or chat.full_name,
        username=chat.username,
        is_forum=bool(chat.is_forum),
    )


async def register_chat(update: Update, context: BotContext) -> Chat:
    """Record the chat of this update (creating it on first contact)."""
    chat = update.effective_chat
    assert chat is not None
    return await remember_chat(context, chat)


async def reply(
    update: Update,
    text: str,
    *,
    markup: InlineKeyboardMarkup | None = None,
    preview: bool = False,
    **kwargs: Any,
) -> Message | None:
    """Answer in the chat (and forum thread) the update came from."""
    message = update.effective_message
    if message is None:
        return None
    return await message.reply_text(
        text,
        reply_markup=markup,
        link_preview_options=None if preview else NO_PREVIEW,
        do_quote=False,
        **kwargs,
    )


def button_label(text: str, limit: int = BUTTON_TEXT_CHARS) -> str:
    """A button's label, cut at `limit` characters with '…' when longer."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


async def preferences_of(update: Update, context: BotContext) -> ChatPreferences:
    """The settings of the update's chat, its language settled on first contact.

    A private chat that never chose starts in its user's Telegram language (stored, so it
    stays: recorded after the answer, which does not wait for it); a group or channel
    speaks what whoever added the bot spoke (stored when the bot was added), else English.
    """
    chat = update.effective_chat
    user = update.effective_user
    service = context.services.preferences
    if chat is None:  # an inline query: no chat, the user's own language
        return ChatPreferences(
            0, language=translator(user.language_code if user else None).language
        )
    if chat.type not in (ChatType.PRIVATE, ChatType.SENDER) or user is None:
        return await service.get(chat.id)
    settings = await service.get(chat.id, default_language=user.language_code or "en")
    if not settings.stored:

        async def first_contact() -> None:
            await remember_chat(context, chat)  # the settings row belongs to a known chat
            await service.adopt_language(chat.id, user.language_code)

        await after_answer(first_contact)
    return settings


async def chat_translator(update: Update, context: BotContext) -> Translator:
    """The translator of the update's chat (see preferences_of)."""
    return translator((await preferences_of(update, context)).language)


def bot_admins(app: BotApp) -> filters.User:
    """The filter admin-only commands are registered with: users in ADMIN_IDS, none if empty."""
    settings = app.bot_data.settings
    assert settings is not None
    return filters.User(user_id=settings.admin_ids, allow_empty=False)


async def edit_in_place(
    context: BotContext,
    message: MaybeInaccessibleMessage,
    text: str,
    *,
    markup: InlineKeyboardMarkup | None = None,
    no_preview: bool = False,
) -> None:
    """Replace a bot message's text and buttons (a page, a menu after a tap).

    An edit to what the message already shows (a second tap on a button already handled) is
    not an error; any other refusal is raised as usual.
    """
    try:
        await context.bot.edit_message_text(
            text,
            chat_id=message.chat.id,
            message_id=message.message_id,
            reply_markup=markup,
            link_preview_options=NO_PREVIEW if no_preview else None,
        )
    except BadRequest as exc:
        if not decide(exc).noop:
            raise
