"""Wires the routing service: routes, consumers, the dispatcher and the desktop hub, on the shared app factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import asyncpg
from fastapi import FastAPI
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.routing.api import agents, desktop, insight, paging, work
from services.routing.config import RoutingSettings
from services.routing.dispatcher.loop import Dispatcher
from services.routing.domain import figures as figures_domain
from services.routing.handlers.common import HANDLE_SECONDS, WAIT_SECONDS, Tx
from services.routing.handlers.events import dispatch_table, handle_events
from services.routing.hub import DesktopHub
from services.routing.repository import contacts as contact_repo
from services.routing.repository import figures as figures_repo
from services.routing.repository.policy import PolicyCache
from services.routing.state import Routing
from shared.app import create_app as create_service_app
from shared.clock import Clock
from shared.db import Conn
from shared.events import FEEDBACK_EVENTS, INTAKE_CONTACTS, KNOWLEDGE_EVENTS, SLA_EVENTS
from shared.faults import Backoff
from shared.housekeeping import Chore, audit_chore
from shared.kafka import Delivery
from shared.redact import describe
from shared.service import ConsumerSpec, Runtime, ServiceSpec

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)


def _state(runtime: Runtime[RoutingSettings]) -> Routing:
    settings = runtime.settings
    instance = settings.instance_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:4]}"
    hub = DesktopHub(
        db=runtime.pool,
        dsn=settings.database_url,
        listen_dsn=settings.listen_url,
        clock=runtime.clock,
        origin=instance,
        backoff=Backoff(settings.retry_initial_s, settings.retry_max_s),
        statement_cache_size=settings.db_statement_cache_size,
    )
    dispatcher = (
        Dispatcher(db=runtime.pool, settings=settings, clock=runtime.clock, instance=instance)
        if settings.dispatcher
        else None
    )
    return Routing(
        settings=settings,
        pool=runtime.pool,
        producer=runtime.producer,
        clock=runtime.clock,
        tasks=runtime.tasks,
        registry=runtime.registry,
        instance=instance,
        policies=PolicyCache(),
        hub=hub,
        dispatcher=dispatcher,
    )


def consumers(routing: Routing) -> Sequence[ConsumerSpec]:
    settings = routing.settings
    table = dispatch_table(pool=settings.default_pool)
    policies, clock, instance = routing.policies, routing.clock, routing.instance

    async def handle(conn: Conn, delivery: Delivery) -> None:
        event = delivery.decoded.event
        handler = table.get(type(event)) if event is not None else None
        if handler is None or event is None:
            return
        tx = Tx(conn=conn, now=clock.now(), policy=await policies.get(conn), origin=instance)
        await handler(tx, event)

    async def handle_many(conn: Conn, deliveries: Sequence[Delivery]) -> None:
        tx = Tx(conn=conn, now=clock.now(), policy=await policies.get(conn), origin=instance)
        events = [d.decoded.event for d in deliveries if d.decoded.event is not None]
        await handle_events(tx, events, table=table, pool=settings.default_pool)

    topics = [INTAKE_CONTACTS.name, SLA_EVENTS.name, FEEDBACK_EVENTS.name, KNOWLEDGE_EVENTS.name]
    # Effects are all in the database (NOTIFY wakes the dispatcher at commit), so batches are safe; a batch's
    # received contacts are queued set-based.
    # Only the types in the table: SLA's clock events and the like are skipped before the inbox claim.
    return [ConsumerSpec("routing", topics, handle, batch=True, handle_many=handle_many, accepts=frozenset(table))]


class QueueCollector(Collector):
    """Queue depth and the oldest wait, by pool and channel, read from the dispatcher at scrape time."""

    def __init__(self, routing: Routing) -> None:
        self.routing = routing

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "switchboard_routing_queue_depth", "Work waiting for an agent", labels=["pool", "channel"]
        )
        oldest = GaugeMetricFamily(
            "switchboard_routing_oldest_wait_seconds", "How long the oldest waiting work has waited",
            labels=["pool", "channel"],
        )  # fmt: skip
        dispatcher = self.routing.dispatcher
        if dispatcher is not None:
            now = self.routing.clock.now()
            for (pool, channel), (count, since) in sorted(dispatcher.queues().items()):
                depth.add_metric([pool, channel], count)
                oldest.add_metric([pool, channel], max((now - since).total_seconds(), 0.0))
        yield depth
        yield oldest


class IntervalFigures(Collector):
    """Service level, abandon rate and average speed of answer of the current 15-minute interval, by pool and
    channel; refreshed every `refresh_s` from the database (a scrape reads the last result)."""

    INTERVAL = timedelta(minutes=15)

    def __init__(self, routing: Routing, *, refresh_s: float = 15.0) -> None:
        self.routing = routing
        self.refresh_s = refresh_s
        self.latest: list[figures_domain.IntervalFigures] = []
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def refresh(self) -> None:
        now = self.routing.clock.now()
        start = now - timedelta(seconds=now.timestamp() % self.INTERVAL.total_seconds())
        async with self.routing.pool.acquire() as conn:
            policy = await self.routing.policies.get(conn)
            counts = await figures_repo.interval_counts(
                conn,
                since=start,
                until=now + timedelta(seconds=1),
                interval=self.INTERVAL,
                pool=None,
                channel=None,
            )
        self.latest = figures_domain.all_figures(counts, policy.service_level_s)

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.refresh()
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("interval figures: %s", describe(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.refresh_s)

    def collect(self) -> Iterator[Metric]:
        labels = ["pool", "channel"]
        level = GaugeMetricFamily(
            "switchboard_routing_service_level", "Share answered within the channel's threshold, current interval",
            labels=labels,
        )  # fmt: skip
        abandon = GaugeMetricFamily(
            "switchboard_routing_abandon_rate", "Share abandoned before an answer, current interval", labels=labels
        )
        asa = GaugeMetricFamily(
            "switchboard_routing_asa_seconds", "Average speed of answer, current interval", labels=labels
        )
        for f in self.latest:
            for family, value in ((level, f.service_level), (abandon, f.abandon_rate), (asa, f.asa_s)):
                if value is not None:
                    family.add_metric([f.pool, f.channel], value)
        yield level
        yield abandon
        yield asa


async def on_start(routing: Routing) -> None:
    for metric in (QueueCollector(routing), WAIT_SECONDS, HANDLE_SECONDS):
        with contextlib.suppress(ValueError):  # registered by an earlier start of this app
            routing.registry.register(metric)
    interval = IntervalFigures(routing)
    with contextlib.suppress(ValueError):
        routing.registry.register(interval)
    routing.tasks.start("interval-figures", interval.run, stop=interval.stop)
    hub = routing.hub
    await hub.start()
    routing.tasks.start("desktop-listener", hub.listen, stop=hub.stop, trouble=hub.trouble)
    dispatcher = routing.dispatcher
    if dispatcher is not None:
        await dispatcher.start()
        routing.tasks.start("dispatcher", dispatcher.run, stop=dispatcher.stop, trouble=dispatcher.trouble)


async def on_stop(routing: Routing) -> None:
    await routing.hub.close()


def _retention(runtime: Runtime[RoutingSettings]) -> Sequence[Chore]:
    """What routing keeps of a contact for desktops (its text, messages, the addresses for the end notice) is
    erased after `content_retention_days` (3 years); its audit after `audit_retention_days` (6 years)."""
    settings = runtime.settings
    return [
        Chore(
            "contact text and addresses",
            timedelta(days=settings.content_retention_days),
            contact_repo.erase_contacts,
        ),
        audit_chore(settings.audit_retention_days),
    ]


def spec() -> ServiceSpec[RoutingSettings, Routing]:
    return ServiceSpec(
        name="routing",
        state=_state,
        chores=_retention,
        migrations=MIGRATIONS,
        routers=[agents.router, work.router, insight.router, paging.router, desktop.router],
        consumers=consumers,
        on_start=on_start,
        on_stop=on_stop,
        title="Switchboard routing",
    )


def create_app(settings: RoutingSettings, *, clock: Clock | None = None) -> FastAPI:
    return create_service_app(spec(), settings, clock=clock)
