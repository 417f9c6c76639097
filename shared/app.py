"""The one app factory every service uses.

`create_app(spec, settings)` gives a FastAPI app whose lifespan (`shared/lifespan.py`) opens the pool, applies
migrations, builds the service's own state (`shared/service.py`), starts the producer, the outbox relay and the
service's consumers as background tasks that ride out a database or broker outage, are restarted if they die
anyway, and stop gracefully. Every app has `/health/live`, `/health/ready` (which says what is degraded),
problem+json errors (503 with Retry-After while a dependency is away), tracing and auth state.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, generate_latest
from pydantic import BaseModel, ConfigDict

from shared.auth import check_secrets
from shared.clock import Clock, SystemClock
from shared.config import ServiceSettings
from shared.db import migrate, service_migrations
from shared.errors import document_problems, install_problem_handlers, problem_response
from shared.lifespan import Wiring
from shared.limits import RequestLimits
from shared.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from shared.metrics import HttpMetrics
from shared.outbox import backlog, parked_rows
from shared.service import ConsumerSpec, Runtime, S, ServiceSpec, T, runtime_of, service_state
from shared.telemetry import TracingMiddleware

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
    refuse_unsafe(settings)
    wiring = Wiring(spec, settings, clock or SystemClock())
    # FastAPI's own telemetry stays off: it records raw paths and query strings (survey tokens, phone lookups)
    # and one span per WebSocket that would hold every contact an agent handles; TracingMiddleware, HttpMetrics
    # and the journey traces do that job without the personal data.
    app = FastAPI(
        title=spec.title or f"Switchboard {spec.name}",
        lifespan=wiring.lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    install_problem_handlers(app)
    add_middleware(app, settings, wiring.registry)
    add_metrics_endpoint(app, wiring)
    add_health_endpoints(app, wiring)
    for router in spec.routers:
        app.include_router(router)
    document_problems_once(app)
    return app


def refuse_unsafe(settings: ServiceSettings) -> None:
    """Refuse to build an app on settings that must not run (weak secrets, production refusals)."""
    check_secrets(
        settings.token_secret.get_secret_value(),
        [old.get_secret_value() for old in settings.token_secrets_previous],
        provider=settings.oidc_issuer is not None,
    )
    refusals = settings.refusals()
    if refusals:
        raise ValueError("; ".join(refusals))


def add_middleware(app: FastAPI, settings: ServiceSettings, registry: CollectorRegistry) -> None:
    """Request limits innermost, then the HTTP metrics, then tracing outermost (the last added runs first)."""
    app.add_middleware(RequestLimits, max_bytes=settings.max_request_bytes, max_json_depth=settings.max_json_depth)
    app.add_middleware(HttpMetrics, registry=registry)
    app.add_middleware(TracingMiddleware)


def add_metrics_endpoint(app: FastAPI, wiring: Wiring[Any, Any]) -> None:
    delivery, registry = wiring.delivery, wiring.registry

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


def add_health_endpoints(app: FastAPI, wiring: Wiring[Any, Any]) -> None:
    spec, states = wiring.spec, wiring.states

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


def document_problems_once(app: FastAPI) -> None:
    """The OpenAPI document with the problem+json answers added, built on first use and kept."""
    generated = app.openapi
    documented: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        if not documented:
            documented.append(document_problems(generated()))
        return documented[0]

    app.openapi = openapi  # type: ignore[method-assign]


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
