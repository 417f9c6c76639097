"""Calendars that follow the official holiday source (the `holidays` package's State Council notices), the
admin's overrides, and what happens at the end of the published data. Dates in Shanghai local time on the
default Mon–Fri 09:00–18:00 hours."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date, timedelta

from services.sla.domain.calendar import (
    DayNote,
    add_working_days,
    add_working_time,
    always_open,
    beyond_data,
    holiday_name,
    is_working_day,
)
from services.sla.domain.clock import start
from services.sla.repository.official import official_days, published_years
from tests.unit.sla.support import CHINA_HOLIDAYS, CHINA_WORKDAYS, local, make_spec, working_hours

OFFICIAL = replace(working_hours(), holidays=(), workdays=(), official=official_days("CN"))
H = 3600.0


def test_the_package_agrees_with_the_notices_for_2025_and_2026_day_by_day() -> None:
    by_hand = working_hours()  # every 放假 and 上班 day of both notices, typed from the notices themselves
    day = date(2025, 1, 1)
    while day <= date(2026, 12, 31):
        assert is_working_day(OFFICIAL, day) == is_working_day(by_hand, day), day
        day += timedelta(days=1)
    assert {n.day for n in CHINA_WORKDAYS} <= {n.day for n in OFFICIAL.official.workdays}  # type: ignore[union-attr]
    assert len(CHINA_HOLIDAYS) > 0


def test_a_working_day_clock_in_a_published_year_skips_its_holidays_and_counts_its_make_up_days() -> None:
    # 国庆节 2026: 1–7 October off; Sunday 20 September and Saturday 10 October worked.
    # From Wednesday 30 September: Thursday 8 and Friday 9 October, then the make-up Saturday.
    assert add_working_days(OFFICIAL, local("2026-09-30 10:00"), 3) == local("2026-10-10 10:00")
    assert add_working_time(OFFICIAL, local("2026-09-18 17:00"), 2 * H) == local("2026-09-20 10:00")  # Fri → Sun
    assert holiday_name(OFFICIAL, date(2026, 10, 1)) == "国庆节"
    assert not beyond_data(OFFICIAL, local("2026-12-31 17:00"))


def test_a_clock_that_runs_into_a_year_without_data_counts_the_statutory_holidays_and_says_so() -> None:
    assert published_years("CN")[-1] == 2026  # the newest notice this package release carries
    assert OFFICIAL.data_until == date(2026, 12, 31)
    # New Year's Day 2027 (a Friday) is fixed by law: not a working day even before the 2027 notice.
    due = add_working_days(OFFICIAL, local("2026-12-31 10:00"), 2)
    assert due == local("2027-01-05 10:00")
    assert beyond_data(OFFICIAL, due)
    # 除夕 and three days of 春节 2027 (5–8 February) are statutory too; bridging days are not guessed.
    assert [is_working_day(OFFICIAL, date(2027, 2, d)) for d in range(4, 11)] == [
        True, False, False, False, False, True, True,
    ]  # fmt: skip
    assert "未发布" in (holiday_name(OFFICIAL, date(2027, 2, 5)) or "")
    # The seeded hand-kept list had no 2027: it counted New Year's Day as work.
    assert add_working_days(working_hours(), local("2026-12-31 10:00"), 2) == local("2027-01-04 10:00")


def test_the_clock_transition_records_that_its_deadline_is_provisional() -> None:
    clock_spec = make_spec("complaint_resolution", 7, "working_days", calendar_id="working-hours")
    late = start(uuid.uuid4(), clock_spec, local("2026-12-28 10:00"), OFFICIAL)
    assert late.transition.due_at == local("2027-01-07 10:00")  # 1 January skipped
    assert late.transition.detail["calendar_data_until"] == "2026-12-31"
    inside = start(uuid.uuid4(), clock_spec, local("2026-11-02 10:00"), OFFICIAL)
    assert "calendar_data_until" not in inside.transition.detail


def test_the_admin_list_overrides_the_official_source_on_the_dates_it_names() -> None:
    company = replace(
        OFFICIAL,
        holidays=(DayNote(date(2026, 10, 10), "公司团建"),),  # an official make-up Saturday, given off
        workdays=(DayNote(date(2026, 10, 8), "值班"),),  # an official holiday, worked
    )
    assert not is_working_day(company, date(2026, 10, 10))
    assert is_working_day(company, date(2026, 10, 8))
    assert holiday_name(company, date(2026, 10, 10)) == "公司团建"


def test_how_far_a_calendars_data_reaches() -> None:
    assert always_open().data_until is None
    assert (
        replace(working_hours(), holidays=(), workdays=()).data_until is None
    )  # weekly hours, nothing to run out
    assert working_hours().data_until == date(2026, 12, 31)  # the hand-kept list ends with its last year
    entered = replace(OFFICIAL, covered_until=date(2027, 12, 31))  # an admin typed in 2027 from the notice
    assert entered.data_until == date(2027, 12, 31)
    assert not beyond_data(entered, local("2027-06-01 10:00"))
