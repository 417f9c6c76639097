"""A contact's clocks as events arrive in any order, milestones people record, and the supervisors' figures."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from shared.clock import utcnow
from shared.events import (
    ContactMessageAddedV1,
    FeedbackFollowupRequiredV1,
    OutboundDeliveryReportedV1,
    WorkPendingV1,
    WorkReopenedV1,
    WorkResolvedV1,
)
from tests.integration.sla.conftest import Sla, contact_received, token, work_assigned

pytestmark = pytest.mark.integration

SUPERVISOR = {"Authorization": f"Bearer {token('supervisor', 'S-1')}"}


def clock(view: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in view["clocks"] if c["clock"] == name)
    return found


async def test_an_assignment_that_overtakes_contact_received_is_applied_once_the_contact_arrives(sla: Sla) -> None:
    t = utcnow() - timedelta(minutes=5)
    received = contact_received(channel="phone", received_at=t)
    assigned_id = await sla.publish(work_assigned(received.contact_id, t + timedelta(seconds=12)))
    await sla.wait_for_contact(received.contact_id, lambda v: v["waiting_events"] == 1)
    await sla.publish(received)
    view = await sla.wait_for_contact(received.contact_id, lambda v: v["waiting_events"] == 0 and v["clocks"])
    assert clock(view, "answer")["state"] == "met", "answered in 12 s of the 20 s target"
    assert clock(view, "first_response")["state"] == "met"
    met = next(h for h in view["history"] if h["clock"] == "first_response" and h["action"] == "met")
    assert met["cause_event_id"] == str(assigned_id) and met["elapsed_s"] == pytest.approx(12.0)
    assert view["agent_id"] == "A-1"


async def test_a_customer_reply_resumes_a_paused_clock(sla: Sla) -> None:
    t = utcnow() - timedelta(minutes=30)
    received = contact_received(channel="sms", received_at=t)
    await sla.publish(received)
    await sla.wait_for_contact(received.contact_id, lambda v: len(v["clocks"]) == 2)
    await sla.publish(
        WorkPendingV1(
            work_id=uuid.uuid4(),
            contact_id=received.contact_id,
            pending_on="customer",
            at=t + timedelta(minutes=1),
        )
    )
    await sla.wait_for_contact(received.contact_id, lambda v: clock(v, "formal_response")["state"] == "paused")
    reply = ContactMessageAddedV1(
        contact_id=received.contact_id,
        message_id=uuid.uuid4(),
        channel="sms",
        from_customer=True,
        text="好的,附件已发",
        received_at=t + timedelta(minutes=21),
    )
    reply_id = await sla.publish(reply)
    view = await sla.wait_for_contact(
        received.contact_id, lambda v: clock(v, "formal_response")["state"] == "running"
    )
    formal = clock(view, "formal_response")
    assert formal["paused_s"] == pytest.approx(20 * 60)
    resumed = [h for h in view["history"] if h["action"] == "resumed"]
    assert {h["cause_event_id"] for h in resumed} == {str(reply_id)}
    assert resumed[0]["detail"] == {"reason": "customer replied"}


async def test_a_reopened_complaint_resumes_its_resolution_clock_with_the_time_already_spent(sla: Sla) -> None:
    t = utcnow() - timedelta(hours=2)
    received = contact_received(channel="phone", category="complaint", received_at=t)
    await sla.publish(received)
    await sla.wait_for_contact(received.contact_id, lambda v: len(v["clocks"]) == 5)
    work = uuid.uuid4()
    await sla.publish(
        WorkResolvedV1(
            work_id=work,
            contact_id=received.contact_id,
            agent_id="A-1",
            resolution_code="refund",
            fcr=True,
            customer_notified=True,
            resolved_at=t + timedelta(hours=1),
        )
    )
    await sla.wait_for_contact(received.contact_id, lambda v: clock(v, "complaint_resolution")["state"] == "met")
    await sla.publish(
        WorkReopenedV1(
            work_id=work, contact_id=received.contact_id, reason="not solved", at=t + timedelta(hours=1.5)
        )
    )
    view = await sla.wait_for_contact(
        received.contact_id, lambda v: clock(v, "complaint_resolution")["state"] == "running"
    )
    assert clock(view, "first_response")["state"] in ("met", "missed"), "response clocks do not reopen"
    events = await sla.published(received.contact_id)
    resolution = [e["type"].split(".")[2] for e in events if e["data"].get("clock") == "complaint_resolution"]
    assert resolution == ["clock_started", "met", "clock_resumed"]


async def test_a_low_score_follow_up_starts_the_24_hour_follow_up_clock(sla: Sla) -> None:
    received = contact_received(channel="chat")
    await sla.publish(received)
    await sla.wait_for_contact(received.contact_id, lambda v: len(v["clocks"]) == 3)
    await sla.publish(
        FeedbackFollowupRequiredV1(
            contact_id=received.contact_id,
            customer_id=received.customer.customer_id,
            reason="csat",
            scores={"csat": 1},
        )
    )
    view = await sla.wait_for_contact(received.contact_id, lambda v: len(v["clocks"]) == 4)
    assert clock(view, "follow_up")["target"]["seconds"] == 24 * 3600
    assert clock(view, "follow_up")["state"] == "running"


async def test_supervisors_record_milestones_no_event_carries(sla: Sla) -> None:
    received = contact_received(channel="phone", priority_class="urgent", category="data_leak")
    await sla.publish(received)
    await sla.wait_for_contact(received.contact_id, lambda v: len(v["clocks"]) == 7)
    url = f"/v1/sla/contacts/{received.contact_id}/milestones"
    done = await sla.client.post(url, json={"milestone": "regulator_reported"}, headers=SUPERVISOR)
    assert done.status_code == 200, done.text
    assert done.json()["stopped"] == ["regulator_report"]
    again = await sla.client.post(url, json={"milestone": "regulator_reported"}, headers=SUPERVISOR)
    assert again.status_code == 409
    agent = {"Authorization": f"Bearer {token('agent')}"}
    assert (await sla.client.post(url, json={"milestone": "review_completed"}, headers=agent)).status_code == 403
    view = await sla.contact(received.contact_id)
    assert clock(view, "regulator_report")["state"] == "met"
    stop = next(h for h in view["history"] if h["clock"] == "regulator_report" and h["action"] == "met")
    assert stop["cause"] == "api:S-1"


async def test_attainment_of_a_period_at_the_calendars_edge_is_the_callers_error(sla: Sla) -> None:
    response = await sla.client.get(
        "/v1/sla/attainment", params={"until": "0001-01-05T00:00:00Z"}, headers=SUPERVISOR
    )
    assert response.status_code == 422, response.text
    assert response.json()["type"].endswith("#validation")


async def test_attainment_counts_met_and_missed_per_clock_and_at_risk_lists_the_closest_to_breach(
    sla: Sla,
) -> None:
    t = utcnow() - timedelta(hours=1)
    quick, slow, waiting = (contact_received(channel="phone", received_at=t) for _ in range(3))
    for received in (quick, slow, waiting):
        await sla.publish(received)
    for received in (quick, slow, waiting):
        await sla.wait_for_contact(received.contact_id, lambda v: len(v["clocks"]) == 3)
    await sla.publish(work_assigned(quick.contact_id, t + timedelta(seconds=10)))
    await sla.publish(work_assigned(slow.contact_id, t + timedelta(minutes=40)))
    await sla.wait_for_contact(slow.contact_id, lambda v: clock(v, "first_response")["state"] == "missed")
    await sla.wait_for_contact(quick.contact_id, lambda v: clock(v, "first_response")["state"] == "met")

    response = await sla.client.get(
        "/v1/sla/attainment", params={"group_by": ["clock", "channel"]}, headers=SUPERVISOR
    )
    assert response.status_code == 200, response.text
    rows = {r["clock"]: r for r in response.json()["rows"]}
    first = rows["first_response"]
    assert (first["met"], first["missed"], first["open"], first["channel"]) == (1, 1, 1, "phone")
    assert first["met_pct"] == 50.0
    assert first["mean_s"] == pytest.approx((10 + 2400) / 2)
    assert rows["answer"]["goal_pct"] == 80.0

    risky = (await sla.client.get("/v1/sla/at-risk", params={"include_breached": True}, headers=SUPERVISOR)).json()
    assert [(r["contact_id"], r["clock"]) for r in risky][:2] == [
        (str(waiting.contact_id), "answer"),
        (str(waiting.contact_id), "first_response"),
    ]
    assert risky[0]["remaining_s"] < 0 and risky[0]["elapsed_pct"] > 100
    assert (
        await sla.client.get("/v1/sla/at-risk", headers={"Authorization": f"Bearer {token('agent')}"})
    ).status_code == 403


async def test_attainment_breaks_down_by_the_customers_value_tier_risk_level_and_lifecycle_stage(sla: Sla) -> None:
    t = utcnow() - timedelta(hours=1)
    risky = {"value_tier": "high", "risk_level": "high", "lifecycle_stage": "declining"}
    steady = {"value_tier": "low", "risk_level": "low", "lifecycle_stage": "mature"}
    late, quick, unknown = (
        contact_received(channel="phone", received_at=t, attributes=a) for a in (risky, steady, {})
    )
    for received in (late, quick, unknown):
        await sla.publish(received)
    for received in (late, quick, unknown):
        await sla.wait_for_contact(received.contact_id, lambda v: len(v["clocks"]) == 3)
    await sla.publish(work_assigned(late.contact_id, t + timedelta(minutes=40)))
    await sla.publish(work_assigned(quick.contact_id, t + timedelta(seconds=10)))
    await sla.wait_for_contact(late.contact_id, lambda v: clock(v, "first_response")["state"] == "missed")
    await sla.wait_for_contact(quick.contact_id, lambda v: clock(v, "first_response")["state"] == "met")

    async def rows(**params: str) -> dict[tuple[str | None, ...], tuple[int, int, int]]:
        query = {"group_by": ["clock", "value_tier", "risk_level", "lifecycle_stage"], "clock": "first_response"}
        response = await sla.client.get("/v1/sla/attainment", params={**query, **params}, headers=SUPERVISOR)
        assert response.status_code == 200, response.text
        return {
            (r["value_tier"], r["risk_level"], r["lifecycle_stage"]): (r["met"], r["missed"], r["open"])
            for r in response.json()["rows"]
        }

    assert await rows() == {
        ("high", "high", "declining"): (0, 1, 0),
        ("low", "low", "mature"): (1, 0, 0),
        ("(none)", "(none)", "(none)"): (0, 0, 1),
    }
    assert await rows(risk_level="high") == {("high", "high", "declining"): (0, 1, 0)}
    refused = await sla.client.get("/v1/sla/attainment", params={"risk_level": "extreme"}, headers=SUPERVISOR)
    assert refused.status_code == 422 and "risk_level" in refused.text


async def test_a_complaint_is_resolved_only_once_the_result_reaches_the_customer(sla: Sla) -> None:
    """RULES.md: complaint resolution stops at "resolved and result fed back" — a resolution the customer was not
    told of leaves it running until the end notice is delivered."""
    t = utcnow() - timedelta(hours=2)
    received = contact_received(channel="email", category="complaint", received_at=t)
    await sla.publish(received)
    await sla.wait_for_contact(
        received.contact_id, lambda v: any(c["clock"] == "complaint_resolution" for c in v["clocks"])
    )
    await sla.publish(
        WorkResolvedV1(
            work_id=uuid.uuid4(), contact_id=received.contact_id, agent_id="A-1", resolution_code="refund",
            fcr=True, customer_notified=False, resolved_at=t + timedelta(hours=1),
        )
    )  # fmt: skip
    view = await sla.wait_for_contact(received.contact_id, lambda v: clock(v, "formal_response")["state"] == "met")
    assert clock(view, "complaint_resolution")["state"] == "running"
    notice = uuid.uuid4()
    failed = OutboundDeliveryReportedV1(
        message_id=notice, contact_id=received.contact_id, origin="routing", kind="end_notice", channel="email",
        status="failed", at=t + timedelta(hours=1, minutes=5),
    )  # fmt: skip
    delivered = failed.model_copy(
        update={"message_id": uuid.uuid4(), "status": "delivered", "at": t + timedelta(hours=1, minutes=30)}
    )
    await sla.publish(failed)
    await sla.publish(delivered)
    view = await sla.wait_for_contact(
        received.contact_id, lambda v: clock(v, "complaint_resolution")["state"] == "met"
    )
    assert clock(view, "complaint_resolution")["since"].startswith(
        (t + timedelta(hours=1, minutes=30)).isoformat()[:16]
    )


async def test_each_security_incident_level_adds_its_own_response(sla: Sla) -> None:
    """F17: a general incident runs the emergency clocks; a critical one also tells the service manager at once
    and must be reported to management within the hour."""
    names: dict[str, set[str]] = {}
    for level in ("general", "critical"):
        received = contact_received(
            channel="phone", category="data_leak", priority_class="urgent", emergency=True
        ).model_copy(update={"incident_level": level})
        await sla.publish(received)
        view = await sla.wait_for_contact(received.contact_id, lambda v: len(v["clocks"]) >= 4)
        names[level] = {c["clock"] for c in view["clocks"]}
        if level == "critical":
            report = clock(view, "management_report")
            assert report["target"]["amount"] == 1 and report["target"]["unit"] == "hours"
            await sla.fire(utcnow())  # the level-0 steps are due at the start
            events = await sla.published(received.contact_id)
            escalated = [
                e["data"]
                for e in events
                if e["type"] == "switchboard.sla.escalated.v1" and e["data"]["level"] == 0
            ]
            assert {"service_manager"} <= {e["target_role"] for e in escalated}
    assert {"emergency_response", "emergency_assessment"} <= names["general"]
    assert not names["general"] & {"incident_assessment", "incident_response", "management_report"}
    assert {"incident_assessment", "incident_response", "management_report"} <= names["critical"]
