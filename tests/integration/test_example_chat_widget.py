"""The example chat widget adapter (`examples/chat_widget/`) against intake on the real broker and database, both
served over real HTTP: a visitor's message becomes a contact, an agent's reply comes back as a signed webhook and
shows in the session once, and the adapter's delivery receipt reaches the reply on the contact's timeline."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from deploy.config import free_port
from examples.chat_widget.app import Config, verify_webhook
from examples.chat_widget.app import create_app as create_widget
from services.intake.app import create_app as create_intake
from services.intake.domain.webhooks import sign
from shared.auth import generate_api_key, insert_api_key, issue_token
from shared.clock import utcnow
from tests.integration.intake.conftest import intake_settings
from tests.support import TOKEN_SECRET, TestStack, wait_until

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def serving_on(app: FastAPI, port: int) -> AsyncIterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    task = asyncio.create_task(server.serve())
    try:
        await wait_until(lambda: server.started or task.done(), timeout_s=60)
        if task.done():
            task.result()
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 15)


def token(role: str, subject: str) -> dict[str, str]:
    issued = issue_token(TOKEN_SECRET, role=role, subject=subject, ttl=timedelta(minutes=10), now=utcnow())  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {issued}"}


def test_the_example_verifies_what_intake_signs_and_refuses_the_rest() -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body, now = b'{"test": 2432232314}', 1614265330
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(now),
        "webhook-signature": sign(secret, "msg_1", now, body),
    }
    assert verify_webhook((secret,), headers, body, now=now)
    assert verify_webhook(("whsec_" + "A" * 44, secret), headers, body, now=now)  # during a rotation
    assert not verify_webhook((secret,), headers, body + b" ", now=now)
    assert not verify_webhook((secret,), headers, body, now=now + 301)  # too old
    assert not verify_webhook((secret,), {**headers, "webhook-timestamp": "soon"}, body, now=now)


async def test_a_chat_round_trip_through_the_example_adapter(test_stack: TestStack, empty_database: str) -> None:
    settings = intake_settings(test_stack, empty_database.rsplit("/", 1)[1])
    intake_app = create_intake(settings)
    port = free_port()
    async with serving_on(intake_app, free_port()) as intake_url, httpx.AsyncClient(base_url=intake_url) as http:
        key = generate_api_key()
        async with intake_app.state.pool.acquire() as conn:
            await insert_api_key(conn, key=key, name="chat-widget", channels=["chat"], now=utcnow())
        admin = token("admin", "root")
        hook = {
            "name": "chat-widget",
            "url": f"http://127.0.0.1:{port}/switchboard/webhooks",
            "channels": ["chat"],
        }
        endpoint = (await http.post("/v1/webhooks/endpoints", json=hook, headers=admin)).json()
        config = Config(intake_url=intake_url, adapter_key=key.key, webhook_secrets=(endpoint["secret"],))
        widget = create_widget(config)
        async with serving_on(widget, port) as widget_url, httpx.AsyncClient(base_url=widget_url) as browser:
            session = f"s-{uuid.uuid4().hex[:8]}"
            said = await browser.post(
                f"/chat/{session}/messages", json={"message_id": "m1", "text": "请问营业时间？"}
            )
            assert said.status_code == 202, said.text
            contact_id = said.json()["contact_id"]

            supervisor = token("supervisor", "S-1")
            reply = await http.post(
                f"/v1/contacts/{contact_id}/replies", json={"text": "每天 9:00–18:00"}, headers=supervisor
            )
            assert reply.status_code == 201, reply.text
            reply_id = reply.json()["reply_id"]

            async def shown() -> list[dict[str, str]]:
                lines: list[dict[str, str]] = (await browser.get(f"/chat/{session}/messages")).json()
                return lines if len(lines) == 2 else []

            await wait_until(shown, timeout_s=30)
            lines = await shown()
            assert [(line["sender"], line["text"]) for line in lines] == [
                ("visitor", "请问营业时间？"), ("agent", "每天 9:00–18:00"),
            ]  # fmt: skip

            async def receipted() -> dict[str, Any] | None:
                timeline = await http.get(f"/v1/contacts/{contact_id}/timeline", headers=supervisor)
                entries = timeline.json()["entries"]
                replies = [e["detail"] for e in entries if e["detail"].get("reply_id") == reply_id]
                return replies[0] if replies and replies[0]["delivery"] == "delivered" else None

            await wait_until(receipted, timeout_s=30)
            assert widget.state.widget.receipts == {reply_id: 202}
            deliveries = await http.get("/v1/webhooks/deliveries", params={"message_id": reply_id}, headers=admin)
            assert [(d["state"], d["attempts"]) for d in deliveries.json()] == [("succeeded", 1)]
