"""/start, /help, /stop and the hint for unknown commands."""

from __future__ import annotations

import time
from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType

from bot.context import BotContext
from bot.formatting import escape
from bot.routing import suggest_topics
from bot.text.i18n import N_, Translator
from bot.text.query import Refusal, parse_topic
from handlers.common import button_label, chat_translator, register_chat, reply

HELP = N_("""<b>Headline Bot</b> follows the news digest for you.

<b>Topics</b> (words or phrases; new headlines that mention them are pushed here)
/topic — your topics, each with a remove button
/topic add bolivia, south africa — follow topics
/topic add lithium + chile — both, anywhere; lithium -mining — not with mining
/topic add "bolivian" — that exact word; plain words also match their forms
/topic add -israel — mute: never push headlines that mention it
/topic add from:popular-resistance — every headline of one feed; bolivia from:… — a topic in it
/topic add * — every headline of every feed; -from:… — mute a feed
/sources — the feeds, each with its from: handle and a button to follow it
/topic try lithium — what it would have matched this week
/topic remove bolivia — stop following; /topic clear removes all

<b>Reading</b>
/latest — the 5 newest headlines; /latest 10 — the 10 newest
/latest bolivia — the newest on a topic
/search lithium — search the archive ("quoted phrases", prefix*, a OR b, -word)
In any chat: type @ and my name, then words, to share a headline

<b>Pushes</b>
/stop — pause pushes (your topics are kept)
/start — resume pushes
/help — this list""")

SETTINGS_HELP = N_("""<b>Settings</b>
/settings — this chat's settings, with buttons to change them
/digest 08:00 — matching headlines together at set times (up to four; /digest off)
/timezone America/La_Paz — the zone of digests and quiet hours (or UTC, -4)
/quiet 22:00-07:00 — hold pushes at night, sent when it ends (/quiet off)
/language es — reply in Spanish (/language en: English)
/format compact — linked titles only (/format full: with summaries)
/format post — each headline its own post, with its picture (channels)
/previews off — no link previews (/previews on)
/pictures off — posts without their pictures (/pictures on)
/template — the shape of each post, with placeholders (/template reset)

<b>Your data</b>
/export — everything I hold about this chat, as a file
/forget — delete all of it (after a confirmation)""")

ADMIN_HELP = N_("""<b>Admins</b>
/broadcast Hello everyone — an announcement to every subscriber
/broadcast groups … — only to groups (also: users, channels, all)
Reply to any message with /broadcast to send that message
/stats — chats, topics, feeds, delivery
/feeds — every feed with its health; /feeds add URL [name], remove, pause, resume N
/feeds handle N new-name — rename a feed's from: handle (its topics follow it)
/feeds export — the feeds as OPML; an OPML file captioned /feeds import adds its feeds""")

CHANNEL_HELP = N_("""<b>Channels</b>: post /topic add lithium in the channel, or send me
/topic @yourchannel add lithium in private (you and I must both be admins there).""")


def help_text(t: Translator, *, private: bool, admin: bool) -> str:
    """/help: every command with an example; channels and the admins' part in private."""
    parts = [t._(HELP), t._(SETTINGS_HELP)]
    if private:
        parts.append(t._(CHANNEL_HELP))
        if admin:
            parts.append(t._(ADMIN_HELP))
    return "\n\n".join(parts)


SUGGESTION_DAYS = 7


def suggestion_keyboard(
    texts: Sequence[str], *, exclude: Sequence[str] = ()
) -> InlineKeyboardMarkup | None:
    """Buttons that subscribe to names recurring in recent headlines (never one in exclude)."""
    buttons = []
    for label in suggest_topics(texts, n=6, exclude=exclude, min_count=2):
        topic = parse_topic(label)
        if isinstance(topic, Refusal):
            continue
        if len(f"t+:{topic.key}".encode()) <= 64:
            buttons.append(
                InlineKeyboardButton(button_label(f"➕ {label}"), callback_data=f"t+:{topic.key}")
            )
    if not buttons:
        return None
    rows = [buttons[i : i + 3] for i in range(0, len(buttons), 3)]
    return InlineKeyboardMarkup(rows)


async def cmd_start(update: Update, context: BotContext) -> None:
    """Register (or resume) the chat and show how to subscribe."""
    services = context.services
    chat = await register_chat(update, context)
    t = await chat_translator(update, context)
    resumed = await services.chats.resume(chat.id) and not chat.active
    subs = await services.chats.list_topics(chat.id)
    followed = [s for s in subs if not s.topic.startswith("-")]
    if subs:
        if followed:
            shown = ", ".join(escape(s.shown) for s in followed[:20])
        else:
            shown = escape(t._("no topic, only mutes"))
        text = t._("👋 Pushes are on. You follow: <b>{topics}</b>").format(topics=shown)
        if len(followed) > 20:
            text += t._(" and {n} more").format(n=t.format_number(len(followed) - 20))
        text += ".\n\n" + t._(
            "Add more with /topic add &lt;topic&gt;, see the news with /latest, /help for all."
        )
    else:
        text = t._(
            "👋 <b>Welcome to Headline Bot.</b>\n\n"
            "I read the news digest and push every new headline that mentions your topics, "
            "once, as soon as it appears.\n\n"
            "Follow a topic: <code>/topic add bolivia</code> (several: "
            "<code>/topic add lithium, south africa</code>; both words: "
            "<code>/topic add lithium + chile</code>).\n"
            "Try one first: <code>/topic try lithium</code>.\n"
            "Read now: /latest, or search the archive: <code>/search lithium</code>.\n"
            "/help lists every command."
        )
    if resumed:  # after /stop: say so, whatever else the greeting says
        text = escape(t._("▶️ Pushes resumed.")) + "\n" + text
    # summaries are in sentence case, which tells names from other words
    texts = await services.headlines.recent_texts(since=time.time() - SUGGESTION_DAYS * 86400)
    markup = suggestion_keyboard(texts, exclude=[s.topic for s in subs])
    if markup is not None:
        text += "\n\n" + escape(t._("Names in this week's headlines:"))
    await reply(update, text, markup=markup)


async def cmd_help(update: Update, context: BotContext) -> None:
    """Every command with an example."""
    user = update.effective_user
    chat = update.effective_chat
    private = chat is not None and chat.type == ChatType.PRIVATE
    admin = private and user is not None and context.services.is_admin(user.id)
    t = await chat_translator(update, context)
    await reply(update, help_text(t, private=private, admin=admin))


async def cmd_stop(update: Update, context: BotContext) -> None:
    """Pause pushes; topics are kept. A second /stop says they are paused already."""
    chat = await register_chat(update, context)
    t = await chat_translator(update, context)
    if await context.services.chats.pause(chat.id):
        text = t._(
            "⏸ Pushes paused. Your topics are kept; /start resumes. /latest and /search still work."
        )
    else:
        text = t._("Pushes were already paused. /start resumes them.")
    await reply(update, escape(text))
