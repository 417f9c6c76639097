"""Presence: an agent's own state (available, away, busy, offline) as the agent, a supervisor or routing sets it,
and whether the agent's desktop is connected.

Offline or away withdraws the agent's live offers, and a missed offer may set the agent away
(`missed_offer_sets_away`): the two use cases call each other, so each imports the other as a module.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from services.routing.domain.records import AgentRecord
from services.routing.handlers import offers
from services.routing.handlers.common import Tx, agent_changed, publish_presence
from services.routing.handlers.views import jsonable, work_view
from services.routing.repository import agents as agent_repo
from services.routing.repository import feed
from services.routing.repository import offers as offer_repo
from services.routing.repository import work as work_repo
from shared.tx import Actor


async def set_presence(
    tx: Tx, agent: AgentRecord, *, presence: str, reason: str | None, actor: Actor
) -> AgentRecord:
    """Offline or away withdraws the agent's live offers (they move on at once, not counted as failures)."""
    await agent_repo.set_presence(tx.conn, agent_id=agent.agent_id, presence=presence, reason=reason, now=tx.now)
    if presence != "available":
        # Read unlocked: one of them may be accepted or declined while this runs (the agent answering another
        # offer as this one expires). Such an offer has nothing left to withdraw.
        for offer in await offer_repo.live_offers_for_agent(tx.conn, agent.agent_id):
            with contextlib.suppress(offers.OfferClosed):
                await offers.fail_offer(tx, offer, status="withdrawn", reason=f"agent {presence}", actor=actor)
    updated = await agent_repo.get_agent(tx.conn, agent.agent_id)
    assert updated is not None
    await publish_presence(tx, updated)
    await feed.to_desktop(
        tx.conn,
        agent_id=agent.agent_id,
        kind="presence",
        body={"presence": presence, "reason": reason, "by": actor.label},
        now=tx.now,
    )
    await agent_changed(tx, updated)
    return updated


@dataclass(frozen=True)
class Connected:
    """A desktop's start: the `hello` snapshot, and the feed ids it already reflects."""

    hello: dict[str, Any]
    last: int
    """The agent's newest feed id."""
    floor: int
    """The newest feed id committed before the late-commit window: everything at or below it is reflected."""
    seen: list[int]
    """The ids above `floor` committed so far, also reflected."""


async def desktop_connected(tx: Tx, agent_id: str, *, window_s: float) -> Connected | None:
    """The agent's desktop is connected (ending any disconnection grace); None when there is no such agent."""
    agent = await agent_repo.get_agent(tx.conn, agent_id, for_update=True)
    if agent is None:
        return None
    await agent_repo.set_disconnected(tx.conn, agent_id=agent_id, at=None, now=tx.now)
    await agent_changed(tx, agent)
    live = await offer_repo.live_offers_for_agent(tx.conn, agent_id)
    works = await work_repo.works_of_agent(tx.conn, agent_id)
    # What the hello snapshot already reflects: the messages committed so far within the window.
    floor = await feed.last_desktop_id_before(
        tx.conn, agent_id=agent_id, before=tx.now - timedelta(seconds=window_s)
    )
    return Connected(
        hello=jsonable(
            {
                "type": "hello",
                "agent_id": agent_id,
                "presence": agent.presence,
                "offers": [
                    {"offer_id": o.offer_id, "work_id": o.work_id, "expires_at": o.expires_at} for o in live
                ],
                "work": [work_view(tx, w) for w in works],
            }
        ),
        last=await feed.last_desktop_id(tx.conn, agent_id),
        floor=floor,
        seen=await feed.desktop_ids_after(tx.conn, agent_id=agent_id, after=floor),
    )


async def desktop_disconnected(tx: Tx, agent_id: str) -> None:
    """The agent's last desktop went away: the disconnection grace starts (the dispatcher sets the agent offline
    when it runs out)."""
    agent = await agent_repo.get_agent(tx.conn, agent_id, for_update=True)
    if agent is not None:
        await agent_repo.set_disconnected(tx.conn, agent_id=agent_id, at=tx.now, now=tx.now)
        await agent_changed(tx, agent)
