"""Emergency paging (`domain/paging.py`): the page timer an emergency contact starts, what it does when it falls
due (in the dispatcher's transaction), and an emergency-team member's acknowledgement from the desktop."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from services.routing.domain.lifecycle import NotAllowed, NotFound
from services.routing.domain.model import SUPERVISOR_TIER
from services.routing.domain.paging import (
    EMERGENCY_TIER,
    PAGE_TEMPLATE,
    EmergencyPage,
    page_decision,
    page_message_id,
)
from services.routing.domain.records import WorkRecord
from services.routing.handlers.common import SOURCE, SYSTEM, Tx, history
from services.routing.handlers.views import jsonable, work_view
from services.routing.repository import agents as agent_repo
from services.routing.repository import contacts as contact_repo
from services.routing.repository import feed
from services.routing.repository import paging as paging_repo
from services.routing.repository import work as work_repo
from shared.events import OutboundMessageRequestedV1
from shared.outbox import enqueue
from shared.tx import Actor

log = logging.getLogger(__name__)


async def start_page(tx: Tx, work: WorkRecord) -> bool:
    """An emergency contact's page timer, due `emergency_page_after_s` from now; the pool's dispatcher is told to
    set it. False when the contact has one already (once per contact)."""
    due = tx.now + timedelta(seconds=tx.policy.emergency_page_after_s)
    started = await paging_repo.start_page(
        tx.conn, contact_id=work.contact_id, work_id=work.work_id, pool=work.pool, due_at=due, now=tx.now
    )
    if started:
        await feed.notify_change(tx.conn, origin=tx.origin, pool=work.pool, kind="page", key=str(work.contact_id))
    return started


async def page_due(tx: Tx, contact_id: uuid.UUID) -> EmergencyPage | None:
    """The timer: page the on-call list unless an emergency-tier agent accepted the work or someone of the team
    acknowledged; returns the page when it is not due yet (the caller sets the timer again), else None."""
    page = await paging_repo.get_page(tx.conn, contact_id, for_update=True)
    if page is None:
        return None
    accepted_by = None
    if not page.settled:
        accepted_by = await paging_repo.accepted_by_tier(tx.conn, page.work_id, EMERGENCY_TIER)
    decision = page_decision(page, accepted_by=accepted_by, now=tx.now)
    if decision == "settled":
        return None
    if decision == "wait":
        return page
    work = await work_repo.get_work(tx.conn, page.work_id)
    assert work is not None, "a page belongs to its work"
    if decision == "accepted":
        assert accepted_by is not None
        await paging_repo.acknowledge(tx.conn, contact_id, by=f"accepted:{accepted_by}", at=tx.now)
        return None
    on_call = await paging_repo.list_on_call(tx.conn, active_only=True)
    contact = await contact_repo.get_contact(tx.conn, contact_id)
    waited = round((tx.now - page.created_at).total_seconds())
    for person in on_call:
        message = OutboundMessageRequestedV1(
            message_id=page_message_id(contact_id, person.on_call_id),
            kind="page",
            origin="routing",
            contact_id=contact_id,
            channel="sms",
            recipient=person.phone,
            template=PAGE_TEMPLATE,
            variables={
                "contact_id": str(contact_id),
                "work_id": str(work.work_id),
                "category": (contact.category if contact else work.category) or "",
                "pool": work.pool,
                "waited_s": str(waited),
            },
            language="zh-Hans",
        )
        await enqueue(tx.conn, message, source=SOURCE, subject=str(contact_id), now=tx.now)
    await paging_repo.mark_paged(tx.conn, contact_id, at=tx.now, recipients=len(on_call))
    await history(tx, work, "emergency_paged", SYSTEM, recipients=len(on_call), waited_s=waited)
    if not on_call:
        # Nobody to page: the supervisors hear of it instead, and the operators from the log.
        log.warning("emergency contact %s: nobody accepted it and the on-call list is empty", contact_id)
        body = jsonable({"kind": "emergency_unpaged", "work": work_view(tx, work), "waited_s": waited})
        for agent_id in sorted(await agent_repo.online_agents_of_tier(tx.conn, SUPERVISOR_TIER)):
            await feed.to_desktop(tx.conn, agent_id=agent_id, kind="notice", body=body, now=tx.now)
    return None


async def acknowledge(tx: Tx, contact_id: uuid.UUID, actor: Actor) -> EmergencyPage:
    """Someone of the emergency team (or a supervisor) has the emergency in hand: no page goes out after this
    (one already sent stays sent; the acknowledgement is still recorded)."""
    if not actor.is_supervisor:
        agent = await agent_repo.get_agent(tx.conn, actor.subject)
        if agent is None or agent.tier != EMERGENCY_TIER:
            raise NotAllowed("only the emergency team (or a supervisor) acknowledges an emergency")
    page = await paging_repo.get_page(tx.conn, contact_id, for_update=True)
    if page is None:
        raise NotFound(f"no emergency page for contact {contact_id}")
    if page.acknowledged_at is None:
        await paging_repo.acknowledge(tx.conn, contact_id, by=actor.label, at=tx.now)
        work = await work_repo.get_work(tx.conn, page.work_id)
        if work is not None:
            await history(tx, work, "emergency_acknowledged", actor, paged=page.paged_at is not None)
    found = await paging_repo.get_page(tx.conn, contact_id)
    assert found is not None
    return found
