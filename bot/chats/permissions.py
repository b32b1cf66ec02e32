"""Who may change a chat's topics: the one place that checks group and channel admins."""

from __future__ import annotations

import time

from telegram import Bot, ChatMember, Message
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import TelegramError

CACHE_SECONDS = 60.0
_ADMIN = {ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER}


class AdminCache:
    """getChatMember answers, briefly cached (admins rarely change within a minute)."""

    def __init__(self, ttl: float = CACHE_SECONDS) -> None:
        self.ttl = ttl
        self._cache: dict[tuple[int | str, int], tuple[float, bool]] = {}

    async def is_admin(self, bot: Bot, chat_id: int | str, user_id: int) -> bool:
        """Whether the user is an administrator or the owner of the chat."""
        key = (chat_id, user_id)
        hit = self._cache.get(key)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        try:
            member: ChatMember = await bot.get_chat_member(chat_id, user_id)
            answer = member.status in _ADMIN
        except TelegramError:
            answer = False
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (now, answer)
        return answer

    async def may_press(self, bot: Bot, chat_id: int, chat_type: str, user_id: int) -> bool:
        """Whether this user, pressing a button under a message of the chat, may change it.

        A button press always names who pressed: in a group or a channel (whose readers can
        press buttons too) only its admins may.
        """
        if chat_type in (ChatType.PRIVATE, ChatType.SENDER):
            return True
        return await self.is_admin(bot, chat_id, user_id)

    async def may_manage(self, bot: Bot, message: Message) -> bool:
        """Whether the sender of this message may change its chat's topics."""
        chat = message.chat
        if chat.type in (ChatType.PRIVATE, ChatType.CHANNEL):
            # a private chat is its own; only a channel's admins can post in it
            return True
        if message.sender_chat is not None:
            # an anonymous admin posts as the group itself; anyone else posting as a
            # channel is not identifiable as an admin
            return message.sender_chat.id == chat.id
        if message.from_user is None:
            return False
        return await self.is_admin(bot, chat.id, message.from_user.id)
