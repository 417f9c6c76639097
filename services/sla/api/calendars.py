"""`/v1/sla/calendars`: 24×7 or weekly working hours with holidays and make-up days (调休), audited; and
working-time arithmetic on them for admins checking a calendar."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.sla.api.common import MANAGERS, SlaState, transaction
from services.sla.domain.calendar import (
    Calendar,
    CalendarError,
    DayNote,
    Hours,
    add_working_days,
    add_working_time,
    holiday_name,
    hours_on,
    validate,
    working_time_between,
)
from services.sla.domain.policy import Target, target_seconds
from services.sla.handlers import SlaTx, replan_calendar
from services.sla.repository import admin as admin_repo
from services.sla.repository import clocks as clock_repo
from services.sla.repository.official import SOURCES, official_days, source_info
from shared import audit
from shared.auth import Principal, require_roles
from shared.db import Conn
from shared.errors import Problem
from shared.openapi import example

router = APIRouter(prefix="/v1/sla", tags=["calendars"])

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
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


def to_calendar(calendar_id: str, body: CalendarIn, *, version: int) -> Calendar:
    try:
        calendar = Calendar(
            calendar_id=calendar_id,
            name=body.name,
            time_zone=body.time_zone,
            always_open=body.always_open,
            weekly=tuple(_hours(body.weekly.get(day) or []) for day in WEEKDAYS),
            holidays=tuple(DayNote(d.date, d.name) for d in body.holidays),
            workdays=tuple(DayNote(d.date, d.name) for d in body.workdays),
            workday_hours=_hours(body.workday_hours),
            version=version,
            official=official_days(body.official) if body.official else None,
            covered_until=body.covered_until,
        )
        validate(calendar)
    except CalendarError as exc:
        raise Problem(422, "Invalid calendar", str(exc), kind="invalid-calendar") from exc
    return calendar


def _hours_out(hours: tuple[Hours, ...]) -> list[HoursIn]:
    return [HoursIn(start=h.text()[0], end=h.text()[1]) for h in hours]


def calendar_out(calendar: Calendar) -> CalendarOut:
    return CalendarOut(
        calendar_id=calendar.calendar_id,
        name=calendar.name,
        version=calendar.version,
        always_open=calendar.always_open,
        time_zone=calendar.time_zone,
        weekly={day: _hours_out(calendar.weekly[i]) for i, day in enumerate(WEEKDAYS) if calendar.weekly[i]},
        workday_hours=_hours_out(calendar.workday_hours),
        holidays=[DayIn(date=n.day, name=n.name) for n in sorted(calendar.holidays, key=lambda n: n.day)],
        workdays=[DayIn(date=n.day, name=n.name) for n in sorted(calendar.workdays, key=lambda n: n.day)],
        official=calendar.official.source if calendar.official else None,
        covered_until=calendar.covered_until,
        data_until=calendar.data_until,
    )


async def _get(conn: Conn, calendar_id: str, *, for_update: bool = False) -> Calendar:
    calendar = await admin_repo.get_calendar(conn, calendar_id, for_update=for_update)
    if calendar is None:
        raise Problem(404, "Not found", f"no calendar {calendar_id!r}", kind="unknown-calendar")
    return calendar


async def _store(
    tx: SlaTx, calendar: Calendar, before: Calendar | None, who: Principal, action: str
) -> CalendarSaved:
    await admin_repo.save_calendar(tx.conn, calendar, by=who.subject, now=tx.now)
    replanned = await replan_calendar(tx, calendar.calendar_id)
    detail: dict[str, Any] = {"version": calendar.version, "replanned_clocks": replanned}
    if before is not None:
        detail["before"] = calendar_out(before).model_dump(mode="json")
    detail["after"] = calendar_out(calendar).model_dump(mode="json")
    await audit.record(
        tx.conn,
        actor=who.subject,
        role=who.role,
        action=action,
        target=admin_repo.audit_target("calendar", calendar.calendar_id),
        detail=detail,
        at=tx.now,
    )
    return CalendarSaved(**calendar_out(calendar).model_dump(), replanned_clocks=replanned)


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
        calendar = await _get(tx.conn, calendar_id)
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
        return calendar_out(await _get(tx.conn, calendar_id))


@router.put("/calendars/{calendar_id}", response_model=CalendarSaved)
async def put_calendar(
    calendar_id: Annotated[str, Path(pattern=SLUG)],
    body: CalendarIn,
    state: SlaState,
    response: Response,
    who: Annotated[Principal, Depends(require_roles("admin"))],
) -> CalendarSaved:
    """Create or replace a calendar; running clocks on it are re-planned in the same transaction."""
    async with transaction(state) as tx:
        before = await admin_repo.get_calendar(tx.conn, calendar_id, for_update=True)
        calendar = to_calendar(calendar_id, body, version=1 if before is None else before.version + 1)
        saved = await _store(tx, calendar, before, who, "created" if before is None else "updated")
    if before is None:
        response.status_code = 201
    return saved


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
    async with transaction(state) as tx:
        before = await _get(tx.conn, calendar_id, for_update=True)
        holidays = tuple(n for n in before.holidays if n.day != day)
        workdays = tuple(n for n in before.workdays if n.day != day)
        if body.kind == "holiday":
            holidays = (*holidays, DayNote(day, body.name))
        else:
            workdays = (*workdays, DayNote(day, body.name))
        calendar = replace(before, holidays=holidays, workdays=workdays, version=before.version + 1)
        _validated(calendar)
        return await _store(tx, calendar, before, who, f"marked {day.isoformat()} a {body.kind}")


@router.delete("/calendars/{calendar_id}/days/{day}", response_model=CalendarSaved)
async def delete_day(
    calendar_id: str, day: dt.date, state: SlaState, who: Annotated[Principal, Depends(require_roles("admin"))]
) -> CalendarSaved:
    """Make a date an ordinary day of its weekday again."""
    async with transaction(state) as tx:
        before = await _get(tx.conn, calendar_id, for_update=True)
        calendar = replace(
            before,
            holidays=tuple(n for n in before.holidays if n.day != day),
            workdays=tuple(n for n in before.workdays if n.day != day),
            version=before.version + 1,
        )
        if calendar.holidays == before.holidays and calendar.workdays == before.workdays:
            raise Problem(
                404, "Not found", f"{day.isoformat()} is not a listed day of {calendar_id!r}", kind="unknown-day"
            )
        return await _store(tx, calendar, before, who, f"cleared {day.isoformat()}")


def _validated(calendar: Calendar) -> None:
    try:
        validate(calendar)
    except CalendarError as exc:
        raise Problem(422, "Invalid calendar", str(exc), kind="invalid-calendar") from exc


@router.delete("/calendars/{calendar_id}", status_code=204)
async def delete_calendar(
    calendar_id: str, state: SlaState, who: Annotated[Principal, Depends(require_roles("admin"))]
) -> Response:
    async with transaction(state) as tx:
        before = await _get(tx.conn, calendar_id, for_update=True)
        policies = await admin_repo.policies_using_calendar(tx.conn, calendar_id)
        clocks = await clock_repo.open_clocks_on_calendar(tx.conn, calendar_id)
        if policies or clocks:
            raise Problem(
                409,
                "Conflict",
                f"calendar {calendar_id!r} is used by {policies} active polic(ies) and {clocks} open clock(s)",
                kind="calendar-in-use",
            )
        await admin_repo.delete_calendar(tx.conn, calendar_id)
        await audit.record(
            tx.conn,
            actor=who.subject,
            role=who.role,
            action="deleted",
            target=admin_repo.audit_target("calendar", calendar_id),
            detail={"before": calendar_out(before).model_dump(mode="json")},
            at=tx.now,
        )
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
        calendar = await _get(tx.conn, calendar_id)
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
        calendar = await _get(tx.conn, calendar_id)
    try:
        working = working_time_between(calendar, start, end)
    except OverflowError as exc:
        raise Problem(422, "Validation failed", "the range reaches past the year 9999", kind="validation") from exc
    return BetweenOut(start=start, end=end, working_seconds=working)
