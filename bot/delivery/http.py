"""The HTTP client under python-telegram-bot: aiohttp, and a 401 stops the bot.

python-telegram-bot's own HTTPXRequest costs about three times the CPU per request of an
aiohttp session (measured: ~2 ms against ~0.6 ms per sendMessage on the same machine),
which caps a paid broadcast far below Telegram's 1,000 messages/s. The semantics are
HTTPXRequest's: the same timeouts, TimedOut for timeouts, NetworkError for transport
failures, form-encoded bodies (multipart when files are sent).

`post_form` is the bulk send path's way in: a body encoded once by `encode_form` (the
outbox sends one broadcast text to many chats), posted through python-telegram-bot's public
`BaseRequest.post`, so that its own code still maps every error answer to its exceptions.

An answer that is not the Bot API's JSON (the HTML "502 Bad Gateway" page a proxy serves
while Telegram is out of reach) never reaches python-telegram-bot's JSON decoding, which
would log an ERROR with a traceback for each one: it becomes an error answer of its status
with a one-line description, so each attempt is one line in the caller's log.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlencode, urlsplit
from urllib.request import getproxies, proxy_bypass

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from bot.telemetry.metrics import Metrics

_FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# BaseRequest.post carries a body only as a RequestData, which only python-telegram-bot's
# private code can build; post_form hands its body to do_request through this instead (a
# context variable is the calling task's own, so parallel sends never see each other's).
_FORM_BODY: ContextVar[tuple[str, bytes] | None] = ContextVar("form_body", default=None)
_TOKEN_IN_URL = re.compile(r"/bot[^/\s'\"]+")
# How far into an answer its JSON object must have begun (Telegram's starts at byte 0).
_JSON_START_WITHIN = 64
# Methods whose time from request to answer is the send latency the metrics show.
_SENDS = ("send", "copyMessage", "forwardMessage")

JSONValue = bool | dict[str, Any] | list[dict[str, Any]]


def is_json_object(payload: bytes) -> bool:
    """Whether an answer can be the Bot API's JSON, whose every answer is an object.

    Only its first byte is looked at: a send's answer is parsed once, by python-telegram-bot.
    """
    return payload[:_JSON_START_WITHIN].lstrip()[:1] == b"{"


def not_json_answer(status: int) -> tuple[int, bytes]:
    """An answer that is not JSON, as the Bot API's error answer of the same status.

    python-telegram-bot then maps the status as for any error (5xx: NetworkError, 404:
    InvalidToken ...) with a one-line description instead of the page. A success status
    with a page is no answer at all: NetworkError, as for a broken connection.
    """
    description = f"the Bot API answered {status} with a non-JSON page"
    if 200 <= status <= 299:
        raise NetworkError(description)
    body = {"ok": False, "error_code": status, "description": description}
    return status, json.dumps(body).encode()


def encode_form(fields: Mapping[str, object]) -> bytes:
    """A Bot API form body as python-telegram-bot encodes one: strings as they are, other
    values as JSON (`chat_id=5`, `link_preview_options={"is_disabled": true}`); None is left
    out."""
    return urlencode(
        {
            name: value if isinstance(value, str) else json.dumps(value)
            for name, value in fields.items()
            if value is not None
        }
    ).encode()


class AiohttpRequest(BaseRequest):
    """A Bot API connection pool on aiohttp; `on_unauthorized` runs on any 401 answer."""

    def __init__(
        self,
        *,
        connection_pool_size: int = 64,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        on_unauthorized: Callable[[], None] | None = None,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self.on_unauthorized = on_unauthorized
        # Set by the assembly: every HTTP answer tells the liveness (for /healthz), and
        # each send's time from request to answer goes to the metrics.
        self.on_answered: Callable[[], None] | None = None
        self.metrics: Metrics | None = None
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[str, str | None] = {}
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout (python-telegram-bot adds getUpdates' long-poll time)."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Open the session (idempotent)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                # proxies are looked up once per host (_proxy_for): aiohttp's trust_env
                # reads ~/.netrc in a thread on every request
                trust_env=False,
                cookie_jar=aiohttp.DummyCookieJar(),  # the Bot API sets none
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        """Close the session (idempotent)."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def _proxy_for(self, url: str) -> str | None:
        """HTTP(S)_PROXY for this URL's host unless NO_PROXY exempts it (as httpx does).

        Looked up once per URL: the bot calls a handful of methods on one host.
        """
        try:
            return self._proxies[url]
        except KeyError:
            pass
        parts = urlsplit(url)
        proxy = getproxies().get(parts.scheme)
        if proxy and proxy_bypass(parts.hostname or ""):
            proxy = None
        if len(self._proxies) < 1000:
            self._proxies[url] = proxy
        return proxy

    async def post_form(
        self,
        url: str,
        body: bytes,
        *,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> JSONValue:
        """POST a form body made by encode_form; return the answer's result.

        Errors are python-telegram-bot's own (BaseRequest.post maps the answer): RetryAfter,
        ChatMigrated, Forbidden, BadRequest, InvalidToken, NetworkError, TimedOut.
        """
        token = _FORM_BODY.set((url, body))
        try:
            result: JSONValue = await self.post(
                url,
                None,
                read_timeout=read_timeout,
                write_timeout=write_timeout,
                connect_timeout=connect_timeout,
                pool_timeout=pool_timeout,
            )
        finally:
            _FORM_BODY.reset(token)
        return result

    @staticmethod
    def _value(given: Any, default: float | None) -> float | None:
        return default if isinstance(given, type(BaseRequest.DEFAULT_NONE)) else given

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one request; return the status code and the body."""
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        read = self._value(read_timeout, self._read_timeout)
        connect = self._value(connect_timeout, self._connect_timeout)
        pool = self._value(pool_timeout, self._pool_timeout)
        timeout = self._timeouts.get((read, connect, pool))
        if timeout is None:  # a few combinations only: getUpdates' and everyone else's
            timeout = aiohttp.ClientTimeout(
                total=None,
                connect=None if connect is None or pool is None else connect + pool,
                sock_connect=connect,
                sock_read=read,
            )
            if len(self._timeouts) < 100:
                self._timeouts[(read, connect, pool)] = timeout
        body: aiohttp.FormData | bytes | None = None
        headers: dict[str, str] | None = None
        if request_data is None:
            encoded = _FORM_BODY.get()
            if encoded is not None and encoded[0] == url:  # from post_form
                body = encoded[1]
                headers = _FORM
        else:
            files = request_data.multipart_data
            if files:
                form = aiohttp.FormData()
                for name, value in request_data.json_parameters.items():
                    form.add_field(name, value)
                for name, part in files.items():
                    filename, content, *mime = part
                    form.add_field(
                        name, content, filename=filename, content_type=mime[0] if mime else None
                    )
                body = form
            else:
                # encoded here: aiohttp's FormData costs a fifth of a send's CPU for the same
                body = urlencode(request_data.json_parameters).encode()
                headers = _FORM
        began = time.monotonic()
        try:
            async with self._session.request(
                method,
                url,
                data=body,
                headers=headers,
                timeout=timeout,
                proxy=self._proxy_for(url),
            ) as res:
                payload = await res.read()
                status = res.status
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            # some of aiohttp's errors quote the URL, and the URL holds the token
            text = _TOKEN_IN_URL.sub("/bot<token>", str(exc))
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {text}") from exc
        if self.on_answered is not None:
            self.on_answered()
        if self.metrics is not None and url.rsplit("/", 1)[-1].startswith(_SENDS):
            self.metrics.observe_send(time.monotonic() - began)
        if status == 401 and self.on_unauthorized is not None:
            self.on_unauthorized()
        # a Bot API call (POST) answers JSON; a file download (GET) answers the file
        if method == "POST" and not is_json_object(payload):
            return not_json_answer(status)
        return status, payload

    @staticmethod
    def parse_json_payload(payload: bytes) -> dict[str, Any]:
        """The answer's JSON; an answer that begins as JSON but is not is a NetworkError.

        python-telegram-bot's own logs an ERROR with a traceback first; the caller logs the
        failure once, as the send policy judges it.
        """
        try:
            data: dict[str, Any] = json.loads(payload.decode("utf-8", "replace"))
        except ValueError as exc:
            raise NetworkError("the Bot API answered with broken JSON") from exc
        return data
