"""/latest [N] [topic], either way round: the newest headlines, optionally on one topic."""

from __future__ import annotations

import re
from dataclasses import dataclass

from telegram import Update

from bot.context import BotContext
from bot.formatting import escape, render_latest
from bot.text.i18n import N_, Translator, translator
from bot.text.query import Refusal, Topic, parse_topic
from handlers.common import command_args, preferences_of, reply
from handlers.sources import handles_note

DEFAULT_COUNT = 5
MAX_COUNT = 20
USAGE = N_(
    "Usage: <code>/latest</code>, <code>/latest 10</code>, <code>/latest bolivia</code> or "
    "<code>/latest 3 bolivia</code>: a whole number from 1 to {max}."
)


def usage(t: Translator) -> str:
    """The usage line of /latest in t's language."""
    return t._(USAGE).format(max=MAX_COUNT)


# A count is a number standing alone at either end: `3`, `-2`, `1.5`, `0`, `½` is not one.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)")


@dataclass(frozen=True, slots=True)
class LatestArgs:
    """What /latest was asked for: how many, on what topic, and whether N was capped."""

    count: int = DEFAULT_COUNT
    topic: str = ""
    capped: bool = False
    bad_count: bool = False  # 0, a negative or a fraction: answered with the usage line


def parse_latest_args(args: str) -> LatestArgs:
    """'/latest 3 bolivia' and '/latest bolivia 3' -> (3, 'bolivia'); N is capped at 20."""
    pieces = args.split()
    number: str | None = None
    if pieces and _NUMBER.fullmatch(pieces[0]) and pieces[0].isascii():
        number, pieces = pieces[0], pieces[1:]
    elif len(pieces) > 1 and _NUMBER.fullmatch(pieces[-1]) and pieces[-1].isascii():
        number, pieces = pieces[-1], pieces[:-1]
    topic = " ".join(pieces)
    if number is None:
        return LatestArgs(topic=topic)
    if not number.lstrip("+").isdigit() or int(number.lstrip("+")[:6]) < 1:
        return LatestArgs(topic=topic, bad_count=True)
    count = int(number.lstrip("+")[:6])
    return LatestArgs(min(count, MAX_COUNT), topic, capped=count > MAX_COUNT)


async def cmd_latest(update: Update, context: BotContext) -> None:
    """Reply with the newest headlines (those a topic matches, by the push rule, when given)."""
    args = parse_latest_args(command_args(update))
    settings = await preferences_of(update, context)
    t = translator(settings.language)
    if args.bad_count:
        await reply(update, usage(t))
        return
    repo = context.services.headlines
    topic: Topic | None = None
    if args.topic:
        parsed = parse_topic(args.topic)
        if isinstance(parsed, Refusal):
            await reply(update, f"{escape(parsed.describe(t))}\n{usage(t)}")
            return
        if parsed.mute:
            mute = escape(t._("A mute lists nothing: name a topic to read."))
            await reply(update, f"{mute}\n{usage(t)}")
            return
        topic = parsed
    query = topic
    if topic is not None and topic.sources:  # `from:HANDLE`: the feeds by id
        book = await context.services.chats.sources()
        resolved = book.resolve(topic)
        if isinstance(resolved, Refusal):
            names = handles_note(t, book.handles())
            await reply(update, f"{escape(resolved.describe(t))}\n{names}")
            return
        query = resolved
    found = await repo.latest(args.count, topic=query)
    capped = t._("(at most {n} at a time)").format(n=MAX_COUNT)
    note = f"\n{escape(capped)}" if args.capped else ""
    if not found:
        if topic:
            text = t._(
                "No headlines on <b>{topic}</b> yet. <code>/search {topic}</code> looks further."
            ).format(topic=escape(topic.display))
        else:
            text = escape(t._("No headlines stored yet; the first poll may still be running."))
        await reply(update, text)
        return
    messages = render_latest(
        found,
        query=topic.display if topic and not topic.everything else None,
        t=t,
        tz=settings.timezone,
    )
    for i, text in enumerate(messages):
        await reply(update, text + (note if i == len(messages) - 1 else ""))
