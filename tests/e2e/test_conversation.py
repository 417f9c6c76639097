"""Answering the customer through the whole stack, as its users do: a raw MIME e-mail arrives at intake, an agent
accepts it on a real desktop socket and replies; the reply is on `outbound.messages` with the threading headers;
the customer's MIME answer threads into the same contact; SLA's first-response clock is met at the reply's time;
the timeline shows every step in order. The same for a chat session and an SMS. And a caller who hangs up before
an answer is abandoned, never offered, and counted."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from deploy.stack import Stack
from shared.events import OUTBOUND_MESSAGES
from tests.e2e.test_contact_journey import next_message, urls
from tests.support import read_topic, wait_until

pytestmark = pytest.mark.e2e


async def outbound(stack: Stack, message_id: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    async def arrived() -> bool:
        for _, value in await read_topic(stack.settings.kafka_bootstrap, OUTBOUND_MESSAGES.name):
            data = json.loads(value)["data"]
            if data["message_id"] == message_id:
                found.update(data)
                return True
        return False

    await wait_until(arrived, timeout_s=60, interval_s=0.5)
    return found


async def accept_next(ws: ClientConnection, contact_id: str) -> dict[str, Any]:
    while True:
        offer = await next_message(ws, "offer")
        if offer["work"]["contact_id"] == contact_id:
            break
    await ws.send(json.dumps({"type": "accept", "offer_id": offer["offer_id"], "ref": "a"}))
    while True:
        assigned = await next_message(ws, "assigned")
        if assigned["work"]["contact_id"] == contact_id:
            return assigned


class Desk:
    def __init__(self, stack: Stack, http: httpx.AsyncClient, agent_id: str) -> None:
        self.base = urls(stack)
        self.http = http
        self.headers = {"Authorization": f"Bearer {stack.token('agent', agent_id)}"}
        self.ops = {"Authorization": f"Bearer {stack.token('supervisor', 'e2e-lead')}"}

    async def reply(self, contact_id: str, text: str, **extra: Any) -> dict[str, Any]:
        response = await self.http.post(
            f"{self.base['intake']}/v1/contacts/{contact_id}/replies",
            json={"text": text, **extra},
            headers=self.headers,
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def timeline_kinds(self, contact_id: str, *, until: list[str]) -> list[str]:
        kinds: list[str] = []

        async def complete() -> bool:
            response = await self.http.get(
                f"{self.base['intake']}/v1/contacts/{contact_id}/timeline", headers=self.ops
            )
            kinds[:] = [e["kind"] for e in response.json()["entries"]]
            return all(k in kinds for k in until)

        await wait_until(complete, timeout_s=60, interval_s=0.5)
        return kinds

    async def clock(self, contact_id: str, name: str) -> dict[str, Any]:
        found: dict[str, Any] = {}

        async def stopped() -> bool:
            response = await self.http.get(f"{self.base['sla']}/v1/sla/contacts/{contact_id}", headers=self.ops)
            if response.status_code != 200:
                return False
            clocks = {c["clock"]: c for c in response.json()["clocks"]}
            found.update(clocks.get(name, {}))
            return found.get("state") in ("met", "missed")

        await wait_until(stopped, timeout_s=60, interval_s=0.5)
        return found


async def test_an_email_is_answered_threaded_timed_and_shown_in_order_and_so_are_a_chat_and_an_sms(
    whole_stack: Stack,
) -> None:
    stack = whole_stack
    base = urls(stack)
    adapter = {
        "Authorization": f"Bearer {(await stack.create_api_key('e2e-all', ['email', 'chat', 'sms', 'phone'])).key}"
    }
    admin = {"Authorization": f"Bearer {stack.token('admin', 'e2e-admin')}"}
    pool = f"conv-{uuid.uuid4().hex[:6]}"  # this test's own pool: other tests' desks never take its work
    customer = f"e2e-{uuid.uuid4().hex[:8]}@example.com"
    visitor = f"v-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(timeout=30) as http:
        created = await http.put(
            f"{base['routing']}/v1/agents/A-CONV",
            json={"display_name": "Conversation agent", "tier": "senior", "team": "care", "pool": pool,
                  "languages": ["zh-Hans", "en"], "skills": {"general": 4, "complaints": 4, "technical": 4}},
            headers=admin,
        )  # fmt: skip
        assert created.status_code in (200, 201), created.text
        known = await http.post(
            f"{base['intake']}/v1/customers",
            json={"name": "陈先生", "attributes": {"routing_pool": pool}, "emails": [customer],
                  "phones": ["+86 139 0013 8123"], "chat_ids": [f"web:{visitor}"]},
            headers=admin,
        )  # fmt: skip
        assert known.status_code == 201, known.text
        desk = Desk(stack, http, "A-CONV")
        ws_url = base["routing"].replace("http://", "ws://") + "/v1/desktop/ws"
        async with connect(ws_url, additional_headers=desk.headers, open_timeout=30) as ws:
            await next_message(ws, "hello")
            await ws.send(json.dumps({"type": "presence", "presence": "available", "ref": "p"}))
            await next_message(ws, "presence_set")

            # E-mail: the raw message, the reply with its threading headers, the customer's answer threading back.
            first_id = f"<{uuid.uuid4().hex}@mail.example.com>"
            mime = (
                f"From: Customer <{customer}>\r\nTo: support@example.com\r\nSubject: 账单有疑问\r\n"
                f"Message-ID: {first_id}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                "本月账单比上月多了三十元，请帮我查一下原因。"
            ).encode()
            posted = await http.post(
                f"{base['intake']}/v1/channels/email",
                content=mime,
                headers={**adapter, "Content-Type": "message/rfc822"},
            )
            assert posted.status_code == 202, posted.text
            contact_id = posted.json()["contact_id"]
            await accept_next(ws, contact_id)
            reply = await desk.reply(
                contact_id, "您好，多出的三十元是本月的国际漫游费，明细见附件。", solution=True
            )
            request = await outbound(stack, reply["reply_id"])
            assert (request["kind"], request["channel"], request["recipient"]) == ("reply", "email", customer)
            assert request["subject"] == "Re: 账单有疑问"
            assert request["headers"]["In-Reply-To"] == first_id
            assert request["headers"]["Message-ID"] == f"<{reply['reply_id']}@switchboard.invalid>"
            ours = request["headers"]["Message-ID"]
            answer = (
                f"From: Customer <{customer}>\r\nTo: support@example.com\r\nSubject: Re: 账单有疑问\r\n"
                f"Message-ID: <{uuid.uuid4().hex}@mail.example.com>\r\nIn-Reply-To: {ours}"
                f"\r\nReferences: {first_id} {ours}\r\nMIME-Version: 1.0\r\n"
                "Content-Type: text/plain; charset=utf-8\r\n\r\n明白了，谢谢。"
            ).encode()
            threaded = await http.post(
                f"{base['intake']}/v1/channels/email", content=answer,
                headers={**adapter, "Content-Type": "message/rfc822"},
            )  # fmt: skip
            assert (threaded.json()["contact_id"], threaded.json()["outcome"]) == (contact_id, "threaded")
            first_response = await desk.clock(contact_id, "first_response")
            assert first_response["state"] == "met"
            assert datetime.fromisoformat(first_response["since"]) == datetime.fromisoformat(
                reply["created_at"]
            )  # met at the reply's time: e-mail's first response is the first reply
            kinds = await desk.timeline_kinds(
                contact_id, until=["customer_message", "accepted", "agent_reply", "sla_met"]
            )
            order = [k for k in kinds if k in ("customer_message", "queued", "offered", "accepted", "agent_reply")]
            assert order == [
                "customer_message",
                "queued",
                "offered",
                "accepted",
                "agent_reply",
                "customer_message",
            ]

            # Chat: the reply goes to the session.
            session = f"s-{uuid.uuid4().hex[:10]}"
            chat = await http.post(
                f"{base['intake']}/v1/channels/chat",
                json={
                    "session_id": session,
                    "message_id": "1",
                    "text": "在吗？路由器一直闪红灯",
                    "platform": "web",
                    "visitor": {"id": visitor},
                },
                headers=adapter,
            )
            chat_id = chat.json()["contact_id"]
            await accept_next(ws, chat_id)
            chat_reply = await desk.reply(chat_id, "在的，请拔掉电源十秒后重启。")
            assert (await outbound(stack, chat_reply["reply_id"]))["recipient"] == session
            await desk.timeline_kinds(chat_id, until=["customer_message", "accepted", "agent_reply"])

            # SMS: back to the number.
            sms = await http.post(
                f"{base['intake']}/v1/channels/sms",
                json={"sender": {"phone": "+86 139 0013 8123"}, "text": "宽带还是不通，怎么办"},
                headers=adapter,
            )
            sms_id = sms.json()["contact_id"]
            await accept_next(ws, sms_id)
            texted = await desk.reply(sms_id, "已为您派单，师傅两小时内联系您。")
            assert (await outbound(stack, texted["reply_id"]))["recipient"] == "+8613900138123"
            await desk.timeline_kinds(sms_id, until=["customer_message", "accepted", "agent_reply"])

            # A caller who hangs up while nobody is free: abandoned, never offered, counted.
            await ws.send(json.dumps({"type": "presence", "presence": "away", "ref": "brb"}))
            await next_message(ws, "presence_set")
            call = await http.post(
                f"{base['intake']}/v1/channels/phone",
                json={"call_id": f"c-{uuid.uuid4().hex[:10]}", "event": "ringing", "ani": "13900138123"},
                headers=adapter,
            )
            call_id = call.json()["contact_id"]
            left = await http.post(
                f"{base['intake']}/v1/contacts/{call_id}/abandoned", json={"reason": "hung_up"}, headers=adapter
            )
            assert left.status_code == 202
            kinds = await desk.timeline_kinds(call_id, until=["abandoned"])
            assert "offered" not in kinds
            await ws.send(json.dumps({"type": "presence", "presence": "available", "ref": "back"}))
            await next_message(ws, "presence_set")
            figures = await http.get(
                f"{base['routing']}/v1/figures/queue",
                params={"from": datetime.fromisoformat(reply["created_at"]).replace(microsecond=0).isoformat()},
                headers=admin,
            )
            phone = [f for f in figures.json() if f["channel"] == "phone"]
            assert sum(f["abandoned"] for f in phone) >= 1
