"""An agent's work through its life: start, pending and resume (a customer's reply too), solution recorded,
wrap-up (and its end), reopen and the requeue for the first owner it leads to. Each runs in the caller's
transaction."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta

from services.routing.domain.lifecycle import Conflict, NotAllowed, check
from services.routing.domain.model import free_capacity
from services.routing.domain.records import WorkRecord, to_agent
from services.routing.handlers.common import SYSTEM, Tx, publish_presence, publish_work
from services.routing.handlers.work_steps import announce_queued, lock, release_slot, save
from services.routing.repository import agents as agent_repo
from services.routing.repository import offers as offer_repo
from services.routing.repository import work as work_repo
from shared.events import WorkPendingV1, WorkReopenedV1, WorkResumedV1, WorkSolutionRecordedV1
from shared.tx import Actor


async def start(tx: Tx, work_id: uuid.UUID, actor: Actor) -> WorkRecord:
    work = await lock(tx, work_id, actor, "start")
    return await save(tx, replace(work, state="in_progress", updated_at=tx.now), "started", actor)


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
    await release_slot(tx, work)
    work = replace(
        work,
        state=f"pending_{on}",
        slot_agent_id=None,
        pending_department=department if on == "department" else None,
        pending_until=until,
        updated_at=tx.now,
    )
    work = await save(tx, work, "pending", actor, on=on, department=department, reason=reason)
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
        work = await save(tx, work, "resumed", actor, reason=reason, to=owner.agent_id)
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
    work = await save(tx, work, "queued", actor, reason=reason, held_for=first if hold else None)
    await announce_queued(
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
    work = await save(tx, work, "solution_recorded", actor)
    await publish_work(
        tx,
        work,
        WorkSolutionRecordedV1(
            work_id=work.work_id, contact_id=work.contact_id, agent_id=actor.subject, at=tx.now
        ),
    )
    return work


async def wrap_up(tx: Tx, work_id: uuid.UUID, actor: Actor) -> WorkRecord:
    """After-contact work: the slot stays held for the channel's wrap-up time, then frees on its own."""
    work = await lock(tx, work_id, actor, "wrap_up")
    seconds = tx.policy.wrap_up_s.get(work.channel, 0)
    if seconds <= 0:
        await release_slot(tx, work)
        work = replace(work, slot_agent_id=None)
    work = replace(work, state="wrap_up", wrap_up_until=tx.now + timedelta(seconds=seconds), updated_at=tx.now)
    return await save(tx, work, "wrap_up", actor, seconds=seconds)


async def wrap_up_expired(tx: Tx, work_id: uuid.UUID) -> WorkRecord | None:
    work = await work_repo.get_work(tx.conn, work_id, for_update=True)
    if work is None or work.state != "wrap_up" or work.slot_agent_id is None:
        return None
    if work.wrap_up_until is not None and work.wrap_up_until > tx.now:
        return None
    await release_slot(tx, work)
    return await save(tx, replace(work, slot_agent_id=None, updated_at=tx.now), "wrap_up_ended", SYSTEM)


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
