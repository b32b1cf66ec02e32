"""/feeds (bot admins only): the feeds and their health, add, remove, pause, resume, OPML.

An OPML file comes as a document: its caption `/feeds import` is not a command to
CommandHandler, so a MessageHandler takes documents with that caption; `/feeds import`
sent as a reply to a document works too.
"""

from __future__ import annotations

import logging
import time

from telegram import Document, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.context import BotApp, BotContext
from bot.feeds.admin import (
    render_added,
    render_change,
    render_feeds,
    render_handle,
    render_import,
)
from bot.feeds.opml import MAX_OPML_BYTES
from bot.formatting import escape, html_to_text
from bot.text.i18n import N_, Translator, translator
from handlers.common import (
    bot_admins,
    button_label,
    chat_translator,
    command_args,
    edit_in_place,
    preferences_of,
    reply,
)

log = logging.getLogger(__name__)

USAGE = N_(
    "<code>/feeds</code> lists the feeds. Then:\n"
    "<code>/feeds add URL [name]</code>\n"
    "<code>/feeds remove URL|N</code>, <code>/feeds pause URL|N</code>, "
    "<code>/feeds resume URL|N</code>\n"
    "<code>/feeds handle URL|N new-name</code> (the feed's <code>from:</code> name)\n"
    "<code>/feeds export</code> (an OPML file), and an OPML file sent with the caption "
    "<code>/feeds import</code> (or <code>/feeds import</code> as a reply to one)."
)
IMPORT_CAPTION = r"^/feeds(@\w+)?\s+import\b"
BUTTON_PATTERN = r"^f:(p|r|x):[0-9]{1,18}\Z"
MAX_BUTTON_ROWS = 40  # Telegram takes about 100 buttons a message: two a feed, plus room


async def _list_messages(
    context: BotContext, t: Translator, tz: str
) -> tuple[list[str], InlineKeyboardMarkup | None]:
    admin = context.services.feed_admin
    health = await admin.health()
    texts = render_feeds(health, configured=admin.configured, now=time.time(), t=t, tz=tz)
    if not health or len(health) > MAX_BUTTON_ROWS:
        return texts, None
    rows = []
    for number, item in enumerate(health, start=1):
        feed = item.feed
        if feed.paused:
            toggle = InlineKeyboardButton(
                button_label(t._("▶ Resume {n}").format(n=number)), callback_data=f"f:r:{feed.id}"
            )
        else:
            toggle = InlineKeyboardButton(
                button_label(t._("⏸ Pause {n}").format(n=number)), callback_data=f"f:p:{feed.id}"
            )
        row = [toggle]
        if feed.url not in admin.configured:
            remove = button_label(t._("🗑 Remove {n}").format(n=number))
            row.append(InlineKeyboardButton(remove, callback_data=f"f:x:{feed.id}"))
        rows.append(row)
    return texts, InlineKeyboardMarkup(rows)


async def cmd_feeds(update: Update, context: BotContext) -> None:
    """List the feeds, or add, remove, pause, resume, export or import them."""
    message = update.effective_message
    user = update.effective_user
    if message is None:
        return
    sub, _, rest = command_args(update).partition(" ")
    sub, rest = sub.lower(), rest.strip()
    admin = context.services.feed_admin
    settings = await preferences_of(update, context)
    t = translator(settings.language)
    if not sub:
        texts, markup = await _list_messages(context, t, settings.timezone)
        for i, text in enumerate(texts):
            await reply(update, text, markup=markup if i == len(texts) - 1 else None)
    elif sub == "add" and rest:
        url, _, name = rest.partition(" ")
        await reply(update, escape(t._("⏳ Reading the feed…")))
        result = await admin.add(url, name.strip() or None, added_by=user.id if user else None)
        await reply(update, render_added(result, t))
    elif sub == "handle" and len(rest.split()) == 2:
        ref, handle = rest.split()
        await reply(update, render_handle(await admin.set_handle(ref, handle), t))
    elif sub in ("remove", "pause", "resume") and rest:
        action = {"remove": admin.remove, "pause": admin.pause, "resume": admin.resume}[sub]
        await reply(update, render_change(await action(rest), sub, t))  # type: ignore[arg-type]
    elif sub == "export":
        data = await admin.export_opml()
        await message.reply_document(
            InputFile(data, filename="feeds.opml"),
            caption=escape(
                t._("📤 Every feed as OPML 2.0: import it into a feed reader, or back here.")
            ),
            do_quote=False,
        )
    elif sub == "import" and message.reply_to_message and message.reply_to_message.document:
        await _import(update, context, message.reply_to_message.document)
    elif sub == "import":
        await reply(
            update,
            t._(
                "Send the OPML file with the caption <code>/feeds import</code>, "
                "or reply to it with <code>/feeds import</code>."
            ),
        )
    else:
        await reply(update, t._(USAGE))


async def on_import_document(update: Update, context: BotContext) -> None:
    """A document sent with the caption /feeds import."""
    message = update.effective_message
    if message is None or message.document is None:
        return
    mention = (message.caption or "").split(maxsplit=1)[0].partition("@")[2]
    if mention and mention.lower() != (context.bot.username or "").lower():
        return  # a caption for another bot
    await _import(update, context, message.document)


async def _import(update: Update, context: BotContext, document: Document) -> None:
    t = await chat_translator(update, context)
    if document.file_size is not None and document.file_size > MAX_OPML_BYTES:
        await reply(
            update, escape(t._("❌ That file is too large for a feed list (at most 2 MB)."))
        )
        return
    user = update.effective_user
    await reply(update, escape(t._("⏳ Reading the file and each feed in it…")))
    file = await context.bot.get_file(document.file_id)
    data = bytes(await file.download_as_bytearray())
    report = await context.services.feed_admin.import_opml(data, added_by=user.id if user else None)
    log.info(
        "admin %s imported OPML: %d added, %d present, %d refused",
        user.id if user else None,
        len(report.added),
        len(report.present),
        len(report.refused),
    )
    for text in render_import(report, t):
        await reply(update, text)


async def on_feed_button(update: Update, context: BotContext) -> None:
    """Pause, resume or remove from the /feeds list, then show the list as it is now."""
    query = update.callback_query
    if query is None or query.data is None:
        return
    settings = await preferences_of(update, context)
    t = translator(settings.language)
    if not context.services.is_admin(query.from_user.id):
        log.warning("user %s pressed a feed button but is not an admin", query.from_user.id)
        await query.answer(t._("Only the bot's admins can do that."), show_alert=True)
        return
    _, action, raw_id = query.data.split(":", 2)
    admin = context.services.feed_admin
    feed = next((r for r in await admin.feeds.records() if r.id == int(raw_id)), None)
    if feed is None:
        await query.answer(t._("That feed is gone."))
        return
    verb = {"p": "pause", "r": "resume", "x": "remove"}[action]
    change = {"p": admin.pause, "r": admin.resume, "x": admin.remove}[action]
    result = await change(feed.url)
    text = render_change(result, verb, t)  # type: ignore[arg-type]
    await query.answer(html_to_text(text)[:200])
    message = query.message
    if message is None or not message.is_accessible:
        return
    texts, markup = await _list_messages(context, t, settings.timezone)
    if len(texts) != 1:
        return
    await edit_in_place(context, message, texts[0], markup=markup, no_preview=True)


async def refuse(update: Update, context: BotContext) -> None:
    """Someone who is not a bot admin tried /feeds: one polite line, and a log entry."""
    user = update.effective_user
    log.warning("user %s tried /feeds; refused", user.id if user else None)
    t = await chat_translator(update, context)
    await reply(update, escape(t._("⛔ Managing feeds is for the bot's admins.")))


def register(app: BotApp) -> None:
    """/feeds and OPML imports for ADMIN_IDS only; a polite refusal for everyone else."""
    admins = bot_admins(app)
    message = filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("feeds", cmd_feeds, filters=admins & message))
    app.add_handler(CommandHandler("feeds", refuse, filters=message))
    opml = message & filters.Document.ALL & filters.CaptionRegex(IMPORT_CAPTION)
    app.add_handler(MessageHandler(admins & opml, on_import_document))
    app.add_handler(MessageHandler(opml, refuse))
    app.add_handler(CallbackQueryHandler(on_feed_button, pattern=BUTTON_PATTERN))
