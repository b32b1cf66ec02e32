"""Membership changes: the bot added to or removed from chats, groups becoming supergroups."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatMemberStatus, ChatType

from bot.context import BotContext
from bot.delivery.limiter import delivered
from bot.formatting import escape
from bot.text.i18n import translator
from handlers.common import register_chat

log = logging.getLogger(__name__)

BLOCKED = "blocked by the user"
REMOVED = "bot removed"
_PRESENT = {
    ChatMemberStatus.MEMBER,
    ChatMemberStatus.ADMINISTRATOR,
    ChatMemberStatus.OWNER,
    ChatMemberStatus.RESTRICTED,
}


async def on_my_chat_member(update: Update, context: BotContext) -> None:
    """Register a chat when the bot is added; mark it inactive when removed or blocked."""
    change = update.my_chat_member
    if change is None:
        return
    chat = change.chat
    present = change.new_chat_member.status in _PRESENT
    was_present = change.old_chat_member.status in _PRESENT
    services = context.services
    await register_chat(update, context)
    if not present:
        reason = BLOCKED if chat.type == ChatType.PRIVATE else REMOVED
        dropped = await services.chats.deactivate(chat.id, reason=reason)
        log.info("chat %s: %s; %d unsent dropped", chat.id, reason, dropped)
        return
    if chat.type == ChatType.PRIVATE:
        return  # unblocked: /start resumes pushes
    await services.chats.resume(chat.id)
    if was_present:
        return
    adder = change.from_user
    log.info("chat %s (%s): bot added by %s", chat.id, chat.type, adder.id)
    # a group or channel speaks the language of whoever added the bot (until it chooses)
    await services.preferences.adopt_language(chat.id, adder.language_code)
    if chat.type == ChatType.CHANNEL:
        t = translator(adder.language_code)  # said in the adder's private chat
        name = f"@{chat.username}" if chat.username else escape(chat.title or str(chat.id))
        text = t._(
            "Thanks for adding me to <b>{title}</b>.\n"
            "Choose its topics here with <code>/topic {name} add bolivia</code>, "
            "or post <code>/topic add bolivia</code> in the channel itself."
        ).format(title=escape(chat.title or name), name=name)
        # reaches them only if they have started the bot; the send path logs a refusal
        await delivered(context.bot.send_message(change.from_user.id, text))


async def on_migrate(update: Update, context: BotContext) -> None:
    """A group became a supergroup: its topics and queue move to the new id."""
    message = update.effective_message
    if message is None:
        return
    if message.migrate_to_chat_id:
        old, new = message.chat.id, message.migrate_to_chat_id
    elif message.migrate_from_chat_id:
        old, new = message.migrate_from_chat_id, message.chat.id
    else:
        return
    await context.services.chats.migrate(old, new)
    log.info("chat %s migrated to %s", old, new)
