"""The More button under a push or digest that shows only part of what it holds: pages
through exactly those headlines, editing the message in place as /search pages do."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CallbackQueryHandler

from bot.context import BotApp, BotContext
from bot.formatting import MORE_PREFIX, parse_more_data, render_push_page
from bot.text.i18n import translator
from handlers.common import edit_in_place


async def more_page(
    context: BotContext, chat_id: int, list_id: int, page: int
) -> tuple[str, InlineKeyboardMarkup | None] | None:
    """Page `page` of a More list, in the chat's language and format (None: list gone)."""
    services = context.services
    held = await services.outbox.more_list(list_id, chat_id)
    if held is None:
        return None
    settings = await services.preferences.get(chat_id)
    headlines = await services.headlines.get_many([hid for hid, _ in held.items])
    items = [(headlines[hid], topics) for hid, topics in held.items if hid in headlines]
    if not items:
        return None
    text, labels = render_push_page(
        items,
        list_id,
        page,
        more=held.dropped,
        t=translator(settings.language),
        fmt=str(settings.format),
        digest=held.digest,
        tz=settings.timezone,
    )
    buttons = [InlineKeyboardButton(label, callback_data=data) for label, data in labels]
    return text, InlineKeyboardMarkup([buttons]) if buttons else None


async def on_more_button(update: Update, context: BotContext) -> None:
    """More / Previous: show that page of the held headlines in the same message."""
    cb = update.callback_query
    if cb is None or cb.data is None or cb.message is None:
        return
    chat_id = cb.message.chat.id
    try:
        list_id, page = parse_more_data(cb.data)
    except ValueError:
        found = None
    else:
        found = await more_page(context, chat_id, list_id, page)
    if found is None:
        settings = await context.services.preferences.get(chat_id)
        t = translator(settings.language)
        await cb.answer(t._("These headlines are no longer kept."), show_alert=True)
        return
    await cb.answer()
    if not cb.message.is_accessible:
        return
    text, markup = found
    await edit_in_place(context, cb.message, text, markup=markup, no_preview=True)


def register(app: BotApp) -> None:
    """The More button's handler (before the catch-all for unknown buttons)."""
    app.add_handler(CallbackQueryHandler(on_more_button, pattern=rf"^{MORE_PREFIX}:"))
