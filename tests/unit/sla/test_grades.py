"""C-5, a higher grade is never looser: found on what contacts would really run, per clock."""

from __future__ import annotations

from dataclasses import replace

from services.sla.domain.grades import looser_grades, newly_looser, nominal_seconds
from services.sla.domain.policy import Target
from tests.unit.sla.support import make_policy, make_rule

DEFAULT = make_policy(
    make_rule("first_response", 30),
    make_rule("complaint_acceptance", 24, "hours", categories=("complaint",)),
    name="defaults",
)
STRATEGIC = make_policy(make_rule("first_response", 15), grade="strategic", name="strategic")
KEY = make_policy(make_rule("first_response", 15), grade="key", name="key")
URGENT = make_policy(make_rule("first_response", 15), priority_class="urgent", name="urgent")
SEEDED = [DEFAULT, STRATEGIC, KEY, URGENT]


def test_the_shipped_shape_of_policies_keeps_every_grade_at_least_as_tight_as_the_next() -> None:
    assert looser_grades(SEEDED) == []


def test_a_strategic_row_longer_than_the_key_row_for_the_same_clock_is_found_naming_both() -> None:
    slow = replace(STRATEGIC, clocks=(make_rule("first_response", 20),))
    found = looser_grades([DEFAULT, slow, KEY, URGENT])
    assert {(f.higher.grade, f.lower.grade) for f in found} == {("strategic", "key"), ("strategic", "basic")}
    vs_key = next(f for f in found if f.lower.grade == "key" and f.priority_class == "routine")
    assert (vs_key.higher.policy_id, vs_key.lower.policy_id) == (slow.policy_id, KEY.policy_id)
    assert "strategic 20 minutes (policy 'strategic'" in vs_key.text()
    assert "key 15 minutes (policy 'key'" in vs_key.text()
    assert {f.channel for f in found if f.lower.grade == "key"} == {
        "phone", "email", "chat", "web", "sms", "social", "onsite",
    }  # fmt: skip


def test_a_row_for_any_grade_counts_for_every_grade_it_reaches() -> None:
    # Without their own rows, key and basic urgent contacts get the urgent row's 15 minutes; a strategic row of
    # 20 minutes wins over it for strategic contacts (grade outranks priority class) and is looser.
    slow = replace(STRATEGIC, clocks=(make_rule("first_response", 20),))
    found = looser_grades([DEFAULT, slow, URGENT])
    assert {(f.priority_class, f.lower.grade) for f in found} == {("urgent", "key"), ("urgent", "basic")}
    assert all(f.lower.policy_id == URGENT.policy_id for f in found)


def test_a_key_row_looser_than_what_basic_contacts_run_is_found_too() -> None:
    social = make_policy(make_rule("first_response", 20), grade="key", channel="social", name="key social")
    found = looser_grades([*SEEDED, social])
    assert [(f.higher.grade, f.lower.grade, f.priority_class, f.channel) for f in found] == [
        ("key", "basic", "urgent", "social")
    ]


def test_equal_targets_are_not_looser_and_a_clock_a_lower_grade_lacks_is_not_compared() -> None:
    own_clock = make_policy(make_rule("callback", 2, "hours"), grade="strategic", name="strategic callback")
    assert looser_grades([*SEEDED, own_clock]) == []


def test_category_clocks_are_compared_for_their_categories_only() -> None:
    slow = make_policy(
        make_rule("complaint_acceptance", 48, "hours", categories=("complaint",)), grade="key", name="key slow"
    )
    found = looser_grades([*SEEDED, slow])
    assert {f.categories for f in found} == {("complaint",)}
    assert {(f.higher.grade, f.lower.grade) for f in found} == {("key", "basic")}


def test_an_inactive_row_counts_for_nothing() -> None:
    slow = make_policy(make_rule("first_response", 20), grade="strategic", channel="chat", active=False)
    assert looser_grades([*SEEDED, slow]) == []
    assert looser_grades([*SEEDED, replace(slow, active=True)]) != []


def test_deactivating_the_strategic_row_lets_strategic_fall_back_to_a_looser_default() -> None:
    found = newly_looser(SEEDED, [DEFAULT, KEY, URGENT])
    assert {(f.higher.grade, f.lower.grade, f.priority_class) for f in found} == {
        ("strategic", "key", "routine"),
        ("strategic", "key", "complex"),
    }


def test_what_was_already_looser_is_not_new_but_making_it_looser_still_is() -> None:
    slow = replace(STRATEGIC, clocks=(make_rule("first_response", 20),))
    before = [DEFAULT, slow, KEY, URGENT]
    renamed = replace(slow, name="renamed", version=2)
    assert newly_looser(before, [DEFAULT, renamed, KEY, URGENT]) == []
    slower = replace(slow, clocks=(make_rule("first_response", 25),), version=2)
    assert newly_looser(before, [DEFAULT, slower, KEY, URGENT]) != []


def test_working_days_count_as_whole_days_when_grades_use_different_units() -> None:
    assert nominal_seconds(Target(1, "working_days")) == nominal_seconds(Target(24, "hours"))
    days = make_policy(make_rule("resolution", 1, "working_days"), grade="strategic", name="strategic days")
    hours = make_policy(make_rule("resolution", 20, "hours"), grade="key", name="key hours")
    found = looser_grades([days, hours])
    assert found and all((f.higher.grade, f.lower.grade) == ("strategic", "key") for f in found)
