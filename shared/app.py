"""The one app factory every service uses.

`create_app(spec, settings)` gives a FastAPI app whose lifespan opens the pool, applies migrations, builds the
service's own state (`shared/service.py`), starts the producer, the outbox relay and the service's consumers as
background tasks that ride out a database or broker outage, are restarted if they die anyway, and stop
gracefully. Every app has `/health/live`, `/health/ready` (which says what is degraded), problem+json errors
(503 with Retry-After while a dependency is away), tracing and auth state.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, generate_latest
from pydantic import BaseModel, ConfigDict

from shared.auth import KeyCache, TokenVerifier, check_secrets
from shared.clock import Clock, SystemClock
from shared.db import create_pool, migrate, service_migrations
from shared.errors import document_problems, install_problem_handlers, problem_response
from shared.events import dlq_topic
from shared.faults import Backoff
from shared.housekeeping import Housekeeping, Retention
from shared.inbox import idempotent, idempotent_batch
from shared.kafka import ConsumerLoop, Producer, start_with_retry
from shared.lifecycle import BackgroundTasks
from shared.limits import RateLimits, RequestLimits
from shared.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from shared.metrics import DeliveryCollector, HttpMetrics
from shared.outbox import OutboxRelay, backlog, parked_rows
from shared.service import ConsumerSpec, Runtime, S, ServiceSpec, T, runtime_of, service_state
from shared.telemetry import TracingMiddleware, setup_telemetry

__all__ = [
    "ConsumerSpec",
    "Runtime",
    "ServiceSpec",
    "create_app",
    "main",
    "readiness",
    "running",
    "runtime_of",
    "service_state",
]

log = logging.getLogger(__name__)


class Liveness(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok", "service": "intake"}]})
    status: str
    service: str


class Readiness(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "ready",
                    "service": "intake",
                    "checks": {"database": "ok", "kafka": "ok", "background": "ok"},
                    "restarts": {"consumer:intake": 1},
                }
            ]
        }
    )
    status: str
    service: str
    checks: dict[str, str]
    """database, kafka, background: `ok` or what is wrong (then the answer is a 503 `not-ready` problem)."""
    restarts: dict[str, int] | None = None
    """Background tasks restarted since the start, when any was."""
    notes: dict[str, str] | None = None
    """Warnings that do not make the service unready."""


def create_app(spec: ServiceSpec[S, T], settings: S, *, clock: Clock | None = None) -> FastAPI:
    check_secrets(
        settings.token_secret.get_secret_value(),
        [old.get_secret_value() for old in settings.token_secrets_previous],
        provider=settings.oidc_issuer is not None,
    )
    refusals = settings.refusals()
    if refusals:
        raise ValueError("; ".join(refusals))
    clock = clock or SystemClock()
    registry = CollectorRegistry()
    holder: dict[str, Runtime[S]] = {}
    states: list[T] = []
    delivery = DeliveryCollector(
        consumers=lambda: holder["runtime"].consumers if holder else [],
        relay=lambda: holder["runtime"].relay if holder else None,
        tasks=lambda: holder["runtime"].tasks if holder else None,
    )
    registry.register(delivery)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        setup_telemetry(settings.service)
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
        producer = Producer(settings)
        tasks = BackgroundTasks()
        runtime = Runtime(
            settings=settings,
            pool=pool,
            producer=producer,
            clock=clock,
            tasks=tasks,
            producer_ready=asyncio.Event(),
            relay=OutboxRelay(
                pool,
                producer,
                dsn=settings.database_url,
                batch_size=settings.outbox_batch_size,
                idle_wait_s=settings.outbox_idle_wait_s,
                backoff=Backoff(settings.retry_initial_s, settings.retry_max_s),
            ),
            registry=registry,
        )
        holder["runtime"] = runtime
        app.state.runtime = runtime
        state = spec.state(runtime)
        states[:] = [state]
        app.state.service = state
        app.state.pool = pool
        app.state.settings = settings
        app.state.key_cache = KeyCache()
        app.state.token_verifier = TokenVerifier.from_settings(settings)
        app.state.rate_limits = {
            "adapter": RateLimits(rate=settings.rate_limit_adapter_per_s, burst=settings.rate_limit_adapter_burst),
            "user": RateLimits(rate=settings.rate_limit_user_per_s, burst=settings.rate_limit_user_burst),
        }
        stopping = asyncio.Event()

        async def run_relay() -> None:
            if not producer.started and not await start_with_retry(
                producer.start, f"{spec.name} producer", stop=stopping
            ):
                return
            runtime.producer_ready.set()
            await runtime.relay.run()

        def stop_relay() -> None:
            stopping.set()
            runtime.relay.stop()

        tasks.start("outbox-relay", run_relay, stop=stop_relay, trouble=runtime.relay.trouble)
        housekeeping = Housekeeping(
            pool,
            clock,
            interval_s=settings.housekeeping_interval_s,
            backoff=Backoff(settings.retry_initial_s, settings.retry_max_s),
            retention=Retention(
                inbox=timedelta(seconds=settings.inbox_retention_s),
                journeys=timedelta(seconds=settings.journey_retention_s),
            ),
            chores=spec.chores(runtime),
        )
        tasks.start("housekeeping", housekeeping.run, stop=housekeeping.stop)
        for consumer in spec.consumers(state):
            group = spec.name if consumer.name == spec.name else f"{spec.name}.{consumer.name}"
            loop = ConsumerLoop(
                settings=settings,
                group=group,
                topics=consumer.topics,
                handler=idempotent(pool, group, consumer.handle, clock.now),
                producer=producer,
                dlq_topic=dlq_topic(spec.name).name,
                name=f"consumer:{group}",
                accepts=consumer.accepts,
                batch_handler=idempotent_batch(pool, group, consumer.handle, clock.now, consumer.handle_many)
                if consumer.batch
                else None,
            )
            runtime.consumers.append(loop)

            async def run_consumer(loop: ConsumerLoop = loop) -> None:
                await runtime.producer_ready.wait()  # dead letters need a started producer
                await loop.run()

            tasks.start(loop.name, run_consumer, stop=loop.stop, trouble=loop.trouble)
        if spec.on_start is not None:
            await spec.on_start(state)
        try:
            yield
        finally:
            tasks.request_stop()
            stopping.set()
            runtime.producer_ready.set()  # release consumers still waiting, so they can see the stop
            # Background tasks first: what `on_stop` closes (routing's desktop hub) is used by some of them.
            await tasks.stop_all()
            if spec.on_stop is not None:
                await spec.on_stop(state)
            await producer.stop()
            await app.state.token_verifier.aclose()
            await pool.close()

    # FastAPI's own telemetry stays off: it records raw paths and query strings (survey tokens, phone lookups)
    # and one span per WebSocket that would hold every contact an agent handles; TracingMiddleware, HttpMetrics
    # and the journey traces do that job without the personal data.
    app = FastAPI(
        title=spec.title or f"Switchboard {spec.name}",
        lifespan=lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    install_problem_handlers(app)
    app.add_middleware(RequestLimits, max_bytes=settings.max_request_bytes, max_json_depth=settings.max_json_depth)
    app.add_middleware(HttpMetrics, registry=registry)
    app.add_middleware(TracingMiddleware)

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    async def metrics(request: Request) -> Response:
        runtime = runtime_of(request)
        try:
            async with asyncio.timeout(2), runtime.pool.acquire() as conn:
                delivery.outbox_backlog = await backlog(conn)
                delivery.outbox_parked = await parked_rows(conn)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            delivery.outbox_backlog = delivery.outbox_parked = -1
        return Response(generate_latest(registry), media_type=METRICS_CONTENT_TYPE)

    @app.get("/health/live", tags=["health"], response_model=Liveness)
    async def live() -> dict[str, str]:
        return {"status": "ok", "service": spec.name}

    @app.get("/health/ready", tags=["health"], response_model=None, responses={200: {"model": Readiness}})
    async def ready(request: Request) -> JSONResponse | dict[str, Any]:
        runtime = runtime_of(request)
        checks = await readiness(runtime)
        restarts = {name: n for name, n in runtime.tasks.restarts().items() if n}
        extra: dict[str, Any] = {"restarts": restarts} if restarts else {}
        if all(v == "ok" for v in checks.values()):
            ready = {"status": "ready", "service": spec.name, "checks": checks, **extra}
            notes = spec.readiness_notes(states[0])
            return {**ready, "notes": notes} if notes else ready
        return problem_response(
            request,
            503,
            "Not ready",
            "; ".join(f"{k}: {v}" for k, v in checks.items() if v != "ok"),
            kind="not-ready",
            headers={"Retry-After": "5"},
            checks=checks,
            **extra,
        )

    for router in spec.routers:
        app.include_router(router)
    generated = app.openapi
    documented: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        if not documented:
            documented.append(document_problems(generated()))
        return documented[0]

    app.openapi = openapi  # type: ignore[method-assign]
    return app


async def readiness(runtime: Runtime[Any]) -> dict[str, str]:
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(2):
            await runtime.pool.fetchval("SELECT 1")
        checks["database"] = "ok"
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        checks["database"] = f"unreachable ({type(exc).__name__})"
    if not runtime.producer.started:
        checks["kafka"] = "not connected yet"
    else:
        try:
            async with asyncio.timeout(2):
                await runtime.producer.ping()
            checks["kafka"] = "ok"
        except Exception as exc:  # noqa: BLE001 — any client error means the same to a load balancer: not ready
            checks["kafka"] = f"unreachable ({type(exc).__name__})"
    # Down (dead until its restart) or degraded (waiting for a dependency): either way not doing its job now.
    failures = runtime.tasks.failures()
    troubles = runtime.tasks.troubles()
    checks["background"] = (
        "; ".join([*(f"{k} {v}" for k, v in failures.items()), *(f"{k} waits: {v}" for k, v in troubles.items())])
        or "ok"
    )
    return checks


@contextlib.asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[FastAPI]:
    """Run an app's lifespan (tests, tools) without a server."""
    async with app.router.lifespan_context(app):
        yield app


def quieter_garbage_collection() -> None:
    """Shorten the cyclic garbage collector's full passes, which stop the event loop while they walk every
    tracked object: what exists before serving (modules, the app, its schemas: ~150k objects, never garbage)
    is frozen out of their view. Measured in routing at 200 contacts/s (`gc.callbacks`): full passes took
    90–110 ms before, 15–57 ms after (one long pass right after start-up remains)."""
    gc.collect()
    gc.freeze()


def main(spec: ServiceSpec[S, T], settings: S, argv: Sequence[str]) -> int:
    """`python -m services.<name> serve|migrate`: the one entry point every service's `__main__` calls."""
    import uvicorn

    from shared.telemetry import setup_logging

    command = argv[0] if argv else "serve"
    setup_logging(settings.service, level=settings.log_level, as_json=settings.log_json)
    if command == "serve":
        app = create_app(spec, settings)
        quieter_garbage_collection()
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=15,
        )
        return 0
    if command == "migrate":

        async def apply() -> list[str]:
            from shared.db import connect

            conn = await connect(settings.database_url)
            try:
                return await migrate(conn, service_migrations(spec.name, spec.migrations))
            finally:
                await conn.close()

        applied = asyncio.run(apply())
        log.info("%s: %s", spec.name, f"applied {', '.join(applied)}" if applied else "nothing to apply")
        return 0
    log.error("unknown command %r; use serve or migrate", command)
    return 2
