"""Agents answer the customer through intake: channel-native replies on the real outbound topic, the customer's
answer threading back, notes, the timeline, delivery receipts, and every bad request refused with nothing
half-written."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.events import (
    OUTBOUND_MESSAGES,
    ROUTING_WORK,
    Event,
    WorkAssignedV1,
    WorkClosedV1,
    encode,
)
from shared.kafka import Producer
from tests.integration.intake.conftest import Intake, unique
from tests.integration.intake.test_channels_end_to_end import post_mime, raw_email
from tests.support import read_topic, wait_until

pytestmark = pytest.mark.integration


async def publish(intake: Intake, event: Event, contact_id: str) -> None:
    """What routing would publish about the contact's work."""
    producer = Producer(intake.app.state.runtime.settings)
    await producer.start()
    try:
        message = encode(event, source="switchboard/routing", subject=contact_id, time=datetime.now(UTC))
        await producer.send_raw(ROUTING_WORK.name, key=message.key, value=message.value, headers=message.headers)
    finally:
        await producer.stop()


async def assign(intake: Intake, contact_id: str, agent_id: str) -> str:
    work_id = uuid.uuid4()
    now = datetime.now(UTC)
    await publish(
        intake,
        WorkAssignedV1(
            work_id=work_id, contact_id=uuid.UUID(contact_id), agent_id=agent_id, first_owner_id=agent_id,
            accepted_at=now, team="t1", via="offer",
        ),
        contact_id,
    )  # fmt: skip

    async def owned() -> bool:
        async with intake.app.state.pool.acquire() as conn:
            owner = await conn.fetchval(
                "SELECT owner_id FROM contact WHERE contact_id = $1", uuid.UUID(contact_id)
            )
        return bool(owner == agent_id)

    await wait_until(owned, timeout_s=30)
    return str(work_id)


async def outbound(intake: Intake, message_id: str) -> dict[str, Any]:
    async def found() -> bool:
        return any(
            json.loads(v)["data"]["message_id"] == message_id
            for _, v in await read_topic(intake.bootstrap, OUTBOUND_MESSAGES.name)
        )

    await wait_until(found, timeout_s=30)
    records = await read_topic(intake.bootstrap, OUTBOUND_MESSAGES.name)
    data: dict[str, Any] = next(
        json.loads(v)["data"] for _, v in records if json.loads(v)["data"]["message_id"] == message_id
    )
    return data


async def timeline(intake: Intake, contact_id: str, **params: Any) -> dict[str, Any]:
    response = await intake.client.get(
        f"/v1/contacts/{contact_id}/timeline", params=params, headers=intake.token("supervisor", "sup-1")
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_an_email_reply_is_channel_native_and_the_customers_answer_threads_back(intake: Intake) -> None:
    customer = f"{unique()}@example.com"
    first_id = f"<{unique()}@mail.example.com>"
    accepted = await post_mime(
        intake,
        raw_email(message_id=first_id, sender=customer, subject="宽带无法连接", body="从昨天开始宽带就连不上。"),
    )
    contact_id = accepted["contact_id"]
    await assign(intake, contact_id, "A-1")

    stranger = await intake.client.post(
        f"/v1/contacts/{contact_id}/replies", json={"text": "hello"}, headers=intake.token("agent", "A-2")
    )
    assert stranger.status_code == 403 and "A-1" in stranger.json()["detail"]

    sent = await intake.client.post(
        f"/v1/contacts/{contact_id}/replies",
        json={"text": "您好，我们已安排工程师上门。", "html": "<p>您好，我们已安排工程师上门。</p>"},
        headers=intake.token("agent", "A-1"),
    )
    assert sent.status_code == 201, sent.text
    reply = sent.json()
    assert reply["subject"] == "Re: 宽带无法连接"
    assert reply["headers"]["In-Reply-To"] == first_id
    assert reply["headers"]["References"] == first_id
    ours = reply["headers"]["Message-ID"]
    assert ours == f"<{reply['reply_id']}@switchboard.invalid>"

    request = await outbound(intake, reply["reply_id"])
    assert (request["channel"], request["recipient"], request["kind"]) == ("email", customer, "reply")
    assert request["headers"] == reply["headers"] and request["subject"] == "Re: 宽带无法连接"
    assert request["html"].startswith("<p>")
    added = [e for e in await intake.published(contact_id) if e["type"] == "switchboard.contact.message_added.v1"]
    assert [(e["data"]["from_customer"], e["data"]["author"]) for e in added] == [(False, "A-1")]

    answer = await post_mime(
        intake,
        raw_email(
            message_id=f"<{unique()}@mail.example.com>",
            sender=customer,
            subject="Re: 宽带无法连接",
            body="好的，谢谢。",
            in_reply_to=ours,
        ),
    )
    assert (answer["contact_id"], answer["outcome"]) == (contact_id, "threaded")

    second = await intake.client.post(
        f"/v1/contacts/{contact_id}/replies", json={"text": "师傅下午到。"}, headers=intake.token("agent", "A-1")
    )
    assert second.json()["subject"] == "Re: 宽带无法连接"
    assert second.json()["headers"]["References"].split() == [
        first_id,
        ours,
        second.json()["headers"]["In-Reply-To"],
    ]

    kinds = [e["kind"] for e in (await timeline(intake, contact_id))["entries"]]
    assert kinds == ["customer_message", "accepted", "agent_reply", "customer_message", "agent_reply"]


async def test_chat_and_sms_replies_go_back_where_the_customer_wrote(intake: Intake) -> None:
    session = unique("s-")
    chat = await intake.client.post(
        "/v1/channels/chat", json={"session_id": session, "message_id": "1", "text": "在吗"}, headers=intake.auth()
    )
    chat_id = chat.json()["contact_id"]
    await assign(intake, chat_id, "A-3")
    sent = await intake.client.post(
        f"/v1/contacts/{chat_id}/replies", json={"text": "在的，请讲"}, headers=intake.token("agent", "A-3")
    )
    assert sent.status_code == 201 and sent.json()["channel"] == "chat"
    assert (await outbound(intake, sent.json()["reply_id"]))["recipient"] == session

    sms = await intake.client.post(
        "/v1/channels/sms",
        json={"sender": {"phone": "+86 139 0013 9001"}, "text": "我的宽带断了"},
        headers=intake.auth(),
    )
    sms_id = sms.json()["contact_id"]
    await assign(intake, sms_id, "A-3")
    texted = await intake.client.post(
        f"/v1/contacts/{sms_id}/replies", json={"text": "已报修"}, headers=intake.token("supervisor", "S-1")
    )
    assert texted.status_code == 201 and texted.json()["channel"] == "sms"
    assert (await outbound(intake, texted.json()["reply_id"]))["recipient"] == "+8613900139001"


async def test_bad_replies_are_refused_naming_the_field_and_write_nothing(intake: Intake) -> None:
    call = await intake.client.post(
        "/v1/channels/phone",
        json={"call_id": unique(), "event": "ringing", "ani": "anonymous"},
        headers=intake.auth(),
    )
    assert call.status_code == 202, call.text
    call_id = call.json()["contact_id"]
    await assign(intake, call_id, "A-4")
    agent = intake.token("agent", "A-4")
    cases = [
        ({"text": "   "}, "body.text"),
        ({"text": "x" * 1001, "channel": "sms"}, "body.channel"),  # no number to text either
        ({"text": "hi"}, "body.channel"),  # a call without a number or address
        ({"text": "hi", "channel": "fax"}, "body.channel"),
        ({"text": "hi", "attachments": [{"name": "a.pdf"}]}, "body.attachments"),
        ({"text": "hi", "colour": "red"}, "body.colour"),
    ]
    for body, field in cases:
        response = await intake.client.post(f"/v1/contacts/{call_id}/replies", json=body, headers=agent)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in response.json()["detail"], (field, response.json())
    async with intake.app.state.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM reply WHERE contact_id = $1", uuid.UUID(call_id)) == 0
    missing = await intake.client.post(f"/v1/contacts/{uuid.uuid4()}/replies", json={"text": "hi"}, headers=agent)
    assert missing.status_code == 404
    adapter = await intake.client.post(
        f"/v1/contacts/{call_id}/replies", json={"text": "hi"}, headers=intake.auth()
    )
    assert adapter.status_code == 403

    session = unique("s-")
    chat = await intake.client.post(
        "/v1/channels/chat", json={"session_id": session, "message_id": "1", "text": "再见"}, headers=intake.auth()
    )
    chat_id = chat.json()["contact_id"]
    work_id = await assign(intake, chat_id, "A-4")
    await publish(
        intake,
        WorkClosedV1(
            work_id=uuid.UUID(work_id), contact_id=uuid.UUID(chat_id), reason="done", at=datetime.now(UTC)
        ),
        chat_id,
    )

    async def closed() -> bool:
        async with intake.app.state.pool.acquire() as conn:
            return bool(
                await conn.fetchval("SELECT status FROM contact WHERE contact_id = $1", uuid.UUID(chat_id))
                == "closed"
            )

    await wait_until(closed, timeout_s=30)
    late = await intake.client.post(f"/v1/contacts/{chat_id}/replies", json={"text": "还在吗"}, headers=agent)
    assert late.status_code == 409 and f"/v1/work/{work_id}/reopen" in late.json()["detail"]


async def test_receipts_move_delivery_forward_once_and_failures_are_announced(intake: Intake) -> None:
    session = unique("s-")
    chat = await intake.client.post(
        "/v1/channels/chat", json={"session_id": session, "message_id": "1", "text": "你好"}, headers=intake.auth()
    )
    contact_id = chat.json()["contact_id"]
    await assign(intake, contact_id, "A-5")
    reply_id = (
        await intake.client.post(
            f"/v1/contacts/{contact_id}/replies", json={"text": "您好"}, headers=intake.token("agent", "A-5")
        )
    ).json()["reply_id"]

    async def receipt(status: str, at: str, key: str | None = None, **extra: Any) -> Any:
        body = {"message_id": reply_id, "status": status, "at": at, **extra}
        return await intake.client.post("/v1/outbound/receipts", json=body, headers=intake.auth(key))

    assert (await receipt("sent", "2026-12-06T10:00:00+08:00")).json()["changed"] is True
    failed = await receipt("failed", "2026-12-06T10:00:05+08:00", reason="session expired")
    assert failed.status_code == 202 and failed.json() == {
        "message_id": reply_id, "contact_id": contact_id, "status": "failed", "changed": True,
    }  # fmt: skip
    again = await receipt("failed", "2026-12-06T10:00:05+08:00", reason="session expired")
    assert again.json()["changed"] is False
    stale = await receipt("sent", "2026-12-06T09:59:00+08:00")
    assert stale.json() == {**failed.json(), "status": "sent", "changed": True}  # a later success after failure

    wrong = await receipt("delivered", "2026-12-06T10:01:00+08:00", key=intake.email_only_key)
    assert wrong.status_code == 403
    unknown = await intake.client.post(
        "/v1/outbound/receipts", json={"message_id": str(uuid.uuid4()), "status": "sent"}, headers=intake.auth()
    )
    assert unknown.status_code == 404 and unknown.json()["type"].endswith("#unknown-message")
    naive = await receipt("sent", "2026-12-06T10:00:00")
    assert naive.status_code == 422

    reports = [
        (e["data"]["status"], e["data"]["kind"])
        for e in await intake.published(contact_id)
        if e["type"] == "switchboard.outbound.delivery_reported.v1"
    ]
    assert reports == [("sent", "reply"), ("failed", "reply"), ("sent", "reply")]
    entry = next(e for e in (await timeline(intake, contact_id))["entries"] if e["kind"] == "agent_reply")
    assert (entry["detail"]["delivery"], entry["detail"]["delivery_reason"]) == ("sent", None)


async def test_notes_and_a_long_timeline_come_a_page_at_a_time_in_order(intake: Intake) -> None:
    session = unique("s-")
    first = await intake.client.post(
        "/v1/channels/chat",
        json={"session_id": session, "message_id": "0", "text": "问题 0"},
        headers=intake.auth(),
    )
    contact_id = first.json()["contact_id"]
    await assign(intake, contact_id, "A-6")
    agent = intake.token("agent", "A-6")
    for n in range(1, 6):
        await intake.client.post(
            "/v1/channels/chat", json={"session_id": session, "message_id": str(n), "text": f"问题 {n}"},
            headers=intake.auth(),
        )  # fmt: skip
        await intake.client.post(f"/v1/contacts/{contact_id}/replies", json={"text": f"回答 {n}"}, headers=agent)
    noted = await intake.client.post(f"/v1/contacts/{contact_id}/notes", json={"text": "客户很急"}, headers=agent)
    assert noted.status_code == 201
    assert (
        await intake.client.post(f"/v1/contacts/{contact_id}/notes", json={"text": " "}, headers=agent)
    ).status_code == 422
    other = await intake.client.post(
        f"/v1/contacts/{contact_id}/notes", json={"text": "x"}, headers=intake.token("agent", "A-7")
    )
    assert other.status_code == 403
    assert (
        await intake.client.get(f"/v1/contacts/{contact_id}/timeline", headers=intake.token("agent", "A-7"))
    ).status_code == 403

    pages: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page = await timeline(intake, contact_id, limit=4, **({"after": after} if after else {}))
        pages.extend(page["entries"])
        after = page["next"]
        if after is None:
            break
    whole = (await timeline(intake, contact_id))["entries"]
    assert pages == whole and len(whole) == 13  # 6 messages, accepted, 5 replies, a note
    assert [e["at"] for e in whole] == sorted(e["at"] for e in whole)
    texts = [e["detail"].get("text") for e in whole if e["kind"] in ("customer_message", "agent_reply")]
    assert texts[:3] == ["问题 0", "问题 1", "回答 1"]
    bad = await intake.client.get(
        f"/v1/contacts/{contact_id}/timeline", params={"after": "nonsense"}, headers=intake.token("admin")
    )
    assert bad.status_code == 422


async def test_contacts_are_found_by_filters_and_words_in_either_script_as_each_role_may_see(
    intake: Intake,
) -> None:
    phone = f"+86 139 {uuid.uuid4().int % 10**8:08d}"
    texts = ["我的宽带连不上了，已经两天", "帳單金額不對，多扣了錢", "Router not working since Monday"]
    ids = []
    for text in texts:
        posted = await intake.client.post(
            "/v1/channels/sms", json={"sender": {"phone": phone}, "text": text}, headers=intake.auth()
        )
        ids.append(posted.json()["contact_id"])
        async with intake.app.state.pool.acquire() as conn:  # a contact per text: close it so the next is new
            await conn.execute(
                "UPDATE contact SET status = 'closed', ended_at = now() - interval '30 days'"
                " WHERE contact_id = $1",
                uuid.UUID(ids[-1]),
            )
    await assign(intake, ids[0], "A-8")
    indexer = intake.state.indexer
    while await indexer.step():
        pass
    sup = intake.token("supervisor", "S-2")

    async def found(headers: dict[str, str], **params: Any) -> list[str]:
        response = await intake.client.get("/v1/contacts", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [c["contact_id"] for c in response.json()["contacts"]]

    assert await found(sup, q="寬帶") == [ids[0]]  # Traditional query, Simplified text
    assert await found(sup, q="账单 多扣") == [ids[1]]  # Simplified query, Traditional text
    assert await found(sup, q="ROUTER working") == [ids[2]]
    assert await found(sup, q="宽带 Router") == []
    customer_id = (await intake.client.get(f"/v1/contacts/{ids[0]}", headers=sup)).json()["customer"][
        "customer_id"
    ]
    history = await intake.client.get(f"/v1/customers/{customer_id}/contacts", params={"limit": 2}, headers=sup)
    page = history.json()
    assert [c["contact_id"] for c in page["contacts"]] == [ids[2], ids[1]] and page["next"]
    rest = await intake.client.get(
        f"/v1/customers/{customer_id}/contacts", params={"after": page["next"]}, headers=sup
    )
    assert [c["contact_id"] for c in rest.json()["contacts"]] == [ids[0]] and rest.json()["next"] is None

    owner = intake.token("agent", "A-8")
    assert await found(owner, channel="sms") == [ids[0]]  # an agent sees their own contacts
    assert (await intake.client.get("/v1/contacts", params={"owner": "A-9"}, headers=owner)).status_code == 403
    assert (await intake.client.get(f"/v1/customers/{customer_id}/contacts", headers=owner)).status_code == 200
    stranger = intake.token("agent", "A-9")
    assert (await intake.client.get(f"/v1/customers/{customer_id}/contacts", headers=stranger)).status_code == 403
    assert (await intake.client.get("/v1/contacts", headers=intake.auth())).status_code == 403
    for bad in ({"q": "，。"}, {"after": "x"}, {"from": "2026-12-01T00:00:00"}, {"status": "lost"}):
        assert (await intake.client.get("/v1/contacts", params=bad, headers=sup)).status_code == 422, bad


async def test_adapters_report_callers_who_leave_and_callback_attempts(intake: Intake) -> None:
    call = await intake.client.post(
        "/v1/channels/phone", json={"call_id": unique(), "event": "ringing", "ani": "13800138000"},
        headers=intake.auth(),
    )  # fmt: skip
    contact_id = call.json()["contact_id"]
    left = await intake.client.post(
        f"/v1/contacts/{contact_id}/abandoned",
        json={"reason": "hung_up", "callback": "keep_place"},
        headers=intake.auth(),
    )
    assert left.status_code == 202, left.text
    tried = await intake.client.post(
        f"/v1/contacts/{contact_id}/callback-attempts", json={"outcome": "no_answer"}, headers=intake.auth()
    )
    assert tried.status_code == 202
    events = {e["type"]: e["data"] for e in await intake.published(contact_id)}
    abandoned = events["switchboard.contact.abandoned.v1"]
    assert (abandoned["reason"], abandoned["callback"], abandoned["callback_phone"]) == (
        "hung_up", "keep_place", "+8613800138000",
    )  # fmt: skip
    assert events["switchboard.contact.callback_attempted.v1"]["outcome"] == "no_answer"

    anonymous = await intake.client.post(
        "/v1/channels/phone",
        json={"call_id": unique(), "event": "ringing", "ani": "anonymous"},
        headers=intake.auth(),
    )
    anonymous_id = anonymous.json()["contact_id"]
    later = (datetime.now(UTC).replace(microsecond=0)).isoformat()
    cases = [
        ({"reason": "hung_up", "callback": "keep_place"}, 422, "callback_phone"),  # nobody to call back
        ({"reason": "hung_up", "callback": "scheduled", "callback_at": later}, 422, "callback_at"),  # not future
        ({"reason": "hung_up", "callback": "keep_place", "callback_phone": "12"}, 422, "callback_phone"),
        ({"reason": "hung_up", "at": "2026-12-06T10:00:00"}, 422, "at"),
        ({"reason": "bored"}, 422, "reason"),
    ]
    for body, status, field in cases:
        response = await intake.client.post(
            f"/v1/contacts/{anonymous_id}/abandoned", json=body, headers=intake.auth()
        )
        assert response.status_code == status and field in response.json()["detail"], (body, response.text)
    other_channel = await intake.client.post(
        f"/v1/contacts/{anonymous_id}/abandoned",
        json={"reason": "hung_up"},
        headers=intake.auth(intake.email_only_key),
    )
    assert other_channel.status_code == 404


async def test_canned_responses_are_kept_by_supervisors_searched_and_filled_in_for_a_contact(
    intake: Intake,
) -> None:
    sup, agent = intake.token("supervisor", "S-3"), intake.token("agent", "A-10")
    body = {
        "title": "宽带报修已受理",
        "texts": {
            "zh-Hans": "{customer_name}您好，您的报修（编号 {contact_ref}）已受理，{agent_name} {date}",
            "zh-Hant": "{customer_name}您好，您的報修（編號 {contact_ref}）已受理",
            "en": "Dear {customer_name}, your repair request {contact_ref} is in hand.",
        },
        "tags": ["broadband"],
    }
    assert (await intake.client.post("/v1/canned-responses", json=body, headers=agent)).status_code == 403
    created = await intake.client.post("/v1/canned-responses", json=body, headers=sup)
    assert created.status_code == 201, created.text
    canned = created.json()
    bad = await intake.client.post(
        "/v1/canned-responses", json={**body, "texts": {"en": "Hi {nickname}"}}, headers=sup
    )
    assert bad.status_code == 422 and "nickname" in bad.json()["detail"]
    found = await intake.client.get("/v1/canned-responses", params={"q": "報修"}, headers=agent)
    assert [c["canned_response_id"] for c in found.json()] == [canned["canned_response_id"]]

    session = unique("s-")
    chat = await intake.client.post(
        "/v1/channels/chat",
        json={"session_id": session, "message_id": "1", "text": "宽带坏了", "visitor": {"name": "王小明"}},
        headers=intake.auth(),
    )
    contact_id = chat.json()["contact_id"]
    path = f"/v1/canned-responses/{canned['canned_response_id']}/render"
    assert (await intake.client.get(path, params={"contact_id": contact_id}, headers=agent)).status_code == 403
    await assign(intake, contact_id, "A-10")
    rendered = (await intake.client.get(path, params={"contact_id": contact_id}, headers=agent)).json()
    assert rendered["language"] == "zh-Hans"
    assert rendered["text"].startswith("王小明您好") and contact_id[:8].upper() in rendered["text"]
    assert "A-10" in rendered["text"] and "{" not in rendered["text"]
    english = await intake.client.get(path, params={"contact_id": contact_id, "language": "en"}, headers=agent)
    assert english.json()["text"].startswith("Dear 王小明")

    stale = await intake.client.put(
        f"/v1/canned-responses/{canned['canned_response_id']}", json=body, headers={**sup, "If-Match": '"7"'}
    )
    assert stale.status_code == 412
    changed = await intake.client.put(
        f"/v1/canned-responses/{canned['canned_response_id']}",
        json={**body, "title": "宽带报修"},
        headers={**sup, "If-Match": '"1"'},
    )
    assert changed.json()["version"] == 2
    gone = await intake.client.delete(f"/v1/canned-responses/{canned['canned_response_id']}", headers=sup)
    assert gone.status_code == 204
    assert (await intake.client.get(path, params={"contact_id": contact_id}, headers=agent)).status_code == 404
    async with intake.app.state.pool.acquire() as conn:
        actions = [
            r["action"]
            for r in await conn.fetch(
                "SELECT action FROM audit_trail WHERE target = $1 ORDER BY audit_id",
                f"canned_response:{canned['canned_response_id']}",
            )
        ]
    assert actions == ["canned_response.create", "canned_response.update", "canned_response.retire"]


async def test_an_agent_records_a_walk_in_that_goes_through_intake_like_any_contact(intake: Intake) -> None:
    walk_in = {"sender": {"name": "李女士", "phone": "+86 139 0013 9077"}, "text": "我的账号被盗了，来营业厅处理"}
    recorded = await intake.client.post("/v1/channels/onsite", json=walk_in, headers=intake.token("agent", "A-11"))
    assert recorded.status_code == 202, recorded.text
    contact_id = recorded.json()["contact_id"]
    received = next(
        e["data"] for e in await intake.published(contact_id) if e["type"] == "switchboard.contact.received.v1"
    )
    assert (received["channel"], received["category"], received["emergency"]) == ("onsite", "security_event", True)
    stored = (await intake.client.get(f"/v1/contacts/{contact_id}", headers=intake.token("admin"))).json()
    assert stored["messages"][0]["metadata"]["recorded_by"] == "agent:A-11"
    sms = await intake.client.post("/v1/channels/sms", json=walk_in, headers=intake.token("agent", "A-11"))
    assert sms.status_code == 403  # other channels are the adapters'


async def test_an_agent_who_replies_the_moment_they_accept_is_not_refused_while_intake_catches_up(
    intake: Intake,
) -> None:
    """The desktop hears of the acceptance before intake does (routing's event is on its way): the reply waits
    for intake's view instead of answering 403."""
    intake.app.state.runtime.settings.ownership_wait_s = 10.0
    session = unique("s-")
    chat = await intake.client.post(
        "/v1/channels/chat", json={"session_id": session, "message_id": "1", "text": "你好"}, headers=intake.auth()
    )
    contact_id = chat.json()["contact_id"]
    now = datetime.now(UTC)
    await publish(
        intake,
        WorkAssignedV1(
            work_id=uuid.uuid4(), contact_id=uuid.UUID(contact_id), agent_id="A-12", first_owner_id="A-12",
            accepted_at=now,
        ),
        contact_id,
    )  # fmt: skip
    at_once = await intake.client.post(
        f"/v1/contacts/{contact_id}/replies", json={"text": "您好"}, headers=intake.token("agent", "A-12")
    )
    assert at_once.status_code == 201, at_once.text


async def test_contact_content_and_old_audit_go_by_retention_each_with_a_destruction_record(
    intake: Intake,
) -> None:
    from datetime import timedelta

    from services.intake.app import spec
    from shared.housekeeping import Retention, housekeep

    session = unique("s-")
    chat = await intake.client.post(
        "/v1/channels/chat", json={"session_id": session, "message_id": "1", "text": "我的手机号是13800138000"},
        headers=intake.auth(),
    )  # fmt: skip
    contact_id = uuid.UUID(chat.json()["contact_id"])
    await assign(intake, str(contact_id), "A-13")
    await intake.client.post(
        f"/v1/contacts/{contact_id}/replies", json={"text": "好的"}, headers=intake.token("agent", "A-13")
    )
    await intake.client.post(
        f"/v1/contacts/{contact_id}/notes", json={"text": "客户很急"}, headers=intake.token("agent", "A-13")
    )
    pool = intake.app.state.pool
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO audit_trail (actor, action, target, detail, at)"
            " VALUES ('x', 'old', 't', '{}', now() - interval '7 years')"
        )
    chores = spec().chores(intake.app.state.runtime)
    retention = Retention(inbox=timedelta(days=30), journeys=timedelta(days=30))
    soon = await housekeep(pool, now=datetime.now(UTC) + timedelta(days=365), retention=retention, chores=chores)
    assert soon.chores["contact content"] == 0  # a year on: kept
    assert soon.chores["audit records"] == 1  # the seven-year-old entry only
    later = await housekeep(
        pool, now=datetime.now(UTC) + timedelta(days=3 * 365 + 1), retention=retention, chores=chores
    )
    assert later.chores["contact content"] >= 1
    async with pool.acquire() as conn:
        texts = await conn.fetch("SELECT text, original, sender FROM message WHERE contact_id = $1", contact_id)
        reply = await conn.fetchrow("SELECT text, recipient FROM reply WHERE contact_id = $1", contact_id)
        note = await conn.fetchval("SELECT text FROM note WHERE contact_id = $1", contact_id)
        contact = await conn.fetchrow(
            "SELECT category, content_erased_at FROM contact WHERE contact_id = $1", contact_id
        )
        records = await conn.fetch(
            "SELECT what, rows, retention_days FROM destruction_record ORDER BY destruction_id"
        )
    assert all((t["text"], t["original"], t["sender"]) == ("", "", []) for t in texts)
    assert (reply["text"], reply["recipient"], note) == ("", "", "")
    assert contact["content_erased_at"] is not None and contact["category"]  # the facts stay for the figures
    assert [(r["what"], float(r["retention_days"])) for r in records] == [
        ("audit records", 2190.0), ("contact content", 1095.0),
    ]  # fmt: skip
