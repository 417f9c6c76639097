"""The clock state machine and the due moments it plans: warning, breach and the escalation ladder."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.sla.domain.clock import (
    Clock,
    alerts,
    cancel,
    due_at,
    due_moments,
    elapsed_at,
    find_alert,
    fire,
    pause,
    paused_at,
    reopen,
    resume,
    retarget,
    start,
    stop,
)
from services.sla.domain.contact import milestones_of, pause_all, reach, reopen_all, retarget_all, start_clocks
from services.sla.domain.policy import Step, Target
from tests.unit.sla.support import CALENDARS, local, make_spec, started

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
ALWAYS = CALENDARS["24x7"]
WORK = CALENDARS["working-hours"]


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def plan(clock: Clock, calendar: object = ALWAYS) -> dict[str, datetime]:
    return {d.alert.key: d.at for d in due_moments(clock, calendar)}  # type: ignore[arg-type]


def fire_key(clock: Clock, key: str, at: datetime) -> Clock:
    alert = find_alert(clock, key)
    assert alert is not None
    change = fire(clock, alert, at, ALWAYS, due=at)
    assert change is not None
    return change.clock


def test_the_standard_ladder_warns_at_80_percent_then_breaches_and_escalates_at_100_150_and_200_percent() -> None:
    clock = started(make_spec(amount=30), T0)
    assert plan(clock) == {
        "warning": T0 + minutes(24),
        "breach": T0 + minutes(30),
        "escalation:1": T0 + minutes(30),
        "escalation:2": T0 + minutes(45),
        "escalation:3": T0 + minutes(60),
    }
    assert [a.key for a in alerts(clock.spec, clock.target_s)] == [
        "warning",
        "breach",
        "escalation:1",
        "escalation:2",
        "escalation:3",
    ], "at the same instant the breach comes before the level it triggers"


def test_ladder_steps_carry_their_target_roles() -> None:
    clock = started(make_spec(), T0)
    roles = {a.key: a.role for a in alerts(clock.spec, clock.target_s) if a.kind == "escalation"}
    assert roles == {"escalation:1": "team_lead", "escalation:2": "supervisor", "escalation:3": "service_manager"}


def test_a_level_relative_to_the_start_notifies_the_emergency_team_at_once() -> None:
    spec = make_spec(amount=15, ladder=(Step(0, "emergency_team", relative_to="start"), Step(1, "team_lead")))
    clock = started(spec, T0)
    assert plan(clock)["escalation:0"] == T0
    assert plan(clock)["escalation:1"] == T0 + minutes(15)


def test_a_ladder_delay_can_be_absolute_seconds_after_the_breach() -> None:
    spec = make_spec(amount=10, ladder=(Step(1, "team_lead", after_seconds=120),))
    assert plan(started(spec, T0))["escalation:1"] == T0 + minutes(12)


def test_a_policy_without_warning_fraction_plans_no_warning() -> None:
    clock = started(make_spec(warning_fraction=None, ladder=()), T0)
    assert plan(clock) == {"breach": T0 + minutes(30)}


def test_a_pause_shifts_every_due_moment_by_the_paused_time() -> None:
    clock = started(make_spec(amount=30), T0)
    paused = pause(clock, T0 + minutes(10), ALWAYS, reason="waiting on the customer")
    assert paused is not None and paused.clock.state == "paused"
    assert due_moments(paused.clock, ALWAYS) == [], "a paused clock plans nothing"
    resumed = resume(paused.clock, T0 + minutes(25), ALWAYS, reason="customer replied")
    assert resumed is not None
    shifted = plan(resumed.clock)
    assert shifted["warning"] == T0 + minutes(24 + 15)
    assert shifted["breach"] == T0 + minutes(30 + 15)
    assert shifted["escalation:3"] == T0 + minutes(60 + 15)
    assert resumed.transition.elapsed_s == 600 and resumed.transition.paused_s == 900


def test_elapsed_and_paused_time_are_read_at_any_instant() -> None:
    clock = started(make_spec(), T0)
    paused = pause(clock, T0 + minutes(5), ALWAYS, reason="x")
    assert paused is not None
    assert elapsed_at(paused.clock, ALWAYS, T0 + minutes(50)) == 300
    assert paused_at(paused.clock, T0 + minutes(50)) == 45 * 60
    assert elapsed_at(clock, ALWAYS, T0 + minutes(7)) == 420
    assert paused_at(clock, T0 + minutes(7)) == 0


def test_pausing_twice_or_resuming_a_running_clock_changes_nothing() -> None:
    clock = started(make_spec(), T0)
    assert resume(clock, T0 + minutes(1), ALWAYS, reason="x") is None
    paused = pause(clock, T0 + minutes(2), ALWAYS, reason="x")
    assert paused is not None
    assert pause(paused.clock, T0 + minutes(3), ALWAYS, reason="x") is None


def test_a_clock_that_does_not_pause_keeps_running_while_the_contact_waits_on_the_customer() -> None:
    clock = started(make_spec("regulator_report", 4, "hours", pauses=False), T0)
    assert pause(clock, T0 + minutes(10), ALWAYS, reason="waiting on the customer") is None


def test_a_milestone_within_the_target_meets_the_clock_and_it_plans_nothing_further() -> None:
    clock = started(make_spec(amount=30), T0)
    change = stop(clock, T0 + minutes(12), ALWAYS, milestone="responded")
    assert change is not None
    assert change.clock.state == "met" and change.transition.action == "met"
    assert change.transition.elapsed_s == 720
    assert due_moments(change.clock, ALWAYS) == [] and due_at(change.clock, ALWAYS) is None


def test_a_milestone_after_the_target_misses_the_clock() -> None:
    clock = started(make_spec(amount=30), T0)
    change = stop(clock, T0 + minutes(31), ALWAYS, milestone="resolved")
    assert change is not None and change.clock.state == "missed"


def test_paused_time_does_not_count_against_the_target() -> None:
    clock = started(make_spec(amount=30), T0)
    paused = pause(clock, T0 + minutes(20), ALWAYS, reason="x")
    assert paused is not None
    resumed = resume(paused.clock, T0 + minutes(80), ALWAYS, reason="x")
    assert resumed is not None
    change = stop(resumed.clock, T0 + minutes(85), ALWAYS, milestone="responded")
    assert change is not None
    assert change.clock.state == "met" and change.clock.elapsed_s == 25 * 60 and change.clock.paused_s == 3600


def test_a_paused_clock_can_be_stopped_and_is_judged_on_the_time_it_ran() -> None:
    clock = started(make_spec(amount=30), T0)
    paused = pause(clock, T0 + minutes(10), ALWAYS, reason="x")
    assert paused is not None
    change = stop(paused.clock, T0 + minutes(90), ALWAYS, milestone="resolved")
    assert change is not None and change.clock.state == "met" and change.clock.elapsed_s == 600


def test_only_the_clocks_milestones_stop_it_and_never_one_from_before_it_started() -> None:
    clock = started(make_spec("formal_response", 2, "hours", stops_on=("solution", "resolved")), T0)
    assert stop(clock, T0 + minutes(5), ALWAYS, milestone="responded") is None
    assert stop(clock, T0 - minutes(5), ALWAYS, milestone="solution") is None
    assert stop(clock, T0 + minutes(5), ALWAYS, milestone="solution") is not None


def test_an_event_stamped_before_the_last_change_takes_effect_at_that_change() -> None:
    clock = started(make_spec(), T0)
    paused = pause(clock, T0 + minutes(10), ALWAYS, reason="x")
    assert paused is not None
    resumed = resume(paused.clock, T0 + minutes(5), ALWAYS, reason="late event")
    assert resumed is not None
    assert resumed.transition.at == T0 + minutes(10) and resumed.clock.paused_s == 0


def test_firing_records_each_alert_once_and_the_breach_marks_the_clock_breached() -> None:
    clock = started(make_spec(), T0)
    warned = fire_key(clock, "warning", T0 + minutes(24))
    assert warned.breached_at is None and "warning" not in plan(warned)
    breach = find_alert(warned, "breach")
    assert breach is not None
    breached = fire(warned, breach, T0 + minutes(30), ALWAYS, due=T0 + minutes(30))
    assert breached is not None and breached.transition.action == "breached"
    assert breached.clock.breached_at == T0 + minutes(30)
    assert breached.clock.state == "running", "a breached clock runs on until a milestone stops it"
    assert fire(breached.clock, breach, T0 + minutes(31), ALWAYS, due=T0 + minutes(30)) is None


def test_an_escalation_transition_names_its_level_and_role() -> None:
    clock = started(make_spec(), T0)
    alert = find_alert(clock, "escalation:2")
    assert alert is not None
    change = fire(clock, alert, T0 + minutes(45), ALWAYS, due=T0 + minutes(45))
    assert change is not None
    assert change.transition.action == "escalated"
    assert change.transition.detail["level"] == 2 and change.transition.detail["role"] == "supervisor"


def test_a_reopened_clock_runs_on_from_the_time_it_had_spent_and_fired_levels_stay_fired() -> None:
    spec = make_spec("complaint_resolution", 60, "minutes", stops_on=("resolved",), reopens=True)
    clock = fire_key(started(spec, T0), "warning", T0 + minutes(48))
    resolved = stop(clock, T0 + minutes(50), ALWAYS, milestone="resolved")
    assert resolved is not None and resolved.clock.state == "met"
    reopened = reopen(resolved.clock, T0 + minutes(200), ALWAYS)
    assert reopened is not None and reopened.clock.state == "running"
    assert reopened.transition.detail["previous_outcome"] == "met"
    assert plan(reopened.clock)["breach"] == T0 + minutes(210), "10 minutes were left"
    assert "warning" not in plan(reopened.clock)


def test_a_clock_that_does_not_reopen_keeps_its_outcome() -> None:
    clock = started(make_spec(), T0)
    met = stop(clock, T0 + minutes(5), ALWAYS, milestone="responded")
    assert met is not None
    assert reopen(met.clock, T0 + minutes(60), ALWAYS) is None
    assert reopen_all([met.clock], T0 + minutes(60), CALENDARS) == []


def test_a_retarget_keeps_elapsed_and_paused_time_and_moves_the_due_moments() -> None:
    clock = started(make_spec(amount=30, policy_version=1), T0)
    paused = pause(clock, T0 + minutes(10), ALWAYS, reason="x")
    assert paused is not None
    resumed = resume(paused.clock, T0 + minutes(20), ALWAYS, reason="x")
    assert resumed is not None
    tighter = make_spec(amount=15, policy_version=3)
    change = retarget(resumed.clock, tighter, T0 + minutes(22), ALWAYS, ALWAYS, reason="now urgent")
    assert change is not None
    after = change.clock
    assert (after.elapsed_s, after.paused_s, after.target_s) == (12 * 60, 10 * 60, 15 * 60)
    assert after.spec.policy_version == 3
    assert plan(after)["breach"] == T0 + minutes(25)
    assert plan(after)["warning"] == T0 + minutes(22), "already past 80 % of the new target: due at once"
    assert change.transition.detail["previous_target"] == "30 minutes"


def test_a_retarget_to_the_same_terms_is_no_change() -> None:
    clock = started(make_spec(), T0)
    assert retarget(clock, clock.spec, T0 + minutes(1), ALWAYS, ALWAYS, reason="x") is None


def test_a_retarget_measures_time_so_far_on_the_old_calendar_and_the_rest_on_the_new() -> None:
    start_at = local("2026-11-27 17:00")  # Friday
    clock = started(make_spec(amount=4, unit="hours", calendar_id="24x7"), start_at)
    moved = retarget(
        clock,
        make_spec(amount=4, unit="hours", calendar_id="working-hours"),
        local("2026-11-27 19:00"),
        ALWAYS,
        WORK,
        reason="now a working-hours clock",
    )
    assert moved is not None
    assert moved.clock.elapsed_s == 2 * 3600, "two wall-clock hours ran on the 24x7 calendar"
    assert due_at(moved.clock, WORK) == local("2026-11-30 11:00"), "the other two are Monday's first"


def test_cancelled_clocks_plan_nothing() -> None:
    clock = started(make_spec(), T0)
    change = cancel(clock, T0 + minutes(3), ALWAYS, reason="no longer a complaint")
    assert change is not None and change.clock.state == "cancelled"
    assert due_moments(change.clock, ALWAYS) == []


def test_a_working_hours_clock_does_not_run_at_night_or_at_the_weekend() -> None:
    spec = make_spec(amount=2, unit="hours", calendar_id="working-hours")
    clock = started(spec, local("2026-11-27 17:00"))
    assert due_at(clock, WORK) == local("2026-11-30 10:00")
    assert elapsed_at(clock, WORK, local("2026-11-28 12:00")) == 3600
    assert plan(clock, WORK)["warning"] == local("2026-11-30 09:36")


def test_seven_working_days_across_spring_festival_and_the_ladder_beyond_it() -> None:
    spec = make_spec(
        "complaint_resolution", 7, "working_days", calendar_id="working-hours", stops_on=("resolved",)
    )
    clock = started(spec, local("2026-02-13 10:00"))
    assert clock.target_s == 63 * 3600
    moments = plan(clock, WORK)
    assert moments["breach"] == local("2026-03-02 10:00")
    # breach + 50 % = 31.5 working hours later: Mon 8 h, Tue 9 h, Wed 9 h, then 5.5 h into Thursday.
    assert moments["escalation:2"] == local("2026-03-05 14:30")


def test_pausing_a_working_hours_clock_over_a_holiday_costs_nothing_extra() -> None:
    spec = make_spec(amount=4, unit="hours", calendar_id="working-hours")
    clock = started(spec, local("2026-09-30 16:00"))
    paused = pause(clock, local("2026-09-30 17:00"), WORK, reason="x")
    assert paused is not None
    resumed = resume(paused.clock, local("2026-10-08 09:00"), WORK, reason="x")
    assert resumed is not None
    assert due_at(resumed.clock, WORK) == local("2026-10-08 12:00")
    assert resumed.clock.paused_s == pytest.approx((7 * 24 + 16) * 3600)


@pytest.mark.parametrize(
    ("kind", "channel", "expected"),
    [
        ("assigned", "phone", {"accepted", "responded"}),
        ("assigned", "chat", {"accepted", "responded"}),
        ("assigned", "email", {"accepted"}),
        ("assigned", "web", {"accepted"}),
        ("agent_reply", "email", {"replied", "responded"}),
        ("solution", "web", {"solution", "responded"}),
        ("resolved", "email", {"resolved"}),
        ("regulator_reported", "phone", {"regulator_reported"}),
    ],
)
def test_accepting_is_the_first_response_on_live_channels_and_the_first_reply_elsewhere(
    kind: str, channel: str, expected: set[str]
) -> None:
    assert milestones_of(kind, channel=channel, live_channels=("phone", "chat", "onsite")) == expected


def test_reaching_milestones_stops_exactly_the_clocks_that_wait_for_them() -> None:
    first = started(make_spec("first_response", stops_on=("responded", "resolved")), T0)
    formal = started(make_spec("formal_response", 24, "hours", stops_on=("solution", "resolved")), T0)
    accept = started(make_spec("complaint_acceptance", 24, "hours", stops_on=("accepted", "resolved")), T0)
    changes = reach([first, formal, accept], {"accepted", "responded"}, T0 + minutes(4), CALENDARS)
    assert sorted((c.clock.clock, c.clock.state, c.transition.detail["milestone"]) for c in changes) == [
        ("complaint_acceptance", "met", "accepted"),
        ("first_response", "met", "responded"),
    ]


def test_start_clocks_starts_each_clock_once() -> None:
    contact = uuid.uuid4()
    specs = [make_spec("first_response"), make_spec("formal_response", 24, "hours")]
    first = start_clocks(contact, specs, {}, T0, CALENDARS)
    assert [c.clock.clock for c in first] == ["first_response", "formal_response"]
    existing = {c.clock.clock: c.clock for c in first}
    assert start_clocks(contact, specs, existing, T0 + minutes(1), CALENDARS) == []


def test_a_reclassification_retargets_cancels_and_starts_clocks_as_of_receipt() -> None:
    contact = uuid.uuid4()
    first = started(make_spec("first_response", 30), T0, contact_id=contact)
    acceptance = started(make_spec("complaint_acceptance", 24, "hours"), T0, contact_id=contact)
    specs = {
        "first_response": make_spec("first_response", 15, policy_version=2),
        "formal_response": make_spec("formal_response", 2, "hours"),
    }
    changes = retarget_all(
        contact,
        {"first_response": first, "complaint_acceptance": acceptance},
        specs,
        T0 + minutes(5),
        CALENDARS,
        received_at=T0,
        reason="now urgent",
    )
    by_clock = {c.clock.clock: c for c in changes}
    assert by_clock["first_response"].transition.action == "retargeted"
    assert by_clock["complaint_acceptance"].clock.state == "cancelled"
    formal = by_clock["formal_response"]
    assert formal.transition.action == "started" and formal.clock.started_at == T0


def test_retargeting_a_stopped_clock_changes_nothing() -> None:
    met = stop(started(make_spec(), T0), T0 + minutes(1), ALWAYS, milestone="responded")
    assert met is not None
    assert retarget(met.clock, make_spec(amount=5), T0 + minutes(2), ALWAYS, ALWAYS, reason="x") is None


def test_pause_all_skips_clocks_that_do_not_pause() -> None:
    a = started(make_spec("first_response"), T0)
    b = started(make_spec("regulator_report", 4, "hours", pauses=False), T0)
    assert [c.clock.clock for c in pause_all([a, b], T0 + minutes(1), CALENDARS, reason="x")] == ["first_response"]


def test_a_started_clock_records_its_target_and_breach_instant() -> None:
    change = start(uuid.uuid4(), make_spec(amount=45), T0, ALWAYS)
    assert change.transition.action == "started" and change.transition.from_state is None
    assert change.transition.detail["target"] == "45 minutes"
    assert change.transition.due_at == T0 + minutes(45)
    assert Target(7, "working_days").text() == "7 working days"
