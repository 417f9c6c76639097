"""The running sla service's own parts, built once per start by its wiring (`app.py`): routes reach them through
`api.common.SlaState`, the loops are given them."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from services.sla.calendar_watch import CalendarWatch
from services.sla.config import SlaSettings
from services.sla.repository.admin import AdminCache
from services.sla.scheduler import Scheduler
from shared.clock import Clock
from shared.kafka import Producer
from shared.lifecycle import BackgroundTasks


@dataclass(frozen=True)
class Sla:
    settings: SlaSettings
    pool: asyncpg.Pool
    producer: Producer
    clock: Clock
    tasks: BackgroundTasks
    scheduler: Scheduler
    calendar_watch: CalendarWatch
    admin: AdminCache
    """Calendars and active policies, parsed once per version, for the consumer and the routes."""

    @property
    def live_channels(self) -> frozenset[str]:
        return frozenset(self.settings.sla_live_channels)
