"""Intake's transactions: accepting an inbound message (dedupe, identify, thread, classify, publish), agent
reclassification, and the routing events that tell intake a contact was resolved, closed or reopened.

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
    carried,
    keyed,
    lock_keys,
    reach_back,
    storable,
    thread_decision,
)
from services.intake.domain.customer import tracked_reason
from services.intake.domain.identity import identify
from services.intake.domain.text import normalise_subject
from services.intake.handlers.settings import ThreadPolicyCache
from services.intake.repository import contacts, customers, rules
from shared.db import Conn
from shared.events import (
    ContactMessageAddedV1,
    ContactReceivedV1,
    ContactReclassifiedV1,
    CustomerRef,
    Event,
    OutgoingMessage,
    ReplyTo,
    WorkClosedV1,
    WorkReopenedV1,
    WorkResolvedV1,
    encode,
)
from shared.kafka import Delivery
from shared.outbox import enqueue, enqueue_many
from shared.telemetry import current_trace_carrier

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


class Staging:
    """What a transaction that accepts many messages writes together. New customers and contacts wait (with
    `defer`) until `flush`, one round trip each for all of them, which the caller runs before anything could
    read them; the events wait until `write`, one round trip just before the commit, each with the trace context
    of the post it belongs to."""

    def __init__(self, *, defer: bool = False) -> None:
        self.defer = defer
        self._messages: list[OutgoingMessage] = []
        self._carriers: list[dict[str, str]] = []
        self._customers: list[customers.NewCustomer] = []
        self._contacts: list[contacts.NewContact] = []
        self._touched: set[uuid.UUID] = set()
        """Customers whose new rows wait for the next flush."""

    def add(self, message: OutgoingMessage) -> None:
        self._messages.append(message)
        self._carriers.append(current_trace_carrier())

    def mark(self) -> int:
        assert not self.defer, "items are rolled back alone only when nothing waits"
        return len(self._messages)

    def rollback_to(self, mark: int) -> None:
        """Forget what an item staged after `mark` (its savepoint was rolled back)."""
        del self._messages[mark:], self._carriers[mark:]

    def stage_customer(self, new: customers.NewCustomer) -> None:
        self._customers.append(new)
        self._touched.add(new.customer_id)

    def stage_contact(self, new: contacts.NewContact) -> None:
        self._contacts.append(new)
        self._touched.add(new.customer_id)

    async def settle(self, conn: Conn, customer_id: uuid.UUID) -> None:
        """Flush first if rows of this customer wait: what comes next reads them."""
        if customer_id in self._touched:
            await self.flush(conn)

    async def flush(self, conn: Conn) -> None:
        """Write the customers and contacts staged so far; `LostRace` if another writer took an identity."""
        if self._customers:
            linked = await customers.insert_customers_with_identities(conn, customers=self._customers)
            if any(n < len(c.identities) for n, c in zip(linked, self._customers, strict=True)):
                raise LostRace
        await contacts.insert_contacts_with_messages(conn, contacts=self._contacts)
        self._customers, self._contacts, self._touched = [], [], set()

    async def write(self, conn: Conn, *, now: datetime) -> None:
        await self.flush(conn)
        await enqueue_many(conn, self._messages, now=now, carriers=self._carriers)


async def _publish(
    conn: Conn, event: Event, *, contact_id: uuid.UUID, now: datetime, staging: Staging | None
) -> None:
    if staging is None:
        await enqueue(conn, event, source=SOURCE, subject=str(contact_id), now=now)
    else:
        staging.add(encode(event, source=SOURCE, subject=str(contact_id), time=now))


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
    conn: Conn,
    deps: Deps,
    inbound: Inbound,
    *,
    adapter: str,
    idempotency_key: str | None,
    now: datetime,
    staging: Staging | None = None,
    found: contacts.Lookup | None = None,
) -> Accepted:
    """The whole of accepting one message (already `prepared`), inside the caller's transaction; its events go to
    the outbox at once, or to `staging` when the caller writes the events of many messages together (and, if it
    defers, their new customers and contacts). `found` is the message's lookup when the caller made it together
    with others'.

    A new contact from a new customer costs four statements besides BEGIN/COMMIT: the lookup (natural key,
    identities, thread keys), the customer with its identities, the contact with its message and keys, the
    outbox row. In a group every kind of statement is one round trip for all its messages.
    """
    if idempotency_key is not None:
        seen = await contacts.find_idempotency_key(conn, adapter=adapter, key=idempotency_key)
        if seen is not None:
            return Accepted(seen.contact_id, seen.message_id, "duplicate")
    if found is None:
        found = await contacts.lookup(conn, inbound=inbound)
    if found.seen is not None:
        if idempotency_key is not None:
            await contacts.insert_idempotency_key(
                conn, adapter=adapter, key=idempotency_key, seen=found.seen, now=now
            )
        return Accepted(found.seen.contact_id, found.seen.message_id, "duplicate")

    who = identify(inbound.identities, found.known)
    source = f"contact:{inbound.channel}"
    by_key = found.thread
    is_new_customer = False
    if who.customer_id is None and not who.link and by_key is not None:
        # Nothing identifies the sender, but the message continues a conversation: it is that customer's.
        customer_id = by_key.customer_id
        if staging is not None:
            await staging.settle(conn, customer_id)
        attributes = await customers.customer_attributes(conn, customer_id=customer_id)
    elif who.customer_id is None:
        is_new_customer = True
        customer_id = uuid.uuid4()
        new_customer = customers.NewCustomer(customer_id, inbound.sender_name, who.link, source, now)
        if staging is not None and staging.defer:
            staging.stage_customer(new_customer)
        elif (await customers.insert_customers_with_identities(conn, customers=[new_customer]))[0] < len(who.link):
            raise LostRace
        attributes = {"grade": "basic", "pii_level": "general"}
    else:
        customer_id = who.customer_id
        if staging is not None:
            await staging.settle(conn, customer_id)  # its contacts staged by earlier messages must be visible
        if who.link:
            await customers.link_identities(
                conn, customer_id=customer_id, identities=who.link, source=source, now=now
            )
        attributes = found.attributes.get(customer_id, {"grade": "basic"})

    policy = await deps.threads.get(conn)
    subject_key = normalise_subject(inbound.subject) if inbound.channel == "email" else ""
    by_subject = (
        await contacts.contact_by_subject(conn, customer_id=customer_id, subject_key=subject_key)
        if by_key is None and subject_key and not is_new_customer
        else None
    )
    by_customer = (
        await contacts.contact_by_customer(conn, customer_id=customer_id, channel=inbound.channel)
        if by_key is None
        and by_subject is None
        and not is_new_customer
        and policy.customer_windows.get(inbound.channel)
        else None
    )
    decision = thread_decision(
        by_key=by_key,
        by_subject=by_subject,
        by_customer=by_customer,
        channel=inbound.channel,
        policy=policy,
        now=now,
    )
    message_id = uuid.uuid4()
    ruleset = await deps.rules.get(conn)
    facts = Facts(
        text=inbound.text,
        subject=inbound.subject or "",
        channel=inbound.channel,
        ivr_selections=inbound.ivr_selections,
        customer=attributes,
    )
    if decision.contact_id is not None:
        contact_id = decision.contact_id
        touched = await contacts.add_message(
            conn,
            contact_id=contact_id,
            message_id=message_id,
            inbound=inbound,
            reopen=decision.reopen,
            adapter=adapter,
            idempotency_key=idempotency_key,
            now=now,
            tracked=None if inbound.automatic else tracked_reason(attributes),
        )
        text, cut = carried(inbound.text, deps.event_text_chars)
        await _publish(
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
            staging=staging,
        )
        follow_up = classify(ruleset, facts)
        if not inbound.automatic and more_urgent(follow_up, touched.priority_class, touched.emergency):
            await _reclassify(conn, contact_id, follow_up, by=follow_up.by, now=now, staging=staging)
        return Accepted(contact_id, message_id, "threaded")

    contact_id = uuid.uuid4()
    classification = classify(ruleset, facts)
    new_contact = contacts.NewContact(
        contact_id=contact_id,
        message_id=message_id,
        inbound=inbound,
        customer_id=customer_id,
        subject_key=subject_key,
        classification=classification,
        conflicts=who.conflicts,
        adapter=adapter,
        idempotency_key=idempotency_key,
        now=now,
        status="ignored" if inbound.automatic else "received",
        tracked=None if inbound.automatic else tracked_reason(attributes),
    )
    if staging is not None and staging.defer:
        staging.stage_contact(new_contact)
    else:
        await contacts.insert_contacts_with_messages(conn, contacts=[new_contact])
    if inbound.automatic:
        # An auto-reply or bounce opens no work: kept (and shown) as an ignored contact, nothing published.
        return Accepted(contact_id, message_id, "created")
    text, text_cut = carried(inbound.text, deps.event_text_chars)
    subject, subject_cut = carried(inbound.subject, EVENT_SUBJECT_CHARS) if inbound.subject else (None, False)
    await _publish(
        conn,
        ContactReceivedV1(
            contact_id=contact_id,
            message_id=message_id,
            channel=inbound.channel,
            customer=CustomerRef(
                customer_id=customer_id,
                grade=attributes.get("grade", "basic"),
                attributes={k: v for k, v in attributes.items() if k != "grade"},
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
        contact_id=contact_id,
        now=now,
        staging=staging,
    )
    return Accepted(contact_id, message_id, "created")


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
    staging: Staging | None = None,
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
    await _publish(
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
        staging=staging,
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
        await rules.audit(
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
