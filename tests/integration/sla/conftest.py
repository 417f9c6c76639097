"""The SLA service in-process against the real test broker and database, with its own topics per test."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.sla.app import create_app
from services.sla.config import SlaSettings
from services.sla.scheduler import Scheduler
from services.sla.state import Sla as SlaService
from shared.app import Runtime, running
from shared.auth import issue_token
from shared.clock import utcnow
from shared.events import (
    SLA_EVENTS,
    ContactReceivedV1,
    CustomerRef,
    Event,
    WorkAssignedV1,
    encode,
)
from shared.kafka import Producer
from shared.outbox import backlog
from shared.service import service_state
from tests.conftest import fresh_database
from tests.support import TOKEN_SECRET, TestStack, new_topic, read_topic, service_settings, wait_until


async def sla_settings(test_stack: TestStack, database_url: str, **overrides: object) -> SlaSettings:
    base = service_settings(test_stack, database_url.rsplit("/", 1)[1], service="sla").model_dump()
    values: dict[str, object] = {
        **base,
        "sla_contacts_topic": await new_topic(test_stack.kafka_bootstrap, prefix="sla-test.contacts"),
        "sla_work_topic": await new_topic(test_stack.kafka_bootstrap, prefix="sla-test.work"),
        "sla_feedback_topic": await new_topic(test_stack.kafka_bootstrap, prefix="sla-test.feedback"),
        "sla_scheduler": False,
    }
    values.update(overrides)
    return SlaSettings.model_validate(values)


def token(role: str = "admin", subject: str = "admin-1") -> str:
    return issue_token(TOKEN_SECRET, role=role, subject=subject, ttl=timedelta(hours=1), now=utcnow())  # type: ignore[arg-type]


@dataclass
class Sla:
    """A running SLA app and what tests do to it: publish events, fire timers, read its API and its events."""

    app: FastAPI
    settings: SlaSettings
    producer: Producer
    client: httpx.AsyncClient
    bootstrap: str

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, app: FastAPI, settings: SlaSettings, bootstrap: str) -> AsyncIterator[Sla]:
        """Drive an app that is already running: a producer for its topics and an HTTP client for its API."""
        runtime: Runtime = app.state.runtime
        await wait_until(lambda: runtime.producer_ready.is_set(), timeout_s=30)
        producer = Producer(settings)
        await producer.start()
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sla") as client:
                yield cls(app, settings, producer, client, bootstrap)
        finally:
            await producer.stop()

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    @property
    def state(self) -> SlaService:
        return service_state(self.app, SlaService)

    @property
    def scheduler(self) -> Scheduler:
        return self.state.scheduler

    async def publish(self, event: Event, *, topic: str | None = None, at: datetime | None = None) -> uuid.UUID:
        contact_id = str(getattr(event, "contact_id"))  # noqa: B009
        message = encode(event, source="switchboard/tests", subject=contact_id, time=at or utcnow())
        target = topic or (
            self.settings.sla_work_topic
            if event.TOPIC.name == "routing.work"
            else self.settings.sla_contacts_topic
        )
        if event.TOPIC.name == "feedback.events":
            target = self.settings.sla_feedback_topic
        await self.producer.send_raw(target, key=message.key, value=message.value, headers=message.headers)
        return message.event_id

    async def contact(self, contact_id: uuid.UUID, *, role: str = "supervisor") -> dict[str, Any]:
        response = await self.client.get(
            f"/v1/sla/contacts/{contact_id}", headers={"Authorization": f"Bearer {token(role)}"}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def wait_for_contact(
        self, contact_id: uuid.UUID, predicate: Any, *, timeout_s: float = 20
    ) -> dict[str, Any]:
        """Poll the contact view until `predicate(view)` holds; return the view."""
        seen: dict[str, Any] = {}

        async def ready() -> bool:
            nonlocal seen
            response = await self.client.get(
                f"/v1/sla/contacts/{contact_id}", headers={"Authorization": f"Bearer {token('ops')}"}
            )
            if response.status_code != 200:
                return False
            seen = response.json()
            return bool(predicate(seen))

        await wait_until(ready, timeout_s=timeout_s)
        return seen

    async def fire(self, now: datetime) -> int:
        return await self.scheduler.fire_due(now=now)

    async def published(self, contact_id: uuid.UUID) -> list[dict[str, Any]]:
        """Every sla.* event about `contact_id` on the real topic, once the outbox has drained."""

        async def drained() -> bool:
            async with self.runtime.pool.acquire() as conn:
                return await backlog(conn) == 0

        await wait_until(drained, timeout_s=20)
        records = await read_topic(self.bootstrap, SLA_EVENTS.name)
        envelopes = [json.loads(value) for _, value in records]
        return [e for e in envelopes if e["subject"] == str(contact_id)]


@contextlib.asynccontextmanager
async def running_sla(test_stack: TestStack, database_url: str) -> AsyncIterator[Sla]:
    settings = await sla_settings(test_stack, database_url)
    async with running(create_app(settings)) as app:
        runtime: Runtime = app.state.runtime
        await wait_until(lambda: all(c.assigned.is_set() for c in runtime.consumers), timeout_s=30)
        async with Sla.connect(app, settings, test_stack.kafka_bootstrap) as sla:
            yield sla


@pytest.fixture
def database_service() -> str:
    return "sla"


@pytest.fixture
async def sla(test_stack: TestStack, service_database: str) -> AsyncIterator[Sla]:
    async with running_sla(test_stack, service_database) as sla:
        yield sla


@pytest.fixture(scope="module")
async def shared_sla(test_stack: TestStack, request: pytest.FixtureRequest) -> AsyncIterator[Sla]:
    """One app for a module's tests that only read, or that are refused before they write."""
    name = "t_sla_" + request.module.__name__.rsplit(".", 1)[-1][:40]
    async with running_sla(test_stack, await fresh_database(test_stack, name)) as sla:
        yield sla


def contact_received(
    *,
    contact_id: uuid.UUID | None = None,
    channel: str = "sms",
    grade: str = "basic",
    category: str = "enquiry",
    priority_class: str = "routine",
    emergency: bool = False,
    received_at: datetime | None = None,
    attributes: dict[str, str] | None = None,
) -> ContactReceivedV1:
    return ContactReceivedV1.model_validate(
        {
            "contact_id": contact_id or uuid.uuid4(),
            "message_id": uuid.uuid4(),
            "channel": channel,
            "customer": CustomerRef(customer_id=uuid.uuid4(), grade=grade, attributes=attributes or {}),
            "text": "我的账单有问题",
            "category": category,
            "priority_class": priority_class,
            "emergency": emergency,
            "received_at": received_at or utcnow(),
        }
    )


def work_assigned(contact_id: uuid.UUID, accepted_at: datetime, *, agent_id: str = "A-1") -> WorkAssignedV1:
    return WorkAssignedV1(
        work_id=uuid.uuid4(),
        contact_id=contact_id,
        agent_id=agent_id,
        first_owner_id=agent_id,
        accepted_at=accepted_at,
    )


def types_of(envelopes: list[dict[str, Any]], clock: str | None = None) -> list[str]:
    """`warning`, `breached`, `escalated:2`… in publication order (optionally for one clock)."""
    found = []
    for e in envelopes:
        if clock is not None and e["data"].get("clock") != clock:
            continue
        name = e["type"].removeprefix("switchboard.sla.").removesuffix(".v1")
        if name == "escalated":
            name += f":{e['data']['level']}"
        found.append(name)
    return found
