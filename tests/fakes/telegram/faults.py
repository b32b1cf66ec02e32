"""Scripted misbehaviour, as the real service shows it: the Faults part of FakeTelegram.

Blocked users, kicked bots, migrated groups, scripted and random flood control, failing or
slow methods, a second poller, canned answers, and Telegram's rate limits counted over
sliding windows at arrival time. The checks (`_raise_*`, `_check_limits`) are what the
server's dispatch asks before it answers a call; a migration also moves the chat in the
world (world.py).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tests.fakes.telegram.protocol import (
    CONFLICT_POLL,
    LIMITED_METHODS,
    MESSAGE_METHODS,
    ApiError,
    flood_error,
)

__all__ = ["Faults", "Window"]

# A blocked user still lets the bot read the chat; only writing fails.
_READ_ONLY_CHAT_METHODS = frozenset({"getChat", "getChatMember"})
_SERVER_ERRORS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
# The page nginx serves in front of an unreachable upstream (with html=True).
_PROXY_PAGE = (
    "<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


class Window:
    """Sliding windows over arrival times: rules are (max requests, period seconds)."""

    __slots__ = ("rules", "times")

    def __init__(self, rules: Sequence[tuple[int, float]]) -> None:
        self.rules = tuple(rules)
        self.times: deque[float] = deque(maxlen=max(n for n, _ in self.rules))

    def wait(self, now: float) -> float:
        longest = 0.0
        times = self.times
        for n, period in self.rules:
            if len(times) >= n:
                free_at = times[-n] + period
                if free_at > now:
                    longest = max(longest, free_at - now)
        return longest


@dataclass
class _FloodInjection:
    ratio: float
    retry_after: int
    methods: frozenset[str]
    rng: random.Random


class Faults:
    """What FakeTelegram can be told to do wrong, and the limits it enforces."""

    def _init_faults(
        self,
        *,
        enforce_limits: bool,
        overall_rules: Sequence[tuple[int, float]],
        private_rules: Sequence[tuple[int, float]],
        group_rules: Sequence[tuple[int, float]],
        paid_rules: Sequence[tuple[int, float]],
    ) -> None:
        self.enforce_limits = enforce_limits
        self.overall_rules = tuple(overall_rules)
        self.private_rules = tuple(private_rules)
        self.group_rules = tuple(group_rules)
        self.paid_rules = tuple(paid_rules)
        self.too_many_requests = 0  # 429s for requests past the enforced limits
        self.injected_floods = 0  # 429s answered by inject_floods, limits or not
        self._blocked: dict[int, str] = {}
        self._kicked: dict[int, str] = {}
        self._migrated: dict[int, int] = {}
        self._not_found: set[int] = set()
        self._floods: dict[int, list[int]] = {}
        self._injection: _FloodInjection | None = None
        self._fails: defaultdict[str, deque[tuple[int, str, str | None]]] = defaultdict(deque)
        self._delays: dict[str, float] = {}
        self._conflicts = 0
        self._canned: dict[str, Any] = {}
        self.reset_limits()

    # ------------------------------------------------------------------ chats

    def block(
        self, chat_id: int, description: str = "Forbidden: bot was blocked by the user"
    ) -> None:
        """Sends to this chat answer 403 ('Forbidden: user is deactivated' for deleted users)."""
        self._blocked[chat_id] = description

    def unblock(self, chat_id: int) -> None:
        self._blocked.pop(chat_id, None)
        self._kicked.pop(chat_id, None)

    def kick(self, chat_id: int, description: str | None = None) -> None:
        """The bot was removed from a group, supergroup or channel: every call there is 403."""
        if description is None:
            kind = self.chat(chat_id)["type"]
            if kind == "channel":
                description = "Forbidden: bot is not a member of the channel chat"
            elif kind == "supergroup":
                description = "Forbidden: bot was kicked from the supergroup chat"
            else:
                description = "Forbidden: bot was kicked from the group chat"
        self._kicked[chat_id] = description

    def migrate_chat(self, chat_id: int, new_id: int) -> None:
        """The group became supergroup new_id: calls to the old id answer ChatMigrated."""
        old = self.chats.get(chat_id) or self.add_chat(chat_id, "group")
        self._migrated[chat_id] = new_id
        if new_id not in self.chats:
            self.add_chat(new_id, "supergroup", title=old.get("title"))
        if chat_id in self._admins:
            self._admins[new_id] = set(self._admins[chat_id])
        if chat_id in self._owners:
            self._owners[new_id] = self._owners[chat_id]
        if chat_id in self._bot_admin:
            self._bot_admin[new_id] = self._bot_admin[chat_id]

    def chat_not_found(self, chat_id: int) -> None:
        self._not_found.add(chat_id)

    def _is_kicked(self, chat_id: int) -> bool:
        return chat_id in self._kicked

    # ------------------------------------------------------------------ flood control

    def flood(self, chat_id: int, retry_after: int, times: int = 1) -> None:
        """The next `times` limited calls to this chat answer 429 retry_after."""
        self._floods[chat_id] = [retry_after, times]

    def inject_floods(
        self,
        ratio: float,
        *,
        retry_after: int = 1,
        seed: int = 0,
        methods: Iterable[str] = tuple(sorted(MESSAGE_METHODS)),
    ) -> None:
        """Answer about `ratio` of the calls of `methods` with 429 retry_after, at random.

        The draw is seeded, so one order of arrivals always floods the same calls. Each
        is counted in `injected_floods` (not in `too_many_requests`) and does not use up
        room in the limits' windows. A ratio of 0 (or clear_faults()) stops it.
        """
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(f"ratio must be within 0 and 1, got {ratio!r}")
        if retry_after < 1:
            raise ValueError(f"retry_after must be at least 1 second, got {retry_after!r}")
        by_lower = {m.lower(): m for m in LIMITED_METHODS}
        chosen: set[str] = set()
        for method in methods:
            canonical = by_lower.get(method.lower())
            if canonical is None:
                raise ValueError(f"{method!r} is not a flood-limited method the fake serves")
            chosen.add(canonical)
        if ratio == 0.0 or not chosen:
            self._injection = None
            return
        self._injection = _FloodInjection(
            ratio, retry_after, frozenset(chosen), random.Random(seed)
        )

    def _raise_floods(self, method: str, chat_id: int) -> None:
        flood = self._floods.get(chat_id)
        if flood:
            retry, left = flood
            if left <= 1:
                del self._floods[chat_id]
            else:
                flood[1] = left - 1
            raise flood_error(retry)
        injection = self._injection
        if (
            injection is not None
            and method in injection.methods
            and injection.rng.random() < injection.ratio
        ):
            self.injected_floods += 1
            raise flood_error(injection.retry_after)

    # ------------------------------------------------------------------ methods

    def fail(
        self,
        method: str,
        status: int = 502,
        times: int = 1,
        description: str | None = None,
        *,
        html: bool = False,
    ) -> None:
        """The next `times` calls of method (or '*' for any but getUpdates) fail with status;
        `html`: answered as a proxy's HTML error page, not the Bot API's JSON."""
        if description is None:
            description = _SERVER_ERRORS.get(status, f"Error {status}")
        page = _PROXY_PAGE.format(status=status, phrase=description) if html else None
        key = "*" if method == "*" else method.lower()
        self._fails[key].extend([(status, description, page)] * times)

    def delay(self, method: str, seconds: float) -> None:
        """Answer method only after a pause (0 removes the delay)."""
        if seconds <= 0:
            self._delays.pop(method.lower(), None)
        else:
            self._delays[method.lower()] = seconds

    def conflict_get_updates(self, times: int = 1) -> None:
        """The next `times` getUpdates answer 409, as when a second instance polls."""
        self._conflicts += times

    def respond(self, method: str, result: Any) -> None:
        """Answer method with a fixed result (for methods the fake does not model)."""
        self._canned[method.lower()] = result

    def clear_faults(self) -> None:
        """Forget every scripted fault (canned answers and counters stay)."""
        self._blocked.clear()
        self._kicked.clear()
        self._migrated.clear()
        self._not_found.clear()
        self._floods.clear()
        self._injection = None
        self._fails.clear()
        self._delays.clear()
        self._conflicts = 0

    def _raise_method_faults(self, lower: str) -> None:
        if lower == "getupdates":
            if self._conflicts > 0:
                self._conflicts -= 1
                raise ApiError(409, CONFLICT_POLL)
            queue = self._fails.get(lower)
        else:
            queue = self._fails.get(lower) or self._fails.get("*")
        if queue:
            status, description, page = queue.popleft()
            raise ApiError(status, description, page=page)

    def _raise_chat_faults(self, method: str, chat_id: int) -> None:
        if chat_id in self._not_found:
            raise ApiError(400, "Bad Request: chat not found")
        new_id = self._migrated.get(chat_id)
        if new_id is not None:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": new_id},
            )
        kicked = self._kicked.get(chat_id)
        if kicked is not None:
            raise ApiError(403, kicked)
        blocked = self._blocked.get(chat_id)
        if blocked is not None and method not in _READ_ONLY_CHAT_METHODS:
            raise ApiError(403, blocked)

    # ------------------------------------------------------------------ limits

    def lift_limits(self) -> None:
        self.enforce_limits = False

    def impose_limits(self) -> None:
        self.enforce_limits = True

    def reset_limits(self) -> None:
        """Forget every request counted so far (windows start empty)."""
        self._overall = Window(self.overall_rules)
        self._paid = Window(self.paid_rules)
        self._per_chat: dict[int, Window] = {}

    def _check_limits(self, chat_id: int | None, paid: bool, now: float) -> None:
        windows: list[Window] = [self._paid if paid else self._overall]
        if chat_id is not None:
            window = self._per_chat.get(chat_id)
            if window is None:
                rules = self.private_rules if chat_id > 0 else self.group_rules
                window = self._per_chat[chat_id] = Window(rules)
            windows.append(window)
        wait = max(w.wait(now) for w in windows)
        if wait > 0:
            self.too_many_requests += 1
            raise flood_error(max(1, math.ceil(wait)))
        for w in windows:
            w.times.append(now)
