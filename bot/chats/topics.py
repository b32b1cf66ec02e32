"""/topic's grammar and its `@channel` form: what a command asks, and for which chat.

`/topic [@channel] [verb] [topics]`: a private chat may name a channel or group it manages
first; the verb is `list` (or nothing), `try`, `add`, `remove` (`rm`, `del`, `delete`) or
`clear`. Resolving the channel checks, through the Bot API, that it exists, that the reader
is one of its admins and that the bot is one too.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from telegram import Bot, ChatFullInfo
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import TelegramError

from bot.chats.permissions import AdminCache
from bot.chats.service import ChatService
from storage.models import ChatKind

__all__ = ["ChannelRefusal", "TopicCommand", "Verb", "parse_topic_command", "resolve_channel"]


class Verb(StrEnum):
    """What a /topic command does."""

    LIST = "list"
    TRY = "try"
    ADD = "add"
    REMOVE = "remove"
    CLEAR = "clear"
    UNKNOWN = "unknown"  # anything else: the reader probably meant `add`


_VERBS = {
    "": Verb.LIST,
    "list": Verb.LIST,
    "try": Verb.TRY,
    "add": Verb.ADD,
    "remove": Verb.REMOVE,
    "rm": Verb.REMOVE,
    "del": Verb.REMOVE,
    "delete": Verb.REMOVE,
    "clear": Verb.CLEAR,
}


@dataclass(frozen=True, slots=True)
class TopicCommand:
    """A /topic command, parsed: its verb, the topics after it, and the channel it names."""

    verb: Verb
    rest: str  # the text after the verb (the topics)
    args: str  # the text after the channel (what an unknown verb is read back from)
    channel: str | None = None  # `@name`, given in a private chat for a channel or group


def parse_topic_command(args: str, *, private: bool) -> TopicCommand:
    """Split /topic's arguments; only a private chat may name a `@channel` first."""
    words = args.split(maxsplit=1)
    channel: str | None = None
    if words and words[0].startswith("@") and private:
        channel = words[0]
        args = words[1] if len(words) > 1 else ""
        words = args.split(maxsplit=1)
    verb = _VERBS.get(words[0].lower() if words else "", Verb.UNKNOWN)
    rest = words[1] if len(words) > 1 else ""
    return TopicCommand(verb, rest, args, channel)


class ChannelRefusal(StrEnum):
    """Why a `@channel` named in /topic cannot be managed from here."""

    NOT_FOUND = "not_found"  # unknown to the bot (it is not a member)
    NOT_A_CHANNEL = "not_a_channel"  # a user or a bot
    NOT_ADMIN = "not_admin"  # the reader is not one of its admins
    BOT_NOT_ADMIN = "bot_not_admin"  # the bot cannot post there


_TARGETS = (ChatType.CHANNEL, ChatType.GROUP, ChatType.SUPERGROUP)
_ADMIN = (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)


async def resolve_channel(
    bot: Bot, admins: AdminCache, chats: ChatService, name: str, user_id: int | None
) -> ChatFullInfo | ChannelRefusal:
    """The channel or group `name` if the user and the bot are both its admins, recorded
    with the chat service and resumed; else why not."""
    try:
        target = await bot.get_chat(name)
    except TelegramError:
        return ChannelRefusal.NOT_FOUND
    if target.type not in _TARGETS:
        return ChannelRefusal.NOT_A_CHANNEL
    if user_id is None or not await admins.is_admin(bot, target.id, user_id):
        return ChannelRefusal.NOT_ADMIN
    try:
        me = await bot.get_chat_member(target.id, bot.id)
        bot_ok = me.status in _ADMIN
    except TelegramError:
        bot_ok = False
    if not bot_ok:
        return ChannelRefusal.BOT_NOT_ADMIN
    await chats.register(
        target.id,
        kind=ChatKind(target.type),
        title=target.title or target.full_name,
        username=target.username,
        is_forum=bool(target.is_forum),
    )
    await chats.resume(target.id)
    return target
