"""What a service declares to the shared app factory (`ServiceSpec`, `ConsumerSpec`) and what it holds while it
runs: the `Runtime` every service has and the typed state of its own that `ServiceSpec.state` builds once per
start, which routes reach with `service_state(app, Kind)` behind one `Depends` and everything below is given."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic

import asyncpg
from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry
from starlette.requests import HTTPConnection
from typing_extensions import TypeVar

from shared.clock import Clock
from shared.config import ServiceSettings
from shared.events import Event
from shared.housekeeping import Chore
from shared.inbox import TransactionalBatchHandler, TransactionalHandler
from shared.kafka import ConsumerLoop, Producer
from shared.lifecycle import BackgroundTasks
from shared.outbox import OutboxRelay

S = TypeVar("S", bound=ServiceSettings, default=ServiceSettings)
"""The settings class of a service."""


@dataclass(frozen=True)
class ConsumerSpec:
    """A consumer group of this service: `<service>` or `<service>.<name>`; handled idempotently."""

    name: str
    topics: Sequence[str]
    handle: TransactionalHandler
    batch: bool = False
    """Handle each polled batch of a partition in one transaction (falls back to one by one on any error).
    Only for handlers whose effects are all in the database: nothing may act on an event before it commits."""
    handle_many: TransactionalBatchHandler | None = None
    """With `batch`: handles a batch's new events together, in order (set-based writes); `handle` still takes
    them one by one when a batch falls back."""
    accepts: frozenset[type[Event]] | None = None
    """The event types this consumer acts on, if not all: the others on its topics are skipped before the
    inbox claim (no row, no lock, no handler)."""


@dataclass
class Runtime(Generic[S]):
    """What every running service holds: built in the lifespan, reachable as `runtime_of(connection)`."""

    settings: S
    pool: asyncpg.Pool
    producer: Producer
    clock: Clock
    tasks: BackgroundTasks
    producer_ready: asyncio.Event
    relay: OutboxRelay
    consumers: list[ConsumerLoop] = field(default_factory=list)
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    """Prometheus metrics of this app; services register their own here."""


T = TypeVar("T", default=Runtime[ServiceSettings])
"""A service's own state: what `ServiceSpec.state` builds (the runtime itself for a service without one)."""


def _runtime_itself(runtime: Runtime[Any]) -> Any:
    return runtime


@dataclass(frozen=True)
class ServiceSpec(Generic[S, T]):
    name: str
    migrations: Path
    routers: Sequence[APIRouter] = ()
    state: Callable[[Runtime[S]], T] = _runtime_itself
    """Builds the service's own state once per start, before its consumers and `on_start`; routes reach it
    with `service_state`, and the hooks below are given it."""
    consumers: Callable[[T], Sequence[ConsumerSpec]] = lambda _state: ()
    on_start: Callable[[T], Awaitable[None]] | None = None
    on_stop: Callable[[T], Awaitable[None]] | None = None
    chores: Callable[[Runtime[S]], Sequence[Chore]] = lambda _runtime: ()
    """The service's own retention, run by the shared housekeeping loop (`shared/housekeeping.py`)."""
    readiness_notes: Callable[[T], dict[str, str]] = lambda _state: {}
    """Warnings `/health/ready` shows under `notes` without making the service unready."""
    title: str = ""


def runtime_of(connection: HTTPConnection) -> Runtime:
    runtime: Runtime = connection.app.state.runtime
    return runtime


K = TypeVar("K")


def service_state(app: FastAPI, kind: type[K]) -> K:
    """The state `ServiceSpec.state` built for the running app, as the class the service's wiring made it."""
    state = app.state.service
    if not isinstance(state, kind):
        raise TypeError(f"the running app holds a {type(state).__name__}, not a {kind.__name__}")
    return state
