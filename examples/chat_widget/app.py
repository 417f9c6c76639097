"""A chat widget backend for Switchboard, small enough to copy: the widget posts the visitor's messages here and
we hand them to intake with our adapter key; intake sends the agents' replies back as signed webhooks, which we
verify, keep once per webhook-id, show in the session, and confirm with a delivery receipt.

Everything is in memory to keep the example short. A real adapter keeps the sessions and the handled
webhook-ids in its own database, so that a restart neither loses a reply nor shows one twice."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import BackgroundTasks, FastAPI, HTTPException, Request, Response
from pydantic import BaseModel, Field

log = logging.getLogger("chat_widget")

REQUESTED = "switchboard.outbound.message.requested.v1"
TOLERANCE_S = 300
"""Webhooks signed longer ago (or further ahead) than this are refused: a replayed capture is worthless."""


@dataclass(frozen=True)
class Config:
    intake_url: str
    """Switchboard intake's base URL, e.g. https://switchboard.example.com/intake."""
    adapter_key: str
    """`switchboard keys create --name chat-widget --channels chat`."""
    webhook_secrets: tuple[str, ...]
    """The endpoint's `whsec_…` secret; during a rotation the new and the old one."""
    platform: str = "widget"


def verify_webhook(secrets: tuple[str, ...], headers: Any, body: bytes, *, now: float | None = None) -> bool:
    """Standard Webhooks: HMAC-SHA256 over `id.timestamp.body`, keyed with the base64-decoded secret."""
    try:
        msg_id, timestamp = headers["webhook-id"], int(headers["webhook-timestamp"])
        signatures = headers["webhook-signature"].split()
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > TOLERANCE_S:
        return False
    signed = f"{msg_id}.{timestamp}.".encode() + body
    for secret in secrets:
        key = base64.b64decode(secret.removeprefix("whsec_"))
        expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        if any(hmac.compare_digest(expected, candidate) for candidate in signatures):
            return True
    return False


@dataclass
class Line:
    sender: str
    """`visitor` or `agent`."""
    text: str
    at: str


@dataclass
class State:
    sessions: dict[str, list[Line]] = field(default_factory=dict)
    handled: set[str] = field(default_factory=set)
    """webhook-ids already shown: a retry or a replay sends the same id again."""
    receipts: dict[str, int] = field(default_factory=dict)
    """message id → intake's answer to our receipt (for people debugging the adapter, and the test)."""


class VisitorMessage(BaseModel):
    message_id: str = Field(min_length=1, max_length=100, description="the widget's id: a retry sends it again")
    text: str = Field(min_length=1, max_length=10_000)
    visitor_id: str | None = Field(default=None, max_length=100)


def create_app(config: Config, client: httpx.AsyncClient | None = None) -> FastAPI:
    app = FastAPI(title="Switchboard example chat widget adapter")
    state = State()
    app.state.widget = state
    http = client or httpx.AsyncClient(timeout=10)
    auth = {"Authorization": f"Bearer {config.adapter_key}"}

    @app.post("/chat/{session_id}/messages", status_code=202)
    async def visitor_says(session_id: str, body: VisitorMessage) -> dict[str, Any]:
        sent_at = datetime.now(UTC).isoformat()
        payload = {
            "session_id": session_id, "message_id": body.message_id, "platform": config.platform,
            "visitor": {"id": body.visitor_id or session_id}, "text": body.text, "sent_at": sent_at,
        }  # fmt: skip
        answer = await http.post(f"{config.intake_url}/v1/channels/chat", json=payload, headers=auth)
        if answer.status_code != 202:  # intake's problem+json names the field; the widget retries 5xx
            raise HTTPException(502 if answer.status_code >= 500 else 400, answer.json().get("detail"))
        state.sessions.setdefault(session_id, []).append(Line("visitor", body.text, sent_at))
        result: dict[str, Any] = answer.json()
        return result

    @app.get("/chat/{session_id}/messages")
    async def transcript(session_id: str) -> list[dict[str, str]]:
        return [vars(line) for line in state.sessions.get(session_id, [])]

    @app.post("/switchboard/webhooks", status_code=204)
    async def webhook(request: Request, later: BackgroundTasks) -> Response:
        body = await request.body()
        if not verify_webhook(config.webhook_secrets, request.headers, body):
            raise HTTPException(401, "bad signature")
        msg_id = request.headers["webhook-id"]
        if msg_id in state.handled:
            return Response(status_code=204)  # seen already: answer 2xx so it is not sent again
        envelope = json.loads(body)
        data = envelope.get("data", {})
        if envelope.get("type") != REQUESTED or data.get("channel") != "chat":
            return Response(status_code=204)  # not for a chat widget: nothing to show
        at = datetime.now(UTC).isoformat()
        state.sessions.setdefault(data["recipient"], []).append(Line("agent", data.get("text") or "", at))
        state.handled.add(msg_id)
        later.add_task(report, data["message_id"], "delivered", at)
        return Response(status_code=204)

    async def report(message_id: str, status: str, at: str) -> None:
        """The delivery receipt, retried a few times: intake answers 404 for a message it has not learnt yet."""
        receipt = {"message_id": message_id, "status": status, "at": at}
        for wait in (0.5, 1, 2, 4, 8):
            try:
                answer = await http.post(f"{config.intake_url}/v1/outbound/receipts", json=receipt, headers=auth)
            except httpx.HTTPError as exc:
                log.warning("receipt for %s not sent (%s)", message_id, type(exc).__name__)
            else:
                state.receipts[message_id] = answer.status_code
                if answer.status_code < 500 and answer.status_code != 404:
                    return
            await asyncio.sleep(wait)

    return app
