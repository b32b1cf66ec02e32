"""/topic: list, add, remove and clear a chat's topics (also a channel's, from private)."""

from __future__ import annotations

import hashlib
import html
import time

from telegram import ChatFullInfo, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import BadRequest, TelegramError

from bot.chats import Conflict, TopicChange
from bot.context import BotContext
from bot.formatting import escape, safe_url, truncate
from bot.language import language_of
from bot.matching import suggest_topics, topic_of_key
from bot.query import Refusal, Topic, parse_topic, parse_topic_list
from handlers.common import command_args, register_chat, remember_chat, reply, thread_of
from storage.models import ChatKind

USAGE = (
    "Usage: <code>/topic add bolivia, south africa</code> · "
    "<code>/topic try lithium + chile</code> · <code>/topic remove bolivia</code> · "
    "<code>/topic clear</code> · <code>/topic</code> lists them"
)
NOT_ADMIN = "Only this group's admins can change its topics. /latest and /search work for everyone."
PREVIEW_DAYS = 7
RELATED_DAYS = 30
PREVIEWS = 3  # topics previewed after one /topic add


def _topic_key(topic: str) -> str:
    """Callback data for a remove button (the topic itself when it fits in 64 bytes)."""
    data = f"t-:{topic}"
    if len(data.encode()) <= 64:
        return data
    return "t-#" + hashlib.sha1(topic.encode()).hexdigest()[:16]  # noqa: S324 (a key, not security)


def shown_topic(key: str, display: str = "") -> str:
    """A topic as the reader typed it (key or display text); a mute as "🔇 israel"."""
    text = display or key
    if key[:1] in _DASHES:
        return "🔇 " + text.lstrip(_DASHES).lstrip()
    return text


_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2212"


def _names(topics: list[str]) -> str:
    return ", ".join(f"<b>{escape(shown_topic(t))}</b>" for t in topics)


def _switch_button(conflict: Conflict) -> InlineKeyboardButton | None:
    data = f"t+#{conflict.topic.key}"
    if len(data.encode()) > 64:
        return None
    label = "Mute" if conflict.topic.mute else "Follow"
    return InlineKeyboardButton(
        f"↔ {label} {shown_topic(conflict.topic.key, conflict.topic.display)}"[:60],
        callback_data=data,
    )


def describe_change(
    change: TopicChange, *, verb: str, max_topics: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    """One short reply listing what changed and what did not, with a button per conflict."""
    lines = []
    if change.done:
        lines.append(f"✅ {verb}: {_names(change.done)}")
    if change.unchanged:
        state = "Already following" if verb == "Following" else "Not in your topics"
        lines.append(f"{state}: {_names(change.unchanged)}")
    if change.refused:
        lines.append(f"⚠️ Limit of {max_topics} topics reached; not added: {_names(change.refused)}")
    for message in change.invalid[:5]:
        lines.append(f"⚠️ {escape(message)}")
    buttons = []
    for conflict in change.conflicts:
        other = conflict.existing
        lines.append(
            f"⚠️ <b>{escape(shown_topic(conflict.topic.key, conflict.topic.display))}</b>"
            f" contradicts <b>{escape(shown_topic(other))}</b>, which you have: a topic and"
            " its mute can't both hold. Switch with the button."
        )
        button = _switch_button(conflict)
        if button is not None:
            buttons.append([button])
    markup = InlineKeyboardMarkup(buttons) if buttons else None
    return "\n".join(lines) or USAGE, markup


def reader_language(update: Update, context: BotContext) -> str:
    """The reader's language (their Telegram client's), else DEFAULT_LANGUAGE."""
    user = update.effective_user
    default = context.services.settings.default_language
    return language_of(user.language_code if user else None, default)


async def preview(context: BotContext, topic: Topic) -> str:
    """How many headlines of the last week a topic would have matched, and the newest."""
    repo = context.services.headlines
    since = time.time() - PREVIEW_DAYS * 86400
    count, newest = await repo.preview(await repo.topic_match(topic), since=since, limit=3)
    name = escape(shown_topic(topic.key, topic.display))
    if count == 0:
        return f"🔎 <b>{name}</b> matched no headline in the last {PREVIEW_DAYS} days."
    noun = "headline" if count == 1 else "headlines"
    lines = [f"🔎 <b>{name}</b> matched {count} {noun} in the last {PREVIEW_DAYS} days. Newest:"]
    for h in newest:
        title = escape(truncate(" ".join(h.title.split()), 120))
        url = safe_url(h.link)
        lines.append(
            f'• <a href="{html.escape(url, quote=True)}">{title}</a>' if url else f"• {title}"
        )
    return "\n".join(lines)


async def related_keyboard(context: BotContext, keys: list[str]) -> InlineKeyboardMarkup | None:
    """Buttons for names that co-occur with the chat's topics in the last 30 days."""
    repo = context.services.headlines
    followed = [k for k in keys if not k.startswith("-")]
    topics = [t for k in followed[:10] if (t := topic_of_key(k)) is not None]
    if not topics:
        return None
    match = " OR ".join([f"({await repo.topic_match(t)})" for t in topics])
    texts = await repo.recent_texts(since=time.time() - RELATED_DAYS * 86400, match=match)
    labels = suggest_topics(texts, n=4, exclude=keys, min_count=2)
    buttons = []
    for label in labels:
        parsed = parse_topic(label)
        if not isinstance(parsed, Refusal) and len(f"t+:{parsed.key}".encode()) <= 64:
            buttons.append(InlineKeyboardButton(f"➕ {label}", callback_data=f"t+:{parsed.key}"))
    if not buttons:
        return None
    return InlineKeyboardMarkup([buttons[i : i + 2] for i in range(0, len(buttons), 2)])


async def topics_listing(
    context: BotContext, chat_id: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The chat's topics, each with a remove button, and related names to add."""
    subs = await context.services.chats.list_topics(chat_id)
    if not subs:
        return "You follow no topics yet. " + USAGE, None
    lines = [f"📌 <b>Topics ({len(subs)})</b> — tap one to remove it:"]
    buttons = [
        [
            InlineKeyboardButton(
                f"✖ {shown_topic(s.topic, s.display)[:60]}", callback_data=_topic_key(s.topic)
            )
        ]
        for s in subs[:90]
    ]
    related = await related_keyboard(context, [s.topic for s in subs])
    if related is not None:
        lines.append("Related: tap ➕ to follow.")
        buttons.extend(list(row) for row in related.inline_keyboard)
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
    if verb == "try":
        await reply(update, await _try(update, context, rest))
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
    max_topics = services.chats.max_topics
    if verb == "add":
        change = await services.chats.add_topics(
            chat_id,
            rest,
            thread_id=thread_of(message),
            language=reader_language(update, context),
        )
        text, markup = describe_change(change, verb="Following", max_topics=max_topics)
        if change.done and not chat.active and not where:
            text += "\nPushes are paused here; /start resumes them."
        for topic in change.added[:PREVIEWS]:
            text += "\n\n" + await preview(context, topic)
    else:
        change = await services.chats.remove_topics(chat_id, rest)
        text, markup = describe_change(change, verb="Removed", max_topics=max_topics)
    await reply(update, text + (where if change.done and where else ""), markup=markup)


async def _try(update: Update, context: BotContext, text: str) -> str:
    """/topic try X: the preview of topics, without following them."""
    topics, refusals = parse_topic_list(text, language=reader_language(update, context))
    if not topics and not refusals:
        return "Try a topic before following it: <code>/topic try lithium + chile</code>."
    parts = [f"⚠️ {escape(r.message)}" for r in refusals[:5]]
    parts.extend([await preview(context, t) for t in topics[:PREVIEWS]])
    if topics:
        parts.append(f"Follow it with <code>/topic add {escape(topics[0].display)}</code>.")
    return "\n\n".join(parts)


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
    if data.startswith("t+#"):  # switch: this topic (or mute) in place of its opposite
        await register_chat(update, context)
        change = await services.chats.switch_topic(chat_id, data[3:])
        shown = shown_topic(data[3:])
        await query.answer(
            ("Now: " + shown if change.done or change.unchanged else "Not changed")[:200]
        )
        return
    if data.startswith("t+:"):
        await register_chat(update, context)  # a button may outlive what we knew of the chat
        change = await services.chats.add_topics(chat_id, data[3:], thread_id=None)
        if change.conflicts:
            note = f"{data[3:]} contradicts one of your topics: /topic lists them"
        elif change.done:
            note = "Following " + data[3:]
        else:
            note = "Already following " + data[3:]
        await query.answer(note[:200])
        return
    subs = await services.chats.list_topics(chat_id)
    sub = next((s for s in subs if _topic_key(s.topic) == data), None)
    if sub is not None:
        await services.chats.remove_topics(chat_id, sub.topic)
    await query.answer(
        f"Removed {shown_topic(sub.topic, sub.display)}"[:200] if sub else "Already removed"
    )
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
