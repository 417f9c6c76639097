"""Consumed events → clock transitions, in the consumer's transaction (the inbox already claimed the event id):
one use case per event type, in one table (`DISPATCH`); the consumer skips every other type.

Every use case locks the contact's row first, so the events of one contact are applied one at a time even when
they come from different topics. Events that overtake the contact's `contact.received` (they travel on other
topics) are stashed and replayed, in order, right after it, each by its own use case.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from services.sla.domain import contact as contact_domain
from services.sla.domain.policy import ClockSpec, resolve
from services.sla.handlers.changes import LockedContact, apply, locked_contact, reach_milestones, start_triggered
from services.sla.handlers.tx import SlaTx
from services.sla.repository import contacts as contact_repo
from services.sla.repository.admin import AdminCache
from services.sla.repository.contacts import Cause
from shared.clock import Clock as WallClock
from shared.db import Conn
from shared.events import (
    REGISTRY,
    ContactMessageAddedV1,
    ContactReceivedV1,
    ContactReclassifiedV1,
    Event,
    FeedbackFollowupRequiredV1,
    OutboundDeliveryReportedV1,
    WorkAbandonedV1,
    WorkAssignedV1,
    WorkPendingV1,
    WorkReopenedV1,
    WorkResolvedV1,
    WorkResumedV1,
    WorkSolutionRecordedV1,
)
from shared.inbox import TransactionalHandler
from shared.kafka import Delivery

# --- one use case per consumed event type: the contact locked first, then its clocks moved --------------------

Dispatch = Callable[[SlaTx, Any, Cause, datetime], Awaitable[None]]
"""A use case for one consumed event type: called with an event of that type, the cause its changes record (the
envelope's type and id) and when it happened (`event_time`)."""


async def received(tx: SlaTx, event: Event, cause: Cause, at: datetime) -> LockedContact | None:
    """The event's contact, locked, with its clocks; None when SLA has not seen its `contact.received` yet —
    then the event waits, stashed, to be replayed right after it."""
    contact_id: uuid.UUID = getattr(event, "contact_id")  # noqa: B009 — every applied event names its contact
    contact = await contact_repo.lock_contact(tx.conn, contact_id, now=tx.now)
    if contact.received_at is None:
        await contact_repo.stash_event(
            tx.conn,
            contact_id,
            event_id=cause.event_id or uuid.uuid4(),
            type_=cause.kind,
            data=event.model_dump(mode="json"),
            at=at,
            now=tx.now,
        )
        return None
    return await locked_contact(tx, contact, cause)


async def on_message_added(tx: SlaTx, event: ContactMessageAddedV1, cause: Cause, at: datetime) -> None:
    locked = await received(tx, event, cause, at)
    if locked is None:
        return
    if event.from_customer:
        await apply(
            locked,
            contact_domain.resume_all(locked.clocks.values(), at, locked.calendars, reason="customer replied"),
        )
    else:
        # An agent's reply: the first one stops first response where replies are the response (e-mail, web);
        # one marked as the solution is the formal response "sent to the customer".
        await reach_milestones(locked, "solution" if event.solution else "agent_reply", at)


async def on_reclassified(tx: SlaTx, event: ContactReclassifiedV1, cause: Cause, at: datetime) -> None:
    locked = await received(tx, event, cause, at)
    if locked is None:
        return
    locked.contact = replace(
        locked.contact,
        category=event.category,
        priority_class=event.priority_class,
        emergency=event.emergency,
        incident_level=event.incident_level,
    )
    await contact_repo.save_contact(tx.conn, locked.contact, now=tx.now)
    specs = resolve(locked.policies, locked.contact.keys)
    # Clocks keep the version they run under unless their terms really change.
    specs = {
        name: (
            locked.clocks[name].spec
            if name in locked.clocks and _same_terms(locked.clocks[name].spec, spec)
            else spec
        )
        for name, spec in specs.items()
    }
    received_at = locked.contact.received_at or at
    await apply(
        locked,
        contact_domain.retarget_all(
            locked.contact.contact_id,
            locked.clocks,
            specs,
            at,
            locked.calendars,
            received_at=received_at,
            reason=f"reclassified by {event.by}: {event.priority_class} {event.category}",
        ),
    )


def _same_terms(a: ClockSpec, b: ClockSpec) -> bool:
    return replace(a, policy_version=b.policy_version) == b


async def on_assigned(tx: SlaTx, event: WorkAssignedV1, cause: Cause, at: datetime) -> None:
    locked = await received(tx, event, cause, at)
    if locked is None:
        return
    locked.contact = replace(locked.contact, agent_id=event.agent_id)
    await contact_repo.save_contact(tx.conn, locked.contact, now=tx.now)
    await reach_milestones(locked, "assigned", at)


async def on_solution_recorded(tx: SlaTx, event: WorkSolutionRecordedV1, cause: Cause, at: datetime) -> None:
    locked = await received(tx, event, cause, at)
    if locked is None:
        return
    await reach_milestones(locked, "solution", at)


async def on_pending(tx: SlaTx, event: WorkPendingV1, cause: Cause, at: datetime) -> None:
    locked = await received(tx, event, cause, at)
    if locked is None:
        return
    if event.pending_on == "customer":
        await apply(
            locked,
            contact_domain.pause_all(
                locked.clocks.values(), at, locked.calendars, reason="waiting on the customer"
            ),
        )


async def on_resumed(tx: SlaTx, event: WorkResumedV1, cause: Cause, at: datetime) -> None:
    locked = await received(tx, event, cause, at)
    if locked is None:
        return
    await apply(
        locked, contact_domain.resume_all(locked.clocks.values(), at, locked.calendars, reason="work resumed")
    )


async def on_resolved(tx: SlaTx, event: WorkResolvedV1, cause: Cause, at: datetime) -> None:
    locked = await received(tx, event, cause, at)
    if locked is None:
        return
    await reach_milestones(locked, "resolved", at)
    if event.customer_notified:
        await reach_milestones(locked, "fed_back", at)


async def on_delivery(tx: SlaTx, event: OutboundDeliveryReportedV1, cause: Cause, at: datetime) -> None:
    """The end notice reached the customer: the result is fed back (complaint resolution, RULES.md)."""
    if not (event.contact_id and event.kind == "end_notice" and event.status in ("delivered", "read")):
        return  # other deliveries move no clock (nor wait for the contact)
    locked = await received(tx, event, cause, at)
    if locked is not None:
        await reach_milestones(locked, "fed_back", at)


async def on_reopened(tx: SlaTx, event: WorkReopenedV1, cause: Cause, at: datetime) -> None:
    locked = await received(tx, event, cause, at)
    if locked is None:
        return
    await apply(locked, contact_domain.reopen_all(locked.clocks.values(), at, locked.calendars))


async def on_abandoned(tx: SlaTx, event: WorkAbandonedV1, cause: Cause, at: datetime) -> None:
    locked = await received(tx, event, cause, at)
    if locked is None:
        return
    await apply(
        locked, contact_domain.cancel_all(locked.clocks.values(), at, locked.calendars, reason="abandoned")
    )


async def on_followup_required(tx: SlaTx, event: FeedbackFollowupRequiredV1, cause: Cause, at: datetime) -> None:
    locked = await received(tx, event, cause, at)
    if locked is None:
        return
    await start_triggered(locked, "followup", at)


async def on_contact_received(tx: SlaTx, event: ContactReceivedV1, cause: Cause, at: datetime) -> None:
    """The contact's clocks start; the events that overtook it are replayed, in order, by their own use cases."""
    contact = await contact_repo.lock_contact(tx.conn, event.contact_id, now=tx.now)
    if contact.received_at is not None:
        return  # the same contact announced twice: its clocks already run
    contact = replace(
        contact,
        customer_id=event.customer.customer_id,
        channel=event.channel,
        grade=event.customer.grade,
        priority_class=event.priority_class,
        category=event.category,
        emergency=event.emergency,
        incident_level=event.incident_level,
        received_at=event.received_at,
        value_tier=event.customer.attributes.get("value_tier"),
        risk_level=event.customer.attributes.get("risk_level"),
        lifecycle_stage=event.customer.attributes.get("lifecycle_stage"),
    )
    await contact_repo.save_contact(tx.conn, contact, now=tx.now)
    locked = await locked_contact(tx, contact, cause, clocks=False)
    await start_triggered(locked, "received", event.received_at)
    for early in await contact_repo.take_early_events(tx.conn, contact.contact_id):
        replayed = REGISTRY[early.type].model_validate(early.data)
        await DISPATCH[type(replayed)](tx, replayed, Cause(early.type, early.event_id), early.at)


DISPATCH: Mapping[type[Event], Dispatch] = {
    ContactReceivedV1: on_contact_received,
    ContactMessageAddedV1: on_message_added,
    ContactReclassifiedV1: on_reclassified,
    WorkAssignedV1: on_assigned,
    WorkSolutionRecordedV1: on_solution_recorded,
    WorkPendingV1: on_pending,
    WorkResumedV1: on_resumed,
    WorkResolvedV1: on_resolved,
    WorkReopenedV1: on_reopened,
    WorkAbandonedV1: on_abandoned,
    OutboundDeliveryReportedV1: on_delivery,
    FeedbackFollowupRequiredV1: on_followup_required,
}
"""Which use case handles which consumed event type; the consumer skips every other type before the inbox
(`accepts`)."""


def event_time(event: Event, fallback: datetime) -> datetime:
    """When the event happened, by its own stamp where it carries one (else the envelope's)."""
    for name in ("accepted_at", "resolved_at", "received_at", "at"):
        value = getattr(event, name, None)
        if isinstance(value, datetime):
            return value
    return fallback


# --- the consumer's entry ----------------------------------------------------------------------------------


def handler(clock: WallClock, *, admin: AdminCache, live_channels: frozenset[str]) -> TransactionalHandler:
    """The inbox opened the transaction and claimed the event id; each event gets its context and its use case."""

    async def handle(conn: Conn, delivery: Delivery) -> None:
        event = delivery.decoded.event
        use_case = None if event is None else DISPATCH.get(type(event))
        if event is None or use_case is None:
            return
        envelope = delivery.decoded.envelope
        tx = SlaTx(conn, clock.now(), admin=admin, live_channels=live_channels)
        await use_case(tx, event, Cause(envelope.type, envelope.id), event_time(event, envelope.time))

    return handle
