"""`python -m bot console`: the real bot offline, scripted through stdin."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.e2e.test_process import clean_env


async def console(script: str, tmp_path: Path, *args: str) -> tuple[int, str]:
    """Pipe `script` into the console; return its exit code and stdout."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "console", *args,
        env=clean_env(), cwd=tmp_path,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(script.encode()), 90)
    assert proc.returncode is not None
    assert b"Traceback" not in err, err.decode()
    return proc.returncode, out.decode()


async def test_the_readme_console_session(tmp_path: Path) -> None:
    script = "/start\n/topic add bolivia\n:publish Bolivia votes | A vote in Bolivia\n/latest 2\n"
    code, out = await console(script, tmp_path)
    assert code == 0
    start, topic, publish, latest = out.split("\n> ")[1:5]
    assert "Welcome" in start
    assert "Following: **bolivia**" in topic
    assert "Bolivia votes" in publish and "🏷 bolivia" in publish, "the push arrived"
    assert latest.count("\n   1. ") == 1 and "\n   2. " in latest and "\n   3. " not in latest
    assert "Bolivia votes" in latest
    assert "<b>" not in out, "HTML is rendered, not dumped"


async def test_buttons_search_and_admin_in_the_console(tmp_path: Path) -> None:
    script = "/search bolivia\n1\n5\n:poll\n/stats\n:help\n:nonsense\n:quit\n/never-read\n"
    code, out = await console(script, tmp_path, "--admin")
    assert code == 0
    assert "Results 1–5" in out and "Results 6–" in out, "button 1 (Next) edited the page"
    assert "not modified" in out  # :poll reports each feed
    assert "Headline Bot stats" in out
    assert ":publish <title> | <summary>" in out
    assert "unknown console command" in out
    assert "no button 5" in out
    assert "never-read" not in out
