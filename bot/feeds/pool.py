"""Feed parsing in worker processes, off the event loop's process.

:func:`bot.feeds.parsing.parse_feed` is pure CPU work in Python (feedparser, the HTML
cleaning). In a thread it holds the interpreter lock the event loop needs, so a round of a
thousand feeds kept every reply waiting. A :class:`ParsePool` hands a feed's bytes to a few
worker processes (``python -m bot.feeds.pool``) and awaits the parsed values.

- A worker is started when a parse finds none idle, up to the pool's size: a process that
  never parses (the command line, most of the console) starts none. A worker imports the
  parser only, and parses one document at a time.
- The protocol is the worker's standard input and output: a request is a length-prefixed
  pickle of parse_feed's arguments, an answer a length-prefixed pickle of what it returned.
- A worker ends when its standard input closes: at :meth:`ParsePool.close`, and when the
  bot dies however it dies (the kernel closes the pipe). Ctrl-C reaches the terminal's
  whole process group: workers ignore it and leave the stopping to the bot.
- A worker that dies mid-parse (a document that exhausts its memory) fails that one read,
  which the poller records; the next parse starts another worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import signal
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from bot.feeds.parsing import ParsedFeed, parse_feed

__all__ = ["ParsePool", "ParserDied", "default_workers"]

_SIZE = struct.Struct("!I")  # a message's length, before it
_ROOT = Path(__file__).resolve().parents[2]  # where the `bot` package the workers run lives
CLOSE_GRACE_SECONDS = 5.0  # a worker still parsing at close is given this long, then killed


class ParserDied(RuntimeError):
    """A worker ended before it answered (the document may have exhausted its memory)."""


def default_workers() -> int:
    """One worker per processor but one (left to the event loop and SQLite), one or two."""
    return max(1, min(2, (os.cpu_count() or 1) - 1))


@dataclass(eq=False)
class _Worker:
    proc: asyncio.subprocess.Process

    async def call(self, request: bytes) -> object:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(_SIZE.pack(len(request)) + request)
        await self.proc.stdin.drain()
        size = _SIZE.unpack(await self.proc.stdout.readexactly(_SIZE.size))[0]
        return pickle.loads(await self.proc.stdout.readexactly(size))  # noqa: S301 (our worker)

    async def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), CLOSE_GRACE_SECONDS)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()


class ParsePool:
    """A few worker processes that run parse_feed; built once by the assembly (bot/app.py)."""

    def __init__(self, workers: int | None = None) -> None:
        self.size = default_workers() if workers is None else max(1, workers)
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._starting = 0
        self._freed = asyncio.Condition()
        self._closed = False

    async def _start(self) -> _Worker:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(_ROOT), *filter(None, [env.get("PYTHONPATH")])])
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.feeds.pool",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        worker = _Worker(proc)
        self._all.add(worker)
        return worker

    async def _take(self) -> _Worker:
        async with self._freed:
            while True:
                if self._closed:
                    raise RuntimeError("the parse pool is closed")
                if self._idle:
                    return self._idle.pop()
                if len(self._all) + self._starting < self.size:
                    self._starting += 1
                    break
                await self._freed.wait()
        try:
            return await self._start()
        finally:
            async with self._freed:
                self._starting -= 1

    async def _give_back(self, worker: _Worker, *, alive: bool) -> None:
        async with self._freed:
            if alive and not self._closed:
                self._idle.append(worker)
            else:
                self._all.discard(worker)
            self._freed.notify()
        if not alive:
            with contextlib.suppress(ProcessLookupError):
                worker.proc.kill()
            await worker.proc.wait()

    async def parse(
        self, data: bytes, *, url: str, fetched_at: float, content_type: str | None = None
    ) -> ParsedFeed:
        """Parse a feed document in a worker, as parse_feed does."""
        request = pickle.dumps((data, url, fetched_at, content_type), pickle.HIGHEST_PROTOCOL)
        worker = await self._take()
        alive = False
        try:
            answer = await worker.call(request)
            alive = True
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise ParserDied(f"the feed parser process ended while parsing {url}") from exc
        finally:
            # cancelled mid-call, a worker's answer would be read by the next caller: it goes
            await self._give_back(worker, alive=alive)
        if isinstance(answer, BaseException):
            raise answer
        assert isinstance(answer, ParsedFeed)
        return answer

    @property
    def pids(self) -> list[int]:
        """The process ids of the workers running now."""
        return sorted(worker.proc.pid for worker in self._all)

    async def close(self) -> None:
        """Stop the workers (one still parsing gets CLOSE_GRACE_SECONDS). Safe to repeat."""
        async with self._freed:
            self._closed = True
            workers, self._idle = list(self._all), []
            self._all.clear()
            self._freed.notify_all()
        await asyncio.gather(*(worker.stop() for worker in workers))


def _read(stream: BinaryIO, size: int) -> bytes | None:
    data = stream.read(size)
    return data if len(data) == size else None


def serve(stdin: BinaryIO, stdout: BinaryIO) -> None:
    """A worker's loop: parse each request until standard input closes."""
    while (head := _read(stdin, _SIZE.size)) is not None:
        body = _read(stdin, _SIZE.unpack(head)[0])
        if body is None:
            return
        data, url, fetched_at, content_type = pickle.loads(body)  # noqa: S301 (the bot's own)
        answer: object
        try:
            answer = parse_feed(data, url=url, fetched_at=fetched_at, content_type=content_type)
        except Exception as exc:  # parse_feed turns bad input into failures; this is a bug
            answer = RuntimeError(f"{type(exc).__name__}: {exc}")
        out = pickle.dumps(answer, pickle.HIGHEST_PROTOCOL)
        stdout.write(_SIZE.pack(len(out)) + out)
        stdout.flush()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the bot stops its workers itself
    # the answers go on the original standard output; anything printed goes to stderr
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    serve(sys.stdin.buffer, answers)
