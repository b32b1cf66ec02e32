"""/topic: list, add, remove and clear a chat's topics (also a channel's, from private)."""

from __future__ import annotations

import hashlib

from telegram import ChatFullInfo, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import BadRequest, TelegramError

from bot.chats import TopicChange
from bot.context import BotContext
from bot.formatting import escape
from bot.topics import display_topic
from handlers.common import command_args, register_chat, remember_chat, reply, thread_of
from storage.models import ChatKind

USAGE = (
    "Usage: <code>/topic add bolivia, south africa</code> · "
    "<code>/topic remove bolivia</code> · <code>/topic clear</code> · "
    "<code>/topic</code> lists them"
)
NOT_ADMIN = "Only this group's admins can change its topics. /latest and /search work for everyone."


def _topic_key(topic: str) -> str:
    """Callback data for a remove button (the topic itself when it fits in 64 bytes)."""
    data = f"t-:{topic}"
    if len(data.encode()) <= 64:
        return data
    return "t-#" + hashlib.sha1(topic.encode()).hexdigest()[:16]  # noqa: S324 (a key, not security)


def _names(topics: list[str]) -> str:
    return ", ".join(f"<b>{escape(display_topic(t))}</b>" for t in topics)


def describe_change(change: TopicChange, *, verb: str, max_topics: int) -> str:
    """One short reply listing what changed and what did not."""
    lines = []
    if change.done:
        lines.append(f"✅ {verb}: {_names(change.done)}")
    if change.unchanged:
        state = "Already following" if verb == "Following" else "Not in your topics"
        lines.append(f"{state}: {_names(change.unchanged)}")
    if change.refused:
        lines.append(f"⚠️ Limit of {max_topics} topics reached; not added: {_names(change.refused)}")
    if change.invalid:
        shown = ", ".join(escape(t[:70]) for t in change.invalid[:5])
        lines.append(f"⚠️ Not a valid topic (1–64 characters, at least one word): {shown}")
    return "\n".join(lines) or USAGE


async def topics_listing(
    context: BotContext, chat_id: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The chat's topics, each with a remove button."""
    subs = await context.services.chats.list_topics(chat_id)
    if not subs:
        return "You follow no topics yet. " + USAGE, None
    lines = [f"📌 <b>Topics ({len(subs)})</b> — tap one to remove it:"]
    buttons = [
        [
            InlineKeyboardButton(
                f"✖ {display_topic(s.topic)[:60]}", callback_data=_topic_key(s.topic)
            )
        ]
        for s in subs[:90]
    ]
    lines.append("Add more: <code>/topic add lithium</code>")
    return "\n".join(lines), InlineKeyboardMarkup(buttons)


async def _channel_target(update: Update, context: BotContext, name: str) -> ChatFullInfo | None:
    """Resolve '@channel' for a private-chat user who is admin there, with the bot admin too."""
    bot = context.bot
    user = update.effective_user
    try:
        target = await bot.get_chat(name)
    except TelegramError:
        await reply(update, f"I can't find {escape(name)}. Add me to it as an admin first.")
        return None
    if target.type not in (ChatType.CHANNEL, ChatType.GROUP, ChatType.SUPERGROUP):
        await reply(update, f"{escape(name)} is not a channel or group.")
        return None
    admins = context.services.admins
    user_ok = user is not None and await admins.is_admin(bot, target.id, user.id)
    if not user_ok:
        await reply(update, f"Only admins of {escape(name)} can change its topics.")
        return None
    try:
        me = await bot.get_chat_member(target.id, bot.id)
        bot_ok = me.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)
    except TelegramError:
        bot_ok = False
    if not bot_ok:
        await reply(update, f"Make me an admin of {escape(name)} first, so I can post there.")
        return None
    await remember_chat(context, target)
    await context.services.chats.resume(target.id)
    return target


async def cmd_topic(update: Update, context: BotContext) -> None:
    """List, add, remove or clear topics."""
    message = update.effective_message
    if message is None:
        return
    services = context.services
    args = command_args(update)
    words = args.split(maxsplit=1)
    chat = await register_chat(update, context)
    chat_id = chat.id
    where = ""
    if words and words[0].startswith("@") and chat.kind == ChatKind.PRIVATE:
        target = await _channel_target(update, context, words[0])
        if target is None:
            return
        chat_id = target.id
        where = f" for {escape(words[0])}"
        args = words[1] if len(words) > 1 else ""
        words = args.split(maxsplit=1)
    verb = words[0].lower() if words else ""
    rest = words[1] if len(words) > 1 else ""
    if verb in ("", "list"):
        text, markup = await topics_listing(context, chat_id)
        await reply(update, text, markup=markup)
        return
    if verb not in ("add", "remove", "rm", "del", "delete", "clear"):
        await reply(update, f"Did you mean <code>/topic add {escape(args[:64])}</code>?\n{USAGE}")
        return
    if not where and not await services.admins.may_manage(context.bot, message):
        await reply(update, NOT_ADMIN)
        return
    if verb == "clear":
        count = await services.chats.clear_topics(chat_id)
        await reply(update, f"🗑 Removed {count} topic(s){where}.")
        return
    if not rest.strip():
        await reply(update, USAGE)
        return
    if verb == "add":
        change = await services.chats.add_topics(chat_id, rest, thread_id=thread_of(message))
        text = describe_change(change, verb="Following", max_topics=services.chats.max_topics)
        if change.done and not chat.active and not where:
            text += "\nPushes are paused here; /start resumes them."
    else:
        change = await services.chats.remove_topics(chat_id, rest)
        text = describe_change(change, verb="Removed", max_topics=services.chats.max_topics)
    await reply(update, text + (where if change.done and where else ""))


async def on_topic_button(update: Update, context: BotContext) -> None:
    """A topic button: '+' subscribes (suggestions), '-' removes (listing)."""
    query = update.callback_query
    if query is None or query.data is None or query.message is None:
        return
    message = query.message
    chat_id = message.chat.id
    services = context.services
    allowed = message.chat.type in (ChatType.PRIVATE, ChatType.CHANNEL) or (
        await services.admins.is_admin(context.bot, chat_id, query.from_user.id)
    )
    if not allowed:
        await query.answer("Only admins can change this chat's topics.", show_alert=True)
        return
    data = query.data
    if data.startswith("t+:"):
        await register_chat(update, context)  # a button may outlive what we knew of the chat
        change = await services.chats.add_topics(chat_id, data[3:], thread_id=None)
        note = "Following " + data[3:] if change.done else "Already following " + data[3:]
        await query.answer(note[:200])
        return
    subs = await services.chats.list_topics(chat_id)
    topic = next((s.topic for s in subs if _topic_key(s.topic) == data), None)
    if topic is not None:
        await services.chats.remove_topics(chat_id, topic)
    await query.answer(f"Removed {display_topic(topic)}"[:200] if topic else "Already removed")
    text, markup = await topics_listing(context, chat_id)
    if not message.is_accessible:
        return
    try:
        await context.bot.edit_message_text(
            text, chat_id=chat_id, message_id=message.message_id, reply_markup=markup
        )
    except BadRequest as exc:  # a second tap on a button already handled
        if "not modified" not in exc.message.lower():
            raise
