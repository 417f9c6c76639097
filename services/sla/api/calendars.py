"""`/v1/sla/calendars`: 24×7 or weekly working hours with holidays and make-up days (调休), audited; and
working-time arithmetic on them for admins checking a calendar."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.sla.api.common import MANAGERS, SlaState, actor_of, retried, transaction
from services.sla.domain.calendar import (
    Calendar,
    DayNote,
    Hours,
    add_working_days,
    add_working_time,
    holiday_name,
    hours_on,
    working_time_between,
)
from services.sla.domain.policy import Target, target_seconds
from services.sla.handlers import admin
from services.sla.handlers.admin import WEEKDAYS, SavedCalendar, Weekday
from services.sla.repository import admin as admin_repo
from services.sla.repository.official import SOURCES, official_days, source_info
from shared.auth import Principal, require_roles
from shared.errors import Problem
from shared.openapi import example

router = APIRouter(prefix="/v1/sla", tags=["calendars"])

SLUG = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HoursIn(_In):
    start: str = Field(examples=["09:00"])
    end: str = Field(examples=["18:00"])


class DayIn(_In):
    date: dt.date
    name: str = Field(default="", max_length=100)


CALENDAR_INPUT_EXAMPLE = dict(
    name="Working hours, Shanghai",
    official="CN",
    covered_until="2026-12-31",
    always_open=False,
    time_zone="Asia/Shanghai",
    weekly={
        "mon": [{"start": "09:00", "end": "18:00"}],
        "tue": [{"start": "09:00", "end": "18:00"}],
        "wed": [{"start": "09:00", "end": "18:00"}],
        "thu": [{"start": "09:00", "end": "18:00"}],
        "fri": [{"start": "09:00", "end": "18:00"}],
    },
    workday_hours=[{"start": "09:00", "end": "18:00"}],
    holidays=[{"date": "2026-12-31", "name": "company day"}],
    workdays=[],
)


class CalendarIn(_In):
    model_config = example(**CALENDAR_INPUT_EXAMPLE)

    name: str = Field(min_length=1, max_length=200)
    official: Literal["CN"] | None = None
    """Follow an official source's holidays and make-up working days (`GET /v1/sla/calendars/sources`); the
    `holidays` and `workdays` below override it on the dates they name."""
    covered_until: dt.date | None = None
    """The listed days are complete to this date (set it after entering a year by hand)."""
    always_open: bool = False
    time_zone: str = Field(examples=["Asia/Shanghai"])
    weekly: dict[Weekday, list[HoursIn]] = Field(default_factory=dict)
    workday_hours: list[HoursIn] = Field(default_factory=list)
    """Hours on make-up working days; empty means Monday's."""
    holidays: list[DayIn] = Field(default_factory=list)
    workdays: list[DayIn] = Field(default_factory=list)
    """Make-up working days (调休)."""


CALENDAR_EXAMPLE = dict(calendar_id="working-hours", version=3, data_until="2026-12-31", **CALENDAR_INPUT_EXAMPLE)


class CalendarOut(BaseModel):
    model_config = example(
        **CALENDAR_EXAMPLE,
    )

    calendar_id: str
    name: str
    version: int
    always_open: bool
    time_zone: str
    weekly: dict[str, list[HoursIn]]
    workday_hours: list[HoursIn]
    holidays: list[DayIn]
    workdays: list[DayIn]
    official: str | None
    covered_until: dt.date | None
    data_until: dt.date | None
    """The last date the calendar knows its holidays for (None: nothing to run out of). Deadlines after it are
    provisional: statutory holidays count, the year's bridging days and make-up days are not known yet."""


class CalendarSaved(CalendarOut):
    model_config = example(
        **CALENDAR_EXAMPLE,
        replanned_clocks=12,
    )

    replanned_clocks: int
    """Running clocks on this calendar whose due moments were laid out again."""


def _hours(items: list[HoursIn]) -> tuple[Hours, ...]:
    return tuple(Hours.parse(h.start, h.end) for h in items)


def to_calendar(calendar_id: str, body: CalendarIn) -> Calendar:
    """The body as a calendar (unvalidated, its version left to `admin.save_calendar`); raises CalendarError."""
    return Calendar(
        calendar_id=calendar_id,
        name=body.name,
        time_zone=body.time_zone,
        always_open=body.always_open,
        weekly=tuple(_hours(body.weekly.get(day) or []) for day in WEEKDAYS),
        holidays=tuple(DayNote(d.date, d.name) for d in body.holidays),
        workdays=tuple(DayNote(d.date, d.name) for d in body.workdays),
        workday_hours=_hours(body.workday_hours),
        official=official_days(body.official) if body.official else None,
        covered_until=body.covered_until,
    )


def _hours_out(hours: tuple[Hours, ...]) -> list[HoursIn]:
    return [HoursIn(start=h.text()[0], end=h.text()[1]) for h in hours]


def calendar_out(calendar: Calendar) -> CalendarOut:
    return CalendarOut.model_validate(admin.calendar_json(calendar))


def saved_out(saved: SavedCalendar) -> CalendarSaved:
    view = admin.calendar_json(saved.calendar)
    return CalendarSaved.model_validate({**view, "replanned_clocks": saved.replanned})


@router.get("/calendars", response_model=list[CalendarOut])
async def list_calendars(
    state: SlaState, _who: Annotated[Principal, Depends(require_roles(*MANAGERS))]
) -> list[CalendarOut]:
    async with transaction(state) as tx:
        return [calendar_out(c) for c in await admin_repo.list_calendars(tx.conn)]


class SourceOut(BaseModel):
    model_config = example(
        code="CN",
        description="Mainland China public holidays and adjusted workdays",
        package="holidays",
        published_through="2026-12-31",
    )

    code: str
    description: str
    package: str
    published_through: dt.date
    """The last date of the last year whose official notice the installed package carries."""


@router.get("/calendars/sources", response_model=list[SourceOut])
async def official_sources(_who: Annotated[Principal, Depends(require_roles(*MANAGERS))]) -> list[SourceOut]:
    """The official holiday sources a calendar can follow, and how far their published data reaches."""
    return [SourceOut(**vars(source_info(code))) for code in SOURCES]


class DayOut(BaseModel):
    model_config = example(
        date="2026-10-01", working=False, hours=[], name="National Day", source="official", provisional=False
    )

    date: dt.date
    working: bool
    hours: list[HoursIn]
    name: str | None
    source: Literal["calendar", "official", "weekly"]
    """Where the answer comes from: the calendar's own list, its official source, or its weekly hours."""
    provisional: bool
    """After the calendar's data ends: the year's arrangement is not known yet."""


@router.get("/calendars/{calendar_id}/days", response_model=list[DayOut])
async def calendar_days(
    calendar_id: str,
    state: SlaState,
    _who: Annotated[Principal, Depends(require_roles(*MANAGERS))],
    start: Annotated[dt.date, Query(alias="from")],
    end: Annotated[dt.date, Query(alias="to")],
) -> list[DayOut]:
    """Every date from `from` to `to` (at most two years) as the calendar counts it."""
    if end < start or (end - start).days > 800:
        raise Problem(
            422, "Validation failed", "`to` must be on or after `from`, at most 800 days later", kind="validation"
        )
    async with transaction(state) as tx:
        calendar = await admin.get_calendar(tx, calendar_id)
    until = calendar.data_until
    listed = {n.day for n in (*calendar.holidays, *calendar.workdays)}
    official = (
        {n.day for n in (*calendar.official.holidays, *calendar.official.workdays)} if calendar.official else set()
    )
    days: list[DayOut] = []
    for offset in range((end - start).days + 1):
        day = start + dt.timedelta(days=offset)
        hours = hours_on(calendar, day)
        days.append(
            DayOut(
                date=day,
                working=bool(hours),
                hours=_hours_out(hours),
                name=holiday_name(calendar, day),
                source="calendar" if day in listed else "official" if day in official else "weekly",
                provisional=until is not None and day > until,
            )
        )
    return days


@router.get("/calendars/{calendar_id}", response_model=CalendarOut)
async def get_calendar(
    calendar_id: str, state: SlaState, _who: Annotated[Principal, Depends(require_roles(*MANAGERS))]
) -> CalendarOut:
    async with transaction(state) as tx:
        return calendar_out(await admin.get_calendar(tx, calendar_id))


@router.put("/calendars/{calendar_id}", response_model=CalendarSaved)
async def put_calendar(
    calendar_id: Annotated[str, Path(pattern=SLUG)],
    body: CalendarIn,
    state: SlaState,
    response: Response,
    who: Annotated[Principal, Depends(require_roles("admin"))],
) -> CalendarSaved:
    """Create or replace a calendar; running clocks on it are re-planned in the same transaction."""
    actor = actor_of(who)  # the body becomes a calendar inside the transaction: its errors are answered as 422
    saved = await retried(state, lambda tx: admin.save_calendar(tx, to_calendar(calendar_id, body), actor=actor))
    if saved.created:
        response.status_code = 201
    return saved_out(saved)


class DayChange(_In):
    model_config = example(kind="holiday", name="company day")

    kind: Literal["holiday", "workday"]
    """`holiday`: no work that day; `workday`: a make-up working day (调休)."""
    name: str = Field(default="", max_length=100)


@router.put("/calendars/{calendar_id}/days/{day}", response_model=CalendarSaved)
async def put_day(
    calendar_id: str,
    day: dt.date,
    body: DayChange,
    state: SlaState,
    who: Annotated[Principal, Depends(require_roles("admin"))],
) -> CalendarSaved:
    """Mark one date a holiday or a make-up working day (replacing what it was)."""
    actor = actor_of(who)
    saved = await retried(
        state, lambda tx: admin.mark_day(tx, calendar_id, day, kind=body.kind, name=body.name, actor=actor)
    )
    return saved_out(saved)


@router.delete("/calendars/{calendar_id}/days/{day}", response_model=CalendarSaved)
async def delete_day(
    calendar_id: str, day: dt.date, state: SlaState, who: Annotated[Principal, Depends(require_roles("admin"))]
) -> CalendarSaved:
    """Make a date an ordinary day of its weekday again."""
    actor = actor_of(who)
    saved = await retried(state, lambda tx: admin.clear_day(tx, calendar_id, day, actor=actor))
    return saved_out(saved)


@router.delete("/calendars/{calendar_id}", status_code=204)
async def delete_calendar(
    calendar_id: str, state: SlaState, who: Annotated[Principal, Depends(require_roles("admin"))]
) -> Response:
    async with transaction(state) as tx:
        await admin.delete_calendar(tx, calendar_id, actor=actor_of(who))
    return Response(status_code=204)


class AddOut(BaseModel):
    model_config = example(
        start="2026-12-06T10:00:00+08:00", due="2026-12-07T14:00:00+08:00", working_seconds=28800
    )

    start: dt.datetime
    due: dt.datetime
    working_seconds: float


MAX_SPAN_DAYS = 800
"""Longest stretch of calendar one request computes over (a day listing, an addition, a difference)."""
_MAX_AMOUNT = {
    "seconds": MAX_SPAN_DAYS * 86400.0,
    "minutes": MAX_SPAN_DAYS * 1440.0,
    "hours": MAX_SPAN_DAYS * 24.0,
    "working_days": MAX_SPAN_DAYS * 5 / 7,
}


@router.get("/calendars/{calendar_id}/add", response_model=AddOut)
async def add_on_calendar(
    calendar_id: str,
    state: SlaState,
    _who: Annotated[Principal, Depends(require_roles(*MANAGERS))],
    start: AwareDatetime,
    amount: Annotated[float, Query(gt=0)],
    unit: Literal["seconds", "minutes", "hours", "working_days"],
) -> AddOut:
    """When `amount` `unit` of working time after `start` is up (as a clock started then would breach); at most
    `MAX_SPAN_DAYS` days' worth (every clock's target is far shorter), so one request cannot hold the loop."""
    if unit == "working_days" and not float(amount).is_integer():
        raise Problem(422, "Validation failed", "working days are whole days", kind="validation")
    if amount > _MAX_AMOUNT[unit]:
        raise Problem(
            422,
            "Validation failed",
            f"at most {_MAX_AMOUNT[unit]:g} {unit} ({MAX_SPAN_DAYS} days)",
            kind="validation",
        )
    async with transaction(state) as tx:
        calendar = await admin.get_calendar(tx, calendar_id)
    try:
        seconds = target_seconds(Target(amount, unit), calendar, start)
        due = (
            add_working_days(calendar, start, int(amount))
            if unit == "working_days"
            else add_working_time(calendar, start, seconds)
        )
    except OverflowError as exc:
        raise Problem(422, "Validation failed", "the result falls after the year 9999", kind="validation") from exc
    return AddOut(start=start, due=due, working_seconds=seconds)


class BetweenOut(BaseModel):
    model_config = example(
        start="2026-12-06T10:00:00+08:00", end="2026-12-07T14:00:00+08:00", working_seconds=28800
    )

    start: dt.datetime
    end: dt.datetime
    working_seconds: float


@router.get("/calendars/{calendar_id}/between", response_model=BetweenOut)
async def between_on_calendar(
    calendar_id: str,
    state: SlaState,
    _who: Annotated[Principal, Depends(require_roles(*MANAGERS))],
    start: AwareDatetime,
    end: AwareDatetime,
) -> BetweenOut:
    """Working time from `start` to `end` on the calendar, at most `MAX_SPAN_DAYS` days apart."""
    if abs(end - start) > dt.timedelta(days=MAX_SPAN_DAYS):
        raise Problem(
            422,
            "Validation failed",
            f"`start` and `end` are at most {MAX_SPAN_DAYS} days apart",
            kind="validation",
        )
    async with transaction(state) as tx:
        calendar = await admin.get_calendar(tx, calendar_id)
    try:
        working = working_time_between(calendar, start, end)
    except OverflowError as exc:
        raise Problem(422, "Validation failed", "the range reaches past the year 9999", kind="validation") from exc
    return BetweenOut(start=start, end=end, working_seconds=working)
