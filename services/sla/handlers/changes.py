"""Applying clock changes: persist them with their cause, plan their due moments, announce them as `sla.*`
events through the outbox; and the changes that do not come from a consumed event (calendar edits, milestones
recorded by people)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from services.sla.domain import contact as contact_domain
from services.sla.domain.calendar import Calendar
from services.sla.domain.clock import Change, Clock, calendar_of, due_at, due_moments
from services.sla.domain.contact import milestones_of
from services.sla.domain.policy import Policy, Trigger, resolve
from services.sla.repository import admin as admin_repo
from services.sla.repository import clocks as clock_repo
from services.sla.repository import contacts as contact_repo
from services.sla.repository.clocks import PlannedDue
from services.sla.repository.contacts import Cause, Contact
from services.sla.repository.timers import key_hash
from shared.db import Conn
from shared.events import (
    Event,
    OutgoingMessage,
    SlaBreachedV1,
    SlaClockCancelledV1,
    SlaClockPausedV1,
    SlaClockResumedV1,
    SlaClockRetargetedV1,
    SlaClockStartedV1,
    SlaEscalatedV1,
    SlaMetV1,
    SlaMissedV1,
    SlaWarningV1,
    encode,
)
from shared.outbox import enqueue_many

SOURCE = "switchboard/sla"


@dataclass(frozen=True)
class Deps:
    live_channels: frozenset[str]
    now: Callable[[], datetime]
    admin: admin_repo.AdminCache = field(default_factory=admin_repo.AdminCache)


@dataclass
class Ctx:
    """One contact, locked, with its clocks, while one event (or a replayed early event) is applied."""

    conn: Conn
    deps: Deps
    contact: Contact
    clocks: dict[str, Clock]
    calendars: dict[str, Calendar]
    policies: list[Policy]
    cause: Cause
    now: datetime


# --- events out ---------------------------------------------------------------------------------------------


def event_of(change: Change, *, breach_at: datetime | None = None) -> Event:
    """The `sla.*` event that announces a transition."""
    c, t = change.clock, change.transition
    common = {
        "contact_id": c.contact_id,
        "clock": c.clock,
        "policy_version": c.spec.policy_version,
        "due_at": t.due_at,
        "elapsed_s": t.elapsed_s,
        "paused_s": t.paused_s,
        "at": t.at,
    }
    if t.action == "started":
        return SlaClockStartedV1.model_validate(common)
    if t.action == "paused":
        return SlaClockPausedV1.model_validate(common)
    if t.action in ("resumed", "reopened"):
        return SlaClockResumedV1.model_validate(common)
    if t.action == "retargeted":
        return SlaClockRetargetedV1.model_validate(common)
    if t.action == "cancelled":
        return SlaClockCancelledV1.model_validate(common)
    if t.action == "met":
        return SlaMetV1(
            contact_id=c.contact_id, clock=c.clock, elapsed_s=t.elapsed_s, target_s=c.target_s, at=t.at
        )
    if t.action == "missed":
        return SlaMissedV1(
            contact_id=c.contact_id, clock=c.clock, elapsed_s=t.elapsed_s, target_s=c.target_s, at=t.at
        )
    breach = breach_at or t.due_at or t.at
    if t.action == "warning":
        return SlaWarningV1(contact_id=c.contact_id, clock=c.clock, due_at=breach, at=t.at)
    if t.action == "breached":
        return SlaBreachedV1(contact_id=c.contact_id, clock=c.clock, due_at=breach, at=t.at)
    if t.action == "escalated":
        return SlaEscalatedV1(
            contact_id=c.contact_id,
            clock=c.clock,
            level=int(str(t.detail["level"])),
            target_role=str(t.detail["role"]),
            at=t.at,
            due_at=breach,
        )
    raise ValueError(f"no event announces {t.action!r}")


def message_of(event: Event, *, now: datetime, event_id: uuid.UUID | None = None) -> OutgoingMessage:
    subject = str(getattr(event, "contact_id"))  # noqa: B009 — every sla.* event carries the contact id
    return encode(event, source=SOURCE, subject=subject, time=now, event_id=event_id)


# --- applying changes ---------------------------------------------------------------------------------------


async def apply(ctx: Ctx, changes: list[Change]) -> None:
    """Persist transitions: clock rows, their history with its cause, their due moments, and the events."""
    if not changes:
        return
    final: dict[str, Clock] = {}
    for change in changes:
        final[change.clock.clock] = change.clock
    contact_id = ctx.contact.contact_id
    await clock_repo.save_clocks(
        ctx.conn, list(final.values()), keys=ctx.contact.keys, calendars=ctx.calendars, now=ctx.now
    )
    await clock_repo.insert_transitions(
        ctx.conn, contact_id, [c.transition for c in changes], cause=ctx.cause, now=ctx.now
    )
    planned: list[PlannedDue] = []
    for clock in final.values():
        calendar = calendar_of(clock.spec, ctx.calendars)
        breach = due_at(clock, calendar)
        planned.extend(
            PlannedDue(clock.clock, due, breach) for due in due_moments(clock, calendar) if breach is not None
        )
    hash_ = key_hash(contact_id)
    await clock_repo.replace_due(ctx.conn, contact_id, list(final), planned, key_hash=hash_)
    await enqueue_many(ctx.conn, [message_of(event_of(c), now=ctx.now) for c in changes], now=ctx.now)
    if planned:
        await clock_repo.notify_due(ctx.conn, key_hash=hash_, instants=(p.due.at for p in planned))
    ctx.clocks.update(final)


async def start_triggered(ctx: Ctx, trigger: Trigger, at: datetime) -> None:
    specs = resolve(ctx.policies, ctx.contact.keys, trigger=trigger)
    await apply(
        ctx, contact_domain.start_clocks(ctx.contact.contact_id, specs.values(), ctx.clocks, at, ctx.calendars)
    )


async def reach_milestones(ctx: Ctx, kind: str, at: datetime) -> None:
    milestones = milestones_of(kind, channel=ctx.contact.channel, live_channels=ctx.deps.live_channels)
    await apply(ctx, contact_domain.reach(ctx.clocks.values(), milestones, at, ctx.calendars))


async def replan_calendar(conn: Conn, calendar_id: str, *, now: datetime) -> int:
    """A calendar changed (hours, holidays, make-up days): re-plan the due moments of the clocks running on it.

    Time already run stays as measured; only what is left is laid out on the new calendar.
    """
    calendars = await admin_repo.calendars_by_id(conn)  # fresh: the caller just changed one
    running = await clock_repo.lock_running_on_calendar(conn, calendar_id)
    for clock in running:
        calendar = calendar_of(clock.spec, calendars)
        breach = due_at(clock, calendar)
        planned = [
            PlannedDue(clock.clock, due, breach) for due in due_moments(clock, calendar) if breach is not None
        ]
        hash_ = key_hash(clock.contact_id)
        await clock_repo.replace_due(conn, clock.contact_id, [clock.clock], planned, key_hash=hash_)
        if planned:
            await clock_repo.notify_due(conn, key_hash=hash_, instants=(p.due.at for p in planned))
    await clock_repo.set_due_at(
        conn,
        [(c.contact_id, c.clock, due_at(c, calendar_of(c.spec, calendars))) for c in running],
        now=now,
    )
    return len(running)


async def on_manual_milestone(
    conn: Conn, deps: Deps, contact_id: uuid.UUID, milestone: str, *, at: datetime, actor: str
) -> list[str]:
    """A milestone recorded by a person (e.g. `regulator_reported`); returns the clocks it stopped."""
    now = deps.now()
    contact = await contact_repo.lock_contact(conn, contact_id, now=now)
    clocks = await clock_repo.lock_clocks(conn, contact_id)
    calendars, policies = await deps.admin.load(conn)
    ctx = Ctx(conn, deps, contact, clocks, calendars, policies, Cause(f"api:{actor}"), now)
    changes = contact_domain.reach(clocks.values(), {milestone}, at, ctx.calendars)
    await apply(ctx, changes)
    return [c.clock.clock for c in changes]
