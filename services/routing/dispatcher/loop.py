"""The dispatcher's task: its own connections and LISTEN, the loop that wakes on a notice, a due timer or the
lease round, the leases it takes, renews and releases, and a fresh start from the database after an error.
What it does with the pools it owns is `rounds`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.routing.config import RoutingSettings
from services.routing.dispatcher.rounds import MatchingRounds
from services.routing.domain.engine import Engine
from services.routing.repository import agents as agent_repo
from services.routing.repository import feed, leases
from services.routing.repository import offers as offer_repo
from services.routing.repository import paging as paging_repo
from services.routing.repository import work as work_repo
from services.routing.repository.policy import current_policy
from shared.clock import Clock
from shared.db import Listener, create_pool
from shared.faults import Backoff, pause, unavailable
from shared.redact import describe

log = logging.getLogger(__name__)

SET_LOCK_TIMEOUT = "SELECT set_config('lock_timeout', $1, true)"


class Dispatcher(MatchingRounds):
    def __init__(self, *, db: asyncpg.Pool, settings: RoutingSettings, clock: Clock, instance: str) -> None:
        super().__init__(db=db, settings=settings, clock=clock, instance=instance)
        self._own_pool = False
        self.backoff = Backoff(settings.retry_initial_s, settings.retry_max_s)
        self._stop = asyncio.Event()
        self._listener = Listener(
            settings.listen_url,
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
        self._forget_pools()
        self._next_lease = datetime.min.replace(tzinfo=now.tzinfo)
        self._last_sync: dict[str, datetime] = {}
        self._tried: dict[str, datetime] = {}
        self._next_purge = self._next_lease

    # --- lifecycle --------------------------------------------------------------------------------------------

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
                    log.warning(
                        "dispatcher: database error (%s); reloading owned pools in %.1fs", describe(exc), delay
                    )
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

    # --- what it shows ---------------------------------------------------------------------------------------

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
