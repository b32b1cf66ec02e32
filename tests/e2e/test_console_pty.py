"""`python -m bot console` in a pseudo-terminal, typed at as a person would.

The console is started in a terminal of its own (a pty that is its controlling terminal),
so Ctrl-C is the terminal's SIGINT, Ctrl-D its end of file and the arrow keys reach
readline, exactly as at a real keyboard.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import struct
import sys
import termios
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.harness import item
from tests.e2e.test_process import clean_env
from tests.fakes.feed_server import FeedServer, rss

CTRL_C = b"\x03"
CTRL_D = b"\x04"
UP = b"\x1b[A"
PROMPT = b"\r\n> "
# Make the pty the controlling terminal, then become `python -m bot console ARGS`.
TRAMPOLINE = (
    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execv(sys.executable, [sys.executable, '-m', 'bot', 'console', *sys.argv[1:]])"
)


def _has_readline() -> bool:
    try:
        import readline  # noqa: F401 (only to know whether it is there)
    except ImportError:
        return False
    return True


class Terminal:
    """The screen and keyboard of a console running in a pty."""

    def __init__(self, proc: asyncio.subprocess.Process, master: int) -> None:
        self.proc = proc
        self.master = master
        self.output = bytearray()
        self.closed = asyncio.Event()
        self.changed = asyncio.Event()
        asyncio.get_running_loop().add_reader(master, self._read)

    def _read(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the console has gone and closed the terminal
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.master)
            self.closed.set()
        self.output += data
        self.changed.set()

    @property
    def screen(self) -> str:
        """Everything shown so far."""
        return self.output.decode(errors="replace")

    def mark(self) -> int:
        """A position in the output, to wait for what comes after it."""
        return len(self.output)

    def type(self, keys: bytes) -> None:
        """Press keys."""
        os.write(self.master, keys)

    async def expect(self, text: bytes, *, since: int = 0, timeout: float = 60) -> None:
        """Wait until `text` is on the screen after position `since`."""
        deadline = time.monotonic() + timeout
        while text not in self.output[since:]:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.closed.is_set():
                pytest.fail(f"{text!r} never appeared; screen:\n{self.screen[-3000:]}")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)

    async def line(self, text: bytes, *, until: bytes = PROMPT) -> str:
        """Type one line and wait for the next prompt; return what the line showed."""
        since = self.mark()
        self.type(text + b"\r")
        await self.expect(until, since=since)
        return self.output[since:].decode(errors="replace")

    async def exit_code(self, within: float) -> int:
        """Wait for the console to leave; it must take less than `within` seconds."""
        code = await asyncio.wait_for(self.proc.wait(), within)
        with contextlib.suppress(TimeoutError):  # the last of the screen
            await asyncio.wait_for(self.closed.wait(), 5)
        return code


@contextlib.asynccontextmanager
async def console(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> AsyncIterator[Terminal]:
    """Start the console in a fresh pty in `tmp_path`; yield once its first prompt shows."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 250, 0, 0))
    env = dict(env if env is not None else clean_env())
    env["TERM"] = "xterm"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", TRAMPOLINE, *args,
        stdin=slave, stdout=slave, stderr=slave, cwd=tmp_path, env=env,
        start_new_session=True,
    )  # fmt: skip
    os.close(slave)
    terminal = Terminal(proc, master)
    try:
        await terminal.expect(b"> ")
        yield terminal
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(master)
        os.close(master)


async def test_ctrl_c_at_the_prompt_leaves_at_once(tmp_path: Path) -> None:
    async with console(tmp_path) as term:
        await term.line(b"/start")
        started = time.monotonic()
        term.type(CTRL_C)
        assert await term.exit_code(within=10) == 130
        assert time.monotonic() - started < 5
        lflag = termios.tcgetattr(term.master)[3]
        assert lflag & termios.ECHO and lflag & termios.ICANON, "the terminal echoes again"
    assert "Traceback" not in term.screen
    assert "KeyboardInterrupt" not in term.screen


async def test_ctrl_c_twice_leaves_too(tmp_path: Path) -> None:
    async with console(tmp_path) as term:
        term.type(b"/latest 20\r")
        term.type(CTRL_C + CTRL_C)
        assert await term.exit_code(within=10) == 130
    assert "Traceback" not in term.screen


async def test_ctrl_c_during_a_poll_leaves_at_once(tmp_path: Path, feed_server: FeedServer) -> None:
    feed_server.set_feed("/slow.xml", rss([item(1, "Lithium prices")]))
    async with console(tmp_path, "--feed", feed_server.url("/slow.xml")) as term:
        assert "Lithium" not in term.screen  # the first poll is stored, not pushed
        feed_server.set_delay("/slow.xml", 60)
        hits = feed_server.hits("/slow.xml")
        term.type(b":poll\r")
        deadline = time.monotonic() + 30
        while feed_server.hits("/slow.xml") == hits and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert feed_server.hits("/slow.xml") > hits, "the poll is under way"
        started = time.monotonic()
        term.type(CTRL_C)
        assert await term.exit_code(within=10) == 130
        assert time.monotonic() - started < 5
    assert "Traceback" not in term.screen


async def test_ctrl_c_while_the_bot_answers(tmp_path: Path) -> None:
    async with console(tmp_path) as term:
        term.type(b"/search bolivia\r")
        term.type(CTRL_C)
        assert await term.exit_code(within=10) == 130
    assert "Traceback" not in term.screen


async def test_ctrl_d_leaves_with_exit_code_0(tmp_path: Path) -> None:
    async with console(tmp_path) as term:
        term.type(CTRL_D)
        assert await term.exit_code(within=10) == 0
    assert "Traceback" not in term.screen


@pytest.mark.skipif(not _has_readline(), reason="no readline on this platform")
async def test_up_arrow_recalls_the_previous_line(tmp_path: Path) -> None:
    async with console(tmp_path) as term:
        first = await term.line(b"/latest 1")
        assert "1. " in first
        since = term.mark()
        term.type(UP)
        await term.expect(b"/latest 1", since=since)
        again = await term.line(b"")
        assert "1. " in again, "Enter sent the recalled line"
        assert "^[[A" not in term.screen
        term.type(CTRL_D)
        assert await term.exit_code(within=10) == 0


async def test_a_dot_env_for_the_real_bot_is_not_used(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    real_db = tmp_path / "real" / "headlines.sqlite3"
    feed_server.set_feed("/real.xml", rss([item(1, "Real feed headline")]))
    (tmp_path / ".env").write_text(
        f"BOT_TOKEN=123456:real-secret-token\nDATABASE_PATH={real_db}\n"
        f"FEED_URLS={feed_server.url('/real.xml')}\nLOG_LEVEL=DEBUG\n",
        encoding="utf-8",
    )
    async with console(tmp_path) as term:
        banner = term.screen
        assert "sample_digest.xml" in banner and "temporary" in banner
        reply = await term.line(b"/latest 1")
        assert "Real feed headline" not in reply
        term.type(CTRL_D)
        assert await term.exit_code(within=10) == 0
    assert not real_db.exists()
    assert not real_db.parent.exists()
    assert feed_server.hits("/real.xml") == 0
    assert "real-secret-token" not in term.screen
    # LOG_LEVEL=DEBUG does not put log lines into the conversation
    for noise in ("DEBUG", "INFO", "[debug]", "[info]"):
        assert noise not in term.screen


async def test_database_and_feed_options_are_used(tmp_path: Path, feed_server: FeedServer) -> None:
    feed_server.set_feed("/mine.xml", rss([item(1, "Copper strike ends")]))
    database = tmp_path / "mine.sqlite3"
    args = ("--database", str(database), "--feed", feed_server.url("/mine.xml"))
    async with console(tmp_path, *args) as term:
        assert str(database) in term.screen and "/mine.xml" in term.screen
        reply = await term.line(b"/latest 1")
        assert "Copper strike ends" in reply
        term.type(CTRL_D)
        assert await term.exit_code(within=10) == 0
    assert database.exists()


async def test_warnings_are_marked_and_on_their_own_lines(tmp_path: Path) -> None:
    missing = tmp_path / "missing.xml"
    async with console(tmp_path, "--feed", str(missing)) as term:
        assert "[warning] feed" in term.screen
        assert " WARNING " not in term.screen
        term.type(CTRL_D)
        assert await term.exit_code(within=10) == 0


async def test_topics_for_a_channel(tmp_path: Path) -> None:
    async with console(tmp_path) as term:
        reply = await term.line(b"/topic @somechannel add lithium")
        assert "Following: **lithium**" in reply and "@somechannel" in reply
        listing = await term.line(b"/topic @somechannel")
        assert "lithium" in listing
        pushed = await term.line(b":publish Lithium mine opens | A new lithium mine")
        assert "→ @somechannel: **Lithium mine opens" in pushed, "pushed into the channel"
        term.type(CTRL_D)
        assert await term.exit_code(within=10) == 0
    assert "Traceback" not in term.screen
    assert "[error]" not in term.screen


async def test_what_arrives_while_a_line_is_typed_goes_above_it(tmp_path: Path) -> None:
    async with console(tmp_path, "--admin") as term:
        await term.line(b"/start")
        await term.line(b"/broadcast all Hello everyone")
        await term.line(b"1")  # Send: the progress report is edited once a second
        term.type(b"/lat")
        await term.expect(b"Broadcast finished")
        shown = bytes(term.output)
        at = shown.index("✏️ ✅ **Broadcast finished".encode())
        assert shown[:at].endswith((b"\r\n", b"\r\x1b[K")), "the report starts a line"
        if shown[:at].endswith(b"\x1b[K"):
            await term.expect(b"> /lat", since=at)  # the typed line, redrawn below
        reply = await term.line(b"est 1")
        assert "1. " in reply, "the line typed before the report still reads /latest 1"
        term.type(CTRL_D)
        assert await term.exit_code(within=10) == 0
