"""/search <query>: ranked matches from the archive, five a page with Next/Previous buttons."""

from __future__ import annotations

from collections import OrderedDict

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest

from bot.context import BotContext
from bot.formatting import escape, render_search
from handlers.common import NO_PREVIEW, command_args, reply

PER_PAGE = 5
MAX_QUERY = 300
_long_queries: OrderedDict[str, str] = OrderedDict()  # short key -> query too long for a button


def _page_data(offset: int, query: str) -> str:
    """Callback data naming a page; long queries are kept in a small in-memory table."""
    data = f"s:{offset}:{query}"
    if len(data.encode()) <= 64:
        return data
    key = str(abs(hash(query)) % 10**10)
    _long_queries[key] = query
    while len(_long_queries) > 1000:
        _long_queries.popitem(last=False)
    return f"s:{offset}#{key}"


def _parse_page_data(data: str) -> tuple[int, str | None]:
    body = data[2:]
    if "#" in body and ":" not in body:
        offset, key = body.split("#", 1)
        return int(offset), _long_queries.get(key)
    offset, _, query = body.partition(":")
    return int(offset), query


async def _page(
    context: BotContext, query: str, offset: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    page = await context.services.headlines.search(query, limit=PER_PAGE, offset=offset)
    if page is None:
        return "Send words to look for, e.g. <code>/search lithium</code>.", None
    if page.total == 0 or not page.hits:
        return f"Nothing in the archive matches <b>{escape(query)}</b>.", None
    text = render_search(page, query=query, offset=offset, per_page=PER_PAGE)
    buttons = []
    if offset > 0:
        buttons.append(
            InlineKeyboardButton(
                "◀ Previous", callback_data=_page_data(max(0, offset - PER_PAGE), query)
            )
        )
    if offset + PER_PAGE < page.total:
        buttons.append(
            InlineKeyboardButton("Next ▶", callback_data=_page_data(offset + PER_PAGE, query))
        )
    return text, InlineKeyboardMarkup([buttons]) if buttons else None


async def cmd_search(update: Update, context: BotContext) -> None:
    """Search the archive."""
    query = " ".join(command_args(update).split())[:MAX_QUERY]
    if not query:
        await reply(
            update,
            "What should I look for? e.g. <code>/search lithium</code> or "
            '<code>/search "south africa"</code>.',
        )
        return
    text, markup = await _page(context, query, 0)
    await reply(update, text, markup=markup)


async def on_search_page(update: Update, context: BotContext) -> None:
    """Next/Previous: edit the results message in place."""
    cb = update.callback_query
    if cb is None or cb.data is None or cb.message is None:
        return
    try:
        offset, query = _parse_page_data(cb.data)
    except ValueError:
        offset, query = 0, None
    if query is None:
        await cb.answer("This search has expired; send /search again.", show_alert=True)
        return
    await cb.answer()
    text, markup = await _page(context, query, max(0, offset))
    if not cb.message.is_accessible:
        return
    try:
        await context.bot.edit_message_text(
            text,
            chat_id=cb.message.chat.id,
            message_id=cb.message.message_id,
            reply_markup=markup,
            link_preview_options=NO_PREVIEW,
        )
    except BadRequest as exc:
        if "not modified" not in exc.message.lower():
            raise
