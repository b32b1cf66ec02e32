"""When the bot last did its work: a poll round, an answer from the Bot API (for /healthz)."""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]


class Liveness:
    """Timestamps the bot records as it works, for a health provider to read."""

    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock
        self.started_at = clock()
        self.last_poll_at: float | None = None
        self.last_api_answer_at: float | None = None

    def poll_completed(self, at: float | None = None) -> None:
        """A poll round of every feed finished (whatever each feed's outcome)."""
        self.last_poll_at = self._clock() if at is None else at

    def api_answered(self, at: float | None = None) -> None:
        """The Bot API answered a request, even with an error such as 400 or 429."""
        self.last_api_answer_at = self._clock() if at is None else at
