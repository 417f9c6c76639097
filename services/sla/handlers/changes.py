"""Applying clock changes: persist them with their cause, plan their due moments, announce them as `sla.*`
events through the outbox; and the changes that do not come from a consumed event (calendar edits, milestones
recorded by people)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from services.sla.domain import contact as contact_domain
from services.sla.domain.calendar import Calendar
from services.sla.domain.clock import Change, Clock, calendar_of, due_at, due_moments
from services.sla.domain.contact import milestones_of
from services.sla.domain.policy import Policy, Trigger, resolve
from services.sla.handlers.tx import SlaTx
from services.sla.repository import admin as admin_repo
from services.sla.repository import clocks as clock_repo
from services.sla.repository import contacts as contact_repo
from services.sla.repository.clocks import PlannedDue
from services.sla.repository.contacts import Cause, Contact
from services.sla.repository.timers import key_hash
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
from shared.tx import Tx

SOURCE = "switchboard/sla"


@dataclass
class LockedContact:
    """One contact, locked in this transaction, with its clocks and the calendars and policies they run on, while
    one event (or a replayed early event) is applied; applied changes update it."""

    tx: SlaTx
    contact: Contact
    clocks: dict[str, Clock]
    calendars: dict[str, Calendar]
    policies: list[Policy]
    cause: Cause


async def locked_contact(tx: SlaTx, contact: Contact, cause: Cause, *, clocks: bool = True) -> LockedContact:
    """The contact the caller locked, with its clocks (locked now; none yet for a contact just received) and the
    calendars and policies they run on."""
    held = await clock_repo.lock_clocks(tx.conn, contact.contact_id) if clocks else {}
    calendars, policies = await tx.admin.load(tx.conn)
    return LockedContact(tx, contact, held, calendars, policies, cause)


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


async def apply(locked: LockedContact, changes: list[Change]) -> None:
    """Persist transitions: clock rows, their history with its cause, their due moments, and the events."""
    if not changes:
        return
    final: dict[str, Clock] = {}
    for change in changes:
        final[change.clock.clock] = change.clock
    contact_id, tx = locked.contact.contact_id, locked.tx
    await clock_repo.save_clocks(
        tx.conn, list(final.values()), keys=locked.contact.keys, calendars=locked.calendars, now=tx.now
    )
    await clock_repo.insert_transitions(
        tx.conn, contact_id, [c.transition for c in changes], cause=locked.cause, now=tx.now
    )
    planned: list[PlannedDue] = []
    for clock in final.values():
        calendar = calendar_of(clock.spec, locked.calendars)
        breach = due_at(clock, calendar)
        planned.extend(
            PlannedDue(clock.clock, due, breach) for due in due_moments(clock, calendar) if breach is not None
        )
    hash_ = key_hash(contact_id)
    await clock_repo.replace_due(tx.conn, contact_id, list(final), planned, key_hash=hash_)
    await enqueue_many(tx.conn, [message_of(event_of(c), now=tx.now) for c in changes], now=tx.now)
    if planned:
        await clock_repo.notify_due(tx.conn, key_hash=hash_, instants=(p.due.at for p in planned))
    locked.clocks.update(final)


async def start_triggered(locked: LockedContact, trigger: Trigger, at: datetime) -> None:
    specs = resolve(locked.policies, locked.contact.keys, trigger=trigger)
    await apply(
        locked,
        contact_domain.start_clocks(
            locked.contact.contact_id, specs.values(), locked.clocks, at, locked.calendars
        ),
    )


async def reach_milestones(locked: LockedContact, kind: str, at: datetime) -> None:
    milestones = milestones_of(kind, channel=locked.contact.channel, live_channels=locked.tx.live_channels)
    await apply(locked, contact_domain.reach(locked.clocks.values(), milestones, at, locked.calendars))


async def replan_calendar(tx: Tx, calendar_id: str) -> int:
    """A calendar changed (hours, holidays, make-up days): re-plan the due moments of the clocks running on it.

    Time already run stays as measured; only what is left is laid out on the new calendar.
    """
    calendars = await admin_repo.calendars_by_id(tx.conn)  # fresh: the caller just changed one
    running = await clock_repo.lock_running_on_calendar(tx.conn, calendar_id)
    for clock in running:
        calendar = calendar_of(clock.spec, calendars)
        breach = due_at(clock, calendar)
        planned = [
            PlannedDue(clock.clock, due, breach) for due in due_moments(clock, calendar) if breach is not None
        ]
        hash_ = key_hash(clock.contact_id)
        await clock_repo.replace_due(tx.conn, clock.contact_id, [clock.clock], planned, key_hash=hash_)
        if planned:
            await clock_repo.notify_due(tx.conn, key_hash=hash_, instants=(p.due.at for p in planned))
    await clock_repo.set_due_at(
        tx.conn,
        [(c.contact_id, c.clock, due_at(c, calendar_of(c.spec, calendars))) for c in running],
        now=tx.now,
    )
    return len(running)


async def on_manual_milestone(
    tx: SlaTx, contact_id: uuid.UUID, milestone: str, *, at: datetime, actor: str
) -> list[str]:
    """A milestone recorded by a person (e.g. `regulator_reported`); returns the clocks it stopped."""
    contact = await contact_repo.lock_contact(tx.conn, contact_id, now=tx.now)
    locked = await locked_contact(tx, contact, Cause(f"api:{actor}"))
    changes = contact_domain.reach(locked.clocks.values(), {milestone}, at, locked.calendars)
    await apply(locked, changes)
    return [c.clock.clock for c in changes]
