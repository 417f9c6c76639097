"""Firing due moments (the timer scheduler's use case): in the caller's transaction, claim the owned due rows at
or before an instant, record each firing once, move the clocks and their history, and stage the `sla.*` events.
A crash before the commit leaves the due rows in place and nothing published; after it, the fired rows exist
and the due rows are gone: each (contact, clock, alert) is announced once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from services.sla.domain import clock as clocks_domain
from services.sla.domain.clock import Alert, Clock, Transition, calendar_of
from services.sla.handlers.changes import event_of, message_of
from services.sla.handlers.tx import SlaTx
from services.sla.repository import clocks as clock_repo
from services.sla.repository import timers
from services.sla.repository.contacts import Cause
from services.sla.repository.timers import ClaimedDue, Firing, Ownership
from shared.events import OutgoingMessage
from shared.outbox import enqueue_many

TIMER = Cause("timer")


@dataclass(frozen=True)
class Fired:
    claimed: list[ClaimedDue]
    """The due rows taken (fewer than the limit: nothing more is due)."""
    announced: int
    """How many `sla.*` events were staged (a row re-planned for an alert already out announces nothing)."""


async def fire_due(tx: SlaTx, *, until: datetime, ownership: Ownership, limit: int) -> Fired:
    """Fire up to `limit` owned due moments at or before `until`; each is recorded as fired at `tx.now`, or at
    its own moment when that is later (a batch prepared ahead)."""
    claimed, clocks = await timers.claim_due(tx.conn, now=until, ownership=ownership, limit=limit)
    if not claimed:
        return Fired([], 0)
    firings = [Firing(due, uuid.uuid4(), max(tx.now, due.due_at)) for due in claimed]
    new = await timers.record_fired(tx.conn, firings)
    calendars, _ = await tx.admin.load(tx.conn)
    changed: dict[tuple[uuid.UUID, str], Clock] = {}
    messages: list[OutgoingMessage] = []
    transitions: list[tuple[uuid.UUID, Transition]] = []
    for firing in firings:
        due, at = firing.due, firing.fired_at
        if (due.contact_id, due.clock, due.alert) not in new:
            continue  # fired before (a due row re-planned for an alert that had gone out)
        key = (due.contact_id, due.clock)
        clock = changed.get(key) or clocks[key]
        alert = Alert(due.alert, due.kind, due.level, due.target_role, 0.0)  # type: ignore[arg-type]
        change = clocks_domain.fire(clock, alert, at, calendar_of(clock.spec, calendars), due=due.due_at)
        if change is None:
            continue
        changed[key] = change.clock
        transitions.append((due.contact_id, change.transition))
        messages.append(message_of(event_of(change, breach_at=due.breach_at), now=at, event_id=firing.event_id))
    await timers.save_fired_clocks(tx.conn, list(changed.values()), now=tx.now)
    await clock_repo.insert_transition_rows(tx.conn, transitions, cause=TIMER, now=tx.now)
    await enqueue_many(tx.conn, messages, now=tx.now)
    return Fired(claimed, len(messages))
