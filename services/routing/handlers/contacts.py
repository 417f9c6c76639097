"""Contacts from intake: received (queued as new work, the emergency team paged), a message added (a reply may
resume or reopen the work), reclassified; and new work of another kind (`create_work`, for a follow-up). Each
runs in the inbox transaction that claimed the event, or the caller's."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from services.routing.domain.lifecycle import OPEN, OWNED
from services.routing.domain.model import parse_requirements, primary_language
from services.routing.domain.paging import EMERGENCY_TIER
from services.routing.domain.records import ContactRecord, WorkRecord
from services.routing.handlers.common import SOURCE, SYSTEM, Tx, change_notice, history, queued_event
from services.routing.handlers.lifecycle import reopen, resume
from services.routing.handlers.paging import start_page
from services.routing.handlers.views import work_view
from services.routing.handlers.work_steps import tell_people
from services.routing.repository import agents as agent_repo
from services.routing.repository import contacts as contact_repo
from services.routing.repository import feed
from services.routing.repository import history as history_repo
from services.routing.repository import work as work_repo
from shared.events import (
    ContactMessageAddedV1,
    ContactReceivedV1,
    ContactReclassifiedV1,
    OutgoingMessage,
    encode,
)
from shared.outbox import enqueue_many


def work_class_of(priority_class: str, emergency: bool) -> str:
    return "urgent" if emergency else priority_class


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
        await tell_people(
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
