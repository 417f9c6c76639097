"""Wires the gateway: its database (users, sessions), the HTTP client to the services, the identity provider
when one is configured, the web app's files, security headers on every answer, and housekeeping."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.web import api, proxy
from services.web.assets import load_assets
from services.web.config import UPSTREAMS, WebSettings
from services.web.domain import SECURITY_HEADERS, SignInThrottle
from services.web.handlers import Deps, SessionCache, purge
from services.web.oidc import OidcClient
from shared.auth import TokenVerifier
from shared.clock import Clock, SystemClock
from shared.db import create_pool, migrate
from shared.errors import install_problem_handlers, problem_response
from shared.lifecycle import BackgroundTasks
from shared.limits import RequestLimits
from shared.metrics import HttpMetrics
from shared.telemetry import TracingMiddleware, setup_telemetry

MIGRATIONS = Path(__file__).parent / "migrations"
STATIC = Path(__file__).parent / "static"
log = logging.getLogger(__name__)


class SecurityHeaders:
    """The content security policy and its companions on every answer (pages, files, API, errors)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.headers = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                missing = [h for h in self.headers if h[0] not in present]
                message["headers"] = [*message.get("headers", []), *missing]
            await send(message)

        await self.app(scope, receive, with_headers)


async def _housekeeping(deps: Deps, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await purge(deps)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("housekeeping failed (will try again): %s", type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), deps.settings.housekeeping_interval_s)


def create_app(settings: WebSettings, *, clock: Clock | None = None, static: Path = STATIC) -> FastAPI:
    clock = clock or SystemClock()
    if not settings.token_secret.get_secret_value() and settings.password_signin:
        raise ValueError("password sign-in mints tokens with SWITCHBOARD_TOKEN_SECRET; set it (32+ characters)")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        running = await start(app, settings, clock, static)
        try:
            yield
        finally:
            await running.stop()

    app = FastAPI(
        title="Switchboard web gateway",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    install_problem_handlers(app)
    add_middleware(app, settings)
    add_health_endpoints(app)
    app.include_router(api.router)
    app.include_router(proxy.router)
    return app


@dataclass(frozen=True)
class Running:
    """The gateway between its start and its stop: what the stop closes, in this order."""

    pool: asyncpg.Pool
    verifier: TokenVerifier
    upstream_http: httpx.AsyncClient
    provider_http: httpx.AsyncClient
    sockets: proxy.Sockets
    tasks: BackgroundTasks

    async def stop(self) -> None:
        for digest in list(self.sockets.by_session):
            self.sockets.end(digest)
        await self.tasks.stop_all(grace_s=5)
        await self.upstream_http.aclose()
        await self.provider_http.aclose()
        await self.verifier.aclose()
        await self.pool.close()


async def start(app: FastAPI, settings: WebSettings, clock: Clock, static: Path) -> Running:
    """The database (migrated), the HTTP clients, the identity provider's client, the handlers' dependencies and
    the web app's files on the app, then housekeeping."""
    setup_telemetry(settings.service)
    pool = await open_database(settings)
    verifier = TokenVerifier.from_settings(settings)
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    upstream_http = httpx.AsyncClient(timeout=settings.upstream_timeout_s, limits=limits)
    provider_http = httpx.AsyncClient(timeout=10.0, follow_redirects=False)
    oidc = oidc_client(settings, verifier, provider_http)
    sockets = proxy.Sockets()
    deps = Deps(
        pool=pool,
        settings=settings,
        clock=clock,
        verifier=verifier,
        oidc=oidc,
        cache=SessionCache(),
        throttle=SignInThrottle(attempts=settings.signin_attempts, window_s=settings.signin_lockout_s),
        on_sign_out=sockets.end,
    )
    app.state.deps = deps
    app.state.pool = pool
    app.state.settings = settings
    app.state.token_verifier = verifier
    app.state.upstream_http = upstream_http
    app.state.sockets = sockets
    app.state.assets = load_assets(static)
    tasks = BackgroundTasks()
    stop = asyncio.Event()
    tasks.start("housekeeping", lambda: _housekeeping(deps, stop), stop=stop.set)
    app.state.tasks = tasks
    return Running(pool, verifier, upstream_http, provider_http, sockets, tasks)


async def open_database(settings: WebSettings) -> asyncpg.Pool:
    pool = await create_pool(
        settings.database_url,
        min_size=1,
        max_size=settings.db_pool_max,
        statement_cache_size=settings.db_statement_cache_size,
    )
    async with pool.acquire() as conn:
        applied = await migrate(conn, [("web", MIGRATIONS)])
    if applied:
        log.info("web: applied migrations %s", ", ".join(applied))
    return pool


def oidc_client(settings: WebSettings, verifier: TokenVerifier, http: httpx.AsyncClient) -> OidcClient | None:
    """The identity provider's client, when one is configured."""
    if not (settings.oidc_issuer and settings.oidc_client_id):
        return None
    return OidcClient(
        issuer=settings.oidc_issuer,
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret.get_secret_value(),
        scopes=settings.oidc_scopes,
        verifier=verifier,
        http=http,
    )


def add_middleware(app: FastAPI, settings: WebSettings) -> None:
    """Request limits innermost, then the HTTP metrics, tracing, and the security headers outermost."""
    registry = CollectorRegistry()
    app.add_middleware(RequestLimits, max_bytes=settings.max_request_bytes)
    app.add_middleware(HttpMetrics, registry=registry)
    app.add_middleware(TracingMiddleware)
    app.add_middleware(SecurityHeaders)
    app.state.registry = registry


def add_health_endpoints(app: FastAPI) -> None:
    @app.get("/health/live", include_in_schema=False)
    async def live() -> dict[str, str]:
        return {"status": "ok", "service": "web"}

    @app.get("/health/ready", include_in_schema=False, response_model=None)
    async def ready(request: Request) -> JSONResponse | dict[str, Any]:
        """Ready when its own database answers; the services' health is theirs (listed, not required)."""
        try:
            async with asyncio.timeout(2), request.app.state.pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            return problem_response(request, 503, "Not ready", f"database: {type(exc).__name__}", kind="not-ready")
        return {"status": "ready", "service": "web", "upstreams": list(UPSTREAMS)}


def main(settings: WebSettings, argv: list[str]) -> int:
    """`python -m services.web serve|migrate`."""
    import uvicorn

    from shared.app import quieter_garbage_collection
    from shared.telemetry import setup_logging

    command = argv[0] if argv else "serve"
    setup_logging(settings.service, level=settings.log_level, as_json=settings.log_json)
    if command == "serve":
        app = create_app(settings)
        quieter_garbage_collection()
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,  # paths carry contact ids and search words; the metrics count requests instead
            timeout_graceful_shutdown=10,
            ws_max_size=4 * 1024 * 1024,
            server_header=False,
        )
        return 0
    if command == "migrate":

        async def apply() -> list[str]:
            from shared.db import connect

            conn = await connect(settings.database_url)
            try:
                return await migrate(conn, [("web", MIGRATIONS)])
            finally:
                await conn.close()

        applied = asyncio.run(apply())
        log.info("web: %s", f"applied {', '.join(applied)}" if applied else "nothing to apply")
        return 0
    log.error("unknown command %r; use serve or migrate", command)
    return 2
