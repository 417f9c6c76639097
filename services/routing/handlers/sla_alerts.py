"""SLA's alerts: warnings, breaches and escalations raise the priority of the contact's work and reach the
desktops of its people and of the escalation's role; a calendar running out of holiday data reaches the
supervisors. Each runs in the inbox transaction that claimed the event."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from services.routing.domain.model import SUPERVISOR_TIER
from services.routing.domain.paging import EMERGENCY_TIER
from services.routing.domain.records import WorkRecord
from services.routing.handlers.common import SYSTEM, Tx, history, priority_now
from services.routing.handlers.views import jsonable, work_view
from services.routing.handlers.work_steps import tell_people
from services.routing.repository import agents as agent_repo
from services.routing.repository import feed
from services.routing.repository import work as work_repo
from shared.events import SlaBreachedV1, SlaCalendarDataEndingV1, SlaEscalatedV1, SlaWarningV1


async def on_sla(tx: Tx, event: SlaWarningV1 | SlaBreachedV1 | SlaEscalatedV1) -> None:
    """Warnings and escalations raise the priority of the contact's work live; the owner's desktop is told."""
    work = await work_repo.lock_work_for_contact(tx.conn, event.contact_id)
    if work is None or work.state == "closed":
        return
    level = event.level if isinstance(event, SlaEscalatedV1) else 0
    kind = {SlaWarningV1: "warning", SlaBreachedV1: "breached", SlaEscalatedV1: "escalated"}[type(event)]
    changed = replace(work, sla_warned=True, escalation_level=max(work.escalation_level, level), updated_at=tx.now)
    if changed != work:
        await work_repo.save_work(tx.conn, changed)
        await history(
            tx, changed, f"sla_{kind}", SYSTEM, clock=event.clock, level=level, priority=priority_now(tx, changed)
        )
        await feed.notify_change(tx.conn, origin=tx.origin, pool=work.pool, kind="work", key=str(work.work_id))
    body = {
        "work_id": work.work_id,
        "contact_id": work.contact_id,
        "kind": kind,
        "clock": event.clock,
        "level": level,
        "due_at": getattr(event, "due_at", None),
        "at": event.at,
    }
    await tell_people(tx, changed, "sla", body)
    if isinstance(event, SlaEscalatedV1):
        await _to_escalation_role(tx, changed, event.target_role, {**body, "target_role": event.target_role})


async def _to_escalation_role(tx: Tx, work: WorkRecord, role: str, body: dict[str, Any]) -> None:
    """An escalation reaches the desktops of its target role: the emergency team, or the supervisors — of the
    work's team for a team lead (all supervisors when that team has none online), all of them for a supervisor
    or service manager (service managers watch from a supervisor desktop). The work is already at the top of the
    supervisor queue by its raised priority."""
    if role == "emergency_team":
        people = await agent_repo.online_agents_of_team(tx.conn, EMERGENCY_TIER, None)
    else:
        team = None
        if role == "team_lead":
            owner = await agent_repo.get_agent(tx.conn, work.owner_id) if work.owner_id else None
            team = work.target_team or (owner.team if owner is not None else None)
        people = await agent_repo.online_agents_of_team(tx.conn, SUPERVISOR_TIER, team)
        if not people and team is not None:
            people = await agent_repo.online_agents_of_team(tx.conn, SUPERVISOR_TIER, None)
    view = {**body, "work": work_view(tx, work)}
    for agent_id in sorted(set(people) - {work.owner_id, work.slot_agent_id}):
        await feed.to_desktop(tx.conn, agent_id=agent_id, kind="escalation", body=jsonable(view), now=tx.now)


async def on_calendar_data_ending(tx: Tx, event: SlaCalendarDataEndingV1) -> None:
    """Supervisors' desktops (admins and service managers work from them) are told that a calendar runs out of
    holiday data; SLA repeats it daily, so a supervisor who was offline hears it the next day."""
    body = jsonable({"kind": "calendar_data_ending", **event.model_dump(mode="json")})
    for agent_id in sorted(await agent_repo.online_agents_of_tier(tx.conn, SUPERVISOR_TIER)):
        await feed.to_desktop(tx.conn, agent_id=agent_id, kind="notice", body=body, now=tx.now)
