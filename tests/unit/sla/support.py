"""Builders for SLA tests: calendars written from the official holiday notices, policies, specs and clocks."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from services.sla.domain.calendar import Calendar, DayNote, Hours, always_open
from services.sla.domain.clock import Change, Clock, start
from services.sla.domain.policy import ClockRule, ClockSpec, Policy, Step, Target

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(text: str, zone: ZoneInfo = SHANGHAI) -> datetime:
    """`2026-02-13 17:00` in Shanghai (or `zone`), as an aware instant."""
    return datetime.fromisoformat(text).replace(tzinfo=zone)


def _days(first: str, last: str, name: str) -> list[DayNote]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [DayNote(start + timedelta(days=i), name) for i in range((end - start).days + 1)]


# 国务院办公厅关于2025年部分节假日安排的通知 (国办发明电〔2024〕12号, 2024-11-12) and
# 国务院办公厅关于2026年部分节假日安排的通知 (2025-11-04): every 放假 day, and every 上班 weekend day.
CHINA_HOLIDAYS: tuple[DayNote, ...] = (
    DayNote(date(2025, 1, 1), "元旦"),
    *_days("2025-01-28", "2025-02-04", "春节"),
    *_days("2025-04-04", "2025-04-06", "清明节"),
    *_days("2025-05-01", "2025-05-05", "劳动节"),
    *_days("2025-05-31", "2025-06-02", "端午节"),
    *_days("2025-10-01", "2025-10-08", "国庆节、中秋节"),
    *_days("2026-01-01", "2026-01-03", "元旦"),
    *_days("2026-02-15", "2026-02-23", "春节"),
    *_days("2026-04-04", "2026-04-06", "清明节"),
    *_days("2026-05-01", "2026-05-05", "劳动节"),
    *_days("2026-06-19", "2026-06-21", "端午节"),
    *_days("2026-09-25", "2026-09-27", "中秋节"),
    *_days("2026-10-01", "2026-10-07", "国庆节"),
)
CHINA_WORKDAYS: tuple[DayNote, ...] = (
    DayNote(date(2025, 1, 26), "春节调休上班"),
    DayNote(date(2025, 2, 8), "春节调休上班"),
    DayNote(date(2025, 4, 27), "劳动节调休上班"),
    DayNote(date(2025, 9, 28), "国庆节调休上班"),
    DayNote(date(2025, 10, 11), "国庆节调休上班"),
    DayNote(date(2026, 1, 4), "元旦调休上班"),
    DayNote(date(2026, 2, 14), "春节调休上班"),
    DayNote(date(2026, 2, 28), "春节调休上班"),
    DayNote(date(2026, 5, 9), "劳动节调休上班"),
    DayNote(date(2026, 9, 20), "国庆节调休上班"),
    DayNote(date(2026, 10, 10), "国庆节调休上班"),
)

NINE_TO_SIX = (Hours.parse("09:00", "18:00"),)


def working_hours(
    *,
    zone: str = "Asia/Shanghai",
    hours: tuple[Hours, ...] = NINE_TO_SIX,
    holidays: tuple[DayNote, ...] = CHINA_HOLIDAYS,
    workdays: tuple[DayNote, ...] = CHINA_WORKDAYS,
    calendar_id: str = "working-hours",
) -> Calendar:
    """Mon–Fri working hours (09:00–18:00 by default) with the Chinese public holidays of 2025 and 2026."""
    return Calendar(
        calendar_id=calendar_id,
        name="Working hours",
        time_zone=zone,
        weekly=(hours,) * 5 + ((), ()),
        holidays=holidays,
        workdays=workdays,
    )


CALENDARS = {"24x7": always_open(), "working-hours": working_hours()}

STANDARD_LADDER = (
    Step(1, "team_lead"),
    Step(2, "supervisor", after_fraction=0.5),
    Step(3, "service_manager", after_fraction=1.0),
)


def make_rule(
    clock: str = "first_response", amount: float = 30, unit: str = "minutes", **overrides: object
) -> ClockRule:
    values: dict[str, object] = {"clock": clock, "target": Target(amount, unit)}  # type: ignore[arg-type]
    values.update(overrides)
    return ClockRule(**values)  # type: ignore[arg-type]


def make_policy(*rules: ClockRule, **overrides: object) -> Policy:
    values: dict[str, object] = {
        "policy_id": uuid.uuid4(),
        "name": "test policy",
        "grade": None,
        "priority_class": None,
        "channel": None,
        "calendar_id": "24x7",
        "warning_fraction": 0.8,
        "ladder": STANDARD_LADDER,
        "clocks": rules or (make_rule(),),
    }
    values.update(overrides)
    return Policy(**values)  # type: ignore[arg-type]


def make_spec(
    clock: str = "first_response", amount: float = 30, unit: str = "minutes", **overrides: object
) -> ClockSpec:
    values: dict[str, object] = {
        "clock": clock,
        "policy_id": uuid.UUID(int=1),
        "policy_version": 1,
        "target": Target(amount, unit),  # type: ignore[arg-type]
        "starts_on": "received",
        "stops_on": ("responded", "resolved"),
        "calendar_id": "24x7",
        "warning_fraction": 0.8,
        "ladder": STANDARD_LADDER,
        "pauses": True,
        "reopens": False,
    }
    values.update(overrides)
    return ClockSpec(**values)  # type: ignore[arg-type]


def started(spec: ClockSpec, at: datetime, *, contact_id: uuid.UUID | None = None) -> Clock:
    change: Change = start(contact_id or uuid.UUID(int=7), spec, at, CALENDARS[spec.calendar_id])
    return change.clock
