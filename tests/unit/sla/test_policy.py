"""Policy selection (most specific row per clock), frozen terms, targets in seconds, and validation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.sla.domain.policy import (
    ClockSpec,
    ContactKeys,
    PolicyError,
    Step,
    Target,
    resolve,
    specificity,
    target_seconds,
    validate,
)
from tests.unit.sla.support import CALENDARS, make_policy, make_rule

KNOWN = ("24x7", "working-hours")
DEFAULT = make_policy(
    make_rule("first_response", 30),
    make_rule("formal_response", 24, "hours"),
    make_rule("complaint_acceptance", 24, "hours", categories=("complaint",)),
    make_rule("follow_up", 24, "hours", starts_on="followup"),
    name="defaults",
)
STRATEGIC = make_policy(make_rule("first_response", 15), grade="strategic", name="strategic")
URGENT = make_policy(
    make_rule("first_response", 15),
    make_rule("formal_response", 2, "hours"),
    priority_class="urgent",
    name="urgent",
)
EMAIL = make_policy(
    make_rule("formal_response", 24, "hours"),
    priority_class="routine",
    channel="email",
    calendar_id="working-hours",
    name="routine email",
)
BASIC_EMAIL = make_policy(
    make_rule("first_response", 24, "hours"),
    grade="basic",
    priority_class="routine",
    channel="email",
    calendar_id="working-hours",
    name="basic routine email",
)
ALL = [DEFAULT, STRATEGIC, URGENT, EMAIL, BASIC_EMAIL]


def keys(
    grade: str = "basic", priority: str = "routine", channel: str = "phone", category: str = "enquiry"
) -> ContactKeys:
    return ContactKeys(grade, priority, channel, category)


def targets(found: dict[str, ClockSpec]) -> dict[str, str]:
    return {name: spec.target.text() for name, spec in found.items()}


def test_every_clock_comes_from_the_most_specific_row_that_defines_it() -> None:
    found = resolve(ALL, keys(grade="basic", channel="email"), trigger="received")
    assert targets(found) == {"first_response": "24 hours", "formal_response": "24 hours"}
    assert found["first_response"].policy_id == BASIC_EMAIL.policy_id
    assert found["formal_response"].policy_id == EMAIL.policy_id
    assert found["formal_response"].calendar_id == "working-hours"


def test_a_contact_no_specific_row_matches_gets_the_defaults() -> None:
    found = resolve(ALL, keys(grade="basic", channel="sms"), trigger="received")
    assert targets(found) == {"first_response": "30 minutes", "formal_response": "24 hours"}
    assert {spec.policy_id for spec in found.values()} == {DEFAULT.policy_id}


def test_higher_grade_and_urgency_tighten_the_first_response() -> None:
    assert targets(resolve(ALL, keys(grade="strategic")))["first_response"] == "15 minutes"
    assert targets(resolve(ALL, keys(priority="urgent")))["first_response"] == "15 minutes"
    assert targets(resolve(ALL, keys(priority="urgent")))["formal_response"] == "2 hours"


def test_the_emergency_flag_selects_the_urgent_rows_whatever_the_class() -> None:
    flagged = ContactKeys("basic", "routine", "phone", "complaint", emergency=True)
    assert resolve(ALL, flagged)["formal_response"].policy_id == URGENT.policy_id


def test_on_equal_specificity_grade_outranks_priority_class_which_outranks_channel() -> None:
    by_grade = make_policy(make_rule("first_response", 10), grade="key", name="g")
    by_priority = make_policy(make_rule("first_response", 20), priority_class="complex", name="p")
    by_channel = make_policy(make_rule("first_response", 40), channel="chat", name="c")
    contact = keys(grade="key", priority="complex", channel="chat")
    assert resolve([by_channel, by_priority, by_grade], contact)["first_response"].policy_id == by_grade.policy_id
    assert resolve([by_channel, by_priority], contact)["first_response"].policy_id == by_priority.policy_id
    assert specificity(by_grade) > specificity(by_priority) > specificity(by_channel)


def test_two_key_parts_beat_one_whatever_they_are() -> None:
    by_grade = make_policy(make_rule("first_response", 10), grade="key", name="g")
    priority_and_channel = make_policy(
        make_rule("first_response", 20), priority_class="routine", channel="web", name="pc"
    )
    found = resolve([by_grade, priority_and_channel], keys(grade="key", channel="web"))
    assert found["first_response"].policy_id == priority_and_channel.policy_id


def test_category_clocks_apply_only_to_their_categories() -> None:
    assert "complaint_acceptance" not in resolve(ALL, keys(category="enquiry"))
    assert targets(resolve(ALL, keys(category="complaint")))["complaint_acceptance"] == "24 hours"


def test_a_specific_row_whose_clock_does_not_apply_to_the_category_falls_back_to_one_that_does() -> None:
    narrow = make_policy(make_rule("first_response", 5, categories=("security_event",)), grade="basic", name="n")
    found = resolve([DEFAULT, narrow], keys(category="enquiry"))
    assert found["first_response"].policy_id == DEFAULT.policy_id


def test_inactive_rows_are_ignored() -> None:
    retired = make_policy(make_rule("first_response", 1), grade="basic", active=False, name="retired")
    assert resolve([DEFAULT, retired], keys())["first_response"].policy_id == DEFAULT.policy_id


def test_the_trigger_selects_which_clocks_start() -> None:
    assert set(resolve(ALL, keys(), trigger="received")) == {"first_response", "formal_response"}
    assert set(resolve(ALL, keys(), trigger="followup")) == {"follow_up"}


def test_a_clock_takes_the_rows_calendar_warning_and_ladder_unless_it_sets_its_own() -> None:
    own_ladder = (Step(1, "emergency_team"),)
    policy = make_policy(
        make_rule("first_response", 30),
        make_rule(
            "regulator_report", 4, "hours", ladder=own_ladder, warning_fraction=0.5, calendar_id="working-hours"
        ),
        warning_fraction=0.75,
    )
    found = resolve([policy], keys())
    assert (found["first_response"].warning_fraction, found["first_response"].calendar_id) == (0.75, "24x7")
    assert found["first_response"].ladder == policy.ladder
    report = found["regulator_report"]
    assert (report.warning_fraction, report.ladder, report.calendar_id) == (0.5, own_ladder, "working-hours")


def test_frozen_terms_carry_the_policy_version() -> None:
    policy = make_policy(make_rule("first_response"), version=4)
    assert resolve([policy], keys())["first_response"].policy_version == 4


@pytest.mark.parametrize(
    ("target", "seconds"),
    [
        (Target(20, "seconds"), 20),
        (Target(15, "minutes"), 900),
        (Target(2, "hours"), 7200),
        (Target(7, "working_days"), 63 * 3600),
    ],
)
def test_targets_become_working_seconds_on_the_clocks_calendar(target: Target, seconds: float) -> None:
    start = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    assert target_seconds(target, CALENDARS["working-hours"], start) == seconds


def test_working_days_on_a_24x7_calendar_are_whole_days() -> None:
    start = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    assert target_seconds(Target(3, "working_days"), CALENDARS["24x7"], start) == 3 * 86400


def test_a_sound_policy_validates() -> None:
    validate(DEFAULT, calendar_ids=KNOWN)


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (make_policy(calendar_id="nowhere"), "unknown calendar"),
        (make_policy(name="  "), "needs a name"),
        (make_policy(warning_fraction=1.2), "warning_fraction"),
        (make_policy(ladder=(Step(1, "a"), Step(1, "b"))), "each escalation level appears once"),
        (make_policy(ladder=(Step(1, " "),)), "needs a target role"),
        (make_policy(ladder=(Step(1, "a", after_fraction=-0.5),)), "cannot come before"),
        (make_policy(clocks=()), "at least one clock"),
        (make_policy(make_rule("first_response"), make_rule("first_response")), "defined twice"),
        (make_policy(make_rule("First Response")), "lower-case slugs"),
        (make_policy(make_rule(amount=0)), "must be positive"),
        (make_policy(make_rule(amount=1.5, unit="working_days")), "whole days"),
        (make_policy(make_rule(unit="fortnights")), "unit must be one of"),
        (make_policy(make_rule(starts_on="whenever")), "starts_on"),
        (make_policy(make_rule(stops_on=())), "at least one milestone"),
        (make_policy(make_rule(stops_on=("Done!",))), "not a lower-case slug"),
        (make_policy(make_rule(calendar_id="moon")), "unknown calendar"),
        (make_policy(make_rule(goal=80)), "goal is a share"),
    ],
)
def test_unusable_policies_are_refused_with_the_reason(policy: object, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        validate(policy, calendar_ids=KNOWN)  # type: ignore[arg-type]


def test_a_clock_for_some_incident_levels_runs_only_for_those() -> None:
    from services.sla.domain.policy import ContactKeys, rule_applies

    rule = make_rule(
        "incident_response", 1, "hours", categories=("security_event",), incident_levels=("serious", "critical")
    )
    serious = ContactKeys("basic", "urgent", "phone", "security_event", True, "serious")
    general = ContactKeys("basic", "urgent", "phone", "security_event", True, "general")
    assert rule_applies(rule, serious) and not rule_applies(rule, general)
    assert rule_applies(make_rule("first_response", 15, "minutes"), general)  # no filter: every contact
