"""/latest [N] [topic words]: the newest headlines, optionally on one topic."""

from __future__ import annotations

from telegram import Update

from bot.context import BotContext
from bot.formatting import escape, render_latest
from bot.matching import headline_tokens, normalize_topic, topic_matches
from handlers.common import command_args, reply
from storage.fts import phrase_query

DEFAULT_COUNT = 5
MAX_COUNT = 20


def parse_latest_args(args: str) -> tuple[int, str]:
    """'/latest 3 bolivia' -> (3, 'bolivia'); counts are clamped to 1..20."""
    words = args.split(maxsplit=1)
    # isdigit() also holds for '²' or '①', which int() refuses: only ASCII digits count
    if words and words[0].isascii() and words[0].isdigit():
        count = max(1, min(MAX_COUNT, int(words[0][:4])))
        return count, words[1] if len(words) > 1 else ""
    return DEFAULT_COUNT, args


async def cmd_latest(update: Update, context: BotContext) -> None:
    """Reply with the newest headlines (matching the words, by the push rule, when given)."""
    count, words = parse_latest_args(command_args(update))
    repo = context.services.headlines
    topic = normalize_topic(words) if words.strip() else None
    if words.strip() and (topic is None or topic.startswith("-")):
        await reply(update, "Give a topic of 1–64 characters, e.g. <code>/latest 5 bolivia</code>.")
        return
    if topic is None:
        found = await repo.latest(count)
    else:
        tokens = topic.split()
        candidates = await repo.latest(count * 4, match=phrase_query(tokens))
        found = [
            h
            for h in candidates
            if topic_matches(topic, headline_tokens(h.title, h.summary, h.categories))
        ][:count]
    if not found:
        text = (
            f"No headlines on <b>{escape(topic)}</b> yet. /search looks for partial matches."
            if topic
            else "No headlines stored yet; the first poll may still be running."
        )
        await reply(update, text)
        return
    for text in render_latest(found, query=topic):
        await reply(update, text)
