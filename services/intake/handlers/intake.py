"""Accepting an inbound message: dedupe, identify, thread, classify, publish.

Accepting is one core (`duplicate_by_key`, then `accept_found` once the message's lookup is made) that two paths
call: here one message (`accept_one`, `accept_in`) in the caller's transaction, written at once; in
`handlers/commit.py` many messages in one transaction (batches, the group commit), written together through its
`Staging`.

Every state change and the events it announces commit together (outbox). A concurrent post of the same message
or of a brand-new identity loses a unique-key race; the entry point rolls it back and runs it again
(`handlers.common.retried`), and then it sees the winner.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from services.intake.domain.classification import Classification, Facts, classify, more_urgent
from services.intake.domain.contact import (
    Inbound,
    ThreadDecision,
    carried,
    keyed,
    lock_keys,
    storable,
    thread_decision,
)
from services.intake.domain.customer import tracked_reason
from services.intake.domain.identity import Identification, identify
from services.intake.domain.text import normalise_subject
from services.intake.handlers.common import Tx
from services.intake.handlers.rules import RulesCache
from services.intake.handlers.settings import ThreadPolicyCache
from services.intake.handlers.writes import AT_ONCE, Writes, announce_received, reclassify
from services.intake.repository import contacts, customers
from shared.events import ContactMessageAddedV1


@dataclass(frozen=True)
class Accepting:
    """What accepting a message reads besides its transaction: the rule set and the threading windows in force
    (cached; the routes that show and replace them use the same caches) and how much text an event carries."""

    rules: RulesCache
    threads: ThreadPolicyCache
    """The threading windows in force (admin data) and the retry window."""
    event_text_chars: int = 32_000
    """Longest text an event carries (`IntakeSettings.event_text_chars`)."""


@dataclass(frozen=True)
class Accepted:
    contact_id: uuid.UUID
    message_id: uuid.UUID
    outcome: Literal["created", "threaded", "duplicate"]


def prepared(inbound: Inbound, *, retry_window: timedelta, now: datetime) -> Inbound:
    """A message as it arrives, made ready to store: scrubbed, and its natural key set for the time it came."""
    return keyed(storable(inbound), now=now, window=retry_window)


async def accept_one(
    tx: Tx, how: Accepting, inbound: Inbound, *, adapter: str, idempotency_key: str | None
) -> Accepted:
    """One message (already `prepared`) alone in the caller's transaction; the entry point runs it again when it
    loses a race (`handlers.common.retried`)."""
    if inbound.earlier_keys:
        # Its earlier post may be stored under another period's key, which no unique index ties to this one:
        # a concurrent retry waits for it here instead.
        await contacts.lock(tx.conn, keys=lock_keys([inbound]))
    return await accept_in(tx, how, inbound, adapter=adapter, idempotency_key=idempotency_key)


async def accept_in(
    tx: Tx, how: Accepting, inbound: Inbound, *, adapter: str, idempotency_key: str | None
) -> Accepted:
    """One message (already `prepared`) inside the caller's transaction, written at once.

    A new contact from a new customer costs four statements besides BEGIN/COMMIT: the lookup (natural key,
    identities, thread keys), the customer with its identities, the contact with its message and keys, the
    outbox row. The group commit makes each kind of statement one round trip for all its messages.
    """
    duplicate = await duplicate_by_key(tx, adapter=adapter, idempotency_key=idempotency_key)
    if duplicate is not None:
        return duplicate
    found = await contacts.lookup(tx.conn, inbound=inbound)
    return await accept_found(
        tx, how, inbound, adapter=adapter, idempotency_key=idempotency_key, found=found, writes=AT_ONCE
    )


# --- the core both paths share: one message, once its lookup is made ---------------------------------------


async def duplicate_by_key(tx: Tx, *, adapter: str, idempotency_key: str | None) -> Accepted | None:
    """The message this adapter already posted under this `Idempotency-Key`, if any."""
    if idempotency_key is None:
        return None
    seen = await contacts.find_idempotency_key(tx.conn, adapter=adapter, key=idempotency_key)
    return Accepted(seen.contact_id, seen.message_id, "duplicate") if seen is not None else None


@dataclass(frozen=True)
class _Message:
    """One message on its way through the core: what came, who posted it, how its writes are made."""

    inbound: Inbound
    adapter: str
    idempotency_key: str | None
    writes: Writes


async def accept_found(
    tx: Tx,
    how: Accepting,
    inbound: Inbound,
    *,
    adapter: str,
    idempotency_key: str | None,
    found: contacts.Lookup,
    writes: Writes,
) -> Accepted:
    """One message (already `prepared`, no duplicate by key) once its lookup is made, in the caller's transaction
    at `tx.now`: a duplicate by natural key, or its sender, thread and classification stored and announced
    through `writes`."""
    if found.seen is not None:
        if idempotency_key is not None:
            await contacts.insert_idempotency_key(
                tx.conn, adapter=adapter, key=idempotency_key, seen=found.seen, now=tx.now
            )
        return Accepted(found.seen.contact_id, found.seen.message_id, "duplicate")
    message = _Message(inbound, adapter, idempotency_key, writes)
    who = identify(inbound.identities, found.known)
    sender = await _sender(tx, message, who, found)
    subject_key = normalise_subject(inbound.subject) if inbound.channel == "email" else ""
    decision = await _thread(tx, how, inbound, sender, found, subject_key)
    message_id = uuid.uuid4()
    facts = Facts(
        text=inbound.text,
        subject=inbound.subject or "",
        channel=inbound.channel,
        ivr_selections=inbound.ivr_selections,
        customer=sender.attributes,
    )
    classification = classify(await how.rules.get(tx.conn), facts)
    if decision.contact_id is not None:
        return await _add_to_thread(
            tx, how, message, sender, decision, message_id=message_id, follow_up=classification
        )
    return await _open_contact(
        tx,
        how,
        message,
        sender,
        message_id=message_id,
        subject_key=subject_key,
        classification=classification,
        who=who,
    )


@dataclass(frozen=True)
class _Sender:
    customer_id: uuid.UUID
    attributes: dict[str, str]
    """Grade and tiers (`basic` for a customer met just now)."""
    is_new: bool


async def _sender(tx: Tx, message: _Message, who: Identification, found: contacts.Lookup) -> _Sender:
    """The customer who sent the message: the one its identities name, or the one whose conversation it
    continues, or a new `basic` customer with every identity it shows."""
    inbound, writes = message.inbound, message.writes
    source = f"contact:{inbound.channel}"
    if who.customer_id is None and not who.link and found.thread is not None:
        # Nothing identifies the sender, but the message continues a conversation: it is that customer's.
        customer_id = found.thread.customer_id
        await writes.settle(tx, customer_id)
        attributes = await customers.customer_attributes(tx.conn, customer_id=customer_id)
        return _Sender(customer_id, attributes, is_new=False)
    if who.customer_id is None:
        customer_id = uuid.uuid4()
        await writes.new_customer(
            tx, customers.NewCustomer(customer_id, inbound.sender_name, who.link, source, tx.now)
        )
        return _Sender(customer_id, {"grade": "basic", "pii_level": "general"}, is_new=True)
    customer_id = who.customer_id
    await writes.settle(tx, customer_id)  # its contacts staged by earlier messages must be visible
    if who.link:
        await customers.link_identities(
            tx.conn, customer_id=customer_id, identities=who.link, source=source, now=tx.now
        )
    return _Sender(customer_id, found.attributes.get(customer_id, {"grade": "basic"}), is_new=False)


async def _thread(
    tx: Tx, how: Accepting, inbound: Inbound, sender: _Sender, found: contacts.Lookup, subject_key: str
) -> ThreadDecision:
    """Which open contact the message continues, if any: by thread key, then by subject (email), then by the
    customer's latest contact on the channel within the channel's window."""
    policy = await how.threads.get(tx.conn)
    by_key = found.thread
    by_subject = (
        await contacts.contact_by_subject(tx.conn, customer_id=sender.customer_id, subject_key=subject_key)
        if by_key is None and subject_key and not sender.is_new
        else None
    )
    by_customer = (
        await contacts.contact_by_customer(tx.conn, customer_id=sender.customer_id, channel=inbound.channel)
        if by_key is None
        and by_subject is None
        and not sender.is_new
        and policy.customer_windows.get(inbound.channel)
        else None
    )
    return thread_decision(
        by_key=by_key,
        by_subject=by_subject,
        by_customer=by_customer,
        channel=inbound.channel,
        policy=policy,
        now=tx.now,
    )


async def _add_to_thread(
    tx: Tx,
    how: Accepting,
    message: _Message,
    sender: _Sender,
    decision: ThreadDecision,
    *,
    message_id: uuid.UUID,
    follow_up: Classification,
) -> Accepted:
    """The message joins its open (or reopened) contact; a follow-up more urgent than the contact reclassifies
    it."""
    inbound, writes = message.inbound, message.writes
    contact_id = decision.contact_id
    assert contact_id is not None
    touched = await contacts.add_message(
        tx.conn,
        contact_id=contact_id,
        message_id=message_id,
        inbound=inbound,
        reopen=decision.reopen,
        adapter=message.adapter,
        idempotency_key=message.idempotency_key,
        now=tx.now,
        tracked=None if inbound.automatic else tracked_reason(sender.attributes),
    )
    text, cut = carried(inbound.text, how.event_text_chars)
    await writes.publish(
        tx,
        ContactMessageAddedV1(
            contact_id=contact_id,
            message_id=message_id,
            channel=touched.channel,
            from_customer=not inbound.automatic,
            text=text,
            language=inbound.language,
            received_at=tx.now,
            reopened=decision.reopen,
            text_truncated=cut,
        ),
        contact_id=contact_id,
    )
    if not inbound.automatic and more_urgent(follow_up, touched.priority_class, touched.emergency):
        await reclassify(tx, contact_id, follow_up, by=follow_up.by, writes=writes)
    return Accepted(contact_id, message_id, "threaded")


async def _open_contact(
    tx: Tx,
    how: Accepting,
    message: _Message,
    sender: _Sender,
    *,
    message_id: uuid.UUID,
    subject_key: str,
    classification: Classification,
    who: Identification,
) -> Accepted:
    """The message opens a new contact of its sender's."""
    inbound = message.inbound
    new_contact = contacts.NewContact(
        contact_id=uuid.uuid4(),
        message_id=message_id,
        inbound=inbound,
        customer_id=sender.customer_id,
        subject_key=subject_key,
        classification=classification,
        conflicts=who.conflicts,
        adapter=message.adapter,
        idempotency_key=message.idempotency_key,
        now=tx.now,
        status="ignored" if inbound.automatic else "received",
        tracked=None if inbound.automatic else tracked_reason(sender.attributes),
    )
    await message.writes.new_contact(tx, new_contact)
    if not inbound.automatic:
        # An auto-reply or bounce opens no work: kept (and shown) as an ignored contact, nothing published.
        await announce_received(
            tx,
            inbound,
            new_contact,
            grade=sender.attributes.get("grade", "basic"),
            attributes={k: v for k, v in sender.attributes.items() if k != "grade"},
            event_text_chars=how.event_text_chars,
            writes=message.writes,
        )
    return Accepted(new_contact.contact_id, message_id, "created")
