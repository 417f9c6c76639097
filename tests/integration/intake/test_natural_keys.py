"""A message without an id: its sender and words name a retry only within the natural-key window, and words
alone (no identity) never name anything — two people may type the same thing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.clock import ManualClock
from tests.integration.intake.conftest import Intake, started, unique
from tests.integration.intake.test_every_channel import post
from tests.support import TestStack

pytestmark = pytest.mark.integration

BOUNDARY = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)
"""A multiple of the default five-minute window since the epoch: posts either side fall in different periods."""
WINDOW = timedelta(minutes=5)


@pytest.fixture
async def timed(test_stack: TestStack, service_database: str) -> AsyncIterator[tuple[Intake, ManualClock]]:
    clock = ManualClock(BOUNDARY - timedelta(seconds=10))
    async with started(test_stack, service_database, clock=clock) as service:
        yield service, clock


async def stored(intake: Intake, text: str) -> int:
    async with intake.app.state.pool.acquire() as conn:
        count: int = await conn.fetchval("SELECT count(*) FROM message WHERE text = $1", text)
    return count


async def customer_of(intake: Intake, contact_id: str) -> str:
    response = await intake.client.get(f"/v1/contacts/{contact_id}", headers=intake.auth())
    customer: str = response.json()["customer"]["customer_id"]
    return customer


async def test_a_customer_who_writes_the_same_words_days_later_is_heard_but_a_retry_is_a_duplicate(
    timed: tuple[Intake, ManualClock],
) -> None:
    intake, clock = timed
    sms = {"sender": {"phone": "+86 139 0013 9000"}, "text": "还是不行"}
    first = await post(intake, "sms", sms)
    clock.advance(timedelta(seconds=20))  # the retry falls in the next period
    retry = await post(intake, "sms", sms)
    clock.advance(timedelta(days=3))
    later = await post(intake, "sms", sms)

    assert first["outcome"] == "created"
    assert retry == {**first, "outcome": "duplicate"}
    assert later["outcome"] == "created" and later["contact_id"] != first["contact_id"]
    assert await stored(intake, "还是不行") == 2


async def test_the_window_is_exact_on_either_side_of_a_period_boundary(timed: tuple[Intake, ManualClock]) -> None:
    intake, clock = timed
    start = clock.now()
    sms = {"sender": {"phone": "+86 137 0013 7000"}, "text": "宽带又断了"}
    first = await post(intake, "sms", sms)
    clock.advance(WINDOW - timedelta(seconds=1))
    last_retry = await post(intake, "sms", sms)
    clock.advance(timedelta(seconds=2))
    written_again = await post(intake, "sms", sms)

    assert start < BOUNDARY < start + WINDOW, "the first post and its last retry lie in different periods"
    assert (last_retry["outcome"], last_retry["message_id"]) == ("duplicate", first["message_id"])
    assert written_again["outcome"] == "threaded", "a new message, on the customer's open SMS contact"
    assert written_again["message_id"] != first["message_id"]
    assert await stored(intake, "宽带又断了") == 2


async def test_two_walk_ins_without_an_identity_who_type_the_same_words_are_two_contacts(intake: Intake) -> None:
    words = {"text": f"我的银行卡被柜员机吞了 {unique()}"}
    first = await post(intake, "onsite", words)
    second = await post(intake, "onsite", words)
    key = {"Idempotency-Key": unique("kiosk-")}
    keyed = await post(intake, "onsite", words, **key)
    keyed_retry = await post(intake, "onsite", words, **key)

    assert (first["outcome"], second["outcome"], keyed["outcome"]) == ("created", "created", "created")
    assert len({first["contact_id"], second["contact_id"], keyed["contact_id"]}) == 3
    assert await customer_of(intake, first["contact_id"]) != await customer_of(intake, second["contact_id"])
    assert keyed_retry == {**keyed, "outcome": "duplicate"}, "an Idempotency-Key still recognises a retry"


async def test_anonymous_forms_and_emails_with_the_same_words_are_not_merged(intake: Intake) -> None:
    form = {"form_id": "contact-us", "message": f"页面一直转圈 {unique()}"}
    forms = [await post(intake, "web", form) for _ in range(2)]
    text = f"I cannot log in {unique()}"
    emails = [
        await post(intake, "email", {"from": {"address": f"{who}@example.com"}, "subject": "Login", "text": text})
        for who in (unique("a"), unique("b"))
    ]
    assert [f["outcome"] for f in forms] == ["created", "created"]
    assert forms[0]["contact_id"] != forms[1]["contact_id"]
    assert [e["outcome"] for e in emails] == ["created", "created"], "two senders, same words: two messages"
    assert await customer_of(intake, emails[0]["contact_id"]) != await customer_of(intake, emails[1]["contact_id"])


async def test_a_batch_keeps_a_senders_retry_and_two_anonymous_posts_apart(intake: Intake) -> None:
    phone, anonymous = "+86 135 0013 5000", {"text": f"排队太久了 {unique()}"}
    sms = {"sender": {"phone": phone}, "text": f"查一下话费 {unique()}"}
    items: list[dict[str, Any]] = [
        {"channel": "onsite", "payload": anonymous},
        {"channel": "sms", "payload": sms},
        {"channel": "onsite", "payload": anonymous},
        {"channel": "sms", "payload": sms},
    ]
    response = await intake.client.post("/v1/channels/batch", headers=intake.auth(), json={"items": items})
    assert response.status_code == 202, response.text
    results = response.json()["results"]
    assert [r["outcome"] for r in results] == ["created", "created", "created", "duplicate"]
    assert results[0]["contact_id"] != results[2]["contact_id"]
    assert results[3]["message_id"] == results[1]["message_id"]
    assert uuid.UUID(results[3]["contact_id"]) == uuid.UUID(results[1]["contact_id"])
