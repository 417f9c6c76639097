"""Wires the feedback service: its routes, the consumer of intake's and routing's events, and the scheduler."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from services.feedback import api, page
from services.feedback.config import FeedbackSettings
from services.feedback.handlers import Links, handle
from services.feedback.handlers.events import HANDLED
from services.feedback.handlers.settings import SettingsCache
from services.feedback.repository import retention as retention_repo
from services.feedback.scheduler import Scheduler
from shared.app import ConsumerSpec, Runtime, ServiceSpec
from shared.app import create_app as create_service_app
from shared.clock import Clock
from shared.db import Conn
from shared.events import INTAKE_CONTACTS, ROUTING_WORK
from shared.faults import Backoff
from shared.housekeeping import Chore, audit_chore
from shared.kafka import Delivery
from shared.metrics import CountOf

MIGRATIONS = Path(__file__).parent / "migrations"


def _settings(runtime: Runtime) -> FeedbackSettings:
    settings = runtime.settings
    if not isinstance(settings, FeedbackSettings):
        settings = FeedbackSettings.model_validate(settings.model_dump())
    return settings


def links(settings: FeedbackSettings) -> Links:
    return Links(base_url=settings.page_base_url(), secret=settings.link_secret())


def consumers(runtime: Runtime) -> list[ConsumerSpec]:
    if not _settings(runtime).consume_events:
        return []

    async def on_event(conn: Conn, delivery: Delivery) -> None:
        await handle(conn, delivery, now=runtime.clock.now())

    # A poll in one transaction: every effect is in the database, and the survey scheduler skips rows a
    # handler holds instead of waiting for them.
    topics = (INTAKE_CONTACTS.name, ROUTING_WORK.name)
    return [ConsumerSpec("feedback", topics, on_event, batch=True, accepts=HANDLED)]


async def on_start(runtime: Runtime) -> None:
    await asyncio.to_thread(page.load_catalogs)
    settings = _settings(runtime)
    cache = SettingsCache()
    runtime.extras["feedback.settings"] = cache
    scheduler = Scheduler(
        runtime.pool,
        runtime.clock,
        links(settings),
        interval_s=settings.scheduler_interval_s,
        batch=settings.scheduler_batch,
        settings=cache,
        backoff=Backoff(settings.retry_initial_s, settings.retry_max_s),
    )
    runtime.extras["scheduler"] = scheduler
    runtime.extras["links"] = scheduler.links
    runtime.registry.register(
        CountOf(
            "switchboard_feedback_invitations",
            "Due invitations this instance's scheduler handled, by outcome (sent, deferred, skipped, expired)",
            lambda: scheduler.outcomes,
        )
    )
    runtime.tasks.start("survey-scheduler", scheduler.run, stop=scheduler.stop, trouble=scheduler.trouble)


def _retention(runtime: Runtime) -> Sequence[Chore]:
    """Stored recipients (where an invitation went) once the invitation is over and `recipient_retention_days`
    have passed; a contact's addresses after `content_retention_days`; the audit after six years."""
    settings = runtime.settings
    days = getattr(settings, "recipient_retention_days", 30)
    return [
        Chore("survey recipients", timedelta(days=days), retention_repo.erase_recipients),
        Chore(
            "contact addresses", timedelta(days=settings.content_retention_days), retention_repo.erase_addresses
        ),
        audit_chore("audit_entry", settings.audit_retention_days),
    ]


def spec() -> ServiceSpec:
    return ServiceSpec(
        name="feedback",
        chores=_retention,
        migrations=MIGRATIONS,
        routers=[api.router, page.router],
        consumers=consumers,
        on_start=on_start,
        title="Switchboard feedback",
    )


def create_app(settings: FeedbackSettings, *, clock: Clock | None = None) -> FastAPI:
    return create_service_app(spec(), settings, clock=clock)
