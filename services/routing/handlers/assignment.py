"""Who handles the work: transfer (to an agent, a team's queue or a department), and the supervisor's assign,
forced offer and requeue to automatic routing. Each runs in the caller's transaction."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime

from services.routing.domain.lifecycle import HOLDS_SLOT, Conflict, NotFound
from services.routing.domain.model import free_capacity
from services.routing.domain.records import WorkRecord, to_agent
from services.routing.handlers.common import Tx, publish_presence, publish_work
from services.routing.handlers.offers import assign, fail_offer, lock_offer, make_offers
from services.routing.handlers.views import work_view
from services.routing.handlers.work_steps import announce_queued, lock, release_slot, save
from services.routing.repository import agents as agent_repo
from services.routing.repository import feed
from services.routing.repository import offers as offer_repo
from shared import audit
from shared.events import WorkPendingV1, WorkTransferredV1
from shared.tx import Actor


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
        moved = await _to_department(tx, work, actor, department=to_department, deadline=deadline, reason=reason)
    else:
        work, moved = await _to_queue(tx, work, actor, to_agent=to_agent, to_team=to_team, reason=reason)
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


async def _to_department(
    tx: Tx, work: WorkRecord, actor: Actor, *, department: str, deadline: datetime, reason: str | None
) -> WorkRecord:
    """Pending on the department until its deadline; the slot is given back, the owner stays."""
    await release_slot(tx, work)
    moved = replace(
        work,
        state="pending_department",
        slot_agent_id=None,
        pending_department=department,
        pending_until=deadline,
        updated_at=tx.now,
    )
    moved = await save(tx, moved, "transferred", actor, to_department=department, reason=reason)
    await publish_work(
        tx,
        moved,
        WorkPendingV1(
            work_id=moved.work_id,
            contact_id=moved.contact_id,
            pending_on="department",
            department=department,
            until=deadline,
            at=tx.now,
            reason=reason,
        ),
    )
    return moved


async def _to_queue(
    tx: Tx, work: WorkRecord, actor: Actor, *, to_agent: str | None, to_team: str | None, reason: str | None
) -> tuple[WorkRecord, WorkRecord]:
    """Queued again, directed to the agent or in the team's queue; its live offer is withdrawn, its slot and
    assignment end. Returns the work as locked last (before the move) and as moved."""
    if to_agent is not None and await agent_repo.get_agent(tx.conn, to_agent) is None:
        raise NotFound(f"no agent {to_agent}")
    live = await offer_repo.live_offer_for_work(tx.conn, work.work_id)
    if live is not None:
        await fail_offer(tx, live, status="withdrawn", reason="transferred", actor=actor)
        work = await lock(tx, work.work_id, actor, "transfer", owner_only=False)
    if work.state in HOLDS_SLOT:
        await release_slot(tx, work)
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
    moved = await save(tx, moved, "transferred", actor, to_agent=to_agent, to_team=to_team, reason=reason)
    await announce_queued(tx, moved, f"transferred by {actor.label}" + (f": {reason}" if reason else ""))
    if work.owner_id and work.owner_id != to_agent:
        await feed.to_desktop(
            tx.conn,
            agent_id=work.owner_id,
            kind="work_updated",
            body={"work": work_view(tx, moved), "action": "transferred_away"},
            now=tx.now,
        )
    return work, moved


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
    work = await save(tx, work, "requeued", actor, reason=reason)
    await announce_queued(tx, work, f"requeued by {actor.label}" + (f": {reason}" if reason else ""))
    await audit.record(
        tx.conn,
        actor=actor.label,
        action="requeue",
        target=f"work:{work_id}",
        detail={"reason": reason},
        at=tx.now,
    )
    return work
