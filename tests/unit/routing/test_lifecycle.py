"""The work lifecycle: allowed moves, what holds a slot, the three clears, failed offers, end-notice routes,
and the timers every wait relies on."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.routing.domain.lifecycle import (
    HOLDS_SLOT,
    InvalidTransition,
    after_failed_offer,
    allowed_actions,
    check,
    end_notice_route,
    missing_clears,
)
from services.routing.domain.model import parse_requirements, primary_language
from services.routing.domain.timers import Timers
from tests.unit.routing.builders import NOW


def test_after_three_failed_offers_the_work_goes_to_the_supervisor_queue() -> None:
    assert [after_failed_offer(n, 3) for n in (1, 2, 3, 4)] == ["queued", "queued", "supervisor", "supervisor"]


def test_closing_needs_the_three_clears() -> None:
    assert missing_clears(resolution_code="refund", final_note="退款已完成", customer_notified=True) == []
    missing = missing_clears(resolution_code=" ", final_note=None, customer_notified=False)
    assert len(missing) == 3 and "clear feedback" in missing[2]


@pytest.mark.parametrize(
    ("action", "state"),
    [
        ("accept", "queued"),
        ("resolve", "queued"),
        ("close", "in_progress"),
        ("reopen", "in_progress"),
        ("wrap_up", "pending_customer"),
        ("resume", "in_progress"),
        ("offer", "assigned"),
    ],
)
def test_moves_out_of_order_are_refused_with_what_is_allowed(action: str, state: str) -> None:
    with pytest.raises(InvalidTransition, match="allowed from"):
        check(action, state)


def test_the_happy_path_is_allowed_step_by_step() -> None:
    path = [
        ("offer", "queued"),
        ("accept", "offered"),
        ("start", "assigned"),
        ("pending", "in_progress"),
        ("resume", "pending_customer"),
        ("wrap_up", "in_progress"),
        ("resolve", "wrap_up"),
        ("close", "resolved"),
        ("reopen", "closed"),
    ]
    for action, state in path:
        check(action, state)
    assert "transfer" in allowed_actions("pending_department")


def test_pending_work_gives_its_slot_back_and_wrap_up_keeps_it() -> None:
    assert "wrap_up" in HOLDS_SLOT and "offered" in HOLDS_SLOT
    assert "pending_customer" not in HOLDS_SLOT and "pending_department" not in HOLDS_SLOT


def test_the_end_notice_goes_back_where_the_customer_came_from() -> None:
    reply = {"phone": "+8613800138000", "email": "li@example.cn", "chat_session": "s-1"}
    assert end_notice_route("chat", reply).recipient == "s-1"  # type: ignore[union-attr]
    assert end_notice_route("email", reply).channel == "email"  # type: ignore[union-attr]
    assert end_notice_route("phone", reply).channel == "sms"  # type: ignore[union-attr]
    assert end_notice_route("phone", {"email": "li@example.cn"}).channel == "email"  # type: ignore[union-attr]
    assert end_notice_route("phone", {}) is None


def test_skills_from_intake_take_names_or_name_and_level() -> None:
    reqs = parse_requirements(["Billing", "network:4", "billing:2", "tv:9", " "], default_level=1)
    assert [(r.skill, r.level) for r in reqs] == [("billing", 2), ("network", 4), ("tv", 5)]
    assert primary_language("zh-Hans-CN") == "zh" and primary_language(None) is None


def test_timers_fire_in_order_once_and_a_reset_replaces_the_old_due_time() -> None:
    timers = Timers()
    timers.set("offer", "o1", NOW + timedelta(seconds=20))
    timers.set("grace", "a1", NOW + timedelta(seconds=5))
    timers.set("offer", "o1", NOW + timedelta(seconds=30))
    timers.set("relax", "w1", NOW + timedelta(seconds=10))
    timers.cancel("relax", "w1")
    assert timers.next_due() == NOW + timedelta(seconds=5)
    assert timers.pop_due(NOW + timedelta(seconds=25)) == [("grace", "a1")]
    assert timers.pop_due(NOW + timedelta(seconds=30)) == [("offer", "o1")]
    assert timers.pop_due(NOW + timedelta(days=1)) == [] and len(timers) == 0
