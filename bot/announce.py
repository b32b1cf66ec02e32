"""Broadcasts: preview text, progress reports and their buttons."""

from __future__ import annotations

import logging
import time

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, TelegramError

from storage.broadcasts import BroadcastRepo
from storage.models import Audience, Broadcast, BroadcastProgress, BroadcastStatus

log = logging.getLogger(__name__)

AUDIENCES = tuple(Audience)
REPORT_EVERY = 3.0


def parse_broadcast_args(args: str) -> tuple[Audience, str]:
    """'/broadcast groups Hello' -> ('groups', 'Hello'); the audience word is optional."""
    words = args.split(maxsplit=1)
    if words and words[0].lower() in AUDIENCES:
        return Audience(words[0].lower()), (words[1] if len(words) > 1 else "").strip()
    return Audience.ALL, args.strip()


def confirm_keyboard(broadcast_id: int, total: int) -> InlineKeyboardMarkup:
    """First button confirms, second cancels."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    f"✅ Send to {total} chats", callback_data=f"b:ok:{broadcast_id}"
                ),
                InlineKeyboardButton("✖ Cancel", callback_data=f"b:no:{broadcast_id}"),
            ]
        ]
    )


def cancel_keyboard(broadcast_id: int) -> InlineKeyboardMarkup:
    """The Cancel button of a running broadcast."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton("✖ Cancel the rest", callback_data=f"b:no:{broadcast_id}")]]
    )


def render_progress(b: Broadcast, p: BroadcastProgress, *, now: float) -> str:
    """The live (or final) report of a broadcast."""
    done = p.sent + p.blocked + p.failed
    elapsed = max(1e-3, now - (b.confirmed_at or now))
    rate = done / elapsed if done else 0.0
    if b.status == BroadcastStatus.DONE:
        head = "✅ <b>Broadcast finished</b>"
    elif b.status == BroadcastStatus.CANCELLED:
        head = "✖ <b>Broadcast cancelled</b>"
    else:
        head = "📣 <b>Broadcasting…</b>"
    lines = [
        f"{head} (#{b.id}, audience: {b.audience})",
        f"Sent: {p.sent} · blocked: {p.blocked} · failed: {p.failed} · remaining: {p.remaining}"
        + (f" · cancelled: {p.cancelled}" if p.cancelled else ""),
        f"Rate: {rate:.1f} messages/s",
    ]
    if b.status == BroadcastStatus.QUEUED and p.remaining and rate > 0:
        lines.append(f"Time left: about {p.remaining / rate:.0f} s")
    if b.status != BroadcastStatus.QUEUED:
        lines.append(f"Took {elapsed:.0f} s")
    return "\n".join(lines)


class BroadcastReporter:
    """Edits each running broadcast's report at most every few seconds; finishes it when done."""

    def __init__(self, repo: BroadcastRepo) -> None:
        self.repo = repo
        self._last: dict[int, tuple[float, str]] = {}

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
        text = render_progress(broadcast, progress, now=now)
        if self._last.get(broadcast.id, (0.0, ""))[1] == text:
            return
        self._last[broadcast.id] = (now, text)
        markup = (
            cancel_keyboard(broadcast.id) if broadcast.status == BroadcastStatus.QUEUED else None
        )
        try:
            await bot.edit_message_text(
                text,
                chat_id=broadcast.report_chat_id,
                message_id=broadcast.report_message_id,
                reply_markup=markup,
            )
        except BadRequest as exc:
            if "not modified" not in exc.message.lower():
                log.warning("broadcast %s: report not updated: %s", broadcast.id, exc.message)
        except TelegramError as exc:
            log.warning("broadcast %s: report not updated: %s", broadcast.id, exc)
        if broadcast.status != BroadcastStatus.QUEUED:
            self._last.pop(broadcast.id, None)
