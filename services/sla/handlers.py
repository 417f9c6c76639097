"""Consumed events → clock transitions, in the consumer's transaction (the inbox already claimed the event id).

Every handler locks the contact's row first, so the handlers of one contact run one at a time even when its
events come from different topics. Events that overtake the contact's `contact.received` (they travel on other
topics) are stashed and replayed, in order, right after it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from services.sla.domain import clock as clocks_domain
from services.sla.domain.calendar import Calendar
from services.sla.domain.clock import Change, Clock, calendar_of, due_at, due_moments, milestones_of
from services.sla.domain.policy import ClockSpec, Policy, Trigger, resolve
from services.sla.repository import admin as admin_repo
from services.sla.repository import clocks as clock_repo
from services.sla.repository.clocks import Cause, Contact, PlannedDue
from services.sla.repository.timers import key_hash
from shared.db import Conn
from shared.events import (
    REGISTRY,
    ContactMessageAddedV1,
    ContactReceivedV1,
    ContactReclassifiedV1,
    Event,
    FeedbackFollowupRequiredV1,
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
    WorkAssignedV1,
    WorkPendingV1,
    WorkReopenedV1,
    WorkResolvedV1,
    WorkResumedV1,
    WorkSolutionRecordedV1,
    encode,
)
from shared.inbox import TransactionalHandler
from shared.kafka import Delivery
from shared.outbox import enqueue_many

log = logging.getLogger(__name__)

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
        ctx, clocks_domain.start_clocks(ctx.contact.contact_id, specs.values(), ctx.clocks, at, ctx.calendars)
    )


async def reach_milestones(ctx: Ctx, kind: str, at: datetime) -> None:
    milestones = milestones_of(kind, channel=ctx.contact.channel, live_channels=ctx.deps.live_channels)
    await apply(ctx, clocks_domain.reach(ctx.clocks.values(), milestones, at, ctx.calendars))


# --- one function per consumed event, applied to a locked, received contact ---------------------------------

Apply = Callable[[Ctx, Event, datetime], Awaitable[None]]


async def on_message_added(ctx: Ctx, event: Event, at: datetime) -> None:
    assert isinstance(event, ContactMessageAddedV1)
    if event.from_customer:
        await apply(
            ctx, clocks_domain.resume_all(ctx.clocks.values(), at, ctx.calendars, reason="customer replied")
        )
    else:
        await reach_milestones(ctx, "agent_reply", at)


async def on_reclassified(ctx: Ctx, event: Event, at: datetime) -> None:
    assert isinstance(event, ContactReclassifiedV1)
    ctx.contact = replace(
        ctx.contact, category=event.category, priority_class=event.priority_class, emergency=event.emergency
    )
    await clock_repo.save_contact(ctx.conn, ctx.contact, now=ctx.now)
    specs = resolve(ctx.policies, ctx.contact.keys)
    # Clocks keep the version they run under unless their terms really change.
    specs = {
        name: (ctx.clocks[name].spec if name in ctx.clocks and _same_terms(ctx.clocks[name].spec, spec) else spec)
        for name, spec in specs.items()
    }
    received_at = ctx.contact.received_at or at
    await apply(
        ctx,
        clocks_domain.retarget_all(
            ctx.contact.contact_id,
            ctx.clocks,
            specs,
            at,
            ctx.calendars,
            received_at=received_at,
            reason=f"reclassified by {event.by}: {event.priority_class} {event.category}",
        ),
    )


def _same_terms(a: ClockSpec, b: ClockSpec) -> bool:
    return replace(a, policy_version=b.policy_version) == b


async def on_assigned(ctx: Ctx, event: Event, at: datetime) -> None:
    assert isinstance(event, WorkAssignedV1)
    ctx.contact = replace(ctx.contact, agent_id=event.agent_id)
    await clock_repo.save_contact(ctx.conn, ctx.contact, now=ctx.now)
    await reach_milestones(ctx, "assigned", at)


async def on_solution_recorded(ctx: Ctx, event: Event, at: datetime) -> None:
    assert isinstance(event, WorkSolutionRecordedV1)
    await reach_milestones(ctx, "solution", at)


async def on_pending(ctx: Ctx, event: Event, at: datetime) -> None:
    assert isinstance(event, WorkPendingV1)
    if event.pending_on == "customer":
        await apply(
            ctx, clocks_domain.pause_all(ctx.clocks.values(), at, ctx.calendars, reason="waiting on the customer")
        )


async def on_resumed(ctx: Ctx, event: Event, at: datetime) -> None:
    assert isinstance(event, WorkResumedV1)
    await apply(ctx, clocks_domain.resume_all(ctx.clocks.values(), at, ctx.calendars, reason="work resumed"))


async def on_resolved(ctx: Ctx, event: Event, at: datetime) -> None:
    assert isinstance(event, WorkResolvedV1)
    await reach_milestones(ctx, "resolved", at)


async def on_reopened(ctx: Ctx, event: Event, at: datetime) -> None:
    assert isinstance(event, WorkReopenedV1)
    await apply(ctx, clocks_domain.reopen_all(ctx.clocks.values(), at, ctx.calendars))


async def on_followup_required(ctx: Ctx, event: Event, at: datetime) -> None:
    assert isinstance(event, FeedbackFollowupRequiredV1)
    await start_triggered(ctx, "followup", at)


APPLY: Mapping[type[Event], Apply] = {
    ContactMessageAddedV1: on_message_added,
    ContactReclassifiedV1: on_reclassified,
    WorkAssignedV1: on_assigned,
    WorkSolutionRecordedV1: on_solution_recorded,
    WorkPendingV1: on_pending,
    WorkResumedV1: on_resumed,
    WorkResolvedV1: on_resolved,
    WorkReopenedV1: on_reopened,
    FeedbackFollowupRequiredV1: on_followup_required,
}


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
    contact = await clock_repo.lock_contact(conn, contact_id, now=now)
    clocks = await clock_repo.lock_clocks(conn, contact_id)
    calendars, policies = await deps.admin.load(conn)
    ctx = Ctx(conn, deps, contact, clocks, calendars, policies, Cause(f"api:{actor}"), now)
    changes = clocks_domain.reach(clocks.values(), {milestone}, at, ctx.calendars)
    await apply(ctx, changes)
    return [c.clock.clock for c in changes]


def event_time(event: Event, fallback: datetime) -> datetime:
    """When the event happened, by its own stamp where it carries one (else the envelope's)."""
    for name in ("accepted_at", "resolved_at", "received_at", "at"):
        value = getattr(event, name, None)
        if isinstance(value, datetime):
            return value
    return fallback


# --- entry points -------------------------------------------------------------------------------------------


async def on_contact_received(conn: Conn, deps: Deps, event: ContactReceivedV1, cause: Cause) -> None:
    now = deps.now()
    contact = await clock_repo.lock_contact(conn, event.contact_id, now=now)
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
        received_at=event.received_at,
    )
    await clock_repo.save_contact(conn, contact, now=now)
    calendars, policies = await deps.admin.load(conn)
    ctx = Ctx(conn, deps, contact, {}, calendars, policies, cause, now)
    await start_triggered(ctx, "received", event.received_at)
    for early in await clock_repo.take_early_events(conn, contact.contact_id):
        replayed = REGISTRY[early.type].model_validate(early.data)
        ctx.cause = Cause(early.type, early.event_id)
        await APPLY[type(replayed)](ctx, replayed, early.at)


async def on_contact_event(conn: Conn, deps: Deps, event: Event, cause: Cause, at: datetime) -> None:
    contact_id: uuid.UUID = getattr(event, "contact_id")  # noqa: B009 — every applied event names its contact
    now = deps.now()
    contact = await clock_repo.lock_contact(conn, contact_id, now=now)
    if contact.received_at is None:
        await clock_repo.stash_event(
            conn,
            contact_id,
            event_id=cause.event_id or uuid.uuid4(),
            type_=cause.kind,
            data=event.model_dump(mode="json"),
            at=at,
            now=now,
        )
        return
    clocks = await clock_repo.lock_clocks(conn, contact_id)
    calendars, policies = await deps.admin.load(conn)
    ctx = Ctx(conn, deps, contact, clocks, calendars, policies, cause, now)
    await APPLY[type(event)](ctx, event, at)


def handler(deps: Deps) -> TransactionalHandler:
    async def handle(conn: Conn, delivery: Delivery) -> None:
        event = delivery.decoded.event
        envelope = delivery.decoded.envelope
        cause = Cause(envelope.type, envelope.id)
        if isinstance(event, ContactReceivedV1):
            await on_contact_received(conn, deps, event, cause)
        elif event is not None and type(event) in APPLY:
            await on_contact_event(conn, deps, event, cause, event_time(event, envelope.time))

    return handle
