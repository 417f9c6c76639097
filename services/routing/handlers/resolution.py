"""Ending work: resolve (with the end notice to the customer, LC-04), tell the customer later, close once the
three clears are met. Each runs in the caller's transaction."""

from __future__ import annotations

import uuid
from dataclasses import replace

from services.routing.domain.lifecycle import Conflict, NotAllowed, check, end_notice_route, missing_clears
from services.routing.domain.records import WorkRecord
from services.routing.handlers.common import Tx, publish_work
from services.routing.handlers.work_steps import lock, release_slot, save
from services.routing.repository import agents as agent_repo
from services.routing.repository import contacts as contact_repo
from services.routing.repository import end_notices as end_notice_repo
from services.routing.repository import offers as offer_repo
from shared.events import OutboundMessageRequestedV1, WorkClosedV1, WorkResolvedV1
from shared.outbox import enqueue
from shared.tx import Actor


async def _send_end_notice(tx: Tx, work: WorkRecord) -> bool:
    """Queue the end notice (LC-04); each notice has an id of its own, so one sent after a failed one is a new
    message to the adapter, and its receipt (through intake) decides "customer notified"."""
    contact = await contact_repo.get_contact(tx.conn, work.contact_id)
    if contact is None:
        return False
    route = end_notice_route(contact.channel, dict(contact.reply_to))
    if route is None:
        return False
    message_id = uuid.uuid4()
    await end_notice_repo.insert_end_notice(tx.conn, message_id=message_id, work_id=work.work_id, now=tx.now)
    message = OutboundMessageRequestedV1(
        message_id=message_id,
        kind="end_notice",
        origin="routing",
        contact_id=work.contact_id,
        channel=route.channel,
        recipient=route.recipient,
        template="service_end_notice",
        variables={"contact_id": str(work.contact_id), "resolution_code": work.resolution_code or ""},
        language="en" if (contact.language or "zh") == "en" else "zh-Hans",
    )
    await enqueue(tx.conn, message, source="switchboard/routing", subject=str(work.contact_id), now=tx.now)
    return True


async def resolve(
    tx: Tx,
    work_id: uuid.UUID,
    actor: Actor,
    *,
    resolution_code: str,
    final_note: str,
    fcr: bool,
    customer_notified: bool,
    send_end_notice: bool,
    close: bool,
) -> WorkRecord:
    work = await lock(tx, work_id, actor, "resolve")
    if not resolution_code.strip() or not final_note.strip():
        raise Conflict("resolving needs a resolution code and a final note")
    await release_slot(tx, work)
    await offer_repo.end_assignment(tx.conn, work_id=work.work_id, reason="resolved", now=tx.now)
    agent_id = work.owner_id or actor.subject
    work = replace(
        work,
        state="resolved",
        slot_agent_id=None,
        resolution_code=resolution_code.strip(),
        final_note=final_note.strip(),
        fcr=fcr,
        resolved_at=tx.now,
        updated_at=tx.now,
    )
    sent = await _send_end_notice(tx, work) if send_end_notice else False
    if send_end_notice and not sent:
        raise Conflict("no way to reach the customer is known for the end notice; notify them and say so")
    work = replace(work, customer_notified=customer_notified or sent)
    work = await save(tx, work, "resolved", actor, code=resolution_code, fcr=fcr, end_notice=sent)
    agent = await agent_repo.get_agent(tx.conn, agent_id)
    await publish_work(
        tx,
        work,
        WorkResolvedV1(
            work_id=work.work_id,
            contact_id=work.contact_id,
            agent_id=agent_id,
            resolution_code=work.resolution_code or "",
            fcr=fcr,
            customer_notified=work.customer_notified,
            resolved_at=tx.now,
            team=agent.team if agent else None,
            first_owner_id=work.first_owner_id,
        ),
    )
    if close:
        work = await close_work(tx, work, actor, reason="closed at resolution")
    return work


async def notify_customer(tx: Tx, work_id: uuid.UUID, actor: Actor, *, sent_elsewhere: bool) -> WorkRecord:
    """Send the end notice now, or record that the customer was told another way."""
    work = await lock(tx, work_id, actor, "notify", owner_only=False)
    if (
        not actor.is_supervisor
        and actor.subject not in (work.first_owner_id, work.owner_id)
        and not any(a["agent_id"] == actor.subject for a in await offer_repo.assignments_of(tx.conn, work.work_id))
    ):
        raise NotAllowed("only an agent who handled this work or a supervisor")
    if not sent_elsewhere and not await _send_end_notice(tx, work):
        raise Conflict("no way to reach the customer is known for the end notice")
    # After a notice that failed, a new one counts once it is delivered (its receipt sets the clear).
    notified = sent_elsewhere or not await end_notice_repo.had_failed_notice(tx.conn, work.work_id)
    return await save(
        tx,
        replace(work, customer_notified=notified, updated_at=tx.now),
        "customer_notified" if notified else "end_notice_sent",
        actor,
        sent_elsewhere=sent_elsewhere,
    )


async def close_work(tx: Tx, work: WorkRecord, actor: Actor, *, reason: str) -> WorkRecord:
    check("close", work.state)
    missing = missing_clears(
        resolution_code=work.resolution_code, final_note=work.final_note, customer_notified=work.customer_notified
    )
    if missing:
        raise Conflict("closing needs the three clears (三清); missing: " + ", ".join(missing))
    work = await save(tx, replace(work, state="closed", closed_at=tx.now, updated_at=tx.now), "closed", actor)
    await publish_work(
        tx, work, WorkClosedV1(work_id=work.work_id, contact_id=work.contact_id, reason=reason, at=tx.now)
    )
    return work


async def close(tx: Tx, work_id: uuid.UUID, actor: Actor, *, reason: str | None) -> WorkRecord:
    work = await lock(tx, work_id, actor, "close", owner_only=False)
    if not actor.is_supervisor and actor.subject not in (work.first_owner_id, work.owner_id):
        raise NotAllowed("only the first owner or a supervisor closes work")
    return await close_work(tx, work, actor, reason=reason or f"closed by {actor.label}")
