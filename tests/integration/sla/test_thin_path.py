"""The thin path on the real broker: contact.received starts clocks from the seeded policies, work.assigned meets
the first response, and a clock left running announces its warning and breach through the outbox once."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from shared.clock import utcnow
from tests.integration.sla.conftest import Sla, contact_received, types_of, work_assigned

pytestmark = pytest.mark.integration


async def test_a_received_chat_starts_its_clocks_and_an_accepted_offer_meets_the_first_response(sla: Sla) -> None:
    received = contact_received(channel="chat", grade="basic", received_at=utcnow())
    await sla.publish(received)
    view = await sla.wait_for_contact(received.contact_id, lambda v: len(v["clocks"]) >= 3)
    clocks = {c["clock"]: c for c in view["clocks"]}
    assert set(clocks) == {"answer", "first_response", "formal_response"}
    assert clocks["first_response"]["target"] == {"amount": 30.0, "unit": "minutes", "seconds": 1800.0}
    assert clocks["answer"]["target"]["seconds"] == 60.0, "chat queue target: 60 s"
    assert all(c["state"] == "running" for c in clocks.values())

    assigned_at = received.received_at + timedelta(minutes=3)
    assigned_id = await sla.publish(work_assigned(received.contact_id, assigned_at))
    view = await sla.wait_for_contact(
        received.contact_id, lambda v: {c["clock"]: c["state"] for c in v["clocks"]}["first_response"] == "met"
    )
    first = next(c for c in view["clocks"] if c["clock"] == "first_response")
    assert first["elapsed_s"] == pytest.approx(180.0)
    assert first["upcoming"] == [], "a met clock has nothing left to fire"
    met = next(t for t in view["history"] if t["clock"] == "first_response" and t["action"] == "met")
    assert met["cause"] == "switchboard.work.assigned.v1" and met["cause_event_id"] == str(assigned_id)
    answer = next(c for c in view["clocks"] if c["clock"] == "answer")
    assert answer["state"] == "missed", "accepted after 3 minutes: the 60 s queue target was missed"

    await sla.fire(received.received_at + timedelta(days=3))
    published = types_of(await sla.published(received.contact_id), "first_response")
    assert published == ["clock_started", "met"]


async def test_a_clock_left_running_warns_then_breaches_through_the_outbox_exactly_once(sla: Sla) -> None:
    received = contact_received(channel="sms", grade="basic", received_at=utcnow())
    await sla.publish(received)
    view = await sla.wait_for_contact(received.contact_id, lambda v: len(v["clocks"]) == 2)
    first = next(c for c in view["clocks"] if c["clock"] == "first_response")
    assert [(d["alert"], datetime.fromisoformat(d["due_at"])) for d in first["upcoming"]][:2] == [
        ("warning", received.received_at + timedelta(minutes=24)),
        ("breach", received.received_at + timedelta(minutes=30)),
    ]

    start = received.received_at
    assert await sla.fire(start + timedelta(minutes=23)) == 0
    assert await sla.fire(start + timedelta(minutes=24, seconds=1)) == 1
    assert await sla.fire(start + timedelta(minutes=24, seconds=1)) == 0, "the same moment fires once"
    assert await sla.fire(start + timedelta(minutes=30, seconds=1)) == 2, "breach, and level 1 at breach"
    assert await sla.fire(start + timedelta(minutes=30, seconds=2)) == 0

    published = types_of(await sla.published(received.contact_id), "first_response")
    assert published == ["clock_started", "warning", "breached", "escalated:1"]
    view = await sla.contact(received.contact_id)
    first = next(c for c in view["clocks"] if c["clock"] == "first_response")
    assert first["breached_at"] is not None
    assert [f["alert"] for f in first["fired"]] == ["warning", "breach", "escalation:1"]
    assert [d["alert"] for d in first["upcoming"]] == ["escalation:2", "escalation:3"]
