"""Fetching feeds: conditional GET with httpx, or a local file, within time and size limits.

:class:`FeedFetcher` does the network and file I/O and never raises for network or HTTP
problems: every failure comes back as a :class:`FeedFailure` in ``FetchResult.failure``.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import os
import time
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Literal

import httpx

from bot.feeds.failures import FeedFailure, Reason
from bot.feeds.policy import parse_max_age, parse_retry_after
from bot.feeds.text import collapse, truncate

__all__ = [
    "ACCEPT",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_REDIRECTS",
    "DEFAULT_TIMEOUT",
    "USER_AGENT",
    "FeedFetcher",
    "FetchResult",
]


def _version() -> str:
    try:
        return metadata.version("headline-bot")
    except metadata.PackageNotFoundError:  # run from a source tree that was not installed
        return "0"


USER_AGENT = f"headline-bot/{_version()} (a Telegram headline bot; polls feeds politely)"
DEFAULT_TIMEOUT = 20.0
MAX_CONCURRENT = 32  # fetches in flight, all hosts together
MAX_PER_HOST = 2  # fetches in flight to one host (and port)
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_REDIRECTS = 5

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The outcome of one fetch; ``failure`` says why when status is error."""

    status: Literal["ok", "not_modified", "error"]
    body: bytes
    etag: str | None
    last_modified: str | None
    final_url: str
    content_type: str | None
    failure: FeedFailure | None
    elapsed: float
    http_status: int | None = None
    retry_after: float | None = None  # seconds the server asked us to wait (Retry-After)
    max_age: float | None = None  # seconds it may be cached for (Cache-Control)

    @property
    def error(self) -> str | None:
        """The failure in English (for logs), or None."""
        return None if self.failure is None else self.failure.text


class _HostSlots:
    """At most `per_host` fetches in flight to one host and `overall` in all."""

    def __init__(self, overall: int, per_host: int) -> None:
        self.per_host = per_host
        self._overall = asyncio.Semaphore(overall)
        self._hosts: dict[str, tuple[asyncio.Semaphore, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, host: str) -> AsyncIterator[None]:
        """Wait for a slot for this host, then one overall (no overall slot idles meanwhile)."""
        slot, users = self._hosts.get(host, (asyncio.Semaphore(self.per_host), 0))
        self._hosts[host] = (slot, users + 1)
        try:
            async with slot, self._overall:
                yield
        finally:
            slot, users = self._hosts[host]
            if users <= 1:
                del self._hosts[host]
            else:
                self._hosts[host] = (slot, users - 1)


def _host_key(url: str) -> str:
    try:
        parts = urllib.parse.urlsplit(url)
        return f"{(parts.hostname or '').lower()}:{parts.port or parts.scheme}"
    except ValueError:
        return url


def _size_text(n: int) -> str:
    mib = 1024 * 1024
    if n >= mib and n % mib == 0:
        return f"{n // mib} MB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KB"
    return f"{n} bytes"


def _seconds_text(seconds: float) -> str:
    return f"{seconds:g}"


class _Failure(Exception):
    """Ends a fetch early with the reason why."""

    def __init__(
        self,
        failure: FeedFailure,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(failure.text)
        self.failure = failure
        self.http_status = http_status
        self.retry_after = retry_after


def _message(exc: BaseException, limit: int = 100) -> str:
    """A library's message, short and on one line (its type when it says nothing)."""
    return truncate(collapse(str(exc)), limit) or type(exc).__name__


def _connect_failure(exc: BaseException) -> FeedFailure:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return FeedFailure(Reason.CONNECTION_REFUSED)
        cause = cause.__cause__ or cause.__context__
    text = str(exc).lower()
    if "refused" in text:
        return FeedFailure(Reason.CONNECTION_REFUSED)
    if "name or service not known" in text or "nodename nor servname" in text:
        return FeedFailure(Reason.DNS)
    if "temporary failure in name resolution" in text or "getaddrinfo" in text:
        return FeedFailure(Reason.DNS)
    if "certificate" in text or "ssl" in text:
        return FeedFailure(Reason.TLS, truncate(collapse(str(exc)), 100))
    return FeedFailure(Reason.CONNECTION_FAILED, _message(exc))


class FeedFetcher:
    """Fetches feeds over HTTP(S) with conditional GET, or from local files.

    When no client is given one is created with ``trust_env=False``: proxy variables from
    the environment would otherwise route requests for 127.0.0.1 (tests, a local feed
    server) through a proxy. A client that is handed in is used as it is and not closed.
    """

    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_redirects: int = DEFAULT_MAX_REDIRECTS,
        user_agent: str = USER_AGENT,
        max_concurrent: int = MAX_CONCURRENT,
        max_per_host: int = MAX_PER_HOST,
    ) -> None:
        self.timeout = float(timeout)
        self.max_bytes = int(max_bytes)
        self.max_redirects = max_redirects
        self.user_agent = user_agent
        self.max_concurrent = max_concurrent
        self._slots = _HostSlots(max_concurrent, max_per_host)
        self._owns_client = client is None
        self._client = client if client is not None else self._make_client()

    def _make_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            trust_env=False,
            follow_redirects=False,
            timeout=self._http_timeout(),
            limits=httpx.Limits(
                max_connections=MAX_CONCURRENT + 8, max_keepalive_connections=MAX_CONCURRENT
            ),
        )

    def _http_timeout(self) -> httpx.Timeout:
        # The overall deadline (asyncio.timeout) is what normally fires; these per-phase
        # limits only back it up, so they are never shorter than it except for connecting.
        return httpx.Timeout(
            connect=min(10.0, self.timeout),
            read=self.timeout + 1,
            write=self.timeout + 1,
            pool=self.timeout + 1,
        )

    async def aclose(self) -> None:
        """Close the HTTP client if this fetcher created it."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> FeedFetcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        """Fetch one feed; problems come back as ``status='error'``, never as exceptions.

        Waits first for a free slot (MAX_PER_HOST per host, MAX_CONCURRENT in all); the
        time limit runs from when the request starts, not while it waits its turn.
        """
        scheme = urllib.parse.urlsplit(url).scheme.lower() if "://" in url else ""
        if scheme in ("", "file"):
            started = time.monotonic()
            return await asyncio.to_thread(self._fetch_file, url, etag, last_modified, started)
        if scheme not in ("http", "https"):
            failure = FeedFailure(Reason.UNSUPPORTED_SCHEME, scheme)
            return self._error(url, failure, time.monotonic())
        async with self._slots.hold(_host_key(url)):
            started = time.monotonic()
            try:
                async with asyncio.timeout(self.timeout):
                    return await self._fetch_http(url, etag, last_modified, started)
            except TimeoutError:
                return self._error(url, self._timed_out(), started)
            except _Failure as failed:
                return self._error(
                    url, failed.failure, started, failed.http_status, failed.retry_after
                )

    def _timed_out(self) -> FeedFailure:
        return FeedFailure(Reason.TIMEOUT, _seconds_text(self.timeout))

    def _too_large(self) -> FeedFailure:
        return FeedFailure(Reason.TOO_LARGE, _size_text(self.max_bytes))

    def _error(
        self,
        url: str,
        failure: FeedFailure,
        started: float,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> FetchResult:
        return FetchResult(
            status="error",
            body=b"",
            etag=None,
            last_modified=None,
            final_url=url,
            content_type=None,
            failure=failure,
            elapsed=time.monotonic() - started,
            http_status=http_status,
            retry_after=retry_after,
        )

    def _headers(self, etag: str | None, last_modified: str | None) -> dict[str, str]:
        headers = {
            "User-Agent": self.user_agent,
            "Accept": ACCEPT,
            "Accept-Encoding": "gzip, deflate",
        }
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        return headers

    async def _fetch_http(
        self, url: str, etag: str | None, last_modified: str | None, started: float
    ) -> FetchResult:
        try:
            request = self._client.build_request(
                "GET", url, headers=self._headers(etag, last_modified), timeout=self._http_timeout()
            )
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError, TypeError) as exc:
            raise _Failure(
                FeedFailure(Reason.INVALID_URL, truncate(collapse(str(exc)), 80))
            ) from exc
        visited = {str(request.url)}
        redirects = 0
        while True:
            response = await self._send(request)
            try:
                if response.is_redirect and response.next_request is not None:
                    request = response.next_request
                    redirects += 1
                    target = str(request.url)
                    if target in visited:
                        raise _Failure(FeedFailure(Reason.REDIRECT_LOOP), response.status_code)
                    if redirects > self.max_redirects:
                        raise _Failure(FeedFailure(Reason.TOO_MANY_REDIRECTS), response.status_code)
                    visited.add(target)
                    continue
                return await self._finish(response, etag, last_modified, started)
            finally:
                with contextlib.suppress(httpx.HTTPError, OSError):
                    await response.aclose()

    async def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._client.send(request, stream=True, follow_redirects=False)
        except httpx.ConnectTimeout as exc:
            connect = min(10.0, self.timeout)
            failure = FeedFailure(Reason.CONNECT_TIMEOUT, _seconds_text(connect))
            raise _Failure(failure) from exc
        except httpx.TimeoutException as exc:
            raise _Failure(self._timed_out()) from exc
        except httpx.ConnectError as exc:
            raise _Failure(_connect_failure(exc)) from exc
        except (httpx.RemoteProtocolError, httpx.LocalProtocolError) as exc:
            failure = FeedFailure(Reason.PROTOCOL_ERROR, truncate(collapse(str(exc)), 100))
            raise _Failure(failure) from exc
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise _Failure(
                FeedFailure(Reason.INVALID_URL, truncate(collapse(str(exc)), 80))
            ) from exc
        except (httpx.HTTPError, httpx.StreamError, OSError) as exc:
            raise _Failure(_connect_failure(exc)) from exc

    async def _finish(
        self,
        response: httpx.Response,
        etag: str | None,
        last_modified: str | None,
        started: float,
    ) -> FetchResult:
        final_url = str(response.url)
        status = response.status_code
        retry_after = parse_retry_after(response.headers.get("retry-after"), now=time.time())
        max_age = parse_max_age(response.headers.get("cache-control"))
        if status == 304:
            return FetchResult(
                status="not_modified",
                body=b"",
                etag=response.headers.get("etag") or etag,
                last_modified=response.headers.get("last-modified") or last_modified,
                final_url=final_url,
                content_type=response.headers.get("content-type"),
                failure=None,
                elapsed=time.monotonic() - started,
                http_status=status,
                retry_after=retry_after,
                max_age=max_age,
            )
        if not 200 <= status < 300:
            raise _Failure(FeedFailure(Reason.HTTP_STATUS, str(status)), status, retry_after)
        declared = response.headers.get("content-length")
        if (
            declared
            and declared.isdigit()
            and int(declared) > self.max_bytes
            and not response.headers.get("content-encoding")
        ):
            raise _Failure(self._too_large(), status)
        body = await self._read_body(response)
        return FetchResult(
            status="ok",
            body=body,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            final_url=final_url,
            content_type=response.headers.get("content-type"),
            failure=None,
            elapsed=time.monotonic() - started,
            http_status=status,
            retry_after=retry_after,
            max_age=max_age,
        )

    async def _read_body(self, response: httpx.Response) -> bytes:
        chunks: list[bytes] = []
        size = 0
        try:
            # aiter_bytes yields decoded (gunzipped) bytes: counting them stops a gzip bomb
            # at the limit instead of after it has filled memory.
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    raise _Failure(self._too_large(), response.status_code)
                chunks.append(chunk)
        except httpx.DecodingError as exc:
            raise _Failure(FeedFailure(Reason.BAD_ENCODING), response.status_code) from exc
        except httpx.TimeoutException as exc:
            raise _Failure(self._timed_out()) from exc
        except (httpx.HTTPError, httpx.StreamError, OSError) as exc:
            raise _Failure(FeedFailure(Reason.CONNECTION_LOST, _message(exc))) from exc
        return b"".join(chunks)

    def _fetch_file(
        self, url: str, etag: str | None, last_modified: str | None, started: float
    ) -> FetchResult:
        if url.lower().startswith("file:"):
            parts = urllib.parse.urlsplit(url)
            path = Path(urllib.parse.unquote(parts.path))
        else:
            path = Path(url).expanduser()
        try:
            info = path.stat()
            # A file's version is its mtime and size: cheap to check without reading it.
            token = f'"file-{info.st_mtime_ns}-{info.st_size}"'
            stamp = email.utils.formatdate(info.st_mtime, usegmt=True)
            unchanged = etag == token if etag else bool(last_modified) and last_modified == stamp
            if unchanged:
                return FetchResult(
                    status="not_modified",
                    body=b"",
                    etag=token,
                    last_modified=stamp,
                    final_url=url,
                    content_type=None,
                    failure=None,
                    elapsed=time.monotonic() - started,
                )
            if info.st_size > self.max_bytes:
                return self._error(url, self._too_large(), started)
            with path.open("rb") as handle:
                body = handle.read(self.max_bytes + 1)
        except FileNotFoundError:
            return self._error(url, FeedFailure(Reason.FILE_NOT_FOUND), started)
        except PermissionError:
            return self._error(url, FeedFailure(Reason.PERMISSION_DENIED), started)
        except IsADirectoryError:
            return self._error(url, FeedFailure(Reason.IS_A_DIRECTORY), started)
        except OSError as exc:
            unreadable = FeedFailure(Reason.FILE_UNREADABLE, os.strerror(exc.errno or 0))
            return self._error(url, unreadable, started)
        if len(body) > self.max_bytes:
            return self._error(url, self._too_large(), started)
        return FetchResult(
            status="ok",
            body=body,
            etag=token,
            last_modified=stamp,
            final_url=url,
            content_type=None,
            failure=None,
            elapsed=time.monotonic() - started,
        )
