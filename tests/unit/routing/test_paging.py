"""Emergency paging's decisions: page once when nobody of the emergency team took it in time, never twice."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.routing.domain.paging import EmergencyPage, masked_phone, page_decision, page_message_id
from services.routing.domain.policy import PolicyError, parse_policy
from tests.unit.routing.builders import POLICY_DOCUMENT

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PAGE = EmergencyPage(
    contact_id=uuid.uuid4(), work_id=uuid.uuid4(), pool="p", due_at=T0 + timedelta(seconds=120), created_at=T0
)


def test_an_emergency_nobody_took_is_paged_once_it_is_due_and_not_before() -> None:
    assert page_decision(PAGE, accepted_by=None, now=T0 + timedelta(seconds=119)) == "wait"
    assert page_decision(PAGE, accepted_by=None, now=T0 + timedelta(seconds=120)) == "page"


def test_an_emergency_tier_acceptance_means_no_page() -> None:
    assert page_decision(PAGE, accepted_by="em-1", now=T0 + timedelta(hours=1)) == "accepted"


def test_a_page_already_sent_or_acknowledged_is_settled_whatever_happens_next() -> None:
    later = T0 + timedelta(hours=1)
    assert page_decision(replace(PAGE, paged_at=later), accepted_by=None, now=later) == "settled"
    assert page_decision(replace(PAGE, acknowledged_at=T0), accepted_by="em-1", now=later) == "settled"


def test_a_page_to_one_person_for_one_contact_always_has_the_same_message_id() -> None:
    assert page_message_id(PAGE.contact_id, "duty-a") == page_message_id(PAGE.contact_id, "duty-a")
    assert page_message_id(PAGE.contact_id, "duty-a") != page_message_id(PAGE.contact_id, "duty-b")
    assert page_message_id(PAGE.contact_id, "duty-a") != page_message_id(uuid.uuid4(), "duty-a")


def test_the_audit_keeps_only_the_last_digits_of_a_number() -> None:
    assert masked_phone("+8613800138000") == "…8000"
    assert masked_phone("123") == "…"


def test_the_policy_waits_two_minutes_by_default_and_refuses_no_wait() -> None:
    assert parse_policy(POLICY_DOCUMENT).emergency_page_after_s == 120
    assert parse_policy({**POLICY_DOCUMENT, "emergency_page_after_s": 30}).emergency_page_after_s == 30
    with pytest.raises(PolicyError, match="emergency_page_after_s"):
        parse_policy({**POLICY_DOCUMENT, "emergency_page_after_s": 0})
