"""An intake app on the real test stack, adapter keys for it, and readers of what it published."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.intake.app import create_app
from services.intake.config import IntakeSettings
from services.intake.state import Intake as IntakeService
from shared.app import running
from shared.auth import generate_api_key, insert_api_key, issue_token
from shared.clock import Clock, utcnow
from shared.events import INTAKE_CONTACTS
from shared.outbox import backlog
from shared.service import service_state
from tests.support import TOKEN_SECRET, TestStack, read_topic, service_settings, wait_until

ALL_CHANNELS = ["email", "phone", "chat", "web", "sms", "social", "onsite"]


@dataclass
class Intake:
    app: FastAPI
    client: httpx.AsyncClient
    key: str
    """An adapter key scoped to every channel."""
    email_only_key: str
    bootstrap: str

    @property
    def state(self) -> IntakeService:
        return service_state(self.app, IntakeService)

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}"}

    def token(self, role: str, subject: str = "someone") -> dict[str, str]:
        token = issue_token(TOKEN_SECRET, role=role, subject=subject, ttl=timedelta(minutes=10), now=utcnow())  # type: ignore[arg-type]
        return {"Authorization": f"Bearer {token}"}

    async def published(self, contact_id: str) -> list[dict[str, Any]]:
        """Every event on intake.contacts about `contact_id`, in order, once the outbox is empty."""

        async def drained() -> bool:
            async with self.app.state.pool.acquire() as conn:
                return await backlog(conn) == 0

        await wait_until(drained, timeout_s=30)
        records = await read_topic(self.bootstrap, INTAKE_CONTACTS.name)
        return [json.loads(value) for _, value in records if json.loads(value)["subject"] == contact_id]


def intake_settings(stack: TestStack, database: str, **overrides: object) -> IntakeSettings:
    base = service_settings(stack, database, service="intake").model_dump()
    base["ownership_wait_s"] = 0.2  # refusals come quickly; one test waits the real way
    base.update(overrides)
    return IntakeSettings.model_validate(base)


@pytest.fixture
def database_service() -> str:
    return "intake"


@pytest.fixture
async def intake(test_stack: TestStack, service_database: str) -> AsyncIterator[Intake]:
    async with started(test_stack, service_database) as service:
        yield service


@asynccontextmanager
async def started(
    test_stack: TestStack, service_database: str, *, clock: Clock | None = None, **overrides: object
) -> AsyncIterator[Intake]:
    """Intake on a fresh database, on `clock` (the wall clock if None), with its two adapter keys; `overrides`
    are settings."""
    settings = intake_settings(test_stack, service_database.rsplit("/", 1)[1], **overrides)
    async with running(create_app(settings, clock=clock)) as app:
        await wait_until(lambda: app.state.runtime.producer_ready.is_set(), timeout_s=30)
        every = generate_api_key()
        email_only = generate_api_key()
        async with app.state.pool.acquire() as conn:
            await insert_api_key(conn, key=every, name="gateway", channels=ALL_CHANNELS, now=utcnow())
            await insert_api_key(conn, key=email_only, name="mail-only", channels=["email"], now=utcnow())
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as client:
            yield Intake(app, client, every.key, email_only.key, test_stack.kafka_bootstrap)


def unique(prefix: str = "") -> str:
    return prefix + uuid.uuid4().hex[:12]
