"""When a technician can work: weekly working hours in the technician's own time zone, minus absences, as shifts.

Hours are wall-clock times (08:00-17:00 in Europe/Berlin stays 08:00-17:00 local on the day
clocks change), so each day's stretch is converted to UTC on its own date with `zoneinfo`: a
shift on a daylight-saving day is an hour shorter or longer in real time, never shifted by
one. A local time that does not exist (inside the spring-forward gap) is read with the offset
from before the change, as `zoneinfo` does (02:30 on that day is 03:30 summer time); one that
occurs twice (autumn) as its first occurrence.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cloud.errors import InvalidFieldDataError

MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True)
class WeeklyHours:
    """One stretch of the week: `weekday` 0 (Monday) .. 6, local minutes after midnight, `start_min` < `end_min`."""

    weekday: int
    start_min: int
    end_min: int

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise InvalidFieldDataError(f"weekday {self.weekday} is not 0 (Monday) .. 6 (Sunday)")
        if not 0 <= self.start_min < self.end_min <= MINUTES_PER_DAY:
            raise InvalidFieldDataError(f"working hours {hhmm(self.start_min)}-{hhmm(self.end_min)} must start "
                                        "before they end, within one day (00:00-24:00)")


@dataclass(frozen=True)
class Interval:
    """[start, end) in UTC epoch seconds."""

    start: float
    end: float


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`; `InvalidFieldDataError` if there is none of that name."""
    if name not in _zone_names():
        raise InvalidFieldDataError(f"{name!r} is not an IANA time zone (e.g. Europe/Berlin, UTC)")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:  # listed but unreadable: the tz database is broken
        raise InvalidFieldDataError(f"time zone {name!r} cannot be loaded: {exc}") from exc


@cache  # read once: listing the tz database walks the file system
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones() | {"UTC"})


def parse_hhmm(text: str) -> int:
    """Minutes after midnight of `HH:MM` (24:00 allowed as the end of a day); `InvalidFieldDataError` otherwise."""
    hours, sep, minutes = text.partition(":")
    if not (sep and len(hours) == 2 and len(minutes) == 2 and hours.isdigit() and minutes.isdigit()):
        raise InvalidFieldDataError(f"{text!r} is not a time of day HH:MM")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > MINUTES_PER_DAY:
        raise InvalidFieldDataError(f"{text!r} is not a time of day between 00:00 and 24:00")
    return value


def hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def shifts(hours: Iterable[WeeklyHours], time_zone: str, absences: Iterable[Interval], start: float,
           end: float) -> list[Interval]:
    """The technician's shifts within [start, end): each day's working hours, cut to the window, minus absences.

    Sorted, non-overlapping (stretches of one day that touch or overlap are merged).
    """
    tz = zone(time_zone)
    week = list(hours)
    if not week or end <= start:
        return []
    first = datetime.fromtimestamp(start, tz).date() - timedelta(days=1)
    last = datetime.fromtimestamp(end, tz).date() + timedelta(days=1)
    worked = [Interval(max(s, start), min(e, end)) for s, e in _local_stretches(week, tz, first, last)
              if e > start and s < end]
    return _subtract(_merge(worked), sorted(absences, key=lambda a: a.start))


def _local_stretches(week: list[WeeklyHours], tz: ZoneInfo, first: date, last: date) -> Iterator[tuple[float, float]]:
    day = first
    while day <= last:
        for stretch in week:
            if stretch.weekday == day.weekday():
                yield _instant(day, stretch.start_min, tz), _instant(day, stretch.end_min, tz)
        day += timedelta(days=1)


def _instant(day: date, minutes: int, tz: ZoneInfo) -> float:
    """UTC epoch seconds of local `day` + `minutes` in `tz` (24:00 is the next day's midnight)."""
    if minutes == MINUTES_PER_DAY:
        day, minutes = day + timedelta(days=1), 0
    return datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=tz).timestamp()


def _merge(intervals: list[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for interval in sorted(intervals, key=lambda i: i.start):
        if interval.end <= interval.start:
            continue
        if merged and interval.start <= merged[-1].end:
            merged[-1] = Interval(merged[-1].start, max(merged[-1].end, interval.end))
        else:
            merged.append(interval)
    return merged


def _subtract(worked: list[Interval], absences: list[Interval]) -> list[Interval]:
    result: list[Interval] = []
    for shift in worked:
        pieces = [shift]
        for absence in absences:
            pieces = [part for piece in pieces for part in _cut(piece, absence)]
        result.extend(pieces)
    return result


def _cut(piece: Interval, absence: Interval) -> list[Interval]:
    if absence.end <= piece.start or absence.start >= piece.end:
        return [piece]
    parts = []
    if absence.start > piece.start:
        parts.append(Interval(piece.start, absence.start))
    if absence.end < piece.end:
        parts.append(Interval(absence.end, piece.end))
    return parts
