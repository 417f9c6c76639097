"""The demo's figures come only from events: a contact's journey folds into wait, handle, SLA and CSAT."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from demo.report import RunInfo, write_report
from demo.tally import Tally, percentile
from shared import events as ev

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def envelope(at: datetime) -> ev.Envelope:
    return ev.Envelope(id=uuid.uuid4(), source="test", type="t", time=at, subject="s", data={})


def journey(
    tally: Tally, *, grade: str = "key", wait_s: int = 30, handle_s: int = 300, fcr: bool = True
) -> uuid.UUID:
    contact, work = uuid.uuid4(), uuid.uuid4()
    customer = ev.CustomerRef.model_validate({"customer_id": uuid.uuid4(), "grade": grade})
    steps: list[tuple[datetime, ev.Event]] = [
        (T0, ev.ContactReceivedV1(
            contact_id=contact, message_id=uuid.uuid4(), channel="chat", customer=customer, text="hi",
            category="enquiry", priority_class="routine", received_at=T0,
        )),
        (T0, ev.WorkQueuedV1(work_id=work, contact_id=contact, pool="chat", priority=250)),
        (T0 + timedelta(seconds=wait_s), ev.WorkAssignedV1(
            work_id=work, contact_id=contact, agent_id="A1", first_owner_id="A1",
            accepted_at=T0 + timedelta(seconds=wait_s),
        )),
        (T0 + timedelta(seconds=wait_s + handle_s), ev.WorkResolvedV1(
            work_id=work, contact_id=contact, agent_id="A1", resolution_code="answered", fcr=fcr,
            customer_notified=True, resolved_at=T0 + timedelta(seconds=wait_s + handle_s),
        )),
        (T0, ev.SlaMetV1(contact_id=contact, clock="first_response", elapsed_s=wait_s)),
    ]  # fmt: skip
    for at, event in steps:
        tally.apply(envelope(at), event)
    return contact


def test_a_resolved_contact_yields_its_wait_and_handle_times() -> None:
    tally = Tally()
    journey(tally, wait_s=30, handle_s=300)
    snap = tally.snapshot()
    assert snap.wait_s == [30.0]
    assert snap.handle_s == [300.0]
    assert snap.by_state == {"resolved": 1}
    assert snap.queue_depth == 0
    assert snap.attainment == {("first_response", "key"): (1, 0)}
    assert snap.fcr == (1, 1)


def test_waiting_contacts_count_in_the_queue_until_assigned() -> None:
    tally = Tally()
    contact = uuid.uuid4()
    customer = ev.CustomerRef(customer_id=uuid.uuid4(), grade="basic")
    tally.apply(envelope(T0), ev.ContactReceivedV1(
        contact_id=contact, message_id=uuid.uuid4(), channel="phone", customer=customer, text="x",
        category="complaint", priority_class="routine", received_at=T0,
    ))  # fmt: skip
    assert tally.snapshot().queue_depth == 1
    assert tally.snapshot().by_channel == {"phone": 1}


def test_satisfaction_nps_and_fcr_follow_the_seed_definitions() -> None:
    tally = Tally()
    contact = journey(tally, fcr=True)
    journey(tally, fcr=False)
    for csat, nps in ((5, 10), (4, 9), (2, 3), (3, 7)):
        tally.apply(envelope(T0), ev.SurveyAnsweredV1(
            invitation_id=uuid.uuid4(), contact_id=contact, channel="sms", scores={"csat": csat, "nps": nps},
        ))  # fmt: skip
    snap = tally.snapshot()
    assert snap.satisfaction_pct == 50.0  # share of 4–5 answers
    assert snap.nps_score == 25.0  # (2 promoters − 1 detractor) / 4
    assert snap.fcr_pct == 50.0


def test_escalations_are_counted_per_level() -> None:
    tally = Tally()
    contacts = [journey(tally) for _ in range(3)]
    for contact, level in zip(contacts, (1, 1, 2), strict=True):
        tally.apply(envelope(T0), ev.SlaEscalatedV1(
            contact_id=contact, clock="first_response", level=level, target_role="team_lead", at=T0,
        ))  # fmt: skip
    assert tally.snapshot().escalations_by_level == {1: 2, 2: 1}


def test_events_of_contacts_received_before_the_run_are_left_out() -> None:
    tally = Tally()
    journey(tally)
    earlier = uuid.uuid4()
    tally.apply(envelope(T0), ev.SurveySentV1(invitation_id=uuid.uuid4(), contact_id=earlier, channel="chat"))
    tally.apply(envelope(T0), ev.WorkResolvedV1(
        work_id=uuid.uuid4(), contact_id=earlier, agent_id="A1", resolution_code="answered", fcr=True,
        customer_notified=True, resolved_at=T0,
    ))  # fmt: skip
    snap = tally.snapshot()
    assert (snap.contacts, snap.surveys_sent, snap.fcr) == (1, 0, (1, 1))


def test_percentile_of_few_values() -> None:
    assert percentile([], 0.5) == 0.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([float(v) for v in range(1, 101)], 0.5) == 50.5


def test_the_report_names_every_figure_and_links_its_charts(tmp_path: Path) -> None:
    tally = Tally()
    contact = journey(tally, wait_s=12, handle_s=200)
    journey(tally, grade="strategic", wait_s=40, handle_s=90)
    tally.apply(envelope(T0), ev.SurveyAnsweredV1(
        invitation_id=uuid.uuid4(), contact_id=contact, channel="sms", scores={"csat": 5},
    ))  # fmt: skip
    run = RunInfo(minutes=2, rate_per_min=30, agents=8, seed=7, started="2026-11-23 09:00", machine="test")
    path = write_report(tally.snapshot(), run, tmp_path)
    text = path.read_text()
    assert "| wait (received → accepted) | 2 |" in text
    assert "| first_response | strategic | 1 | 0 | 100.0 % |" in text
    assert "| satisfaction (share of 4–5) | 100.0 % |" in text
    for chart in ("times.png", "throughput.png", "sla.png", "csat.png"):
        assert (tmp_path / chart).stat().st_size > 1000
        assert f"]({chart})" in text


def test_a_resolution_keeps_the_run_waiting_until_its_survey_is_sent_or_skipped() -> None:
    tally = Tally()
    first, second = journey(tally), journey(tally)
    assert tally.snapshot().surveys_waiting == 2, "feedback has decided nothing yet"
    one, two = uuid.uuid4(), uuid.uuid4()
    tally.apply(envelope(T0), ev.SurveyScheduledV1(invitation_id=one, contact_id=first, channel="chat"))
    tally.apply(
        envelope(T0), ev.SurveySkippedV1(invitation_id=two, contact_id=second, channel="chat", reason="cap")
    )
    assert tally.snapshot().surveys_waiting == 1, "one scheduled, not yet sent"
    tally.apply(envelope(T0), ev.SurveySentV1(invitation_id=one, contact_id=first, channel="chat"))
    snap = tally.snapshot()
    assert (snap.surveys_waiting, snap.surveys_sent) == (0, 1)


def test_a_scheduled_survey_skipped_when_due_no_longer_keeps_the_run_waiting() -> None:
    tally = Tally()
    contact = journey(tally)
    invitation = uuid.uuid4()
    tally.apply(envelope(T0), ev.SurveyScheduledV1(invitation_id=invitation, contact_id=contact, channel="chat"))
    skipped = ev.SurveySkippedV1(invitation_id=invitation, contact_id=contact, channel="chat", reason="no address")
    tally.apply(envelope(T0), skipped)
    assert tally.snapshot().surveys_waiting == 0
