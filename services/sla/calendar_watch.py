"""Warns before a calendar in use runs out of holiday data (RULES.md: holidays maintained by admins; the
official source ends with the last notice it carries).

Every `interval_s` the watch reads which calendars active policies use and how many days of data each has
left. Within `warn_days` (60 by default) it warns in four places: the gauge
`switchboard_sla_calendar_data_days_left{calendar}` (always set, so a dashboard can alert on it), a note in
`/health/ready` (the service stays ready: clocks still run, on the statutory holidays), a log line, and once a
day per calendar an `sla.calendar_data_ending` event that routing shows on supervisors' desktops.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric

from services.sla.handlers.calendars import DataEnding, announce, data_endings
from shared.clock import Clock
from shared.faults import Backoff, pause, transient
from shared.redact import describe
from shared.tx import Tx

log = logging.getLogger(__name__)


class CalendarWatch:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        *,
        warn_days: int,
        interval_s: float,
        backoff: Backoff | None = None,
    ) -> None:
        self.pool = pool
        self.clock = clock
        self.warn_days = warn_days
        self.interval_s = interval_s
        self.backoff = backoff or Backoff()
        self.days_left: dict[str, int] = {}
        self.ending: list[DataEnding] = []
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def check(self) -> list[DataEnding]:
        """One look: refresh the figures, log what ends soon, stage today's notices; returns those staged."""
        async with self.pool.acquire() as conn, conn.transaction():
            tx = Tx(conn, self.clock.now())
            self.days_left, self.ending = await data_endings(tx, warn_days=self.warn_days)
            staged = await announce(tx, self.ending)
        for ending in self.ending:
            log.warning("%s", ending.text)
        return staged

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.check()
            except Exception as exc:
                if not transient(exc):
                    raise
                delay = min(self.backoff.next(), self.interval_s)
                log.warning("calendar watch: %s; looking again in %.1f s", describe(exc), delay)
                await pause(self._stop, delay)
                continue
            self.backoff.reset()
            await pause(self._stop, self.interval_s)

    def notes(self) -> dict[str, str]:
        """Readiness notes: what an operator should see without the service being unready."""
        return {f"calendar {e.calendar_id}": e.text for e in self.ending}

    def register(self, registry: CollectorRegistry) -> None:
        registry.register(_DaysLeft(self))


class _DaysLeft:
    def __init__(self, watch: CalendarWatch) -> None:
        self.watch = watch

    def collect(self) -> list[Metric]:
        gauge = GaugeMetricFamily(
            "switchboard_sla_calendar_data_days_left",
            "Days until a calendar in use runs out of holiday data (negative: ended)",
            labels=["calendar"],
        )
        for calendar_id, days in sorted(self.watch.days_left.items()):
            gauge.add_metric([calendar_id], days)
        return [gauge]
