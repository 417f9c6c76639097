"""The start and stop of one service, phase by phase (`shared/app.py` builds the app around them).

Start: the pool (migrations applied), the runtime and the service's own state on the app, the outbox relay
(which starts the producer, retried while the broker is away), housekeeping, the consumers (each waiting for the
producer), then the service's `on_start`. Stop: background tasks first, then `on_stop`, the producer, the token
verifier and the pool.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Generic

import asyncpg
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from shared.auth import KeyCache, TokenVerifier
from shared.clock import Clock
from shared.db import create_pool, migrate, service_migrations
from shared.events import dlq_topic
from shared.faults import Backoff
from shared.housekeeping import Housekeeping, Retention
from shared.inbox import idempotent, idempotent_batch
from shared.kafka import ConsumerLoop, Producer, start_with_retry
from shared.lifecycle import BackgroundTasks
from shared.limits import RateLimits
from shared.metrics import DeliveryCollector
from shared.outbox import OutboxRelay
from shared.service import ConsumerSpec, Runtime, S, ServiceSpec, T
from shared.telemetry import setup_telemetry

log = logging.getLogger(__name__)


class Wiring(Generic[S, T]):
    """What one app keeps across its starts: its metrics registry and what the last start built, which the
    delivery metrics and `/health/ready` read; its lifespan starts a `Running` service and stops it."""

    def __init__(self, spec: ServiceSpec[S, T], settings: S, clock: Clock) -> None:
        self.spec = spec
        self.settings = settings
        self.clock = clock
        self.registry = CollectorRegistry()
        self.runtime: Runtime[S] | None = None
        self.states: list[T] = []
        self.delivery = DeliveryCollector(
            consumers=lambda: self.runtime.consumers if self.runtime is not None else [],
            relay=lambda: self.runtime.relay if self.runtime is not None else None,
            tasks=lambda: self.runtime.tasks if self.runtime is not None else None,
        )
        self.registry.register(self.delivery)

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        running = await self.start(app)
        try:
            yield
        finally:
            await running.stop()

    async def start(self, app: FastAPI) -> Running[S, T]:
        """Start in order: the database (migrated), the runtime and the service's own state on the app, the
        outbox relay (which starts the producer), housekeeping, the consumers, then the service's `on_start`."""
        setup_telemetry(self.settings.service)
        pool = await open_database(self.spec, self.settings)
        runtime = new_runtime(self.settings, pool, self.clock, self.registry)
        running = Running(app, self.spec, runtime, self.hold(app, runtime))
        running.start_relay()
        running.start_housekeeping()
        running.start_consumers()
        if self.spec.on_start is not None:
            await self.spec.on_start(running.state)
        return running

    def hold(self, app: FastAPI, runtime: Runtime[S]) -> T:
        """Put the runtime, the service's own state (built here) and the auth and rate-limit parts on the app."""
        settings = runtime.settings
        self.runtime = runtime
        app.state.runtime = runtime
        state = self.spec.state(runtime)
        self.states[:] = [state]
        app.state.service = state
        app.state.pool = runtime.pool
        app.state.settings = settings
        app.state.key_cache = KeyCache()
        app.state.token_verifier = TokenVerifier.from_settings(settings)
        app.state.rate_limits = {
            "adapter": RateLimits(rate=settings.rate_limit_adapter_per_s, burst=settings.rate_limit_adapter_burst),
            "user": RateLimits(rate=settings.rate_limit_user_per_s, burst=settings.rate_limit_user_burst),
        }
        return state


async def open_database(spec: ServiceSpec[S, T], settings: S) -> asyncpg.Pool:
    """The service's pool, its migrations applied (the shared ones and its own)."""
    pool = await create_pool(
        settings.database_url,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        plan_cache_mode=settings.db_plan_cache_mode,
        acquire_timeout=settings.db_acquire_timeout_s,
        statement_cache_size=settings.db_statement_cache_size,
    )
    async with pool.acquire() as conn:
        applied = await migrate(conn, service_migrations(spec.name, spec.migrations))
    if applied:
        log.info("%s: applied migrations %s", spec.name, ", ".join(applied))
    return pool


def new_runtime(settings: S, pool: asyncpg.Pool, clock: Clock, registry: CollectorRegistry) -> Runtime[S]:
    """The producer (not started yet), the background tasks and the outbox relay of one start."""
    producer = Producer(settings)
    tasks = BackgroundTasks()
    return Runtime(
        settings=settings,
        pool=pool,
        producer=producer,
        clock=clock,
        tasks=tasks,
        producer_ready=asyncio.Event(),
        relay=OutboxRelay(
            pool,
            producer,
            dsn=settings.listen_url,
            batch_size=settings.outbox_batch_size,
            idle_wait_s=settings.outbox_idle_wait_s,
            backoff=Backoff(settings.retry_initial_s, settings.retry_max_s),
        ),
        registry=registry,
    )


@dataclass
class Running(Generic[S, T]):
    """A service between its start and its stop: starts its background tasks, and stops everything in the
    reverse order."""

    app: FastAPI
    spec: ServiceSpec[S, T]
    runtime: Runtime[S]
    state: T
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def start_relay(self) -> None:
        """The outbox relay, once the producer has started (retried while the broker is away)."""
        runtime, stopping, name = self.runtime, self.stopping, self.spec.name

        async def run_relay() -> None:
            if not runtime.producer.started and not await start_with_retry(
                runtime.producer.start, f"{name} producer", stop=stopping
            ):
                return
            runtime.producer_ready.set()
            await runtime.relay.run()

        def stop_relay() -> None:
            stopping.set()
            runtime.relay.stop()

        runtime.tasks.start("outbox-relay", run_relay, stop=stop_relay, trouble=runtime.relay.trouble)

    def start_housekeeping(self) -> None:
        """The shared retention (inbox, journeys) and the service's own chores."""
        settings, runtime = self.runtime.settings, self.runtime
        housekeeping = Housekeeping(
            runtime.pool,
            runtime.clock,
            interval_s=settings.housekeeping_interval_s,
            backoff=Backoff(settings.retry_initial_s, settings.retry_max_s),
            retention=Retention(
                inbox=timedelta(seconds=settings.inbox_retention_s),
                journeys=timedelta(seconds=settings.journey_retention_s),
            ),
            chores=self.spec.chores(runtime),
        )
        runtime.tasks.start("housekeeping", housekeeping.run, stop=housekeeping.stop)

    def start_consumers(self) -> None:
        """One loop per consumer group, each waiting for the producer (dead letters need it) before it polls."""
        runtime = self.runtime
        for consumer in self.spec.consumers(self.state):
            loop = consumer_loop(self.spec.name, runtime, consumer)
            runtime.consumers.append(loop)

            async def run_consumer(loop: ConsumerLoop = loop) -> None:
                await runtime.producer_ready.wait()  # dead letters need a started producer
                await loop.run()

            runtime.tasks.start(loop.name, run_consumer, stop=loop.stop, trouble=loop.trouble)

    async def stop(self) -> None:
        runtime = self.runtime
        runtime.tasks.request_stop()
        self.stopping.set()
        runtime.producer_ready.set()  # release consumers still waiting, so they can see the stop
        # Background tasks first: what `on_stop` closes (routing's desktop hub) is used by some of them.
        await runtime.tasks.stop_all()
        if self.spec.on_stop is not None:
            await self.spec.on_stop(self.state)
        await runtime.producer.stop()
        await self.app.state.token_verifier.aclose()
        await runtime.pool.close()


def consumer_loop(service: str, runtime: Runtime[Any], consumer: ConsumerSpec) -> ConsumerLoop:
    """The loop of one consumer group (`<service>` or `<service>.<name>`), its handlers behind the inbox."""
    pool, clock = runtime.pool, runtime.clock
    group = service if consumer.name == service else f"{service}.{consumer.name}"
    return ConsumerLoop(
        settings=runtime.settings,
        group=group,
        topics=consumer.topics,
        handler=idempotent(pool, group, consumer.handle, clock.now),
        producer=runtime.producer,
        dlq_topic=dlq_topic(service).name,
        name=f"consumer:{group}",
        accepts=consumer.accepts,
        batch_handler=idempotent_batch(pool, group, consumer.handle, clock.now, consumer.handle_many)
        if consumer.batch
        else None,
    )
