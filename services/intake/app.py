"""Wires the intake service: its routes, the routing-work consumer that tracks whether contacts are still open,
and the dependencies the routes share."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from fastapi import FastAPI
from prometheus_client import Counter, Histogram

from services.intake.api import canned, channels, classification, contacts, conversation, customers, tracked
from services.intake.api import settings as settings_api
from services.intake.api import webhooks as webhooks_api
from services.intake.config import IntakeSettings
from services.intake.domain.destinations import DestinationPolicy
from services.intake.domain.sealing import Sealer, parse_key
from services.intake.handlers.commit import GroupCommit
from services.intake.handlers.common import Tx
from services.intake.handlers.events import Dispatch, dispatch, dispatch_table
from services.intake.handlers.intake import Accepting
from services.intake.handlers.rules import RulesCache
from services.intake.handlers.settings import ThreadPolicyCache
from services.intake.indexer import SearchIndexer
from services.intake.repository.contacts import purge_idempotency_keys
from services.intake.repository.conversation import erase_content
from services.intake.repository.webhooks import purge_finished
from services.intake.state import Intake
from services.intake.webhooks import WebhookSender
from shared.app import create_app as create_service_app
from shared.clock import Clock
from shared.db import Conn
from shared.events import FEEDBACK_EVENTS, OUTBOUND_MESSAGES, ROUTING_WORK, SLA_EVENTS, Event
from shared.faults import Backoff
from shared.housekeeping import Chore, audit_chore
from shared.kafka import Delivery
from shared.service import ConsumerSpec, Runtime, ServiceSpec

MIGRATIONS = Path(__file__).parent / "migrations"


def _state(runtime: Runtime[IntakeSettings]) -> Intake:
    settings = runtime.settings
    threads = ThreadPolicyCache(retry_window=timedelta(seconds=settings.natural_key_window_s))
    accepting = Accepting(rules=RulesCache(), threads=threads, event_text_chars=settings.event_text_chars)
    group_sizes = Histogram(
        "switchboard_intake_group_commit_posts",
        "Single posts committed together in one transaction (group commit)",
        buckets=(1, 2, 4, 8, 16, 32, 64, 128),
        registry=runtime.registry,
    )
    commits = GroupCommit(
        runtime.pool,
        accepting,
        max_items=settings.group_commit_max_items,
        flushers=settings.group_commit_flushers,
        max_waiting=settings.group_commit_max_waiting,
        max_waiting_per_adapter=settings.group_commit_max_waiting_per_adapter,
        on_group=group_sizes.observe,
    )
    sender = WebhookSender(
        runtime.pool,
        runtime.clock,
        timeout_s=settings.webhook_timeout_s,
        batch=settings.webhook_batch,
        idle_s=settings.webhook_idle_s,
        backoff=Backoff(settings.retry_initial_s, settings.retry_max_s),
        sealer=Sealer([parse_key(k.get_secret_value()) for k in settings.webhook_secret_keys], os.urandom),
        destinations=DestinationPolicy(
            https_only=settings.webhook_https_required,
            public_only=settings.webhook_public_required,
            allowed_networks=tuple(settings.webhook_allowed_networks),
        ),
        attempts=Counter(
            "switchboard_intake_webhook_attempts",
            "Webhook delivery attempts, by the delivery's state after them (pending: to be retried)",
            ["state"],
            registry=runtime.registry,
        ),
    )
    return Intake(
        settings=settings,
        pool=runtime.pool,
        producer=runtime.producer,
        clock=runtime.clock,
        tasks=runtime.tasks,
        accepting=accepting,
        commits=commits,
        indexer=SearchIndexer(runtime.pool),
        webhooks=sender,
    )


async def _start(intake: Intake) -> None:
    indexer, sender = intake.indexer, intake.webhooks
    intake.tasks.start("intake-search-indexer", indexer.run, stop=indexer.stop)
    intake.tasks.start("intake-webhook-sender", sender.run, stop=sender.stop, trouble=sender.trouble)


def _consumers(intake: Intake) -> Sequence[ConsumerSpec]:
    tables = dispatch_table()
    clock = intake.clock

    def consumer(name: str, topics: list[str], *, batch: bool = False) -> ConsumerSpec:
        table: dict[type[Event], Dispatch] = tables[name]

        async def handle(conn: Conn, delivery: Delivery) -> None:
            await dispatch(Tx(conn=conn, now=clock.now()), table, delivery)

        # Only the types in the table: the others on its topics are skipped before the inbox claim.
        return ConsumerSpec(name, topics, handle, batch=batch, accepts=frozenset(table))

    timeline_topics = [ROUTING_WORK.name, SLA_EVENTS.name, FEEDBACK_EVENTS.name, OUTBOUND_MESSAGES.name]
    return [
        # Whether a contact is still open (resolved, closed, reopened by routing).
        consumer("intake", [ROUTING_WORK.name]),
        # The contact's timeline and owner; a poll in one transaction (every effect is in the database).
        consumer("intake.timeline", timeline_topics, batch=True),
        # Outbound messages as webhooks: a delivery row per message and endpoint, sent by `WebhookSender`.
        consumer("intake.webhooks", [OUTBOUND_MESSAGES.name]),
    ]


def _chores(runtime: Runtime[IntakeSettings]) -> Sequence[Chore]:
    """Idempotency-Keys are forgotten once no retry can need them. Natural keys (Message-ID, call and chat
    ids) live on the messages themselves and are never purged (a content key without an id or a send time
    carries its own time window). Contact content is erased after `content_retention_days` (3 years), audit
    records after `audit_retention_days` (6 years), each with a destruction record."""
    settings = runtime.settings

    async def purge(conn: Conn, cutoff: datetime) -> int:
        return await purge_idempotency_keys(conn, before=cutoff)

    async def erase(conn: Conn, cutoff: datetime) -> int:
        return await erase_content(conn, cutoff, now=runtime.clock.now())

    async def purge_webhooks(conn: Conn, cutoff: datetime) -> int:
        return await purge_finished(conn, before=cutoff)

    return [
        Chore("idempotency keys", timedelta(seconds=settings.idempotency_key_retention_s), purge, recorded=False),
        Chore("contact content", timedelta(days=settings.content_retention_days), erase),
        Chore("webhook deliveries", timedelta(days=settings.webhook_retention_days), purge_webhooks),
        audit_chore(settings.audit_retention_days),
    ]


def spec() -> ServiceSpec[IntakeSettings, Intake]:
    return ServiceSpec(
        name="intake",
        state=_state,
        migrations=MIGRATIONS,
        routers=[
            channels.router,
            contacts.router,
            conversation.router,
            canned.router,
            tracked.router,  # before customers: `/v1/customers/tracked` is no customer id
            customers.router,
            classification.router,
            settings_api.router,
            webhooks_api.router,
        ],
        consumers=_consumers,
        on_start=_start,
        chores=_chores,
        title="Switchboard intake",
    )


def create_app(settings: IntakeSettings, *, clock: Clock | None = None) -> FastAPI:
    return create_service_app(spec(), settings, clock=clock)
