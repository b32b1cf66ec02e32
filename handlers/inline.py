"""Inline mode: `@botname lithium` in any chat lists matching headlines to share."""

from __future__ import annotations

from telegram import InlineQueryResultArticle, InputTextMessageContent, Update
from telegram.constants import ParseMode

from bot.context import BotContext
from bot.formatting import headline_block, html_to_text, safe_url, truncate
from bot.text.i18n import Translator, translator
from bot.text.query import Refusal, parse_search
from handlers.topics import reader_language
from storage.models import Headline

MAX_RESULTS = 10
CACHE_SECONDS = 30  # short: the archive grows with every poll


def _article(headline: Headline, t: Translator | None = None) -> InlineQueryResultArticle:
    """One headline as an inline result: its title, summary and link, shared as a message."""
    t = t or translator(None)
    summary = " ".join(headline.summary.split())
    return InlineQueryResultArticle(
        id=f"h{headline.id}",
        title=truncate(" ".join(headline.title.split()), 200) or t._("(untitled)"),
        description=truncate(summary, 200) or None,
        url=safe_url(headline.link),
        input_message_content=InputTextMessageContent(
            headline_block(headline, summary_chars=300, t=t), parse_mode=ParseMode.HTML
        ),
    )


async def on_inline_query(update: Update, context: BotContext) -> None:
    """Answer an inline query with up to 10 matching headlines (the newest when empty)."""
    query = update.inline_query
    if query is None:
        return
    repo = context.services.headlines
    text = " ".join(query.query.split())
    found: list[Headline]
    if not text:
        found = await repo.latest(MAX_RESULTS)
    else:
        parsed = parse_search(text, language=reader_language(update, context))
        if not isinstance(parsed, Refusal) and parsed.handles:  # `from:HANDLE`: feeds by id
            parsed = (await context.services.chats.sources()).resolve_search(parsed)
        if isinstance(parsed, Refusal):
            found = []
        else:
            found = [hit.headline for hit in (await repo.search(parsed, limit=MAX_RESULTS)).hits]
    t = translator(query.from_user.language_code)  # no chat yet: the user's own language
    results = [_article(h, t) for h in found if html_to_text(headline_block(h)).strip()]
    await query.answer(results, cache_time=CACHE_SECONDS, is_personal=False)
