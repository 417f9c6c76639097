"""The admin's use cases: calendars and policies saved as new versions, each change audited (`shared.audit`) in
the same transaction, running clocks re-planned when their calendar changes. They raise `domain.errors` (and
`CalendarError`, `PolicyError`) for a change they refuse; the route turns those into answers."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, replace
from typing import Any, Literal

from services.sla.domain.calendar import Calendar, DayNote, Hours, validate
from services.sla.domain.errors import (
    CalendarInUse,
    LooserGrade,
    PolicyKeysTaken,
    UnknownCalendar,
    UnknownDay,
    UnknownPolicy,
    VersionMismatch,
)
from services.sla.domain.grades import newly_looser
from services.sla.domain.policy import Policy
from services.sla.domain.policy import validate as validate_policy
from services.sla.handlers.changes import replan_calendar
from services.sla.handlers.tx import SlaTx
from services.sla.repository import admin as admin_repo
from services.sla.repository import clocks as clock_repo
from services.sla.repository.admin import PolicyRecord
from services.sla.repository.codec import definition_json
from shared import audit
from shared.tx import Actor, Tx

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _hours_json(hours: tuple[Hours, ...]) -> list[dict[str, str]]:
    return [{"start": h.text()[0], "end": h.text()[1]} for h in hours]


def _days_json(notes: tuple[DayNote, ...]) -> list[dict[str, str]]:
    return [{"date": n.day.isoformat(), "name": n.name} for n in sorted(notes, key=lambda n: n.day)]


def calendar_json(calendar: Calendar) -> dict[str, Any]:
    """A calendar as the API shows it and the audit records it."""
    return {
        "calendar_id": calendar.calendar_id,
        "name": calendar.name,
        "version": calendar.version,
        "always_open": calendar.always_open,
        "time_zone": calendar.time_zone,
        "weekly": {day: _hours_json(calendar.weekly[i]) for i, day in enumerate(WEEKDAYS) if calendar.weekly[i]},
        "workday_hours": _hours_json(calendar.workday_hours),
        "holidays": _days_json(calendar.holidays),
        "workdays": _days_json(calendar.workdays),
        "official": calendar.official.source if calendar.official else None,
        "covered_until": calendar.covered_until.isoformat() if calendar.covered_until else None,
        "data_until": calendar.data_until.isoformat() if calendar.data_until else None,
    }


async def get_calendar(tx: Tx, calendar_id: str, *, for_update: bool = False) -> Calendar:
    calendar = await admin_repo.get_calendar(tx.conn, calendar_id, for_update=for_update)
    if calendar is None:
        raise UnknownCalendar(f"no calendar {calendar_id!r}")
    return calendar


@dataclass(frozen=True)
class SavedCalendar:
    calendar: Calendar
    replanned: int
    """Running clocks on the calendar whose due moments were laid out again."""
    created: bool


async def _store(
    tx: SlaTx, calendar: Calendar, before: Calendar | None, actor: Actor, action: str
) -> SavedCalendar:
    await admin_repo.save_calendar(tx.conn, calendar, by=actor.subject, now=tx.now)
    replanned = await replan_calendar(tx, calendar.calendar_id)
    detail: dict[str, Any] = {"version": calendar.version, "replanned_clocks": replanned}
    if before is not None:
        detail["before"] = calendar_json(before)
    detail["after"] = calendar_json(calendar)
    await audit.record(
        tx.conn,
        actor=actor.subject,
        role=actor.role,
        action=action,
        target=admin_repo.audit_target("calendar", calendar.calendar_id),
        detail=detail,
        at=tx.now,
    )
    return SavedCalendar(calendar, replanned, created=before is None)


async def save_calendar(tx: SlaTx, calendar: Calendar, *, actor: Actor) -> SavedCalendar:
    """Create or replace a calendar (its version follows the stored one); running clocks on it are re-planned."""
    before = await admin_repo.get_calendar(tx.conn, calendar.calendar_id, for_update=True)
    calendar = replace(calendar, version=1 if before is None else before.version + 1)
    validate(calendar)
    return await _store(tx, calendar, before, actor, "created" if before is None else "updated")


async def mark_day(
    tx: SlaTx, calendar_id: str, day: dt.date, *, kind: Literal["holiday", "workday"], name: str, actor: Actor
) -> SavedCalendar:
    """Make one date a holiday or a make-up working day, replacing what it was."""
    before = await get_calendar(tx, calendar_id, for_update=True)
    holidays = tuple(n for n in before.holidays if n.day != day)
    workdays = tuple(n for n in before.workdays if n.day != day)
    if kind == "holiday":
        holidays = (*holidays, DayNote(day, name))
    else:
        workdays = (*workdays, DayNote(day, name))
    calendar = replace(before, holidays=holidays, workdays=workdays, version=before.version + 1)
    validate(calendar)
    return await _store(tx, calendar, before, actor, f"marked {day.isoformat()} a {kind}")


async def clear_day(tx: SlaTx, calendar_id: str, day: dt.date, *, actor: Actor) -> SavedCalendar:
    """Make a date an ordinary day of its weekday again."""
    before = await get_calendar(tx, calendar_id, for_update=True)
    calendar = replace(
        before,
        holidays=tuple(n for n in before.holidays if n.day != day),
        workdays=tuple(n for n in before.workdays if n.day != day),
        version=before.version + 1,
    )
    if calendar.holidays == before.holidays and calendar.workdays == before.workdays:
        raise UnknownDay(f"{day.isoformat()} is not a listed day of {calendar_id!r}")
    return await _store(tx, calendar, before, actor, f"cleared {day.isoformat()}")


async def delete_calendar(tx: SlaTx, calendar_id: str, *, actor: Actor) -> None:
    """Delete a calendar no active policy and no open clock uses."""
    before = await get_calendar(tx, calendar_id, for_update=True)
    policies = await admin_repo.policies_using_calendar(tx.conn, calendar_id)
    clocks = await clock_repo.open_clocks_on_calendar(tx.conn, calendar_id)
    if policies or clocks:
        raise CalendarInUse(
            f"calendar {calendar_id!r} is used by {policies} active polic(ies) and {clocks} open clock(s)"
        )
    await admin_repo.delete_calendar(tx.conn, calendar_id)
    await audit.record(
        tx.conn,
        actor=actor.subject,
        role=actor.role,
        action="deleted",
        target=admin_repo.audit_target("calendar", calendar_id),
        detail={"before": calendar_json(before)},
        at=tx.now,
    )


async def get_policy(tx: Tx, policy_id: uuid.UUID, *, for_update: bool = False) -> PolicyRecord:
    record = await admin_repo.get_policy(tx.conn, policy_id, for_update=for_update)
    if record is None:
        raise UnknownPolicy(f"no SLA policy {policy_id}")
    return record


async def _check(tx: Tx, policy: Policy) -> None:
    validate_policy(policy, calendar_ids=(c.calendar_id for c in await admin_repo.list_calendars(tx.conn)))
    if policy.active:
        other = await admin_repo.active_policy_with_keys(
            tx.conn, grade=policy.grade, priority_class=policy.priority_class, channel=policy.channel
        )
        if other is not None and other != policy.policy_id:
            keys = f"grade={policy.grade}, priority_class={policy.priority_class}, channel={policy.channel}"
            raise PolicyKeysTaken(
                f"policy {other} already covers {keys}; edit that one or deactivate it first", policy_id=str(other)
            )


async def _check_grades(tx: Tx, policy: Policy, override_reason: str | None) -> dict[str, Any]:
    """C-5: refuse a save that makes a higher grade looser than a lower one, unless it carries a reason; returns
    what the audit entry records of an accepted override (nothing when none was needed)."""
    await admin_repo.lock_policies(tx.conn)  # two saves checked at once could together break the rule
    before = await admin_repo.active_policies(tx.conn)
    after = [p for p in before if p.policy_id != policy.policy_id] + ([policy] if policy.active else [])
    looser = newly_looser(before, after)
    if not looser:
        return {}
    if override_reason is None:
        raise LooserGrade(looser)
    return {"c5_override": {"reason": override_reason, "looser": [f.json() for f in looser]}}


def _check_version(if_match: str | None, record: PolicyRecord) -> None:
    if if_match is not None and if_match.strip('"W/ ') != str(record.policy.version):
        raise VersionMismatch(
            f"policy {record.policy.policy_id} is at version {record.policy.version}, not {if_match}",
            version=record.policy.version,
        )


def _audit_view(policy: Policy) -> dict[str, Any]:
    return {
        "name": policy.name,
        "grade": policy.grade,
        "priority_class": policy.priority_class,
        "channel": policy.channel,
        "active": policy.active,
        **definition_json(policy),
    }


async def _save(tx: Tx, policy: Policy, actor: Actor, action: str, detail: dict[str, Any]) -> PolicyRecord:
    await admin_repo.save_policy(tx.conn, policy, by=actor.subject, now=tx.now)
    await audit.record(
        tx.conn,
        actor=actor.subject,
        role=actor.role,
        action=action,
        target=admin_repo.audit_target("policy", str(policy.policy_id)),
        detail=detail,
        at=tx.now,
    )
    return PolicyRecord(policy, tx.now, actor.subject)


async def create_policy(tx: Tx, policy: Policy, *, override_reason: str | None, actor: Actor) -> PolicyRecord:
    """A new policy at version 1."""
    policy = replace(policy, version=1)
    await _check(tx, policy)
    override = await _check_grades(tx, policy, override_reason)
    return await _save(tx, policy, actor, "created", {"version": 1, "after": _audit_view(policy), **override})


async def update_policy(
    tx: Tx, policy: Policy, *, if_match: str | None, override_reason: str | None, actor: Actor
) -> PolicyRecord:
    """A new version of the policy; contacts already running keep the version they started under."""
    before = await get_policy(tx, policy.policy_id, for_update=True)
    _check_version(if_match, before)
    policy = replace(policy, version=before.policy.version + 1)
    await _check(tx, policy)
    override = await _check_grades(tx, policy, override_reason)
    detail = {
        "version": policy.version,
        "before": _audit_view(before.policy),
        "after": _audit_view(policy),
        **override,
    }
    return await _save(tx, policy, actor, "updated", detail)


async def deactivate_policy(
    tx: Tx, policy_id: uuid.UUID, *, if_match: str | None, override_reason: str | None, actor: Actor
) -> PolicyRecord:
    """A new version with `active: false` (the stored one when it is inactive already), refused like a save when
    a higher grade would fall back to a looser row (C-5) unless `override_reason` is given."""
    before = await get_policy(tx, policy_id, for_update=True)
    _check_version(if_match, before)
    if not before.policy.active:
        return before
    policy = replace(before.policy, active=False, version=before.policy.version + 1)
    override = await _check_grades(tx, policy, override_reason)
    return await _save(tx, policy, actor, "deactivated", {"version": policy.version, **override})
