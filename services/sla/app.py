"""Wires the sla service: its routes, its consumer of contacts, work and feedback, and the timer scheduler."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from fastapi import FastAPI

from services.sla.api import routers
from services.sla.calendar_watch import CalendarWatch
from services.sla.config import SlaSettings
from services.sla.handlers import handler
from services.sla.handlers.events import DISPATCH
from services.sla.repository.admin import AdminCache
from services.sla.repository.timers import EVERYTHING, Ownership
from services.sla.scheduler import Scheduler
from services.sla.state import Sla
from shared.app import create_app as create_service_app
from shared.clock import Clock
from shared.faults import Backoff
from shared.housekeeping import Chore, audit_chore
from shared.metrics import CountOf
from shared.service import ConsumerSpec, Runtime, ServiceSpec

MIGRATIONS = Path(__file__).parent / "migrations"


def _consumers(sla: Sla) -> Sequence[ConsumerSpec]:
    settings = sla.settings
    topics = (settings.sla_contacts_topic, settings.sla_work_topic, settings.sla_feedback_topic)
    # A poll in one transaction: every effect is in the database, and the scheduler never waits on a clock
    # a handler holds (it skips locked rows), so holding a batch's contacts together cannot deadlock with it.
    return [
        ConsumerSpec(
            "sla",
            topics,
            handler(sla.clock, admin=sla.admin, live_channels=sla.live_channels),
            batch=True,
            accepts=frozenset(DISPATCH),
        )
    ]


def _ownership(runtime: Runtime[SlaSettings]) -> Callable[[], Ownership]:
    """Timers follow the partitions of the contacts topic this instance consumes; before the consumer has
    joined its group (and during a takeover after a crash) it fires everything: the fired record in the
    database, not ownership, is what makes firing exactly-once, so owning too much is only wasted effort."""
    settings = runtime.settings
    if settings.sla_timer_ownership == "all":
        return lambda: EVERYTHING

    def ownership() -> Ownership:
        held = runtime.consumers[0].partitions(settings.sla_contacts_topic) if runtime.consumers else None
        return EVERYTHING if held is None else Ownership(held[0], held[1])

    return ownership


def _state(runtime: Runtime[SlaSettings]) -> Sla:
    settings = runtime.settings
    scheduler = Scheduler(
        runtime.pool,
        runtime.clock,
        dsn=settings.listen_url,
        ownership=_ownership(runtime),
        horizon_s=settings.sla_horizon_s,
        batch_size=settings.sla_fire_batch_size,
        lead_s=settings.sla_fire_lead_s,
        hold_before_commit_s=settings.sla_hold_before_commit_s,
        backoff=Backoff(settings.retry_initial_s, settings.retry_max_s),
    )
    runtime.registry.register(
        CountOf(
            "switchboard_sla_timers_fired", "Due SLA moments this instance fired", lambda: scheduler.stats.fired
        )
    )
    watch = CalendarWatch(
        runtime.pool,
        runtime.clock,
        warn_days=settings.sla_calendar_warn_days,
        interval_s=settings.sla_calendar_check_s,
        backoff=Backoff(settings.retry_initial_s, settings.retry_max_s),
    )
    watch.register(runtime.registry)
    return Sla(
        settings=settings,
        pool=runtime.pool,
        producer=runtime.producer,
        clock=runtime.clock,
        tasks=runtime.tasks,
        scheduler=scheduler,
        calendar_watch=watch,
        admin=AdminCache(),
    )


async def _start(sla: Sla) -> None:
    scheduler, watch = sla.scheduler, sla.calendar_watch
    if sla.settings.sla_scheduler:
        sla.tasks.start("sla-scheduler", scheduler.run, stop=scheduler.stop, trouble=scheduler.trouble)
    sla.tasks.start("sla-calendar-watch", watch.run, stop=watch.stop)


def _notes(sla: Sla) -> dict[str, str]:
    return sla.calendar_watch.notes()


def _retention(runtime: Runtime[SlaSettings]) -> Sequence[Chore]:
    """SLA keeps no contact content; its audit of policy and calendar changes goes after six years."""
    return [audit_chore(runtime.settings.audit_retention_days)]


def spec() -> ServiceSpec[SlaSettings, Sla]:
    return ServiceSpec(
        name="sla",
        state=_state,
        chores=_retention,
        migrations=MIGRATIONS,
        routers=routers(),
        consumers=_consumers,
        on_start=_start,
        readiness_notes=_notes,
        title="Switchboard SLA",
    )


def create_app(settings: SlaSettings, *, clock: Clock | None = None) -> FastAPI:
    return create_service_app(spec(), settings, clock=clock)
