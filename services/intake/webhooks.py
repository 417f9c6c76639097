"""The webhook sender: a background loop that sends due deliveries (`handlers.webhooks.send_due`), in batches,
on every instance at once (SKIP LOCKED and a lease share the work). The database holds every delivery's state,
so a restarted sender carries on where the last one stopped; a database outage only pauses it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

import asyncpg
import httpx

from services.intake.handlers.webhooks import send_due
from shared.clock import Clock
from shared.faults import Backoff, describe, pause, transient

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
    ) -> None:
        self.pool = pool
        self.clock = clock
        self.timeout_s = timeout_s
        self.batch = batch
        self.idle_s = idle_s
        self.backoff = backoff
        self.lease = timedelta(seconds=timeout_s * 2 + 30)
        """How long a taken delivery is this sender's: longer than a batch of POSTs can take."""
        self.sent = 0
        self._waiting_for: str | None = None
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    def trouble(self) -> str | None:
        return self._waiting_for

    def client(self) -> httpx.AsyncClient:
        # No redirects (a receiver that moved is told by the delivery's 3xx), no cookies kept between receivers.
        return httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False)

    async def run(self) -> None:
        async with self.client() as client:
            while not self._stop.is_set():
                try:
                    moved = await send_due(
                        self.pool, client, now=self.clock.now(), batch=self.batch, lease=self.lease
                    )
                except Exception as exc:
                    if not transient(exc):
                        raise
                    self._waiting_for = f"cannot send webhooks: {describe(exc)}"
                    delay = self.backoff.next()
                    log.warning("webhook sender: %s; trying again in %.1f s", describe(exc), delay)
                    if await pause(self._stop, delay):
                        break
                    continue
                self.backoff.reset()
                self._waiting_for = None
                self.sent += moved
                if moved < self.batch:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), self.idle_s)
