"""The bot's runs on both backends: a start learns how long ago the run before it stopped
cleanly, and nothing after a crash (a run that never recorded its stop)."""

from __future__ import annotations

from storage import Storage
from storage.runs import KEEP_RUNS
from tests.storage.conftest import scalar


async def test_a_start_learns_when_the_run_before_stopped_cleanly(storage: Storage) -> None:
    runs = storage.runs
    first, before = await runs.begin()
    assert before is None, "no run before the first"
    await runs.end(first)
    second, ago = await runs.begin()
    assert second > first
    assert ago is not None and 0 <= ago < 60
    # the second run crashes: it never records a stop
    third, after_crash = await runs.begin()
    assert third > second and after_crash is None
    await runs.end(third, quiet_for=30)  # its last message went 30 s before it stopped
    _fourth, quiet = await runs.begin()
    assert quiet is not None and 30 <= quiet < 90


async def test_only_the_newest_runs_are_kept(storage: Storage) -> None:
    for _ in range(KEEP_RUNS + 5):
        run, _ago = await storage.runs.begin()
        await storage.runs.end(run)
    assert await scalar(storage, "SELECT count(*) FROM runs") == KEEP_RUNS
