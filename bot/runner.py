"""Run the bot process: the database lock, then long polling or a webhook."""

from __future__ import annotations

import asyncio
import logging
import secrets
import sys
from urllib.parse import urlsplit

from telegram.error import InvalidToken, TelegramError

from bot.app import ALLOWED_UPDATES, build_application, stop_application
from bot.context import BotApp
from bot.lock import AlreadyRunningError, acquire_lock
from bot.settings import Settings
from storage.migrate import SchemaTooNewError

log = logging.getLogger(__name__)


def run_bot(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT; return the process exit code."""
    try:
        lock = acquire_lock(settings.database_path)
    except AlreadyRunningError as exc:
        print(f"headline-bot: {exc}", file=sys.stderr)
        return 1
    app = build_application(settings)
    # Our own loop, kept open after python-telegram-bot returns: a refused token needs it to
    # finish stopping (see _finish_stopping).
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        if settings.webhook_url:
            given = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
            secret = given or secrets.token_urlsafe(32)
            path = urlsplit(settings.webhook_url).path.lstrip("/")
            log.info("webhook mode: listening on port %d, path /%s", settings.port, path)
            app.run_webhook(
                listen="0.0.0.0",  # noqa: S104 (a webhook must be reachable from outside)
                port=settings.port,
                url_path=path,
                webhook_url=settings.webhook_url,
                secret_token=secret,
                allowed_updates=ALLOWED_UPDATES,
                close_loop=False,
            )
        else:
            app.run_polling(allowed_updates=ALLOWED_UPDATES, close_loop=False)
    except InvalidToken:
        _finish_stopping(app, loop)
        print(
            f"headline-bot: {settings.telegram_api_url} refused BOT_TOKEN (wrong or revoked)",
            file=sys.stderr,
        )
        return 3
    except SchemaTooNewError as exc:
        print(f"headline-bot: {exc}", file=sys.stderr)
        return 1
    except TelegramError as exc:
        print(f"headline-bot: the Bot API failed at start-up: {exc}", file=sys.stderr)
        return 1
    finally:
        loop.close()
        lock.close()
    code = app.bot_data.exit_code
    log.info("stopped (exit code %d)", code)
    return code


def _finish_stopping(app: BotApp, loop: asyncio.AbstractEventLoop) -> None:
    """Run the stop steps python-telegram-bot skips when polling ends on a refused token.

    Its Updater.stop() re-raises the polling task's InvalidToken, so Application.stop and
    the post_stop/post_shutdown hooks never run: the delivery worker and the database stay
    open, and the database's worker thread would keep the process from exiting. Every step
    is safe to repeat.
    """
    try:
        loop.run_until_complete(stop_application(app))
    except Exception:  # stopping must end in an exit, whatever else is broken
        log.exception("stopping after the refused token failed")
