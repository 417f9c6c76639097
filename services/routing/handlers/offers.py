"""Offers: made (by the pool's owner, fenced), accepted, declined, missed or withdrawn.

Capacity is checked against the database with the agent's row locked, so no path — another instance, a
supervisor, a stale engine — can put an agent over capacity.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from services.routing.domain.lifecycle import Conflict, NotAllowed, NotFound, after_failed_offer, check
from services.routing.domain.records import (
    AgentRecord,
    ContactRecord,
    OfferRecord,
    WorkRecord,
    vet_offers,
)
from services.routing.handlers import presence
from services.routing.handlers.common import (
    SOURCE,
    SYSTEM,
    Tx,
    agent_changed,
    change_notice,
    history,
    publish_work,
    queued_event,
)
from services.routing.handlers.views import contact_details, jsonable, offer_view, work_view
from services.routing.repository import agents as agent_repo
from services.routing.repository import contacts as contact_repo
from services.routing.repository import feed
from services.routing.repository import history as history_repo
from services.routing.repository import offers as offer_repo
from services.routing.repository import work as work_repo
from services.routing.repository.leases import Fence, Fenced, holds_fence
from shared.events import (
    OutgoingMessage,
    WorkAssignedV1,
    WorkOfferDeclinedV1,
    WorkOfferedV1,
    WorkOfferExpiredV1,
    encode,
)
from shared.outbox import enqueue_many
from shared.tx import Actor


class OfferClosed(Conflict):
    """The offer was answered or closed in another transaction before this one could close it."""


@dataclass(frozen=True)
class Offers:
    made: tuple[tuple[uuid.UUID, uuid.UUID], ...]
    """(work, offer) for each offer written."""
    rejected: tuple[tuple[uuid.UUID, str, str], ...]
    """(work, agent, why) for each proposal not made."""


async def make_offers(
    tx: Tx,
    proposals: Sequence[tuple[uuid.UUID, str, dict[str, Any]]],
    *,
    fence: Fence | None,
    forced_by: Actor | None = None,
    override_capacity: bool = False,
) -> Offers:
    """Offers, set-based: the dispatcher's for one pool (under its `fence`), or a supervisor's forced offer as
    a batch of one (`forced_by`, no fence). The fence, then the proposals' work items and agents locked with
    one statement each (never waiting: a row busy in another transaction is rejected and tried again later;
    rows this transaction holds are read), every proposal checked (`vet_offers`: capacity counted across the
    batch), then offers, work states, idle clocks, history, desktop messages and events written with one
    statement each. Raises `Fenced`."""
    if fence is not None and not await holds_fence(
        tx.conn, pool=fence.pool, holder=fence.holder, epoch=fence.epoch, now=tx.now
    ):
        raise Fenced(fence.pool)
    works = await work_repo.lock_works(tx.conn, sorted({p[0] for p in proposals}))
    agents = await agent_repo.lock_agents(tx.conn, sorted({p[1] for p in proposals}))
    vetted = vet_offers(
        tx.policy,
        [(p[0], p[1]) for p in proposals],
        pool=fence.pool if fence else None,
        works=works,
        agents=agents,
        forced=forced_by is not None,
        override_capacity=override_capacity,
    )
    if not vetted.made:
        return Offers((), vetted.rejected)
    contacts = await contact_repo.get_contacts(tx.conn, [w.contact_id for w, _ in vetted.made])
    expires_at = tx.now + timedelta(seconds=tx.policy.offer_timeout_s)
    decisions = {p[0]: p[2] for p in proposals}
    rows = _offer_rows(tx, vetted.made, decisions, contacts, expires_at=expires_at, forced_by=forced_by)
    await offer_repo.insert_offers(
        tx.conn,
        offers=rows.offers,
        epoch=fence.epoch if fence else 0,
        now=tx.now,
        expires_at=expires_at,
        forced_by=forced_by.label if forced_by else None,
    )
    await work_repo.mark_offered(tx.conn, slots=[(w.work_id, a.agent_id) for w, a in vetted.made], now=tx.now)
    await agent_repo.touch_idle_many(tx.conn, agent_ids=[a.agent_id for _, a in vetted.made], now=tx.now)
    await history_repo.add_histories_and_notify(tx.conn, entries=rows.history, now=tx.now, notices=rows.notices)
    await feed.to_desktops(tx.conn, messages=rows.desktop, now=tx.now)
    await enqueue_many(tx.conn, rows.events, now=tx.now)
    return Offers(tuple(rows.made), vetted.rejected)


@dataclass
class _OfferRows:
    """A batch of offers as rows: one list for each statement that writes them."""

    made: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)
    offers: list[tuple[uuid.UUID, uuid.UUID, str, str, dict[str, Any]]] = field(default_factory=list)
    history: list[tuple[uuid.UUID, str, str, dict[str, Any]]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    desktop: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    events: list[OutgoingMessage] = field(default_factory=list)


def _offer_rows(
    tx: Tx,
    made: Sequence[tuple[WorkRecord, AgentRecord]],
    decisions: Mapping[uuid.UUID, dict[str, Any]],
    contacts: Mapping[uuid.UUID, ContactRecord],
    *,
    expires_at: datetime,
    forced_by: Actor | None,
) -> _OfferRows:
    rows = _OfferRows()
    forced_label = forced_by.label if forced_by else None
    for work, agent in made:
        offer_id = uuid.uuid4()
        decision = decisions[work.work_id]
        rule = str(decision.get("rule", ""))
        offered = replace(work, state="offered", slot_agent_id=agent.agent_id, updated_at=tx.now)
        rows.made.append((work.work_id, offer_id))
        rows.offers.append((offer_id, work.work_id, agent.agent_id, work.pool, jsonable(decision)))
        rows.history.append(
            (
                work.work_id,
                "offered",
                (forced_by or SYSTEM).label,
                {"agent_id": agent.agent_id, "offer_id": str(offer_id), "rule": rule},
            )
        )
        rows.notices.append(change_notice(tx, work.pool, "offer", str(work.work_id)))
        rows.desktop.append(
            (
                agent.agent_id,
                "offer",
                offer_view(tx, offered, contacts.get(work.contact_id), offer_id, expires_at, forced_label),
            )
        )
        event = WorkOfferedV1(
            work_id=work.work_id,
            contact_id=work.contact_id,
            agent_id=agent.agent_id,
            offer_id=offer_id,
            expires_at=expires_at,
            reasons=[rule] if rule else [],
        )
        rows.events.append(encode(event, source=SOURCE, subject=str(work.contact_id), time=tx.now, key=work.pool))
    return rows


async def lock_offer(tx: Tx, offer_id: uuid.UUID) -> OfferRecord | None:
    """The offer locked for closing, its agent locked first: every path that closes an offer then locks
    agent → offer → work, the order `set_presence` takes, so an expiry or a decline never deadlocks with a
    presence change."""
    offer = await offer_repo.get_offer(tx.conn, offer_id)
    if offer is None:
        return None
    await agent_repo.lock_agent(tx.conn, offer.agent_id)
    return await offer_repo.get_offer(tx.conn, offer_id, for_update=True)


async def accept_offer(tx: Tx, *, offer_id: uuid.UUID, actor: Actor) -> WorkRecord:
    offer = await offer_repo.get_offer(tx.conn, offer_id, for_update=True)
    if offer is None:
        raise NotFound(f"no offer {offer_id}")
    if offer.agent_id != actor.subject and not actor.is_supervisor:
        raise NotAllowed("this offer was made to another agent")
    if offer.status != "live":
        raise Conflict(f"the offer is {offer.status}" + (f" ({offer.reason})" if offer.reason else ""))
    if offer.expires_at <= tx.now:
        raise Conflict("the offer has expired")
    work = await work_repo.get_work(tx.conn, offer.work_id, for_update=True)
    assert work is not None
    check("accept", work.state)
    await offer_repo.close_offer(tx.conn, offer_id=offer_id, status="accepted", reason=None, now=tx.now)
    return await assign(tx, work, agent_id=offer.agent_id, actor=actor, via="offer")


async def decline_offer(tx: Tx, *, offer_id: uuid.UUID, reason: str | None, actor: Actor) -> WorkRecord:
    """The agent the offer was made to (or a supervisor) declines it: the work moves on (`fail_offer`)."""
    offer = await lock_offer(tx, offer_id)
    if offer is None:
        raise NotFound(f"no offer {offer_id}")
    if offer.agent_id != actor.subject and not actor.is_supervisor:
        raise NotAllowed("this offer was made to another agent")
    return await fail_offer(tx, offer, status="declined", reason=reason, actor=actor)


async def assign(
    tx: Tx, work: WorkRecord, *, agent_id: str, actor: Actor, via: str, override_by: str | None = None
) -> WorkRecord:
    """Make `agent_id` the owner; the slot must already be held by them (offer) or checked by the caller."""
    agent = await agent_repo.get_agent(tx.conn, agent_id)
    assert agent is not None
    work = replace(
        work,
        state="assigned",
        owner_id=agent_id,
        slot_agent_id=agent_id,
        first_owner_id=work.first_owner_id or agent_id,
        target_agent_id=None,
        hold_until=None,
        updated_at=tx.now,
    )
    await work_repo.save_work(tx.conn, work)
    await offer_repo.start_assignment(
        tx.conn, work_id=work.work_id, agent_id=agent_id, via=via, now=tx.now, override_by=override_by
    )
    if work.customer_id is not None:
        await agent_repo.remember_last_agent(tx.conn, customer_id=work.customer_id, agent_id=agent_id, now=tx.now)
    await history(tx, work, "assigned", actor, agent_id=agent_id, via=via, override_by=override_by)
    await publish_work(
        tx,
        work,
        WorkAssignedV1(
            work_id=work.work_id,
            contact_id=work.contact_id,
            agent_id=agent_id,
            first_owner_id=work.first_owner_id or agent_id,
            accepted_at=tx.now,
            team=agent.team,
            via=via,
        ),
    )
    await feed.to_desktop(
        tx.conn,
        agent_id=agent_id,
        kind="assigned",
        body={"work": work_view(tx, work), "contact": await contact_details(tx, work)},
        now=tx.now,
    )
    await feed.notify_change(tx.conn, origin=tx.origin, pool=work.pool, kind="agent", key=agent_id)
    return work


async def fail_offer(tx: Tx, offer: OfferRecord, *, status: str, reason: str | None, actor: Actor) -> WorkRecord:
    """A declined, missed (expired) or withdrawn offer: the work moves on to the next agent, or to the
    supervisor queue after `max_offers` failures. A withdrawn offer (the agent left) does not count."""
    if not await offer_repo.close_offer(
        tx.conn, offer_id=offer.offer_id, status=status, reason=reason, now=tx.now
    ):
        raise OfferClosed("the offer is no longer live")
    work = await work_repo.get_work(tx.conn, offer.work_id, for_update=True)
    assert work is not None
    counted = status != "withdrawn"
    failed = work.offers_failed + (1 if counted else 0)
    next_state = after_failed_offer(failed, tx.policy.max_offers) if counted else "queued"
    directed = work.target_agent_id == offer.agent_id
    work = replace(
        work,
        state=next_state,
        slot_agent_id=None,
        excluded=(*work.excluded, offer.agent_id)
        if counted and offer.agent_id not in work.excluded
        else work.excluded,
        offers_failed=failed,
        target_agent_id=None if directed else work.target_agent_id,
        hold_until=None if directed else work.hold_until,
        updated_at=tx.now,
    )
    await work_repo.save_work(tx.conn, work)
    await agent_repo.touch_idle(tx.conn, agent_id=offer.agent_id, now=tx.now)
    await history(
        tx, work, f"offer_{status}", actor, agent_id=offer.agent_id, reason=reason, next_state=next_state
    )
    await publish_work(tx, work, _failed_offer_event(work, offer, status=status, reason=reason))
    reasons = [f"offer {status}" + (f": {reason}" if reason else "")]
    if next_state == "supervisor":
        reasons.append(f"{failed} offers failed (limit {tx.policy.max_offers})")
    await publish_work(tx, work, queued_event(tx, work, reasons))
    await feed.to_desktop(
        tx.conn,
        agent_id=offer.agent_id,
        kind="offer_closed",
        body=jsonable({"offer_id": offer.offer_id, "work_id": work.work_id, "status": status, "reason": reason}),
        now=tx.now,
    )
    agent = await agent_repo.get_agent(tx.conn, offer.agent_id, for_update=True)
    if agent is not None:
        if status == "expired" and tx.policy.missed_offer_sets_away and agent.presence == "available":
            await presence.set_presence(tx, agent, presence="away", reason="missed an offer", actor=SYSTEM)
        else:
            await agent_changed(tx, agent)
    await feed.notify_change(tx.conn, origin=tx.origin, pool=work.pool, kind="work", key=str(work.work_id))
    return work


def _failed_offer_event(
    work: WorkRecord, offer: OfferRecord, *, status: str, reason: str | None
) -> WorkOfferExpiredV1 | WorkOfferDeclinedV1:
    """A missed offer is `offer_expired`; a declined or withdrawn one `offer_declined`, the reason saying which."""
    if status == "expired":
        return WorkOfferExpiredV1(
            work_id=work.work_id,
            contact_id=work.contact_id,
            agent_id=offer.agent_id,
            offer_id=offer.offer_id,
            reason=reason,
        )
    return WorkOfferDeclinedV1(
        work_id=work.work_id,
        contact_id=work.contact_id,
        agent_id=offer.agent_id,
        offer_id=offer.offer_id,
        reason=reason if status == "declined" else f"withdrawn: {reason}",
    )
