"""Fixtures shared across test folders."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator

import pytest
from hypothesis import settings

from tests.fakes.feed_server import FeedServer

# Property tests that can be replayed: in CI (CI set, or HYPOTHESIS_PROFILE=ci) examples
# come from a fixed seed, so a failure there fails the same way again; everywhere, a
# failure prints the blob that reproduces it (@reproduce_failure).
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)

# a real PostgreSQL server for the storage and end-to-end tests on both backends
pytest_plugins = ["tests.postgres"]


@pytest.fixture
async def feed_server() -> AsyncIterator[FeedServer]:
    """A fake feed server on 127.0.0.1, stopped after the test."""
    async with FeedServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    """As `python -m bot` does: RetryAfter.retry_after is a timedelta, with no warning."""
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say, once, when the fake Bot API ran without the spec it validates requests against."""
    spec = sys.modules.get("tests.fakes.telegram.spec")
    if spec is None or spec.load_spec() is not None:
        return  # no test used the fake, or it validated every request
    terminalreporter.write_sep("-", "fake Bot API: requests were NOT validated")
    terminalreporter.write_line(
        f"{spec.SPEC_PATH} is absent: the fake checked no method's parameters or types, "
        "so a test's `violations == []` proved less than it says."
    )
