"""/sources (anyone, any chat): every feed with its handle, `from:HANDLE` ready to copy, its
headlines in the last 24 hours, and a button that follows it whole.

The button is a topic button (`t+:from:#12`, handlers/topics.py): it adds the feed for the
chat where it is pressed, by the feed's id (a renamed handle keeps it), and in groups and
channels only for the chat's admins, as /topic add.
"""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.context import BotContext
from bot.formatting import escape, split_messages, truncate
from bot.text.i18n import Translator
from bot.text.query import SOURCE_PREFIX
from handlers.common import button_label, chat_translator, reply

MAX_BUTTONS = 90  # Telegram takes about 100 buttons a message
MAX_HANDLES_SHOWN = 40  # in a refusal that names the handles


def handles_note(t: Translator, handles: Sequence[str]) -> str:
    """The handles a reader may name, as `from:HANDLE` ready to copy (HTML)."""
    if not handles:
        return escape(t._("There are no feeds to name yet."))
    shown = ", ".join(
        f"<code>{escape(SOURCE_PREFIX + h)}</code>" for h in handles[:MAX_HANDLES_SHOWN]
    )
    if len(handles) > MAX_HANDLES_SHOWN:
        shown += " …"
    return t._("Feeds you can name: {handles} (/sources lists them).").format(handles=shown)


async def cmd_sources(update: Update, context: BotContext) -> None:
    """List every active feed with its handle, its last 24 hours and a follow button."""
    t = await chat_translator(update, context)
    health = [h for h in await context.services.feed_admin.health() if not h.feed.paused]
    if not health:
        await reply(update, escape(t._("No feeds yet.")))
        return
    blocks = []
    buttons = []
    for item in health:
        feed = item.feed
        name = escape(truncate(feed.label, 80))
        recent = t.ngettext("{n} headline in 24 h", "{n} headlines in 24 h", item.new_recent)
        blocks.append(
            f"• <b>{name}</b>\n<code>{escape(SOURCE_PREFIX + feed.handle)}</code> · "
            + escape(recent.format(n=t.format_number(item.new_recent)))
        )
        label = button_label(t._("➕ Follow {feed}").format(feed=truncate(feed.label, 40)))
        buttons.append([InlineKeyboardButton(label, callback_data=f"t+:from:#{feed.id}")])
    header = t._("📡 <b>Sources</b> ({n})").format(n=t.format_number(len(health)))
    example = escape(SOURCE_PREFIX + health[0].feed.handle)
    footer = t._(
        "Follow a feed whole with its button, or a topic in it: "
        "<code>/topic add bolivia {source}</code>. <code>/topic add *</code> follows every "
        "headline; <code>/topic add -{source}</code> mutes a feed."
    ).format(source=example)
    texts = split_messages(blocks, header=header, footer=footer)
    markup = InlineKeyboardMarkup(buttons) if len(buttons) <= MAX_BUTTONS else None
    for i, text in enumerate(texts):
        await reply(update, text, markup=markup if i == len(texts) - 1 else None)
