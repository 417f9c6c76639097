"""How accepting a message writes its new customer, its new contact and the events it announces (`Writes`: at
once, in the caller's transaction; the group commit's `Staging` in `handlers/commit.py` holds them to write many
messages' together), and the contact events it announces: received and reclassified."""

from __future__ import annotations

import uuid

from services.intake.domain.classification import Classification
from services.intake.domain.contact import EVENT_SUBJECT_CHARS, Inbound, carried, reach_back
from services.intake.handlers.common import SOURCE, LostRace, Tx
from services.intake.repository import contacts, customers
from shared.events import ContactReceivedV1, ContactReclassifiedV1, CustomerRef, Event, ReplyTo
from shared.outbox import enqueue


class Writes:
    """Writes at once, in the caller's transaction."""

    async def settle(self, tx: Tx, customer_id: uuid.UUID) -> None:
        """Make what waits to be written of this customer visible before it is read (nothing waits here)."""

    async def new_customer(self, tx: Tx, new: customers.NewCustomer) -> None:
        """`LostRace` if another writer took one of its identities."""
        if (await customers.insert_customers_with_identities(tx.conn, customers=[new]))[0] < len(new.identities):
            raise LostRace

    async def new_contact(self, tx: Tx, new: contacts.NewContact) -> None:
        await contacts.insert_contacts_with_messages(tx.conn, contacts=[new])

    async def publish(self, tx: Tx, event: Event, *, contact_id: uuid.UUID) -> None:
        await enqueue(tx.conn, event, source=SOURCE, subject=str(contact_id), now=tx.now)


AT_ONCE = Writes()


async def announce_received(
    tx: Tx,
    inbound: Inbound,
    new: contacts.NewContact,
    *,
    grade: str,
    attributes: dict[str, str],
    event_text_chars: int,
    writes: Writes,
) -> None:
    """`contact.received` for a contact a message opened, its sender as `grade` and other `attributes`."""
    classification = new.classification
    text, text_cut = carried(inbound.text, event_text_chars)
    subject, subject_cut = carried(inbound.subject, EVENT_SUBJECT_CHARS) if inbound.subject else (None, False)
    await writes.publish(
        tx,
        ContactReceivedV1(
            contact_id=new.contact_id,
            message_id=new.message_id,
            channel=inbound.channel,
            customer=CustomerRef(customer_id=new.customer_id, grade=grade, attributes=attributes),
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
            received_at=tx.now,
            thread_keys=list(inbound.thread_keys),
            reply_to=_reply_to(inbound),
            text_truncated=text_cut or subject_cut,
        ),
        contact_id=new.contact_id,
    )


def _reply_to(inbound: Inbound) -> ReplyTo | None:
    reach = reach_back(inbound)
    if reach.phone is None and reach.email is None and reach.chat_session is None:
        return None
    return ReplyTo(phone=reach.phone, email=reach.email, chat_session=reach.chat_session)


async def reclassify(
    tx: Tx, contact_id: uuid.UUID, result: Classification, *, by: str, writes: Writes = AT_ONCE
) -> None:
    """Store a contact's new classification and announce it (`contact.reclassified`)."""
    await contacts.update_classification(
        tx.conn,
        contact_id=contact_id,
        category=result.category,
        priority_class=result.priority_class,
        emergency=result.emergency,
        emergency_reasons=result.emergency_reasons,
        required_skills=result.required_skills,
        by=by,
        now=tx.now,
        subcategory=result.subcategory,
        incident_level=result.incident_level,
    )
    await writes.publish(
        tx,
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
    )
