"""When an invitation goes out, or why not: delay, quiet hours in the customer's zone, cap, sampling, expiry."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.feedback.domain.policy import QuietHours
from services.feedback.domain.schedule import (
    Defer,
    Drop,
    Schedule,
    Send,
    Skip,
    decide_send,
    invitation_message_id,
    outside_quiet_hours,
    plan_invitation,
    sampled,
)
from tests.unit.feedback.builders import T0, make_facts, make_policy

SHANGHAI = ZoneInfo("Asia/Shanghai")


def shanghai(hour: int, minute: int = 0, day: int = 23) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


def test_phone_contact_is_invited_by_sms_ten_minutes_after_resolution() -> None:
    plan = plan_invitation(make_policy(), make_facts(), resolved_at=T0, last_surveyed_at=None)
    assert plan == Schedule(due_at=T0 + timedelta(minutes=10), recipient="+8613800138000")


def test_chat_is_invited_inline_at_once_and_email_an_hour_later() -> None:
    chat = make_policy(channel="chat", invite_channel="chat", delay=timedelta(0), quiet_hours=None)
    email = make_policy(channel="email", invite_channel="email", delay=timedelta(hours=1), quiet_hours=None)
    facts = make_facts()
    assert plan_invitation(chat, facts, resolved_at=T0, last_surveyed_at=None) == Schedule(T0, "chat-1")
    assert plan_invitation(email, facts, resolved_at=T0, last_surveyed_at=None) == Schedule(
        T0 + timedelta(hours=1), "li.lei@example.cn"
    )


@pytest.mark.parametrize(
    ("resolved_local", "due_local"),
    [
        (shanghai(20, 49), shanghai(20, 59)),  # due just before the quiet hours: goes out
        (shanghai(20, 55), shanghai(8, 0, day=24)),  # due at 21:05: waits for 08:00 next morning
        (shanghai(23, 30), shanghai(8, 0, day=24)),
        (shanghai(3, 0), shanghai(8, 0)),  # after midnight: the same morning
        (shanghai(7, 50), shanghai(8, 0)),  # due exactly at the end of the quiet hours
        (shanghai(7, 51), shanghai(8, 1)),
    ],
)
def test_sms_invitations_never_go_out_between_21_and_8_local_time(
    resolved_local: datetime, due_local: datetime
) -> None:
    plan = plan_invitation(
        make_policy(), make_facts(), resolved_at=resolved_local.astimezone(UTC), last_surveyed_at=None
    )
    assert isinstance(plan, Schedule)
    assert plan.due_at == due_local


def test_quiet_hours_are_read_in_the_customers_own_time_zone() -> None:
    # 14:00 UTC is 22:00 in Shanghai (quiet) but 14:00 in London (not quiet).
    resolved = datetime(2026, 11, 23, 13, 50, tzinfo=UTC)
    in_london = plan_invitation(
        make_policy(), make_facts(time_zone="Europe/London"), resolved_at=resolved, last_surveyed_at=None
    )
    in_shanghai = plan_invitation(make_policy(), make_facts(), resolved_at=resolved, last_surveyed_at=None)
    assert isinstance(in_london, Schedule) and isinstance(in_shanghai, Schedule)
    assert in_london.due_at == resolved + timedelta(minutes=10)
    assert in_shanghai.due_at == shanghai(8, 0, day=24)


def test_an_unknown_customer_time_zone_falls_back_to_the_policys() -> None:
    plan = plan_invitation(
        make_policy(), make_facts(time_zone="Mars/Olympus"), resolved_at=shanghai(22).astimezone(UTC),
        last_surveyed_at=None,
    )  # fmt: skip
    assert isinstance(plan, Schedule) and plan.due_at == shanghai(8, 0, day=24)


def test_quiet_hours_end_on_local_wall_time_across_a_daylight_saving_change() -> None:
    new_york = ZoneInfo("America/New_York")
    # 2026-11-01 is the end of DST in New York: 22:00 EDT, and 08:00 next morning is EST.
    at = datetime(2026, 10, 31, 22, 0, tzinfo=new_york).astimezone(UTC)
    moved = outside_quiet_hours(at, QuietHours(time(21), time(8)), new_york)
    local = moved.astimezone(new_york)
    assert (local.date(), local.time()) == (date(2026, 11, 1), time(8))
    assert moved - at == timedelta(hours=11)


def test_quiet_hours_that_do_not_wrap_midnight() -> None:
    lunch = QuietHours(time(12), time(14))
    assert lunch.contains(time(12)) and lunch.contains(time(13, 59)) and not lunch.contains(time(14))
    assert outside_quiet_hours(shanghai(13), lunch, SHANGHAI) == shanghai(14)
    assert outside_quiet_hours(shanghai(11), lunch, SHANGHAI) == shanghai(11)


def test_one_survey_per_customer_per_seven_days() -> None:
    policy = make_policy()
    facts = make_facts()
    six_days = plan_invitation(policy, facts, resolved_at=T0, last_surveyed_at=T0 - timedelta(days=6, hours=23))
    seven_days = plan_invitation(policy, facts, resolved_at=T0, last_surveyed_at=T0 - timedelta(days=7))
    assert six_days == Skip("frequency_cap")
    assert isinstance(seven_days, Schedule)


def test_an_invitation_still_waiting_to_go_counts_against_the_cap() -> None:
    waiting_due_later = T0 + timedelta(minutes=5)
    assert plan_invitation(
        make_policy(), make_facts(), resolved_at=T0, last_surveyed_at=waiting_due_later
    ) == Skip("frequency_cap")


def test_a_zero_frequency_cap_means_no_cap() -> None:
    policy = make_policy(frequency_cap=timedelta(0))
    assert isinstance(plan_invitation(policy, make_facts(), resolved_at=T0, last_surveyed_at=T0), Schedule)


def test_sampling_is_deterministic_per_contact_and_close_to_the_rate() -> None:
    ids = [uuid.UUID(int=n * 7919 + 1) for n in range(4000)]
    chosen = [i for i in ids if sampled(i, 0.25)]
    assert 0.22 < len(chosen) / len(ids) < 0.28
    assert chosen == [i for i in ids if sampled(i, 0.25)], "a replay must choose the same contacts"
    assert all(sampled(i, 1.0) for i in ids[:50]) and not any(sampled(i, 0.0) for i in ids[:50])


def test_sampled_out_contacts_are_skipped_with_the_reason() -> None:
    policy = make_policy(sampling_rate=0.0)
    assert plan_invitation(policy, make_facts(), resolved_at=T0, last_surveyed_at=None) == Skip("sampled_out")


def test_no_survey_without_an_address_on_the_invitation_channel_or_with_the_policy_off() -> None:
    assert plan_invitation(make_policy(), make_facts(phone=None), resolved_at=T0, last_surveyed_at=None) == Skip(
        "no_recipient"
    )
    off = make_policy(enabled=False)
    assert plan_invitation(off, make_facts(), resolved_at=T0, last_surveyed_at=None) == Skip("policy_disabled")
    assert plan_invitation(None, make_facts(), resolved_at=T0, last_surveyed_at=None) == Skip("policy_disabled")
    assert plan_invitation(make_policy(), None, resolved_at=T0, last_surveyed_at=None) == Skip("unknown_contact")


def test_a_due_invitation_is_sent_with_its_72_hour_expiry() -> None:
    now = T0 + timedelta(minutes=10)
    decision = decide_send(make_policy(), due_at=now, now=now, time_zone=None, last_sent_at=None)
    assert decision == Send(expires_at=now + timedelta(hours=72))


def test_a_scheduler_catching_up_in_quiet_hours_defers_to_the_morning() -> None:
    due = shanghai(20, 50).astimezone(UTC)
    now = shanghai(21, 30).astimezone(UTC)
    decision = decide_send(make_policy(), due_at=due, now=now, time_zone="Asia/Shanghai", last_sent_at=None)
    assert decision == Defer(until=shanghai(8, 0, day=24))


def test_an_invitation_overdue_by_its_whole_answering_window_is_dropped_as_stale() -> None:
    due = T0
    decision = decide_send(
        make_policy(), due_at=due, now=due + timedelta(hours=72), time_zone=None, last_sent_at=None
    )
    assert decision == Drop("stale")


def test_the_cap_is_checked_again_at_sending_against_invitations_sent_meanwhile() -> None:
    now = T0 + timedelta(minutes=10)
    decision = decide_send(
        make_policy(), due_at=now, now=now, time_zone=None, last_sent_at=now - timedelta(minutes=3)
    )
    assert decision == Drop("frequency_cap")


def test_every_attempt_to_send_one_invitation_carries_the_same_idempotency_key() -> None:
    invitation_id = uuid.uuid4()
    assert invitation_message_id(invitation_id) == invitation_message_id(invitation_id)
    assert invitation_message_id(invitation_id) != invitation_message_id(uuid.uuid4())
