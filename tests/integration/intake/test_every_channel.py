"""Each channel over HTTP → its event on the real topic; every real email accepted; bad input refused."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.errors import PROBLEM_JSON
from tests.integration.intake.conftest import Intake, unique
from tests.unit.intake.test_mime_fixtures import EMAILS, EXPECTED

pytestmark = pytest.mark.integration


async def post(intake: Intake, channel: str, payload: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = await intake.client.post(
        f"/v1/channels/{channel}", json=payload, headers={**intake.auth(), **headers}
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


async def received(intake: Intake, contact_id: str) -> dict[str, Any]:
    events = await intake.published(contact_id)
    assert events[0]["type"] == "switchboard.contact.received.v1"
    data: dict[str, Any] = events[0]["data"]
    return data


async def test_chat_messages_of_one_session_are_one_contact(intake: Intake) -> None:
    session = unique("s-")
    base = {"session_id": session, "platform": "web", "visitor": {"id": unique("v-"), "name": "Wang"}}
    first = await post(intake, "chat", {**base, "message_id": "1", "text": "你好，我想查询一下退款进度"})
    second = await post(intake, "chat", {**base, "message_id": "2", "text": "订单号 123456"})
    again = await post(intake, "chat", {**base, "message_id": "2", "text": "订单号 123456"})
    assert (first["outcome"], second["outcome"], again["outcome"]) == ("created", "threaded", "duplicate")
    assert second["contact_id"] == first["contact_id"]
    data = await received(intake, first["contact_id"])
    assert data["channel"] == "chat" and data["language"] == "zh-Hans"
    assert data["thread_keys"] == [f"chat:{session}"]


async def test_web_forms_are_accepted_as_json_and_urlencoded(intake: Intake) -> None:
    email = f"{unique()}@example.com"
    json_form = await post(
        intake,
        "web",
        {"form_id": "contact-us", "name": "李四", "email": email, "phone": "13900139000",
         "subject": "网站无法访问", "message": "从早上开始网站就打不开了", "order_number": "A-1"},
    )  # fmt: skip
    response = await intake.client.post(
        "/v1/channels/web",
        content=f"form_id=feedback&email={email}&message=Please+add+dark+mode.+Suggestion!",
        headers={**intake.auth(), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 202, response.text
    urlencoded = response.json()
    first, second = (
        await received(intake, json_form["contact_id"]),
        await received(intake, urlencoded["contact_id"]),
    )
    assert first["category"] == "service_interruption" and first["priority_class"] == "complex"
    assert second["category"] == "suggestion"
    assert first["customer"]["customer_id"] == second["customer"]["customer_id"], "same email, same customer"
    contact = (await intake.client.get(f"/v1/contacts/{json_form['contact_id']}", headers=intake.auth())).json()
    assert contact["messages"][0]["metadata"]["fields"] == {"order_number": "A-1"}


@pytest.mark.parametrize(
    ("channel", "sender"),
    [
        ("sms", {"phone": "+86 139 0013 9000"}),
        ("social", {"id": "wxid_abc123", "platform": "wechat", "name": "小王"}),
        ("onsite", {"phone": "13700137000", "name": "Walk-in"}),
    ],
)
async def test_generic_channels_become_contacts(intake: Intake, channel: str, sender: dict[str, str]) -> None:
    accepted = await post(
        intake,
        channel,
        {"message_id": unique(), "sender": sender, "text": "I was charged twice this month", "metadata": {"x": 1}},
    )
    data = await received(intake, accepted["contact_id"])
    assert data["channel"] == channel
    assert data["category"] == "data_anomaly"


async def test_sms_from_the_same_customer_within_the_window_joins_the_open_contact(intake: Intake) -> None:
    phone = "+86 136 0013 6000"
    first = await post(intake, "sms", {"sender": {"phone": phone}, "text": "我的宽带断了"})
    second = await post(intake, "sms", {"sender": {"phone": phone}, "text": "还是没有恢复"})
    assert second["outcome"] == "threaded" and second["contact_id"] == first["contact_id"]


async def test_a_batch_answers_per_item_and_commits_the_valid_ones(intake: Intake) -> None:
    raw = (EMAILS / "mikel_mail/euc_kr_subject.eml").read_bytes()
    response = await intake.client.post(
        "/v1/channels/batch",
        headers=intake.auth(),
        json={
            "items": [
                {"channel": "chat", "payload": {"session_id": unique(), "message_id": "1", "text": "hi"}},
                {"channel": "phone", "payload": {"call_id": ""}},
                {"channel": "email", "payload": {"raw": base64.b64encode(raw).decode()}},
                {
                    "channel": "sms",
                    "idempotency_key": "k1",
                    "payload": {"sender": {"phone": "13800000001"}, "text": "x"},
                },
                {
                    "channel": "sms",
                    "idempotency_key": "k1",
                    "payload": {"sender": {"phone": "13800000001"}, "text": "x"},
                },
            ]
        },
    )
    assert response.status_code == 202, response.text
    body = response.json()
    statuses = [r["status"] for r in body["results"]]
    assert statuses == [202, 422, 202, 202, 202]
    assert body["accepted"] == 4 and body["rejected"] == 1
    assert body["results"][1]["error"]["pointer"] == "/items/1"
    assert [r["outcome"] for r in body["results"] if r["status"] == 202] == [
        "created", "created", "created", "duplicate",
    ]  # fmt: skip
    for result in body["results"][:1] + body["results"][2:4]:
        assert (await received(intake, result["contact_id"]))["message_id"] == result["message_id"]


def conversation(tag: str) -> list[dict[str, Any]]:
    """Messages that lean on each other: follow-ups of a chat session, of an SMS sender and of an e-mail, a
    retried chat message, and a form that shows a known phone beside a new address."""
    phone = f"+86135{abs(hash(tag)) % 10**8:08d}"
    mail, other = {"address": f"{tag}@example.com"}, {"address": f"{tag}-b@example.com"}
    return [
        {"channel": "chat", "payload": {"session_id": tag, "message_id": "1", "text": "我的订单还没到"}},
        {"channel": "sms", "payload": {"message_id": f"{tag}-1", "sender": {"phone": phone}, "text": "宽带断了"}},
        {"channel": "chat", "payload": {"session_id": tag, "message_id": "2", "text": "订单号是 123"}},
        {"channel": "sms", "payload": {"message_id": f"{tag}-2", "sender": {"phone": phone}, "text": "还没恢复"}},
        {"channel": "email", "payload": {"message_id": f"<{tag}@m>", "from": mail,
                                         "subject": "发票", "text": "开票"}},
        {"channel": "email", "payload": {"message_id": f"<{tag}-re@m>", "from": other,
                                         "in_reply_to": [f"<{tag}@m>"], "subject": "回复: 发票", "text": "补充"}},
        {"channel": "chat", "payload": {"session_id": tag, "message_id": "1", "text": "我的订单还没到"}},
        {"channel": "web", "payload": {"phone": phone, "email": f"{tag}-c@example.com", "message": "请回电"}},
    ]  # fmt: skip


def shape(results: list[dict[str, Any]], customers: list[str]) -> list[tuple[str, int, int]]:
    """Outcomes with contacts and customers named by where they first appear, so two runs compare."""
    contacts: dict[str, int] = {}
    people: dict[str, int] = {}
    return [
        (r["outcome"], contacts.setdefault(r["contact_id"], len(contacts)), people.setdefault(c, len(people)))
        for r, c in zip(results, customers, strict=True)
    ]


async def test_a_batch_of_messages_that_follow_each_other_ends_as_if_posted_one_by_one(intake: Intake) -> None:
    one_by_one = [await post(intake, item["channel"], item["payload"]) for item in conversation(unique("solo"))]
    response = await intake.client.post(
        "/v1/channels/batch", headers=intake.auth(), json={"items": conversation(unique("batch"))}
    )
    assert response.status_code == 202, response.text
    together = response.json()["results"]

    async def owners(results: list[dict[str, Any]]) -> list[str]:
        return [
            (
                await intake.client.get(f"/v1/contacts/{r['contact_id']}", headers=intake.token("supervisor"))
            ).json()["customer"]["customer_id"]
            for r in results
        ]

    expected = [
        ("created", 0, 0), ("created", 1, 1), ("threaded", 0, 0), ("threaded", 1, 1), ("created", 2, 2),
        ("threaded", 2, 2), ("duplicate", 0, 0), ("created", 3, 1),
    ]  # fmt: skip
    assert shape(one_by_one, await owners(one_by_one)) == expected
    assert shape(together, await owners(together)) == expected


async def test_a_batch_item_outside_the_keys_channels_is_refused_alone(intake: Intake) -> None:
    response = await intake.client.post(
        "/v1/channels/batch",
        headers=intake.auth(intake.email_only_key),
        json={
            "items": [
                {"channel": "sms", "payload": {"sender": {"phone": "13800000002"}, "text": "x"}},
                {
                    "channel": "email",
                    "payload": {"from": {"address": "a@example.com"}, "subject": "s", "text": "t"},
                },
            ]
        },
    )
    assert [r["status"] for r in response.json()["results"]] == [403, 202]


async def test_every_real_email_is_accepted_over_http(intake: Intake) -> None:
    outcomes = []
    for entry in EXPECTED:
        response = await intake.client.post(
            "/v1/channels/email",
            content=(EMAILS / entry["file"]).read_bytes(),
            headers={**intake.auth(), "Content-Type": "message/rfc822"},
        )
        assert response.status_code == 202, f"{entry['file']}: {response.text}"
        outcomes.append(response.json()["outcome"])
    assert outcomes.count("created") + outcomes.count("threaded") + outcomes.count("duplicate") == 57
    assert "created" in outcomes


async def test_an_email_of_over_a_megabyte_is_published_with_its_text_cut_and_kept_whole(intake: Intake) -> None:
    line = "我的账户被多扣了费用，请尽快帮我核实并退款。Please check the duplicate charge on my account.\n"
    text = line * (1_100_000 // len(line.encode()) + 1)
    raw = (
        f"From: long@example.com\r\nTo: support@example.com\r\nSubject: 很长的邮件\r\n"
        f"Message-ID: <{unique()}@example.com>\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: 8bit\r\n\r\n{text}"
    ).encode()
    assert len(raw) > 1024 * 1024
    response = await intake.client.post(
        "/v1/channels/email", content=raw, headers={**intake.auth(), "Content-Type": "message/rfc822"}
    )
    assert response.status_code == 202, response.text
    contact_id = response.json()["contact_id"]
    data = await received(intake, contact_id)  # published: the relay was not held up
    limit = intake.app.state.settings.event_text_chars
    assert data["text_truncated"] is True and len(data["text"]) == limit
    assert text.startswith(data["text"])
    contact = (await intake.client.get(f"/v1/contacts/{contact_id}", headers=intake.auth())).json()
    assert len(contact["messages"][0]["text"]) > limit, "intake keeps the whole text"


async def test_parsed_json_email_is_accepted_and_threads_by_in_reply_to(intake: Intake) -> None:
    first_id = f"{unique()}@gateway"
    first = await post(
        intake, "email",
        {"message_id": first_id, "from": {"address": f"{unique()}@example.com", "name": "A"},
         "subject": "Login", "html": "<p>I <b>cannot log in</b></p>"},
    )  # fmt: skip
    reply = await post(
        intake, "email",
        {"message_id": f"{unique()}@gateway", "from": {"address": "colleague@example.com"},
         "subject": "Re: Login", "text": "Same for me", "in_reply_to": [f"<{first_id}>"]},
    )  # fmt: skip
    assert reply["contact_id"] == first["contact_id"] and reply["outcome"] == "threaded"
    assert (await received(intake, first["contact_id"]))["category"] == "system_fault"


BAD_INPUT = [
    ("email", {"Content-Type": "message/rfc822"}, b"this is not mail", 422, "header field"),
    ("email", {"Content-Type": "message/rfc822"}, b"", 422, "empty"),
    (
        "email",
        {"Content-Type": "message/rfc822"},
        b"From: a@example.com\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\n\x81 \x8d \x90 \x9d",
        422,
        "unknown charset",
    ),
    ("email", {"Content-Type": "application/json"}, b"{not json", 400, "not valid JSON"),
    ("email", {"Content-Type": "application/json"}, b'{"subject": "no sender"}', 422, "body.from"),
    ("email", {"Content-Type": "image/png"}, b"x", 415, "message/rfc822"),
    ("phone", {"Content-Type": "application/json"}, b'{"ani": "13800138000"}', 422, "call_id"),
    (
        "chat",
        {"Content-Type": "application/json"},
        b'{"session_id": "s", "message_id": "m", "text": ""}',
        422,
        "text",
    ),
    ("sms", {"Content-Type": "application/json"}, b'{"text": "hello"}', 422, "sender"),
    ("web", {"Content-Type": "application/json"}, b"[1, 2]", 422, "JSON object"),
    ("telegram", {"Content-Type": "application/json"}, b"{}", 422, "channel"),
]


@pytest.mark.parametrize(
    ("channel", "headers", "body", "status", "says"),
    BAD_INPUT,
    ids=[f"{c}-{s}-{w.split()[0]}" for c, _, _, s, w in BAD_INPUT],
)
async def test_bad_input_gets_a_4xx_problem_saying_what_is_wrong_and_writes_nothing(
    intake: Intake, channel: str, headers: dict[str, str], body: bytes, status: int, says: str
) -> None:
    response = await intake.client.post(
        f"/v1/channels/{channel}", content=body, headers={**intake.auth(), **headers}
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert says in response.json()["detail"]
    async with intake.app.state.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM contact") == 0
        assert await conn.fetchval("SELECT count(*) FROM customer") == 0
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0


async def test_keys_are_checked_and_scoped(intake: Intake) -> None:
    payload = {"session_id": "s", "message_id": "m", "text": "hi"}
    missing = await intake.client.post("/v1/channels/chat", json=payload)
    wrong = await intake.client.post("/v1/channels/chat", json=payload, headers=intake.auth("sbk_nope_nope"))
    scope = await intake.client.post("/v1/channels/chat", json=payload, headers=intake.auth(intake.email_only_key))
    token = await intake.client.post("/v1/channels/chat", json=payload, headers=intake.token("agent"))
    assert [r.status_code for r in (missing, wrong, scope, token)] == [401, 401, 403, 403]
    assert "chat" in scope.json()["detail"]


async def test_an_oversize_email_and_attachment_are_refused(intake: Intake) -> None:
    settings = intake.app.state.settings
    big = b"From: a@example.com\r\nSubject: big\r\n\r\n" + b"x" * (settings.max_email_bytes + 1)
    response = await intake.client.post(
        "/v1/channels/email", content=big, headers={**intake.auth(), "Content-Type": "message/rfc822"}
    )
    assert response.status_code == 413 and "limit" in response.json()["detail"]


async def test_personal_data_never_reaches_logs_or_spans(
    intake: Intake, spans: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    spans.clear()
    secret_mail = f"{unique('pii')}@example.com"
    with caplog.at_level(logging.DEBUG):
        accepted = await post(
            intake,
            "web",
            {"email": secret_mail, "phone": "13512345678", "message": "我叫赵六，住在朝阳区幸福路8号"},
        )
    text = caplog.text + json.dumps(
        [dict(s.attributes or {}) for s in spans.get_finished_spans()], ensure_ascii=False, default=str
    )
    assert accepted["contact_id"] in text, "the contact id is logged (it is not personal data)"
    for personal in (secret_mail, "13512345678", "+8613512345678", "赵六", "幸福路"):
        assert personal not in text
    assert uuid.UUID(accepted["contact_id"])


async def test_concurrent_batches_from_the_same_new_customers_all_succeed_with_one_customer_each(
    intake: Intake,
) -> None:
    phones = [f"+86137{n:08d}" for n in range(40)]

    def batch(order: list[str], tag: str) -> dict[str, Any]:
        return {"items": [{"channel": "sms", "payload": {"message_id": f"{tag}-{p}", "sender": {"phone": p},
                                                          "text": "我的话费扣错了"}} for p in order]}  # fmt: skip

    import asyncio

    responses = await asyncio.gather(
        *(
            intake.client.post("/v1/channels/batch", json=batch(order, tag), headers=intake.auth())
            for order, tag in ((phones, "a"), (phones[::-1], "b"), (phones[::2] + phones[1::2], "c"))
        )
    )
    assert [r.status_code for r in responses] == [202, 202, 202], [r.text[:300] for r in responses]
    assert all(r.json()["accepted"] == 40 for r in responses)
    async with intake.app.state.pool.acquire() as conn:
        owners = await conn.fetchval(
            "SELECT count(DISTINCT customer_id) FROM customer_identity WHERE value = ANY($1::text[])", phones
        )
        customers = await conn.fetchval("SELECT count(*) FROM customer")
        messages = await conn.fetchval("SELECT count(*) FROM message")
    assert owners == 40 and customers == 40, "one customer per phone, however the batches interleaved"
    assert messages == 120


async def test_concurrent_first_messages_from_one_new_customer_make_one_customer(intake: Intake) -> None:
    import asyncio

    phone = "+8613312345678"
    responses = await asyncio.gather(
        *(
            intake.client.post(
                "/v1/channels/sms",
                json={"message_id": f"m{n}", "sender": {"phone": phone}, "text": f"message {n}"},
                headers=intake.auth(),
            )
            for n in range(8)
        )
    )
    assert [r.status_code for r in responses] == [202] * 8
    async with intake.app.state.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM customer") == 1
        assert await conn.fetchval("SELECT count(*) FROM message") == 8


async def test_an_adapter_keys_region_or_the_called_number_reads_local_numbers(intake: Intake) -> None:
    from shared.auth import generate_api_key, insert_api_key
    from shared.clock import utcnow

    hong_kong = generate_api_key()
    async with intake.app.state.pool.acquire() as conn:
        await insert_api_key(conn, key=hong_kong, name="hk-sms", channels=["sms"], now=utcnow(), region="HK")
    sms = {"sender": {"phone": "9123 4567"}, "text": "我部電話冇訊號", "message_id": unique()}
    by_key = await post(intake, "sms", sms, Authorization=f"Bearer {hong_kong.key}")
    by_called = await post(intake, "phone", {"call_id": unique(), "ani": "2345 6789", "dnis": "+852 3100 1234"})
    by_default = await post(intake, "sms", {**sms, "message_id": unique()})

    async def phones(accepted: dict[str, Any]) -> list[tuple[str, bool]]:
        async with intake.app.state.pool.acquire() as conn:
            sender = await conn.fetchval(
                "SELECT sender FROM message WHERE message_id = $1", uuid.UUID(accepted["message_id"])
            )
        return [(i["value"], i["valid"]) for i in sender if i["kind"] == "phone"]

    assert await phones(by_key) == [("+85291234567", True)]
    assert await phones(by_called) == [("+85223456789", True)]
    assert await phones(by_default) == [("9123 4567", False)], "read in CN it is no number, and none is made up"
    sup = intake.token("supervisor")
    customer = (await intake.client.get(f"/v1/contacts/{by_key['contact_id']}", headers=sup)).json()
    other = (await intake.client.get(f"/v1/contacts/{by_default['contact_id']}", headers=sup)).json()
    assert customer["customer"]["customer_id"] != other["customer"]["customer_id"]
