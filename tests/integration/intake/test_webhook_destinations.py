"""Where webhook deliveries may go, on the real service, database and a real HTTP receiver: outside the local stack
an endpoint must be https and its host must not be or resolve to one of our own addresses (unless the operator
allowed that network); registration says why it refuses, and every delivery checks again and connects to the
address it checked (a name that starts resolving somewhere private is not followed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from services.intake.domain.destinations import DestinationPolicy
from tests.integration.intake.conftest import Intake, started, unique
from tests.integration.intake.receiver import receiving
from tests.integration.intake.test_webhooks import chat_reply, register, wait_for_state
from tests.support import TestStack

pytestmark = pytest.mark.integration


@pytest.fixture
async def guarded(test_stack: TestStack, service_database: str) -> AsyncIterator[Intake]:
    """Intake as outside the local stack: https only, public addresses only."""
    async with started(test_stack, service_database, webhook_https_only=True, webhook_public_only=True) as service:
        yield service


@pytest.fixture
async def inside(test_stack: TestStack, service_database: str) -> AsyncIterator[Intake]:
    """Public addresses only, but the loopback network allowed (receivers inside the operator's own network)."""
    async with started(
        test_stack, service_database, webhook_public_only=True, webhook_allowed_networks=["127.0.0.0/8"]
    ) as service:
        yield service


REFUSED = [
    ("http://hooks.example.com/in", "must use https"),
    ("https://127.0.0.1/in", "127.0.0.1, which is not a public address (loopback)"),
    ("https://localhost:8443/in", "localhost is or resolves to 127.0.0.1"),
    ("https://169.254.169.254/latest/meta-data", "(link-local)"),
    ("https://[::ffff:10.0.0.7]/in", "10.0.0.7, which is not a public address (private)"),
    ("https://[::1]/in", "(loopback)"),
    ("https://100.64.1.1/in", "not a public address"),
    ("https://ops:secret@hooks.example.com/in", "must not carry a user name or password"),
]


async def test_registration_refuses_what_deliveries_may_not_reach_and_says_why(guarded: Intake) -> None:
    admin = guarded.token("admin", "root")
    for url, why in REFUSED:
        body = {"name": unique("hook-"), "url": url, "channels": ["chat"]}
        answer = await guarded.client.post("/v1/webhooks/endpoints", json=body, headers=admin)
        assert answer.status_code == 422, (url, answer.text)
        problem = answer.json()
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert problem["detail"].startswith("url: ") and why in problem["detail"], (url, problem)
    listed = await guarded.client.get("/v1/webhooks/endpoints", headers=guarded.token("ops", "ops-1"))
    assert listed.json() == [], "nothing refused was stored"


async def test_an_allowed_network_is_reached_through_the_address_that_was_checked(inside: Intake) -> None:
    with receiving() as receiver:
        by_name = receiver.url.replace("127.0.0.1", "localhost")
        port = urlsplit(by_name).port
        endpoint = await register(inside, receiver, url=by_name)
        assert endpoint["url"] == by_name
        reply_id = await chat_reply(inside)
        done = await wait_for_state(inside, reply_id, "succeeded", attempts=1)
    [request] = [r for r in receiver.received if r.headers["webhook-id"] == reply_id]
    assert request.headers["host"] == f"localhost:{port}", "the receiver is told the name it was registered by"
    assert [a["status"] for a in done["history"]] == [200]


async def test_a_delivery_whose_address_is_no_longer_allowed_is_not_sent_and_says_why(inside: Intake) -> None:
    """As if the registered name now resolved into our network (DNS rebinding) or the operator narrowed the
    allowed networks: the delivery is checked again before its POST, refused, kept for its retries, and visible."""
    with receiving() as receiver:
        await register(inside, receiver, url=receiver.url.replace("127.0.0.1", "localhost"))
        inside.state.webhooks.destinations = DestinationPolicy(public_only=True)
        reply_id = await chat_reply(inside)
        refused = await wait_for_state(inside, reply_id, "pending", attempts=1)
        assert receiver.received == [], "nothing was POSTed"
    [attempt] = refused["history"]
    assert attempt["status"] is None and attempt["error"] == "DestinationRefused"
