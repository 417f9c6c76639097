"""The feedback service running in-process against the session's real broker and database."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from services.feedback.app import create_app
from services.feedback.config import FeedbackSettings
from services.feedback.handlers import Links, on_contact_received, on_work_resolved
from services.feedback.scheduler import fire_due
from services.feedback.state import Feedback as FeedbackService
from shared.app import running
from shared.auth import generate_api_key, insert_api_key, issue_token
from shared.clock import ManualClock, utcnow
from shared.events import FEEDBACK_EVENTS, OUTBOUND_MESSAGES, ContactReceivedV1, Event, WorkResolvedV1, encode
from shared.kafka import Producer
from shared.service import service_state
from shared.tx import Tx
from tests.support import TOKEN_SECRET, TestStack, read_topic, service_settings, wait_until
from tests.unit.feedback.builders import T0, make_contact_received, make_work_resolved

BASE_URL = "http://feedback.test"


@dataclass
class Feedback:
    """A running feedback service and the handles a test drives it with."""

    app: FastAPI
    clock: ManualClock
    producer: Producer
    bootstrap: str
    adapter_key: str

    @property
    def pool(self) -> asyncpg.Pool:
        pool: asyncpg.Pool = self.app.state.pool
        return pool

    @property
    def state(self) -> FeedbackService:
        return service_state(self.app, FeedbackService)

    @property
    def links(self) -> Links:
        return self.state.links

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=BASE_URL)

    def token(self, role: str, subject: str | None = None) -> dict[str, str]:
        token = issue_token(
            TOKEN_SECRET,
            role=role,  # type: ignore[arg-type]
            subject=subject or f"{role}-1",
            ttl=timedelta(hours=1),
            now=utcnow(),
        )
        return {"Authorization": f"Bearer {token}"}

    @property
    def adapter(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.adapter_key}"}

    async def publish(self, event: Event, *, source: str) -> None:
        """Put an event on its real topic, as intake or routing would."""
        subject = str(getattr(event, "contact_id", uuid.uuid4()))
        message = encode(event, source=source, subject=subject, time=self.clock.now())
        await self.producer.send_raw(message.topic, key=message.key, value=message.value, headers=message.headers)

    async def events_on(self, topic: str, contact_id: uuid.UUID) -> list[dict[str, Any]]:
        records = await read_topic(self.bootstrap, topic)
        envelopes = [json.loads(value) for _, value in records]
        return [e for e in envelopes if e["subject"] == str(contact_id)]

    async def wait_for_event(
        self, topic: str, contact_id: uuid.UUID, type_: str, *, count: int = 1
    ) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []

        async def arrived() -> bool:
            nonlocal found
            found = [e for e in await self.events_on(topic, contact_id) if e["type"] == type_]
            return len(found) >= count

        try:
            await wait_until(arrived, timeout_s=60, interval_s=0.3)
        except TimeoutError as exc:
            raise TimeoutError(f"{type_} for {contact_id} never reached {topic}") from exc
        return found

    async def outbound(self, contact_id: uuid.UUID, *, count: int = 1) -> list[dict[str, Any]]:
        return await self.wait_for_event(
            OUTBOUND_MESSAGES.name, contact_id, "switchboard.outbound.message.requested.v1", count=count
        )

    async def feedback_events(self, contact_id: uuid.UUID, type_: str, *, count: int = 1) -> list[dict[str, Any]]:
        return await self.wait_for_event(FEEDBACK_EVENTS.name, contact_id, type_, count=count)

    async def wait_for_invitation(self, contact_id: uuid.UUID, predicate: Callable[[str], bool]) -> str:
        status = ""

        async def stored() -> bool:
            nonlocal status
            status = (
                await self.pool.fetchval("SELECT status FROM invitation WHERE contact_id = $1", contact_id) or ""
            )
            return predicate(status)

        try:
            await wait_until(stored, timeout_s=60, interval_s=0.1)
        except TimeoutError as exc:
            stats = [(c.name, c.stats) for c in self.app.state.runtime.consumers]
            raise TimeoutError(f"invitation of {contact_id} stuck at {status!r}; consumers {stats}") from exc
        return status


def feedback_settings(test_stack: TestStack, database_url: str, **overrides: Any) -> FeedbackSettings:
    base = service_settings(test_stack, database_url.rsplit("/", 1)[1], service="feedback").model_dump()
    base.update({"public_base_url": BASE_URL, "scheduler_interval_s": 3600.0, **overrides})
    return FeedbackSettings.model_validate(base)


@contextlib.asynccontextmanager
async def started(settings: FeedbackSettings, clock: ManualClock, producer: Producer) -> AsyncIterator[Feedback]:
    """One lifetime of the service process (tests stop and start it again on the same database)."""
    async with running(create_app(settings, clock=clock)) as app:
        await wait_until(lambda: app.state.runtime.producer_ready.is_set(), timeout_s=30)
        # The first consumer group of a fresh broker waits for __consumer_offsets to be created: slow on a
        # busy machine, so wait for the assignment once here rather than in every event wait.
        await wait_until(lambda: all(c.assigned.is_set() for c in app.state.runtime.consumers), timeout_s=180)
        key = generate_api_key()
        async with app.state.pool.acquire() as conn:
            await insert_api_key(conn, key=key, name="sms-gateway", channels=["sms", "chat"], now=T0)
        yield Feedback(app, clock, producer, settings.kafka_bootstrap, key.key)


@pytest.fixture
def database_service() -> str:
    return "feedback"


@pytest.fixture
async def producer(test_stack: TestStack, service_database: str) -> AsyncIterator[Producer]:
    """Stands in for intake and routing: puts their events on the real topics."""
    producer = Producer(feedback_settings(test_stack, service_database))
    await producer.start()
    yield producer
    await producer.stop()


@pytest.fixture
async def feedback(test_stack: TestStack, service_database: str, producer: Producer) -> AsyncIterator[Feedback]:
    """The service on a fresh database, not consuming (tests call its handlers directly); its scheduler
    sleeps, so tests fire it with `fire_due(now=…)`."""
    settings = feedback_settings(test_stack, service_database, consume_events=False)
    async with started(settings, ManualClock(T0), producer) as service:
        yield service


@pytest.fixture
async def live_feedback(
    test_stack: TestStack, service_database: str, producer: Producer
) -> AsyncIterator[Feedback]:
    """The service consuming intake.contacts and routing.work from the real broker, as it runs in the stack."""
    async with started(feedback_settings(test_stack, service_database), ManualClock(T0), producer) as service:
        yield service


async def resolve(feedback: Feedback, contact: ContactReceivedV1, resolved: WorkResolvedV1) -> None:
    """Run the consumer's handlers for a contact and its resolution directly (no broker round trip)."""
    async with feedback.pool.acquire() as conn, conn.transaction():
        tx = Tx(conn=conn, now=feedback.clock.now())
        await on_contact_received(tx, contact)
        await on_work_resolved(tx, resolved)


async def sent_invitation(feedback: Feedback, **contact_overrides: Any) -> tuple[ContactReceivedV1, str]:
    """A contact resolved and its invitation sent; returns the contact and the survey page's path."""
    contact = make_contact_received(**contact_overrides)
    await resolve(feedback, contact, make_work_resolved(contact, resolved_at=feedback.clock.now()))
    outcome = await fire_due(feedback.pool, now=feedback.clock.now() + timedelta(hours=1), links=feedback.links)
    assert outcome["sent"] == 1, outcome
    row = await feedback.pool.fetchrow(
        "SELECT invitation_id, expires_at FROM invitation WHERE contact_id = $1", contact.contact_id
    )
    assert row is not None
    return contact, urlsplit(feedback.links.url(row["invitation_id"], row["expires_at"])).path
