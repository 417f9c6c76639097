"""Presence: an agent's own state (available, away, busy, offline) as the agent, a supervisor or routing sets it.

Offline or away withdraws the agent's live offers, and a missed offer may set the agent away
(`missed_offer_sets_away`): the two use cases call each other, so each imports the other as a module.
"""

from __future__ import annotations

import contextlib

from services.routing.domain.records import AgentRecord
from services.routing.handlers import offers
from services.routing.handlers.common import Actor, Tx, agent_changed, publish_presence
from services.routing.repository import agents as agent_repo
from services.routing.repository import feed
from services.routing.repository import offers as offer_repo


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
