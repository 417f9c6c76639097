"""The other services' events as the contact's timeline and intake's view of its work (its id, state and owner,
who may reply), and other services' outbound messages noted so their receipts find them. Each runs in the inbox
transaction that claimed the event (`handlers/events.py` says which event goes where)."""

from __future__ import annotations

import uuid
from datetime import datetime

from services.intake.handlers.common import Tx
from services.intake.repository import conversation as repo
from shared.events import (
    Event,
    FeedbackFollowupRequiredV1,
    FeedbackNotSolvedV1,
    OutboundMessageRequestedV1,
    SlaBreachedV1,
    SlaEscalatedV1,
    SlaMetV1,
    SlaMissedV1,
    SlaWarningV1,
    SurveyAnsweredV1,
    SurveySentV1,
    WorkAbandonedV1,
    WorkAssignedV1,
    WorkCallbackScheduledV1,
    WorkClosedV1,
    WorkOfferDeclinedV1,
    WorkOfferedV1,
    WorkOfferExpiredV1,
    WorkPendingV1,
    WorkQueuedV1,
    WorkReopenedV1,
    WorkResolvedV1,
    WorkResumedV1,
    WorkSolutionRecordedV1,
    WorkTransferredV1,
)
from shared.kafka import Delivery

ROUTING_STEPS: dict[type[Event], str] = {
    WorkQueuedV1: "queued",
    WorkOfferedV1: "offered",
    WorkOfferDeclinedV1: "offer_declined",
    WorkOfferExpiredV1: "offer_expired",
    WorkAssignedV1: "accepted",
    WorkTransferredV1: "transferred",
    WorkPendingV1: "pending",
    WorkResumedV1: "resumed",
    WorkSolutionRecordedV1: "solution_recorded",
    WorkResolvedV1: "resolved",
    WorkReopenedV1: "reopened",
    WorkClosedV1: "closed",
    WorkAbandonedV1: "abandoned",
    WorkCallbackScheduledV1: "callback_scheduled",
}
OTHER_STEPS: dict[type[Event], str] = {
    SlaWarningV1: "sla_warning",
    SlaBreachedV1: "sla_breached",
    SlaEscalatedV1: "sla_escalated",
    SlaMetV1: "sla_met",
    SlaMissedV1: "sla_missed",
    SurveySentV1: "survey_sent",
    SurveyAnsweredV1: "survey_answered",
    FeedbackNotSolvedV1: "customer_not_solved",
    FeedbackFollowupRequiredV1: "followup_required",
}
STEPS: dict[type[Event], str] = {**ROUTING_STEPS, **OTHER_STEPS}
"""Every event type that is a step on the contact's timeline, and the step's kind."""

_NOT_DETAIL = {"contact_id", "work_id"}


async def note_outbound(tx: Tx, event: OutboundMessageRequestedV1, delivery: Delivery) -> None:
    """Another service's outbound message (an end notice, a survey…): noted so its receipts find it."""
    if event.origin != "intake" and event.kind != "reply":
        await repo.note_outbound(
            tx.conn,
            message_id=event.message_id,
            contact_id=event.contact_id,
            origin=event.origin or delivery.decoded.envelope.source.removeprefix("switchboard/"),
            kind=event.kind or event.template,
            channel=event.channel,
            at=delivery.decoded.envelope.time,
        )


async def add_step(tx: Tx, event: Event, delivery: Delivery) -> None:
    """One step on the contact's timeline (a `STEPS` type), and intake's view of the work it names."""
    contact_id: uuid.UUID | None = getattr(event, "contact_id", None)
    if contact_id is None:
        return
    kind = STEPS[type(event)]
    detail = {k: v for k, v in event.model_dump(mode="json").items() if k not in _NOT_DETAIL}
    actor = detail.get("agent_id") or detail.get("from_agent_id")
    await repo.insert_step(
        tx.conn,
        event_id=delivery.event_id,
        contact_id=contact_id,
        at=_at(event, delivery),
        kind=kind,
        actor=str(actor) if actor else None,
        detail=detail,
    )
    await _track_work(tx, event, contact_id, kind)


def _at(event: Event, delivery: Delivery) -> datetime:
    for name in ("at", "accepted_at", "resolved_at"):
        value = getattr(event, name, None)
        if isinstance(value, datetime):
            return value
    return delivery.decoded.envelope.time


async def _track_work(tx: Tx, event: Event, contact_id: uuid.UUID, kind: str) -> None:
    """Intake's view of the work: its id, state and owner (who may reply)."""
    work_id: uuid.UUID | None = getattr(event, "work_id", None)
    if work_id is None:
        return
    if isinstance(event, WorkAssignedV1):
        await repo.set_work(
            tx.conn, contact_id=contact_id, work_id=work_id, state="assigned", owner=event.agent_id,
            set_owner=True, team=event.team,
        )  # fmt: skip
    elif isinstance(event, WorkTransferredV1):
        await repo.set_work(
            tx.conn,
            contact_id=contact_id,
            work_id=work_id,
            state="transferred",
            owner=event.to_agent_id,
            set_owner=True,
        )
    else:
        await repo.set_work(tx.conn, contact_id=contact_id, work_id=work_id, state=kind)
