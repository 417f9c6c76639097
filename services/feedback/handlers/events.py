"""Consumed events: the contact projection and planning each resolution's invitation."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from services.feedback import repository as repo
from services.feedback.domain.policy import LANGUAGES, page_language
from services.feedback.domain.schedule import (
    ContactFacts,
    Invitation,
    Schedule,
    plan_invitation,
)
from services.feedback.handlers.publishing import publish, survey_event
from shared.events import (
    ContactReceivedV1,
    ContactReclassifiedV1,
    CustomerMergedV1,
    CustomerUnmergedV1,
    Event,
    OutboundDeliveryReportedV1,
    SurveyCancelledV1,
    SurveyScheduledV1,
    SurveySkippedV1,
    WorkAssignedV1,
    WorkReopenedV1,
    WorkResolvedV1,
)
from shared.tx import Tx

Dispatch = Callable[[Tx, Any], Awaitable[None]]
"""A use case for one consumed event type, called with the event of that type."""


def dispatch_table() -> dict[type[Event], Dispatch]:
    """Which use case handles which consumed event type; everything else is skipped before the inbox."""
    return {
        ContactReceivedV1: on_contact_received,
        ContactReclassifiedV1: on_contact_reclassified,
        WorkAssignedV1: on_work_assigned,
        WorkResolvedV1: on_work_resolved,
        WorkReopenedV1: on_work_reopened,
        CustomerMergedV1: on_customer_merged,
        CustomerUnmergedV1: on_customer_unmerged,
        OutboundDeliveryReportedV1: on_delivery_reported,
    }


async def handle(tx: Tx, event: Event | None, *, table: Mapping[type[Event], Dispatch] | None = None) -> None:
    """The one consumer of intake.contacts and routing.work: the event's use case from the table, if it has one."""
    if event is None:
        return
    handler = (dispatch_table() if table is None else table).get(type(event))
    if handler is not None:
        await handler(tx, event)


async def on_contact_reclassified(tx: Tx, event: ContactReclassifiedV1) -> None:
    await repo.set_contact_category(
        tx.conn, contact_id=event.contact_id, category=event.category, now=tx.now, subcategory=event.subcategory
    )


async def on_work_assigned(tx: Tx, event: WorkAssignedV1) -> None:
    await repo.set_contact_agent(
        tx.conn, contact_id=event.contact_id, agent_id=event.agent_id, team=event.team, now=tx.now
    )


async def on_customer_merged(tx: Tx, event: CustomerMergedV1) -> None:
    await repo.merge_customer(tx.conn, merged=event.merged_customer_id, surviving=event.surviving_customer_id)


async def on_customer_unmerged(tx: Tx, event: CustomerUnmergedV1) -> None:
    await repo.unmerge_customer(tx.conn, merged=event.merged_customer_id, surviving=event.surviving_customer_id)


async def on_delivery_reported(tx: Tx, event: OutboundDeliveryReportedV1) -> None:
    """Receipts for every service's messages go to intake, which checked the adapter's key and reports them;
    feedback keeps those of its own messages."""
    if event.origin != "feedback":
        return
    await repo.record_receipt(
        tx.conn,
        message_id=event.message_id,
        status=event.status,
        detail=event.reason,
        reported_at=event.at,
        by="intake",
        now=tx.now,
    )


async def on_contact_received(tx: Tx, event: ContactReceivedV1) -> None:
    conn, now = tx.conn, tx.now
    reply = event.reply_to
    facts = ContactFacts(
        contact_id=event.contact_id,
        channel=event.channel,
        customer_id=event.customer.customer_id,
        grade=event.customer.grade,
        category=event.category,
        language=event.language,
        phone=reply.phone if reply else None,
        email=reply.email if reply else None,
        chat_session=reply.chat_session if reply else None,
        time_zone=(reply.time_zone if reply else None) or event.customer.attributes.get("time_zone"),
        value_tier=event.customer.attributes.get("value_tier"),
        risk_level=event.customer.attributes.get("risk_level"),
        lifecycle_stage=event.customer.attributes.get("lifecycle_stage"),
        subcategory=event.subcategory,
    )
    await repo.upsert_contact(conn, facts=facts, now=now)
    # A resolution seen before its contact (the two topics are not ordered together) is planned now.
    stored = await repo.get_contact(conn, contact_id=event.contact_id)
    for waiting in await repo.lock_waiting(conn, contact_id=event.contact_id):
        planned = await _plan(tx, waiting, stored)
        await repo.update_planned(conn, invitation=planned)


async def on_work_resolved(tx: Tx, event: WorkResolvedV1) -> None:
    """Plan the survey of this resolution: scheduled (a durable row the scheduler fires) or skipped."""
    conn, now = tx.conn, tx.now
    facts = await repo.get_contact(conn, contact_id=event.contact_id)
    base = Invitation(
        invitation_id=uuid.uuid4(),
        contact_id=event.contact_id,
        work_id=event.work_id,
        resolved_at=event.resolved_at,
        status="waiting_contact",
        agent_id=event.agent_id,
        team=event.team,
        fcr=event.fcr,
        customer_notified=event.customer_notified,
        created_at=now,
    )
    invitation = base if facts is None else await _plan(tx, base, facts)
    await repo.insert_invitation(conn, invitation=invitation)


async def _plan(tx: Tx, invitation: Invitation, facts: ContactFacts | None) -> Invitation:
    """Decide and announce; the caller stores the result."""
    if facts is None:
        return invitation
    conn, now = tx.conn, tx.now
    policy = await repo.get_policy(conn, channel=facts.channel)
    await repo.lock_customer(conn, customer_id=facts.customer_id)
    last = await repo.last_surveyed_at(conn, customer_id=facts.customer_id, other_than=invitation.invitation_id)
    decision = plan_invitation(policy, facts, resolved_at=invitation.resolved_at, last_surveyed_at=last)
    filled = dataclasses.replace(
        invitation,
        channel=facts.channel,
        customer_id=facts.customer_id,
        grade=facts.grade,
        category=facts.category,
        team=invitation.team or facts.team,
        language=page_language(facts.language, policy.languages if policy else LANGUAGES),
        time_zone=facts.time_zone,
        policy_version=policy.version if policy else None,
    )
    if isinstance(decision, Schedule):
        assert policy is not None
        filled = dataclasses.replace(
            filled,
            status="scheduled",
            invite_channel=policy.invite_channel,
            recipient=decision.recipient,
            due_at=decision.due_at,
        )
        await publish(
            tx, survey_event(SurveyScheduledV1, filled, due_at=decision.due_at), contact_id=filled.contact_id
        )
        return filled
    filled = dataclasses.replace(filled, status="skipped", reason=decision.reason, closed_at=now)
    await publish(tx, survey_event(SurveySkippedV1, filled, reason=decision.reason), contact_id=filled.contact_id)
    return filled


async def on_work_reopened(tx: Tx, event: WorkReopenedV1) -> None:
    """A reopened contact is not finished: withdraw whatever invitation has not gone out yet."""
    cancelled = await repo.cancel_scheduled(tx.conn, contact_id=event.contact_id, reason="reopened", now=tx.now)
    for invitation in cancelled:
        await publish(
            tx, survey_event(SurveyCancelledV1, invitation, reason="reopened"), contact_id=event.contact_id
        )
