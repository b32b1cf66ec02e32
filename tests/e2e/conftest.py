"""Fixtures for end-to-end tests: the fake Bot API (the feed server is in tests/conftest.py),
and the database backend each test runs on.

Every end-to-end test runs twice, on SQLite (`[sqlite]`) and on PostgreSQL (`[postgres]`,
a database of its own on the session's server, tests/postgres.py), but for the tests below
that are SQLite's by nature, which run once, on SQLite, and the standby's and copy-db's,
which need PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.e2e import harness
from tests.fakes.telegram import FakeTelegram

# Whole modules that are SQLite's by nature, and why.
SQLITE_ONLY_MODULES = {
    "test_backup_cli.py": "backup and restore are SQLite's (PostgreSQL's are pg_dump's)",
    "test_console.py": "the console runs on a SQLite file of its own, whatever the settings",
    "test_console_pty.py": "the console runs on a SQLite file of its own, whatever the settings",
}
# Single tests that read or break the SQLite file itself, and why.
_READS_THE_FILE = "reads the SQLite file (its tables, or SQL in SQLite's dialect)"
_INTEGRITY = "ends with SQLite's integrity_check and the FTS5 index's own check"
SQLITE_ONLY_TESTS: dict[str, str] = {
    "test_feed_admin.py::test_a_story_two_feeds_carry_is_pushed_once_naming_both": (
        _READS_THE_FILE
    ),
    "test_feed_faults.py::test_admins_are_alerted_once_and_told_of_recovery": _INTEGRITY,
    "test_forget.py::test_forget_leaves_no_row_and_no_push": _READS_THE_FILE,
    "test_forget.py::test_only_a_groups_admins_may_forget_it": _READS_THE_FILE,
    "test_forget.py::test_forget_takes_the_broadcasts_the_chat_shows_and_its_more_lists": (
        _READS_THE_FILE
    ),
    "test_groups.py::test_a_reader_who_blocks_the_bot_leaves_routing_at_once": _READS_THE_FILE,
    "test_hostile.py::test_hostile_commands_in_every_chat_kind": _INTEGRITY,
    "test_hostile.py::test_hostile_button_presses": _INTEGRITY,
    "test_hostile.py::test_hostile_headlines_are_pushed_as_valid_html": _INTEGRITY,
    "test_maintenance.py::test_prune_job_deletes_old_finished_rows_and_keeps_the_rest": (
        _READS_THE_FILE
    ),
    "test_ops.py::test_healthz_reports_a_failing_feed_and_turns_503_for_the_bots_own_faults": (
        "makes the SQLite file read-only (PRAGMA query_only) to fail the write probe"
    ),
    "test_ops.py::test_backup_during_a_broadcast_holds_every_headline": (
        "backup is SQLite's (PostgreSQL's is pg_dump's)"
    ),
    "test_reply_flood.py::test_refused_markup_is_resent_once_as_plain_text": _READS_THE_FILE,
    "test_reply_flood.py::test_a_message_telegram_will_never_take_is_failed_not_retried": (
        _READS_THE_FILE
    ),
    "test_telegram_faults.py::test_5xx_storm_loses_and_doubles_nothing": _READS_THE_FILE,
    "test_telegram_faults.py::test_an_hour_of_flood_wait_for_one_chat_holds_up_no_other": (
        _READS_THE_FILE
    ),
    "test_telegram_faults.py::test_chats_that_disappear_are_deactivated_and_others_unaffected": (
        _READS_THE_FILE
    ),
    "test_telegram_faults.py::test_revoked_token_stops_the_process_with_exit_code_3": (
        _READS_THE_FILE
    ),
    # Twenty kills and restarts on one file: SQLite's recovery of its WAL, and its integrity.
    # On PostgreSQL a kill is tested by test_crash.py's kill in the middle of a broadcast and
    # by test_standby.py's takeover, and the time twenty more would take is kept off CI.
    "test_crash.py::test_crash_safety_across_pushes_and_a_broadcast": (
        "twenty SIGKILLs and restarts of one SQLite file: its recovery and its integrity"
    ),
}
# Modules about PostgreSQL alone: a standby needs a shared database; copy-db goes both ways.
POSTGRES_ONLY_MODULES = {"test_standby.py", "test_copy_db.py"}
BACKENDS = ("sqlite", "postgres")


def sqlite_only(module: str, test: str) -> str | None:
    """Why the test runs on SQLite only (None: it runs on both)."""
    return SQLITE_ONLY_MODULES.get(module) or SQLITE_ONLY_TESTS.get(f"{module}::{test}")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each end-to-end test on both backends, but for those SQLite's by nature."""
    if "e2e_backend" not in metafunc.fixturenames:
        return
    module = Path(str(metafunc.module.__file__)).name
    if module in POSTGRES_ONLY_MODULES:
        metafunc.parametrize("e2e_backend", ["postgres"], indirect=True)
    elif sqlite_only(module, metafunc.function.__name__) is None:
        metafunc.parametrize("e2e_backend", BACKENDS, indirect=True)


@pytest.fixture(autouse=True)
def e2e_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """The test's database backend: on PostgreSQL, the harness maps each SQLite path the
    test names to a database of its own, dropped afterwards."""
    backend = str(getattr(request, "param", "sqlite"))
    if backend == "sqlite":
        yield backend
        return
    server = request.getfixturevalue("postgres_server")
    if server.url is None:
        if os.environ.get("CI") == "true":
            pytest.fail(server.reason)
        pytest.skip(server.reason)
    databases = harness.PgDatabases(server.url)
    harness.postgres = databases
    try:
        yield backend
    finally:
        harness.postgres = None
        databases.drop_all()


@pytest.fixture
async def fake_tg() -> AsyncIterator[FakeTelegram]:
    """A validating fake Bot API on 127.0.0.1; the test fails on any invalid request."""
    async with FakeTelegram() as fake:
        yield fake
        assert fake.violations == [], fake.violations
