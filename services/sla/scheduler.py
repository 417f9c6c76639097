"""Fires due moments on time, exactly once.

PostgreSQL holds every due moment (`sla_due`). The scheduler of the instance that owns a contact's partition
keeps the owned instants of the next `horizon` in a heap and sleeps until the earliest; handlers wake it with a
transactional NOTIFY when they plan a new one. `fire_due(now=…)` is the step: it opens one transaction per batch
and runs the use case (`handlers.timers.fire_due`) that deletes the due rows at or before `now`, records each in
`sla_fired` (primary key: contact, clock, alert), updates the clocks and their history, and stages the `sla.*`
events in the outbox; each (contact, clock, alert) is announced once. On start the scheduler fires whatever fell
due while it was down, then reloads its horizon. While the database is away it waits and tries again; when its
LISTEN connection opens again (notices were missed meanwhile) it reloads its horizon from the table.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg

from services.sla.handlers.timers import fire_due
from services.sla.handlers.tx import SlaTx
from services.sla.repository import admin as admin_repo
from services.sla.repository import timers
from services.sla.repository.timers import EVERYTHING, Ownership
from shared.clock import Clock as WallClock
from shared.db import Conn, Listener
from shared.faults import Backoff, pause, unavailable
from shared.redact import describe

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "sla_due"


@dataclass
class SchedulerStats:
    fired: int = 0
    batches: int = 0
    wakeups: int = 0
    reloads: int = 0
    errors: int = 0
    lateness_ms: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))
    """Commit time minus due time of the latest firings (what the benchmark reads)."""


class Scheduler:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: WallClock,
        *,
        dsn: str | None = None,
        ownership: Callable[[], Ownership] = lambda: EVERYTHING,
        horizon_s: float = 300.0,
        batch_size: int = 500,
        hold_before_commit_s: float = 0.0,
        max_held: int = 1_000_000,
        lead_s: float = 0.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.pool = pool
        self.clock = clock
        self.dsn = dsn
        self.ownership = ownership
        self.horizon = timedelta(seconds=horizon_s)
        self.batch_size = batch_size
        self.hold_before_commit_s = hold_before_commit_s
        self.max_held = max_held
        self.lead_s = lead_s
        """How long before a due moment its batch is prepared (the commit still waits for the moment)."""
        self.stats = SchedulerStats()
        # Calendars only shape what a firing records (the breach instant); a few seconds old is fine.
        self._admin = admin_repo.AdminCache(max_age_s=5.0)
        self._heap: list[float] = []
        self._loaded_until: datetime | None = None
        self._owned: Ownership | None = None
        self._noted_while_loading: list[float] | None = None
        self.backoff = backoff or Backoff()
        self._listener = (
            Listener(
                dsn,
                NOTIFY_CHANNEL,
                self._on_notify,
                what="sla scheduler",
                backoff=Backoff(self.backoff.initial_s, self.backoff.max_s),
            )
            if dsn is not None
            else None
        )
        self._caught_up = False
        self._waiting_for: str | None = None
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()

    # --- the step tests call --------------------------------------------------------------------------------

    async def fire_due(self, *, now: datetime, until: datetime | None = None) -> int:
        """Fire every owned due moment at or before `until` (default: `now`); return how many were announced.

        With `until` after `now`, each batch is prepared ahead and committed once its latest moment is due, so
        an announcement is never early and its lateness is little more than the commit.
        """
        fired = 0
        while True:
            claimed, announced = await self._fire_batch(now, until or now, ahead=until is not None and until > now)
            fired += announced
            if claimed < self.batch_size:
                return fired
            now = self.clock.now()

    async def _fire_batch(self, now: datetime, until: datetime, *, ahead: bool) -> tuple[int, int]:
        ownership = self.ownership()
        async with self.pool.acquire() as conn, conn.transaction():
            tx = SlaTx(conn, now, admin=self._admin, live_channels=frozenset())  # firing reaches no milestone
            fired = await fire_due(tx, until=until, ownership=ownership, limit=self.batch_size)
            claimed, announced = fired.claimed, fired.announced
            if not claimed:
                return 0, 0
            if self.hold_before_commit_s:
                log.warning(
                    "firing %d due moment(s); holding the commit %.1fs", announced, self.hold_before_commit_s
                )
                await asyncio.sleep(self.hold_before_commit_s)
            if ahead:  # prepared ahead: commit no earlier than the latest moment of the batch
                early = (max(d.due_at for d in claimed) - self.clock.now()).total_seconds()
                if early > 0:
                    await asyncio.sleep(early)
        committed = self.clock.now()
        self.stats.lateness_ms.extend((committed - d.due_at).total_seconds() * 1000 for d in claimed)
        self.stats.fired += announced
        self.stats.batches += 1
        return len(claimed), announced

    # --- what is held in memory -----------------------------------------------------------------------------

    async def reload(self, *, now: datetime) -> int:
        """Hold the owned due instants of the next horizon in memory; return how many."""
        ownership = self.ownership()
        until = now + self.horizon
        self._noted_while_loading = []
        try:
            async with self.pool.acquire() as conn:
                instants = await timers.upcoming(conn, before=until, ownership=ownership, limit=self.max_held)
            if len(instants) == self.max_held:
                until = instants[-1]  # more than we hold: what lies beyond comes with a later reload
            # Notifications that arrived during the query may be for rows it did not see: keep them too.
            self._heap = [moment.timestamp() for moment in instants] + self._noted_while_loading
        finally:
            self._noted_while_loading = None
        heapq.heapify(self._heap)
        self._loaded_until = until
        self._owned = ownership
        self.stats.reloads += 1
        return len(self._heap)

    def note(self, hash_: int, at: float) -> None:
        """A handler planned a due moment at `at` (epoch seconds) for a contact whose key hashes to `hash_`."""
        owned = self._owned or self.ownership()
        if not owned.owns(hash_):
            return
        if self._noted_while_loading is not None:
            self._noted_while_loading.append(at)
        if self._loaded_until is None or at < self._loaded_until.timestamp():
            heapq.heappush(self._heap, at)
            self._wake.set()

    @property
    def held(self) -> int:
        return len(self._heap)

    def next_due(self) -> float | None:
        return self._heap[0] if self._heap else None

    # --- the loop -------------------------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def trouble(self) -> str | None:
        """What the scheduler waits for: the database, or the LISTEN connection that tells it of new moments."""
        return self._waiting_for or (self._listener.trouble if self._listener is not None else None)

    async def run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    if not self._caught_up:
                        await self.catch_up()
                        self._caught_up = True
                    listening = False
                    if self._listener is not None:
                        if await self._listener.ensure():
                            self._loaded_until = None  # notices may have been missed: reload from the table
                        listening = self._listener.listening
                    await self._tick(listening=listening)
                    self.backoff.reset()
                    self._waiting_for = None
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    self.stats.errors += 1
                    delay = self.backoff.next()
                    if unavailable(exc):
                        self._waiting_for = f"database: {describe(exc)}"
                    log.warning("sla scheduler: database unavailable (%s); retrying in %.1fs", exc, delay)
                    self._loaded_until = None  # reload once the database is back
                    await pause(self._stop, delay)
        finally:
            if self._listener is not None:
                await self._listener.close()

    async def catch_up(self) -> None:
        """Whatever fell due while nobody was running: fire it now, then load the horizon."""
        now = self.clock.now()
        fired = await self.fire_due(now=now)
        if fired:
            log.info("sla scheduler: fired %d due moment(s) that fell due while stopped", fired)
        await self.reload(now=self.clock.now())

    async def _tick(self, *, listening: bool) -> None:
        now = self.clock.now()
        if (
            not listening  # without notifications, only the table tells what handlers planned
            or self._loaded_until is None
            or now >= self._loaded_until - self.horizon / 2
            or self.ownership() != self._owned
        ):
            await self.reload(now=now)
        # Heap entries are float seconds (±0.5 µs of the stored instant): an entry is popped only once the
        # claim that follows is sure to include its row; one within a microsecond of now waits a turn.
        now_ts = now.timestamp()
        if self._heap and self._heap[0] <= now_ts - 1e-6:
            while self._heap and self._heap[0] <= now_ts - 1e-6:
                heapq.heappop(self._heap)
            self.stats.wakeups += 1
            await self.fire_due(now=now)
            return
        if self._heap and self._heap[0] <= now_ts + self.lead_s:
            # Nothing is due yet and the next moment is close: prepare it now, commit at the moment.
            target = self._heap[0]
            while self._heap and self._heap[0] <= target:
                heapq.heappop(self._heap)
            self.stats.wakeups += 1
            await self.fire_due(now=now, until=datetime.fromtimestamp(target + 1e-3, tz=UTC))
            return
        wait = 1.0  # at least once a second: ownership changes and a lost listener are noticed
        reopen = self._listener.retry_in() if self._listener is not None else None
        if reopen is not None:
            wait = min(wait, reopen)
        if self._heap:
            wait = min(wait, self._heap[0] - now_ts - self.lead_s)
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), max(wait, 0.0))

    def _on_notify(self, _conn: Conn, _pid: int, _channel: str, payload: object) -> None:
        try:
            hash_text, *instants = str(payload).split(" ")
            for at_text in instants:
                self.note(int(hash_text), float(at_text))
        except ValueError:
            log.warning("sla scheduler: ignoring malformed notification %r", payload)
