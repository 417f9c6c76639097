"""One contact through the whole stack, driven like its users: a chat adapter posts to intake, an agent's desktop
(a real WebSocket client) gets the offer and accepts, the agent resolves, the customer answers the inline survey
with a low score, and the contact comes back as follow-up work for a supervisor — with every step on Kafka."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from deploy.stack import Stack
from deploy.traces import fetch_contact_spans
from shared.events import FEEDBACK_EVENTS, INTAKE_CONTACTS, OUTBOUND_MESSAGES, ROUTING_WORK, SLA_EVENTS
from tests.support import read_topic, wait_until

pytestmark = pytest.mark.e2e


def urls(stack: Stack) -> dict[str, str]:
    return {name: f"http://127.0.0.1:{stack.settings.service_port(name)}" for name in stack.services}


async def events_of(
    stack: Stack, topic: str, contact_id: str, *, until: set[str], timeout_s: float = 60
) -> list[str]:
    """The event types on `topic` about the contact, once every type in `until` is there."""
    types: list[str] = []

    async def arrived() -> bool:
        records = await read_topic(stack.settings.kafka_bootstrap, topic)
        types[:] = [json.loads(v)["type"] for _, v in records if json.loads(v)["subject"] == contact_id]
        return until <= set(types)

    try:
        await wait_until(arrived, timeout_s=timeout_s, interval_s=0.5)
    except TimeoutError as exc:
        raise AssertionError(f"{topic} for {contact_id}: {types}, still missing {until - set(types)}") from exc
    return types


async def next_message(ws: ClientConnection, kind: str, *, timeout_s: float = 60) -> dict[str, Any]:
    async def receive() -> dict[str, Any]:
        while True:
            message: dict[str, Any] = json.loads(await ws.recv())
            if message.get("type") == kind:
                return message

    return await asyncio.wait_for(receive(), timeout_s)


async def test_a_chat_contact_is_offered_accepted_resolved_surveyed_and_a_low_score_returns_as_follow_up(
    whole_stack: Stack,
) -> None:
    stack = whole_stack
    base = urls(stack)
    key = (await stack.create_api_key("e2e-chat-gateway", ["chat"])).key
    admin = {"Authorization": f"Bearer {stack.token('admin', 'e2e-admin')}"}
    agent_token = stack.token("agent", "A-E2E")
    agent = {"Authorization": f"Bearer {agent_token}"}
    async with httpx.AsyncClient(timeout=30) as http:
        created = await http.put(
            f"{base['routing']}/v1/agents/A-E2E",
            json={"display_name": "E2E agent", "tier": "senior", "team": "care", "languages": ["zh-Hans", "en"],
                  "skills": {"general": 4, "complaints": 4}},
            headers=admin,
        )  # fmt: skip
        assert created.status_code in (200, 201), created.text

        ws_url = base["routing"].replace("http://", "ws://") + "/v1/desktop/ws"
        async with connect(ws_url, additional_headers=agent, open_timeout=30) as ws:
            await next_message(ws, "hello")
            await ws.send(json.dumps({"type": "presence", "presence": "available", "ref": "p"}))
            await next_message(ws, "presence_set")

            posted = await http.post(
                f"{base['intake']}/v1/channels/chat",
                json={"session_id": f"s-{uuid.uuid4().hex[:8]}", "message_id": "m1", "platform": "web",
                      "visitor": {"id": "v-e2e", "name": "王芳"}, "text": "请问信用卡的年费怎么收取？"},
                headers={"Authorization": f"Bearer {key}"},
            )  # fmt: skip
            assert posted.status_code == 202, posted.text
            contact_id = posted.json()["contact_id"]

            offer = await next_message(ws, "offer")
            assert offer["contact"]["contact_id"] == contact_id
            await ws.send(json.dumps({"type": "accept", "offer_id": offer["offer_id"], "ref": "a"}))
            assigned = await next_message(ws, "assigned")
            work_id = assigned["work"]["work_id"]
            assert assigned["contact"]["text"] == "请问信用卡的年费怎么收取？", "the owner sees the message"

        for step, body in (
            ("start", {}),
            ("solution", {"note": "年费规则已说明"}),
            ("resolve", {"resolution_code": "answered", "final_note": "已解答", "fcr": True,
                         "send_end_notice": True}),
        ):  # fmt: skip
            done = await http.post(f"{base['routing']}/v1/work/{work_id}/{step}", json=body, headers=agent)
            assert done.status_code == 200, f"{step}: {done.text}"

        assert {"switchboard.contact.received.v1"} <= set(
            await events_of(stack, INTAKE_CONTACTS.name, contact_id, until={"switchboard.contact.received.v1"})
        )
        journey = {"queued", "offered", "assigned", "resolved"}
        await events_of(stack, ROUTING_WORK.name, contact_id, until={f"switchboard.work.{t}.v1" for t in journey})

        invitation: dict[str, Any] = {}

        async def invited() -> bool:
            for _, value in await read_topic(stack.settings.kafka_bootstrap, OUTBOUND_MESSAGES.name):
                event = json.loads(value)
                if event["subject"] == contact_id and event["data"]["template"] == "survey.invitation.chat":
                    invitation.update(event["data"])
                    return True
            return False

        await wait_until(invited, timeout_s=60, interval_s=0.5)
        answered = await http.post(
            f"{base['feedback']}/v1/surveys/responses",
            json={"invitation_id": invitation["variables"]["invitation_id"],
                  "answers": {"csat": 1, "solved": False, "comment": "没有解决"}},
            headers={"Authorization": f"Bearer {key}"},
        )  # fmt: skip
        assert answered.status_code == 201, answered.text

        await events_of(
            stack,
            FEEDBACK_EVENTS.name,
            contact_id,
            until={"switchboard.feedback.followup_required.v1", "switchboard.feedback.not_solved.v1"},
        )
        # Not solved reopens the contact; the low score becomes follow-up (回访) work waiting for a supervisor.
        await events_of(stack, ROUTING_WORK.name, contact_id, until={"switchboard.work.reopened.v1"})
        supervisor = {"Authorization": f"Bearer {stack.token('supervisor', 'S-E2E')}"}
        follow_up: list[dict[str, Any]] = []

        async def queued_for_a_supervisor() -> bool:
            queue = (await http.get(f"{base['routing']}/v1/supervisor/queue", headers=supervisor)).json()
            items = [*queue.get("top", []), *queue.get("supervisor_queue", [])]
            follow_up[:] = [w for w in items if w.get("contact_id") == contact_id and w.get("kind") == "followup"]
            return bool(follow_up)

        await wait_until(queued_for_a_supervisor, timeout_s=60, interval_s=0.5)
        assert follow_up[0]["channel"] == "phone"

        # SLA: the clocks started on receipt; accepting a chat is its first response, met in time.
        await events_of(
            stack, SLA_EVENTS.name, contact_id,
            until={"switchboard.sla.clock_started.v1", "switchboard.sla.met.v1"},
        )  # fmt: skip
        clocks = (await http.get(f"{base['sla']}/v1/sla/contacts/{contact_id}", headers=supervisor)).json()
        first_response = next(c for c in clocks["clocks"] if c["clock"] == "first_response")
        assert first_response["state"] == "met", first_response
        assert clocks["channel"] == "chat"

        # Operators see it in the services' metrics.
        routing_metrics = (await http.get(f"{base['routing']}/metrics")).text
        assert 'switchboard_routing_wait_seconds_count{channel="chat",grade="' in routing_metrics
        assert 'switchboard_routing_handle_seconds_count{channel="chat",grade="' in routing_metrics
        assert 'switchboard_events_published_total{type="switchboard.work.offered.v1"}' in routing_metrics
        assert "switchboard_routing_queue_depth" in routing_metrics
        sla_metrics = (await http.get(f"{base['sla']}/metrics")).text
        assert 'switchboard_events_published_total{type="switchboard.sla.met.v1"}' in sla_metrics

    # Ops follow the contact in one trace: the adapter's post, every service's part, the agent's clicks.
    services: dict[str, set[str]] = {}
    queried: dict[str, set[str]] = {}

    async def traced() -> bool:
        spans = await fetch_contact_spans(stack.zipkin.url, contact_id)
        services.clear()
        queried.clear()
        for span in spans:
            name = span.get("localEndpoint", {}).get("serviceName", "")
            services.setdefault(span["traceId"], set()).add(name)
            if span.get("tags", {}).get("db.system.name") == "postgresql":
                queried.setdefault(span["traceId"], set()).add(name)
        # Every service's part holds its own database queries (CLIENT spans), in the same trace.
        return any(len(names & FIVE) == 5 and queried.get(t, set()) >= FIVE for t, names in services.items())

    try:
        await wait_until(traced, timeout_s=60, interval_s=1)
    except TimeoutError as exc:
        raise AssertionError(
            f"no trace of {contact_id} holds all five services: {services}; db: {queried}"
        ) from exc


FIVE = {"intake", "routing", "sla", "feedback", "knowledge"}
