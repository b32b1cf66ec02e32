"""Hourly event counters for /stats: the repository interface."""

from __future__ import annotations

from typing import Protocol


class CounterRepo(Protocol):
    """Adds to and sums the hourly counters."""

    async def bump(self, name: str, n: int = 1, *, now: float) -> None:
        """Add n to the counter's bucket for the hour of now."""
        ...

    async def total_since(self, name: str, since: float) -> int:
        """Sum the counter over the hours from the one holding since onwards."""
        ...
