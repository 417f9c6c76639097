"""Business calendars and working-time arithmetic.

A calendar is either always open (24×7) or weekly working hours in an IANA time zone, with holidays and
make-up working days (调休) by date: those of an official source (a country's notices, `OfficialDays`) and the
admin's own list, which wins over the source on the dates it names. Holiday data runs out: an official source
at the end of its last published year, an admin's list at the end of the last year it names (or the date the
admin says it is complete to). `data_until` tells when; clocks that run past it are provisional.

All arithmetic takes and returns aware instants; working periods are built from local dates and converted
through the zone, so daylight-saving changes are handled where the zone has them.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_SCAN_DAYS = 800
"""A search for working time that finds none in this many days means the calendar has none."""

_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


class CalendarError(ValueError):
    """A calendar definition that cannot be used (bad hours, unknown zone, no working time at all)."""


@dataclass(frozen=True, order=True)
class Hours:
    """One stretch of working hours within a local day, as minutes after midnight (end may be 1440)."""

    start_min: int
    end_min: int

    @classmethod
    def parse(cls, start: str, end: str) -> Hours:
        hours = cls(_minutes(start), _minutes(end))
        if not 0 <= hours.start_min < hours.end_min <= 24 * 60:
            raise CalendarError(f"working hours {start}–{end} must run forwards within one day")
        return hours

    def text(self) -> tuple[str, str]:
        return _hhmm(self.start_min), _hhmm(self.end_min)


def _minutes(text: str) -> int:
    match = _HHMM.match(text)
    if match is None or (match.group(1) == "24" and match.group(2) != "00"):
        raise CalendarError(f"{text!r} is not a time of day HH:MM (00:00–24:00)")
    return int(match.group(1)) * 60 + int(match.group(2))


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class DayNote:
    """A dated exception: a holiday, or a make-up working day, with the name admins gave it."""

    day: date
    name: str = ""


@dataclass(frozen=True)
class OfficialDays:
    """An official source's days off and make-up working days; complete to `published_through`, after which
    only the days fixed by law are listed."""

    source: str
    holidays: tuple[DayNote, ...]
    workdays: tuple[DayNote, ...]
    published_through: date


@dataclass(frozen=True)
class Calendar:
    calendar_id: str
    name: str
    time_zone: str = "UTC"
    always_open: bool = False
    weekly: tuple[tuple[Hours, ...], ...] = ((),) * 7
    """Working hours per weekday, Monday first."""
    holidays: tuple[DayNote, ...] = ()
    workdays: tuple[DayNote, ...] = ()
    """Make-up working days (调休): worked although they fall on a weekend."""
    workday_hours: tuple[Hours, ...] = ()
    """Hours worked on a make-up day; empty means Monday's hours."""
    version: int = 1
    official: OfficialDays | None = None
    """The official source the calendar follows, if any; `holidays` and `workdays` override it."""
    covered_until: date | None = None
    """Set by an admin who entered a year by hand: the listed days are complete to this date."""
    _holiday_set: frozenset[date] = field(init=False, repr=False, compare=False)
    _workday_set: frozenset[date] = field(init=False, repr=False, compare=False)
    _official_off: frozenset[date] = field(init=False, repr=False, compare=False)
    _official_work: frozenset[date] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_holiday_set", frozenset(n.day for n in self.holidays))
        object.__setattr__(self, "_workday_set", frozenset(n.day for n in self.workdays))
        official = self.official
        object.__setattr__(self, "_official_off", frozenset(n.day for n in official.holidays) if official else ())
        object.__setattr__(self, "_official_work", frozenset(n.day for n in official.workdays) if official else ())

    @property
    def data_until(self) -> date | None:
        """The last date the calendar knows its holidays for; None when it has none to run out of (24×7, or
        weekly hours without any holiday list)."""
        if self.always_open:
            return None
        ends = [d for d in (self.covered_until, self.official.published_through if self.official else None) if d]
        if ends:
            return max(ends)
        listed = [n.day for n in (*self.holidays, *self.workdays)]
        return date(max(listed).year, 12, 31) if listed else None

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.time_zone)


def always_open(calendar_id: str = "24x7", name: str = "Always open") -> Calendar:
    return Calendar(calendar_id=calendar_id, name=name, always_open=True)


@functools.lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CalendarError(f"unknown time zone {name!r}") from exc


def validate(calendar: Calendar) -> None:
    """Raise CalendarError unless the calendar can answer every question asked of it."""
    _zone(calendar.time_zone)
    if calendar.always_open:
        return
    if len(calendar.weekly) != 7:
        raise CalendarError("weekly hours need seven days, Monday first")
    for day in (*calendar.weekly, calendar.workday_hours):
        ordered = sorted(day)
        for earlier, later in itertools.pairwise(ordered):
            if later.start_min < earlier.end_min:
                raise CalendarError("working hours within a day must not overlap")
    if not any(calendar.weekly):
        raise CalendarError("a working-hours calendar needs working hours on at least one weekday")
    both = calendar._holiday_set & calendar._workday_set
    if both:
        raise CalendarError(f"{min(both).isoformat()} is listed both as a holiday and as a make-up working day")


def hours_on(calendar: Calendar, day: date) -> tuple[Hours, ...]:
    """The working hours of one local date: none on holidays, make-up hours on make-up days."""
    if calendar.always_open:
        return (Hours(0, 24 * 60),)
    if day in calendar._holiday_set:
        return ()
    if day in calendar._workday_set:
        return calendar.workday_hours or calendar.weekly[0]
    if day in calendar._official_off:
        return ()
    if day in calendar._official_work:
        return calendar.workday_hours or calendar.weekly[0]
    return tuple(sorted(calendar.weekly[day.weekday()]))


def beyond_data(calendar: Calendar, moment: datetime) -> bool:
    """Whether `moment` falls after the calendar's holiday data ends (a deadline there is provisional)."""
    until = calendar.data_until
    return until is not None and moment.astimezone(calendar.zone).date() > until


def holiday_name(calendar: Calendar, day: date) -> str | None:
    """What the day off is called (the admin's name first), or None if it is no holiday."""
    for notes in (calendar.holidays, calendar.official.holidays if calendar.official else ()):
        for note in notes:
            if note.day == day:
                return note.name
    return None


def is_working_day(calendar: Calendar, day: date) -> bool:
    return bool(hours_on(calendar, day))


def _local_instant(calendar: Calendar, day: date, minutes: int) -> datetime:
    local = datetime.combine(day, time(0), tzinfo=calendar.zone) + timedelta(minutes=minutes)
    # Adding a timedelta to an aware datetime keeps the wall clock; re-normalise through UTC so a stretch
    # that crosses a daylight-saving change gets its true length.
    wall = local.replace(tzinfo=None)
    return wall.replace(tzinfo=calendar.zone).astimezone(UTC)


def periods_of(calendar: Calendar, day: date) -> list[tuple[datetime, datetime]]:
    """The working periods of one local date as UTC instants."""
    return [
        (_local_instant(calendar, day, h.start_min), _local_instant(calendar, day, h.end_min))
        for h in hours_on(calendar, day)
    ]


def periods_from(calendar: Calendar, start: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Working periods that end after `start`, in order, the first one clipped to begin at `start`."""
    _aware(start)
    day = start.astimezone(calendar.zone).date() - timedelta(days=1)
    empty_days = 0
    while True:
        periods = periods_of(calendar, day)
        for begin, end in periods:
            if end > start:
                yield max(begin, start), end
        empty_days = 0 if periods else empty_days + 1
        if empty_days > MAX_SCAN_DAYS:
            raise CalendarError(f"calendar {calendar.calendar_id!r} has no working time after {start.isoformat()}")
        day += timedelta(days=1)


def add_working_time(calendar: Calendar, start: datetime, seconds: float) -> datetime:
    """The earliest instant at which `seconds` of working time have passed since `start`."""
    _aware(start)
    if seconds <= 0:
        return start
    if calendar.always_open:
        return start + timedelta(seconds=seconds)
    remaining = timedelta(seconds=seconds)
    for begin, end in periods_from(calendar, start):
        if remaining <= end - begin:
            return begin + remaining
        remaining -= end - begin
    raise AssertionError("periods_from never ends")  # pragma: no cover


def working_time_between(calendar: Calendar, start: datetime, end: datetime) -> float:
    """Seconds of working time in [start, end); zero when end is not after start."""
    _aware(start)
    _aware(end)
    if end <= start:
        return 0.0
    if calendar.always_open:
        return (end - start).total_seconds()
    total = timedelta()
    for begin, finish in periods_from(calendar, start):
        if begin >= end:
            break
        total += min(finish, end) - begin
    return total.total_seconds()


def next_working_instant(calendar: Calendar, at: datetime) -> datetime:
    """`at` itself if it is inside working hours, else the start of the next working period."""
    for begin, _ in periods_from(calendar, at):
        return begin
    raise AssertionError("periods_from never ends")  # pragma: no cover


def add_working_days(calendar: Calendar, start: datetime, days: int) -> datetime:
    """The same point in the working day `days` working days later.

    From inside working hours that is the same working offset into the day (clamped to that day's length);
    from before the day's work begins, a weekend or a holiday, the next working day counts as the first, so
    the result is the end of the `days`-th working day. With Mon–Fri hours and no holidays, 7 working days
    from Friday 10:00 is Tuesday of the week after next at 10:00; from a Saturday, 18:00 on the second
    Tuesday after it.
    """
    if days <= 0:
        return start
    if calendar.always_open:
        return start + timedelta(days=days)
    first = next_working_instant(calendar, start)
    local_day = first.astimezone(calendar.zone).date()
    periods = periods_of(calendar, local_day)
    offset = working_time_between(calendar, periods[0][0], first) if periods else 0.0
    day = local_day
    for _ in range(days):
        day = _next_working_day(calendar, day)
    # The end of the working day before the target day, then the offset into the target day.
    end_of_previous = periods_of(calendar, _previous_working_day(calendar, day))[-1][1]
    target = periods_of(calendar, day)
    length = sum((end - begin for begin, end in target), timedelta()).total_seconds()
    return add_working_time(calendar, end_of_previous, min(offset, length)) if offset else end_of_previous


def _next_working_day(calendar: Calendar, day: date) -> date:
    for _ in range(MAX_SCAN_DAYS):
        day += timedelta(days=1)
        if is_working_day(calendar, day):
            return day
    raise CalendarError(f"calendar {calendar.calendar_id!r} has no working day after {day.isoformat()}")


def _previous_working_day(calendar: Calendar, day: date) -> date:
    for _ in range(MAX_SCAN_DAYS):
        day -= timedelta(days=1)
        if is_working_day(calendar, day):
            return day
    raise CalendarError(f"calendar {calendar.calendar_id!r} has no working day before {day.isoformat()}")


def _aware(moment: datetime) -> None:
    if moment.tzinfo is None:
        raise ValueError("calendar arithmetic needs aware datetimes")
