"""Feed parsing in worker processes (bot/feeds/pool.py): the same values as parsing in
process, a dead worker replaced, and no worker outliving the bot, however the bot ends."""

from __future__ import annotations

import asyncio
import os
import select
import signal
import sys
from pathlib import Path

import pytest

from bot.feeds.parsing import parse_feed
from bot.feeds.pool import ParsePool, ParserDied

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "bot" / "data" / "sample_digest.xml"


def ended(pid: int, timeout: float) -> bool:
    """Whether the process ends within `timeout` seconds (waits on its pidfd, not a clock)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], timeout)
        return bool(readable)
    finally:
        os.close(fd)


async def test_a_worker_parses_as_the_parser_does() -> None:
    data = SAMPLE.read_bytes()
    pool = ParsePool(workers=2)
    try:
        found = await asyncio.gather(
            *(pool.parse(data, url="https://example.org/f", fetched_at=1.0) for _ in range(5))
        )
        assert len(pool.pids) <= 2
    finally:
        await pool.close()
    expected = parse_feed(data, url="https://example.org/f", fetched_at=1.0)
    assert all(parsed == expected for parsed in found)
    assert expected.entries


async def test_a_failure_comes_back_as_a_value() -> None:
    pool = ParsePool(workers=1)
    try:
        parsed = await pool.parse(
            b"<html>not a feed</html>", url="https://example.org/x", fetched_at=0
        )
    finally:
        await pool.close()
    assert parsed.failure is not None and not parsed.entries


async def test_a_dead_worker_fails_one_read_and_is_replaced() -> None:
    data = SAMPLE.read_bytes()
    pool = ParsePool(workers=1)
    try:
        await pool.parse(data, url="u", fetched_at=0)
        (first,) = pool.pids
        os.kill(first, signal.SIGKILL)
        assert ended(first, 10)
        with pytest.raises(ParserDied):
            await pool.parse(data, url="u", fetched_at=0)
        parsed = await pool.parse(data, url="u", fetched_at=0)
        assert parsed.entries
        assert pool.pids and first not in pool.pids
    finally:
        await pool.close()


async def test_close_ends_the_workers() -> None:
    pool = ParsePool(workers=2)
    await asyncio.gather(
        *(pool.parse(SAMPLE.read_bytes(), url="u", fetched_at=0) for _ in range(4))
    )
    pids = pool.pids
    await pool.close()
    assert pids and all(ended(pid, 10) for pid in pids)
    with pytest.raises(RuntimeError):
        await pool.parse(b"", url="u", fetched_at=0)


SCRIPT = """
import asyncio, sys
from bot.feeds.pool import ParsePool

async def main():
    pool = ParsePool(workers=1)
    await pool.parse(open(sys.argv[1], "rb").read(), url="u", fetched_at=0)
    print(*pool.pids, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
async def test_no_worker_outlives_the_bot(how: signal.Signals) -> None:
    """The process that owns the pool is killed outright: its worker goes too."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SCRIPT,
        str(SAMPLE),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=str(ROOT),
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 60)
    (worker,) = (int(pid) for pid in line.split())
    proc.send_signal(how)
    await proc.wait()
    assert ended(worker, 10), "the worker outlived its bot"
