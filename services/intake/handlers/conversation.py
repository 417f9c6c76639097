"""The conversation's use cases: an agent replies or notes, an adapter reports a delivery, a customer left or a
callback was tried (the other services' events become the timeline in `handlers/timeline.py`).

A reply is stored, queued for sending (`outbound.message.requested`) and announced to the rest of the system
(`contact.message_added` from the agent: SLA stops the first-response clock, routing shows it on desktops) in
one transaction, or not at all.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.intake.domain.conversation import (
    FAILED,
    Attachment,
    ReplyRefused,
    Route,
    check_text,
    may_write,
    next_status,
    route_reply,
)
from services.intake.handlers.common import SOURCE, Tx
from services.intake.repository import conversation as repo
from shared.db import Conn
from shared.events import (
    ContactAbandonedV1,
    ContactCallbackAttemptedV1,
    ContactMessageAddedV1,
    Event,
    OutboundAttachment,
    OutboundDeliveryReportedV1,
    OutboundMessageRequestedV1,
    encode,
)
from shared.outbox import enqueue_many

log = logging.getLogger(__name__)


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


async def reply(
    tx: Tx,
    *,
    contact_id: uuid.UUID,
    who: Writer,
    draft: Draft,
    domain: str,
) -> Sent:
    """Store the reply and queue it for sending, or raise and write nothing."""
    head = await _writable(tx.conn, contact_id, who)
    if not draft.text.strip():
        raise ReplyRefused("the reply has no text", field="text")
    reply_id = uuid.uuid4()
    route = route_reply(
        await repo.reachable(tx.conn, head), channel=draft.channel, reply_id=reply_id, domain=domain
    )
    check_text(route.channel, draft.text, draft.attachments, draft.html)
    if draft.html is not None and route.channel != "email":
        raise ReplyRefused("only e-mail carries HTML; send plain text on this channel", field="html")
    await repo.insert_reply(
        tx.conn,
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
        now=tx.now,
    )
    await _announce_reply(tx, head, reply_id, route, who, draft)
    return Sent(
        reply_id=reply_id,
        contact_id=contact_id,
        channel=route.channel,
        subject=route.subject,
        headers=dict(route.headers),
        first_reply=head.first_reply_at is None,
        created_at=tx.now,
    )


async def _announce_reply(
    tx: Tx, head: repo.ContactHead, reply_id: uuid.UUID, route: Route, who: Writer, draft: Draft
) -> None:
    """Stage the reply's sending (`outbound.message.requested`) and its announcement (`contact.message_added`)."""
    contact_id = head.contact_id
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
        received_at=tx.now,
        author=who.subject,
        solution=draft.solution,
    )
    await enqueue_many(
        tx.conn, [_message(requested, contact_id, tx.now), _message(added, contact_id, tx.now)], now=tx.now
    )


async def note(
    tx: Tx,
    *,
    contact_id: uuid.UUID,
    who: Writer,
    text: str,
) -> uuid.UUID:
    """An internal note: never sent, visible on the timeline to whoever may see the contact."""
    head = await repo.lock_head(tx.conn, contact_id)
    if head is None:
        raise ContactMissing(contact_id)
    if not may_write(role=who.role, subject=who.subject, owner_id=head.owner_id):
        raise NotYours("only the agent who owns this contact's work, a supervisor or an admin may note on it")
    note_id = uuid.uuid4()
    await repo.insert_note(
        tx.conn,
        note_id=note_id,
        contact_id=contact_id,
        author=who.subject,
        author_role=who.role,
        text=text,
        now=tx.now,
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
    tx: Tx,
    *,
    message_id: uuid.UUID,
    status: str,
    reported_at: datetime,
    reason: str | None,
    adapter: str,
    channels: frozenset[str],
) -> Receipt:
    """Record an adapter's receipt; a repeat has no second effect. A change of state is announced
    (`outbound.delivery_reported`): routing shows a failed reply on the owner's desktop and un-sets "customer
    notified" when an end notice failed."""
    message = await repo.lock_outbound(tx.conn, message_id)
    if message is None:
        raise UnknownMessage(message_id)
    if channels and message.channel not in channels:
        raise WrongChannel(f"this adapter key may not report on {message.channel} messages")
    if not await repo.insert_receipt(
        tx.conn,
        message_id=message_id,
        status=status,
        reported_at=reported_at,
        reason=reason,
        adapter=adapter,
        now=tx.now,
    ):
        return Receipt(message_id, message.contact_id, message.status, changed=False)
    after = next_status(message.status, status)
    if after == message.status:
        return Receipt(message_id, message.contact_id, after, changed=False)
    await repo.set_outbound_status(tx.conn, message_id=message_id, status=after, reason=reason, at=reported_at)
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
    await enqueue_many(tx.conn, [encode(reported, source=SOURCE, subject=subject, time=tx.now)], now=tx.now)
    if after in FAILED:
        log.info("outbound %s %s on %s: %s", message.kind, after, message.channel, message_id)
    return Receipt(message_id, message.contact_id, after, changed=True)


class CustomerLeftTooLate(Exception):
    """The contact is already closed: nothing waits to be abandoned."""


async def customer_left(
    tx: Tx,
    *,
    contact_id: uuid.UUID,
    channels: frozenset[str],
    reason: str,
    at: datetime,
    callback: str,
    callback_at: datetime | None,
    callback_phone: str | None,
) -> None:
    """An adapter says the customer left before an answer (a hang-up, a visitor gone, a withdrawn form), maybe
    asking for a callback; routing decides whether the work was still waiting."""
    head = await repo.lock_head(tx.conn, contact_id)
    if head is None or (channels and head.channel not in channels):
        raise ContactMissing(contact_id)
    if head.status == "closed":
        raise CustomerLeftTooLate()
    if callback != "none" and callback_phone is None:
        callback_phone = (await repo.reachable(tx.conn, head)).phone
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
    await enqueue_many(tx.conn, [_message(event, contact_id, tx.now)], now=tx.now)


async def callback_attempted(
    tx: Tx,
    *,
    contact_id: uuid.UUID,
    channels: frozenset[str],
    outcome: str,
    at: datetime,
) -> None:
    head = await repo.get_head(tx.conn, contact_id)
    if head is None or (channels and "phone" not in channels):
        raise ContactMissing(contact_id)
    event = ContactCallbackAttemptedV1(contact_id=contact_id, outcome=outcome, at=at)
    await enqueue_many(tx.conn, [_message(event, contact_id, tx.now)], now=tx.now)


def _message(event: Event, contact_id: uuid.UUID, now: datetime) -> Any:
    return encode(event, source=SOURCE, subject=str(contact_id), time=now)
