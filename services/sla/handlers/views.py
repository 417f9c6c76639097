"""What SLA shows: one contact's clocks as they stand now (`contact_view`), and how the clocks did
(`attainment`). Reads only; the route picks the snapshot (`repeatable_read` for a contact's view)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from services.sla.domain.clock import Clock, calendar_of, due_at, elapsed_at, paused_at
from services.sla.domain.errors import NotYourContact, UnknownContact
from services.sla.repository import admin as admin_repo
from services.sla.repository import clocks as clock_repo
from services.sla.repository import contacts as contact_repo
from services.sla.repository import figures, timers
from services.sla.repository.clocks import DueRecord, TransitionRecord
from services.sla.repository.contacts import Contact
from services.sla.repository.timers import FiredRecord
from shared.tx import Actor, Tx


@dataclass(frozen=True)
class ClockView:
    clock: Clock
    elapsed_s: float
    paused_s: float
    due_at: datetime | None
    upcoming: list[DueRecord]
    fired: list[FiredRecord]


@dataclass(frozen=True)
class ContactView:
    contact: Contact
    clocks: list[ClockView]
    history: list[TransitionRecord]
    waiting_events: int
    """Events that arrived before contact.received and wait to be applied."""


async def contact_view(tx: Tx, contact_id: uuid.UUID, *, actor: Actor) -> ContactView:
    """A contact's clocks at `tx.now`, their due and fired alerts, and every transition. An agent sees only the
    contacts whose work they hold."""
    contact = await contact_repo.get_contact(tx.conn, contact_id)
    if contact is None:
        raise UnknownContact(f"SLA has seen no event of contact {contact_id}")
    if actor.role == "agent" and contact.agent_id != actor.subject:
        # Like a contact SLA has not heard of: a desktop asks right after accepting, before SLA has seen the
        # assignment, and shows nothing until it has.
        raise NotYourContact(f"contact {contact_id} is not in your work")
    clocks = await clock_repo.get_clocks(tx.conn, contact_id)
    calendars = await admin_repo.calendars_by_id(tx.conn)
    due = await clock_repo.list_due(tx.conn, contact_id)
    fired = await timers.list_fired(tx.conn, contact_id)
    history = await clock_repo.list_transitions(tx.conn, contact_id)
    waiting = await contact_repo.count_early_events(tx.conn, contact_id)

    def view(clock: Clock) -> ClockView:
        calendar = calendar_of(clock.spec, calendars)
        return ClockView(
            clock=clock,
            elapsed_s=elapsed_at(clock, calendar, tx.now),
            paused_s=paused_at(clock, tx.now),
            due_at=due_at(clock, calendar),
            upcoming=[d for d in due if d.clock == clock.clock],
            fired=[f for f in fired if f.clock == clock.clock],
        )

    return ContactView(contact, [view(c) for c in clocks.values()], history, waiting)


@dataclass(frozen=True)
class Attainment:
    """One row of figures: `figures.AttainmentRow` and the shares computed from it."""

    row: figures.AttainmentRow
    period: str | None
    """Local date the period starts on."""
    met_pct: float | None
    """Met share of the clocks that stopped (met + missed), in percent."""
    goal_pct: float | None


async def attainment(
    tx: Tx, *, dims: set[str], period: str | None, filters: figures.Filters, time_zone: str
) -> list[Attainment]:
    """The clocks `filters` select, grouped by `dims` (the route's `Dimension`s) and by `period` in `time_zone`."""
    grouping = figures.Grouping(
        clock="clock" in dims,
        grade="grade" in dims,
        priority_class="priority_class" in dims,
        channel="channel" in dims,
        period=period,
        value_tier="value_tier" in dims,
        risk_level="risk_level" in dims,
        lifecycle_stage="lifecycle_stage" in dims,
    )
    rows = await figures.attainment(tx.conn, grouping=grouping, filters=filters, time_zone=time_zone)
    return [
        Attainment(
            row=r,
            period=r.period.date().isoformat() if r.period else None,
            met_pct=round(100 * r.met / (r.met + r.missed), 2) if r.met + r.missed else None,
            goal_pct=None if r.goal is None or not grouping.clock else round(100 * r.goal, 2),
        )
        for r in rows
    ]
