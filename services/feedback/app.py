"""Wires the feedback service: its routes, the consumer of intake's and routing's events, and the scheduler."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from services.feedback import api, page
from services.feedback.config import FeedbackSettings
from services.feedback.handlers import Links
from services.feedback.handlers.events import dispatch_table, handle
from services.feedback.handlers.settings import SettingsCache
from services.feedback.repository import retention as retention_repo
from services.feedback.scheduler import Scheduler
from services.feedback.state import Feedback
from shared.app import create_app as create_service_app
from shared.clock import Clock
from shared.db import Conn
from shared.events import INTAKE_CONTACTS, ROUTING_WORK
from shared.faults import Backoff
from shared.housekeeping import Chore, audit_chore
from shared.kafka import Delivery
from shared.metrics import CountOf
from shared.service import ConsumerSpec, Runtime, ServiceSpec
from shared.tx import Tx

MIGRATIONS = Path(__file__).parent / "migrations"


def links(settings: FeedbackSettings) -> Links:
    return Links(base_url=settings.page_base_url(), secret=settings.link_secret())


def _state(runtime: Runtime[FeedbackSettings]) -> Feedback:
    settings = runtime.settings
    cache = SettingsCache()
    scheduler = Scheduler(
        runtime.pool,
        runtime.clock,
        links(settings),
        interval_s=settings.scheduler_interval_s,
        batch=settings.scheduler_batch,
        settings=cache,
        backoff=Backoff(settings.retry_initial_s, settings.retry_max_s),
    )
    runtime.registry.register(
        CountOf(
            "switchboard_feedback_invitations",
            "Due invitations this instance's scheduler handled, by outcome (sent, deferred, skipped, expired)",
            lambda: scheduler.outcomes,
        )
    )
    return Feedback(
        settings=settings,
        pool=runtime.pool,
        producer=runtime.producer,
        clock=runtime.clock,
        tasks=runtime.tasks,
        settings_cache=cache,
        scheduler=scheduler,
        links=scheduler.links,
    )


def consumers(feedback: Feedback) -> list[ConsumerSpec]:
    if not feedback.settings.consume_events:
        return []
    clock = feedback.clock
    table = dispatch_table()

    async def on_event(conn: Conn, delivery: Delivery) -> None:
        await handle(Tx(conn=conn, now=clock.now()), delivery.decoded.event, table=table)

    # A poll in one transaction: every effect is in the database, and the survey scheduler skips rows a
    # handler holds instead of waiting for them. Only the types in the table: the rest are skipped before the
    # inbox claims them.
    topics = (INTAKE_CONTACTS.name, ROUTING_WORK.name)
    return [ConsumerSpec("feedback", topics, on_event, batch=True, accepts=frozenset(table))]


async def on_start(feedback: Feedback) -> None:
    await asyncio.to_thread(page.load_catalogs)
    scheduler = feedback.scheduler
    feedback.tasks.start("survey-scheduler", scheduler.run, stop=scheduler.stop, trouble=scheduler.trouble)


def _retention(runtime: Runtime[FeedbackSettings]) -> Sequence[Chore]:
    """Stored recipients (where an invitation went) once the invitation is over and `recipient_retention_days`
    have passed; a contact's addresses after `content_retention_days`; the audit after six years."""
    settings = runtime.settings
    return [
        Chore(
            "survey recipients", timedelta(days=settings.recipient_retention_days), retention_repo.erase_recipients
        ),
        Chore(
            "contact addresses", timedelta(days=settings.content_retention_days), retention_repo.erase_addresses
        ),
        audit_chore(settings.audit_retention_days),
    ]


def spec() -> ServiceSpec[FeedbackSettings, Feedback]:
    return ServiceSpec(
        name="feedback",
        state=_state,
        chores=_retention,
        migrations=MIGRATIONS,
        routers=[api.router, page.router],
        consumers=consumers,
        on_start=on_start,
        title="Switchboard feedback",
    )


def create_app(settings: FeedbackSettings, *, clock: Clock | None = None) -> FastAPI:
    return create_service_app(spec(), settings, clock=clock)
