"""The webhook listener: Telegram's updates over HTTP, with /healthz and /metrics beside them.

python-telegram-bot's own webhook server runs on tornado and cannot share its port, and it
answers a body that is not JSON with a 500 and an update it cannot read with a CRITICAL
traceback. This one is a small aiohttp app: a request without the secret gets 403, a body
that is not an update gets 400, each with one WARNING line, and a good update goes on the
Application's update queue as python-telegram-bot's own listener would put it there.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from typing import Any

from aiohttp import web
from telegram import Bot, Update

from bot.ops.status import HealthProvider, add_status_routes
from bot.telemetry.metrics import Metrics

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name, not a secret)
MAX_BODY_BYTES = 1024 * 1024  # an update is a few kilobytes; Telegram sends no files inline


def read_update(body: bytes) -> dict[str, Any] | str:
    """The update's JSON object, or why the body is not an update (pure)."""
    try:
        data = json.loads(body)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError both are
        return "the body is not JSON"
    if not isinstance(data, dict):
        return f"the body is JSON {type(data).__name__}, not an update object"
    update_id = data.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        return "the JSON has no integer update_id"
    return data


def secret_matches(given: str | None, secret: str) -> bool:
    """Whether the request's secret header is the webhook's secret, in constant time."""
    return given is not None and hmac.compare_digest(given.encode(), secret.encode())


class WebhookServer:
    """Takes Telegram's POSTs on `path`, puts each update on `queue`; serves the status pages."""

    def __init__(
        self,
        bot: Bot,
        queue: asyncio.Queue[object],
        *,
        path: str,
        secret: str,
        host: str = "0.0.0.0",  # noqa: S104 (a webhook must be reachable from outside)
        port: int,
        health: HealthProvider | None = None,
        metrics: Metrics | None = None,
        interval: float = 300.0,
    ) -> None:
        self.bot = bot
        self.queue = queue
        self.path = "/" + path.lstrip("/")
        self.host = host
        self.port = port
        self._secret = secret
        self._app = web.Application(client_max_size=MAX_BODY_BYTES)
        self._app.router.add_post(self.path, self._take)
        if health is not None:
            add_status_routes(self._app, health, metrics, interval=interval)
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen; raises OSError when the port is taken."""
        # no access log: Telegram posts every update, and a log line each is noise
        runner = web.AppRunner(self._app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        if runner.addresses:  # the real port when 0 was asked for
            self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop listening; safe to call twice."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _take(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER)
        if not secret_matches(given, self._secret):
            why = "no secret token" if given is None else "a wrong secret token"
            log.warning("webhook: refused a request from %s with %s (403)", request.remote, why)
            return web.Response(status=403, text="Forbidden")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            log.warning(
                "webhook: refused a body over %d bytes from %s", MAX_BODY_BYTES, request.remote
            )
            raise
        data = read_update(body)
        if isinstance(data, str):
            log.warning("webhook: refused a request from %s: %s (400)", request.remote, data)
            return web.Response(status=400, text="Bad Request")
        try:
            update = Update.de_json(data, self.bot)
        except Exception as exc:  # python-telegram-bot raises anything on a malformed field
            log.warning(
                "webhook: refused update %s from %s: not an update (%s: %s) (400)",
                data["update_id"],
                request.remote,
                type(exc).__name__,
                str(exc)[:200],
            )
            return web.Response(status=400, text="Bad Request")
        await self.queue.put(update)
        return web.Response(status=200)
