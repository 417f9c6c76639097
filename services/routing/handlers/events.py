"""Consumed events: contacts from intake, SLA warnings and escalations, feedback follow-ups, knowledge
suggestions and overdue articles. Each runs in the inbox transaction that claimed the event."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from services.routing.domain.lifecycle import OPEN, OWNED
from services.routing.domain.model import parse_requirements, primary_language
from services.routing.domain.records import ContactRecord, WorkRecord
from services.routing.handlers.callbacks import on_abandoned, on_callback_attempt
from services.routing.handlers.common import SOURCE, SYSTEM, Tx, change_notice, history, priority_now, queued_event
from services.routing.handlers.lifecycle import reopen, resume
from services.routing.handlers.paging import start_page
from services.routing.handlers.views import jsonable, work_view
from services.routing.repository import agents as agent_repo
from services.routing.repository import contacts as contact_repo
from services.routing.repository import end_notices as end_notice_repo
from services.routing.repository import feed
from services.routing.repository import history as history_repo
from services.routing.repository import work as work_repo
from shared.events import (
    ContactAbandonedV1,
    ContactCallbackAttemptedV1,
    ContactMessageAddedV1,
    ContactReceivedV1,
    ContactReclassifiedV1,
    Event,
    FeedbackFollowupRequiredV1,
    FeedbackNotSolvedV1,
    KnowledgeArticleOverdueV1,
    KnowledgeSuggestedV1,
    OutboundDeliveryReportedV1,
    OutgoingMessage,
    SlaBreachedV1,
    SlaCalendarDataEndingV1,
    SlaEscalatedV1,
    SlaWarningV1,
    encode,
)
from shared.outbox import enqueue_many

EMERGENCY_TIER = "emergency"
SUPERVISOR_TIER = "supervisor"


def work_class_of(priority_class: str, emergency: bool) -> str:
    return "urgent" if emergency else priority_class


async def _to_people(tx: Tx, work: WorkRecord, kind: str, body: dict[str, Any]) -> None:
    for agent_id in {work.owner_id, work.slot_agent_id} - {None}:
        await feed.to_desktop(tx.conn, agent_id=str(agent_id), kind=kind, body=jsonable(body), now=tx.now)


def queued_message(tx: Tx, work: WorkRecord, reason: str) -> OutgoingMessage:
    """`work.queued` for new work, with how its priority was made (routing.work is keyed by pool)."""
    policy = tx.policy
    reasons = [
        reason,
        f"class {work.work_class} +{policy.class_base.get(work.work_class, 0)}",
        f"grade {work.grade} +{policy.grade_bonus.get(work.grade, 0)}",
    ]
    return encode(
        queued_event(tx, work, reasons), source=SOURCE, subject=str(work.contact_id), time=tx.now, key=work.pool
    )


async def create_work(
    tx: Tx,
    *,
    contact_id: uuid.UUID,
    kind: str,
    pool: str,
    channel: str,
    customer_id: uuid.UUID | None,
    grade: str,
    work_class: str,
    category: str | None,
    language: str | None,
    requirements: Any,
    target_team: str | None,
    reason: str,
    actor_label: str = "system:routing",
) -> WorkRecord | None:
    """Queue new work; None when the contact already has open work of this kind (a repeat)."""
    work_id = uuid.uuid4()
    work = await work_repo.insert_work(
        tx.conn,
        work_id=work_id,
        contact_id=contact_id,
        kind=kind,
        pool=pool,
        channel=channel,
        customer_id=customer_id,
        grade=grade,
        work_class=work_class,
        category=category,
        language=language,
        requirements=requirements,
        state="queued",
        target_team=target_team,
        first_owner_id=None,
        reason=reason,
        now=tx.now,
    )
    if work is None:
        return None
    await history_repo.add_history_and_notify(
        tx.conn,
        work_id=work_id,
        action="queued",
        actor=actor_label,
        detail={"reason": reason},
        now=tx.now,
        notice=change_notice(tx, pool, "work", str(work_id)),
    )
    await enqueue_many(tx.conn, [queued_message(tx, work, reason)], now=tx.now)
    return work


async def on_contact_received(tx: Tx, event: ContactReceivedV1, *, pool: str) -> None:
    await on_contacts_received(tx, [event], pool=pool)


async def on_contacts_received(tx: Tx, received: Sequence[ContactReceivedV1], *, pool: str) -> None:
    """Contacts (each contact id once) queued with one statement and their `work.queued` events with another.
    Their enqueue instants step by a microsecond, so the queue keeps their arrival order."""
    new: list[contact_repo.NewContact] = []
    reasons: dict[uuid.UUID, str] = {}
    for i, event in enumerate(received):
        work_pool = event.customer.attributes.get("routing_pool", pool)
        work_id = uuid.uuid4()
        reasons[work_id] = "emergency contact" if event.emergency else "new contact"
        new.append(
            contact_repo.NewContact(
                contact=ContactRecord(
                    contact_id=event.contact_id,
                    customer_id=event.customer.customer_id,
                    grade=event.customer.grade,
                    channel=event.channel,
                    subject=event.subject,
                    text=event.text,
                    language=primary_language(event.language),
                    category=event.category,
                    priority_class=event.priority_class,
                    emergency=event.emergency,
                    attributes=dict(event.customer.attributes),
                    reply_to=event.reply_to.model_dump(exclude_none=True) if event.reply_to else {},
                    received_at=event.received_at,
                ),
                message_id=event.message_id,
                work_id=work_id,
                pool=work_pool,
                work_class=work_class_of(event.priority_class, event.emergency),
                requirements=parse_requirements(event.required_skills, default_level=1),
                enqueued_at=tx.now + timedelta(microseconds=i),
                reason=reasons[work_id],
                notice=change_notice(tx, work_pool, "work", str(work_id)),
            )
        )
    works = await contact_repo.queue_contacts(tx.conn, new, actor=SYSTEM.label, now=tx.now)
    await enqueue_many(tx.conn, [queued_message(tx, w, reasons[w.work_id]) for w in works], now=tx.now)
    for work in works:
        if reasons[work.work_id] == "emergency contact":
            await page_emergency_team(tx, work)
            await start_page(tx, work)


async def page_emergency_team(tx: Tx, work: WorkRecord) -> None:
    # CH-16: the emergency team is paged at once, whoever the offer goes to; on their desktops now, and by SMS to
    # the on-call list when none of them takes it in time (`start_page`).
    for agent_id in await agent_repo.online_agents_of_tier(tx.conn, EMERGENCY_TIER):
        await feed.to_desktop(
            tx.conn,
            agent_id=agent_id,
            kind="alert",
            body={"work": work_view(tx, work), "reason": "emergency contact"},
            now=tx.now,
        )


async def handle_events(tx: Tx, events: Sequence[Event], *, table: dict[type[Event], Dispatch], pool: str) -> None:
    """A polled batch in order: runs of received contacts set-based (`on_contacts_received`), every other event
    through `table`. A run ends before any other event and before a contact seen earlier in it."""
    run: list[ContactReceivedV1] = []
    in_run: set[uuid.UUID] = set()

    async def flush() -> None:
        if run:
            await on_contacts_received(tx, run, pool=pool)
            run.clear()
            in_run.clear()

    for event in events:
        if isinstance(event, ContactReceivedV1):
            if event.contact_id in in_run:
                await flush()
            run.append(event)
            in_run.add(event.contact_id)
            continue
        handler = table.get(type(event))
        if handler is not None:
            await flush()
            await handler(tx, event)
    await flush()


async def on_message_added(tx: Tx, event: ContactMessageAddedV1) -> None:
    await contact_repo.add_message(
        tx.conn,
        message_id=event.message_id,
        contact_id=event.contact_id,
        from_customer=event.from_customer,
        text=event.text,
        at=event.received_at,
    )
    work = await work_repo.lock_work_for_contact(tx.conn, event.contact_id)
    if work is None:
        return
    if event.from_customer and event.reopened and work.state in ("resolved", "closed"):
        work = await reopen(tx, work, SYSTEM, reason="the customer wrote again")
    elif event.from_customer and work.state == "pending_customer":
        work = await resume(tx, work, SYSTEM, reason="the customer replied")
    if work.state in OWNED or work.state == "offered":
        await _to_people(
            tx,
            work,
            "message",
            {
                "work_id": work.work_id,
                "contact_id": work.contact_id,
                "message": {
                    "message_id": event.message_id,
                    "from_customer": event.from_customer,
                    "text": event.text,
                    "received_at": event.received_at,
                },
            },
        )


async def on_reclassified(tx: Tx, event: ContactReclassifiedV1) -> None:
    await contact_repo.reclassify_contact(
        tx.conn,
        contact_id=event.contact_id,
        category=event.category,
        priority_class=event.priority_class,
        emergency=event.emergency,
    )
    work = await work_repo.lock_work_for_contact(tx.conn, event.contact_id)
    if work is None or work.state not in OPEN:
        return
    work_class = work_class_of(event.priority_class, event.emergency)
    changed = replace(work, work_class=work_class, category=event.category, updated_at=tx.now)
    if event.required_skills:
        changed = replace(changed, requirements=parse_requirements(event.required_skills, default_level=1))
    await work_repo.save_work(tx.conn, changed)
    await history(tx, changed, "reclassified", SYSTEM, work_class=work_class, by=event.by)
    await feed.notify_change(tx.conn, origin=tx.origin, pool=work.pool, kind="work", key=str(work.work_id))
    if event.emergency and await start_page(tx, changed):
        await page_emergency_team(tx, changed)  # became an emergency (a follow-up, an agent): paged as one


async def on_sla(tx: Tx, event: SlaWarningV1 | SlaBreachedV1 | SlaEscalatedV1) -> None:
    """Warnings and escalations raise the priority of the contact's work live; the owner's desktop is told."""
    work = await work_repo.lock_work_for_contact(tx.conn, event.contact_id)
    if work is None or work.state == "closed":
        return
    level = event.level if isinstance(event, SlaEscalatedV1) else 0
    kind = {SlaWarningV1: "warning", SlaBreachedV1: "breached", SlaEscalatedV1: "escalated"}[type(event)]
    changed = replace(work, sla_warned=True, escalation_level=max(work.escalation_level, level), updated_at=tx.now)
    if changed != work:
        await work_repo.save_work(tx.conn, changed)
        await history(
            tx, changed, f"sla_{kind}", SYSTEM, clock=event.clock, level=level, priority=priority_now(tx, changed)
        )
        await feed.notify_change(tx.conn, origin=tx.origin, pool=work.pool, kind="work", key=str(work.work_id))
    body = {
        "work_id": work.work_id,
        "contact_id": work.contact_id,
        "kind": kind,
        "clock": event.clock,
        "level": level,
        "due_at": getattr(event, "due_at", None),
        "at": event.at,
    }
    await _to_people(tx, changed, "sla", body)
    if isinstance(event, SlaEscalatedV1):
        await _to_escalation_role(tx, changed, event.target_role, {**body, "target_role": event.target_role})


async def _to_escalation_role(tx: Tx, work: WorkRecord, role: str, body: dict[str, Any]) -> None:
    """An escalation reaches the desktops of its target role: the emergency team, or the supervisors — of the
    work's team for a team lead (all supervisors when that team has none online), all of them for a supervisor
    or service manager (service managers watch from a supervisor desktop). The work is already at the top of the
    supervisor queue by its raised priority."""
    if role == "emergency_team":
        people = await agent_repo.online_agents_of_team(tx.conn, EMERGENCY_TIER, None)
    else:
        team = None
        if role == "team_lead":
            owner = await agent_repo.get_agent(tx.conn, work.owner_id) if work.owner_id else None
            team = work.target_team or (owner.team if owner is not None else None)
        people = await agent_repo.online_agents_of_team(tx.conn, SUPERVISOR_TIER, team)
        if not people and team is not None:
            people = await agent_repo.online_agents_of_team(tx.conn, SUPERVISOR_TIER, None)
    view = {**body, "work": work_view(tx, work)}
    for agent_id in sorted(set(people) - {work.owner_id, work.slot_agent_id}):
        await feed.to_desktop(tx.conn, agent_id=agent_id, kind="escalation", body=jsonable(view), now=tx.now)


async def on_followup_required(tx: Tx, event: FeedbackFollowupRequiredV1, *, pool: str) -> None:
    """A low score becomes follow-up (回访) work for a supervisor, by phone."""
    contact = await contact_repo.get_contact(tx.conn, event.contact_id)
    original = await work_repo.lock_work_for_contact(tx.conn, event.contact_id)
    await create_work(
        tx,
        contact_id=event.contact_id,
        kind="followup",
        pool=original.pool if original is not None else pool,
        channel="phone",
        customer_id=event.customer_id,
        grade=contact.grade if contact else "basic",
        work_class="followup",
        category=contact.category if contact else None,
        language=contact.language if contact else None,
        requirements=(),
        target_team=None,
        reason=f"follow-up after a low survey ({event.reason})",
    )


async def on_not_solved(tx: Tx, event: FeedbackNotSolvedV1) -> None:
    work = await work_repo.lock_work_for_contact(tx.conn, event.contact_id)
    if work is not None and work.state in ("resolved", "closed"):
        await reopen(tx, work, SYSTEM, reason="the customer answered: not solved")


async def on_suggested(tx: Tx, event: KnowledgeSuggestedV1) -> None:
    articles = [a.model_dump(mode="json") for a in event.articles]
    await contact_repo.save_suggestion(tx.conn, contact_id=event.contact_id, articles=articles, at=tx.now)
    work = await work_repo.lock_work_for_contact(tx.conn, event.contact_id)
    if work is not None and work.state in OWNED:
        await _to_people(
            tx, work, "suggestion", {"work_id": work.work_id, "contact_id": work.contact_id, "articles": articles}
        )


async def on_article_overdue(tx: Tx, event: KnowledgeArticleOverdueV1) -> None:
    """The owner of an article past its review-by date is told on their desktop (a desktop that reconnects with
    its last id gets what it missed, within the desktop retention); an owner who is no agent of routing's has no
    desktop to tell. Knowledge's overdue list stays the full record."""
    if await agent_repo.get_agent(tx.conn, event.owner) is None:
        return
    body = jsonable({"kind": "article_overdue", **event.model_dump(mode="json")})
    await feed.to_desktop(tx.conn, agent_id=event.owner, kind="notice", body=body, now=tx.now)


async def on_calendar_data_ending(tx: Tx, event: SlaCalendarDataEndingV1) -> None:
    """Supervisors' desktops (admins and service managers work from them) are told that a calendar runs out of
    holiday data; SLA repeats it daily, so a supervisor who was offline hears it the next day."""
    body = jsonable({"kind": "calendar_data_ending", **event.model_dump(mode="json")})
    for agent_id in sorted(await agent_repo.online_agents_of_tier(tx.conn, SUPERVISOR_TIER)):
        await feed.to_desktop(tx.conn, agent_id=agent_id, kind="notice", body=body, now=tx.now)


async def on_delivery_reported(tx: Tx, event: OutboundDeliveryReportedV1) -> None:
    """A receipt for a message of this contact: a failed reply reaches the people on the work live; an end
    notice that failed un-sets "customer notified" (the three clears are no longer met) until a new one is
    delivered."""
    if event.contact_id is None or event.kind not in ("reply", "end_notice"):
        return
    failed = event.status in ("failed", "bounced")
    if event.kind == "end_notice":
        reported = await end_notice_repo.report_end_notice(
            tx.conn, message_id=event.message_id, status=event.status, reason=event.reason, at=event.at
        )
        if reported is None or not reported[1] or not (failed or event.status in ("delivered", "read")):
            return
        work = await work_repo.get_work(tx.conn, reported[0], for_update=True)
        if work is None or work.customer_notified == (not failed):
            return
        work = replace(work, customer_notified=not failed, updated_at=tx.now)
        await work_repo.save_work(tx.conn, work)
        await history(
            tx, work, "end_notice_failed" if failed else "end_notice_delivered", SYSTEM, reason=event.reason
        )
    else:
        if not failed:
            return
        work = await work_repo.lock_work_for_contact(tx.conn, event.contact_id)
        if work is None:
            return
    body = {
        "work_id": work.work_id,
        "contact_id": work.contact_id,
        "message_id": event.message_id,
        "kind": event.kind,
        "channel": event.channel,
        "status": event.status,
        "reason": event.reason,
        "customer_notified": work.customer_notified,
        "at": event.at,
    }
    if failed:
        await _to_people(tx, work, "delivery_failed", body)
        for agent_id in {work.first_owner_id} - {None, work.owner_id, work.slot_agent_id}:
            await feed.to_desktop(
                tx.conn, agent_id=str(agent_id), kind="delivery_failed", body=jsonable(body), now=tx.now
            )


Dispatch = Callable[[Tx, Any], Awaitable[None]]
"""A use case for one consumed event type, called with the event of that type."""


def dispatch_table(*, pool: str) -> dict[type[Event], Dispatch]:
    """Which function handles which consumed event type; everything else is skipped."""

    async def received(tx: Tx, e: ContactReceivedV1) -> None:
        await on_contact_received(tx, e, pool=pool)

    async def followup(tx: Tx, e: FeedbackFollowupRequiredV1) -> None:
        await on_followup_required(tx, e, pool=pool)

    return {
        ContactReceivedV1: received,
        ContactMessageAddedV1: on_message_added,
        ContactReclassifiedV1: on_reclassified,
        SlaWarningV1: on_sla,
        SlaBreachedV1: on_sla,
        SlaEscalatedV1: on_sla,
        SlaCalendarDataEndingV1: on_calendar_data_ending,
        OutboundDeliveryReportedV1: on_delivery_reported,
        ContactAbandonedV1: on_abandoned,
        ContactCallbackAttemptedV1: on_callback_attempt,
        FeedbackFollowupRequiredV1: followup,
        FeedbackNotSolvedV1: on_not_solved,
        KnowledgeSuggestedV1: on_suggested,
        KnowledgeArticleOverdueV1: on_article_overdue,
    }
