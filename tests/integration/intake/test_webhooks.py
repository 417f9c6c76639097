"""Outbound messages as signed webhooks, on the real broker and database, to a real HTTP receiver: delivered
signed, retried on the schedule with the same webhook-id, failed on a refusal, replayed, never twice for a
redelivered message, and nothing lost when the service stops mid-retry or a sender dies mid-attempt."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from services.intake.domain.webhooks import verify
from services.intake.repository import webhooks as repo
from shared.clock import ManualClock, utcnow
from shared.events import OUTBOUND_MESSAGES, OutboundMessageRequestedV1, encode
from shared.kafka import Producer
from tests.integration.intake.conftest import Intake, started, unique
from tests.integration.intake.receiver import Receiver, receiving
from tests.support import TestStack, database_down, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(utcnow())


@pytest.fixture
async def intake_on_clock(test_stack: TestStack, empty_database: str, clock: ManualClock) -> AsyncIterator[Intake]:
    async with started(test_stack, empty_database, clock=clock) as service:
        yield service


async def register(intake: Intake, receiver: Receiver, **extra: Any) -> dict[str, Any]:
    body = {"name": unique("hook-"), "url": receiver.url, "channels": ["chat"], **extra}
    answer = await intake.client.post("/v1/webhooks/endpoints", json=body, headers=intake.token("admin", "root"))
    assert answer.status_code == 201, answer.text
    endpoint: dict[str, Any] = answer.json()
    return endpoint


async def chat_reply(intake: Intake, text: str = "您好，请讲") -> str:
    posted = await intake.client.post(
        "/v1/channels/chat",
        json={"session_id": unique("s-"), "message_id": "1", "text": "在吗"},
        headers=intake.auth(),
    )
    contact_id = posted.json()["contact_id"]
    sent = await intake.client.post(
        f"/v1/contacts/{contact_id}/replies", json={"text": text}, headers=intake.token("supervisor", "S-1")
    )
    assert sent.status_code == 201, sent.text
    reply_id: str = sent.json()["reply_id"]
    return reply_id


async def delivery_of(intake: Intake, message_id: str, endpoint_id: str | None = None) -> dict[str, Any] | None:
    query = {"message_id": message_id, **({"endpoint_id": endpoint_id} if endpoint_id else {})}
    listed = await intake.client.get("/v1/webhooks/deliveries", params=query, headers=intake.token("ops", "ops-1"))
    assert listed.status_code == 200
    rows: list[dict[str, Any]] = listed.json()
    if not rows:
        return None
    shown = await intake.client.get(
        f"/v1/webhooks/deliveries/{rows[0]['delivery_id']}", headers=intake.token("ops", "ops-1")
    )
    detail: dict[str, Any] = shown.json()
    return detail


async def wait_for_state(
    intake: Intake, message_id: str, state: str, *, attempts: int, endpoint_id: str | None = None
) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def reached() -> bool:
        found = await delivery_of(intake, message_id, endpoint_id)
        seen["last"] = found
        if not found or not found["history"]:
            return False
        recorded = found["history"][-1]["attempt"] == attempts  # not merely taken: its answer is kept
        return bool(found["state"] == state and found["attempts"] == attempts and recorded)

    await wait_until(reached, timeout_s=30)
    return seen["last"]  # type: ignore[no-any-return]


async def test_a_reply_reaches_the_receiver_signed_with_the_message_id_as_webhook_id(intake: Intake) -> None:
    with receiving() as receiver:
        endpoint = await register(intake, receiver)
        reply_id = await chat_reply(intake)
        done = await wait_for_state(intake, reply_id, "succeeded", attempts=1)

    [request] = [r for r in receiver.received if r.headers["webhook-id"] == reply_id]
    assert verify(
        endpoint["secret"], reply_id, int(request.headers["webhook-timestamp"]), request.body,
        request.headers["webhook-signature"],
    )  # fmt: skip
    envelope = json.loads(request.body)
    assert envelope["type"] == "switchboard.outbound.message.requested.v1"
    assert envelope["data"]["message_id"] == reply_id and envelope["data"]["text"] == "您好，请讲"
    assert [a["status"] for a in done["history"]] == [200]
    listed = await intake.client.get("/v1/webhooks/endpoints", headers=intake.token("ops", "ops-1"))
    assert listed.status_code == 200 and "secret" not in listed.json()[0]
    metrics = (await intake.client.get("/metrics")).text
    assert 'switchboard_intake_webhook_attempts_total{state="succeeded"} 1.0' in metrics


async def test_a_503_is_retried_on_the_schedule_with_the_same_webhook_id(
    intake_on_clock: Intake, clock: ManualClock
) -> None:
    intake = intake_on_clock
    with receiving([503]) as receiver:
        await register(intake, receiver)
        reply_id = await chat_reply(intake)
        waiting = await wait_for_state(intake, reply_id, "pending", attempts=1)
        assert waiting["last_status"] == 503
        due_in = (datetime.fromisoformat(waiting["next_attempt_at"]) - clock.now()).total_seconds()
        assert 4.5 <= due_in <= 5.5  # the first wait: 5 s ± 10 %
        clock.advance(timedelta(seconds=4))
        assert (await delivery_of(intake, reply_id) or {})["attempts"] == 1  # not due yet
        clock.advance(timedelta(seconds=2))
        done = await wait_for_state(intake, reply_id, "succeeded", attempts=2)
    assert receiver.ids().count(reply_id) == 2
    assert [a["status"] for a in done["history"]] == [503, 200]


async def test_a_refusal_fails_the_delivery_until_it_is_replayed(intake: Intake) -> None:
    ops = intake.token("ops", "ops-1")
    with receiving([400]) as receiver:
        await register(intake, receiver)
        since = utcnow().isoformat()
        reply_id = await chat_reply(intake)
        failed = await wait_for_state(intake, reply_id, "failed", attempts=1)
        assert failed["last_status"] == 400 and failed["history"][0]["response"] == '{"ok": false}'

        again = await intake.client.post(f"/v1/webhooks/deliveries/{failed['delivery_id']}/replay", headers=ops)
        assert again.status_code == 202 and again.json() == {"replayed": 1}
        await wait_for_state(intake, reply_id, "succeeded", attempts=2)
        assert receiver.ids().count(reply_id) == 2

        nothing = await intake.client.post("/v1/webhooks/deliveries/replay", json={"since": since}, headers=ops)
        assert nothing.json() == {"replayed": 0}  # it succeeded: no failed delivery since then
        every = await intake.client.post(
            "/v1/webhooks/deliveries/replay", json={"since": since, "state": "succeeded"}, headers=ops
        )
        assert every.json()["replayed"] >= 1
        await wait_for_state(intake, reply_id, "succeeded", attempts=3)
    missing = await intake.client.post(f"/v1/webhooks/deliveries/{uuid.uuid4()}/replay", headers=ops)
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"


async def test_410_gone_disables_the_endpoint_and_it_takes_no_more_deliveries(intake: Intake) -> None:
    with receiving([410]) as gone, receiving() as other:
        endpoint = await register(intake, gone)
        first = await chat_reply(intake)
        await wait_for_state(intake, first, "failed", attempts=1)
        endpoints = await intake.client.get("/v1/webhooks/endpoints", headers=intake.token("admin", "root"))
        [shown] = [e for e in endpoints.json() if e["endpoint_id"] == endpoint["endpoint_id"]]
        assert shown["enabled"] is False and shown["disabled_reason"] == "410 Gone"
        witness = await register(intake, other)  # its delivery says the consumer has handled the message
        second = await chat_reply(intake)
        await wait_for_state(intake, second, "succeeded", attempts=1)
        ops = intake.token("ops", "ops-1")
        listed = await intake.client.get("/v1/webhooks/deliveries", params={"message_id": second}, headers=ops)
        rows = listed.json()
        assert [r["endpoint_id"] for r in rows] == [witness["endpoint_id"]]
        assert gone.ids() == [first]


async def test_a_slow_receiver_holds_up_only_its_own_deliveries(intake: Intake) -> None:
    with receiving() as slow, receiving() as quick:
        slow.gate.clear()  # it takes the request and does not answer until the gate opens
        held = await register(intake, slow)
        prompt = await register(intake, quick)
        reply_id = await chat_reply(intake)
        await wait_for_state(intake, reply_id, "succeeded", attempts=1, endpoint_id=prompt["endpoint_id"])
        assert slow.ids() == [reply_id]  # sent, still unanswered
        waiting = await delivery_of(intake, reply_id, held["endpoint_id"])
        assert waiting is not None and waiting["state"] == "pending" and waiting["history"] == []
        slow.gate.set()
        await wait_for_state(intake, reply_id, "succeeded", attempts=1, endpoint_id=held["endpoint_id"])


async def test_a_redelivered_or_re_requested_message_is_delivered_once(intake: Intake) -> None:
    with receiving() as receiver:
        await register(intake, receiver)
        message_id, contact_id = uuid.uuid4(), uuid.uuid4()
        requested = OutboundMessageRequestedV1(
            message_id=message_id, contact_id=contact_id, channel="chat", recipient="s-1", template="agent_reply",
            language="zh-Hans", kind="reply", origin="intake", text="好的",
        )  # fmt: skip
        sentinel = requested.model_copy(update={"message_id": uuid.uuid4()})
        first = encode(requested, source="switchboard/intake", subject=str(contact_id), time=utcnow())
        again = encode(requested, source="switchboard/intake", subject=str(contact_id), time=utcnow())
        last = encode(sentinel, source="switchboard/intake", subject=str(contact_id), time=utcnow())
        producer = Producer(intake.app.state.runtime.settings)
        await producer.start()
        try:
            for message in (first, first, again, last):  # the same event twice, then a new event of the same id
                await producer.send_raw(
                    OUTBOUND_MESSAGES.name, key=message.key, value=message.value, headers=message.headers
                )
        finally:
            await producer.stop()
        await wait_for_state(intake, str(sentinel.message_id), "succeeded", attempts=1)  # same partition, after
        done = await wait_for_state(intake, str(message_id), "succeeded", attempts=1)
    assert receiver.ids().count(str(message_id)) == 1 and len(done["history"]) == 1


async def test_nothing_is_lost_when_the_service_stops_mid_retry_or_a_sender_dies_mid_attempt(
    test_stack: TestStack, empty_database: str, clock: ManualClock
) -> None:
    with receiving([503]) as receiver:
        async with started(test_stack, empty_database, clock=clock) as intake:
            await register(intake, receiver)
            retried = await chat_reply(intake, "第一条")
            await wait_for_state(intake, retried, "pending", attempts=1)
            intake.state.webhooks.stop()  # this instance sends no more
            taken = await chat_reply(intake, "第二条")

            async def recorded() -> bool:
                return await delivery_of(intake, taken) is not None

            await wait_until(recorded, timeout_s=30)
            async with intake.app.state.pool.acquire() as conn:  # another sender takes it, then dies
                lease = clock.now() + timedelta(minutes=1)
                claimed = await repo.claim_due(conn, now=clock.now(), lease_until=lease, limit=10)
            assert str(claimed[0].message_id) == taken and len(claimed) == 1
        clock.advance(timedelta(minutes=2))  # past the retry's wait and the dead sender's lease
        async with started(test_stack, empty_database, clock=clock) as intake:
            first = await wait_for_state(intake, retried, "succeeded", attempts=2)
            second = await wait_for_state(intake, taken, "succeeded", attempts=2)
    assert receiver.ids().count(retried) == 2 and receiver.ids().count(taken) == 1
    assert [a["status"] for a in first["history"]] == [503, 200]
    assert [a["attempt"] for a in second["history"]] == [2]  # attempt 1 died with its sender: no answer kept


async def test_a_retry_due_while_the_database_is_down_goes_out_once_it_is_back(
    test_stack: TestStack, intake_on_clock: Intake, clock: ManualClock
) -> None:
    intake = intake_on_clock
    sender = intake.state.webhooks
    with receiving([503]) as receiver:
        await register(intake, receiver)
        reply_id = await chat_reply(intake)
        await wait_for_state(intake, reply_id, "pending", attempts=1)
        async with database_down(test_stack):
            clock.advance(timedelta(seconds=6))  # the retry falls due while PostgreSQL is away
            await wait_until(lambda: sender.trouble() is not None, timeout_s=30)
            assert receiver.ids() == [reply_id]
        done = await wait_for_state(intake, reply_id, "succeeded", attempts=2)
        assert sender.trouble() is None
    assert receiver.ids() == [reply_id, reply_id]
    assert [a["status"] for a in done["history"]] == [503, 200]


async def test_an_adapter_key_sees_and_replays_only_the_deliveries_of_its_channels(intake: Intake) -> None:
    with receiving([400]) as receiver:
        await register(intake, receiver)
        reply_id = await chat_reply(intake)
        failed = await wait_for_state(intake, reply_id, "failed", attempts=1)
        mine, not_mine = intake.auth(), intake.auth(intake.email_only_key)  # every channel; e-mail only
        path = f"/v1/webhooks/deliveries/{failed['delivery_id']}"
        assert (await intake.client.get(path, headers=not_mine)).status_code == 404
        query = {"message_id": reply_id}
        listed = await intake.client.get("/v1/webhooks/deliveries", params=query, headers=not_mine)
        assert listed.status_code == 200 and listed.json() == []
        assert (await intake.client.post(path + "/replay", headers=not_mine)).status_code == 404
        since = {"since": failed["created_at"]}
        none = await intake.client.post("/v1/webhooks/deliveries/replay", json=since, headers=not_mine)
        assert none.json() == {"replayed": 0}

        shown = await intake.client.get(path, headers=mine)
        assert shown.status_code == 200 and shown.json()["history"][0]["status"] == 400
        replayed = await intake.client.post(path + "/replay", headers=mine)
        assert replayed.status_code == 202
        await wait_for_state(intake, reply_id, "succeeded", attempts=2)
