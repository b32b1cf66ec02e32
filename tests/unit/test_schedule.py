"""Digest times, quiet hours and time zones: when a chat's pushes may go (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.text.schedule import (
    QuietHours,
    Schedule,
    SettingError,
    digest_due,
    epoch,
    hold,
    instant,
    next_push_at,
    next_slot,
    parse_digest_times,
    parse_quiet,
    parse_time,
    parse_timezone,
    utc_offset,
    zone_of,
)

LA_PAZ = ZoneInfo("America/La_Paz")
MADRID = ZoneInfo("Europe/Madrid")
SANTIAGO = ZoneInfo("America/Santiago")


def at(zone: ZoneInfo, year: int, month: int, day: int, *hms: int) -> float:
    """Epoch seconds of a local wall time in a zone."""
    hour, minute, second = (*hms, 0, 0, 0)[:3]
    return datetime(year, month, day, hour, minute, second, tzinfo=zone).timestamp()


def local(ts: float, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ts, zone)


def digest(times: str, zone: str, *, since: float, last: float | None = None) -> Schedule:
    return Schedule(
        digest_times=parse_digest_times(times),
        timezone=zone,
        digest_since=since,
        last_digest_at=last,
    )


# --- a digest in La Paz ------------------------------------------------------------------


def test_la_paz_digest_nothing_before_eight_then_due_exactly_at_eight() -> None:
    chosen = at(LA_PAZ, 2026, 3, 10, 20, 0)  # the evening before: /digest 08:00
    schedule = digest("08:00", "America/La_Paz", since=chosen)
    eight = at(LA_PAZ, 2026, 3, 11, 8, 0)
    for moment in (chosen + 1, at(LA_PAZ, 2026, 3, 11, 0, 0), eight - 1):
        held = hold(schedule, moment)
        assert held is not None and held.reason == "digest"
        assert held.until == eight
        assert next_push_at(schedule, moment) == eight
    assert local(eight, LA_PAZ).hour == 8 and datetime.fromtimestamp(eight, UTC).hour == 12
    assert hold(schedule, eight) is None, "due exactly at 08:00"
    assert next_push_at(schedule, eight) == eight
    assert digest_due(schedule, eight + 3600), "still owed until it is sent"
    sent = Schedule(schedule.digest_times, schedule.timezone, last_digest_at=eight + 2)
    held = hold(sent, eight + 3)
    assert held is not None and held.until == at(LA_PAZ, 2026, 3, 12, 8, 0), "then tomorrow"


def test_times_set_after_todays_slot_owe_nothing_today() -> None:
    schedule = digest("08:00", "America/La_Paz", since=at(LA_PAZ, 2026, 3, 11, 9, 30))
    held = hold(schedule, at(LA_PAZ, 2026, 3, 11, 9, 31))
    assert held is not None and held.until == at(LA_PAZ, 2026, 3, 12, 8, 0)


def test_two_times_a_day_take_turns() -> None:
    schedule = digest("18:00, 08:00", "America/La_Paz", since=at(LA_PAZ, 2026, 3, 11, 7, 0))
    assert schedule.digest_times == (time(8), time(18))
    assert next_push_at(schedule, at(LA_PAZ, 2026, 3, 11, 7, 0)) == at(LA_PAZ, 2026, 3, 11, 8, 0)
    after_morning = Schedule(
        schedule.digest_times, schedule.timezone, last_digest_at=at(LA_PAZ, 2026, 3, 11, 8, 0, 1)
    )
    assert next_push_at(after_morning, at(LA_PAZ, 2026, 3, 11, 12, 0)) == at(
        LA_PAZ, 2026, 3, 11, 18, 0
    )


# --- missed while the bot was down -------------------------------------------------------


def test_a_digest_missed_while_down_is_due_once_at_the_next_start() -> None:
    yesterday = at(LA_PAZ, 2026, 3, 10, 8, 0, 5)
    schedule = digest("08:00,18:00", "America/La_Paz", since=0.0, last=yesterday)
    # down from 07:00 on the 11th to 10:00 on the 13th: four digest times passed
    restart = at(LA_PAZ, 2026, 3, 13, 10, 0)
    assert digest_due(schedule, restart)
    assert next_push_at(schedule, restart) == restart
    after = Schedule(schedule.digest_times, schedule.timezone, last_digest_at=restart + 1)
    assert not digest_due(after, restart + 2), "one digest, not four"
    assert next_push_at(after, restart + 2) == at(LA_PAZ, 2026, 3, 13, 18, 0)


# --- quiet hours -------------------------------------------------------------------------


def test_quiet_hours_hold_and_release() -> None:
    schedule = Schedule(timezone="America/La_Paz", quiet=parse_quiet("22:00-07:00"))
    assert hold(schedule, at(LA_PAZ, 2026, 3, 11, 21, 59)) is None
    ten = at(LA_PAZ, 2026, 3, 11, 22, 0)
    held = hold(schedule, ten)
    assert held is not None and held.reason == "quiet"
    assert held.until == at(LA_PAZ, 2026, 3, 12, 7, 0)
    assert next_push_at(schedule, at(LA_PAZ, 2026, 3, 12, 3, 0)) == at(LA_PAZ, 2026, 3, 12, 7, 0)
    release = at(LA_PAZ, 2026, 3, 12, 7, 0)
    assert hold(schedule, release - 1) is not None
    assert hold(schedule, release) is None, "released exactly at the end"
    assert next_push_at(schedule, release) == release


def test_quiet_hours_within_one_day_and_not_in_digest_mode() -> None:
    afternoon = Schedule(timezone="UTC", quiet=QuietHours(time(13), time(15)))
    noon = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert hold(afternoon, noon) is None
    assert next_push_at(afternoon, noon + timedelta(hours=1, minutes=30)) == epoch(
        noon + timedelta(hours=3)
    )
    # in digest mode the digest times decide; quiet hours do not add a hold
    both = Schedule(
        digest_times=(time(14),),
        timezone="UTC",
        quiet=QuietHours(time(13), time(15)),
        digest_since=0.0,
        last_digest_at=epoch(noon),
    )
    assert next_push_at(both, noon + timedelta(hours=2)) == epoch(noon + timedelta(hours=2))


def test_quiet_hours_across_a_change_of_clocks_end_at_local_seven() -> None:
    schedule = Schedule(timezone="Europe/Madrid", quiet=parse_quiet("23:00-07:00"))
    night = at(MADRID, 2026, 3, 28, 23, 30)  # clocks go forward at 02:00 that night
    until = next_push_at(schedule, night)
    assert local(until, MADRID).replace(tzinfo=None) == datetime(2026, 3, 29, 7, 0)
    assert until - night == 6.5 * 3600, "an hour shorter night"


# --- daylight saving ---------------------------------------------------------------------


def _digest_instants(zone: ZoneInfo, name: str, first: datetime, days: int) -> list[datetime]:
    """The digest each day at 08:00 local, by asking next_slot after each one sent."""
    schedule = digest("08:00", name, since=first.timestamp())
    moments: list[datetime] = []
    now = first.timestamp()
    for _ in range(days):
        slot = next_slot(schedule.digest_times, name, now)
        assert slot is not None
        assert hold(schedule, slot.timestamp() - 1) is not None
        assert hold(schedule, slot.timestamp()) is None
        moments.append(slot.astimezone(zone))
        now = slot.timestamp()
        schedule = Schedule(schedule.digest_times, name, last_digest_at=now)
    return moments


def test_madrid_keeps_eight_oclock_across_both_changes() -> None:
    spring = _digest_instants(MADRID, "Europe/Madrid", datetime(2026, 3, 27, 9, tzinfo=MADRID), 4)
    assert [m.hour for m in spring] == [8, 8, 8, 8]
    assert [m.astimezone(UTC).hour for m in spring] == [7, 6, 6, 6]  # CET, then CEST
    autumn = _digest_instants(MADRID, "Europe/Madrid", datetime(2026, 10, 23, 9, tzinfo=MADRID), 4)
    assert [m.hour for m in autumn] == [8, 8, 8, 8]
    assert [m.astimezone(UTC).hour for m in autumn] == [6, 7, 7, 7]  # CEST, then CET
    assert [m.day for m in autumn] == [24, 25, 26, 27], "one a day, none lost or doubled"


def test_santiago_keeps_eight_oclock_across_both_changes() -> None:
    # Chile turns its clocks at midnight: back in early April, forward in early September
    april = _digest_instants(
        SANTIAGO, "America/Santiago", datetime(2026, 4, 1, 9, tzinfo=SANTIAGO), 8
    )
    september = _digest_instants(
        SANTIAGO, "America/Santiago", datetime(2026, 9, 2, 9, tzinfo=SANTIAGO), 8
    )
    for days in (april, september):
        assert all(m.hour == 8 and m.minute == 0 for m in days)
        assert len({m.date() for m in days}) == 8
        assert {m.astimezone(UTC).hour for m in days} == {11, 12}, "the offset changed"


def test_a_time_skipped_by_the_change_comes_once_an_hour_later() -> None:
    schedule = digest("02:30", "Europe/Madrid", since=at(MADRID, 2026, 3, 28, 12, 0))
    slot = next_slot(schedule.digest_times, "Europe/Madrid", at(MADRID, 2026, 3, 28, 12, 0))
    assert slot is not None
    assert slot.astimezone(MADRID).replace(tzinfo=None) == datetime(2026, 3, 29, 3, 30)
    twice = digest("02:30", "Europe/Madrid", since=at(MADRID, 2026, 10, 24, 12, 0))
    first = next_slot(twice.digest_times, "Europe/Madrid", at(MADRID, 2026, 10, 24, 12, 0))
    assert first is not None
    after = next_slot(twice.digest_times, "Europe/Madrid", first.timestamp())
    assert after is not None and after - first > timedelta(hours=23), "not twice that night"


# --- now as a datetime or epoch seconds --------------------------------------------------


def test_now_is_an_aware_datetime_or_epoch_seconds() -> None:
    schedule = Schedule(timezone="America/La_Paz", quiet=parse_quiet("22:00-07:00"))
    moment = datetime(2026, 3, 11, 23, 0, tzinfo=LA_PAZ)
    assert next_push_at(schedule, moment) == next_push_at(schedule, moment.timestamp())
    assert instant(moment.timestamp()) == moment
    with pytest.raises(ValueError, match="aware"):
        next_push_at(schedule, datetime(2026, 3, 11, 23, 0))  # naive: refused


# --- parsing what a chat types -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("08:00", (time(8),)),
        ("8", (time(8),)),
        ("18:00,08:00", (time(8), time(18))),
        ("7:30 19:30", (time(7, 30), time(19, 30))),
        ("08:00,08:00", (time(8),)),
        ("off", ()),
        ("OFF", ()),
        ("06:00,12:00,18:00,23:59", (time(6), time(12), time(18), time(23, 59))),
    ],
)
def test_parse_digest_times(text: str, expected: tuple[time, ...]) -> None:
    assert parse_digest_times(text) == expected


@pytest.mark.parametrize("text", ["", "25:00", "08:60", "noon", "1,2,3,4,5", "08:00;x"])
def test_parse_digest_times_refuses(text: str) -> None:
    with pytest.raises(SettingError):
        parse_digest_times(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("America/La_Paz", "America/La_Paz"),
        ("america/la_paz", "America/La_Paz"),
        ("la paz", "America/La_Paz"),
        ("Buenos_Aires", "America/Argentina/Buenos_Aires"),
        ("UTC", "UTC"),
        ("utc", "UTC"),
        ("Etc/UTC", "UTC"),
        ("-4", "UTC-04:00"),
        ("−4", "UTC-04:00"),
        ("+05:30", "UTC+05:30"),
        ("UTC+3", "UTC+03:00"),
        ("GMT-0330", "UTC-03:30"),
        ("+0", "UTC"),
        ("+14", "UTC+14:00"),
    ],
)
def test_parse_timezone(text: str, expected: str) -> None:
    assert parse_timezone(text) == expected


@pytest.mark.parametrize(
    "text", ["Mars/Olympus", "../../etc/passwd", "+15", "-13", "-4:20", "", "America", "x" * 300]
)
def test_parse_timezone_refuses(text: str) -> None:
    with pytest.raises(SettingError):
        parse_timezone(text)


def test_fixed_offsets_and_their_labels() -> None:
    noon = datetime(2026, 1, 15, 12, tzinfo=UTC)
    assert noon.astimezone(zone_of("UTC-04:00")).hour == 8
    assert noon.astimezone(zone_of("UTC+05:30")).minute == 30
    assert utc_offset("UTC-04:00", noon) == "UTC−4"
    assert utc_offset("Asia/Kolkata", noon) == "UTC+05:30"
    assert utc_offset("UTC", noon) == "UTC"
    assert utc_offset("America/Santiago", noon) == "UTC−3"  # summer there
    assert zone_of("Gone/Away") == UTC


def test_parse_quiet_and_time() -> None:
    assert parse_quiet("22:00-07:00") == QuietHours(time(22), time(7))
    assert parse_quiet("22:00 – 07:00") == QuietHours(time(22), time(7))
    assert parse_quiet("23 a 6") == QuietHours(time(23), time(6))
    assert parse_quiet("off") is None
    assert str(QuietHours(time(22), time(7))) == "22:00-07:00"
    assert parse_time("20h30") == time(20, 30)
    for bad in ("22:00", "22:00-22:00", "late-early", "1-2-3"):
        with pytest.raises(SettingError):
            parse_quiet(bad)
