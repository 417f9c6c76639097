"""Customers who leave before they are answered, callbacks, and department hand-off deadlines (CH-21).

- Abandoned: waiting work (queued, offered, at the supervisor, or waiting for a callback time) is closed as
  abandoned — its live offer withdrawn, never offered again — unless the customer asked for a callback.
- Kept place: the work stays queued with its original age; offered, it shows the agent a callback to make.
- Booked time: the work is `scheduled` until then; the dispatcher's timer (rebuilt from the database after a
  restart) queues it at that time.
- Each attempt is reported by the phone adapter (through intake): an unanswered one schedules the next try
  `callback_retry_s` later, until `callback_max_attempts`; then the work closes as unreachable.
- A `pending_department` deadline that passes tells the owner and the team's supervisors live and raises the
  work's escalation level — once: the history row written in the same transaction is the guard.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta

from services.routing.domain.lifecycle import UNANSWERED
from services.routing.domain.model import SUPERVISOR_TIER
from services.routing.domain.records import WorkRecord
from services.routing.handlers.common import SYSTEM, Tx, history, publish_work, queued_event
from services.routing.handlers.offers import fail_offer
from services.routing.handlers.views import jsonable, work_view
from services.routing.repository import agents as agent_repo
from services.routing.repository import callbacks as callback_repo
from services.routing.repository import contacts as contact_repo
from services.routing.repository import feed
from services.routing.repository import history as history_repo
from services.routing.repository import offers as offer_repo
from services.routing.repository import work as work_repo
from shared.events import (
    ContactAbandonedV1,
    ContactCallbackAttemptedV1,
    WorkAbandonedV1,
    WorkCallbackScheduledV1,
    WorkClosedV1,
)


async def _withdraw_live_offer(tx: Tx, work_id: uuid.UUID, reason: str) -> None:
    live = await offer_repo.live_offer_for_work(tx.conn, work_id)
    if live is not None:
        await fail_offer(tx, live, status="withdrawn", reason=reason, actor=SYSTEM)


async def on_abandoned(tx: Tx, event: ContactAbandonedV1) -> None:
    work = await work_repo.lock_work_for_contact(tx.conn, event.contact_id)
    if work is None or work.state not in UNANSWERED:
        return  # answered already (or never queued): a hang-up after the answer is an ordinary end
    await _withdraw_live_offer(tx, work.work_id, f"customer left ({event.reason})")
    work = await work_repo.get_work(tx.conn, work.work_id, for_update=True)
    assert work is not None
    if event.callback == "none":
        await abandon(tx, work, reason=event.reason)
        return
    phone = event.callback_phone or (await _caller_phone(tx, work))
    await callback_repo.request(
        tx.conn, work_id=work.work_id, mode=event.callback, phone=phone, due_at=event.callback_at, now=tx.now
    )
    if event.callback == "keep_place":
        # The work keeps its place: same enqueue time, so the same age and priority as if the caller had held.
        work = replace(work, state="queued" if work.state != "supervisor" else "supervisor", updated_at=tx.now)
        await work_repo.save_work(tx.conn, work)
        await history(tx, work, "callback_requested", SYSTEM, mode="keep_place")
        await feed.notify_change(tx.conn, origin=tx.origin, pool=work.pool, kind="work", key=str(work.work_id))
        return
    due = event.callback_at or tx.now
    await schedule(tx, work, due=due, attempts=0, why="callback booked by the customer")


async def _caller_phone(tx: Tx, work: WorkRecord) -> str | None:
    contact = await contact_repo.get_contact(tx.conn, work.contact_id)
    return None if contact is None else contact.reply_to.get("phone")


async def abandon(tx: Tx, work: WorkRecord, *, reason: str) -> WorkRecord:
    waited = max(0.0, (tx.now - work.enqueued_at).total_seconds())
    work = replace(
        work,
        state="closed",
        slot_agent_id=None,
        closed_at=tx.now,
        abandoned_at=tx.now,
        scheduled_until=None,
        reason=f"abandoned: {reason}",
        updated_at=tx.now,
    )
    await work_repo.save_work(tx.conn, work)
    await history(tx, work, "abandoned", SYSTEM, reason=reason, waited_s=round(waited, 1))
    await publish_work(
        tx,
        work,
        WorkAbandonedV1(
            work_id=work.work_id, contact_id=work.contact_id, pool=work.pool, channel=work.channel,
            reason=reason, waited_s=waited, at=tx.now,
        ),
    )  # fmt: skip
    await publish_work(
        tx,
        work,
        WorkClosedV1(work_id=work.work_id, contact_id=work.contact_id, reason=f"abandoned: {reason}", at=tx.now),
    )
    await feed.notify_change(tx.conn, origin=tx.origin, pool=work.pool, kind="work", key=str(work.work_id))
    return work


async def schedule(tx: Tx, work: WorkRecord, *, due: datetime, attempts: int, why: str) -> WorkRecord:
    """The work waits for `due` (its agent, if any, is freed); the dispatcher queues it then."""
    if work.slot_agent_id is not None:
        await agent_repo.touch_idle(tx.conn, agent_id=work.slot_agent_id, now=tx.now)
        await feed.notify_change(tx.conn, origin=tx.origin, pool=work.pool, kind="agent", key=work.slot_agent_id)
    await offer_repo.end_assignment(tx.conn, work_id=work.work_id, reason="callback scheduled", now=tx.now)
    work = replace(
        work, state="scheduled", slot_agent_id=None, owner_id=None, scheduled_until=due, updated_at=tx.now
    )
    await work_repo.save_work(tx.conn, work)
    await callback_repo.set_due(tx.conn, work_id=work.work_id, due_at=due)
    await history(tx, work, "callback_scheduled", SYSTEM, due_at=due.isoformat(), attempts=attempts, why=why)
    await publish_work(
        tx,
        work,
        WorkCallbackScheduledV1(
            work_id=work.work_id, contact_id=work.contact_id, due_at=due, attempts=attempts, at=tx.now
        ),
    )
    await feed.notify_change(tx.conn, origin=tx.origin, pool=work.pool, kind="work", key=str(work.work_id))
    return work


async def callback_due(tx: Tx, work_id: uuid.UUID) -> WorkRecord | None:
    """The dispatcher's timer: a scheduled callback whose time has come is queued (None if it is not due)."""
    work = await work_repo.get_work(tx.conn, work_id, for_update=True)
    if work is None or work.state != "scheduled":
        return None
    if work.scheduled_until is not None and work.scheduled_until > tx.now:
        return None
    work = replace(work, state="queued", enqueued_at=tx.now, scheduled_until=None, updated_at=tx.now)
    await work_repo.save_work(tx.conn, work)
    await history(tx, work, "callback_due", SYSTEM)
    await publish_work(tx, work, queued_event(tx, work, ["callback due"]))
    await feed.notify_change(tx.conn, origin=tx.origin, pool=work.pool, kind="work", key=str(work.work_id))
    return work


async def on_callback_attempt(tx: Tx, event: ContactCallbackAttemptedV1) -> None:
    work = await work_repo.lock_work_for_contact(tx.conn, event.contact_id)
    if work is None or work.state == "closed":
        return
    attempts = await callback_repo.attempted(
        tx.conn, work_id=work.work_id, outcome=event.outcome, at=event.at, done=event.outcome == "answered"
    )
    if attempts is None:
        return  # no callback was asked for
    await history(tx, work, "callback_attempt", SYSTEM, outcome=event.outcome, attempt=attempts)
    if event.outcome == "answered":
        return
    if attempts >= tx.policy.callback_max_attempts:
        for agent_id in {work.slot_agent_id} - {None}:
            await agent_repo.touch_idle(tx.conn, agent_id=str(agent_id), now=tx.now)
        await offer_repo.end_assignment(tx.conn, work_id=work.work_id, reason="unreachable", now=tx.now)
        await abandon(tx, work, reason="unreachable")
        return
    due = tx.now + timedelta(seconds=tx.policy.callback_retry_s)
    await schedule(tx, work, due=due, attempts=attempts, why=f"attempt {attempts} {event.outcome}")


async def department_deadline(tx: Tx, work_id: uuid.UUID) -> WorkRecord | None:
    """CH-21: the department did not answer by its deadline. Told once, whatever restarts in between."""
    work = await work_repo.get_work(tx.conn, work_id, for_update=True)
    if work is None or work.state != "pending_department" or work.pending_until is None:
        return None
    if work.pending_until > tx.now or await history_repo.has_history(
        tx.conn, work.work_id, "department_deadline_passed", since=work.pending_until
    ):
        return None
    deadline = work.pending_until
    work = replace(work, escalation_level=work.escalation_level + 1, updated_at=tx.now)
    await work_repo.save_work(tx.conn, work)
    await history(
        tx, work, "department_deadline_passed", SYSTEM, department=work.pending_department,
        deadline=deadline.isoformat(), level=work.escalation_level,
    )  # fmt: skip
    team = work.target_team
    if team is None and work.owner_id:
        owner = await agent_repo.get_agent(tx.conn, work.owner_id)
        team = owner.team if owner else None
    supervisors = await agent_repo.online_agents_of_team(tx.conn, SUPERVISOR_TIER, team)
    if not supervisors and team is not None:
        supervisors = await agent_repo.online_agents_of_team(tx.conn, SUPERVISOR_TIER, None)
    body = jsonable(
        {
            "kind": "department_deadline",
            "work": work_view(tx, work),
            "department": work.pending_department,
            "deadline": work.pending_until,
            "level": work.escalation_level,
        }
    )
    for agent_id in sorted({*supervisors, *([work.owner_id] if work.owner_id else [])}):
        await feed.to_desktop(tx.conn, agent_id=str(agent_id), kind="escalation", body=body, now=tx.now)
    await feed.notify_change(tx.conn, origin=tx.origin, pool=work.pool, kind="work", key=str(work.work_id))
    return work
