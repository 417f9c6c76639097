"""Intake's transactions: accepting an inbound message (dedupe, identify, thread, classify, publish), agent
reclassification, and the routing events that tell intake a contact was resolved, closed or reopened.

Accepting is one core (`duplicate_by_key`, then `accept_found` once the message's lookup is made) that two paths
call: here a message in a transaction of its own (`accept`, `accept_in`), written at once; in `handlers/commit.py`
many messages in one transaction (batches, the group commit), written together through its `Staging`.

Every state change and the events it announces commit together (outbox). A concurrent post of the same message
or of a brand-new identity loses a unique-key race, rolls back and is run again, and then sees the winner.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import asyncpg

from services.intake.domain.classification import (
    INCIDENT_CATEGORIES,
    Classification,
    Facts,
    RuleSet,
    classify,
    more_urgent,
)
from services.intake.domain.contact import (
    EVENT_SUBJECT_CHARS,
    Inbound,
    ThreadDecision,
    carried,
    keyed,
    lock_keys,
    reach_back,
    storable,
    thread_decision,
)
from services.intake.domain.customer import tracked_reason
from services.intake.domain.identity import Identification, identify
from services.intake.domain.text import normalise_subject
from services.intake.handlers.settings import ThreadPolicyCache
from services.intake.repository import contacts, customers, rules
from shared.audit import record
from shared.db import Conn
from shared.events import (
    ContactMessageAddedV1,
    ContactReceivedV1,
    ContactReclassifiedV1,
    CustomerRef,
    Event,
    ReplyTo,
    WorkClosedV1,
    WorkReopenedV1,
    WorkResolvedV1,
)
from shared.kafka import Delivery
from shared.outbox import enqueue

log = logging.getLogger(__name__)

SOURCE = "switchboard/intake"
RULES_TTL_S = 2.0


class RulesCache:
    """The rule set in force, re-read when another process (or this one) stored a newer version."""

    def __init__(self) -> None:
        self._rules: RuleSet | None = None
        self._checked = 0.0

    async def get(self, conn: Conn) -> RuleSet:
        if self._rules is None:
            self._rules = await rules.latest_ruleset(conn)
            self._checked = time.monotonic()
        elif time.monotonic() - self._checked > RULES_TTL_S:
            self._checked = time.monotonic()
            if await rules.latest_version(conn) != self._rules.version:
                self._rules = await rules.latest_ruleset(conn)
        return self._rules

    def invalidate(self) -> None:
        self._rules = None


@dataclass(frozen=True)
class Deps:
    pool: asyncpg.Pool
    threads: ThreadPolicyCache
    """The threading windows in force (admin data) and the retry window."""
    rules: RulesCache
    event_text_chars: int = 32_000
    """Longest text an event carries (`IntakeSettings.event_text_chars`)."""


@dataclass(frozen=True)
class Accepted:
    contact_id: uuid.UUID
    message_id: uuid.UUID
    outcome: Literal["created", "threaded", "duplicate"]


class LostRace(Exception):
    """A concurrent transaction claimed an identity this one needed; run again to see it."""


class Busy(Exception):
    """Concurrent writers kept colliding (deadlocks, races) past the retries: the caller should retry later."""


RETRYABLE = (asyncpg.UniqueViolationError, asyncpg.DeadlockDetectedError, LostRace)
ATTEMPTS = 4


class Writes:
    """How accepting one message writes its new customer, its new contact and its events: at once, in the
    caller's transaction. The group commit's `Staging` (`handlers/commit.py`) holds them instead, to write many
    messages' together."""

    async def settle(self, conn: Conn, customer_id: uuid.UUID) -> None:
        """Make what waits to be written of this customer visible before it is read (nothing waits here)."""

    async def new_customer(self, conn: Conn, new: customers.NewCustomer) -> None:
        """`LostRace` if another writer took one of its identities."""
        if (await customers.insert_customers_with_identities(conn, customers=[new]))[0] < len(new.identities):
            raise LostRace

    async def new_contact(self, conn: Conn, new: contacts.NewContact) -> None:
        await contacts.insert_contacts_with_messages(conn, contacts=[new])

    async def publish(self, conn: Conn, event: Event, *, contact_id: uuid.UUID, now: datetime) -> None:
        await enqueue(conn, event, source=SOURCE, subject=str(contact_id), now=now)


AT_ONCE = Writes()


def prepared(inbound: Inbound, *, retry_window: timedelta, now: datetime) -> Inbound:
    """A message as it arrives, made ready to store: scrubbed, and its natural key set for the time it came."""
    return keyed(storable(inbound), now=now, window=retry_window)


async def accept(
    deps: Deps, inbound: Inbound, *, adapter: str, idempotency_key: str | None, now: datetime
) -> Accepted:
    """One message (already `prepared`) in a transaction of its own."""
    for attempt in range(ATTEMPTS):
        try:
            async with deps.pool.acquire() as conn, conn.transaction():
                if inbound.earlier_keys:
                    # Its earlier post may be stored under another period's key, which no unique index ties to
                    # this one: a concurrent retry waits for it here instead.
                    await contacts.lock(conn, keys=lock_keys([inbound]))
                return await accept_in(
                    conn, deps, inbound, adapter=adapter, idempotency_key=idempotency_key, now=now
                )
        except RETRYABLE as exc:
            log.info("intake: %s on a %s message; running it again", type(exc).__name__, inbound.channel)
            if attempt == ATTEMPTS - 1:
                raise Busy(str(exc)) from exc
    raise AssertionError("unreachable")


async def accept_in(
    conn: Conn, deps: Deps, inbound: Inbound, *, adapter: str, idempotency_key: str | None, now: datetime
) -> Accepted:
    """One message (already `prepared`) inside the caller's transaction, written at once.

    A new contact from a new customer costs four statements besides BEGIN/COMMIT: the lookup (natural key,
    identities, thread keys), the customer with its identities, the contact with its message and keys, the
    outbox row. The group commit makes each kind of statement one round trip for all its messages.
    """
    duplicate = await duplicate_by_key(conn, adapter=adapter, idempotency_key=idempotency_key)
    if duplicate is not None:
        return duplicate
    found = await contacts.lookup(conn, inbound=inbound)
    return await accept_found(
        conn, deps, inbound, adapter=adapter, idempotency_key=idempotency_key, now=now, found=found, writes=AT_ONCE
    )


# --- the core both paths share: one message, once its lookup is made ---------------------------------------


async def duplicate_by_key(conn: Conn, *, adapter: str, idempotency_key: str | None) -> Accepted | None:
    """The message this adapter already posted under this `Idempotency-Key`, if any."""
    if idempotency_key is None:
        return None
    seen = await contacts.find_idempotency_key(conn, adapter=adapter, key=idempotency_key)
    return Accepted(seen.contact_id, seen.message_id, "duplicate") if seen is not None else None


async def accept_found(
    conn: Conn,
    deps: Deps,
    inbound: Inbound,
    *,
    adapter: str,
    idempotency_key: str | None,
    now: datetime,
    found: contacts.Lookup,
    writes: Writes,
) -> Accepted:
    """One message (already `prepared`, no duplicate by key) once its lookup is made, in the caller's transaction:
    a duplicate by natural key, or its sender, thread and classification stored and announced through `writes`."""
    if found.seen is not None:
        if idempotency_key is not None:
            await contacts.insert_idempotency_key(
                conn, adapter=adapter, key=idempotency_key, seen=found.seen, now=now
            )
        return Accepted(found.seen.contact_id, found.seen.message_id, "duplicate")
    who = identify(inbound.identities, found.known)
    sender = await _sender(conn, inbound, who, found, writes, now=now)
    subject_key = normalise_subject(inbound.subject) if inbound.channel == "email" else ""
    decision = await _thread(conn, deps, inbound, sender, found, subject_key, now=now)
    message_id = uuid.uuid4()
    facts = Facts(
        text=inbound.text,
        subject=inbound.subject or "",
        channel=inbound.channel,
        ivr_selections=inbound.ivr_selections,
        customer=sender.attributes,
    )
    classification = classify(await deps.rules.get(conn), facts)
    if decision.contact_id is not None:
        return await _add_to_thread(
            conn,
            deps,
            inbound,
            sender,
            decision,
            message_id=message_id,
            follow_up=classification,
            adapter=adapter,
            idempotency_key=idempotency_key,
            writes=writes,
            now=now,
        )
    return await _open_contact(
        conn,
        deps,
        inbound,
        sender,
        message_id=message_id,
        subject_key=subject_key,
        classification=classification,
        who=who,
        adapter=adapter,
        idempotency_key=idempotency_key,
        writes=writes,
        now=now,
    )


@dataclass(frozen=True)
class _Sender:
    customer_id: uuid.UUID
    attributes: dict[str, str]
    """Grade and tiers (`basic` for a customer met just now)."""
    is_new: bool


async def _sender(
    conn: Conn, inbound: Inbound, who: Identification, found: contacts.Lookup, writes: Writes, *, now: datetime
) -> _Sender:
    """The customer who sent the message: the one its identities name, or the one whose conversation it
    continues, or a new `basic` customer with every identity it shows."""
    source = f"contact:{inbound.channel}"
    if who.customer_id is None and not who.link and found.thread is not None:
        # Nothing identifies the sender, but the message continues a conversation: it is that customer's.
        customer_id = found.thread.customer_id
        await writes.settle(conn, customer_id)
        attributes = await customers.customer_attributes(conn, customer_id=customer_id)
        return _Sender(customer_id, attributes, is_new=False)
    if who.customer_id is None:
        customer_id = uuid.uuid4()
        await writes.new_customer(
            conn, customers.NewCustomer(customer_id, inbound.sender_name, who.link, source, now)
        )
        return _Sender(customer_id, {"grade": "basic", "pii_level": "general"}, is_new=True)
    customer_id = who.customer_id
    await writes.settle(conn, customer_id)  # its contacts staged by earlier messages must be visible
    if who.link:
        await customers.link_identities(conn, customer_id=customer_id, identities=who.link, source=source, now=now)
    return _Sender(customer_id, found.attributes.get(customer_id, {"grade": "basic"}), is_new=False)


async def _thread(
    conn: Conn,
    deps: Deps,
    inbound: Inbound,
    sender: _Sender,
    found: contacts.Lookup,
    subject_key: str,
    *,
    now: datetime,
) -> ThreadDecision:
    """Which open contact the message continues, if any: by thread key, then by subject (email), then by the
    customer's latest contact on the channel within the channel's window."""
    policy = await deps.threads.get(conn)
    by_key = found.thread
    by_subject = (
        await contacts.contact_by_subject(conn, customer_id=sender.customer_id, subject_key=subject_key)
        if by_key is None and subject_key and not sender.is_new
        else None
    )
    by_customer = (
        await contacts.contact_by_customer(conn, customer_id=sender.customer_id, channel=inbound.channel)
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
        now=now,
    )


async def _add_to_thread(
    conn: Conn,
    deps: Deps,
    inbound: Inbound,
    sender: _Sender,
    decision: ThreadDecision,
    *,
    message_id: uuid.UUID,
    follow_up: Classification,
    adapter: str,
    idempotency_key: str | None,
    writes: Writes,
    now: datetime,
) -> Accepted:
    """The message joins its open (or reopened) contact; a follow-up more urgent than the contact reclassifies
    it."""
    contact_id = decision.contact_id
    assert contact_id is not None
    touched = await contacts.add_message(
        conn,
        contact_id=contact_id,
        message_id=message_id,
        inbound=inbound,
        reopen=decision.reopen,
        adapter=adapter,
        idempotency_key=idempotency_key,
        now=now,
        tracked=None if inbound.automatic else tracked_reason(sender.attributes),
    )
    text, cut = carried(inbound.text, deps.event_text_chars)
    await writes.publish(
        conn,
        ContactMessageAddedV1(
            contact_id=contact_id,
            message_id=message_id,
            channel=touched.channel,
            from_customer=not inbound.automatic,
            text=text,
            language=inbound.language,
            received_at=now,
            reopened=decision.reopen,
            text_truncated=cut,
        ),
        contact_id=contact_id,
        now=now,
    )
    if not inbound.automatic and more_urgent(follow_up, touched.priority_class, touched.emergency):
        await _reclassify(conn, contact_id, follow_up, by=follow_up.by, now=now, writes=writes)
    return Accepted(contact_id, message_id, "threaded")


async def _open_contact(
    conn: Conn,
    deps: Deps,
    inbound: Inbound,
    sender: _Sender,
    *,
    message_id: uuid.UUID,
    subject_key: str,
    classification: Classification,
    who: Identification,
    adapter: str,
    idempotency_key: str | None,
    writes: Writes,
    now: datetime,
) -> Accepted:
    """The message opens a new contact of its sender's."""
    new_contact = contacts.NewContact(
        contact_id=uuid.uuid4(),
        message_id=message_id,
        inbound=inbound,
        customer_id=sender.customer_id,
        subject_key=subject_key,
        classification=classification,
        conflicts=who.conflicts,
        adapter=adapter,
        idempotency_key=idempotency_key,
        now=now,
        status="ignored" if inbound.automatic else "received",
        tracked=None if inbound.automatic else tracked_reason(sender.attributes),
    )
    await writes.new_contact(conn, new_contact)
    if not inbound.automatic:
        # An auto-reply or bounce opens no work: kept (and shown) as an ignored contact, nothing published.
        await _announce_new(conn, deps, inbound, sender, new_contact, writes, now=now)
    return Accepted(new_contact.contact_id, message_id, "created")


async def _announce_new(
    conn: Conn,
    deps: Deps,
    inbound: Inbound,
    sender: _Sender,
    new: contacts.NewContact,
    writes: Writes,
    *,
    now: datetime,
) -> None:
    classification = new.classification
    text, text_cut = carried(inbound.text, deps.event_text_chars)
    subject, subject_cut = carried(inbound.subject, EVENT_SUBJECT_CHARS) if inbound.subject else (None, False)
    await writes.publish(
        conn,
        ContactReceivedV1(
            contact_id=new.contact_id,
            message_id=new.message_id,
            channel=inbound.channel,
            customer=CustomerRef(
                customer_id=sender.customer_id,
                grade=sender.attributes.get("grade", "basic"),
                attributes={k: v for k, v in sender.attributes.items() if k != "grade"},
            ),
            subject=subject,
            text=text,
            language=inbound.language,
            category=classification.category,
            priority_class=classification.priority_class,
            emergency=classification.emergency,
            emergency_reasons=list(classification.emergency_reasons),
            required_skills=list(classification.required_skills),
            subcategory=classification.subcategory,
            incident_level=classification.incident_level,
            received_at=now,
            thread_keys=list(inbound.thread_keys),
            reply_to=_reply_to(inbound),
            text_truncated=text_cut or subject_cut,
        ),
        contact_id=new.contact_id,
        now=now,
    )


def _reply_to(inbound: Inbound) -> ReplyTo | None:
    reach = reach_back(inbound)
    if reach.phone is None and reach.email is None and reach.chat_session is None:
        return None
    return ReplyTo(phone=reach.phone, email=reach.email, chat_session=reach.chat_session)


async def _reclassify(
    conn: Conn,
    contact_id: uuid.UUID,
    result: Classification,
    *,
    by: str,
    now: datetime,
    writes: Writes = AT_ONCE,
) -> None:
    await contacts.update_classification(
        conn,
        contact_id=contact_id,
        category=result.category,
        priority_class=result.priority_class,
        emergency=result.emergency,
        emergency_reasons=result.emergency_reasons,
        required_skills=result.required_skills,
        by=by,
        now=now,
        subcategory=result.subcategory,
        incident_level=result.incident_level,
    )
    await writes.publish(
        conn,
        ContactReclassifiedV1(
            contact_id=contact_id,
            category=result.category,
            priority_class=result.priority_class,
            emergency=result.emergency,
            emergency_reasons=list(result.emergency_reasons),
            required_skills=list(result.required_skills),
            by=by,
            subcategory=result.subcategory,
            incident_level=result.incident_level,
        ),
        contact_id=contact_id,
        now=now,
    )


class ContactNotFound(LookupError):
    pass


async def override_classification(
    pool: asyncpg.Pool,
    *,
    contact_id: uuid.UUID,
    category: str,
    priority_class: str,
    emergency: bool,
    required_skills: tuple[str, ...],
    agent: str,
    reason: str,
    now: datetime,
    subcategory: str | None = None,
    incident_level: str | None = None,
) -> None:
    """An agent's correction of the rules' decision (PR-04): stored, audited and announced."""
    result = Classification(
        category=category,
        priority_class=priority_class,
        emergency=emergency,
        emergency_reasons=("agent",) if emergency else (),
        required_skills=required_skills,
        fired=(),
        subcategory=subcategory,
        incident_level=incident_level or ("general" if category in INCIDENT_CATEGORIES else None),
    )
    async with pool.acquire() as conn, conn.transaction():
        current = await contacts.get_contact(conn, contact_id=contact_id)
        if current is None:
            raise ContactNotFound(str(contact_id))
        await _reclassify(conn, contact_id, result, by=f"agent:{agent}", now=now)
        await record(
            conn,
            actor=agent,
            action="contact.reclassify",
            target=f"contact:{contact_id}",
            detail={
                "from": {
                    "category": current["category"],
                    "priority_class": current["priority_class"],
                    "emergency": current["emergency"],
                },
                "to": {"category": category, "priority_class": priority_class, "emergency": emergency},
                "reason": reason,
            },
            at=now,
        )


# --- routing.work: intake's view of whether a contact is still open -----------------------------------------


WORK_EVENTS_HANDLED: frozenset[type[Event]] = frozenset({WorkResolvedV1, WorkClosedV1, WorkReopenedV1})
"""Every type `on_work_event` acts on; the consumer skips the rest before the inbox."""


async def on_work_event(conn: Conn, delivery: Delivery) -> None:
    event = delivery.decoded.event
    if isinstance(event, WorkResolvedV1):
        await contacts.set_status(
            conn, contact_id=event.contact_id, status="resolved", ended_at=event.resolved_at, at=event.resolved_at
        )
    elif isinstance(event, WorkClosedV1):
        await contacts.set_status(
            conn, contact_id=event.contact_id, status="closed", ended_at=event.at, at=event.at
        )
    elif isinstance(event, WorkReopenedV1):
        await contacts.set_status(conn, contact_id=event.contact_id, status="reopened", ended_at=None, at=event.at)
