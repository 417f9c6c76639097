"""People's actions on work: start, pending and resume, solution, transfer, wrap-up, resolve, notify, close,
reopen, and the supervisor's assign, force-offer and requeue. Each runs in the caller's transaction."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta

from services.routing.domain.lifecycle import (
    HOLDS_SLOT,
    Conflict,
    NotAllowed,
    NotFound,
    check,
    end_notice_route,
    missing_clears,
)
from services.routing.domain.model import free_capacity
from services.routing.domain.records import WorkRecord, to_agent
from services.routing.handlers.common import (
    SYSTEM,
    Tx,
    change_notice,
    publish_presence,
    publish_work,
    queued_event,
)
from services.routing.handlers.offers import assign, fail_offer, lock_offer, make_offers
from services.routing.handlers.views import work_view
from services.routing.repository import agents as agent_repo
from services.routing.repository import contacts as contact_repo
from services.routing.repository import end_notices as end_notice_repo
from services.routing.repository import feed
from services.routing.repository import history as history_repo
from services.routing.repository import offers as offer_repo
from services.routing.repository import work as work_repo
from shared import audit
from shared.events import (
    OutboundMessageRequestedV1,
    WorkClosedV1,
    WorkPendingV1,
    WorkReopenedV1,
    WorkResolvedV1,
    WorkResumedV1,
    WorkSolutionRecordedV1,
    WorkTransferredV1,
)
from shared.outbox import enqueue
from shared.tx import Actor


async def lock(tx: Tx, work_id: uuid.UUID, actor: Actor, action: str, *, owner_only: bool = True) -> WorkRecord:
    work = await work_repo.get_work(tx.conn, work_id, for_update=True)
    if work is None:
        raise NotFound(f"no work {work_id}")
    if owner_only and not actor.is_supervisor and work.owner_id != actor.subject:
        raise NotAllowed(f"work {work_id} belongs to {work.owner_id or 'nobody'}; only its owner or a supervisor")
    check(action, work.state)
    return work


async def _save(tx: Tx, work: WorkRecord, action: str, actor: Actor, **detail: object) -> WorkRecord:
    await work_repo.save_work(tx.conn, work)
    await history_repo.add_history_and_notify(
        tx.conn,
        work_id=work.work_id,
        action=action,
        actor=actor.label,
        detail=dict(detail),
        now=tx.now,
        notice=change_notice(tx, work.pool, "work", str(work.work_id)),
    )
    for agent_id in {work.owner_id, work.slot_agent_id} - {None}:
        await feed.to_desktop(
            tx.conn,
            agent_id=str(agent_id),
            kind="work_updated",
            body={"work": work_view(tx, work), "action": action},
            now=tx.now,
        )
    return work


async def _release_slot(tx: Tx, work: WorkRecord) -> None:
    """The agent's slot frees: they count as idle from now, and their presence may change."""
    if work.slot_agent_id is None:
        return
    await agent_repo.touch_idle(tx.conn, agent_id=work.slot_agent_id, now=tx.now)
    agent = await agent_repo.get_agent(tx.conn, work.slot_agent_id)
    if agent is not None:
        await publish_presence(tx, agent)
        await feed.notify_change(tx.conn, origin=tx.origin, pool=agent.pool, kind="agent", key=agent.agent_id)


async def _queued(tx: Tx, work: WorkRecord, *reasons: str) -> None:
    await publish_work(tx, work, queued_event(tx, work, reasons))


async def start(tx: Tx, work_id: uuid.UUID, actor: Actor) -> WorkRecord:
    work = await lock(tx, work_id, actor, "start")
    return await _save(tx, replace(work, state="in_progress", updated_at=tx.now), "started", actor)


async def pending(
    tx: Tx,
    work_id: uuid.UUID,
    actor: Actor,
    *,
    on: str,
    department: str | None,
    until: datetime | None,
    reason: str | None,
) -> WorkRecord:
    """Waiting on the customer or on a department (which needs a deadline, CH-21). The slot is given back;
    the agent stays the owner."""
    work = await lock(tx, work_id, actor, "pending")
    if on == "department" and (not department or until is None):
        raise Conflict("pending on a department needs the responsible department and a deadline (CH-21)")
    await _release_slot(tx, work)
    work = replace(
        work,
        state=f"pending_{on}",
        slot_agent_id=None,
        pending_department=department if on == "department" else None,
        pending_until=until,
        updated_at=tx.now,
    )
    work = await _save(tx, work, "pending", actor, on=on, department=department, reason=reason)
    await publish_work(
        tx,
        work,
        WorkPendingV1(
            work_id=work.work_id,
            contact_id=work.contact_id,
            pending_on=on,
            department=department,
            until=until,
            at=tx.now,
            reason=reason,
        ),
    )
    return work


async def resume(tx: Tx, work: WorkRecord, actor: Actor, *, reason: str) -> WorkRecord:
    """Back to its owner if they have a free slot now; else it queues, waiting for them first (hold)."""
    owner = await agent_repo.get_agent(tx.conn, work.owner_id, for_update=True) if work.owner_id else None
    await publish_work(
        tx, work, WorkResumedV1(work_id=work.work_id, contact_id=work.contact_id, at=tx.now, reason=reason)
    )
    if (
        owner is not None
        and owner.presence != "offline"
        and free_capacity(to_agent(tx.policy, owner), work.channel) > 0
    ):
        work = replace(
            work,
            state="in_progress",
            slot_agent_id=owner.agent_id,
            pending_department=None,
            pending_until=None,
            updated_at=tx.now,
        )
        await agent_repo.touch_idle(tx.conn, agent_id=owner.agent_id, now=tx.now)
        work = await _save(tx, work, "resumed", actor, reason=reason, to=owner.agent_id)
        await publish_presence(tx, owner)
        return work
    return await requeue_for_owner(tx, work, actor, reason=f"{reason}; owner has no free slot")


async def requeue_for_owner(tx: Tx, work: WorkRecord, actor: Actor, *, reason: str) -> WorkRecord:
    """Queue the work again, held for its first owner for `preferred_hold_s` while they are not offline."""
    first = work.first_owner_id
    first_agent = await agent_repo.get_agent(tx.conn, first) if first else None
    hold = first_agent is not None and first_agent.presence != "offline" and tx.policy.preferred_hold_s > 0
    await offer_repo.end_assignment(tx.conn, work_id=work.work_id, reason=reason, now=tx.now)
    work = replace(
        work,
        state="queued",
        owner_id=None,
        slot_agent_id=None,
        target_agent_id=first if hold else None,
        hold_until=tx.now + timedelta(seconds=tx.policy.preferred_hold_s) if hold else None,
        pending_department=None,
        pending_until=None,
        offers_failed=0,
        excluded=(),
        updated_at=tx.now,
    )
    work = await _save(tx, work, "queued", actor, reason=reason, held_for=first if hold else None)
    await _queued(
        tx, work, reason, *([f"held {tx.policy.preferred_hold_s}s for first owner {first}"] if hold else [])
    )
    return work


async def resume_command(tx: Tx, work_id: uuid.UUID, actor: Actor, *, reason: str | None) -> WorkRecord:
    work = await lock(tx, work_id, actor, "resume")
    return await resume(tx, work, actor, reason=reason or "resumed by agent")


async def record_solution(tx: Tx, work_id: uuid.UUID, actor: Actor, *, note: str | None) -> WorkRecord:
    """A solution or plan was recorded and sent (the SLA's formal response)."""
    work = await lock(tx, work_id, actor, "solution")
    work = replace(work, solution_at=tx.now, final_note=note or work.final_note, updated_at=tx.now)
    work = await _save(tx, work, "solution_recorded", actor)
    await publish_work(
        tx,
        work,
        WorkSolutionRecordedV1(
            work_id=work.work_id, contact_id=work.contact_id, agent_id=actor.subject, at=tx.now
        ),
    )
    return work


async def transfer(
    tx: Tx,
    work_id: uuid.UUID,
    actor: Actor,
    *,
    to_agent: str | None,
    to_team: str | None,
    to_department: str | None,
    deadline: datetime | None,
    reason: str | None,
) -> WorkRecord:
    """To an agent (offered to them first), a team's queue, or a department (pending, with a deadline).
    The first owner stays accountable (首问负责制): `first_owner_id` never changes."""
    if sum(x is not None for x in (to_agent, to_team, to_department)) != 1:
        raise Conflict("transfer to exactly one of: an agent, a team queue, a department")
    work = await lock(tx, work_id, actor, "transfer")
    if to_department is not None:
        if deadline is None:
            raise Conflict("a transfer to a department needs a deadline (CH-21)")
        await _release_slot(tx, work)
        moved = replace(
            work,
            state="pending_department",
            slot_agent_id=None,
            pending_department=to_department,
            pending_until=deadline,
            updated_at=tx.now,
        )
        moved = await _save(tx, moved, "transferred", actor, to_department=to_department, reason=reason)
        await publish_work(
            tx,
            moved,
            WorkPendingV1(
                work_id=moved.work_id,
                contact_id=moved.contact_id,
                pending_on="department",
                department=to_department,
                until=deadline,
                at=tx.now,
                reason=reason,
            ),
        )
    else:
        if to_agent is not None and await agent_repo.get_agent(tx.conn, to_agent) is None:
            raise NotFound(f"no agent {to_agent}")
        live = await offer_repo.live_offer_for_work(tx.conn, work.work_id)
        if live is not None:
            await fail_offer(tx, live, status="withdrawn", reason="transferred", actor=actor)
            work = await lock(tx, work_id, actor, "transfer", owner_only=False)
        if work.state in HOLDS_SLOT:
            await _release_slot(tx, work)
        await offer_repo.end_assignment(tx.conn, work_id=work.work_id, reason="transferred", now=tx.now)
        moved = replace(
            work,
            state="queued",
            owner_id=None,
            slot_agent_id=None,
            target_agent_id=to_agent,
            hold_until=None,
            target_team=to_team if to_team is not None else work.target_team,
            excluded=tuple(a for a in work.excluded if a != to_agent),
            offers_failed=0,
            updated_at=tx.now,
        )
        moved = await _save(tx, moved, "transferred", actor, to_agent=to_agent, to_team=to_team, reason=reason)
        await _queued(tx, moved, f"transferred by {actor.label}" + (f": {reason}" if reason else ""))
        if work.owner_id and work.owner_id != to_agent:
            await feed.to_desktop(
                tx.conn,
                agent_id=work.owner_id,
                kind="work_updated",
                body={"work": work_view(tx, moved), "action": "transferred_away"},
                now=tx.now,
            )
    await publish_work(
        tx,
        moved,
        WorkTransferredV1(
            work_id=moved.work_id,
            contact_id=moved.contact_id,
            from_agent_id=work.owner_id,
            to_agent_id=to_agent,
            to_queue=to_team,
            to_department=to_department,
            deadline=deadline,
            first_owner_id=moved.first_owner_id,
            reason=reason,
        ),
    )
    return moved


async def wrap_up(tx: Tx, work_id: uuid.UUID, actor: Actor) -> WorkRecord:
    """After-contact work: the slot stays held for the channel's wrap-up time, then frees on its own."""
    work = await lock(tx, work_id, actor, "wrap_up")
    seconds = tx.policy.wrap_up_s.get(work.channel, 0)
    if seconds <= 0:
        await _release_slot(tx, work)
        work = replace(work, slot_agent_id=None)
    work = replace(work, state="wrap_up", wrap_up_until=tx.now + timedelta(seconds=seconds), updated_at=tx.now)
    return await _save(tx, work, "wrap_up", actor, seconds=seconds)


async def wrap_up_expired(tx: Tx, work_id: uuid.UUID) -> WorkRecord | None:
    work = await work_repo.get_work(tx.conn, work_id, for_update=True)
    if work is None or work.state != "wrap_up" or work.slot_agent_id is None:
        return None
    if work.wrap_up_until is not None and work.wrap_up_until > tx.now:
        return None
    await _release_slot(tx, work)
    return await _save(tx, replace(work, slot_agent_id=None, updated_at=tx.now), "wrap_up_ended", SYSTEM)


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
    await _release_slot(tx, work)
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
    work = await _save(tx, work, "resolved", actor, code=resolution_code, fcr=fcr, end_notice=sent)
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
    return await _save(
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
    work = await _save(tx, replace(work, state="closed", closed_at=tx.now, updated_at=tx.now), "closed", actor)
    await publish_work(
        tx, work, WorkClosedV1(work_id=work.work_id, contact_id=work.contact_id, reason=reason, at=tx.now)
    )
    return work


async def close(tx: Tx, work_id: uuid.UUID, actor: Actor, *, reason: str | None) -> WorkRecord:
    work = await lock(tx, work_id, actor, "close", owner_only=False)
    if not actor.is_supervisor and actor.subject not in (work.first_owner_id, work.owner_id):
        raise NotAllowed("only the first owner or a supervisor closes work")
    return await close_work(tx, work, actor, reason=reason or f"closed by {actor.label}")


async def reopen(tx: Tx, work: WorkRecord, actor: Actor, *, reason: str) -> WorkRecord:
    """Resolved or closed work that turned out unsolved queues again, held for its first owner first."""
    check("reopen", work.state)
    work = replace(
        work,
        reopened=work.reopened + 1,
        enqueued_at=tx.now,
        resolution_code=None,
        final_note=None,
        fcr=None,
        customer_notified=False,
        resolved_at=None,
        closed_at=None,
        solution_at=None,
        wrap_up_until=None,
    )
    await publish_work(
        tx, work, WorkReopenedV1(work_id=work.work_id, contact_id=work.contact_id, reason=reason, at=tx.now)
    )
    return await requeue_for_owner(tx, work, actor, reason=f"reopened: {reason}")


async def reopen_command(tx: Tx, work_id: uuid.UUID, actor: Actor, *, reason: str) -> WorkRecord:
    """A supervisor, or an agent who handled this work (its first owner, its last owner, or an assignee)."""
    work = await lock(tx, work_id, actor, "reopen", owner_only=False)
    if not actor.is_supervisor and actor.subject not in (work.first_owner_id, work.owner_id):
        handled = await offer_repo.assignments_of(tx.conn, work.work_id)
        if not any(a["agent_id"] == actor.subject for a in handled):
            raise NotAllowed("only an agent who handled this work, or a supervisor, may reopen it")
    return await reopen(tx, work, actor, reason=reason)


# --- supervisors --------------------------------------------------------------------------------------------


async def supervisor_assign(
    tx: Tx, work_id: uuid.UUID, actor: Actor, *, agent_id: str, override_capacity: bool, reason: str | None
) -> WorkRecord:
    """Assign directly. Capacity holds unless the supervisor overrides it explicitly (audited)."""
    # Offered work: its offer is locked before the work (agent → offer → work, as on every path that closes
    # an offer). Locking the work first deadlocked with the agent accepting the offer at the same moment.
    pending = await offer_repo.live_offer_for_work(tx.conn, work_id)
    if pending is not None:
        await lock_offer(tx, pending.offer_id)
    work = await lock(tx, work_id, actor, "assign", owner_only=False)
    live = await offer_repo.live_offer_for_work(tx.conn, work.work_id)
    if live is not None:
        await fail_offer(tx, live, status="withdrawn", reason=f"assigned by {actor.label}", actor=actor)
        work = await lock(tx, work_id, actor, "assign", owner_only=False)
    agent = await agent_repo.get_agent(tx.conn, agent_id, for_update=True)
    if agent is None or not agent.active:
        raise NotFound(f"no active agent {agent_id}")
    if free_capacity(to_agent(tx.policy, agent), work.channel) <= 0:
        if not override_capacity:
            raise Conflict(
                f"agent {agent_id} has no free {work.channel} slot (load {dict(agent.load)}); "
                "set override_capacity to exceed it"
            )
        await audit.record(
            tx.conn,
            actor=actor.label,
            action="capacity_override",
            target=f"work:{work_id}",
            detail={"agent_id": agent_id, "load": dict(agent.load), "reason": reason},
            at=tx.now,
        )
    await agent_repo.touch_idle(tx.conn, agent_id=agent_id, now=tx.now)
    work = await assign(
        tx,
        work,
        agent_id=agent_id,
        actor=actor,
        via="supervisor",
        override_by=actor.label if override_capacity else None,
    )
    await audit.record(
        tx.conn,
        actor=actor.label,
        action="assign",
        target=f"work:{work_id}",
        detail={"agent_id": agent_id, "reason": reason},
        at=tx.now,
    )
    updated = await agent_repo.get_agent(tx.conn, agent_id)
    if updated is not None:
        await publish_presence(tx, updated)
    return work


async def force_offer(
    tx: Tx, work_id: uuid.UUID, actor: Actor, *, agent_id: str, override_capacity: bool
) -> uuid.UUID:
    work = await lock(tx, work_id, actor, "offer", owner_only=False)
    await agent_repo.lock_agent(tx.conn, agent_id)  # waited for here: the batch skips rows locked elsewhere
    result = await make_offers(
        tx,
        [(work.work_id, agent_id, {"rule": f"forced by {actor.label}"})],
        fence=None,
        forced_by=actor,
        override_capacity=override_capacity,
    )
    if not result.made:
        raise Conflict(f"cannot offer to {agent_id}: {result.rejected[0][2]}")
    await audit.record(
        tx.conn,
        actor=actor.label,
        action="force_offer",
        target=f"work:{work_id}",
        detail={"agent_id": agent_id, "override_capacity": override_capacity},
        at=tx.now,
    )
    return result.made[0][1]


async def requeue(tx: Tx, work_id: uuid.UUID, actor: Actor, *, reason: str | None) -> WorkRecord:
    """From the supervisor queue back to automatic routing, with a fresh count of offers."""
    work = await lock(tx, work_id, actor, "requeue", owner_only=False)
    work = replace(work, state="queued", offers_failed=0, excluded=(), updated_at=tx.now)
    work = await _save(tx, work, "requeued", actor, reason=reason)
    await _queued(tx, work, f"requeued by {actor.label}" + (f": {reason}" if reason else ""))
    await audit.record(
        tx.conn,
        actor=actor.label,
        action="requeue",
        target=f"work:{work_id}",
        detail={"reason": reason},
        at=tx.now,
    )
    return work


def describe(tx: Tx, work: WorkRecord) -> dict[str, object]:
    return work_view(tx, work)
