"""RoutingSettings: the routing service's knobs."""

from __future__ import annotations

from shared.config import ServiceSettings


class RoutingSettings(ServiceSettings):
    service: str = "routing"
    port: int = 8102
    database_url: str = "postgresql://switchboard@127.0.0.1:5532/routing"
