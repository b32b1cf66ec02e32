"""A fake feed server: aiohttp on 127.0.0.1 serving feeds registered at runtime.

Each path is served by a small spec (a body with ETag/Last-Modified, a status, a redirect,
a streamed huge body, a gzip bomb...). Delay and trickle apply on top of whatever the path
serves. Every request is logged so tests can count hits and read the headers sent.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import itertools
import mimetypes
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web

from tests.fakes.images import png

__all__ = ["FeedServer", "RequestRecord", "rss"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_CONTENT_TYPES = {
    ".xml": "application/xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".rdf": "application/rdf+xml",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


def rss(
    items: Sequence[Mapping[str, Any]], *, title: str = "Test feed", ttl: int | None = None
) -> bytes:
    """An RSS 2.0 document from dicts with title, link, guid, description, pubDate, categories.

    Keys that are missing (or None) are left out of the item, so tests can build entries
    without a title or a guid. An item's "xml" is written into it as it is (a media:content,
    an enclosure ...: the media and content namespaces are declared).
    """
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"'
        ' xmlns:content="http://purl.org/rss/1.0/modules/content/">',
        "<channel>",
        f"<title>{escape(title)}</title>",
        "<link>https://example.com/</link>",
        "<description>A feed for tests</description>",
    ]
    if ttl is not None:
        out.append(f"<ttl>{ttl}</ttl>")
    for item in items:
        out.append("<item>")
        for key in ("title", "link", "description", "pubDate"):
            if item.get(key) is not None:
                out.append(f"<{key}>{escape(str(item[key]))}</{key}>")
        if item.get("guid") is not None:
            permalink = "true" if item.get("guid_is_permalink") else "false"
            out.append(f'<guid isPermaLink="{permalink}">{escape(str(item["guid"]))}</guid>')
        for category in item.get("categories") or ():
            out.append(f"<category>{escape(str(category))}</category>")
        if item.get("xml"):
            out.append(str(item["xml"]))
        out.append("</item>")
    out += ["</channel>", "</rss>", ""]
    return "\n".join(out).encode("utf-8")


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request the server received."""

    method: str
    path: str
    headers: Mapping[str, str]
    at: float


@dataclass(slots=True)
class _Spec:
    kind: str = "feed"  # feed | status | redirect | huge | gzip_bomb | changing | handler | file
    body: bytes = b""
    content_type: str = "application/rss+xml"
    etag: bool = True
    last_modified: bool = True
    modified_at: float = 0.0
    status: int = 200
    redirect_to: str = ""
    redirect_status: int = 302
    size: int = 0
    declare_length: bool = False
    n_items: int = 0
    handler: Handler | None = None
    file: Path | None = None
    delay: float = 0.0
    trickle: float = 0.0  # bytes per second; 0 means send at once
    extra_headers: dict[str, str] = field(default_factory=dict)


def _etag_for(body: bytes) -> str:
    return '"' + hashlib.sha1(body).hexdigest()[:16] + '"'


def _not_modified(request: web.Request, etag: str | None, modified_at: float | None) -> bool:
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None and etag is not None:
        tags = [t.strip() for t in if_none_match.split(",")]
        return "*" in tags or etag in tags or f"W/{etag}" in tags
    if_modified_since = request.headers.get("If-Modified-Since")
    if if_modified_since and modified_at is not None:
        try:
            since = email.utils.parsedate_to_datetime(if_modified_since).timestamp()
        except (TypeError, ValueError):
            return False
        return int(modified_at) <= int(since)
    return False


class FeedServer:
    """Serves feeds registered at runtime on 127.0.0.1 and an OS-chosen port."""

    def __init__(self, *, hosts: Sequence[str] = ()) -> None:
        """`hosts`: more loopback addresses (127.0.0.2 ...) to listen on, on the same port,
        so that one server can stand in for many sites (per-host limits see several)."""
        self._hosts = [h for h in hosts if h != "127.0.0.1"]
        self._specs: dict[str, _Spec] = {}
        self._dirs: list[tuple[str, Path]] = []
        self.requests: list[RequestRecord] = []
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._clock = itertools.count()

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Bind 127.0.0.1:0 and start serving."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        # handler_cancellation stops a trickling handler as soon as its client goes away;
        # the short shutdown timeout keeps stop() quick when a test leaves one running.
        self._runner = web.AppRunner(
            app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        address = self._runner.addresses[0]
        self._port = int(address[1])
        for host in self._hosts:
            await web.TCPSite(self._runner, host, self._port).start()

    async def stop(self) -> None:
        """Stop serving and release the port."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FeedServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return self._port

    def url(self, path: str, *, host: str = "127.0.0.1") -> str:
        """The absolute URL of a path on this server (on one of its loopback hosts)."""
        if not path.startswith("/"):
            path = "/" + path
        return f"http://{host}:{self._port}{path}"

    # -- registration --------------------------------------------------------------------

    def _spec(self, path: str) -> _Spec:
        return self._specs.setdefault(_norm(path), _Spec())

    def _next_modified(self, previous: float) -> float:
        # Last-Modified has one-second resolution: a changed body must get a later date.
        now = float(int(time.time()))
        return max(now, previous + 1) if previous else now

    def set_feed(
        self,
        path: str,
        body: bytes,
        *,
        content_type: str = "application/rss+xml",
        etag: bool = True,
        last_modified: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Serve ``body`` at ``path`` with ETag/Last-Modified validators (304 when they match)."""
        spec = self._spec(path)
        changed = spec.kind != "feed" or spec.body != body
        spec.kind = "feed"
        spec.body = body
        spec.content_type = content_type
        spec.etag = etag
        spec.last_modified = last_modified
        spec.status = 200
        spec.extra_headers = dict(headers or {})
        if changed or not spec.modified_at:
            spec.modified_at = self._next_modified(spec.modified_at)

    def set_image(
        self,
        path: str,
        data: bytes | None = None,
        *,
        width: int = 1200,
        height: int = 630,
        content_type: str = "image/png",
    ) -> None:
        """Serve a picture at ``path``: a grey PNG of this size, or ``data`` as given."""
        body = png(width, height) if data is None else data
        self.set_feed(path, body, content_type=content_type)

    def set_status(
        self, path: str, status: int, body: bytes = b"", *, headers: Mapping[str, str] | None = None
    ) -> None:
        """Answer ``path`` with a bare status code (and headers, such as Retry-After)."""
        spec = self._spec(path)
        spec.kind = "status"
        spec.status = status
        spec.body = body or f"status {status}".encode()
        spec.content_type = "text/plain"
        spec.extra_headers = dict(headers or {})

    def set_delay(self, path: str, seconds: float) -> None:
        """Wait ``seconds`` before answering ``path`` (whatever it serves)."""
        self._spec(path).delay = seconds

    def set_trickle(self, path: str, bytes_per_second: float) -> None:
        """Send the body of ``path`` at ``bytes_per_second`` (a feed of filler if none is set)."""
        spec = self._spec(path)
        spec.trickle = bytes_per_second
        if spec.kind == "feed" and not spec.body:
            spec.body = rss([{"title": "slow", "guid": "slow-1"}])

    def set_redirect(self, path: str, to_path: str, *, status: int = 302) -> None:
        """Redirect ``path`` to ``to_path`` (a path on this server or an absolute URL)."""
        spec = self._spec(path)
        spec.kind = "redirect"
        spec.redirect_to = to_path
        spec.redirect_status = status

    def set_huge(self, path: str, size_bytes: int, *, declare_length: bool = False) -> None:
        """Stream a ``size_bytes`` body generated on the fly (chunked unless declared)."""
        spec = self._spec(path)
        spec.kind = "huge"
        spec.size = size_bytes
        spec.declare_length = declare_length
        spec.content_type = "application/rss+xml"

    def set_gzip_bomb(self, path: str, decoded_size: int) -> None:
        """Stream a gzip body that inflates to ``decoded_size`` bytes, compressed on the fly."""
        spec = self._spec(path)
        spec.kind = "gzip_bomb"
        spec.size = decoded_size
        spec.content_type = "application/rss+xml"

    def set_changing_guids(self, path: str, n_items: int) -> None:
        """Serve ``n_items`` items whose guids are new on every request."""
        spec = self._spec(path)
        spec.kind = "changing"
        spec.n_items = n_items
        spec.content_type = "application/rss+xml"

    def set_handler(self, path: str, fn: Handler) -> None:
        """Serve ``path`` with an arbitrary aiohttp handler."""
        spec = self._spec(path)
        spec.kind = "handler"
        spec.handler = fn

    def serve_directory(self, root: Path | str, prefix: str = "/files") -> None:
        """Serve every file under ``root`` at ``prefix/<relative path>``, typed by extension."""
        self._dirs.append((_norm(prefix).rstrip("/"), Path(root).resolve()))

    def clear(self, path: str) -> None:
        """Forget what ``path`` serves (it answers 404 again)."""
        self._specs.pop(_norm(path), None)

    # -- inspection ----------------------------------------------------------------------

    def hits(self, path: str) -> int:
        """How many requests ``path`` received."""
        path = _norm(path)
        return sum(1 for r in self.requests if r.path == path)

    def requests_for(self, path: str) -> list[RequestRecord]:
        """The requests ``path`` received, oldest first."""
        path = _norm(path)
        return [r for r in self.requests if r.path == path]

    # -- serving -------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.requests.append(
            RequestRecord(request.method, path, dict(request.headers), time.monotonic())
        )
        spec = self._specs.get(path) or self._file_spec(path)
        if spec is None:
            return web.Response(status=404, text="not found")
        if spec.delay:
            await asyncio.sleep(spec.delay)
        if spec.kind == "handler" and spec.handler is not None:
            return await spec.handler(request)
        if spec.kind == "status":
            return web.Response(
                status=spec.status,
                body=spec.body,
                content_type="text/plain",
                headers=spec.extra_headers,
            )
        if spec.kind == "redirect":
            target = spec.redirect_to
            if "://" not in target:
                target = _norm(target)
            return web.Response(status=spec.redirect_status, headers={"Location": target})
        if spec.kind == "huge":
            return await self._serve_huge(request, spec)
        if spec.kind == "gzip_bomb":
            return await self._serve_gzip_bomb(request, spec)
        if spec.kind == "changing":
            n = next(self._clock)
            items = [
                {
                    "title": f"Changing item {n}-{i}",
                    "link": f"https://example.com/changing/{n}/{i}",
                    "guid": f"changing-{n}-{i}",
                    "description": f"Request {n}, item {i}.",
                }
                for i in range(spec.n_items)
            ]
            return await self._send(request, spec, rss(items, title="Changing"), None, None)
        if spec.kind == "file" and spec.file is not None:
            body = await asyncio.to_thread(spec.file.read_bytes)
            return await self._send(request, spec, body, _etag_for(body), spec.modified_at)
        etag = _etag_for(spec.body) if spec.etag else None
        modified = spec.modified_at if spec.last_modified else None
        return await self._send(request, spec, spec.body, etag, modified)

    def _file_spec(self, path: str) -> _Spec | None:
        for prefix, root in self._dirs:
            if not path.startswith(prefix + "/"):
                continue
            candidate = (root / path[len(prefix) + 1 :]).resolve()
            if not candidate.is_relative_to(root) or not candidate.is_file():
                continue
            suffix = candidate.suffix.lower()
            content_type = _CONTENT_TYPES.get(suffix) or (
                mimetypes.guess_type(candidate.name)[0] or "application/octet-stream"
            )
            return _Spec(
                kind="file",
                file=candidate,
                content_type=content_type,
                modified_at=float(int(candidate.stat().st_mtime)),
            )
        return None

    async def _send(
        self,
        request: web.Request,
        spec: _Spec,
        body: bytes,
        etag: str | None,
        modified_at: float | None,
    ) -> web.StreamResponse:
        headers = dict(spec.extra_headers)
        if etag is not None:
            headers["ETag"] = etag
        if modified_at is not None:
            headers["Last-Modified"] = email.utils.formatdate(modified_at, usegmt=True)
        if _not_modified(request, etag, modified_at):
            return web.Response(status=304, headers=headers)
        headers["Content-Type"] = spec.content_type
        if not spec.trickle:
            return web.Response(status=spec.status, body=body, headers=headers)
        response = web.StreamResponse(status=spec.status, headers=headers)
        await response.prepare(request)
        interval = 1.0 / spec.trickle
        try:
            for i in range(len(body)):
                await response.write(body[i : i + 1])
                await asyncio.sleep(interval)
            await response.write_eof()
        except (ConnectionResetError, ConnectionError):
            pass
        return response

    async def _serve_huge(self, request: web.Request, spec: _Spec) -> web.StreamResponse:
        headers = {"Content-Type": spec.content_type}
        if spec.declare_length:
            headers["Content-Length"] = str(spec.size)
        response = web.StreamResponse(headers=headers)
        await response.prepare(request)
        head = b'<?xml version="1.0"?><rss version="2.0"><channel><title>huge</title><!-- '
        chunk = b"x" * 65536
        sent = 0
        try:
            while sent < spec.size:
                piece = head if sent == 0 else chunk
                piece = piece[: spec.size - sent]
                await response.write(piece)
                sent += len(piece)
                await asyncio.sleep(0)  # let a client on the same event loop read
            await response.write_eof()
        except (ConnectionResetError, ConnectionError):
            pass
        return response

    async def _serve_gzip_bomb(self, request: web.Request, spec: _Spec) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": spec.content_type, "Content-Encoding": "gzip"}
        )
        await response.prepare(request)
        compressor = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        block = b"\0" * (1 << 20)
        remaining = spec.size
        try:
            await response.write(compressor.compress(b'<?xml version="1.0"?><rss><!-- '))
            while remaining > 0:
                piece = block[: min(remaining, len(block))]
                remaining -= len(piece)
                # A sync flush per block puts bytes on the wire at once. write() only yields
                # when the transport buffer is full, so yield explicitly: the client runs on
                # the same event loop in tests.
                out = compressor.compress(piece) + compressor.flush(zlib.Z_SYNC_FLUSH)
                await response.write(out)
                await asyncio.sleep(0)
            await response.write(compressor.flush())
            await response.write_eof()
        except (ConnectionResetError, ConnectionError):
            pass
        return response


def _norm(path: str) -> str:
    return path if path.startswith("/") else "/" + path
