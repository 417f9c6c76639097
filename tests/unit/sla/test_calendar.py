"""Working-time arithmetic across nights, weekends, Chinese public holidays and make-up working days (调休).

Cases are written from the State Council holiday notices for 2025 and 2026 (see `support.py`), in Shanghai
local time, on the default Mon–Fri 09:00–18:00 calendar unless a case says otherwise.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.sla.domain.calendar import (
    Calendar,
    CalendarError,
    DayNote,
    Hours,
    add_working_days,
    add_working_time,
    always_open,
    hours_on,
    is_working_day,
    next_working_instant,
    validate,
    working_time_between,
)
from tests.unit.sla.support import local, working_hours

CAL = working_hours()
H = 3600.0

ADD_CASES = [
    # (start, working time to add, expected, why)
    ("2026-11-23 10:00", 30 * 60, "2026-11-23 10:30", "inside a working day"),
    ("2026-11-23 17:45", 30 * 60, "2026-11-24 09:15", "across the night"),
    ("2026-11-23 07:00", 30 * 60, "2026-11-23 09:30", "before work starts"),
    ("2026-11-23 20:00", 60, "2026-11-24 09:01", "after work ends"),
    ("2026-11-27 17:30", H, "2026-11-30 09:30", "across a weekend"),
    ("2026-11-28 11:00", H, "2026-11-30 10:00", "from a Saturday"),
    ("2026-11-23 09:00", 9 * H, "2026-11-23 18:00", "a whole day ends at the close, not the next opening"),
    ("2026-11-23 09:00", 45 * H, "2026-11-27 18:00", "a whole week"),
    # Spring Festival 2026: 2/15 (Sun) – 2/23 (Mon) off; 2/14 (Sat) and 2/28 (Sat) are working days.
    ("2026-02-13 17:00", 2 * H, "2026-02-14 10:00", "Spring Festival: the make-up Saturday before it is worked"),
    ("2026-02-14 17:00", 2 * H, "2026-02-24 10:00", "Spring Festival: nine days off, Monday 2/23 included"),
    ("2026-02-20 12:00", 30 * 60, "2026-02-24 09:30", "Spring Festival: a contact during the holiday"),
    ("2026-02-27 17:00", 2 * H, "2026-02-28 10:00", "Spring Festival: the make-up Saturday after it"),
    # Spring Festival 2025: 1/28 (Tue) – 2/4 (Tue) off; 1/26 (Sun) and 2/8 (Sat) worked.
    ("2025-01-25 10:00", H, "2025-01-26 10:00", "Spring Festival 2025: Sunday 1/26 is worked"),
    ("2025-01-27 17:00", 2 * H, "2025-02-05 10:00", "Spring Festival 2025: eight days off"),
    ("2025-02-07 17:30", H, "2025-02-08 09:30", "Spring Festival 2025: Saturday 2/8 is worked"),
    # National Day 2025 with Mid-Autumn: 10/1 (Wed) – 10/8 (Wed) off; 9/28 (Sun) and 10/11 (Sat) worked.
    ("2025-09-27 12:00", H, "2025-09-28 10:00", "National Day 2025: Sunday 9/28 is worked"),
    ("2025-09-30 17:00", 2 * H, "2025-10-09 10:00", "National Day 2025: eight days off"),
    ("2025-10-10 17:00", 2 * H, "2025-10-11 10:00", "National Day 2025: Saturday 10/11 is worked"),
    # Mid-Autumn and National Day 2026: 9/25–9/27 and 10/1–10/7 off; 9/20 (Sun) and 10/10 (Sat) worked.
    ("2026-09-19 12:00", H, "2026-09-20 10:00", "National Day 2026: Sunday 9/20 is worked"),
    ("2026-09-24 17:00", 2 * H, "2026-09-28 10:00", "Mid-Autumn 2026: Friday 9/25 is off"),
    ("2026-09-30 17:00", 2 * H, "2026-10-08 10:00", "National Day 2026: seven days off"),
    ("2026-10-09 17:30", H, "2026-10-10 09:30", "National Day 2026: Saturday 10/10 is worked"),
    # New Year 2026 (1/1–1/3 off, Sunday 1/4 worked) and Labour Day 2026 (5/1–5/5 off, Saturday 5/9 worked).
    ("2025-12-31 17:00", 2 * H, "2026-01-04 10:00", "New Year 2026: Sunday 1/4 is worked"),
    ("2026-04-30 17:00", 2 * H, "2026-05-06 10:00", "Labour Day 2026: five days off"),
    ("2026-05-08 17:00", 2 * H, "2026-05-09 10:00", "Labour Day 2026: Saturday 5/9 is worked"),
    ("2025-04-03 17:00", 2 * H, "2025-04-07 10:00", "Qingming 2025: Friday 4/4 is off"),
]


@pytest.mark.parametrize(("start", "seconds", "expected", "why"), ADD_CASES, ids=[c[3] for c in ADD_CASES])
def test_adding_working_time_skips_nights_weekends_and_holidays_and_counts_make_up_days(
    start: str, seconds: float, expected: str, why: str
) -> None:
    assert add_working_time(CAL, local(start), seconds) == local(expected), why


@pytest.mark.parametrize(("start", "seconds", "expected", "why"), ADD_CASES, ids=[c[3] for c in ADD_CASES])
def test_working_time_between_is_the_inverse_of_adding_it(
    start: str, seconds: float, expected: str, why: str
) -> None:
    assert working_time_between(CAL, local(start), local(expected)) == pytest.approx(seconds), why


BETWEEN_CASES = [
    ("2026-11-23 09:00", "2026-11-23 18:00", 9 * H, "one working day"),
    ("2026-11-23 08:00", "2026-11-23 20:00", 9 * H, "time outside hours does not count"),
    ("2026-11-27 17:00", "2026-11-30 10:00", 2 * H, "a weekend does not count"),
    ("2026-02-13 09:00", "2026-02-24 09:00", 18 * H, "Spring Festival 2026: Friday 2/13 and the make-up Saturday"),
    ("2026-02-15 00:00", "2026-02-24 00:00", 0.0, "Spring Festival 2026: the holiday itself is empty"),
    # 9/26, 9/28 (Sun, make-up), 9/29, 9/30, 10/9, 10/10, 10/11 (Sat, make-up): seven days; 10/1–10/8 off.
    ("2025-09-26 09:00", "2025-10-13 09:00", 7 * 9 * H, "National Day 2025 fortnight: seven working days"),
    ("2026-11-23 12:00", "2026-11-23 11:00", 0.0, "an end before the start gives nothing"),
]


@pytest.mark.parametrize(("start", "end", "expected", "why"), BETWEEN_CASES, ids=[c[3] for c in BETWEEN_CASES])
def test_working_time_between_counts_only_working_hours(start: str, end: str, expected: float, why: str) -> None:
    assert working_time_between(CAL, local(start), local(end)) == pytest.approx(expected), why


WORKING_DAY_CASES = [
    # (start, working days, expected, why)
    ("2026-11-20 10:00", 7, "2026-12-01 10:00", "from Friday morning: Tuesday of the week after next"),
    ("2026-11-21 10:00", 7, "2026-12-01 18:00", "from a Saturday: the next Monday is day one"),
    ("2026-11-23 08:00", 1, "2026-11-23 18:00", "before opening the same day counts"),
    ("2026-11-23 19:00", 1, "2026-11-24 18:00", "after closing the next day is day one"),
    (
        "2026-02-13 10:00",
        7,
        "2026-03-02 10:00",
        "complaint across Spring Festival 2026 with both make-up Saturdays",
    ),
    ("2025-09-30 10:00", 7, "2025-10-16 10:00", "complaint across National Day 2025 with make-up Saturday 10/11"),
    (
        "2026-09-19 10:00",
        7,
        "2026-09-29 18:00",
        "from a Saturday before National Day 2026: Sunday 9/20 is day one",
    ),
    ("2025-01-27 15:00", 3, "2025-02-07 15:00", "across Spring Festival 2025: 2/5, 2/6, 2/7"),
]


@pytest.mark.parametrize(
    ("start", "days", "expected", "why"), WORKING_DAY_CASES, ids=[c[3] for c in WORKING_DAY_CASES]
)
def test_adding_working_days_lands_on_the_same_point_of_the_nth_working_day(
    start: str, days: int, expected: str, why: str
) -> None:
    assert add_working_days(CAL, local(start), days) == local(expected), why


def test_seven_working_days_is_sixty_three_working_hours_on_a_nine_hour_calendar() -> None:
    start = local("2026-02-13 10:00")
    assert working_time_between(CAL, start, add_working_days(CAL, start, 7)) == 63 * H


def test_holidays_and_make_up_days_decide_what_a_working_day_is() -> None:
    assert not is_working_day(CAL, date(2026, 2, 23)), "a Monday inside Spring Festival"
    assert is_working_day(CAL, date(2026, 2, 14)), "a make-up Saturday"
    assert not is_working_day(CAL, date(2026, 11, 28)), "an ordinary Saturday"
    assert hours_on(CAL, date(2026, 10, 10)) == (Hours(540, 1080),), "make-up days use Monday's hours"


def test_next_working_instant_is_the_instant_itself_inside_hours_else_the_next_opening() -> None:
    assert next_working_instant(CAL, local("2026-11-23 10:00")) == local("2026-11-23 10:00")
    assert next_working_instant(CAL, local("2026-11-23 18:00")) == local("2026-11-24 09:00")
    assert next_working_instant(CAL, local("2026-09-30 18:30")) == local("2026-10-08 09:00")


def test_a_lunch_break_is_not_working_time() -> None:
    lunch = working_hours(hours=(Hours.parse("09:00", "12:00"), Hours.parse("13:30", "18:00")))
    assert add_working_time(lunch, local("2026-11-23 11:30"), H) == local("2026-11-23 14:00")
    assert working_time_between(lunch, local("2026-11-23 09:00"), local("2026-11-23 18:00")) == 7.5 * H
    assert add_working_days(lunch, local("2026-11-23 14:00"), 1) == local("2026-11-24 14:00")


def test_always_open_calendar_is_plain_wall_time() -> None:
    cal = always_open()
    start = local("2026-02-14 23:50")
    assert add_working_time(cal, start, 2 * H) == start + timedelta(hours=2)
    assert working_time_between(cal, start, start + timedelta(days=3)) == 72 * H
    assert add_working_days(cal, start, 2) == start + timedelta(days=2)


def test_shanghai_has_no_daylight_saving_so_every_day_has_nine_working_hours() -> None:
    days = [date(2026, 1, 5) + timedelta(days=i) for i in range(365)]
    lengths = {
        working_time_between(CAL, local(f"{d} 00:00"), local(f"{d} 23:59")) for d in days if is_working_day(CAL, d)
    }
    assert lengths == {9 * H}


def test_a_round_the_clock_calendar_in_a_daylight_saving_zone_has_23_and_25_hour_days() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    cal = Calendar(
        calendar_id="berlin",
        name="Berlin, every day",
        time_zone="Europe/Berlin",
        weekly=((Hours(0, 1440),),) * 7,
    )
    spring = working_time_between(cal, local("2026-03-29 00:00", berlin), local("2026-03-30 00:00", berlin))
    autumn = working_time_between(cal, local("2026-10-25 00:00", berlin), local("2026-10-26 00:00", berlin))
    assert (spring, autumn) == (23 * H, 25 * H)


def test_office_hours_keep_their_local_times_across_a_daylight_saving_change() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    cal = working_hours(zone="Europe/Berlin", holidays=(), workdays=())
    assert add_working_time(cal, local("2026-03-27 17:00", berlin), 2 * H) == local("2026-03-30 10:00", berlin)
    due = add_working_time(cal, local("2026-03-27 17:00", berlin), 2 * H)
    assert due.astimezone(berlin).utcoffset() == timedelta(hours=2), "summer time by Monday"


def test_adding_then_measuring_working_time_round_trips_for_many_random_instants() -> None:
    rng = random.Random(20261123)
    base = datetime(2025, 1, 1, tzinfo=UTC)
    for _ in range(400):
        start = base + timedelta(seconds=rng.randrange(0, 700 * 86400))
        amount = rng.choice([1, 59, 600, 3600, 9 * 3600, 24 * 3600, 63 * 3600]) * rng.random()
        end = add_working_time(CAL, start, amount)
        assert end >= start
        assert working_time_between(CAL, start, end) == pytest.approx(amount, abs=1e-5)
        # Earliest instant: a moment earlier, less working time has passed.
        if amount > 1:
            assert working_time_between(CAL, start, end - timedelta(seconds=1)) < amount


def test_measuring_is_additive_over_any_split_point() -> None:
    rng = random.Random(7)
    base = local("2025-09-20 00:00")
    for _ in range(200):
        a, b, c = sorted(base + timedelta(minutes=rng.randrange(0, 60 * 24 * 60)) for _ in range(3))
        whole = working_time_between(CAL, a, c)
        assert whole == pytest.approx(working_time_between(CAL, a, b) + working_time_between(CAL, b, c))


def test_arithmetic_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="aware"):
        add_working_time(CAL, datetime(2026, 1, 5, 10), 60)  # noqa: DTZ001 — the point of the test


@pytest.mark.parametrize(
    ("calendar", "message"),
    [
        (Calendar("x", "x", time_zone="Mars/Olympus", weekly=((Hours(540, 1080),),) * 7), "unknown time zone"),
        (Calendar("x", "x", weekly=((),) * 7), "at least one weekday"),
        (
            Calendar("x", "x", weekly=((Hours(540, 720), Hours(700, 1080)),) + ((),) * 6),
            "must not overlap",
        ),
        (
            Calendar(
                "x",
                "x",
                weekly=((Hours(540, 1080),),) * 5 + ((), ()),
                holidays=(DayNote(date(2026, 10, 10)),),
                workdays=(DayNote(date(2026, 10, 10)),),
            ),
            "both as a holiday and as a make-up",
        ),
    ],
)
def test_unusable_calendars_are_refused_with_the_reason(calendar: Calendar, message: str) -> None:
    with pytest.raises(CalendarError, match=message):
        validate(calendar)


@pytest.mark.parametrize(
    ("start", "end"), [("18:00", "09:00"), ("09:00", "24:30"), ("9am", "5pm"), ("10:00", "10:00")]
)
def test_hours_must_be_hh_mm_and_run_forwards_within_a_day(start: str, end: str) -> None:
    with pytest.raises(CalendarError):
        Hours.parse(start, end)


def test_a_calendar_whose_every_day_is_a_holiday_reports_that_it_has_no_working_time() -> None:
    first = date(2026, 1, 1)
    closed = working_hours(holidays=tuple(DayNote(first + timedelta(days=i)) for i in range(900)), workdays=())
    with pytest.raises(CalendarError, match="no working time"):
        add_working_time(closed, local("2026-01-01 10:00"), 60)
