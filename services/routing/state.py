"""The running routing service's own parts, built once per start by its wiring (`app.py`): routes and the desktop
socket reach them through `api.common.RoutingState`, the consumers and metrics are given them."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from prometheus_client import CollectorRegistry

from services.routing.config import RoutingSettings
from services.routing.dispatcher.loop import Dispatcher
from services.routing.hub import DesktopHub
from services.routing.repository.policy import PolicyCache
from shared.clock import Clock
from shared.kafka import Producer
from shared.lifecycle import BackgroundTasks


@dataclass(frozen=True)
class Routing:
    settings: RoutingSettings
    pool: asyncpg.Pool
    producer: Producer
    clock: Clock
    tasks: BackgroundTasks
    registry: CollectorRegistry
    instance: str
    """This instance's name in leases and change notices."""
    policies: PolicyCache
    hub: DesktopHub
    dispatcher: Dispatcher | None
    """None where `settings.dispatcher` is off (another instance offers the work)."""
