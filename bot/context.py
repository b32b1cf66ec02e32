"""The typed services handlers reach through their callback context (built in bot/app.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from telegram import Update
from telegram.ext import Application, BaseUpdateProcessor, CallbackContext, ExtBot

from bot.chats.permissions import AdminCache
from bot.chats.preferences import PreferencesService
from bot.chats.service import ChatService
from bot.config import Settings
from bot.delivery.announce import BroadcastReporter
from bot.delivery.limiter import SlidingWindowLimiter
from bot.delivery.worker import Delivery
from bot.feeds import FeedFetcher
from bot.feeds.admin import FeedAdmin
from bot.feeds.poller import Poller
from bot.feeds.pool import ParsePool
from bot.ops.status import HealthProvider, StatusServer
from bot.routing import TopicIndex
from bot.telemetry.liveness import Liveness
from bot.telemetry.metrics import Metrics
from storage import Storage
from storage.broadcasts import BroadcastRepo
from storage.feeds import FeedRepo
from storage.headlines import HeadlineRepo
from storage.outbox import OutboxRepo
from storage.store import replying

log = logging.getLogger(__name__)

# The work the update being handled leaves for after its answer (see after_answer).
_after_answer: ContextVar[list[Callable[[], Awaitable[object]]] | None] = ContextVar(
    "after_answer", default=None
)


@dataclass(kw_only=True)
class Services:
    """Everything the handlers and jobs use, built once by the assembly (bot/app.py)."""

    settings: Settings
    storage: Storage  # the database and its repositories
    index: TopicIndex
    fetcher: FeedFetcher
    chats: ChatService  # every chat's life and topics, database and index together
    preferences: PreferencesService  # each chat's preferences, read by routing and delivery
    poller: Poller
    parse_pool: ParsePool  # the poller's feed parsing, in worker processes
    feed_admin: FeedAdmin
    delivery: Delivery
    limiter: SlidingWindowLimiter
    reporter: BroadcastReporter
    admins: AdminCache
    metrics: Metrics
    liveness: Liveness  # when it last polled, heard the API
    health: HealthProvider  # what /healthz asks
    # epoch seconds for every part that reckons with the time of day (injectable: tests
    # move it)
    clock: Callable[[], float] = time.time
    status_server: StatusServer | None = None  # on METRICS_PORT, when set
    poll_task: asyncio.Task[None] | None = None

    @property
    def headlines(self) -> HeadlineRepo:
        """The headlines the feeds gave."""
        return self.storage.headlines

    @property
    def feeds(self) -> FeedRepo:
        """The feeds and their polling state."""
        return self.storage.feeds

    @property
    def outbox(self) -> OutboxRepo:
        """Every send waiting to happen."""
        return self.storage.outbox

    @property
    def broadcasts(self) -> BroadcastRepo:
        """Admins' announcements."""
        return self.storage.broadcasts

    def is_admin(self, user_id: int | None) -> bool:
        """Whether this Telegram user is a bot admin (from ADMIN_IDS only)."""
        return user_id is not None and user_id in self.settings.admin_ids


class Stoppable(Protocol):
    """A server the runner started and must stop."""

    async def stop(self) -> None:
        """Stop it; safe to call twice."""
        ...


class AppState:
    """The application's bot_data: set up in post_init, read through BotContext."""

    def __init__(self) -> None:
        self.settings: Settings | None = None
        self.services: Services | None = None
        self.limiter: SlidingWindowLimiter | None = None
        self.clock: Callable[[], float] = time.time  # build_application's clock
        self.http_client: httpx.AsyncClient | None = None
        # Built with the Application, before the services: the Bot API client reports
        # every answer to the liveness from the first getMe on.
        self.metrics = Metrics()
        self.liveness = Liveness()
        self.webhook: Stoppable | None = None  # our own webhook listener, in webhook mode
        self.run_id: int | None = None  # this run in the database (storage.runs)
        self.exit_code = 0


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], AppState]):
    """Callback context with typed access to the services."""

    @property
    def services(self) -> Services:
        """The running bot's services."""
        services = self.bot_data.services
        if services is None:
            raise RuntimeError("services are not ready (post_init has not run)")
        return services


BotApp = Application[ExtBot[None], BotContext, dict[Any, Any], dict[Any, Any], AppState, Any]


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Updates of different chats run concurrently; those of one chat run in order.

    A reply waiting for its chat's rate-limit window then holds up only that chat.
    """

    def __init__(self, max_concurrent_updates: int = 64) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""

    async def do_process_update(self, update: object, coroutine: Any) -> None:
        """Run the update's handlers, after earlier updates of the same chat; their database
        work goes ahead of background work (storage.store.replying). What they left for
        after the answer (:func:`after_answer`) runs next, still in the chat's turn."""
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await _answer(coroutine)
            return
        lock, users = self._locks.get(chat.id, (asyncio.Lock(), 0))
        self._locks[chat.id] = (lock, users + 1)
        try:
            async with lock:
                await _answer(coroutine)
        finally:
            lock, users = self._locks[chat.id]
            if users <= 1:
                del self._locks[chat.id]
            else:
                self._locks[chat.id] = (lock, users - 1)


async def after_answer(work: Callable[[], Awaitable[object]]) -> None:
    """Run `work` once the update being handled is answered, before its chat's next update.

    For bookkeeping the answer does not depend on, such as recording a chat's first contact:
    a write waits for the transaction under way, which during a round of feeds can take a
    tenth of a second, and a newcomer's first answer should not. Outside the handling of an
    update (no update processor) it runs at once.
    """
    pending = _after_answer.get()
    if pending is None:
        await work()
    else:
        pending.append(work)


async def _answer(coroutine: Awaitable[object]) -> None:
    """Handle one update: its database work ahead of background work, then what it left for
    after its answer, whether or not a handler failed (the failure is the error handler's;
    one of the work's is logged here). Nothing more runs once the handling is cancelled."""
    pending: list[Callable[[], Awaitable[object]]] = []
    token = _after_answer.set(pending)
    try:
        with replying():
            await coroutine
    except asyncio.CancelledError:
        pending.clear()
        raise
    finally:
        _after_answer.reset(token)
        for work in pending:
            try:
                await work()
            except Exception:
                log.exception("after an answer: %s failed", getattr(work, "__qualname__", work))
