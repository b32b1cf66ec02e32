"""The HTTP side of FakeTelegram: the aiohttp app, its lifecycle, recording and dispatch.

FakeTelegram is assembled from its parts, which share one object's state: World (the
users, chats, messages and updates: world.py), Faults (scripted misbehaviour and the rate
limits: faults.py) and Methods (the answers: methods.py). A request is decoded, recorded,
checked against the spec and Telegram's rules (validation.py), put through the scripted
faults and the limits, then answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Self

import aiohttp
from aiohttp import web

from tests.fakes.telegram import spec as api_spec
from tests.fakes.telegram.faults import Faults
from tests.fakes.telegram.methods import HANDLERS, Methods
from tests.fakes.telegram.protocol import (
    DEFAULT_TOKEN,
    LIMITED_METHODS,
    MESSAGE_METHODS,
    ApiError,
    Call,
    Json,
    Notifier,
)
from tests.fakes.telegram.spec import UploadedFile
from tests.fakes.telegram.validation import check_request
from tests.fakes.telegram.world import World

__all__ = ["FakeTelegram"]


class FakeTelegram(World, Faults, Methods):
    """An in-process Bot API server for end-to-end tests."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        enforce_limits: bool = False,
        overall_limit: int = 30,
        overall_period: float = 1.0,
        private_limits: Sequence[tuple[int, float]] = ((3, 3.0), (2, 1.0)),
        group_limits: Sequence[tuple[int, float]] = ((20, 60.0),),
        paid_limit: int = 1000,
        paid_period: float = 1.0,
        validate: bool = True,
        terminate_overlapping_polls: bool = True,
        port: int = 0,
    ) -> None:
        """port 0 listens on a free port; another one lets a test start the fake late."""
        self.token = token
        self.validate = validate
        self.terminate_overlapping_polls = terminate_overlapping_polls
        self._init_world(token)
        self._init_faults(
            enforce_limits=enforce_limits,
            overall_rules=((overall_limit, overall_period),),
            private_rules=private_limits,
            group_rules=group_limits,
            paid_rules=((paid_limit, paid_period),),
        )

        self.calls: list[Call] = []
        self.violations: list[str] = []
        self._by_method: defaultdict[str, list[Call]] = defaultdict(list)
        self._revoked: set[str] = set()

        self.webhook_url = ""
        self.webhook_secret: str | None = None
        self.webhook_params: dict[str, Any] = {}
        self._poll_generation = 0

        self._changed: Notifier | None = None
        self._updates_arrived: Notifier | None = None
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._listen_port = port
        self._port: int | None = None
        self._client: aiohttp.ClientSession | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Listen on 127.0.0.1 on a free port."""
        self._changed = Notifier()
        self._updates_arrived = Notifier()
        self._closing = False
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._serve_file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._listen_port)
        await site.start()
        server = site._server  # aiohttp exposes the bound port only through the server
        assert server is not None
        sockets = getattr(server, "sockets", None)
        assert sockets
        self._port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Release long polls and close the server."""
        self._closing = True
        if self._updates_arrived is not None:
            self._updates_arrived.notify()
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeTelegram is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """What to pass to ApplicationBuilder.base_url / Bot(base_url=...)."""
        return f"http://127.0.0.1:{self.port}/bot"

    def url(self, method: str, token: str | None = None) -> str:
        return f"{self.base_url}{token or self.token}/{method}"

    def revoke_token(self) -> None:
        """Make the current token answer 401, as after /revoke in BotFather."""
        self._revoked.add(self.token)

    # ------------------------------------------------------------------ recorded calls

    def calls_of(self, method: str) -> list[Call]:
        return list(self._by_method.get(method, ()))

    def sent_to(self, chat_id: int | str) -> list[Call]:
        """Successful message-creating calls (send*, copyMessage, ...) to one chat."""
        target = self._usernames.get(chat_id.lower(), None) if isinstance(chat_id, str) else chat_id
        return [
            c for c in self.calls if c.ok and c.chat_id == target and c.method in MESSAGE_METHODS
        ]

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.notify()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until predicate() holds; it is re-checked after every request (and 20 times/s)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout}s")
            notifier = self._changed or Notifier()
            await notifier.wait(min(remaining, 0.05))

    async def wait_calls(self, method: str, n: int = 1, timeout: float = 10.0) -> list[Call]:
        """Wait until at least n calls of method arrived; return them all."""
        try:
            await self.wait_for(lambda: len(self._by_method.get(method, ())) >= n, timeout)
        except TimeoutError:
            got = len(self._by_method.get(method, ()))
            raise TimeoutError(
                f"expected {n} {method} calls within {timeout}s, got {got}"
            ) from None
        return self.calls_of(method)

    @contextlib.contextmanager
    def expect_violation(self) -> Iterator[list[str]]:
        """Take the violations made inside the block out of `violations`; fail if none."""
        start = len(self.violations)
        caught: list[str] = []
        yield caught
        caught.extend(self.violations[start:])
        del self.violations[start:]
        if not caught:
            raise AssertionError("expected a Bot API violation, none was recorded")

    # ------------------------------------------------------------------ webhook

    async def post_update(
        self,
        url: str | None,
        update: Mapping[str, Any],
        secret_token: str | None = None,
    ) -> int:
        """POST an update to the bot's webhook like Telegram does; return the HTTP status.

        url None means the one given to setWebhook; secret_token None means the one
        given to setWebhook.
        """
        target = url or self.webhook_url
        if not target:
            raise RuntimeError("no webhook url: pass one or call setWebhook first")
        body = dict(update)
        if "update_id" not in body:
            body["update_id"] = self._next_update_id
            self._next_update_id += 1
        headers = {"Content-Type": "application/json"}
        secret = secret_token if secret_token is not None else self.webhook_secret
        if secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        if self._client is None:
            self._client = aiohttp.ClientSession()
        async with self._client.post(target, data=json.dumps(body), headers=headers) as resp:
            await resp.read()
            return resp.status

    # ------------------------------------------------------------------ HTTP

    async def _read_params(self, request: web.Request, method: str) -> dict[str, Any]:
        params: dict[str, Any] = {}
        spec = api_spec.load_spec()
        for key, value in request.query.items():
            params[key] = api_spec.decode_value(method, key, value, spec)
        if not request.body_exists:
            return params
        ctype = request.content_type
        if ctype == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise ApiError(400, "Bad Request: can't parse JSON request body") from None
            if not isinstance(body, dict):
                raise ApiError(400, "Bad Request: JSON request body must be an object")
            params.update(body)
            return params
        form = await request.post()
        for name, item in form.items():
            if isinstance(item, web.FileField):
                params[name] = UploadedFile(
                    name, item.filename, item.content_type, item.file.read()
                )
            elif isinstance(item, bytes | bytearray):
                params[name] = api_spec.decode_value(method, name, item.decode(), spec)
            else:
                params[name] = api_spec.decode_value(method, name, item, spec)
        return params

    async def _handle(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        raw_method = request.match_info["method"]
        if token != self.token or token in self._revoked:
            body: Json = {"ok": False, "error_code": 401, "description": "Unauthorized"}
            return web.json_response(body, status=401)
        method = api_spec.canonical_method(raw_method) or raw_method
        call = Call(
            method=method,
            params={},
            at=time.monotonic(),
            token=token,
            content_type=request.content_type if request.body_exists else "",
        )
        try:
            try:
                call.params = await self._read_params(request, method)
            finally:
                self.calls.append(call)
                self._by_method[method].append(call)
            result = await self._dispatch(call)
            response: Json = {"ok": True, "result": result}
            call.status = 200
        except ApiError as err:
            response = err.body()
            call.status = err.status
            if err.page is not None:  # a proxy's page stands in for the Bot API's answer
                call.response = response
                self._notify()
                return web.Response(text=err.page, status=err.status, content_type="text/html")
        except Exception as exc:  # a request the fake cannot model must fail the test loudly
            self.violations.append(f"{method}: the fake could not answer: {exc!r}")
            response = ApiError(500, "Internal Server Error").body()
            call.status = 500
        call.response = response
        self._notify()
        return web.Response(
            body=json.dumps(response).encode(), status=call.status, content_type="application/json"
        )

    async def _serve_file(self, request: web.Request) -> web.Response:
        """GET /file/bot<token>/<file_path>: a file's bytes, as Telegram serves them."""
        token = request.match_info["token"]
        path = request.match_info["path"]
        self.file_downloads.append(path)
        self._notify()
        if token != self.token or token in self._revoked:
            return web.Response(status=401, text="Unauthorized")
        found = self._file_by_path(path)
        if found is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=found.data, content_type="application/octet-stream")

    def _violation(self, call: Call, problem: str) -> None:
        self.violations.append(f"{call.method}: {problem}")

    async def _dispatch(self, call: Call) -> Any:
        method = call.method
        params = call.params
        lower = method.lower()
        if api_spec.canonical_method(method) is None and lower not in self._canned:
            self._violation(call, "unknown method")
            raise ApiError(404, "Not Found")

        delay = self._delays.get(lower)
        if delay:
            await asyncio.sleep(delay)
        self._raise_method_faults(lower)

        if self.validate:
            problems, error = check_request(method, params)
            for problem in problems:
                self._violation(call, problem)
            if error is not None:
                raise error

        raw_chat = params.get("chat_id")
        if raw_chat is not None and not isinstance(raw_chat, bool):
            chat_id = self._resolve_chat(raw_chat)
            call.chat_id = chat_id
            self._raise_chat_faults(method, chat_id)
        limited = method in LIMITED_METHODS and "inline_message_id" not in params
        if limited and call.chat_id is not None:
            self._raise_floods(method, call.chat_id)
        if limited and self.enforce_limits:
            self._check_limits(
                call.chat_id, params.get("allow_paid_broadcast") is True, time.monotonic()
            )

        if lower in self._canned:
            return self._canned[lower]
        handler = HANDLERS.get(method)
        if handler is not None:
            result = handler(self, call)
            if inspect.isawaitable(result):  # a method that waits (sendPhoto fetches a URL)
                result = await result
            return result
        if method == "getUpdates":
            return await self._get_updates(call)
        self._violation(call, "not modelled by the fake (a test may script it with respond())")
        raise ApiError(500, "Internal Server Error")
