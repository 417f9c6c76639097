"""A routing service running for real (uvicorn on a free port, the test stack's Kafka and PostgreSQL), and the
clients its users have: admin and supervisor over HTTP, agents over the desktop WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import uvicorn
from pydantic import SecretStr
from websockets.asyncio.client import ClientConnection, connect

from deploy.config import free_port
from services.routing.app import create_app
from services.routing.config import RoutingSettings
from services.routing.desktop_protocol import check_to_desktop
from services.routing.dispatcher.loop import Dispatcher
from services.routing.state import Routing as RoutingService
from shared.auth import Role, issue_token
from shared.clock import Clock
from shared.events import ContactReceivedV1, CustomerRef, Event, encode
from shared.kafka import Producer
from shared.service import service_state
from tests.support import TOKEN_SECRET, TestStack, wait_until


def routing_settings(stack: TestStack, database_url: str, **overrides: Any) -> RoutingSettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "kafka_bootstrap": stack.kafka_bootstrap,
        "kafka_request_timeout_ms": 5000,
        "consumer_backoff_initial_s": 0.01,
        "consumer_backoff_max_s": 0.05,
        "consumer_max_attempts": 3,
        "outbox_idle_wait_s": 0.1,
        "retry_initial_s": 0.05,
        "retry_max_s": 0.5,
        "token_secret": SecretStr(TOKEN_SECRET),
        "log_json": False,
        "lease_renew_s": 0.5,
    }
    values.update(overrides)
    return RoutingSettings.model_validate(values)


def token(role: Role, subject: str) -> str:
    return issue_token(
        TOKEN_SECRET,
        role=role,
        subject=subject,
        ttl=timedelta(hours=1),
        now=datetime.now(UTC),
    )


def bearer(role: Role, subject: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role, subject)}"}


OFF_CONTRACT: list[str] = []
"""Messages desktops received that match no type of `services.routing.desktop_protocol` (the documented
contract, docs/asyncapi.yaml); `conftest.py` fails the test that saw one."""
MADE_BY_TESTS = frozenset({"note"})
"""Kinds the feed tests write to the feed themselves: no part of the protocol."""


@dataclass
class Desktop:
    """An agent's desktop: a real WebSocket client that keeps every message it receives, each checked against
    the desktop protocol."""

    agent_id: str
    socket: ClientConnection
    received: list[dict[str, Any]] = field(default_factory=list)
    _reader: asyncio.Task[None] | None = None

    def start(self) -> None:
        async def read() -> None:
            with contextlib.suppress(Exception):
                async for raw in self.socket:
                    message = json.loads(raw)
                    try:
                        if message.get("type") not in MADE_BY_TESTS:
                            check_to_desktop(message)
                    except ValueError as exc:
                        OFF_CONTRACT.append(f"{self.agent_id}: {exc}")
                    self.received.append(message)

        self._reader = asyncio.create_task(read())

    async def send(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send and wait for the reply carrying the same `ref`."""
        ref = uuid.uuid4().hex
        await self.socket.send(json.dumps({**message, "ref": ref}))
        reply: list[dict[str, Any]] = []

        def answered() -> bool:
            reply.extend(m for m in self.received if m.get("ref") == ref)
            return bool(reply)

        await wait_until(answered, timeout_s=10)
        return reply[0]

    async def next_of(self, type_: str, /, *, timeout_s: float = 15.0, **match: Any) -> dict[str, Any]:
        found: list[dict[str, Any]] = []

        def seen() -> bool:
            found.extend(m for m in self.received if m.get("type") == type_ and _matches(m, match))
            return bool(found)

        await wait_until(seen, timeout_s=timeout_s)
        return found[0]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m.get("type") == kind]

    async def close(self) -> None:
        await self.socket.close()
        if self._reader is not None:
            await self._reader


def _matches(message: dict[str, Any], match: dict[str, Any]) -> bool:
    for dotted, expected in match.items():
        value: Any = message
        for part in dotted.split("__"):
            value = value.get(part) if isinstance(value, dict) else None
        if value != expected:
            return False
    return True


@dataclass
class Routing:
    settings: RoutingSettings
    server: uvicorn.Server
    base_url: str
    http: httpx.AsyncClient

    @property
    def app(self) -> Any:
        return self.server.config.app

    @property
    def state(self) -> RoutingService:
        return service_state(self.app, RoutingService)

    @property
    def dispatcher(self) -> Dispatcher:
        dispatcher = self.state.dispatcher
        assert dispatcher is not None, "this routing instance runs no dispatcher"
        return dispatcher

    async def put_agent(self, agent_id: str, **profile: Any) -> dict[str, Any]:
        body = {"display_name": agent_id, "tier": "front_line", "languages": ["zh"], **profile}
        response = await self.http.put(f"/v1/agents/{agent_id}", json=body, headers=bearer("admin", "admin-1"))
        assert response.status_code in (200, 201), response.text
        result: dict[str, Any] = response.json()
        return result

    async def call(
        self,
        method: str,
        path: str,
        *,
        as_: tuple[Role, str] = ("supervisor", "S-1"),
        expect: int = 200,
        **kwargs: Any,
    ) -> Any:
        response = await self.http.request(method, path, headers=bearer(*as_), **kwargs)
        assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    async def manual_work(self, pool: str, **fields: Any) -> dict[str, Any]:
        body = {"channel": "chat", "pool": pool, "language": "zh", **fields}
        created: dict[str, Any] = await self.call("POST", "/v1/work", json=body, expect=201)
        work: dict[str, Any] = created["work"]
        return work

    async def work(self, work_id: str) -> dict[str, Any]:
        found: dict[str, Any] = await self.call("GET", f"/v1/work/{work_id}")
        return found

    async def desktop(self, agent_id: str, *, after: int | None = None, available: bool = True) -> Desktop:
        url = (
            self.base_url.replace("http", "ws")
            + "/v1/desktop/ws"
            + (f"?after={after}" if after is not None else "")
        )
        socket = await connect(url, additional_headers=bearer("agent", agent_id))
        desk = Desktop(agent_id, socket)
        desk.start()
        if after is None:
            await desk.next_of("hello")
        if available:
            reply = await desk.send({"type": "presence", "presence": "available"})
            assert reply["type"] == "presence_set", reply
        return desk


@contextlib.asynccontextmanager
async def running_routing(settings: RoutingSettings, *, clock: Clock | None = None) -> AsyncIterator[Routing]:
    port = free_port()
    app = create_app(settings, clock=clock)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    task = asyncio.create_task(server.serve())
    try:
        await wait_until(lambda: server.started or task.done(), timeout_s=60)
        if task.done():
            task.result()
        await wait_until(lambda: app.state.runtime.producer_ready.is_set(), timeout_s=60)
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            routing = Routing(settings, server, base, http)
            yield routing
    finally:
        server.should_exit = True
        await task


def contact_received(pool: str, **overrides: Any) -> ContactReceivedV1:
    values: dict[str, Any] = {
        "contact_id": uuid.uuid4(),
        "message_id": uuid.uuid4(),
        "channel": "chat",
        "customer": CustomerRef(customer_id=uuid.uuid4(), grade="basic", attributes={"routing_pool": pool}),
        "subject": "账单问题",
        "text": "我的账单多扣了一笔费用，请帮我查一下。",
        "language": "zh-Hans",
        "category": "enquiry",
        "priority_class": "routine",
        "received_at": datetime.now(UTC),
    }
    values.update(overrides)
    return ContactReceivedV1(**values)


async def publish(producer: Producer, event: Event, *, subject: str, source: str = "switchboard/intake") -> None:
    message = encode(event, source=source, subject=subject, time=datetime.now(UTC))
    await producer.send_raw(message.topic, key=message.key, value=message.value, headers=message.headers)
