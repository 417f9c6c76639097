"""Wires the sla service: its routes, its consumer of contacts, work and feedback, and the timer scheduler."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from fastapi import FastAPI

from services.sla.api import routers
from services.sla.calendar_watch import CalendarWatch
from services.sla.config import SlaSettings
from services.sla.handlers import Deps, handler
from services.sla.handlers.events import HANDLED
from services.sla.repository.timers import EVERYTHING, Ownership
from services.sla.scheduler import Scheduler
from shared.app import ConsumerSpec, Runtime, ServiceSpec
from shared.app import create_app as create_service_app
from shared.clock import Clock
from shared.faults import Backoff
from shared.housekeeping import Chore, audit_chore
from shared.metrics import CountOf

MIGRATIONS = Path(__file__).parent / "migrations"


def _settings(runtime: Runtime) -> SlaSettings:
    settings = runtime.settings
    assert isinstance(settings, SlaSettings)
    return settings


def _consumers(runtime: Runtime) -> Sequence[ConsumerSpec]:
    settings = _settings(runtime)
    deps = Deps(live_channels=frozenset(settings.sla_live_channels), now=runtime.clock.now)
    topics = (settings.sla_contacts_topic, settings.sla_work_topic, settings.sla_feedback_topic)
    # A poll in one transaction: every effect is in the database, and the scheduler never waits on a clock
    # a handler holds (it skips locked rows), so holding a batch's contacts together cannot deadlock with it.
    return [ConsumerSpec("sla", topics, handler(deps), batch=True, accepts=HANDLED)]


def _ownership(runtime: Runtime) -> Callable[[], Ownership]:
    """Timers follow the partitions of the contacts topic this instance consumes; before the consumer has
    joined its group (and during a takeover after a crash) it fires everything: the fired record in the
    database, not ownership, is what makes firing exactly-once, so owning too much is only wasted effort."""
    settings = _settings(runtime)
    if settings.sla_timer_ownership == "all":
        return lambda: EVERYTHING

    def ownership() -> Ownership:
        held = runtime.consumers[0].partitions(settings.sla_contacts_topic) if runtime.consumers else None
        return EVERYTHING if held is None else Ownership(held[0], held[1])

    return ownership


async def _start(runtime: Runtime) -> None:
    settings = _settings(runtime)
    scheduler = Scheduler(
        runtime.pool,
        runtime.clock,
        dsn=settings.database_url,
        ownership=_ownership(runtime),
        horizon_s=settings.sla_horizon_s,
        batch_size=settings.sla_fire_batch_size,
        lead_s=settings.sla_fire_lead_s,
        hold_before_commit_s=settings.sla_hold_before_commit_s,
        backoff=Backoff(settings.retry_initial_s, settings.retry_max_s),
    )
    runtime.extras["scheduler"] = scheduler
    runtime.registry.register(
        CountOf(
            "switchboard_sla_timers_fired", "Due SLA moments this instance fired", lambda: scheduler.stats.fired
        )
    )
    if settings.sla_scheduler:
        runtime.tasks.start("sla-scheduler", scheduler.run, stop=scheduler.stop, trouble=scheduler.trouble)
    watch = CalendarWatch(
        runtime.pool,
        runtime.clock,
        warn_days=settings.sla_calendar_warn_days,
        interval_s=settings.sla_calendar_check_s,
        backoff=Backoff(settings.retry_initial_s, settings.retry_max_s),
    )
    watch.register(runtime.registry)
    runtime.extras["calendar_watch"] = watch
    runtime.tasks.start("sla-calendar-watch", watch.run, stop=watch.stop)


def _notes(runtime: Runtime) -> dict[str, str]:
    watch = runtime.extras.get("calendar_watch")
    return watch.notes() if isinstance(watch, CalendarWatch) else {}


def _retention(runtime: Runtime) -> Sequence[Chore]:
    """SLA keeps no contact content; its audit of policy and calendar changes goes after six years."""
    return [audit_chore("audit_entry", runtime.settings.audit_retention_days)]


def spec() -> ServiceSpec:
    return ServiceSpec(
        name="sla",
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
