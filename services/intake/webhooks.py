"""The webhook sender: a background loop that keeps up to `webhook_batch` deliveries in flight, each POSTed and
recorded on its own, so a slow receiver holds up only its own deliveries. Every instance runs one (SKIP LOCKED
and a lease share the work). The database holds every delivery's state, so a restarted sender carries on where
the last one stopped; one that dies mid-attempt only delays a delivery until its lease runs out, then it is sent
again with the same webhook-id. A database outage only pauses it."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import timedelta

import asyncpg
import httpx
from prometheus_client import Counter

from services.intake.domain.destinations import DestinationPolicy
from services.intake.domain.sealing import Sealer
from services.intake.domain.webhooks import Due
from services.intake.handlers.common import transaction
from services.intake.handlers.webhooks import post, record_answer, reseal, take_due
from shared.clock import Clock
from shared.faults import Backoff, pause, transient
from shared.redact import describe

log = logging.getLogger(__name__)


class WebhookSender:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        *,
        timeout_s: float,
        batch: int,
        idle_s: float,
        backoff: Backoff,
        destinations: DestinationPolicy,
        sealer: Sealer,
        attempts: Counter | None = None,
    ) -> None:
        self.pool = pool
        self.clock = clock
        self.timeout_s = timeout_s
        self.batch = batch
        self.idle_s = idle_s
        self.backoff = backoff
        self.destinations = destinations
        self.sealer = sealer
        self._resealed = False
        """Seals signing secrets at rest (`webhook_secret_keys`); the sender reseals stale ones when it starts."""
        """Where deliveries may go: checked when an endpoint is registered and before every POST."""
        self.lease = timedelta(seconds=timeout_s * 2 + 30)
        """How long a taken delivery is this sender's: longer than its POST and its record can take."""
        self.attempted = 0
        self.attempts = attempts
        """Attempts by the delivery's state after them (`succeeded`, `pending`: to be retried, `failed`)."""
        self._inflight: set[asyncio.Task[None]] = set()
        self._random = random.Random()  # noqa: S311 — spreading retries, not cryptography
        self._waiting_for: str | None = None
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    def trouble(self) -> str | None:
        return self._waiting_for

    def client(self) -> httpx.AsyncClient:
        # No redirects: a receiver that moved is told by the delivery's 3xx; no POST goes where nobody sent it.
        limits = httpx.Limits(max_connections=self.batch, max_keepalive_connections=self.batch)
        return httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False, limits=limits)

    async def run(self) -> None:
        async with self.client() as client:
            try:
                while not self._stop.is_set():
                    free = self.batch - len(self._inflight)
                    try:
                        taken = await self._take(free)
                    except Exception as exc:
                        if not transient(exc):
                            raise
                        await self._wait_out(exc)
                        continue
                    self.backoff.reset()
                    self._waiting_for = None
                    for due in taken:
                        self._start(client, due)
                    if len(taken) == free:  # more may be due
                        await self._half_free()
                    else:
                        await pause(self._stop, self.idle_s)
            finally:
                await self._drain()

    def _start(self, client: httpx.AsyncClient, due: Due) -> None:
        self.attempted += 1
        task = asyncio.create_task(self._deliver(client, due), name=f"webhook {due.delivery_id}")
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _deliver(self, client: httpx.AsyncClient, due: Due) -> None:
        try:
            state = await self._attempt(client, due)
            if self.attempts is not None:
                self.attempts.labels(state).inc()
        except Exception as exc:  # noqa: BLE001 — one delivery's trouble must not end the others; its lease ends
            log.warning("webhook delivery %s not recorded (%s): sent again when its lease ends", due.delivery_id,
                        describe(exc))  # fmt: skip

    async def _attempt(self, client: httpx.AsyncClient, due: Due) -> str:
        """POST one taken delivery (outside any transaction) and record the answer in a transaction of its own;
        the delivery's state after it."""
        started = self.clock.now()
        answer = await post(client, due, started, self.destinations, self.sealer)
        async with transaction(self.pool, self.clock.now()) as tx:
            return await record_answer(tx, due, answer, started_at=started, spread=self._random.random())

    async def _take(self, free: int) -> list[Due]:
        if not self._resealed:
            async with transaction(self.pool, self.clock.now()) as tx:
                resealed, unopened = await reseal(tx, self.sealer)
            self._resealed = True
            if resealed:
                log.info("webhook secrets: %d endpoints sealed again under the first key", resealed)
            if unopened:
                log.error(
                    "webhook secrets: %d endpoints are sealed under a key no longer in webhook_secret_keys; their "
                    "deliveries fail until the key is put back",
                    unopened,
                )
        if not free:
            return []
        async with transaction(self.pool, self.clock.now()) as tx:
            return await take_due(tx, limit=free, lease=self.lease)

    async def _half_free(self) -> None:
        """Until at most half the slots are busy (or a stop): slots are refilled by the half, so one claim serves
        many deliveries."""
        stopping = asyncio.create_task(self._stop.wait())
        try:
            while len(self._inflight) > self.batch // 2 and not self._stop.is_set():
                await asyncio.wait({stopping, *self._inflight}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()

    async def _wait_out(self, exc: BaseException) -> None:
        self._waiting_for = f"cannot send webhooks: {describe(exc)}"
        delay = self.backoff.next()
        log.warning("webhook sender: %s; trying again in %.1f s", describe(exc), delay)
        await pause(self._stop, delay)

    async def _drain(self) -> None:
        """Let deliveries in flight finish (their receivers have them already); cancel what outlasts a POST."""
        if self._inflight:
            _done, late = await asyncio.wait(set(self._inflight), timeout=self.timeout_s + 5)
            for task in late:
                task.cancel()
