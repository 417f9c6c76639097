"""The pools this instance owns, in memory, and the rounds over them: the engine (an index of the database,
never the truth) kept in step with the rows read, a matching round written as offers under the pool's lease
(`make_offers` checks the fence), and the timers fired when due (`fire_due(now)`, the step tests call)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.routing.config import RoutingSettings
from services.routing.domain.engine import Engine, plan
from services.routing.domain.lifecycle import Conflict, InvalidTransition, NotFound
from services.routing.domain.model import directed_to, next_relaxation
from services.routing.domain.policy import Policy
from services.routing.domain.records import BUSY_OR_GONE, AgentRecord, WorkRecord, to_agent, to_work
from services.routing.domain.timers import TimerKind, Timers
from services.routing.handlers.callbacks import callback_due, department_deadline
from services.routing.handlers.common import SYSTEM, Tx
from services.routing.handlers.lifecycle import wrap_up_expired
from services.routing.handlers.offers import fail_offer, lock_offer, make_offers
from services.routing.handlers.paging import page_due
from services.routing.handlers.presence import set_presence
from services.routing.repository import agents as agent_repo
from services.routing.repository import leases
from services.routing.repository import offers as offer_repo
from services.routing.repository import paging as paging_repo
from services.routing.repository import work as work_repo
from services.routing.repository.policy import current_policy
from shared.clock import Clock
from shared.redact import describe

log = logging.getLogger(__name__)

BATCH = 64
"""Most offers written in one transaction."""
REFIRE_S = 1.0
"""How long a timer whose transaction met a concurrent change waits before it fires again."""
RETRY_S = 0.05
"""How long a proposal whose rows were busy in another transaction waits before it is read and tried again."""


@dataclass
class DispatcherStats:
    offers: int = 0
    rejected: int = 0
    fenced: int = 0
    expired: int = 0
    notifications: int = 0
    decision_us: list[float] = field(default_factory=list)

    def timing(self, micros: float) -> None:
        self.decision_us.append(micros)
        if len(self.decision_us) > 5000:
            del self.decision_us[:2500]


class MatchingRounds:
    """The owned pools' state and what is done with it; `Dispatcher` (`loop`) runs it and keeps the leases."""

    def __init__(self, *, db: asyncpg.Pool, settings: RoutingSettings, clock: Clock, instance: str) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.instance = instance
        self.origin = f"{instance}/dispatcher"
        """Offers this dispatcher writes carry this origin; their notices are not read back."""
        self.engine: Engine | None = None
        self.stats = DispatcherStats()
        self._wake = asyncio.Event()
        self._forget_pools()

    def _forget_pools(self) -> None:
        """No pools, timers or pending changes in memory."""
        self.timers_ = TimerBook()
        self.epochs: dict[str, int] = {}
        self._pending: set[tuple[str, str, str]] = set()
        self._deferred: set[tuple[str, str, str]] = set()
        self._retry_at: datetime | None = None

    @property
    def policy(self) -> Policy:
        assert self.engine is not None
        return self.engine.policy

    def _engine(self) -> Engine:
        assert self.engine is not None, "start() first"
        return self.engine

    def notice(self, pool: str, kind: str, key: str, *, later: bool = False) -> None:
        """Tell the dispatcher of a change without NOTIFY (tests; a lost listener); `later`: after `RETRY_S`."""
        if later:
            if not self._deferred:
                self._retry_at = self.clock.now() + timedelta(seconds=RETRY_S)
            self._deferred.add((pool, kind, key))
            return
        self._pending.add((pool, kind, key))
        self._wake.set()

    # --- the pools owned ---------------------------------------------------------------------------------------

    async def load_pool(self, conn: Any, pool: str, now: datetime) -> None:
        """Everything of a pool newly owned: agents, waiting work, live offers, wrap-ups, disconnected desktops."""
        engine = self._engine()
        policy = await current_policy(conn)
        if policy.version != engine.policy.version:  # refiling everything waiting is not free: only on a change
            engine.set_policy(policy, now)
        agents = await agent_repo.list_agents(conn, pool=pool)
        for record in sorted(agents, key=lambda a: (a.idle_since, a.agent_id)):
            self._apply_agent(record, now)
        works = await work_repo.works_in_pool(
            conn, pool=pool, states=["queued", "wrap_up", "scheduled", "pending_department"]
        )
        for work in sorted(works, key=lambda w: w.enqueued_at):
            self._apply_work(work, now)
        for offer in await offer_repo.live_offers_in_pool(conn, pool):
            self.timers_.set_offer(offer.offer_id, offer.expires_at)
        for page in await paging_repo.pending_in_pool(conn, pool):
            self.timers_.set("page", str(page.contact_id), page.due_at)
        await self.match(set(engine.waiting), {a.agent_id for a in agents}, now)

    def drop_pool(self, pool: str) -> None:
        self.epochs.pop(pool, None)
        engine = self._engine()
        for work_id in [w for w, work in engine.waiting.items() if work.pool == pool]:
            engine.drop_work(work_id)
            self.timers_.cancel_work(work_id)
        for agent_id in [a for a, agent in engine.agents.items() if agent.pool == pool]:
            engine.drop_agent(agent_id)
            self.timers_.cancel("grace", agent_id)

    # --- keeping the engine in step ---------------------------------------------------------------------------

    def _apply_agent(self, record: AgentRecord, now: datetime) -> bool:
        engine = self._engine()
        if record.pool not in self.epochs:
            engine.drop_agent(record.agent_id)
            self.timers_.cancel("grace", record.agent_id)
            return False
        engine.put_agent(to_agent(engine.policy, record))
        if record.disconnected_at is not None and record.presence != "offline":
            due = record.disconnected_at + timedelta(seconds=engine.policy.disconnect_grace_s)
            self.timers_.set("grace", record.agent_id, due)
        else:
            self.timers_.cancel("grace", record.agent_id)
        return True

    def _apply_work(self, record: WorkRecord, now: datetime) -> bool:
        """True when the work waits (and should be matched)."""
        engine = self._engine()
        self.timers_.cancel_work(record.work_id)
        if record.pool not in self.epochs:
            engine.drop_work(record.work_id)
            return False
        if record.state == "wrap_up" and record.slot_agent_id and record.wrap_up_until:
            self.timers_.set("wrap_up", str(record.work_id), record.wrap_up_until)
        if record.state == "scheduled":
            self.timers_.set("callback", str(record.work_id), record.scheduled_until or now)
        if record.state == "pending_department" and record.pending_until is not None:
            self.timers_.set("deadline", str(record.work_id), record.pending_until)
        if record.state != "queued":
            engine.drop_work(record.work_id)
            return False
        work = to_work(record)
        engine.put_work(work, now)
        relax = next_relaxation(work, engine.policy.relaxation, now)
        if relax is not None:
            self.timers_.set("relax", str(work.work_id), relax)
        if directed_to(work, now) is not None and work.hold_until is not None:
            self.timers_.set("hold", str(work.work_id), work.hold_until)
        return True

    # --- decisions --------------------------------------------------------------------------------------------

    async def match(self, works: set[uuid.UUID], agents: set[str], now: datetime) -> int:
        """Offer changed work to the best free agents, then fill freed slots (see `engine.plan`)."""
        proposals = plan(self._engine(), works, agents, now, clock_ns=time.perf_counter_ns)
        for p in proposals:
            self.stats.timing(p.micros)
        batch = [(p.work_id, p.agent_id, dict(p.detail)) for p in proposals]
        for start in range(0, len(batch), BATCH):
            await self._persist(batch[start : start + BATCH], now)
        return len(proposals)

    async def _persist(self, proposals: list[tuple[uuid.UUID, str, dict[str, Any]]], now: datetime) -> None:
        engine = self._engine()
        by_pool: dict[str, list[tuple[uuid.UUID, str, dict[str, Any]]]] = {}
        for p in proposals:
            agent = engine.agents.get(p[1])
            if agent is not None:
                by_pool.setdefault(agent.pool, []).append(p)
        for pool, batch in by_pool.items():
            epoch = self.epochs.get(pool)
            if epoch is None:
                continue
            fence = leases.Fence(pool, self.instance, epoch)
            try:
                async with self.db.acquire() as conn, conn.transaction():
                    tx = Tx(conn=conn, now=now, policy=engine.policy, origin=self.origin)
                    result = await make_offers(tx, batch, fence=fence)
            except leases.Fenced:
                self.stats.fenced += len(batch)
                log.warning("dispatcher: fenced out of pool %s; dropping it", pool)
                self.drop_pool(pool)
                continue
            self.stats.offers += len(result.made)
            expires = now + timedelta(seconds=engine.policy.offer_timeout_s)
            for _, offer_id in result.made:
                self.timers_.set_offer(offer_id, expires)
            for work_id, agent_id, why in result.rejected:
                self.stats.rejected += 1
                log.info("dispatcher: offer of %s to %s not made (%s); re-reading both", work_id, agent_id, why)
                # A row busy in another transaction is read again a moment later (that transaction's own
                # notice may come first); anything else at once.
                later = why == BUSY_OR_GONE
                self.notice(pool, "work", str(work_id), later=later)
                self.notice(pool, "agent", agent_id, later=later)

    # --- timers -----------------------------------------------------------------------------------------------

    async def fire_due(self, now: datetime) -> int:
        """Handle every timer due at `now`; returns how many fired."""
        fired = self.timers_.pop_due(now)
        if not fired:
            return 0
        engine = self._engine()
        dirty_works: set[uuid.UUID] = set()
        # Most offer timers outlive their offer (accepted, declined, withdrawn): one read finds the few still
        # live, and only those take a locked transaction.
        offer_ids = [uuid.UUID(key) for kind, key in fired if kind == "offer"]
        if offer_ids:
            async with self.db.acquire() as conn:
                live = {str(offer_id) for offer_id in await offer_repo.still_live(conn, offer_ids)}
            fired = [(kind, key) for kind, key in fired if kind != "offer" or key in live]
        for kind, key in fired:
            if kind in ("relax", "hold"):
                work = engine.waiting.get(uuid.UUID(key))
                if work is not None:
                    engine.put_work(work, now)
                    relax = next_relaxation(work, engine.policy.relaxation, now)
                    if relax is not None:
                        self.timers_.set("relax", key, relax)
                    dirty_works.add(work.work_id)
                continue
            try:
                await self._fire(kind, key, now)
            except (Conflict, NotFound, InvalidTransition) as exc:
                # A transaction racing this one changed the rows (the agent answered another offer as this one
                # expired): nothing was written. The timer fires again shortly and re-reads them.
                log.warning(
                    "dispatcher: %s timer %s met a concurrent change (%s); firing again", kind, key, describe(exc)
                )
                self.timers_.set(kind, key, now + timedelta(seconds=REFIRE_S))
        await self.match(dirty_works, set(), now)
        return len(fired)

    async def _fire(self, kind: TimerKind, key: str, now: datetime) -> None:
        engine = self._engine()
        async with self.db.acquire() as conn, conn.transaction():
            tx = Tx(conn=conn, now=now, policy=engine.policy, origin=self.instance)
            if kind == "offer":
                offer = await lock_offer(tx, uuid.UUID(key))
                if offer is not None and offer.status == "live":
                    if offer.expires_at > now:
                        self.timers_.set_offer(offer.offer_id, offer.expires_at)
                    else:
                        await fail_offer(tx, offer, status="expired", reason="no answer in time", actor=SYSTEM)
                        self.stats.expired += 1
            elif kind == "wrap_up":
                await wrap_up_expired(tx, uuid.UUID(key))
            elif kind == "grace":
                await self._grace_over(tx, key)
            elif kind == "callback":
                await callback_due(tx, uuid.UUID(key))
            elif kind == "deadline":
                await department_deadline(tx, uuid.UUID(key))
            elif kind == "page":
                waiting = await page_due(tx, uuid.UUID(key))
                if waiting is not None:
                    self.timers_.set("page", key, waiting.due_at)

    async def _grace_over(self, tx: Tx, agent_id: str) -> None:
        agent = await agent_repo.get_agent(tx.conn, agent_id, for_update=True)
        if agent is None or agent.disconnected_at is None or agent.presence == "offline":
            return
        if agent.disconnected_at + timedelta(seconds=tx.policy.disconnect_grace_s) > tx.now:
            return
        await set_presence(tx, agent, presence="offline", reason="desktop disconnected", actor=SYSTEM)


class TimerBook:
    """Timers keyed by what they are about; `cancel_work` forgets every timer of one work item."""

    def __init__(self) -> None:
        self._timers = Timers()

    def __len__(self) -> int:
        return len(self._timers)

    def set(self, kind: TimerKind, key: str, due: datetime) -> None:
        self._timers.set(kind, key, due)

    def set_offer(self, offer_id: uuid.UUID, due: datetime) -> None:
        self._timers.set("offer", str(offer_id), due)

    def cancel(self, kind: TimerKind, key: str) -> None:
        self._timers.cancel(kind, key)

    def cancel_work(self, work_id: uuid.UUID) -> None:
        kinds: tuple[TimerKind, ...] = ("relax", "hold", "wrap_up", "callback", "deadline")
        for kind in kinds:
            self._timers.cancel(kind, str(work_id))

    def next_due(self) -> datetime | None:
        return self._timers.next_due()

    def pop_due(self, now: datetime) -> list[tuple[TimerKind, str]]:
        return self._timers.pop_due(now)
