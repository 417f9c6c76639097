"""Wires the routing service: routes, consumers, the dispatcher and the desktop hub, on the shared app factory."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI

from services.routing.api import agents, insight, work
from services.routing.config import RoutingSettings
from services.routing.desktop import DesktopHub
from services.routing.desktop import router as desktop_router
from services.routing.dispatcher import Dispatcher
from services.routing.handlers.common import Tx
from services.routing.handlers.events import dispatch_table, handle_events
from services.routing.repository.policy import PolicyCache
from shared.app import ConsumerSpec, Runtime, ServiceSpec
from shared.app import create_app as create_service_app
from shared.clock import Clock
from shared.db import Conn
from shared.events import FEEDBACK_EVENTS, INTAKE_CONTACTS, KNOWLEDGE_EVENTS, SLA_EVENTS
from shared.kafka import Delivery

MIGRATIONS = Path(__file__).parent / "migrations"


def _settings(runtime: Runtime) -> RoutingSettings:
    settings = runtime.settings
    assert isinstance(settings, RoutingSettings)
    return settings


def _identify(runtime: Runtime) -> str:
    """This instance's name in leases and change notices, and the shared policy cache; made once."""
    settings = _settings(runtime)
    if "instance" not in runtime.extras:
        runtime.extras["instance"] = (
            settings.instance_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:4]}"
        )
        runtime.extras["policies"] = PolicyCache()
    instance: str = runtime.extras["instance"]
    return instance


def consumers(runtime: Runtime) -> Sequence[ConsumerSpec]:
    settings = _settings(runtime)
    _identify(runtime)
    table = dispatch_table(pool=settings.default_pool)
    policies: PolicyCache = runtime.extras["policies"]

    async def handle(conn: Conn, delivery: Delivery) -> None:
        event = delivery.decoded.event
        handler = table.get(type(event)) if event is not None else None
        if handler is None or event is None:
            return
        tx = Tx(
            conn=conn,
            now=runtime.clock.now(),
            policy=await policies.get(conn),
            origin=runtime.extras["instance"],
        )
        await handler(tx, event, delivery.decoded.envelope.data)

    async def handle_many(conn: Conn, deliveries: Sequence[Delivery]) -> None:
        tx = Tx(
            conn=conn,
            now=runtime.clock.now(),
            policy=await policies.get(conn),
            origin=runtime.extras["instance"],
        )
        events = [(d.decoded.event, d.decoded.envelope.data) for d in deliveries if d.decoded.event is not None]
        await handle_events(tx, events, table=table, pool=settings.default_pool)

    topics = [INTAKE_CONTACTS.name, SLA_EVENTS.name, FEEDBACK_EVENTS.name, KNOWLEDGE_EVENTS.name]
    # Effects are all in the database (NOTIFY wakes the dispatcher at commit), so batches are safe; a batch's
    # received contacts are queued set-based.
    return [ConsumerSpec("routing", topics, handle, batch=True, handle_many=handle_many)]


async def on_start(runtime: Runtime) -> None:
    settings = _settings(runtime)
    instance = _identify(runtime)
    hub = DesktopHub(db=runtime.pool, dsn=settings.database_url, clock=runtime.clock, origin=instance)
    await hub.start()
    runtime.extras["hub"] = hub
    if settings.dispatcher:
        dispatcher = Dispatcher(db=runtime.pool, settings=settings, clock=runtime.clock, instance=instance)
        await dispatcher.start()
        runtime.extras["dispatcher"] = dispatcher
        runtime.tasks.start("dispatcher", dispatcher.run(), stop=dispatcher.stop)


async def on_stop(runtime: Runtime) -> None:
    hub = runtime.extras.get("hub")
    if isinstance(hub, DesktopHub):
        await hub.close()


def spec() -> ServiceSpec:
    return ServiceSpec(
        name="routing",
        migrations=MIGRATIONS,
        routers=[agents.router, work.router, insight.router, desktop_router],
        consumers=consumers,
        on_start=on_start,
        on_stop=on_stop,
        title="Switchboard routing",
    )


def create_app(settings: RoutingSettings, *, clock: Clock | None = None) -> FastAPI:
    return create_service_app(spec(), settings, clock=clock)
