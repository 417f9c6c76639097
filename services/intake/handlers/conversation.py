"""The conversation's use cases: an agent replies or notes, an adapter reports a delivery, and the events of the
other services become the contact's timeline and its owner.

A reply is stored, queued for sending (`outbound.message.requested`) and announced to the rest of the system
(`contact.message_added` from the agent: SLA stops the first-response clock, routing shows it on desktops) in
one transaction, or not at all.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.intake.domain.conversation import (
    FAILED,
    Attachment,
    ReplyRefused,
    check_text,
    may_write,
    next_status,
    route_reply,
)
from services.intake.repository import conversation as repo
from shared.db import Conn
from shared.events import (
    ContactAbandonedV1,
    ContactCallbackAttemptedV1,
    ContactMessageAddedV1,
    Event,
    FeedbackFollowupRequiredV1,
    FeedbackNotSolvedV1,
    OutboundAttachment,
    OutboundDeliveryReportedV1,
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
    encode,
)
from shared.kafka import Delivery
from shared.outbox import enqueue_many

log = logging.getLogger(__name__)

SOURCE = "switchboard/intake"


class ContactMissing(LookupError):
    pass


class NotYours(PermissionError):
    """Only the agent who owns the work, a supervisor or an admin may write on a contact."""


class ContactClosed(Exception):
    def __init__(self, work_id: uuid.UUID | None) -> None:
        how = (
            f"reopen it first (POST /api/routing/v1/work/{work_id}/reopen with a reason)"
            if work_id
            else "reopen it first"
        )
        super().__init__(f"the contact is closed; {how}")


class UnknownMessage(LookupError):
    pass


class WrongChannel(PermissionError):
    pass


@dataclass(frozen=True)
class Writer:
    role: str
    subject: str


@dataclass(frozen=True)
class Draft:
    text: str
    html: str | None = None
    channel: str | None = None
    attachments: tuple[Attachment, ...] = ()
    solution: bool = False
    based_on: dict[str, str] | None = None


@dataclass(frozen=True)
class Sent:
    reply_id: uuid.UUID
    contact_id: uuid.UUID
    channel: str
    subject: str | None
    headers: dict[str, str]
    first_reply: bool
    created_at: datetime


async def _writable(conn: Conn, contact_id: uuid.UUID, who: Writer) -> repo.ContactHead:
    head = await repo.lock_head(conn, contact_id)
    if head is None:
        raise ContactMissing(contact_id)
    if not may_write(role=who.role, subject=who.subject, owner_id=head.owner_id):
        raise NotYours(
            "only the agent who owns this contact's work, a supervisor or an admin may write on it"
            + (f" (owner: {head.owner_id})" if head.owner_id else " (nobody has accepted it yet)")
        )
    if head.status == "closed":
        raise ContactClosed(head.work_id)
    return head


async def caught_up(pool: asyncpg.Pool, contact_id: uuid.UUID, who: Writer, *, wait_s: float) -> None:
    """Intake learns who owns the work from routing's events, a moment after the agent's desktop does: an agent
    who answers at once (or right after a reopen) may be ahead of it. Wait up to `wait_s` for intake's view to
    say the agent may write; the transaction that follows decides."""
    if who.role != "agent" or wait_s <= 0:
        return
    deadline = time.monotonic() + wait_s
    while True:
        async with pool.acquire() as conn:
            head = await repo.get_head(conn, contact_id)
        if head is None or (
            may_write(role=who.role, subject=who.subject, owner_id=head.owner_id) and head.status != "closed"
        ):
            return
        if time.monotonic() >= deadline:
            return
        await asyncio.sleep(0.05)


async def reply(
    pool: asyncpg.Pool,
    *,
    contact_id: uuid.UUID,
    who: Writer,
    draft: Draft,
    domain: str,
    now: datetime,
    ownership_wait_s: float = 0.0,
) -> Sent:
    """Store the reply and queue it for sending, or raise and write nothing."""
    await caught_up(pool, contact_id, who, wait_s=ownership_wait_s)
    async with pool.acquire() as conn, conn.transaction():
        head = await _writable(conn, contact_id, who)
        if not draft.text.strip():
            raise ReplyRefused("the reply has no text", field="text")
        reply_id = uuid.uuid4()
        route = route_reply(
            await repo.reachable(conn, head), channel=draft.channel, reply_id=reply_id, domain=domain
        )
        check_text(route.channel, draft.text, draft.attachments, draft.html)
        if draft.html is not None and route.channel != "email":
            raise ReplyRefused("only e-mail carries HTML; send plain text on this channel", field="html")
        await repo.insert_reply(
            conn,
            reply_id=reply_id,
            contact_id=contact_id,
            author=who.subject,
            author_role=who.role,
            route=route,
            text=draft.text,
            html=draft.html,
            attachments=draft.attachments,
            solution=draft.solution,
            based_on=draft.based_on,
            now=now,
        )
        requested = OutboundMessageRequestedV1(
            message_id=reply_id,
            contact_id=contact_id,
            channel=route.channel,
            recipient=route.recipient,
            template="agent_reply",
            language=head.language or "zh-Hans",
            kind="reply",
            origin="intake",
            text=draft.text,
            html=draft.html,
            subject=route.subject,
            headers=dict(route.headers),
            attachments=[OutboundAttachment(**vars(a)) for a in draft.attachments],
        )
        added = ContactMessageAddedV1(
            contact_id=contact_id,
            message_id=reply_id,
            channel=route.channel,
            from_customer=False,
            text=draft.text,
            language=head.language,
            received_at=now,
            author=who.subject,
            solution=draft.solution,
        )
        await enqueue_many(conn, [_message(requested, contact_id, now), _message(added, contact_id, now)], now=now)
    return Sent(
        reply_id=reply_id,
        contact_id=contact_id,
        channel=route.channel,
        subject=route.subject,
        headers=dict(route.headers),
        first_reply=head.first_reply_at is None,
        created_at=now,
    )


async def note(
    pool: asyncpg.Pool,
    *,
    contact_id: uuid.UUID,
    who: Writer,
    text: str,
    now: datetime,
    ownership_wait_s: float = 0.0,
) -> uuid.UUID:
    """An internal note: never sent, visible on the timeline to whoever may see the contact."""
    await caught_up(pool, contact_id, who, wait_s=ownership_wait_s)
    async with pool.acquire() as conn, conn.transaction():
        head = await repo.lock_head(conn, contact_id)
        if head is None:
            raise ContactMissing(contact_id)
        if not may_write(role=who.role, subject=who.subject, owner_id=head.owner_id):
            raise NotYours("only the agent who owns this contact's work, a supervisor or an admin may note on it")
        note_id = uuid.uuid4()
        await repo.insert_note(
            conn,
            note_id=note_id,
            contact_id=contact_id,
            author=who.subject,
            author_role=who.role,
            text=text,
            now=now,
        )
    return note_id


@dataclass(frozen=True)
class Receipt:
    message_id: uuid.UUID
    contact_id: uuid.UUID | None
    status: str
    """The message's delivery state after the receipt."""
    changed: bool


async def take_receipt(
    pool: asyncpg.Pool,
    *,
    message_id: uuid.UUID,
    status: str,
    reported_at: datetime,
    reason: str | None,
    adapter: str,
    channels: frozenset[str],
    now: datetime,
) -> Receipt:
    """Record an adapter's receipt; a repeat has no second effect. A change of state is announced
    (`outbound.delivery_reported`): routing shows a failed reply on the owner's desktop and un-sets "customer
    notified" when an end notice failed."""
    async with pool.acquire() as conn, conn.transaction():
        message = await repo.lock_outbound(conn, message_id)
        if message is None:
            raise UnknownMessage(message_id)
        if channels and message.channel not in channels:
            raise WrongChannel(f"this adapter key may not report on {message.channel} messages")
        if not await repo.insert_receipt(
            conn,
            message_id=message_id,
            status=status,
            reported_at=reported_at,
            reason=reason,
            adapter=adapter,
            now=now,
        ):
            return Receipt(message_id, message.contact_id, message.status, changed=False)
        after = next_status(message.status, status)
        if after == message.status:
            return Receipt(message_id, message.contact_id, after, changed=False)
        await repo.set_outbound_status(conn, message_id=message_id, status=after, reason=reason, at=reported_at)
        reported = OutboundDeliveryReportedV1(
            message_id=message_id,
            contact_id=message.contact_id,
            origin=message.origin,
            kind=message.kind,
            channel=message.channel,
            status=after,
            reason=reason,
            at=reported_at,
        )
        subject = str(message.contact_id) if message.contact_id else f"message:{message_id}"
        await enqueue_many(conn, [encode(reported, source=SOURCE, subject=subject, time=now)], now=now)
    if after in FAILED:
        log.info("outbound %s %s on %s: %s", message.kind, after, message.channel, message_id)
    return Receipt(message_id, message.contact_id, after, changed=True)


class CustomerLeftTooLate(Exception):
    """The contact is already closed: nothing waits to be abandoned."""


async def customer_left(
    pool: asyncpg.Pool,
    *,
    contact_id: uuid.UUID,
    channels: frozenset[str],
    reason: str,
    at: datetime,
    callback: str,
    callback_at: datetime | None,
    callback_phone: str | None,
    now: datetime,
) -> None:
    """An adapter says the customer left before an answer (a hang-up, a visitor gone, a withdrawn form), maybe
    asking for a callback; routing decides whether the work was still waiting."""
    async with pool.acquire() as conn, conn.transaction():
        head = await repo.lock_head(conn, contact_id)
        if head is None or (channels and head.channel not in channels):
            raise ContactMissing(contact_id)
        if head.status == "closed":
            raise CustomerLeftTooLate()
        if callback != "none" and callback_phone is None:
            callback_phone = (await repo.reachable(conn, head)).phone
            if callback_phone is None:
                raise ReplyRefused("no number to call back: give callback_phone", field="callback_phone")
        event = ContactAbandonedV1(
            contact_id=contact_id,
            reason=reason,
            at=at,
            callback=callback,
            callback_at=callback_at,
            callback_phone=callback_phone,
        )
        await enqueue_many(conn, [_message(event, contact_id, now)], now=now)


async def callback_attempted(
    pool: asyncpg.Pool,
    *,
    contact_id: uuid.UUID,
    channels: frozenset[str],
    outcome: str,
    at: datetime,
    now: datetime,
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        head = await repo.get_head(conn, contact_id)
        if head is None or (channels and "phone" not in channels):
            raise ContactMissing(contact_id)
        event = ContactCallbackAttemptedV1(contact_id=contact_id, outcome=outcome, at=at)
        await enqueue_many(conn, [_message(event, contact_id, now)], now=now)


def _message(event: Event, contact_id: uuid.UUID, now: datetime) -> Any:
    return encode(event, source=SOURCE, subject=str(contact_id), time=now)


# --- the other services' events: the timeline and the owner -------------------------------------------------

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
TIMELINE_EVENTS: frozenset[type[Event]] = frozenset({*ROUTING_STEPS, *OTHER_STEPS, OutboundMessageRequestedV1})
"""What the timeline consumer acts on; everything else on its topics is skipped before the inbox."""

_NOT_DETAIL = {"contact_id", "work_id"}


async def on_timeline_event(conn: Conn, delivery: Delivery) -> None:
    event = delivery.decoded.event
    if isinstance(event, OutboundMessageRequestedV1):
        if event.origin != "intake" and event.kind != "reply":
            await repo.note_outbound(
                conn,
                message_id=event.message_id,
                contact_id=event.contact_id,
                origin=event.origin or delivery.decoded.envelope.source.removeprefix("switchboard/"),
                kind=event.kind or event.template,
                channel=event.channel,
                at=delivery.decoded.envelope.time,
            )
        return
    contact_id: uuid.UUID | None = getattr(event, "contact_id", None)
    if event is None or contact_id is None:
        return
    kind = ROUTING_STEPS.get(type(event)) or OTHER_STEPS[type(event)]
    detail = {k: v for k, v in event.model_dump(mode="json").items() if k not in _NOT_DETAIL}
    actor = detail.get("agent_id") or detail.get("from_agent_id")
    await repo.insert_step(
        conn,
        event_id=delivery.event_id,
        contact_id=contact_id,
        at=_at(event, delivery),
        kind=kind,
        actor=str(actor) if actor else None,
        detail=detail,
    )
    await _track_work(conn, event, contact_id, kind)


def _at(event: Event, delivery: Delivery) -> datetime:
    for name in ("at", "accepted_at", "resolved_at"):
        value = getattr(event, name, None)
        if isinstance(value, datetime):
            return value
    return delivery.decoded.envelope.time


async def _track_work(conn: Conn, event: Event, contact_id: uuid.UUID, kind: str) -> None:
    """Intake's view of the work: its id, state and owner (who may reply)."""
    work_id: uuid.UUID | None = getattr(event, "work_id", None)
    if work_id is None:
        return
    if isinstance(event, WorkAssignedV1):
        await repo.set_work(
            conn, contact_id=contact_id, work_id=work_id, state="assigned", owner=event.agent_id, set_owner=True,
            team=event.team,
        )  # fmt: skip
    elif isinstance(event, WorkTransferredV1):
        await repo.set_work(
            conn,
            contact_id=contact_id,
            work_id=work_id,
            state="transferred",
            owner=event.to_agent_id,
            set_owner=True,
        )
    else:
        await repo.set_work(conn, contact_id=contact_id, work_id=work_id, state=kind)
