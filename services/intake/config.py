"""IntakeSettings: the intake service's knobs."""

from __future__ import annotations

from shared.config import ServiceSettings


class IntakeSettings(ServiceSettings):
    service: str = "intake"
    port: int = 8101
    database_url: str = "postgresql://switchboard@127.0.0.1:5532/intake"
