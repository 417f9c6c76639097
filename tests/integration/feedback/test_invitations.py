"""Durable invitations on the real broker and database: restarts, replays, reopen-cancels, expiry, chat."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

import pytest

from services.feedback.handlers import handle, on_work_reopened, on_work_resolved
from services.feedback.scheduler import fire_due
from shared.clock import ManualClock
from shared.db import Conn
from shared.events import CustomerMergedV1, CustomerRef, CustomerUnmergedV1, Event, decode, encode
from shared.inbox import idempotent, lock_subjects
from shared.kafka import Delivery, Producer, Record
from shared.tx import Tx
from tests.integration.feedback.conftest import Feedback, feedback_settings, resolve, started
from tests.support import TestStack, wait_until
from tests.unit.feedback.builders import T0, make_contact_received, make_work_reopened, make_work_resolved

pytestmark = pytest.mark.integration


async def test_a_restart_neither_loses_nor_repeats_an_invitation(
    test_stack: TestStack, service_database: str, producer: Producer
) -> None:
    settings = feedback_settings(test_stack, service_database)
    clock = ManualClock(T0)
    contact = make_contact_received()
    resolved = make_work_resolved(contact)
    async with started(settings, clock, producer) as first:
        await first.publish(contact, source="switchboard/intake")
        await first.publish(resolved, source="switchboard/routing")
        await first.publish(resolved, source="switchboard/routing")  # routing replayed it (a new event id)
        await first.wait_for_invitation(contact.contact_id, lambda s: s == "scheduled")
    # The process went away with the invitation still waiting; a new one takes over the same database.
    async with started(settings, clock, producer) as second:
        due = clock.now() + timedelta(minutes=10)
        sent_once = await fire_due(second.pool, now=due, links=second.links)
        sent_again = await fire_due(second.pool, now=due, links=second.links)
        assert (sent_once["sent"], sent_again["sent"]) == (1, 0)
        await second.feedback_events(contact.contact_id, "switchboard.survey.sent.v1")
        messages = await second.outbound(contact.contact_id)
        rows = await second.pool.fetch("SELECT status FROM invitation WHERE contact_id = $1", contact.contact_id)
    assert len(messages) == 1
    assert [r["status"] for r in rows] == ["sent"]


async def test_reopening_before_sending_cancels_the_invitation(live_feedback: Feedback) -> None:
    feedback = live_feedback
    contact = make_contact_received()
    await feedback.publish(contact, source="switchboard/intake")
    await feedback.publish(make_work_resolved(contact), source="switchboard/routing")
    await feedback.wait_for_invitation(contact.contact_id, lambda s: s == "scheduled")
    feedback.clock.advance(timedelta(minutes=5))
    await feedback.publish(make_work_reopened(contact), source="switchboard/routing")
    await feedback.wait_for_invitation(contact.contact_id, lambda s: s == "cancelled")

    outcome = await fire_due(feedback.pool, now=feedback.clock.now() + timedelta(hours=1), links=feedback.links)
    assert outcome["sent"] == 0
    [cancelled] = await feedback.feedback_events(contact.contact_id, "switchboard.survey.cancelled.v1")
    assert cancelled["data"]["reason"] == "reopened"


async def test_the_next_resolution_after_a_reopen_is_surveyed_and_the_cancelled_one_does_not_count_against_the_cap(
    feedback: Feedback,
) -> None:
    contact = make_contact_received()
    now = feedback.clock.now()
    await resolve(feedback, contact, make_work_resolved(contact, resolved_at=now))
    async with feedback.pool.acquire() as conn, conn.transaction():
        await on_work_reopened(Tx(conn=conn, now=now + timedelta(minutes=2)), make_work_reopened(contact))
        await on_work_resolved(
            Tx(conn=conn, now=now + timedelta(hours=2)),
            make_work_resolved(contact, resolved_at=now + timedelta(hours=2)),
        )
    rows = await feedback.pool.fetch(
        "SELECT status, reason FROM invitation WHERE contact_id = $1 ORDER BY resolved_at", contact.contact_id
    )
    assert [(r["status"], r["reason"]) for r in rows] == [("cancelled", "reopened"), ("scheduled", None)]


async def test_a_second_contact_of_the_same_customer_within_seven_days_is_not_surveyed(feedback: Feedback) -> None:
    first = make_contact_received()
    second = make_contact_received(customer=first.customer)
    now = feedback.clock.now()
    await resolve(feedback, first, make_work_resolved(first, resolved_at=now))
    assert (await fire_due(feedback.pool, now=now + timedelta(minutes=10), links=feedback.links))["sent"] == 1
    await resolve(feedback, second, make_work_resolved(second, resolved_at=now + timedelta(days=6)))
    status = await feedback.pool.fetchrow(
        "SELECT status, reason FROM invitation WHERE contact_id = $1", second.contact_id
    )
    assert status is not None and (status["status"], status["reason"]) == ("skipped", "frequency_cap")


async def test_an_sms_invitation_due_at_night_waits_for_the_morning(feedback: Feedback) -> None:
    contact = make_contact_received()
    # 13:00 UTC is 21:00 in Shanghai.
    night = feedback.clock.now().replace(hour=13, minute=0)
    await resolve(feedback, contact, make_work_resolved(contact, resolved_at=night))
    assert (await fire_due(feedback.pool, now=night + timedelta(hours=10), links=feedback.links))["sent"] == 0
    morning = night + timedelta(hours=11)  # 08:00 in Shanghai
    assert (await fire_due(feedback.pool, now=morning, links=feedback.links))["sent"] == 1


async def test_an_unanswered_invitation_expires_after_72_hours(feedback: Feedback) -> None:
    contact = make_contact_received()
    now = feedback.clock.now()
    await resolve(feedback, contact, make_work_resolved(contact, resolved_at=now))
    await fire_due(feedback.pool, now=now + timedelta(minutes=10), links=feedback.links)
    almost = await fire_due(feedback.pool, now=now + timedelta(minutes=10, hours=71), links=feedback.links)
    lapsed = await fire_due(feedback.pool, now=now + timedelta(minutes=10, hours=72), links=feedback.links)
    assert (almost["expired"], lapsed["expired"]) == (0, 1)
    await feedback.feedback_events(contact.contact_id, "switchboard.survey.expired.v1")


async def test_chat_gets_the_questions_inline_at_once(feedback: Feedback) -> None:
    contact = make_contact_received(channel="chat", language="zh-TW")
    now = feedback.clock.now()
    await resolve(feedback, contact, make_work_resolved(contact, resolved_at=now, customer_notified=True))
    assert (await fire_due(feedback.pool, now=now, links=feedback.links))["sent"] == 1
    [message] = await feedback.outbound(contact.contact_id)
    data = message["data"]
    assert (data["channel"], data["recipient"], data["template"], data["language"]) == (
        "chat", "chat-1", "survey.invitation.chat", "zh-Hant",
    )  # fmt: skip
    questions = json.loads(data["variables"]["questions"])
    assert [q["key"] for q in questions] == ["csat", "solved", "nps", "comment"]
    assert questions[0]["options"][0] == {"value": 5, "label": "非常滿意"}
    assert "link" not in data["variables"]


async def test_a_resolution_seen_before_its_contact_is_planned_when_the_contact_arrives(
    feedback: Feedback,
) -> None:
    contact = make_contact_received(channel="email")
    async with feedback.pool.acquire() as conn, conn.transaction():
        await on_work_resolved(Tx(conn=conn, now=feedback.clock.now()), make_work_resolved(contact))
    assert (
        await feedback.pool.fetchval("SELECT status FROM invitation WHERE contact_id = $1", contact.contact_id)
        == "waiting_contact"
    )
    await resolve(feedback, contact, make_work_resolved(contact))  # the same resolution again, plus the contact
    rows = await feedback.pool.fetch(
        "SELECT status, invite_channel, due_at - resolved_at AS delay FROM invitation WHERE contact_id = $1",
        contact.contact_id,
    )
    assert [(r["status"], r["invite_channel"], r["delay"]) for r in rows] == [
        ("scheduled", "email", timedelta(hours=1))
    ]


async def test_surveys_of_a_merged_customer_count_against_the_cap_until_they_are_unmerged(
    feedback: Feedback,
) -> None:
    before = make_contact_received()
    now = feedback.clock.now()
    await resolve(feedback, before, make_work_resolved(before, resolved_at=now))
    assert (await fire_due(feedback.pool, now=now + timedelta(minutes=10), links=feedback.links))["sent"] == 1
    surviving = CustomerRef(customer_id=uuid.uuid4(), grade="key")
    merge = CustomerMergedV1(
        surviving_customer_id=surviving.customer_id, merged_customer_id=before.customer.customer_id, by="admin-1",
        reason="same person: phone and e-mail identities",
    )  # fmt: skip
    async with feedback.pool.acquire() as conn, conn.transaction():
        await handle(Tx(conn=conn, now=now), delivery_of(merge).decoded.event)
    same_person = make_contact_received(customer=surviving)
    await resolve(feedback, same_person, make_work_resolved(same_person, resolved_at=now + timedelta(days=2)))
    capped = await feedback.pool.fetchval(
        "SELECT reason FROM invitation WHERE contact_id = $1", same_person.contact_id
    )
    assert capped == "frequency_cap"

    unmerge = CustomerUnmergedV1(**merge.model_dump())
    async with feedback.pool.acquire() as conn, conn.transaction():
        await handle(Tx(conn=conn, now=now), delivery_of(unmerge).decoded.event)
    later = make_contact_received(customer=surviving)
    await resolve(feedback, later, make_work_resolved(later, resolved_at=now + timedelta(days=3)))
    status = await feedback.pool.fetchval("SELECT status FROM invitation WHERE contact_id = $1", later.contact_id)
    assert status == "scheduled"


def delivery_of(event: Event) -> Delivery:
    message = encode(event, source="switchboard/intake", subject="customers", time=T0)
    record = Record("intake.contacts", 0, 0, message.key, message.value, message.headers, 0)
    return Delivery(record, decode(message.value))


async def test_a_resolution_and_its_contact_handled_at_the_same_time_never_miss_each_other(
    feedback: Feedback,
) -> None:
    """The consumer handles partitions concurrently (and several instances split them): one contact's events
    take turns, so a resolution stored while its contact is being handled is planned, not left waiting."""
    contact = make_contact_received()
    resolved = make_work_resolved(contact, resolved_at=feedback.clock.now())
    now = feedback.clock.now()

    def delivery(event: Event) -> Delivery:
        message = encode(event, source="switchboard/tests", subject=str(contact.contact_id), time=now)
        record = Record("t", 0, 0, message.key, message.value, message.headers, 0)
        return Delivery(record, decode(message.value))

    async def handle_now(conn: Conn, d: Delivery) -> None:
        await handle(Tx(conn=conn, now=now), d.decoded.event)

    consumer = idempotent(feedback.pool, "feedback", handle_now, feedback.clock.now)
    async with feedback.pool.acquire() as first:
        resolution = first.transaction()
        await resolution.start()
        # The resolution's handling, held open: stored as waiting, since the contact is not known yet.
        await lock_subjects(first, [str(contact.contact_id)])
        await handle(Tx(conn=first, now=now), delivery(resolved).decoded.event)

        async def handle_contact() -> None:
            await consumer(delivery(contact))

        contact_task = asyncio.create_task(handle_contact())

        async def waiting_for_a_lock() -> bool:
            waiting = await feedback.pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            return bool(waiting >= 1)

        await wait_until(waiting_for_a_lock, timeout_s=10)
        assert not contact_task.done(), "the contact's handling waits for the resolution's transaction"
        await resolution.commit()
        await asyncio.wait_for(contact_task, 10)
    status = await feedback.pool.fetchval(
        "SELECT status FROM invitation WHERE contact_id = $1", contact.contact_id
    )
    assert status == "scheduled"
