"""SlaSettings: the sla service's knobs."""

from __future__ import annotations

from shared.config import ServiceSettings


class SlaSettings(ServiceSettings):
    service: str = "sla"
    port: int = 8103
    database_url: str = "postgresql://switchboard@127.0.0.1:5532/sla"
