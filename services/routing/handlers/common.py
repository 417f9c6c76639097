"""What every routing transaction shares: who acts, how work and presence changes are announced."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import Histogram

from services.routing.domain.model import displayed_presence
from services.routing.domain.policy import Policy, priority_at, static_priority
from services.routing.domain.records import AgentRecord, WorkRecord, to_agent
from services.routing.repository import feed
from services.routing.repository import history as history_repo
from shared import tx as shared_tx
from shared.events import AgentPresenceChangedV1, Event, WorkAssignedV1, WorkQueuedV1, WorkResolvedV1
from shared.outbox import enqueue
from shared.tx import Actor

SOURCE = "switchboard/routing"


SYSTEM = Actor("system", "routing")


@dataclass(frozen=True)
class Tx(shared_tx.Tx):
    """Routing's transaction context: the connection and the instant, and the policy in force and which instance
    writes (every routing transaction reads both)."""

    policy: Policy
    origin: str


# Wait (queued → accepted) and handle (accepted → resolved) times, by channel and grade. Observed as the
# announcing event is staged: a rolled-back transaction may count once more, never less.
_SECONDS = (1, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600)
WAIT_SECONDS = Histogram(
    "switchboard_routing_wait_seconds",
    "From work queued to accepted by an agent",
    ["channel", "grade"],
    registry=None,
    buckets=_SECONDS,
)
HANDLE_SECONDS = Histogram(
    "switchboard_routing_handle_seconds",
    "From work accepted to resolved",
    ["channel", "grade"],
    registry=None,
    buckets=_SECONDS,
)


async def publish_work(tx: Tx, work: WorkRecord, event: Event) -> None:
    """routing.work is keyed by pool (one owner per pool); the subject stays the contact."""
    await enqueue(tx.conn, event, source=SOURCE, subject=str(work.contact_id), now=tx.now, key=work.pool)
    if isinstance(event, WorkAssignedV1):
        waited = (event.accepted_at - work.enqueued_at).total_seconds()
        WAIT_SECONDS.labels(work.channel, work.grade).observe(max(waited, 0.0))
    elif isinstance(event, WorkResolvedV1):
        accepted = await history_repo.assigned_at(tx.conn, work.work_id)
        if accepted is not None:
            handled = (event.resolved_at - accepted).total_seconds()
            HANDLE_SECONDS.labels(work.channel, work.grade).observe(max(handled, 0.0))


def priority_now(tx: Tx, work: WorkRecord) -> int:
    static = static_priority(
        tx.policy,
        work_class=work.work_class,
        grade=work.grade,
        sla_warned=work.sla_warned,
        escalation_level=work.escalation_level,
    )
    return round(priority_at(tx.policy, static, work.enqueued_at, tx.now))


def queued_event(tx: Tx, work: WorkRecord, reasons: Sequence[str]) -> WorkQueuedV1:
    """`work.queued` for work (new or back) in its queue — the supervisor's when its state says so — at the
    priority it has now; the one place the event is made."""
    return WorkQueuedV1(
        work_id=work.work_id,
        contact_id=work.contact_id,
        pool=work.pool,
        priority=priority_now(tx, work),
        reasons=list(reasons),
        queue="supervisor" if work.state == "supervisor" else None,
    )


def change_notice(tx: Tx, pool: str, kind: str, key: str) -> str:
    return feed.change_payload(origin=tx.origin, pool=pool, kind=kind, key=key)


async def work_changed(tx: Tx, work: WorkRecord) -> None:
    await feed.notify_change(tx.conn, origin=tx.origin, pool=work.pool, kind="work", key=str(work.work_id))


async def agent_changed(tx: Tx, agent: AgentRecord) -> None:
    await feed.notify_change(tx.conn, origin=tx.origin, pool=agent.pool, kind="agent", key=agent.agent_id)


async def publish_presence(tx: Tx, agent: AgentRecord) -> None:
    view = to_agent(tx.policy, agent)
    event = AgentPresenceChangedV1(
        agent_id=agent.agent_id,
        presence=displayed_presence(view),
        load=dict(agent.load),
        at=tx.now,
    )
    await enqueue(tx.conn, event, source=SOURCE, subject=agent.agent_id, now=tx.now, key=agent.agent_id)


async def history(tx: Tx, work: WorkRecord, action: str, actor: Actor, **detail: object) -> None:
    await history_repo.add_history(
        tx.conn, work_id=work.work_id, action=action, actor=actor.label, detail=dict(detail), now=tx.now
    )
