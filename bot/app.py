"""build_application(settings): the one place that assembles every part of the bot."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from telegram import BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import ApplicationBuilder, ContextTypes, Defaults, ExtBot
from telegram.request import BaseRequest

import handlers
from bot.chats.permissions import AdminCache
from bot.chats.preferences import PreferencesService
from bot.chats.service import ChatService
from bot.config import Settings
from bot.context import AppState, BotApp, BotContext, PerChatUpdateProcessor, Services
from bot.delivery.announce import BroadcastReporter
from bot.delivery.http import AiohttpRequest
from bot.delivery.limiter import Limits, SlidingWindowLimiter
from bot.delivery.startup import until_up
from bot.delivery.worker import Delivery
from bot.feeds import FeedFetcher
from bot.feeds.admin import FeedAdmin
from bot.feeds.poller import Poller
from bot.feeds.pool import ParsePool
from bot.ops.alerts import alert_feed_health
from bot.ops.status import (
    BotHealthProvider,
    FailingFeed,
    StatusServer,
    failing_feeds,
)
from bot.routing import TopicIndex
from bot.routing.router import Router
from bot.telemetry.liveness import Liveness
from bot.telemetry.metrics import Metrics
from bot.text.i18n import translator
from handlers.menu import menu_commands, menu_languages
from storage import Storage, open_storage

log = logging.getLogger(__name__)

# The command menu comes from the one table of commands (handlers/menu.py), in English here
USER_COMMANDS: list[BotCommand] = menu_commands(translator(None))
# Finished outbox rows (sent, failed, dropped) are kept this long for inspection, then pruned.
KEEP_FINISHED_DAYS = 3
KEEP_FINISHED_SECONDS = KEEP_FINISHED_DAYS * 86400
PRUNE_CHUNK = 5000  # rows deleted per transaction, so replies and sends go on meanwhile
KEEP_ALIVE_AFTER = 60.0  # webhook mode: getMe when the Bot API has been quiet this long
KEEP_ALIVE_CHECK = 15.0
ALLOWED_UPDATES = ["message", "channel_post", "callback_query", "my_chat_member", "inline_query"]
ADMIN_COMMANDS: list[BotCommand] = [
    c for c in menu_commands(translator(None), admin=True) if c not in USER_COMMANDS
]


def build_application(
    settings: Settings,
    *,
    requests: tuple[BaseRequest, BaseRequest] | None = None,
    limits: Limits | None = None,
    http_client: httpx.AsyncClient | None = None,
    clock: Callable[[], float] = time.time,
) -> BotApp:
    """Assemble the Application: Bot API client, limiter, handlers, jobs and lifecycle.

    `clock` (epoch seconds) is what routing, delivery and the chat settings reckon digest
    times and quiet hours by: tests pass one they can move.
    """
    limiter = SlidingWindowLimiter(limits)
    holder: list[BotApp] = []

    def unauthorized() -> None:
        if holder and holder[0].bot_data.exit_code == 0:
            log.critical("the Bot API answers 401 Unauthorized: the token was revoked; stopping")
            holder[0].bot_data.exit_code = 3
            holder[0].stop_running()

    builder = (
        ApplicationBuilder()
        .token(settings.token)
        .base_url(settings.base_url)
        .base_file_url(f"{settings.telegram_api_url}/file/bot")
        .defaults(Defaults(parse_mode=ParseMode.HTML))
        .rate_limiter(limiter)
        .context_types(ContextTypes(context=BotContext, bot_data=AppState))
        .concurrent_updates(PerChatUpdateProcessor())
        .post_init(_post_init)
        .post_stop(_post_stop)
        .post_shutdown(_post_shutdown)
    )
    own_requests: list[AiohttpRequest] = []
    if requests is not None:  # e.g. the console's in-process Bot API
        builder = builder.request(requests[0]).get_updates_request(requests[1])
    else:
        own_requests = [
            AiohttpRequest(connection_pool_size=64, on_unauthorized=unauthorized),
            AiohttpRequest(connection_pool_size=1, on_unauthorized=unauthorized),
        ]
        builder = builder.request(own_requests[0]).get_updates_request(own_requests[1])
    app: BotApp = builder.build()  # type: ignore[assignment]
    holder.append(app)
    for request in own_requests:  # every answer and failure of the Bot API is observed
        request.on_answered = app.bot_data.liveness.api_answered
        request.metrics = app.bot_data.metrics
    app.bot_data.settings = settings
    app.bot_data.limiter = limiter
    app.bot_data.http_client = http_client
    app.bot_data.clock = clock
    handlers.register(app)
    return app


async def open_services(
    settings: Settings,
    *,
    limiter: SlidingWindowLimiter | None = None,
    http_client: httpx.AsyncClient | None = None,
    metrics: Metrics | None = None,
    liveness: Liveness | None = None,
    clock: Callable[[], float] = time.time,
) -> Services:
    """Open the database and build every service, once: the one place that wires them.

    The running bot, the command line and the console all come through here; the delivery
    worker is given its bot when it starts.
    """
    metrics = Metrics() if metrics is None else metrics
    liveness = Liveness() if liveness is None else liveness
    limiter = SlidingWindowLimiter() if limiter is None else limiter
    limiter.metrics = metrics
    storage = await open_storage(settings.database)
    index = TopicIndex()
    chats = ChatService(storage, index, max_topics=settings.max_topics_per_chat, clock=clock)
    preferences = PreferencesService(storage, clock=clock)
    fetcher = feed_fetcher(settings, client=http_client)
    delivery = Delivery(
        storage,
        limiter,
        chats,
        preferences,
        paid_broadcast=settings.allow_paid_broadcast,
        metrics=metrics,
        clock=clock,
    )
    router = Router(storage, index, release_times=preferences.release_times, clock=clock)
    parse_pool = ParsePool()  # its workers start with the first feed it parses
    poller = Poller(
        storage,
        fetcher,
        router,
        urls=settings.feed_urls,
        interval=settings.poll_interval_seconds,
        default_language=settings.default_language,
        on_queued=delivery.wake,
        clock=clock,
        metrics=metrics,
        liveness=liveness,
        parser=parse_pool,
    )
    feed_admin = FeedAdmin(
        storage,
        fetcher,
        configured=settings.feed_urls,
        allow_private=settings.allow_private_feeds,
        default_language=settings.default_language,
    )
    services = Services(
        settings=settings,
        storage=storage,
        index=index,
        fetcher=fetcher,
        chats=chats,
        preferences=preferences,
        poller=poller,
        parse_pool=parse_pool,
        feed_admin=feed_admin,
        delivery=delivery,
        limiter=limiter,
        # broadcast reports in the admin's language
        reporter=BroadcastReporter(storage.broadcasts, languages=preferences),
        admins=AdminCache(),
        metrics=metrics,
        liveness=liveness,
        health=_health(storage, liveness),
        clock=clock,
    )
    _watch(services)
    loaded = await chats.load_all()
    log.info("database %s ready; %d subscriptions loaded", storage.store.description, loaded)
    return services


def feed_fetcher(settings: Settings, *, client: httpx.AsyncClient | None = None) -> FeedFetcher:
    """The feed fetcher the settings ask for (the services' own, or `check`'s without them)."""
    return FeedFetcher(
        client=client,
        timeout=settings.fetch_timeout_seconds,
        max_bytes=settings.max_feed_bytes,
    )


def _health(storage: Storage, liveness: Liveness) -> BotHealthProvider:
    """What /healthz asks: every feed of the database (those added with /feeds as well as
    FEED_URLS, as /stats and the alerts count them), the store's writes, the backlog."""

    async def failing() -> tuple[FailingFeed, ...]:
        return failing_feeds(await storage.feeds.all())

    return BotHealthProvider(
        liveness, storage.store, failing_feeds=failing, outbox_backlog=_backlog(storage)
    )


def _backlog(storage: Storage) -> Callable[[], Awaitable[int]]:
    """A reader of the number of messages waiting in the outbox."""

    async def backlog() -> int:
        return (await storage.outbox.backlog())["total"]

    return backlog


def _watch(services: Services) -> None:
    """Feed the metrics' gauges from the database."""
    storage = services.storage

    async def active_chats() -> float:
        return await services.chats.audience_size("all")

    async def headlines() -> float:
        return await storage.headlines.count()

    services.metrics.read_gauges_from(
        outbox_backlog=_backlog(storage), active_chats=active_chats, headlines=headlines
    )


async def _post_init(app: BotApp) -> None:
    state = app.bot_data
    assert state.settings is not None
    assert state.limiter is not None
    settings = state.settings
    # Opened in a task of its own, shielded: a stop signal during start-up cancels post_init,
    # and a database left half-open (its worker thread running) keeps the process alive.
    opening = asyncio.ensure_future(
        open_services(
            settings,
            limiter=state.limiter,
            http_client=state.http_client,
            metrics=state.metrics,
            liveness=state.liveness,
            clock=state.clock,
        )
    )
    try:
        services = await asyncio.shield(opening)
    except asyncio.CancelledError:
        await asyncio.wait([opening])  # unlike awaiting the task, never cancels it
        app.bot_data.services = opening.result()  # for post_shutdown to close
        raise
    app.bot_data.services = services
    # a run before this one that stopped cleanly a moment ago may have filled the second
    # Telegram counts; after a crash the limiter keeps its full window from the start
    state.run_id, quiet_for = await services.storage.runs.begin()
    if quiet_for is not None:
        state.limiter.quiet_for(quiet_for)
    await register_commands(app, settings)
    services.delivery.start(app.bot)
    assert app.job_queue is not None, "python-telegram-bot needs its job-queue extra"
    # The first poll at start-up is a one-off job: a repeating job whose first run is due
    # before the scheduler starts is skipped by APScheduler until the next interval. It runs
    # however late the scheduler starts (a Bot API waited for at start-up delays it).
    app.job_queue.run_once(
        poll_job, when=0, name="first-poll", job_kwargs={"misfire_grace_time": None}
    )
    app.job_queue.run_repeating(
        poll_job,
        interval=settings.poll_interval_seconds,
        first=settings.poll_interval_seconds,
        name="poll",
        job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
    )
    app.job_queue.run_repeating(report_job, interval=1.0, first=1.0, name="broadcast-report")
    app.job_queue.run_repeating(prune_job, interval=3600, first=60, name="prune-outbox")
    if settings.webhook_url:
        # No getUpdates calls in webhook mode: an idle bot would not hear from the Bot API
        # for minutes, and /healthz would call that a silent API.
        app.job_queue.run_repeating(
            keep_alive_job, interval=KEEP_ALIVE_CHECK, first=KEEP_ALIVE_CHECK, name="keep-alive"
        )
    if settings.metrics_port is not None:
        await start_status_server(services)
    me = app.bot
    log.info(
        "@%s started: configured feeds: %d, polling every %g s",
        me.username,
        len(settings.feed_urls),
        settings.poll_interval_seconds,
    )
    # What start-up built (the topic index, the libraries) lives as long as the bot: out of
    # the collector's way, a full collection no longer walks it, which stopped the event
    # loop for a tenth of a second and more while a poll round made garbage. Until shutdown.
    gc.collect()
    gc.freeze()


async def register_commands(app: BotApp, settings: Settings) -> None:
    """Show user commands to everyone and admin commands only in admins' private chats,
    each list in English (for every client language without its own list) and in Spanish.

    Runs at start-up, so a Bot API out of reach is waited for (bot/startup.py).
    """
    for code, t in menu_languages():
        everyone = functools.partial(
            app.bot.set_my_commands,
            menu_commands(t),
            scope=BotCommandScopeDefault(),
            language_code=code,
        )
        await until_up(everyone, "setMyCommands")
    for admin_id in settings.admin_ids:
        for code, t in menu_languages():
            admin_menu = functools.partial(
                app.bot.set_my_commands,
                menu_commands(t, admin=True),
                scope=BotCommandScopeChat(admin_id),
                language_code=code,
            )
            try:
                await until_up(admin_menu, "setMyCommands")
            except TelegramError as exc:  # the admin has not started the bot yet
                log.info("admin %s: command menu not set (%s)", admin_id, exc)
                break


async def start_status_server(services: Services) -> None:
    """Serve /healthz and /metrics on METRICS_HOST:METRICS_PORT."""
    settings = services.settings
    assert settings.metrics_port is not None
    assert services.health is not None
    server = StatusServer(
        services.health,
        services.metrics,
        interval=settings.poll_interval_seconds,
        host=settings.metrics_host,
        port=settings.metrics_port,
    )
    await server.start()  # a port in use fails the start: the operator asked for it
    services.status_server = server


async def keep_alive_job(context: BotContext) -> None:
    """Call getMe when the Bot API has been quiet for KEEP_ALIVE_AFTER seconds."""
    liveness = context.services.liveness
    last = liveness.last_api_answer_at
    if last is not None and time.time() - last < KEEP_ALIVE_AFTER:
        return
    try:
        await context.bot.get_me()
    except TelegramError as exc:  # no answer: /healthz reports the silence
        log.debug("keep-alive getMe failed: %s", exc)


async def poll_job(context: BotContext) -> None:
    """The repeating poll: every feed that is due, in a task of its own.

    A poll can take a while (a slow feed, a poll routing to many chats); run inside the job
    it would hold up shutdown, which waits for running jobs. Its own task is cancelled at
    shutdown instead: its transactions roll back and the next start picks up from there.
    """
    services = context.services
    if services.poll_task is None or services.poll_task.done():
        services.poll_task = asyncio.create_task(
            _poll_and_alert(context.bot, services), name="poll"
        )


async def _poll_and_alert(bot: ExtBot[Any], services: Services) -> None:
    try:
        await services.poller.poll_all()
        await alert_feed_health(
            bot,
            services.feeds,
            services.preferences,
            admin_ids=services.settings.admin_ids,
            after_seconds=services.settings.feed_alert_after_seconds,
        )
    except Exception:  # the next interval tries again
        log.exception("poll failed")


async def report_job(context: BotContext) -> None:
    """Keep running broadcasts' progress reports current."""
    await context.services.reporter.refresh(context.bot)


async def prune_job(context: BotContext) -> None:
    """Delete outbox rows finished more than KEEP_FINISHED_SECONDS ago, a chunk at a time.

    Like routing, it pauses after each chunk as long as the chunk took, so that replies and
    deliveries keep at least half of the database's time.
    """
    before = context.services.clock() - KEEP_FINISHED_SECONDS
    total = 0
    while context.application.running:
        started = time.monotonic()
        pruned = await context.services.outbox.prune(before=before, limit=PRUNE_CHUNK)
        total += pruned
        if pruned < PRUNE_CHUNK:
            break
        await asyncio.sleep(time.monotonic() - started)
    if total:
        log.info("outbox: pruned rows finished over %d days ago: %d", KEEP_FINISHED_DAYS, total)


async def _post_stop(app: BotApp) -> None:
    services = app.bot_data.services
    if services is not None:
        if services.status_server is not None:
            await services.status_server.stop()
        if services.poll_task is not None and not services.poll_task.done():
            services.poll_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await services.poll_task
        await services.delivery.stop(grace=5.0)


async def close_services(services: Services) -> None:
    """Close what open_services opened: the feed fetcher's connections, the parser's
    processes and the database."""
    await services.fetcher.aclose()
    await services.parse_pool.close()
    await services.storage.close()


async def _post_shutdown(app: BotApp) -> None:
    state = app.bot_data
    services = state.services
    if services is not None:
        if state.run_id is not None:  # stopped (post_stop): nothing more is sent
            try:
                await services.storage.runs.end(
                    state.run_id, quiet_for=services.limiter.quiet_seconds()
                )
            except Exception as exc:  # the next start then waits as after a crash
                log.warning("the clean stop was not recorded: %s", exc)
            state.run_id = None
        await close_services(services)
        app.bot_data.services = None
    gc.unfreeze()  # what start-up built may go now (tests run many bots in one process)


@asynccontextmanager
async def running(app: BotApp, *, poll_timeout: int = 1) -> AsyncIterator[Services]:
    """Run the application inside an existing event loop (console, tests); stop on exit.

    The same start and stop sequence as run_polling, lifecycle hooks included, without its
    signal handling and event-loop ownership.
    """
    await app.initialize()
    try:
        if app.post_init is not None:
            await app.post_init(app)
        services = app.bot_data.services
        assert services is not None
        assert app.updater is not None

        def polling_error(exc: TelegramError) -> None:
            # as run_polling does: errors while fetching updates go to the error handler
            app.create_task(app.process_error(error=exc, update=None))

        await app.updater.start_polling(
            poll_interval=0,
            timeout=poll_timeout,
            allowed_updates=ALLOWED_UPDATES,
            error_callback=polling_error,
        )
        await app.start()
        yield services
    finally:
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        await stop_application(app)


async def stop_application(app: BotApp) -> None:
    """The stop steps after the updater, lifecycle hooks included; each is safe to repeat."""
    if app.running:
        await app.stop()
    if app.post_stop is not None:
        await app.post_stop(app)
    await app.shutdown()
    if app.post_shutdown is not None:
        await app.post_shutdown(app)
