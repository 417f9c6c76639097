"""The dispatcher: one task per routing instance that owns pools (by lease), keeps their engine in step with
the database, makes offers, and fires what is due (offer expiry, relaxation, holds, wrap-up, desktop grace,
callbacks, department deadlines, emergency pages).

Changes reach it as NOTIFY messages (any instance, after commit); it re-reads the changed rows, so the
database stays the truth and the engine an index of it. Every offer is written in a transaction that
share-locks the pool's lease at the epoch this instance acquired: a deposed instance cannot offer (or
assign) anything, whatever its memory says. When the database goes away, or its LISTEN connection is lost
(notices missed), it forgets its pools and loads them afresh once the database answers again; restarted after
it died, it starts from the database too. `fire_due(now=...)` is the single step tests call.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from services.routing.repository import feed, leases
from services.routing.repository import offers as offer_repo
from services.routing.repository import paging as paging_repo
from services.routing.repository import work as work_repo
from services.routing.repository.policy import current_policy
from shared.clock import Clock
from shared.db import Listener, create_pool
from shared.faults import Backoff, describe, pause, unavailable

log = logging.getLogger(__name__)

SET_LOCK_TIMEOUT = "SELECT set_config('lock_timeout', $1, true)"
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


class Dispatcher:
    def __init__(self, *, db: asyncpg.Pool, settings: RoutingSettings, clock: Clock, instance: str) -> None:
        self.db = db
        self._own_pool = False
        self.settings = settings
        self.clock = clock
        self.instance = instance
        self.origin = f"{instance}/dispatcher"
        """Offers this dispatcher writes carry this origin; their notices are not read back."""
        self.engine: Engine | None = None
        self.stats = DispatcherStats()
        self.backoff = Backoff(settings.retry_initial_s, settings.retry_max_s)
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._listener = Listener(
            settings.database_url,
            feed.CHANGE_CHANNEL,
            self._on_notify,
            what="dispatcher",
            backoff=Backoff(settings.retry_initial_s, settings.retry_max_s),
        )
        self._open = False
        self._listens_since = 0
        """The LISTEN connection `start` found (its count of opens): one opened later means notices were missed."""
        self._waiting_for: str | None = None
        self._forget(clock.now())

    def _forget(self, now: datetime) -> None:
        """No pools, timers or pending changes in memory: what `start` begins from."""
        self.timers_ = _TimerBook()
        self.epochs: dict[str, int] = {}
        self._pending: set[tuple[str, str, str]] = set()
        self._deferred: set[tuple[str, str, str]] = set()
        self._retry_at: datetime | None = None
        self._next_lease = datetime.min.replace(tzinfo=now.tzinfo)
        self._last_sync: dict[str, datetime] = {}
        self._tried: dict[str, datetime] = {}
        self._next_purge = self._next_lease

    # --- lifecycle --------------------------------------------------------------------------------------------

    @property
    def policy(self) -> Policy:
        assert self.engine is not None
        return self.engine.policy

    async def start(self) -> None:
        # Connections of its own: the dispatcher never queues for one behind the consumer's partition batches.
        # A process frozen inside one of its transactions would hold the lease row and block a takeover;
        # PostgreSQL ends such a session after the lease's lifetime, which aborts the decision. (Set once per
        # connection: per transaction it cost a round trip of every offer batch.)
        self.db = await create_pool(
            self.settings.database_url,
            min_size=1,
            max_size=2,
            plan_cache_mode=self.settings.db_plan_cache_mode,
            statement_cache_size=self.settings.db_statement_cache_size,
            settings={"idle_in_transaction_session_timeout": f"{int(self.settings.lease_ttl_s * 1000)}ms"},
        )
        self._own_pool = True
        try:
            async with self.db.acquire() as conn:
                self.engine = Engine(await current_policy(conn))
        except BaseException:
            self.db.terminate()  # a start that fails (the database went away again) leaves no pool behind
            raise
        self._forget(self.clock.now())
        if not await self._listener.ensure():
            log.warning("dispatcher: no LISTEN connection yet; relying on periodic resync until there is one")
        self._listens_since = self._listener.opened
        self._open = True

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def trouble(self) -> str | None:
        """What the dispatcher waits for: the database, or the LISTEN connection that tells it of changes."""
        return self._waiting_for or self._listener.trouble

    async def close(self) -> None:
        self._open = False
        await self._listener.close()
        now = self.clock.now()
        with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            async with self.db.acquire() as conn:
                for pool in list(self.epochs):
                    await leases.release_lease(conn, pool=pool, holder=self.instance, now=now)
        if self._own_pool:
            try:
                await asyncio.wait_for(self.db.close(), 5)
            except Exception:  # noqa: BLE001 — a connection still busy must not hold up the shutdown
                self.db.terminate()

    async def run(self) -> None:
        if not self._open:  # started again after it died: from the database, as a new process would
            await self.start()
        try:
            while not self._stop.is_set():
                now = self.clock.now()
                if self._deferred and self._retry_at is not None and now >= self._retry_at:
                    self._pending |= self._deferred
                    self._deferred.clear()
                try:
                    if await self._listener.ensure() and self._listener.opened > self._listens_since:
                        # Notices sent while nobody listened are lost: what they would have said is re-read.
                        log.info("dispatcher: listening again; reloading owned pools")
                        self._reload_owned(now)
                    if now >= self._next_lease:
                        await self.maintain_leases(now)
                    await self.process_changes(now)
                    await self.fire_due(now)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    # The database went away or ended our session: nothing half-done was committed. Start the
                    # owned pools afresh from the database once it answers again.
                    delay = self.backoff.next()
                    if unavailable(exc):
                        self._waiting_for = f"database: {describe(exc)}"
                    log.warning("dispatcher: database error (%s); reloading owned pools in %.1fs", exc, delay)
                    self._reload_owned(now)
                    await pause(self._stop, delay)
                    continue
                self.backoff.reset()
                self._waiting_for = None
                self._wake.clear()
                if self._pending:
                    continue
                due = self.timers_.next_due()
                retry = self._retry_at if self._deferred else None
                wait = min(
                    (self._next_lease - self.clock.now()).total_seconds(),
                    (due - self.clock.now()).total_seconds() if due else 1.0,
                    (retry - self.clock.now()).total_seconds() if retry else 1.0,
                    1.0 if (reopen := self._listener.retry_in()) is None else reopen,
                    1.0,
                )
                if wait > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), wait)
        finally:
            await self.close()

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        assert isinstance(payload, str)
        origin, _, rest = payload.partition("|")
        if origin == self.origin:
            return
        pool, kind, key = rest.split("|", 2)
        self.stats.notifications += 1
        self._pending.add((pool, kind, key))
        self._wake.set()

    def notice(self, pool: str, kind: str, key: str, *, later: bool = False) -> None:
        """Tell the dispatcher of a change without NOTIFY (tests; a lost listener); `later`: after `RETRY_S`."""
        if later:
            if not self._deferred:
                self._retry_at = self.clock.now() + timedelta(seconds=RETRY_S)
            self._deferred.add((pool, kind, key))
            return
        self._pending.add((pool, kind, key))
        self._wake.set()

    # --- leases -----------------------------------------------------------------------------------------------

    async def maintain_leases(self, now: datetime) -> None:
        s = self.settings
        until = now + timedelta(seconds=s.lease_ttl_s)
        self._next_lease = now + timedelta(seconds=s.lease_renew_s)
        async with self.db.acquire() as conn:
            for pool, epoch in list(self.epochs.items()):
                if not await leases.renew_lease(conn, pool=pool, holder=self.instance, epoch=epoch, until=until):
                    log.warning("dispatcher: lost the lease on pool %s (epoch %d)", pool, epoch)
                    self.drop_pool(pool)
            for pool in await leases.known_pools(conn):
                if pool not in self.epochs:
                    await self._try_acquire(conn, pool, now, force=True)
            if now >= self._next_purge:
                self._next_purge = now + timedelta(hours=1)
                before = now - timedelta(hours=s.desktop_retention_h)
                purged = await feed.purge_desktop(conn, before=before)
                if purged:
                    log.info("dispatcher: purged %d desktop messages older than %s", purged, before)
            for pool in list(self.epochs):
                last = self._last_sync.get(pool, now)
                if (now - last).total_seconds() >= s.resync_s:
                    await self._resync(conn, pool, since=last - timedelta(seconds=5), now=now)
                    self._last_sync[pool] = now

    async def _try_acquire(self, conn: Any, pool: str, now: datetime, *, force: bool = False) -> None:
        """Take a pool nobody holds (a new pool is taken as soon as a change in it is noticed)."""
        last = self._tried.get(pool)
        if not force and last is not None and (now - last).total_seconds() < self.settings.lease_renew_s:
            return
        self._tried[pool] = now
        until = now + timedelta(seconds=self.settings.lease_ttl_s)
        try:
            async with conn.transaction():
                await conn.execute(SET_LOCK_TIMEOUT, "200ms")  # a holder mid-decision: try again later
                acquired = await leases.acquire_lease(conn, pool=pool, holder=self.instance, until=until, now=now)
        except asyncpg.LockNotAvailableError:
            return
        if acquired is not None:
            log.info("dispatcher: owns pool %s at epoch %d", pool, acquired)
            self.epochs[pool] = acquired
            self._last_sync[pool] = now
            await self.load_pool(conn, pool, now)

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

    async def _resync(self, conn: Any, pool: str, *, since: datetime, now: datetime) -> None:
        for record in await agent_repo.list_agents(conn, pool=pool, changed_since=since):
            self._pending.add((pool, "agent", record.agent_id))
        for work in await work_repo.works_in_pool(
            conn, pool=pool, states=["queued", "offered", "wrap_up"], changed_since=since
        ):
            self._pending.add((pool, "work", str(work.work_id)))

    def _reload_owned(self, now: datetime) -> None:
        """Forget the owned pools; the next lease round takes them again (ours still) and loads them afresh."""
        for pool in list(self.epochs):
            self.drop_pool(pool)
        self._next_lease = now

    def drop_pool(self, pool: str) -> None:
        self.epochs.pop(pool, None)
        engine = self._engine()
        for work_id in [w for w, work in engine.waiting.items() if work.pool == pool]:
            engine.drop_work(work_id)
            self.timers_.cancel_work(work_id)
        for agent_id in [a for a, agent in engine.agents.items() if agent.pool == pool]:
            engine.drop_agent(agent_id)
            self.timers_.cancel("grace", agent_id)

    def _engine(self) -> Engine:
        assert self.engine is not None, "start() first"
        return self.engine

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

    async def process_changes(self, now: datetime) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, set()
        works = {uuid.UUID(k) for p, kind, k in pending if kind in ("work", "offer")}
        agents = {k for p, kind, k in pending if kind == "agent"}
        pages = [uuid.UUID(k) for p, kind, k in pending if kind == "page"]
        async with self.db.acquire() as conn:
            for pool in {p for p, _, _ in pending} - set(self.epochs) - {"*"}:
                await self._try_acquire(conn, pool, now)
            if any(kind == "policy" for _, kind, _ in pending):
                self._engine().set_policy(await current_policy(conn), now)
                works |= set(self._engine().waiting)
                agents |= set(self._engine().agents)
            dirty_works: set[uuid.UUID] = set()
            dirty_agents: set[str] = set()
            offered: list[uuid.UUID] = []
            for record in await work_repo.get_works(conn, list(works)):
                if self._apply_work(record, now):
                    dirty_works.add(record.work_id)
                if record.state == "offered" and record.pool in self.epochs:
                    offered.append(record.work_id)
            if offered:
                for offer in await offer_repo.live_offers_for_works(conn, offered):
                    self.timers_.set_offer(offer.offer_id, offer.expires_at)
            for agent in await agent_repo.get_agents(conn, list(agents)):
                if self._apply_agent(agent, now):
                    dirty_agents.add(agent.agent_id)
            for page in await paging_repo.get_pages(conn, pages):
                if page.pool in self.epochs and not page.settled:
                    self.timers_.set("page", str(page.contact_id), page.due_at)
        await self.match(dirty_works, dirty_agents, now)

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
                log.warning("dispatcher: %s timer %s met a concurrent change (%s); firing again", kind, key, exc)
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

    def queues(self) -> dict[tuple[str, str], tuple[int, datetime]]:
        """Waiting work of the pools this instance owns, by (pool, channel): how many, and the oldest's time."""
        out: dict[tuple[str, str], tuple[int, datetime]] = {}
        for work in self._engine().waiting.values():
            key = (work.pool, work.channel)
            count, oldest = out.get(key, (0, work.enqueued_at))
            out[key] = (count + 1, min(oldest, work.enqueued_at))
        return out

    def status(self) -> dict[str, Any]:
        engine = self._engine()
        timings = sorted(self.stats.decision_us)

        def pct(p: float) -> float | None:
            return round(timings[min(len(timings) - 1, int(p * len(timings)))], 1) if timings else None

        return {
            "instance": self.instance,
            "pools": dict(sorted(self.epochs.items())),
            "waiting": len(engine.waiting),
            "agents_indexed": len(engine.agents),
            "timers": len(self.timers_),
            "offers_made": self.stats.offers,
            "offers_rejected_as_stale": self.stats.rejected,
            "offers_expired": self.stats.expired,
            "decisions_fenced": self.stats.fenced,
            "decisions": engine.stats.decisions,
            "candidates_scanned": engine.stats.scanned,
            "decisions_capped": engine.stats.capped,
            "decision_us_p50": pct(0.5),
            "decision_us_p99": pct(0.99),
        }


class _TimerBook:
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
