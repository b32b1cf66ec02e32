"""The one send path for queued messages: pacing, batching, and acting on what a Telegram
error means (decided in bot/delivery/policy.py; chats are deactivated or moved by ChatService).

A chat in the post format gets one message per headline, oldest first: each goes as its own
delivery, through the rate limiter, and its row records how many went (see _send_post)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from telegram import InlineKeyboardMarkup, LinkPreviewOptions
from telegram.error import BadRequest, TelegramError
from telegram.ext import ExtBot

from bot.chats.preferences import PreferencesService, schedule_of
from bot.delivery.http import AiohttpRequest, encode_form
from bot.delivery.limiter import PRIORITY_BROADCAST, PRIORITY_PUSH, SlidingWindowLimiter
from bot.delivery.policy import Action, Decision, backoff, decide
from bot.formatting import (
    Post,
    html_to_text,
    push_page_size,
    render_post,
    render_push,
    render_push_page,
    tg_len,
)
from bot.telemetry.metrics import Metrics
from bot.text import template as templates
from bot.text.i18n import translator
from bot.text.query import headline_terms
from bot.text.schedule import next_push_at
from storage import Storage
from storage.models import (
    Broadcast,
    BroadcastStatus,
    ChatPreferences,
    Headline,
    MessageFormat,
    OutboxItem,
)

if TYPE_CHECKING:
    from bot.chats.service import ChatService

log = logging.getLogger(__name__)

NO_PREVIEW = {"is_disabled": True}
KEEP_ENCODED = 16  # broadcasts whose encoded body is kept (one is sent at a time, mostly)
# Telegram fetches a photo's URL before it answers: give it longer than a text message.
PHOTO_READ_TIMEOUT = 30.0
KEEP_REFUSED_PICTURES = 1000  # picture URLs Telegram refused, not offered to it again
SOURCES_MAX_AGE = 60.0  # seconds the feeds' names are kept before they are read again


class _Held(Exception):
    """The chat's settings hold its pushes until `until` (they changed since queuing)."""

    def __init__(self, until: float) -> None:
        super().__init__(until)
        self.until = until


class Delivery:
    """Drains the outbox: one unit (a push batch or an announcement) per chat at a time.

    A push goes out as its chat's settings say: held rows wait in the outbox until their
    time (a digest time, the end of quiet hours), the settings are read again as each one is
    sent (a row they now hold is put back, not counted as an attempt), and the message is in
    the chat's language and format, a digest for a chat that takes digests, with a More
    button when it holds more than a page.

    Units are sent one after another by default, so that a crash can repeat at most the one
    message in flight. Paid broadcasts (which Telegram lets run at 1,000/s) use a few sends
    in parallel.
    """

    def __init__(
        self,
        storage: Storage,
        limiter: SlidingWindowLimiter,
        chats: ChatService,
        preferences: PreferencesService,
        *,
        paid_broadcast: bool = False,
        concurrency: int | None = None,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock  # epoch seconds: injectable, so that tests move time
        # each chat's format, language, previews and schedule, read again at every send
        self.preferences = preferences
        self.metrics = metrics  # messages sent by kind (failures are counted by the request)
        self.limiter = limiter
        self.chats = chats
        self.paid_broadcast = paid_broadcast
        self.concurrency = concurrency or (32 if paid_broadcast else 1)
        self.outbox = storage.outbox
        self.headlines = storage.headlines
        self.broadcasts = storage.broadcasts
        self.counters = storage.counters
        self.feeds = storage.feeds
        # Pictures Telegram refused: a post sent again (after a 429, say) goes as text at once.
        self._refused_pictures: OrderedDict[str, None] = OrderedDict()
        self._sources: tuple[float, dict[int, str]] | None = None  # (read at, feed names)
        self._templates: dict[str, templates.Template] = {}  # chats' templates, parsed once
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._inflight: dict[int, asyncio.Task[None]] = {}
        # Chats under flood control (429): nothing more goes to them before this time, not
        # even rows queued after the 429, so they neither jump the queue nor earn a new 429.
        self._held: dict[int, float] = {}
        # (start, messages, deliveries) since the outbox was last empty; counts, not chat ids,
        # as under a lasting backlog the outbox may not be empty for hours
        self._cycle: tuple[float, int, int] | None = None
        # Figures for /stats and broadcast rows, kept in memory for a moment: a database
        # round trip per message for each would cost more than the send itself.
        self._counts: Counter[str] = Counter()
        self._sent: list[int] = []  # delivered rows not yet marked (parallel sends only)
        self._counts_flushed = time.monotonic()
        self._broadcast_cache: dict[int, tuple[float, Broadcast | None]] = {}
        # A broadcast's form body but for the chat id, encoded once for all its chats.
        self._encoded: dict[tuple[int, str], bytes] = {}
        self._bot: ExtBot[Any] | None = None  # given by start()
        self._form: AiohttpRequest | None = None

    def wake(self) -> None:
        """New rows were queued: look at the outbox now."""
        self._wake.set()

    @property
    def bot(self) -> ExtBot[Any]:
        """The bot it sends with (set by start())."""
        if self._bot is None:
            raise RuntimeError("delivery has not been started")
        return self._bot

    def start(self, bot: ExtBot[Any]) -> None:
        """Run the worker in the background, sending with bot."""
        self._bot = bot
        # The fast path needs our own request class; any other (the console's) gets the
        # library's methods.
        request = bot.request
        self._form = request if isinstance(request, AiohttpRequest) else None
        self._stopping = False
        self._task = asyncio.create_task(self.run(), name="delivery")

    async def stop(self, grace: float = 5.0) -> None:
        """Let the sends in flight finish (up to `grace` seconds), then stop."""
        self._stopping = True
        self._wake.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), grace)
        except TimeoutError:
            log.warning("delivery: abandoning sends in flight at shutdown: %d", len(self._inflight))
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    async def run(self) -> None:
        """The worker loop; returns when stopped."""
        reset = await self.outbox.reset_inflight()
        if reset:
            log.info("delivery: messages the last stop interrupted, to be sent again: %d", reset)
        try:
            while not self._stopping:
                self._wake.clear()
                await self._flush_sent()
                delay = await self._round()
                await self._flush_counts()
                if self._stopping:
                    break
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), delay)
        finally:
            if self._inflight:
                await asyncio.gather(*self._inflight.values(), return_exceptions=True)
            await self._flush_sent()
            await self._flush_counts(force=True)

    async def _round(self) -> float:
        """Start one unit for each ready chat while slots are free; return how long to sleep."""
        now = self._clock()
        for chat_id, until in list(self._held.items()):
            if until <= now:
                del self._held[chat_id]
        free = self.concurrency - len(self._inflight)
        if free <= 0:
            return 5.0  # a finishing send wakes the loop
        chats = await self.outbox.ready_chats(
            now=now, limit=200, exclude=(*self._inflight, *self._held)
        )
        chat_delay = min([5.0, *(until - now for until in self._held.values())])
        chosen: list[int] = []
        for chat_id in chats:
            wait = self.limiter.chat_wait(chat_id)
            if wait > 0:  # its own window is full: let other chats go first
                chat_delay = min(chat_delay, wait)
                continue
            chosen.append(chat_id)
            if len(chosen) == free:
                break
        if chosen and not self._stopping:
            units = await self.outbox.claim_units(chosen, now=self._clock())
            for chat_id, unit in units.items():
                task = asyncio.create_task(self._deliver(chat_id, unit), name=f"deliver-{chat_id}")
                self._inflight[chat_id] = task
                task.add_done_callback(partial(self._done, chat_id))
            if units:
                return 0.0
        if self._inflight:
            return chat_delay
        if self._cycle is not None and not chats:
            started_at, messages, deliveries = self._cycle
            log.info(
                "delivery: outbox drained: %d messages sent in %d deliveries, %.1f s",
                messages,
                deliveries,
                time.monotonic() - started_at,
            )
            self._cycle = None
        wakeup = await self.outbox.next_wakeup()
        # rows that are due but not started belong to held chats: their hold ends the sleep
        if wakeup is not None and (wakeup > now or not self._held):
            chat_delay = min(chat_delay, max(0.01, wakeup - self._clock()))
        return chat_delay

    async def _flush_sent(self) -> None:
        if self._sent:
            ids, self._sent = self._sent, []
            await self.outbox.mark_sent(ids, now=self._clock())

    def _count(self, name: str, n: int = 1) -> None:
        self._counts[name] += n

    async def _flush_counts(self, *, force: bool = False) -> None:
        """Write the counters at most once a second (and at shutdown)."""
        if not self._counts or (not force and time.monotonic() - self._counts_flushed < 1.0):
            return
        counts, self._counts = self._counts, Counter()
        self._counts_flushed = time.monotonic()
        for name, n in counts.items():
            await self.counters.bump(name, n, now=self._clock())

    async def _broadcast(self, broadcast_id: int) -> Broadcast | None:
        """The broadcast row, re-read at most every second (a cancel shows within one)."""
        now = time.monotonic()
        cached = self._broadcast_cache.get(broadcast_id)
        if cached is None or now - cached[0] > 1.0:
            cached = (now, await self.broadcasts.get(broadcast_id))
            self._broadcast_cache[broadcast_id] = cached
        return cached[1]

    def _done(self, chat_id: int, _task: asyncio.Task[None]) -> None:
        self._inflight.pop(chat_id, None)
        self._wake.set()

    async def _deliver(self, chat_id: int, unit: Sequence[OutboxItem]) -> None:
        first = unit[0]
        try:
            recorded = False  # a post's row records itself (see _send_post)
            if first.broadcast_id is not None:
                messages = await self._send_broadcast(chat_id, first)
            else:
                messages, recorded = await self._send_push(chat_id, unit)
        except asyncio.CancelledError:
            raise
        except _Held as held:  # not an attempt: the chat's settings say later
            await self.outbox.hold([item.id for item in unit], until=held.until)
            return
        except Exception as exc:  # the policy decides; a bug must not kill the worker either
            if not isinstance(exc, TelegramError):
                log.exception("chat %s: unexpected failure while sending", chat_id)
            await self._apply(chat_id, unit, decide(exc))
        else:
            ids = [item.id for item in unit]
            if recorded:
                pass
            elif self.concurrency == 1:
                await self.outbox.mark_sent(ids, now=self._clock())
            else:  # recorded together by the loop: one write for many sends
                self._sent.extend(ids)
            self._count("sent", messages)
            if self.metrics is not None and messages:
                self.metrics.sent("push" if first.broadcast_id is None else "broadcast", messages)
            start, count, deliveries = self._cycle or (time.monotonic(), 0, 0)
            self._cycle = (start, count + messages, deliveries + 1)
            if log.isEnabledFor(logging.DEBUG):
                items = sum(len(row.items) + row.more or 1 for row in unit)
                log.debug("chat %s: sent, items %d, messages %d", chat_id, items, messages)

    async def _apply(self, chat_id: int, unit: Sequence[OutboxItem], decision: Decision) -> None:
        """Act on what a failed send means for the unit's rows."""
        ids = [item.id for item in unit]
        action = decision.action
        if action is Action.SEND_AGAIN and decision.after is not None:
            seconds = decision.after
            self._held[chat_id] = self._clock() + seconds
            await self.outbox.defer(ids, not_before=self._clock() + seconds, error=decision.reason)
            self._count("429")
            log.warning("chat %s: 429, retrying in %.0f s (other chats go on)", chat_id, seconds)
        elif action is Action.SEND_AGAIN:
            attempts = max(item.attempts for item in unit) + 1
            delay = backoff(attempts)
            error = decision.reason[:300]
            await self.outbox.defer(ids, not_before=self._clock() + delay, error=error)
            log.warning("chat %s: %s; retry %d in %.0f s", chat_id, error, attempts, delay)
        elif action is Action.MIGRATE:
            assert decision.new_chat_id is not None
            new_id = decision.new_chat_id
            log.info("chat %s moved to %s; its topics and queue follow", chat_id, new_id)
            # back to pending first: the rows move with the chat and go out to the new id
            await self.outbox.defer(ids, not_before=0, error="chat migrated")
            await self.chats.migrate(chat_id, new_id)
        elif action is Action.DEACTIVATE:
            dropped = await self.chats.deactivate(chat_id, reason=decision.reason)
            self._count("blocked")
            log.info(
                "chat %s: %s; marked inactive, %d pending dropped",
                chat_id,
                decision.reason,
                dropped,
            )
        elif action is Action.STOP_BOT:
            # kept for the next start; the request layer stops the bot
            await self.outbox.defer(ids, not_before=self._clock() + 60, error="token refused")
        else:  # DROP, or a resend that was refused in turn
            await self.outbox.mark_failed(ids, error=decision.reason, now=self._clock())
            log.warning("chat %s: refused: %s", chat_id, decision.reason)

    async def _send_push(self, chat_id: int, unit: Sequence[OutboxItem]) -> tuple[int, bool]:
        """Send a chat's held headlines as one message (a page of them, with a More button,
        when they are more than a page), in its language and format; a digest for a chat
        that takes digests; in the post format, the next headline as a post of its own.
        Returns the messages sent and whether the rows recorded it themselves (a post).
        Raises _Held when the chat's settings now say later.

        Topics are named as the chat typed them. Rows whose posts are under way are not
        held again: they go on until their last post.
        """
        now = self._clock()
        settings = await self.preferences.get(chat_id)
        started = any(row.posted for row in unit)
        due = next_push_at(schedule_of(settings), now)
        if due > now and not started:
            raise _Held(due)
        if settings.format == MessageFormat.POST:
            return await self._send_post(chat_id, unit, settings), True
        labels = await self._labels(chat_id)
        pushes: dict[int, tuple[str, ...]] = {}
        for row in unit:
            for hid, topics in row.items[row.posted :]:
                pushes.setdefault(hid, _shown(topics, labels))
        dropped = sum(row.more for row in unit)
        headlines = await self.headlines.get_many(list(pushes))
        kept = sorted(hid for hid in pushes if hid in headlines)
        items = [(headlines[hid], pushes[hid]) for hid in kept]
        if not items:
            return 0, False
        t = translator(settings.language)
        digest = bool(settings.digest_times)
        fmt = str(settings.format)
        markup: dict[str, Any] | None = None
        if len(items) > push_page_size(fmt):  # paged: the first page, More shows the others
            list_id = await self.outbox.keep_more_list(
                chat_id,
                unit[0].id,
                [(hid, pushes[hid]) for hid in kept],
                dropped=dropped,
                digest=digest,
                now=now,
            )
            first, buttons = render_push_page(
                items, list_id, 0, more=dropped, t=t, fmt=fmt, digest=digest, tz=settings.timezone
            )
            texts = [first]
            markup = {
                "inline_keyboard": [
                    [{"text": text, "callback_data": data} for text, data in buttons]
                ]
            }
        else:
            texts = render_push(
                items, more=dropped, t=t, fmt=fmt, digest=digest, tz=settings.timezone
            )
        single = len(items) == 1 and dropped == 0
        for n, text in enumerate(texts, start=1):
            await self._send_text(
                chat_id,
                text,
                thread_id=unit[0].thread_id,
                priority=PRIORITY_PUSH,
                preview=single and settings.previews,
                markup=markup if n == len(texts) else None,
            )
        if digest:
            await self.preferences.mark_digest_sent(chat_id, self._clock())
        return len(texts), False

    # --- the post format: one message per headline -------------------------------------

    async def _send_post(
        self, chat_id: int, unit: Sequence[OutboxItem], settings: ChatPreferences
    ) -> int:
        """Send the unit's next headline as a post of its own and record it in its row;
        return the messages sent (0 or 1).

        The row goes back to pending with one more headline counted as posted (sent once the
        last one is), in one statement committed at once: a kill after the post and before
        that write repeats this one post, and nothing is lost. The limiter paces the chat's
        posts (20 a minute in a group or channel), and the worker's round gives other chats
        and every reply their turn between two posts.
        """
        row = next((r for r in unit if r.posted < len(r.items)), None)
        rest = [r.id for r in unit if r is not row]
        if row is None:  # nothing left to post (a row emptied by a crash's timing)
            await self.outbox.mark_sent(rest, now=self._clock())
            return 0
        # the other rows of the unit wait their turn, not counting an attempt
        await self.outbox.hold(rest, until=0)
        # Oldest first: by date, then by when first seen, then as the feed listed them (a
        # feed lists its newest first, so a later place in one read is an older item). The
        # order is the same at every post of the row (no headline joins a row under way).
        found = await self.headlines.get_many([hid for hid, _ in row.items])
        hid, topics = sorted(row.items, key=lambda item: _post_order(found.get(item[0]), item))[
            row.posted
        ]
        headline = found.get(hid)
        posted = row.posted + 1
        done = posted >= len(row.items)
        if headline is None:  # gone from the archive since: nothing to post
            await self.outbox.mark_posted(row.id, posted, done=done, now=self._clock())
            return 0
        post = await self.render_post(chat_id, headline, topics, settings)
        error = None
        try:
            await self._send_one_post(chat_id, post, thread_id=row.thread_id, settings=settings)
            sent = 1
        except BadRequest as exc:
            decision = decide(exc)
            if decision.action is not Action.DROP:
                raise
            # Telegram will never take this one post: the row goes on with the next
            error = decision.reason
            sent = 0
            log.warning("chat %s: post of headline %s refused: %s", chat_id, hid, error)
        # The row stays due, first in line by its age: the worker's round passes over the
        # chat while its window is full (other chats go meanwhile) and comes back to it as
        # soon as the window has room, so a channel keeps Telegram's pace under any load.
        now = self._clock()
        await self.outbox.mark_posted(row.id, posted, done=done, now=now, error=error)
        if settings.digest_times and not any(r.posted for r in unit):
            # the digest's first post went: the slot is served, the rest follow at the
            # chat's pace (a row under way is not held again)
            await self.preferences.mark_digest_sent(chat_id, now)
        return sent

    async def render_post(
        self,
        chat_id: int,
        headline: Headline,
        topics: Sequence[str],
        settings: ChatPreferences,
    ) -> Post:
        """A headline as the chat's post: its template, language and time zone, its topics
        (keys, as routing matched them) named as the chat typed them."""
        shown = _shown(tuple(topics), await self._labels(chat_id))
        sources = await self._feed_names()
        return render_post(
            headline,
            template=self._template(settings.template),
            topics=shown,
            source=sources.get(headline.feed_id, ""),
            t=translator(settings.language),
            tz=settings.timezone,
        )

    async def preview_post(self, chat_id: int, settings: ChatPreferences) -> Post | None:
        """The newest headline as the chat's post would show it, with the chat's topics it
        matches (None with no headline)."""
        [*newest] = await self.headlines.latest(1)
        if not newest:
            return None
        headline = newest[0]
        languages = await self.headlines.languages_of([headline.id])
        terms = headline_terms(
            headline.title,
            headline.summary,
            headline.categories,
            languages.get(headline.id, "en"),
        )
        route = self.chats.index.route(terms).get(chat_id)
        topics = () if route is None else route.topics
        return await self.render_post(chat_id, headline, topics, settings)

    def _template(self, source: str | None) -> templates.Template | None:
        """A chat's template, parsed once (None: the default; one refused since, too)."""
        if not source:
            return None
        found = self._templates.get(source)
        if found is None:
            try:
                found = templates.parse(source)
            except templates.TemplateError:
                log.warning("a stored template no longer parses; the default is used")
                return None
            if len(self._templates) >= 1000:
                self._templates.clear()
            self._templates[source] = found
        return found

    async def _labels(self, chat_id: int) -> dict[str, str]:
        """The chat's topics by key, as it typed them."""
        return {sub.topic: sub.shown for sub in await self.chats.list_topics(chat_id)}

    async def _feed_names(self) -> dict[int, str]:
        """Each feed's name (given, else its title, else its URL), read at most once a minute."""
        now = time.monotonic()
        if self._sources is None or now - self._sources[0] > SOURCES_MAX_AGE:
            records = await self.feeds.records()
            self._sources = (now, {record.id: record.label for record in records})
        return self._sources[1]

    async def _send_one_post(
        self, chat_id: int, post: Post, *, thread_id: int | None, settings: ChatPreferences
    ) -> None:
        """A post with its picture (sendPhoto, the post as its caption), or as text whose link
        preview shows the article. A picture Telegram refuses is counted and the post goes
        again at once as text: it keeps its place, and is neither lost nor sent twice."""
        picture = post.picture if settings.pictures else None
        if picture is not None and picture not in self._refused_pictures:
            try:
                await self._send_photo(chat_id, picture, post.caption, thread_id=thread_id)
                return
            except BadRequest as exc:
                if decide(exc).action is not Action.RESEND_WITHOUT_PICTURE:
                    raise
                log.info("chat %s: picture refused (%s); sending the post as text", chat_id, exc)
                self._refused_pictures[picture] = None
                if len(self._refused_pictures) > KEEP_REFUSED_PICTURES:
                    self._refused_pictures.popitem(last=False)
                self._count("picture_refused")
                if self.metrics is not None:
                    self.metrics.picture_refused()
        preview: dict[str, Any] = NO_PREVIEW
        if settings.previews and post.link:
            preview = {"url": post.link, "prefer_large_media": True}
        await self._send_text(
            chat_id, post.text, thread_id=thread_id, priority=PRIORITY_PUSH, preview=preview
        )

    async def _send_photo(
        self, chat_id: int, picture: str, caption: str, *, thread_id: int | None
    ) -> None:
        """sendPhoto with the picture's URL (Telegram fetches it) and an HTML caption; a
        refused caption goes once as plain text, a gone thread to the chat itself."""
        data: dict[str, Any] = {
            "chat_id": chat_id,
            "photo": picture,
            "caption": caption,
            "parse_mode": "HTML",
            "message_thread_id": thread_id,
        }
        while True:
            try:
                await self._call("sendPhoto", data, PRIORITY_PUSH)
                return
            except BadRequest as exc:
                action = decide(exc).action
                if action is Action.RESEND_PLAIN and data["parse_mode"] is not None:
                    log.warning("chat %s: caption refused (%s); sending it plain", chat_id, exc)
                    plain = _cut_units(html_to_text(caption), templates.CAPTION_LIMIT)
                    data = {**data, "caption": plain, "parse_mode": None}
                elif action is Action.RESEND_WITHOUT_THREAD and data["message_thread_id"]:
                    data = {**data, "message_thread_id": None}
                else:
                    raise

    async def _send_broadcast(self, chat_id: int, item: OutboxItem) -> int:
        assert item.broadcast_id is not None
        broadcast = await self._broadcast(item.broadcast_id)
        if broadcast is None or broadcast.status is BroadcastStatus.CANCELLED:
            return 0
        paid = self.paid_broadcast or None
        if broadcast.text is not None:
            await self._send_text(
                chat_id,
                broadcast.text,
                priority=PRIORITY_BROADCAST,
                paid=paid,
                preview=True,
                broadcast_id=broadcast.id,
            )
        elif broadcast.from_chat_id is not None and broadcast.from_message_id is not None:
            await self._call(
                "copyMessage",
                {
                    "chat_id": chat_id,
                    "from_chat_id": broadcast.from_chat_id,
                    "message_id": broadcast.from_message_id,
                    "allow_paid_broadcast": paid,
                },
                PRIORITY_BROADCAST,
            )
        return 1

    async def _send_text(
        self,
        chat_id: int,
        text: str,
        *,
        priority: int,
        thread_id: int | None = None,
        paid: bool | None = None,
        preview: bool | Mapping[str, Any] = False,
        broadcast_id: int | None = None,
        markup: dict[str, Any] | None = None,
    ) -> None:
        """Send one HTML message; refused markup goes once as plain text, a gone thread to
        the chat itself. `preview`: Telegram's own link preview, or none, or these
        link_preview_options."""
        if isinstance(preview, bool):
            options: Mapping[str, Any] | None = None if preview else NO_PREVIEW
        else:
            options = preview
        data: dict[str, Any] = {
            "chat_id": chat_id,
            "text": text,
            "parse_mode": "HTML",
            "message_thread_id": thread_id,
            "link_preview_options": options,
            "allow_paid_broadcast": paid,
            "reply_markup": markup,
        }
        shared = None if broadcast_id is None else (broadcast_id, "html")
        while True:
            try:
                await self._call("sendMessage", data, priority, shared=shared)
                return
            except BadRequest as exc:
                action = decide(exc).action
                if action is Action.RESEND_PLAIN and data["parse_mode"] is not None:
                    log.warning(
                        "chat %s: markup refused (%s); resending as plain text", chat_id, exc
                    )
                    data = {**data, "text": html_to_text(text)[:4096], "parse_mode": None}
                    shared = None if broadcast_id is None else (broadcast_id, "plain")
                elif action is Action.RESEND_WITHOUT_THREAD and data["message_thread_id"]:
                    log.info("chat %s: thread %s is gone; sending to the chat", chat_id, thread_id)
                    data = {**data, "message_thread_id": None}
                else:
                    raise

    async def _call(
        self,
        method: str,
        data: dict[str, Any],
        priority: int,
        *,
        shared: tuple[int, str] | None = None,
    ) -> Any:
        """Call a Bot API method through the limiter; return its raw result.

        Bot.send_message would build a Message from every answer, about a third of the CPU
        a send costs, and the outbox only needs to know that the send went through. The
        form body is encoded here (once per broadcast for the part all its chats share)
        and posted through BaseRequest.post, whose code still maps every error answer to
        python-telegram-bot's exceptions. `shared` names that part: (broadcast id, form).
        """
        if self._form is None:
            return await self._call_library(method, data, priority)
        url = f"{self.bot.base_url}/{method}"
        post = self._form.post_form
        if method == "sendPhoto":
            post = partial(post, read_timeout=PHOTO_READ_TIMEOUT)
        if shared is None:
            body = encode_form(data)
        else:
            rest = self._encoded.get(shared)
            if rest is None:
                if len(self._encoded) >= KEEP_ENCODED:
                    self._encoded.clear()
                rest = encode_form({k: v for k, v in data.items() if k != "chat_id"})
                self._encoded[shared] = rest
            body = b"chat_id=%d&%s" % (data["chat_id"], rest)
        return await self.limiter.send(
            partial(post, url, body),
            key=data["chat_id"],
            priority=priority,
            paid=data.get("allow_paid_broadcast") is True,
        )

    async def _call_library(self, method: str, data: dict[str, Any], priority: int) -> Any:
        """The same call through python-telegram-bot's methods (any other request class)."""
        bot = self.bot
        if method == "sendMessage":
            preview = data.get("link_preview_options")
            markup = data.get("reply_markup")
            return await bot.send_message(
                data["chat_id"],
                data["text"],
                parse_mode=data.get("parse_mode"),
                message_thread_id=data.get("message_thread_id"),
                link_preview_options=None if preview is None else LinkPreviewOptions(**preview),
                allow_paid_broadcast=data.get("allow_paid_broadcast"),
                reply_markup=None if markup is None else InlineKeyboardMarkup.de_json(markup, bot),
                rate_limit_args=priority,
            )
        if method == "sendPhoto":
            return await bot.send_photo(
                data["chat_id"],
                data["photo"],
                caption=data.get("caption"),
                parse_mode=data.get("parse_mode"),
                message_thread_id=data.get("message_thread_id"),
                read_timeout=PHOTO_READ_TIMEOUT,
                rate_limit_args=priority,
            )
        if method == "copyMessage":
            return await bot.copy_message(
                data["chat_id"],
                data["from_chat_id"],
                data["message_id"],
                allow_paid_broadcast=data.get("allow_paid_broadcast"),
                rate_limit_args=priority,
            )
        raise ValueError(f"no library method for {method}")


def _post_order(
    headline: Headline | None, item: tuple[int, tuple[str, ...]]
) -> tuple[int, float, float, int]:
    """Where a headline goes among its row's posts: oldest first (a gone one last)."""
    if headline is None:
        return (1, 0.0, 0.0, item[0])
    return (0, headline.published_at, headline.first_seen_at, -headline.id)


def _shown(topics: tuple[str, ...], labels: Mapping[str, str]) -> tuple[str, ...]:
    """Matched topics (keys) as the chat typed them; a topic it no longer has, as its key."""
    return tuple(labels.get(topic, topic) for topic in topics)


def _cut_units(text: str, limit: int) -> str:
    """Text cut to at most `limit` UTF-16 units, as Telegram counts a caption."""
    text = text.strip()
    while tg_len(text) > limit:
        text = text[: max(0, len(text) - max(1, (tg_len(text) - limit) // 2))]
    return text
