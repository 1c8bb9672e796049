"""A technician's shifts: local working hours in its own time zone, minus absences, across daylight-saving changes."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from cloud.errors import InvalidFieldDataError
from cloud.field.calendar import Interval, WeeklyHours, parse_hhmm, shifts

BERLIN = ZoneInfo("Europe/Berlin")
OFFICE_WEEK = [WeeklyHours(day, 8 * 60, 17 * 60) for day in range(5)]  # Mon-Fri 08:00-17:00


def at(text: str, tz: ZoneInfo = BERLIN) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


def local(instant: float) -> str:
    return datetime.fromtimestamp(instant, BERLIN).strftime("%a %H:%M")


def test_a_week_of_office_hours_gives_five_local_shifts() -> None:
    week = shifts(OFFICE_WEEK, "Europe/Berlin", [], at("2026-06-01T00:00"), at("2026-06-08T00:00"))
    assert [(local(s.start), local(s.end)) for s in week] == [
        (f"{day} 08:00", f"{day} 17:00") for day in ("Mon", "Tue", "Wed", "Thu", "Fri")]
    assert all(s.end - s.start == 9 * 3600 for s in week)
    assert week[0].start == at("2026-06-01T06:00", ZoneInfo("UTC"))  # CEST is UTC+2


def test_hours_stay_local_across_the_spring_and_autumn_changes() -> None:
    # Sunday 2026-03-29 02:00 CET -> 03:00 CEST: Monday's shift starts at 08:00 local, i.e. 06:00 UTC (not 07:00).
    weekend = [WeeklyHours(day, 0, 24 * 60) for day in (5, 6)] + OFFICE_WEEK
    spring = shifts(weekend, "Europe/Berlin", [], at("2026-03-28T00:00"), at("2026-03-31T00:00"))
    assert [s.end - s.start for s in spring] == [(24 + 23) * 3600, 9 * 3600]  # Sat and Sun (23 h) merge; then Mon
    spring = shifts(OFFICE_WEEK, "Europe/Berlin", [], at("2026-03-27T00:00"), at("2026-03-31T00:00"))
    assert [local(s.start) for s in spring] == ["Fri 08:00", "Mon 08:00"]
    assert spring[0].start == at("2026-03-27T07:00", ZoneInfo("UTC"))
    assert spring[1].start == at("2026-03-30T06:00", ZoneInfo("UTC"))
    # Sunday 2026-10-25 03:00 CEST -> 02:00 CET: the Sunday is 25 hours long.
    autumn = shifts([WeeklyHours(6, 0, 24 * 60)], "Europe/Berlin", [], at("2026-10-24T00:00"), at("2026-10-27T00:00"))
    assert [s.end - s.start for s in autumn] == [25 * 3600]


def test_absences_cut_shifts_and_the_window_clips_them() -> None:
    sick = Interval(at("2026-06-02T12:00"), at("2026-06-03T10:00"))  # Tue noon to Wed 10:00
    week = shifts(OFFICE_WEEK, "Europe/Berlin", [sick], at("2026-06-01T09:00"), at("2026-06-04T12:00"))
    assert [(local(s.start), local(s.end)) for s in week] == [
        ("Mon 09:00", "Mon 17:00"), ("Tue 08:00", "Tue 12:00"), ("Wed 10:00", "Wed 17:00"), ("Thu 08:00", "Thu 12:00"),
    ]


def test_another_time_zone_and_no_hours() -> None:
    new_york = shifts([WeeklyHours(0, 9 * 60, 10 * 60)], "America/New_York", [], at("2026-06-01T00:00"),
                      at("2026-06-02T12:00"))
    assert [s.start for s in new_york] == [at("2026-06-01T13:00", ZoneInfo("UTC"))]
    assert shifts([], "UTC", [], 0.0, 1e9) == []


@pytest.mark.parametrize("text", ["8:00", "25:00", "12:60", "ab:cd", "24:01", ""])
def test_bad_times_of_day_are_refused(text: str) -> None:
    with pytest.raises(InvalidFieldDataError):
        parse_hhmm(text)


def test_bad_hours_and_zones_are_refused() -> None:
    assert parse_hhmm("24:00") == 24 * 60
    with pytest.raises(InvalidFieldDataError, match="start before"):
        WeeklyHours(0, 17 * 60, 8 * 60)
    with pytest.raises(InvalidFieldDataError, match="weekday"):
        WeeklyHours(7, 0, 60)
    with pytest.raises(InvalidFieldDataError, match="IANA"):
        shifts(OFFICE_WEEK, "Mars/Olympus", [], 0.0, 1.0)
