"""/search <query>: ranked matches from the archive, five a page with Next/Previous buttons.

The query language is bot/text/query.py's: all words (stemmed), `a OR b`, `"a phrase"`, `pre*`,
`-word` or `NOT word`. A search longer than the limit says which words it used.
"""

from __future__ import annotations

from collections import OrderedDict

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.context import BotContext
from bot.formatting import escape, render_search
from bot.text.i18n import Translator, translator
from bot.text.query import Refusal, parse_search
from handlers.common import (
    button_label,
    command_args,
    edit_in_place,
    preferences_of,
    reply,
)
from handlers.sources import handles_note
from handlers.topics import reader_language

PER_PAGE = 5
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
    context: BotContext,
    text: str,
    offset: int,
    *,
    language: str = "en",
    t: Translator | None = None,
    tz: str = "UTC",
) -> tuple[str, InlineKeyboardMarkup | None]:
    t = t or translator(None)
    query = parse_search(text, language=language)
    if isinstance(query, Refusal):
        hint = t._("Send words to look for, e.g. <code>/search lithium</code>.")
        return f"{escape(query.describe(t))} {hint}", None
    if query.handles:  # `from:HANDLE`: the feeds by id (`used` keeps the handles)
        book = await context.services.chats.sources()
        resolved = book.resolve_search(query)
        if isinstance(resolved, Refusal):
            return f"{escape(resolved.describe(t))}\n{handles_note(t, book.handles())}", None
        query = resolved
    notes = []
    if query.truncated:
        notes.append(
            t._("That search was long: I used <b>{query}</b>.").format(query=escape(query.used))
        )
    if query.dropped:
        notes.append(escape(t._("Left out: {words}.").format(words=", ".join(query.dropped))))
    page = await context.services.headlines.search(query, limit=PER_PAGE, offset=offset)
    if page.total == 0 or not page.hits:
        notes.append(
            t._("Nothing in the archive matches <b>{query}</b>.").format(query=escape(query.used))
        )
        if page.total == 0:
            notes.append(
                t._(
                    "Try dropping a word, or either word with OR: "
                    "<code>/search bolivia OR peru</code>."
                )
            )
        return "\n".join(notes), None
    text_out = render_search(page, query=query.used, offset=offset, per_page=PER_PAGE, t=t, tz=tz)
    if notes:
        text_out = "\n".join(notes) + "\n\n" + text_out
    buttons = []
    if offset > 0:
        buttons.append(
            InlineKeyboardButton(
                button_label(t._("◀ Previous")),
                callback_data=_page_data(max(0, offset - PER_PAGE), query.used),
            )
        )
    if offset + PER_PAGE < page.total:
        buttons.append(
            InlineKeyboardButton(
                button_label(t._("Next ▶")),
                callback_data=_page_data(offset + PER_PAGE, query.used),
            )
        )
    return text_out, InlineKeyboardMarkup([buttons]) if buttons else None


async def cmd_search(update: Update, context: BotContext) -> None:
    """Search the archive."""
    query = " ".join(command_args(update).split())
    settings = await preferences_of(update, context)
    t = translator(settings.language)
    if not query:
        await reply(
            update,
            t._(
                "What should I look for? e.g. <code>/search lithium</code>, "
                '<code>/search "south africa"</code>, <code>/search bolivia OR peru</code> or '
                "<code>/search lithium -mining</code>."
            ),
        )
        return
    text, markup = await _page(
        context,
        query,
        0,
        language=reader_language(update, context),
        t=t,
        tz=settings.timezone,
    )
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
    settings = await preferences_of(update, context)
    t = translator(settings.language)
    if query is None:
        await cb.answer(t._("This search has expired; send /search again."), show_alert=True)
        return
    await cb.answer()
    text, markup = await _page(
        context,
        query,
        max(0, offset),
        language=reader_language(update, context),
        t=t,
        tz=settings.timezone,
    )
    if not cb.message.is_accessible:
        return
    await edit_in_place(context, cb.message, text, markup=markup, no_preview=True)
