"""Run the bot process: the database guard, then long polling or a webhook.

The steps are python-telegram-bot's run_polling/run_webhook (initialize, post_init,
the webhook bootstrap, start, run until a signal, stop), taken one by one so that
start-up waits for a Bot API out of reach (bot/startup.py) and a signal during that
wait stops the process at once and cleanly.

Before any of them the process claims the database's guard (storage/lock.py): one active
bot per database. On a shared database (PostgreSQL) a second process stands by instead of
exiting: it retries the guard every few seconds and touches nothing else, then takes over
when the active one stops or dies. A guard lost while running stops the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import sys
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar
from urllib.parse import urlsplit

from telegram.error import InvalidToken, TelegramError

from bot.app import ALLOWED_UPDATES, build_application, stop_application
from bot.config import Settings
from bot.context import BotApp
from bot.delivery.http import AiohttpRequest
from bot.delivery.startup import until_up
from bot.ops.status import StandbyServer
from bot.process.logs import redact
from bot.process.webhook import WebhookServer
from storage import SchemaTooNewError
from storage.lock import Claim, can_stand_by, claim, holder

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGABRT)
FOREVER = -1  # bootstrap_retries: the updater retries on its own instead of giving up
STANDBY_RETRY_SECONDS = 3.0  # a standby tries the guard this often: takeover within ~5 s

_T = TypeVar("_T")


def run_bot(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT; return the process exit code."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    signals = _Signals(loop)
    signals.install()
    try:
        guard, code, failure = _claim(settings, signals)
        if guard is not None:
            code, failure = _run_guarded(settings, loop, signals, guard)
    finally:
        signals.uninstall()
        loop.close()
    if failure:
        print(f"headline-bot: {failure}", file=sys.stderr)
        return code
    log.info("stopped (exit code %d)", code)
    return code


def _claim(settings: Settings, signals: _Signals) -> tuple[Claim | None, int, str]:
    """The guard, else (None, exit code, why): at once, or after standing by."""
    database = settings.database
    try:
        guard = signals.run(claim(database))
    except _Stopped:
        return None, 0, ""
    except OSError as exc:
        if not can_stand_by(database):
            return None, 1, f"database {settings.database_name}: {exc}"
        # a server out of reach at start-up is waited for, as the Bot API is
        log.warning("database unreachable at start-up: %s; trying again", exc)
        guard, unreachable = None, True
    else:
        unreachable = False
        if guard is not None:
            return guard, 0, ""
        refusal = signals.loop.run_until_complete(_refusal(settings))
        if refusal:
            return None, 1, refusal
    try:
        return signals.run(_stand_by(settings, unreachable=unreachable)), 0, ""
    except _Stopped:
        return None, 0, ""
    except _RefusedError as exc:
        return None, 1, str(exc)
    except OSError as exc:  # the standby's status port is taken
        return None, 1, f"standby status server: {exc}"


class _RefusedError(Exception):
    """Another bot holds the database, and this one may not stand by for it."""


async def _refusal(settings: Settings) -> str:
    """Why this process may not stand by for the bot holding the guard ('' when it may)."""
    database = settings.database
    if can_stand_by(database) and not settings.webhook_url:
        return ""
    who = await holder(database)
    busy = f"another headline-bot ({who}) is already running on {settings.database_name}"
    if not can_stand_by(database):
        return f"{busy}; stop it first (two would push the same headlines twice)"
    return (
        f"{busy}; in webhook mode a second one does not stand by (Telegram sends the updates "
        "to one URL): stop it first"
    )


async def _stand_by(settings: Settings, *, unreachable: bool) -> Claim:
    """Wait for the guard, touching nothing but it (and serving /healthz); return it.

    Standing by for another bot, or waiting for a database out of reach at start-up.
    """
    name = settings.database_name
    server: StandbyServer | None = None
    waiting_for = ""  # the bot stood by for, once known
    if not unreachable:
        waiting_for = await holder(settings.database)
        _standing_by(waiting_for, name)
    if settings.metrics_port is not None:
        shown = waiting_for or "unknown (the database is out of reach)"
        server = StandbyServer(shown, host=settings.metrics_host, port=settings.metrics_port)
        await server.start()
    try:
        while True:
            await asyncio.sleep(STANDBY_RETRY_SECONDS)
            try:
                guard = await claim(settings.database)
            except OSError as exc:
                if not unreachable:  # once per outage, not every few seconds
                    log.warning("database unreachable: %s; trying again", exc)
                unreachable = True
                continue
            if unreachable:
                log.info("the database %s answers again", name)
                unreachable = False
            if guard is not None:
                if waiting_for:
                    log.info("the active bot is gone: taking over on %s", name)
                return guard
            if not waiting_for:  # reached at last, and another bot holds it
                refusal = await _refusal(settings)
                if refusal:
                    raise _RefusedError(refusal)
                waiting_for = await holder(settings.database)
                _standing_by(waiting_for, name)
                if server is not None:
                    server.active = waiting_for
    finally:
        if server is not None:
            await server.stop()


def _standing_by(active: str, name: str) -> None:
    log.info(
        "standing by: another headline-bot (%s) is active on %s; taking over when it stops "
        "(trying every %g s)",
        active,
        name,
        STANDBY_RETRY_SECONDS,
    )


def _run_guarded(
    settings: Settings, loop: asyncio.AbstractEventLoop, signals: _Signals, guard: Claim
) -> tuple[int, str]:
    """Run the bot while the guard holds; stop (exit 1) if it is lost; release it last."""
    lost: list[str] = []

    async def watch() -> None:
        lost.append(await guard.lost())
        signals.request_stop()

    watcher = loop.create_task(watch(), name="guard-watch")
    try:
        code, failure = _run(build_application(settings), settings, loop, signals)
    finally:
        watcher.cancel()
        loop.run_until_complete(asyncio.wait([watcher]))
        # released only once the bot has stopped: a standby must not start beside it
        loop.run_until_complete(guard.release())
    if lost:
        return 1, f"{lost[0]}: stopped, so that two bots never run on {settings.database_name}"
    return code, failure


def _run(
    app: BotApp, settings: Settings, loop: asyncio.AbstractEventLoop, signals: _Signals
) -> tuple[int, str]:
    """Start, serve, stop; return the exit code and the one line that says why it failed."""
    refused = f"{settings.telegram_api_url} refused BOT_TOKEN (wrong or revoked)"
    code, failure = 0, ""
    try:
        if signals.start(_start(app, settings)) and not app.bot_data.exit_code:
            signals.serve()
    except InvalidToken:
        code, failure = 3, refused
    except SchemaTooNewError as exc:
        code, failure = 1, str(exc)
    except TelegramError as exc:
        code, failure = 1, f"the Bot API failed at start-up: {exc}"
    finally:
        signals.stopping()
        try:
            loop.run_until_complete(_stop(app))
        except Exception:  # stopping must end in an exit, whatever else is broken
            log.exception("stopping failed")
    if not code and app.bot_data.exit_code == 3:  # the token was revoked while running
        code, failure = 3, refused
    return code or app.bot_data.exit_code, failure


async def _start(app: BotApp, settings: Settings) -> None:
    """initialize (getMe), post_init, the webhook call, start: as run_polling/run_webhook do."""
    with _refusal_reported_by_runner(app):
        await until_up(app.initialize, "getMe")
    if app.post_init is not None:
        await app.post_init(app)
    updater = app.updater
    assert updater is not None
    if settings.webhook_url:
        await _start_webhook(app, settings)
    else:
        await until_up(app.bot.delete_webhook, "deleteWebhook")

        def polling_error(exc: TelegramError) -> None:
            # as run_polling does: errors while fetching updates go to the error handler
            app.create_task(app.process_error(error=exc, update=None))

        await updater.start_polling(
            allowed_updates=ALLOWED_UPDATES,
            bootstrap_retries=FOREVER,
            error_callback=polling_error,
        )
    await app.start()


async def _start_webhook(app: BotApp, settings: Settings) -> None:
    """setWebhook, then our own listener on PORT: updates, /healthz and /metrics."""
    assert settings.webhook_url is not None
    given = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
    secret = given or secrets.token_urlsafe(32)
    redact(secret)  # a generated one too: python-telegram-bot logs setWebhook's parameters
    path = urlsplit(settings.webhook_url).path or "/"
    url = settings.webhook_url
    await until_up(
        lambda: app.bot.set_webhook(
            url, allowed_updates=ALLOWED_UPDATES, max_connections=40, secret_token=secret
        ),
        "setWebhook",
    )
    services = app.bot_data.services
    assert services is not None
    server = WebhookServer(
        app.bot,
        app.update_queue,
        path=path,
        secret=secret,
        port=settings.port,
        health=services.health,
        metrics=services.metrics,
        interval=settings.poll_interval_seconds,
    )
    await server.start()
    app.bot_data.webhook = server
    log.info(
        "webhook mode: listening on port %d, path %s (and /healthz, /metrics)", server.port, path
    )


async def _stop(app: BotApp) -> None:
    """Stop whatever was started, from any point of start-up or from running."""
    updater = app.updater
    if updater is not None and updater.running:
        try:
            await updater.stop()
        except TelegramError as exc:  # polling ended on it (a refused token): already reported
            log.debug("updater stopped on %s", type(exc).__name__)
    webhook = app.bot_data.webhook
    if webhook is not None:  # no more updates in: then the Application stops
        await webhook.stop()
    await stop_application(app)
    # When getMe never answered, the Application was never initialized and its shutdown
    # skips the Bot API connections: close them here (safe to repeat).
    await app.bot.shutdown()


@contextlib.contextmanager
def _refusal_reported_by_runner(app: BotApp) -> Iterator[None]:
    """Mute the 401 hook for the first getMe: a token refused at start-up gets one line.

    The hook stops a running bot and logs why; at start-up the runner says it instead.
    """
    request = app.bot.request
    if not isinstance(request, AiohttpRequest):
        yield
        return
    hook, request.on_unauthorized = request.on_unauthorized, None
    try:
        yield
    finally:
        request.on_unauthorized = hook


class _Stopped(Exception):
    """A stop signal cut a start-up step short."""


class _Signals:
    """SIGINT/SIGTERM: cancel start-up where it is waiting, or end the running loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.starting: asyncio.Task[Any] | None = None
        self.phase = "idle"

    def install(self) -> None:
        """Handle the stop signals on the loop (instead of Python's KeyboardInterrupt)."""
        for sig in STOP_SIGNALS:
            self.loop.add_signal_handler(sig, self._received, sig)

    def uninstall(self) -> None:
        """Give the signals back to their default handling."""
        for sig in STOP_SIGNALS:
            self.loop.remove_signal_handler(sig)

    def run(self, steps: Coroutine[Any, Any, _T]) -> _T:
        """Run a start-up step to its end; raise _Stopped when a stop cut it short."""
        if self.phase == "stop requested":
            steps.close()
            raise _Stopped
        self.phase = "starting"
        self.starting = self.loop.create_task(steps, name="start-up")
        try:
            result: _T = self.loop.run_until_complete(self.starting)
        except asyncio.CancelledError:
            raise _Stopped from None
        if self.phase != "starting":
            raise _Stopped
        return result

    def start(self, steps: Coroutine[Any, Any, None]) -> bool:
        """Run the start-up steps; False when a stop signal cut them short."""
        try:
            self.run(steps)
        except _Stopped:
            return False
        return True

    def serve(self) -> None:
        """Run until a stop signal or Application.stop_running (which stops the loop)."""
        if self.phase == "stop requested":
            return
        self.phase = "serving"
        self.loop.run_forever()

    def stopping(self) -> None:
        """From here on, signals change nothing: stopping is under way."""
        self.phase = "stopping"

    def request_stop(self) -> None:
        """Stop as a signal would: cut start-up short, or end the running loop."""
        if self.phase == "starting":
            self.phase = "stop requested"
            assert self.starting is not None
            if not self.starting.done():
                self.starting.cancel()
        elif self.phase == "serving":
            self.phase = "stop requested"
            self.loop.stop()
        elif self.phase == "idle":
            self.phase = "stop requested"

    def _received(self, sig: signal.Signals) -> None:
        log.info("%s received: stopping", sig.name)
        self.request_stop()
