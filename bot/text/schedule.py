"""When a chat may be sent a push: digest times, quiet hours and time zones (pure).

Times of day are local to the chat's time zone, so a digest at 08:00 in Europe/Madrid comes
at 08:00 on both sides of a daylight-saving change. Every function takes `now` (an aware
datetime or epoch seconds): nothing here reads the clock. The time zone database is the
one thing read, through zoneinfo, as reference data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.text.marks import N_

MAX_DIGEST_TIMES = 4
UTC_NAME = "UTC"
DEFAULT_REGION = "America"  # the digest the bot follows is Latin American

Instant = datetime | float


class SettingError(ValueError):
    """A setting's value could not be read; `message` is a catalog message id."""

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message)
        self.message = message
        self.params = params


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily local window (it may wrap past midnight) when pushes are held."""

    start: time
    end: time

    def holds(self, local: time) -> bool:
        """Whether a local time of day falls inside the window."""
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def __str__(self) -> str:
        return f"{format_time(self.start)}-{format_time(self.end)}"


@dataclass(frozen=True, slots=True)
class Schedule:
    """What decides when a chat's pushes may go out."""

    digest_times: tuple[time, ...] = ()  # empty: no digest, pushes go when found
    timezone: str = UTC_NAME
    quiet: QuietHours | None = None  # only outside digest mode
    last_digest_at: float | None = None  # when the last digest was sent
    digest_since: float | None = None  # when the digest times were set: earlier slots owe nothing


@dataclass(frozen=True, slots=True)
class Hold:
    """Pushes are held until `until` (epoch seconds), for a digest or for quiet hours."""

    until: float
    reason: str  # "digest" or "quiet"


# --- instants and zones ------------------------------------------------------------------


def instant(now: Instant) -> datetime:
    """`now` as an aware UTC datetime; a naive datetime is refused (its zone is unknown)."""
    if isinstance(now, datetime):
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be an aware datetime or epoch seconds")
        return now.astimezone(UTC)
    return datetime.fromtimestamp(now, UTC)


def epoch(now: Instant) -> float:
    """`now` as epoch seconds."""
    return instant(now).timestamp()


_OFFSET = re.compile(r"^(?:UTC|GMT)?\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)
_ZONE_KEY = re.compile(r"^[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*$")


@lru_cache(maxsize=1)
def _zones() -> dict[str, str]:
    """Every IANA zone name, by its lower-case spelling."""
    return {name.lower(): name for name in available_timezones()}


def _offset_name(sign: str, hours: int, minutes: int) -> str:
    return f"UTC{sign}{hours:02d}:{minutes:02d}"


def parse_timezone(text: str) -> str:
    """'America/La_Paz', 'la paz', 'UTC', '-4', '+05:30', 'UTC-3' -> the name stored.

    IANA names keep their own spelling; offsets become 'UTC-04:00'. SettingError otherwise.
    """
    raw = text.strip().replace("−", "-")
    if raw.upper() in ("UTC", "GMT", "Z", "UTC0", "GMT0", "ETC/UTC", "+0", "-0", "0"):
        return UTC_NAME
    match = _OFFSET.match(raw)
    if match:
        sign, hours, minutes = match.group(1), int(match.group(2)), int(match.group(3) or 0)
        total = hours * 60 + minutes
        if minutes % 15 or (sign == "-" and total > 12 * 60) or (sign == "+" and total > 14 * 60):
            raise SettingError(N_("No time zone has the offset {offset}."), offset=raw)
        return UTC_NAME if total == 0 else _offset_name(sign, hours, minutes)
    key = re.sub(r"\s+", "_", raw)
    if len(key) <= 64 and _ZONE_KEY.match(key):
        zones = _zones()
        found = zones.get(key.lower())
        if found is None:  # a city alone: 'la_paz' -> America/La_Paz, when only one zone fits
            cities = [name for low, name in zones.items() if low.rsplit("/", 1)[-1] == key.lower()]
            common = [name for name in cities if name in _COMMON]
            found = cities[0] if len(cities) == 1 else (common[0] if common else None)
        if found is not None:
            return UTC_NAME if found in ("UTC", "Etc/UTC", "Etc/UCT", "UCT", "Zulu") else found
    raise SettingError(N_("I don't know the time zone “{zone}”."), zone=text.strip()[:64])


@lru_cache(maxsize=1024)
def zone_of(name: str) -> tzinfo:
    """The tzinfo for a stored time zone name (UTC for one that no longer exists)."""
    if name == UTC_NAME:
        return UTC
    match = _OFFSET.match(name)
    if match and name.startswith("UTC"):
        minutes = int(match.group(2)) * 60 + int(match.group(3) or 0)
        return timezone(timedelta(minutes=-minutes if match.group(1) == "-" else minutes))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return UTC


def utc_offset(name: str, now: Instant) -> str:
    """The zone's offset at `now`, as 'UTC−04:00' ('UTC' at zero)."""
    offset = instant(now).astimezone(zone_of(name)).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    if minutes == 0:
        return UTC_NAME
    sign = "+" if minutes > 0 else "−"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{rest:02d}" if rest else f"UTC{sign}{hours}"


def local_now(name: str, now: Instant) -> datetime:
    """`now` in the zone."""
    return instant(now).astimezone(zone_of(name))


# --- times of day ------------------------------------------------------------------------

_TIME = re.compile(r"^(\d{1,2})(?:[:.h](\d{2}))?$")


def format_time(value: time) -> str:
    """A time of day as '08:00'."""
    return f"{value.hour:02d}:{value.minute:02d}"


def parse_time(text: str) -> time:
    """'08:00', '8:00', '8', '20h30' -> a time of day; SettingError otherwise."""
    match = _TIME.match(text.strip())
    if match:
        hour, minute = int(match.group(1)), int(match.group(2) or 0)
        if hour < 24 and minute < 60:
            return time(hour, minute)
    raise SettingError(N_("“{text}” is not a time of day: write it as 08:00."), text=text[:20])


def parse_digest_times(text: str) -> tuple[time, ...]:
    """'08:00,18:00' (up to four, any order) -> sorted times; 'off' -> ()."""
    words = [w for w in re.split(r"[,;\s]+", text.strip()) if w]
    if not words:
        raise SettingError(N_("Give one to four times, like 08:00 or 08:00,18:00, or off."))
    if len(words) == 1 and words[0].lower() in ("off", "no", "none", "0"):
        return ()
    times = sorted({parse_time(w) for w in words})
    if len(times) > MAX_DIGEST_TIMES:
        raise SettingError(N_("At most four digest times a day."))
    return tuple(times)


def format_times(times: Iterable[time]) -> str:
    """Digest times as '08:00, 18:00'."""
    return ", ".join(format_time(t) for t in times)


def parse_quiet(text: str) -> QuietHours | None:
    """'22:00-07:00' -> the window; 'off' -> None; SettingError otherwise."""
    raw = text.strip().lower()
    if raw in ("off", "no", "none"):
        return None
    parts = [p for p in re.split(r"\s*(?:-|–|—|to|a)\s*", raw) if p]
    if len(parts) != 2:
        raise SettingError(N_("Quiet hours need a start and an end, like 22:00-07:00, or off."))
    start, end = parse_time(parts[0]), parse_time(parts[1])
    if start == end:
        raise SettingError(N_("Quiet hours must start and end at different times."))
    return QuietHours(start, end)


# --- when pushes may go ------------------------------------------------------------------


def _at(day: date, value: time, zone: tzinfo) -> datetime:
    """The instant a local time of day falls on a local date.

    A time skipped by a change of clocks falls that much later; a time that comes twice
    is its first coming.
    """
    return datetime.combine(day, value, tzinfo=zone).astimezone(UTC)


def _slots(times: tuple[time, ...], zone: tzinfo, around: datetime) -> list[datetime]:
    """The slots of the local days from two before `around` to two after, in order."""
    today = around.astimezone(zone).date()
    days = [today + timedelta(days=n) for n in range(-2, 3)]
    return sorted(_at(day, t, zone) for day in days for t in times)


def last_slot(times: tuple[time, ...], name: str, now: Instant) -> datetime | None:
    """The latest digest time at or before `now` (None without digest times)."""
    at = instant(now)
    earlier = [s for s in _slots(times, zone_of(name), at) if s <= at]
    return earlier[-1] if earlier else None


def next_slot(times: tuple[time, ...], name: str, now: Instant) -> datetime | None:
    """The first digest time after `now` (None without digest times)."""
    at = instant(now)
    later = [s for s in _slots(times, zone_of(name), at) if s > at]
    return later[0] if later else None


def digest_due(schedule: Schedule, now: Instant) -> bool:
    """Whether a digest is owed now: a digest time has passed since the last one was sent.

    However many times passed (the bot was down all day), one digest is owed, not several.
    """
    slot = last_slot(schedule.digest_times, schedule.timezone, now)
    if slot is None:
        return False
    since = max(
        (t for t in (schedule.last_digest_at, schedule.digest_since) if t is not None),
        default=None,
    )
    return since is None or slot.timestamp() > since


def quiet_until(schedule: Schedule, now: Instant) -> float | None:
    """When the quiet hours holding `now` end (None when `now` is not in them)."""
    quiet = schedule.quiet
    if quiet is None:
        return None
    local = local_now(schedule.timezone, now)
    if not quiet.holds(local.time()):
        return None
    zone = zone_of(schedule.timezone)
    at = instant(now)
    for offset in (0, 1):
        end = _at(local.date() + timedelta(days=offset), quiet.end, zone)
        if end > at:
            return end.timestamp()
    return None  # not reached: an end comes within a day


def hold(schedule: Schedule, now: Instant) -> Hold | None:
    """Why and until when pushes wait, or None when they may go now."""
    if schedule.digest_times:
        if digest_due(schedule, now):
            return None
        slot = next_slot(schedule.digest_times, schedule.timezone, now)
        assert slot is not None
        return Hold(slot.timestamp(), "digest")
    until = quiet_until(schedule, now)
    return None if until is None else Hold(until, "quiet")


def next_push_at(schedule: Schedule, now: Instant) -> float:
    """When this chat may next be sent a push: `now` itself, or a later epoch time."""
    held = hold(schedule, now)
    return epoch(now) if held is None else held.until


def queue_at(schedule: Schedule, now: Instant) -> float:
    """When headlines found at `now` may go: the next digest time, the end of quiet hours,
    or `now` itself.

    Unlike next_push_at, a digest time already passed owes nothing to headlines found after
    it: a digest time with nothing held sends nothing, and what is found later waits for the
    next one. (Headlines already held when the bot went down go out once at the next start:
    their rows are due, and next_push_at lets them go.)
    """
    if schedule.digest_times:
        slot = next_slot(schedule.digest_times, schedule.timezone, now)
        assert slot is not None
        return slot.timestamp()
    until = quiet_until(schedule, now)
    return epoch(now) if until is None else until


# --- the time zones offered as buttons ---------------------------------------------------

COMMON_ZONES: dict[str, tuple[str, ...]] = {
    "America": (
        "America/La_Paz",
        "America/Argentina/Buenos_Aires",
        "America/Santiago",
        "America/Lima",
        "America/Bogota",
        "America/Caracas",
        "America/Mexico_City",
        "America/Havana",
        "America/Sao_Paulo",
        "America/Montevideo",
        "America/Asuncion",
        "America/Guayaquil",
        "America/Managua",
        "America/Santo_Domingo",
        "America/New_York",
        "America/Los_Angeles",
    ),
    "Europe": (
        "Europe/Madrid",
        "Europe/London",
        "Europe/Lisbon",
        "Europe/Paris",
        "Europe/Berlin",
        "Europe/Rome",
        "Europe/Athens",
        "Europe/Istanbul",
        "Europe/Moscow",
    ),
    "Africa": (
        "Africa/Johannesburg",
        "Africa/Lagos",
        "Africa/Cairo",
        "Africa/Nairobi",
        "Africa/Casablanca",
        "Africa/Algiers",
        "Africa/Accra",
        "Africa/Addis_Ababa",
    ),
    "Asia": (
        "Asia/Beirut",
        "Asia/Tehran",
        "Asia/Dubai",
        "Asia/Karachi",
        "Asia/Kolkata",
        "Asia/Dhaka",
        "Asia/Bangkok",
        "Asia/Jakarta",
        "Asia/Shanghai",
        "Asia/Manila",
        "Asia/Tokyo",
    ),
    "Pacific": (
        "Australia/Sydney",
        "Pacific/Auckland",
        "Pacific/Fiji",
        "Pacific/Honolulu",
    ),
}


_COMMON = frozenset(zone for zones in COMMON_ZONES.values() for zone in zones)


def region_of(name: str) -> str:
    """The region whose common zones /timezone offers for a chat in this zone."""
    head = name.split("/", 1)[0]
    if head == "Australia":
        return "Pacific"
    return head if head in COMMON_ZONES else DEFAULT_REGION


def city_of(name: str) -> str:
    """'America/Argentina/Buenos_Aires' -> 'Buenos Aires' (an offset or UTC stays itself)."""
    return name.rsplit("/", 1)[-1].replace("_", " ")
