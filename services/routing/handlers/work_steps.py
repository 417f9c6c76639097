"""The steps every action on work shares: lock it (and check who may act), save it with its history, the
change notice and its people's desktops told, free its agent's slot, announce it queued."""

from __future__ import annotations

import uuid
from typing import Any

from services.routing.domain.lifecycle import NotAllowed, NotFound, check
from services.routing.domain.records import WorkRecord
from services.routing.handlers.common import Tx, change_notice, publish_presence, publish_work, queued_event
from services.routing.handlers.views import jsonable, work_view
from services.routing.repository import agents as agent_repo
from services.routing.repository import feed
from services.routing.repository import history as history_repo
from services.routing.repository import work as work_repo
from shared.tx import Actor


async def lock(tx: Tx, work_id: uuid.UUID, actor: Actor, action: str, *, owner_only: bool = True) -> WorkRecord:
    work = await work_repo.get_work(tx.conn, work_id, for_update=True)
    if work is None:
        raise NotFound(f"no work {work_id}")
    if owner_only and not actor.is_supervisor and work.owner_id != actor.subject:
        raise NotAllowed(f"work {work_id} belongs to {work.owner_id or 'nobody'}; only its owner or a supervisor")
    check(action, work.state)
    return work


async def save(tx: Tx, work: WorkRecord, action: str, actor: Actor, **detail: object) -> WorkRecord:
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


async def release_slot(tx: Tx, work: WorkRecord) -> None:
    """The agent's slot frees: they count as idle from now, and their presence may change."""
    if work.slot_agent_id is None:
        return
    await agent_repo.touch_idle(tx.conn, agent_id=work.slot_agent_id, now=tx.now)
    agent = await agent_repo.get_agent(tx.conn, work.slot_agent_id)
    if agent is not None:
        await publish_presence(tx, agent)
        await feed.notify_change(tx.conn, origin=tx.origin, pool=agent.pool, kind="agent", key=agent.agent_id)


async def announce_queued(tx: Tx, work: WorkRecord, *reasons: str) -> None:
    await publish_work(tx, work, queued_event(tx, work, reasons))


async def tell_people(tx: Tx, work: WorkRecord, kind: str, body: dict[str, Any]) -> None:
    for agent_id in {work.owner_id, work.slot_agent_id} - {None}:
        await feed.to_desktop(tx.conn, agent_id=str(agent_id), kind=kind, body=jsonable(body), now=tx.now)
