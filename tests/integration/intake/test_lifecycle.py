"""Reopen after routing closes a contact, identity linking, escalation by a follow-up, agent reclassification."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from services.intake.handlers.common import Tx
from services.intake.handlers.events import dispatch, dispatch_table
from shared.clock import utcnow
from shared.events import WorkClosedV1, decode, encode
from shared.kafka import Delivery, Record
from tests.integration.intake.conftest import Intake, unique

pytestmark = pytest.mark.integration


async def chat(intake: Intake, session: str, message_id: str, text: str, **visitor: str) -> dict[str, Any]:
    response = await intake.client.post(
        "/v1/channels/chat",
        json={"session_id": session, "message_id": message_id, "text": text, "visitor": visitor},
        headers=intake.auth(),
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


async def close_by_routing(intake: Intake, contact_id: str, *, ago: timedelta) -> None:
    """Routing's work.closed event handled the way the consumer loop hands it over."""
    event = WorkClosedV1(
        work_id=uuid.uuid4(), contact_id=uuid.UUID(contact_id), reason="resolved by agent", at=utcnow() - ago
    )
    message = encode(event, source="switchboard/routing", subject=contact_id, time=utcnow())
    delivery = Delivery(
        Record("routing.work", 0, 0, message.key, message.value, message.headers, 0), decode(message.value)
    )
    async with intake.app.state.pool.acquire() as conn, conn.transaction():
        await dispatch(Tx(conn=conn, now=utcnow()), dispatch_table()["intake"], delivery)


async def test_a_message_to_a_closed_contact_within_the_reopen_window_reopens_it(intake: Intake) -> None:
    session = unique()
    first = await chat(intake, session, "1", "我的银行卡被锁了")
    await close_by_routing(intake, first["contact_id"], ago=timedelta(hours=1))
    contact = (await intake.client.get(f"/v1/contacts/{first['contact_id']}", headers=intake.auth())).json()
    assert contact["status"] == "closed"

    again = await chat(intake, session, "2", "又被锁了")
    assert again == {**again, "contact_id": first["contact_id"], "outcome": "threaded"}
    events = await intake.published(first["contact_id"])
    assert events[-1]["type"] == "switchboard.contact.message_added.v1"
    assert events[-1]["data"]["reopened"] is True
    contact = (await intake.client.get(f"/v1/contacts/{first['contact_id']}", headers=intake.auth())).json()
    assert (contact["status"], contact["reopen_count"], contact["message_count"]) == ("reopened", 1, 2)


async def test_a_message_after_the_reopen_window_starts_a_new_contact(intake: Intake) -> None:
    session = unique()
    first = await chat(intake, session, "1", "hello")
    await close_by_routing(intake, first["contact_id"], ago=timedelta(days=30))
    later = await chat(intake, session, "2", "hello again")
    assert later["outcome"] == "created" and later["contact_id"] != first["contact_id"]


async def test_a_chat_visitor_giving_a_known_email_is_linked_to_that_customer(intake: Intake) -> None:
    email = f"{unique()}@example.com"
    created = await intake.client.post(
        "/v1/customers",
        json={"name": "VIP", "grade": "strategic", "emails": [email]},
        headers=intake.token("admin"),
    )
    assert created.status_code == 201, created.text
    customer_id = created.json()["customer_id"]
    visitor = unique("visitor-")
    accepted = await chat(intake, unique(), "1", "hi", id=visitor, email=email.upper())
    event = (await intake.published(accepted["contact_id"]))[0]["data"]
    assert event["customer"] == {
        "customer_id": customer_id,
        "grade": "strategic",
        "attributes": {"pii_level": "general"},
    }
    lookup = await intake.client.get(
        "/v1/customers/lookup", params={"chat_id": f"web:{visitor}"}, headers=intake.token("supervisor")
    )
    assert lookup.json()["customer_id"] == customer_id, "the chat id is now one of the customer's identities"


async def test_two_existing_customers_are_never_merged_on_a_weak_signal(intake: Intake) -> None:
    admin = intake.token("admin")
    a_mail = f"{unique()}@example.com"
    a = (await intake.client.post("/v1/customers", json={"emails": [a_mail]}, headers=admin)).json()
    b = (await intake.client.post("/v1/customers", json={"phones": ["13811112222"]}, headers=admin)).json()
    raw = (
        f"From: {a_mail}\r\nSubject: hi\r\nMessage-ID: <{unique()}@x>\r\nContent-Type: text/plain\r\n\r\n"
        "please call\r\n-- \r\nTel 13811112222\r\n"
    ).encode()
    response = await intake.client.post(
        "/v1/channels/email", content=raw, headers={**intake.auth(), "Content-Type": "message/rfc822"}
    )
    contact = (
        await intake.client.get(f"/v1/contacts/{response.json()['contact_id']}", headers=intake.auth())
    ).json()
    assert contact["customer"]["customer_id"] == a["customer_id"]
    assert contact["identity_conflicts"] == [b["customer_id"]]
    b_now = (await intake.client.get(f"/v1/customers/{b['customer_id']}", headers=admin)).json()
    assert b_now["merged_into"] is None and [i["value"] for i in b_now["identities"]] == ["+8613811112222"]


async def test_a_follow_up_that_raises_an_emergency_reclassifies_the_contact(intake: Intake) -> None:
    session = unique()
    first = await chat(intake, session, "1", "请问怎么修改密码")
    await chat(intake, session, "2", "我的账号被盗了，有人在异地登录")
    events = await intake.published(first["contact_id"])
    assert [e["type"].split(".")[2] for e in events] == ["received", "message_added", "reclassified"]
    assert events[2]["data"]["category"] == "security_event" and events[2]["data"]["emergency"] is True
    assert events[2]["data"]["by"] == "rule:security_event"


async def test_an_agent_override_is_stored_audited_and_published(intake: Intake) -> None:
    from tests.integration.intake.test_conversation import assign

    accepted = await chat(intake, unique(), "1", "hello there")
    stranger = await intake.client.post(
        f"/v1/contacts/{accepted['contact_id']}/classification",
        json={"category": "complaint", "priority_class": "routine", "reason": "not mine"},
        headers=intake.token("agent", "A-8"),
    )
    assert stranger.status_code == 403  # only the owner (or a supervisor) reclassifies
    await assign(intake, accepted["contact_id"], "A-7")
    response = await intake.client.post(
        f"/v1/contacts/{accepted['contact_id']}/classification",
        json={"category": "complaint", "priority_class": "routine", "reason": "customer is upset"},
        headers=intake.token("agent", "A-7"),
    )
    assert response.status_code == 200, response.text
    events = await intake.published(accepted["contact_id"])
    assert events[-1]["type"] == "switchboard.contact.reclassified.v1"
    assert events[-1]["data"]["by"] == "agent:A-7" and events[-1]["data"]["category"] == "complaint"
    contact = (await intake.client.get(f"/v1/contacts/{accepted['contact_id']}", headers=intake.auth())).json()
    assert contact["category"] == "complaint" and contact["classified_by"] == "agent:A-7"
    async with intake.app.state.pool.acquire() as conn:
        audit = await conn.fetchrow(
            "SELECT actor, action FROM audit_trail WHERE target = $1", f"contact:{accepted['contact_id']}"
        )
    assert audit is not None and (audit["actor"], audit["action"]) == ("A-7", "contact.reclassify")
    adapter = await intake.client.post(
        f"/v1/contacts/{accepted['contact_id']}/classification",
        json={"category": "complaint", "priority_class": "routine", "reason": "x"},
        headers=intake.auth(),
    )
    assert adapter.status_code == 403


async def test_housekeeping_forgets_old_idempotency_keys_but_natural_keys_still_dedupe(intake: Intake) -> None:
    from services.intake.app import spec
    from shared.housekeeping import Retention, housekeep

    session = unique()
    payload = {"session_id": session, "message_id": "1", "text": "hello"}
    headers = {**intake.auth(), "Idempotency-Key": "old-key"}
    first = (await intake.client.post("/v1/channels/chat", json=payload, headers=headers)).json()
    forgotten = await housekeep(  # the shared loop's step, with the chores intake gives it
        intake.app.state.pool,
        now=utcnow() + timedelta(days=8),
        retention=Retention(inbox=timedelta(days=30), journeys=timedelta(days=30)),
        chores=spec().chores(intake.app.state.runtime),
    )
    assert forgotten.chores["idempotency keys"] == 1  # retention 7 days by default
    again = (await intake.client.post("/v1/channels/chat", json=payload, headers=headers)).json()
    assert again == {**first, "outcome": "duplicate"}, "the chat message id still recognises the retry"


async def test_anonymous_callers_are_not_one_customer_and_an_unidentified_chat_stays_one_customer(
    intake: Intake,
) -> None:
    customers = []
    for call in ("c1", "c2"):
        response = await intake.client.post(
            "/v1/channels/phone", json={"call_id": unique(call), "ani": "anonymous"}, headers=intake.auth()
        )
        contact = (
            await intake.client.get(f"/v1/contacts/{response.json()['contact_id']}", headers=intake.auth())
        ).json()
        customers.append(contact["customer"]["customer_id"])
    assert customers[0] != customers[1], "a withheld number must not join two callers into one customer"

    session = unique()
    first = await chat(intake, session, "1", "hello, no name given")
    second = await chat(intake, session, "2", "still me")
    assert second["contact_id"] == first["contact_id"]
    async with intake.app.state.pool.acquire() as conn:
        owners = await conn.fetchval(
            "SELECT count(DISTINCT c.customer_id) FROM contact c WHERE c.contact_id = $1",
            uuid.UUID(first["contact_id"]),
        )
        total = await conn.fetchval("SELECT count(*) FROM customer")
    assert owners == 1 and total == 3, "the second chat message created no throwaway customer"


async def test_bounces_and_auto_replies_are_stored_but_open_no_work(intake: Intake) -> None:
    from tests.unit.intake.test_mime_fixtures import EMAILS

    for name in (
        "mailgun_flanker/bounce_gmail_invalid_address.eml",
        "php-mime-mail-parser/auto_reply_polish_windows1250.eml",
    ):
        response = await intake.client.post(
            "/v1/channels/email",
            content=(EMAILS / name).read_bytes(),
            headers={**intake.auth(), "Content-Type": "message/rfc822"},
        )
        assert response.status_code == 202 and response.json()["outcome"] == "created"
        contact_id = response.json()["contact_id"]
        contact = (await intake.client.get(f"/v1/contacts/{contact_id}", headers=intake.auth())).json()
        assert contact["status"] == "ignored" and contact["messages"][0]["automatic"] is True
        assert await intake.published(contact_id) == [], "nothing published for machine mail"
