"""Broadcasts: preview text, progress reports and their buttons, in the admin's language.

The announcement itself is the admin's own words and is never translated.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup

from bot.delivery.limiter import delivered
from bot.text.i18n import N_, Translator, translator
from storage.broadcasts import BroadcastRepo
from storage.models import Audience, Broadcast, BroadcastProgress, BroadcastStatus, ChatPreferences

log = logging.getLogger(__name__)

AUDIENCES = tuple(Audience)
REPORT_EVERY = 3.0
AUDIENCE_NAMES = {
    Audience.ALL: N_("all chats"),
    Audience.USERS: N_("users"),
    Audience.GROUPS: N_("groups"),
    Audience.CHANNELS: N_("channels"),
}


class ChatLanguages(Protocol):
    """What the reporter asks of the chat settings: the report chat's language."""

    async def get(self, chat_id: int, *, default_language: str = "en") -> ChatPreferences:
        """The chat's settings."""
        ...


def audience_name(t: Translator, audience: Audience | str) -> str:
    """An audience as the admin reads it ('all chats', 'groups' ...)."""
    return t._(AUDIENCE_NAMES.get(Audience(audience), str(audience)))


def parse_broadcast_args(args: str) -> tuple[Audience, str]:
    """'/broadcast groups Hello' -> ('groups', 'Hello'); the audience word is optional."""
    words = args.split(maxsplit=1)
    if words and words[0].lower() in AUDIENCES:
        return Audience(words[0].lower()), (words[1] if len(words) > 1 else "").strip()
    return Audience.ALL, args.strip()


def confirm_keyboard(
    broadcast_id: int, total: int, t: Translator | None = None
) -> InlineKeyboardMarkup:
    """First button confirms, second cancels (never offered for 0 chats)."""
    t = t or translator(None)
    send = t.ngettext("✅ Send to {n} chat", "✅ Send to {n} chats", total)
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    send.format(n=t.format_number(total)), callback_data=f"b:ok:{broadcast_id}"
                ),
                InlineKeyboardButton(t._("✖ Cancel"), callback_data=f"b:no:{broadcast_id}"),
            ]
        ]
    )


def cancel_keyboard(broadcast_id: int, t: Translator | None = None) -> InlineKeyboardMarkup:
    """The Cancel button of a running broadcast."""
    t = t or translator(None)
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(t._("✖ Cancel the rest"), callback_data=f"b:no:{broadcast_id}")]]
    )


def render_progress(
    b: Broadcast, p: BroadcastProgress, *, now: float, t: Translator | None = None
) -> str:
    """The live (or final) report of a broadcast, in the admin's language."""
    t = t or translator(None)
    n = t.format_number
    done = p.sent + p.blocked + p.failed
    elapsed = max(1e-3, now - (b.confirmed_at or now))
    rate = done / elapsed if done else 0.0
    if b.status == BroadcastStatus.DONE:
        head = t._("✅ <b>Broadcast finished</b>")
    elif b.status == BroadcastStatus.CANCELLED:
        head = t._("✖ <b>Broadcast cancelled</b>")
    else:
        head = t._("📣 <b>Broadcasting…</b>")
    counts = t._("Sent: {sent} · blocked: {blocked} · failed: {failed} · remaining: {remaining}")
    counts = counts.format(
        sent=n(p.sent), blocked=n(p.blocked), failed=n(p.failed), remaining=n(p.remaining)
    )
    if p.cancelled:
        counts += " · " + t._("cancelled: {n}").format(n=n(p.cancelled))
    lines = [
        head
        + " "
        + t._("(#{id}, audience: {audience})").format(
            id=b.id, audience=audience_name(t, b.audience)
        ),
        counts,
        t._("Rate: {rate} messages/s").format(rate=n(round(rate, 1))),
    ]
    if b.status == BroadcastStatus.QUEUED and p.remaining and rate > 0:
        lines.append(
            t._("Time left: about {seconds} s").format(seconds=n(round(p.remaining / rate)))
        )
    if b.status != BroadcastStatus.QUEUED:
        lines.append(t._("Took {seconds} s").format(seconds=n(round(elapsed))))
    return "\n".join(lines)


class BroadcastReporter:
    """Edits each running broadcast's report at most every few seconds; finishes it when done."""

    def __init__(self, repo: BroadcastRepo, *, languages: ChatLanguages | None = None) -> None:
        self.repo = repo
        # the report chat's settings (the admin's language); English until the assembly
        # hands the chat settings in
        self.languages = languages
        self._last: dict[int, tuple[float, str]] = {}

    async def _translator(self, chat_id: int) -> Translator:
        if self.languages is None:
            return translator(None)
        return translator((await self.languages.get(chat_id)).language)

    async def refresh(self, bot: Bot, *, force: bool = False) -> None:
        """Update the report of every running broadcast."""
        now = time.time()
        for broadcast in await self.repo.active():
            last_at, _ = self._last.get(broadcast.id, (0.0, ""))
            finished = await self.repo.finish_if_complete(broadcast.id, now=now)
            if not (force or finished or now - last_at >= REPORT_EVERY):
                continue
            if finished:
                broadcast = await self.repo.get(broadcast.id) or broadcast
                log.info("broadcast %s finished", broadcast.id)
            await self.show(bot, broadcast, now=now)

    async def show(self, bot: Bot, broadcast: Broadcast, *, now: float) -> None:
        """Edit the report message (if the text changed)."""
        if broadcast.report_chat_id is None or broadcast.report_message_id is None:
            return
        progress = await self.repo.progress(broadcast.id)
        t = await self._translator(broadcast.report_chat_id)
        text = render_progress(broadcast, progress, now=now, t=t)
        if self._last.get(broadcast.id, (0.0, ""))[1] == text:
            return
        self._last[broadcast.id] = (now, text)
        markup = (
            cancel_keyboard(broadcast.id, t) if broadcast.status == BroadcastStatus.QUEUED else None
        )
        # the reply path judges a failure by the send policy and logs it (an edit that
        # changes nothing is its no-op); the next report tries again
        await delivered(
            bot.edit_message_text(
                text,
                chat_id=broadcast.report_chat_id,
                message_id=broadcast.report_message_id,
                reply_markup=markup,
            )
        )
        if broadcast.status != BroadcastStatus.QUEUED:
            self._last.pop(broadcast.id, None)
