"""Adapters post over HTTP; contacts land in intake's database and their events on the real Kafka topic."""

from __future__ import annotations

import pytest

from tests.integration.intake.conftest import Intake, unique

pytestmark = pytest.mark.integration


def raw_email(*, message_id: str, sender: str, subject: str, body: str, in_reply_to: str | None = None) -> bytes:
    headers = [
        f"From: Zhang San <{sender}>",
        "To: support@example.com",
        f"Subject: {subject}",
        f"Message-ID: {message_id}",
        "Date: Mon, 23 Nov 2026 09:00:00 +0800",
        "MIME-Version: 1.0",
        'Content-Type: text/plain; charset="utf-8"',
        "Content-Transfer-Encoding: 8bit",
    ]
    if in_reply_to:
        headers += [f"In-Reply-To: {in_reply_to}", f"References: {in_reply_to}"]
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode("utf-8")


async def post_mime(intake: Intake, raw: bytes, *, key: str | None = None) -> dict[str, str]:
    headers = {**intake.auth(), "Content-Type": "message/rfc822"}
    if key:
        headers["Idempotency-Key"] = key
    response = await intake.client.post("/v1/channels/email", content=raw, headers=headers)
    assert response.status_code == 202, response.text
    body: dict[str, str] = response.json()
    return body


async def test_an_email_becomes_a_contact_and_a_contact_received_event_on_kafka(intake: Intake) -> None:
    sender = f"{unique('zs')}@Example.COM"
    raw = raw_email(
        message_id=f"<{unique()}@mail.example.com>",
        sender=sender,
        subject="订单一直没有发货",
        body="你好，我的订单一直没有发货，请帮我查一下。\n\n-- \n张三 13800138000\n",
    )
    accepted = await post_mime(intake, raw)
    assert accepted["outcome"] == "created"

    contact = (await intake.client.get(f"/v1/contacts/{accepted['contact_id']}", headers=intake.auth())).json()
    assert contact["channel"] == "email"
    assert contact["customer"]["grade"] == "basic"
    assert contact["language"] == "zh-Hans"
    assert contact["messages"][0]["text"] == "你好，我的订单一直没有发货，请帮我查一下。"
    assert "13800138000" in contact["messages"][0]["original"]

    events = await intake.published(accepted["contact_id"])
    assert [e["type"] for e in events] == ["switchboard.contact.received.v1"]
    data = events[0]["data"]
    assert data["message_id"] == accepted["message_id"]
    assert data["customer"]["customer_id"] == contact["customer"]["customer_id"]
    assert data["customer"]["grade"] == "basic"
    assert data["category"] == "enquiry" and data["priority_class"] == "routine"

    customer = (
        await intake.client.get(
            "/v1/customers/lookup", params={"email": sender}, headers=intake.token("supervisor")
        )
    ).json()
    masked = (
        await intake.client.get("/v1/customers/lookup", params={"email": sender}, headers=intake.token("agent"))
    ).json()
    assert masked["masked"] and all("*" in i["value"] for i in masked["identities"])  # not the agent's customer
    adapter = (
        await intake.client.get("/v1/customers/lookup", params={"email": sender}, headers=intake.auth())
    ).json()
    assert adapter == {"customer_id": customer["customer_id"], "grade": "basic"}  # whom, not the record
    identities = {(i["kind"], i["value"]) for i in customer["identities"]}
    assert ("email", sender.lower()) in identities
    assert ("phone", "+8613800138000") in identities, "the signature's phone is linked to the new customer"


async def test_a_reply_threads_into_the_open_contact_and_emits_message_added(intake: Intake) -> None:
    sender = f"{unique('li')}@example.com"
    first_id = f"<{unique()}@mail.example.com>"
    first = await post_mime(
        intake,
        raw_email(message_id=first_id, sender=sender, subject="Invoice question", body="Where is my invoice?"),
    )
    reply = await post_mime(
        intake,
        raw_email(
            message_id=f"<{unique()}@mail.example.com>",
            sender=sender,
            subject="Re: Invoice question",
            body="Any news?\n\nOn Mon, 23 Nov 2026, Support <support@example.com> wrote:\n> We are looking.\n",
            in_reply_to=first_id,
        ),
    )
    assert reply["outcome"] == "threaded"
    assert reply["contact_id"] == first["contact_id"]
    events = await intake.published(first["contact_id"])
    assert [e["type"] for e in events] == [
        "switchboard.contact.received.v1",
        "switchboard.contact.message_added.v1",
    ]
    assert events[1]["data"]["text"] == "Any news?"
    assert events[1]["data"]["message_id"] == reply["message_id"]


async def test_a_retry_with_the_same_idempotency_key_answers_duplicate_and_publishes_nothing(
    intake: Intake,
) -> None:
    key = unique("retry-")
    raw = raw_email(
        message_id=f"<{unique()}@x>", sender=f"{unique()}@example.com", subject="Hello", body="Is anyone there?"
    )
    first = await post_mime(intake, raw, key=key)
    again = await post_mime(intake, raw, key=key)
    by_message_id = await post_mime(intake, raw)
    assert first["outcome"] == "created"
    assert again == {**first, "outcome": "duplicate"}
    assert by_message_id == {**first, "outcome": "duplicate"}, "the Message-ID alone recognises the retry"
    assert len(await intake.published(first["contact_id"])) == 1


async def test_a_phone_call_becomes_a_contact_and_later_events_of_the_call_thread_into_it(intake: Intake) -> None:
    call_id = unique("call-")
    call = {
        "call_id": call_id,
        "event": "ended",
        "ani": "138 0013 8001",
        "dnis": "95555",
        "ivr_path": ["main", "complaints"],
        "ivr_selections": ["3"],
        "language": "zh-Hans",
        "started_at": "2026-11-23T09:00:00+08:00",
        "answered_at": "2026-11-23T09:00:20+08:00",
        "ended_at": "2026-11-23T09:05:00+08:00",
        "recording": "rec/2026/11/23/abc.wav",
    }
    first = await intake.client.post("/v1/channels/phone", json=call, headers=intake.auth())
    assert first.status_code == 202, first.text
    transcribed = await intake.client.post(
        "/v1/channels/phone",
        json={**call, "event": "transcribed", "transcript": "客户投诉快递员态度恶劣"},
        headers=intake.auth(),
    )
    retried = await intake.client.post("/v1/channels/phone", json=call, headers=intake.auth())
    created, threaded, duplicate = first.json(), transcribed.json(), retried.json()
    assert created["outcome"] == "created"
    assert threaded == {**threaded, "contact_id": created["contact_id"], "outcome": "threaded"}
    assert duplicate == {**created, "outcome": "duplicate"}

    events = await intake.published(created["contact_id"])
    received = events[0]["data"]
    assert events[0]["type"] == "switchboard.contact.received.v1"
    assert received["channel"] == "phone"
    assert received["category"] == "complaint", "IVR selection 3 is the complaint menu"
    assert received["reply_to"]["phone"] == "+8613800138001", "feedback and routing reach the caller back here"
    assert [e["type"] for e in events[1:]] == ["switchboard.contact.message_added.v1"]
    lookup = await intake.client.get(
        "/v1/customers/lookup", params={"phone": "+86 138 0013 8001"}, headers=intake.token("agent")
    )
    assert lookup.status_code == 200
    assert lookup.json()["customer_id"] == received["customer"]["customer_id"]
