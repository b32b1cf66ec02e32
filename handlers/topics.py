"""/topic: list, add, remove and clear a chat's topics (also a channel's, from private)."""

from __future__ import annotations

import hashlib
import html
import time

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.chats.service import Conflict, TopicChange
from bot.chats.topics import ChannelRefusal, Verb, parse_topic_command, resolve_channel
from bot.context import BotContext
from bot.formatting import escape, safe_url, truncate
from bot.routing import suggest_topics, topic_of_key
from bot.text.i18n import N_, Translator, translator
from bot.text.language import language_of
from bot.text.query import (
    DASHES,
    SOURCE_PREFIX,
    Refusal,
    Topic,
    is_mute_text,
    parse_topic,
    parse_topic_list,
)
from handlers.common import (
    button_label,
    chat_translator,
    command_args,
    edit_in_place,
    register_chat,
    reply,
    thread_of,
)
from handlers.sources import handles_note
from storage.models import ChatKind

USAGE = N_(
    "Usage: <code>/topic add bolivia, south africa</code> · "
    "<code>/topic try lithium + chile</code> · <code>/topic remove bolivia</code> · "
    "<code>/topic clear</code> · <code>/topic</code> lists them"
)
NOT_ADMIN = N_(
    "Only this group's admins can change its topics. /latest and /search work for everyone."
)
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
    if is_mute_text(key):
        return "🔇 " + text.lstrip(DASHES).lstrip()
    return text


def _names(topics: list[str]) -> str:
    # a topic is at most a few hundred characters, but a remove may name anything typed
    return ", ".join(f"<b>{escape(truncate(shown_topic(t), 100))}</b>" for t in topics[:50])


def _switch_button(
    conflict: Conflict, t: Translator, change: TopicChange
) -> InlineKeyboardButton | None:
    data = f"t+#{conflict.topic.key}"
    if len(data.encode()) > 64:
        return None
    shown = change.shown(shown_topic(conflict.topic.key, conflict.topic.display))
    label = t._("↔ Mute {topic}") if conflict.topic.mute else t._("↔ Follow {topic}")
    return InlineKeyboardButton(button_label(label.format(topic=shown)), callback_data=data)


def describe_change(
    change: TopicChange,
    *,
    verb: str,
    max_topics: int,
    t: Translator | None = None,
) -> tuple[str, InlineKeyboardMarkup | None]:
    """One short reply listing what changed and what did not, with a button per conflict.

    `verb` is "Following" (an add) or "Removed". Over the limit, what fits is kept and the
    reply names the topics left out.
    """
    t = t or translator(None)
    adding = verb == "Following"
    lines = []
    if change.done:
        done = t._("✅ Following: {topics}") if adding else t._("✅ Removed: {topics}")
        lines.append(done.format(topics=_names(change.done)))
    if change.unchanged:
        state = (
            t._("Already following: {topics}") if adding else t._("Not in your topics: {topics}")
        )
        lines.append(state.format(topics=_names(change.unchanged)))
    if change.refused:
        left_out = t.ngettext(
            "⚠️ A chat may follow {max} topics, so this one was left out: {topics}. "
            "Make room with /topic remove.",
            "⚠️ A chat may follow {max} topics, so these were left out: {topics}. "
            "Make room with /topic remove.",
            len(change.refused),
        )
        lines.append(
            left_out.format(max=t.format_number(max_topics), topics=_names(change.refused))
        )
    refusals = change.refusals or []
    messages = [r.describe(t) for r in refusals] if refusals else list(change.invalid)
    for message in messages[:5]:
        lines.append(f"⚠️ {escape(message)}")
    if change.known_sources:
        lines.append(handles_note(t, change.known_sources))
    buttons = []
    for conflict in change.conflicts:
        other = conflict.existing
        contradiction = t._(
            "⚠️ <b>{topic}</b> contradicts <b>{other}</b>, which you have: a topic and "
            "its mute can't both hold. Switch with the button."
        )
        lines.append(
            contradiction.format(
                topic=escape(change.shown(shown_topic(conflict.topic.key, conflict.topic.display))),
                other=escape(change.shown(shown_topic(other))),
            )
        )
        button = _switch_button(conflict, t, change)
        if button is not None:
            buttons.append([button])
    markup = InlineKeyboardMarkup(buttons) if buttons else None
    return "\n".join(lines) or t._(USAGE), markup


def reader_language(update: Update, context: BotContext) -> str:
    """The reader's language (their Telegram client's), else DEFAULT_LANGUAGE."""
    user = update.effective_user
    default = context.services.settings.default_language
    return language_of(user.language_code if user else None, default)


async def preview(
    context: BotContext, topic: Topic, t: Translator | None = None, *, name: str | None = None
) -> str:
    """How many headlines of the last week a topic would have matched, and the newest.

    The topic's feeds come by id (`from:#12`); name is how to call it (as typed, with its
    feeds' handles), else its display text.
    """
    t = t or translator(None)
    repo = context.services.headlines
    since = time.time() - PREVIEW_DAYS * 86400
    count, newest = await repo.preview(topic, since=since, limit=3)
    name = escape(name or shown_topic(topic.key, topic.display))
    if count == 0:
        return t._("🔎 <b>{topic}</b> matched no headline in the last {days} days.").format(
            topic=name, days=PREVIEW_DAYS
        )
    matched = t.ngettext(
        "🔎 <b>{topic}</b> matched {n} headline in the last {days} days. Newest:",
        "🔎 <b>{topic}</b> matched {n} headlines in the last {days} days. Newest:",
        count,
    )
    lines = [matched.format(topic=name, n=t.format_number(count), days=PREVIEW_DAYS)]
    for h in newest:
        title = escape(truncate(" ".join(h.title.split()), 120))
        url = safe_url(h.link)
        lines.append(
            f'• <a href="{html.escape(url, quote=True)}">{title}</a>' if url else f"• {title}"
        )
    return "\n".join(lines)


async def related_keyboard(context: BotContext, keys: list[str]) -> InlineKeyboardMarkup | None:
    """Buttons for names that co-occur with the chat's topics in the last 30 days."""
    followed = [k for k in keys if not k.startswith("-")]
    # names co-occur with words: `*` and a feed alone (`from:`) have none to go by
    topics = [
        t for k in followed[:10] if (t := topic_of_key(k)) is not None and t.parts and not t.sources
    ]
    if not topics:
        return None
    since = time.time() - RELATED_DAYS * 86400
    texts = await context.services.headlines.recent_texts(since=since, topics=topics)
    labels = suggest_topics(texts, n=4, exclude=keys, min_count=2)
    buttons = []
    for label in labels:
        parsed = parse_topic(label)
        if not isinstance(parsed, Refusal) and len(f"t+:{parsed.key}".encode()) <= 64:
            buttons.append(
                InlineKeyboardButton(button_label(f"➕ {label}"), callback_data=f"t+:{parsed.key}")
            )
    if not buttons:
        return None
    return InlineKeyboardMarkup([buttons[i : i + 2] for i in range(0, len(buttons), 2)])


async def topics_listing(
    context: BotContext, chat_id: int, t: Translator | None = None
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The chat's topics, each with a remove button, and related names to add."""
    t = t or translator(None)
    subs = await context.services.chats.list_topics(chat_id)
    if not subs:
        return escape(t._("You follow no topics yet.")) + " " + t._(USAGE), None
    lines = [
        t._("📌 <b>Topics ({n})</b> — tap one to remove it:").format(n=t.format_number(len(subs)))
    ]
    gone: list[str] = []  # topics whose feeds are all removed: they match nothing
    if any(SOURCE_PREFIX in s.topic for s in subs):
        book = await context.services.chats.sources()
        gone = [
            s.topic for s in subs if (p := topic_of_key(s.topic)) is not None and book.removed_in(p)
        ]
    removed = t._("(feed removed)")
    buttons = [
        [
            InlineKeyboardButton(
                button_label(
                    f"✖ {shown_topic(s.topic, s.display)}"
                    + (f" {removed}" if s.topic in gone else "")
                ),
                callback_data=_topic_key(s.topic),
            )
        ]
        for s in subs[:90]
    ]
    if gone:
        lines.append(
            escape(
                t._(
                    "Topics marked “(feed removed)” name feeds no longer read: they match "
                    "nothing until the feed is added back."
                )
            )
        )
    related = await related_keyboard(context, [s.topic for s in subs])
    if related is not None:
        lines.append(escape(t._("Related: tap ➕ to follow.")))
        buttons.extend(list(row) for row in related.inline_keyboard)
    lines.append(t._("Add more: <code>/topic add lithium</code>"))
    return "\n".join(lines), InlineKeyboardMarkup(buttons)


# What the reader is told when a `@channel` cannot be managed from here.
CHANNEL_REFUSALS = {
    ChannelRefusal.NOT_FOUND: N_("I can't find {name}. Add me to it as an admin first."),
    ChannelRefusal.NOT_A_CHANNEL: N_("{name} is not a channel or group."),
    ChannelRefusal.NOT_ADMIN: N_("Only admins of {name} can change its topics."),
    ChannelRefusal.BOT_NOT_ADMIN: N_("Make me an admin of {name} first, so I can post there."),
}


async def cmd_topic(update: Update, context: BotContext) -> None:
    """List, add, remove or clear topics."""
    message = update.effective_message
    if message is None:
        return
    services = context.services
    chat = await register_chat(update, context)
    t = await chat_translator(update, context)
    command = parse_topic_command(command_args(update), private=chat.kind == ChatKind.PRIVATE)
    chat_id = chat.id
    where = ""
    if command.channel is not None:
        user = update.effective_user
        target = await resolve_channel(
            context.bot,
            services.admins,
            services.chats,
            command.channel,
            user.id if user else None,
        )
        if isinstance(target, ChannelRefusal):
            refused = t._(CHANNEL_REFUSALS[target]).format(name=escape(command.channel))
            await reply(update, refused)
            return
        chat_id = target.id
        where = " " + t._("(for {channel})").format(channel=escape(command.channel))
    verb, rest = command.verb, command.rest
    if verb is Verb.LIST:
        text, markup = await topics_listing(context, chat_id, t)
        await reply(update, text, markup=markup)
        return
    if verb is Verb.TRY:
        await reply(update, await _try(update, context, rest, t))
        return
    if verb is Verb.UNKNOWN:
        guess = t._("Did you mean <code>/topic add {topics}</code>?").format(
            topics=escape(command.args[:64])
        )
        await reply(update, f"{guess}\n{t._(USAGE)}")
        return
    if not where and not await services.admins.may_manage(context.bot, message):
        await reply(update, escape(t._(NOT_ADMIN)))
        return
    if verb is Verb.CLEAR:
        count = await services.chats.clear_topics(chat_id)
        if count:
            cleared = t.ngettext("🗑 Removed {n} topic.", "🗑 Removed {n} topics.", count)
            text = cleared.format(n=t.format_number(count))
        else:
            text = t._("🗑 No topics to remove.")
        await reply(update, text + where)
        return
    if not rest.strip():
        await reply(update, t._(USAGE))
        return
    max_topics = services.chats.max_topics
    if verb is Verb.ADD:
        change = await services.chats.add_topics(
            chat_id,
            rest,
            thread_id=thread_of(message),
            language=reader_language(update, context),
        )
        text, markup = describe_change(change, verb="Following", max_topics=max_topics, t=t)
        if change.done and not chat.active and not where:
            text += "\n" + escape(t._("Pushes are paused here; /start resumes them."))
        for topic in change.added[:PREVIEWS]:
            name = change.shown(shown_topic(topic.key, topic.display))
            text += "\n\n" + await preview(context, topic, t, name=name)
    else:
        change = await services.chats.remove_topics(chat_id, rest)
        text, markup = describe_change(change, verb="Removed", max_topics=max_topics, t=t)
    await reply(update, text + (where if change.done and where else ""), markup=markup)


async def _try(update: Update, context: BotContext, text: str, t: Translator) -> str:
    """/topic try X: the preview of topics, without following them."""
    topics, refusals = parse_topic_list(text, language=reader_language(update, context))
    if not topics and not refusals:
        return t._("Try a topic before following it: <code>/topic try lithium + chile</code>.")
    book = await context.services.chats.sources() if any(p.sources for p in topics) else None
    resolved: list[Topic] = []
    unknown = False
    for topic in topics:
        found = book.resolve(topic) if book is not None else topic
        if isinstance(found, Refusal):
            refusals.append(found)
            unknown = True
        else:
            resolved.append(found)
    parts = [f"⚠️ {escape(r.describe(t))}" for r in refusals[:5]]
    if unknown and book is not None:
        parts.append(handles_note(t, book.handles()))
    for topic in resolved[:PREVIEWS]:
        name = book.show(topic.display) if book else None
        parts.append(await preview(context, topic, t, name=name))
    if resolved:
        follow = t._("Follow it with <code>/topic add {topic}</code>.")
        shown = book.show(resolved[0].display) if book else resolved[0].display
        parts.append(follow.format(topic=escape(shown)))
    return "\n\n".join(parts)


async def on_topic_button(update: Update, context: BotContext) -> None:
    """A topic button: '+' subscribes (suggestions), '-' removes (listing)."""
    query = update.callback_query
    if query is None or query.data is None or query.message is None:
        return
    message = query.message
    chat_id = message.chat.id
    services = context.services
    t = await chat_translator(update, context)
    # readers of a channel can press its buttons too: only the chat's admins may change it
    allowed = await services.admins.may_press(
        context.bot, chat_id, message.chat.type, query.from_user.id
    )
    if not allowed:
        await query.answer(t._("Only admins can change this chat's topics."), show_alert=True)
        return
    data = query.data
    if data.startswith("t+#"):  # switch: this topic (or mute) in place of its opposite
        await register_chat(update, context)
        change = await services.chats.switch_topic(chat_id, data[3:])
        shown = shown_topic(data[3:])
        if SOURCE_PREFIX in shown:
            shown = (await services.chats.sources()).show(shown)
        if change.done or change.unchanged:
            note = t._("Now: {topic}").format(topic=shown)
        else:
            note = t._("Not changed")
        await query.answer(note[:200])
        return
    if data.startswith("t+:"):
        await register_chat(update, context)  # a button may outlive what we knew of the chat
        change = await services.chats.add_topics(chat_id, data[3:], thread_id=None)
        if change.conflicts:
            note = t._("{topic} contradicts one of your topics: /topic lists them")
        elif change.done:
            note = t._("Following {topic}")
        elif change.refused:
            note = t._("{topic} was left out: this chat follows as many topics as it may")
        elif change.unchanged:
            note = t._("Already following {topic}")
        else:  # a feed that is gone: the reason
            reason = change.refusals[0].describe(t) if change.refusals else t._("Not changed")
            await query.answer(reason[:200])
            return
        await query.answer(note.format(topic=change.shown(data[3:]))[:200])
        return
    subs = await services.chats.list_topics(chat_id)
    sub = next((s for s in subs if _topic_key(s.topic) == data), None)
    if sub is not None:
        await services.chats.remove_topics(chat_id, sub.topic)
        note = t._("Removed {topic}").format(topic=shown_topic(sub.topic, sub.display))
    else:
        note = t._("Already removed")
    await query.answer(note[:200])
    text, markup = await topics_listing(context, chat_id, t)
    if not message.is_accessible:
        return
    await edit_in_place(context, message, text, markup=markup)
