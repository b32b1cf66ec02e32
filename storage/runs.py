"""The bot's runs, for what a start needs to know of the run before it: the interface."""

from __future__ import annotations

from typing import Protocol

KEEP_RUNS = 20  # the newest runs kept


class RunRepo(Protocol):
    """Records each run's start and clean stop."""

    async def begin(self) -> tuple[int, float | None]:
        """Record that a run starts: its id, and how many seconds ago the run before it
        stopped cleanly, by the database's clock (None when it did not: a crash, or none)."""
        ...

    async def end(self, run_id: int, *, quiet_for: float = 0.0) -> None:
        """Record that the run stops cleanly: it sends nothing more, and had sent nothing
        for `quiet_for` seconds (its stop counts from its last message)."""
        ...
