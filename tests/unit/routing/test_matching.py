"""Who may take what, and who is chosen: grade and tier, skills and levels, language, capacity, relaxation,
first owner and last agent, emergency. Each rule is checked on the indexed engine and on the naive reference."""

from __future__ import annotations

from datetime import timedelta

from services.routing.domain.engine import Engine, naive_best_agent
from services.routing.domain.model import Agent, Work, displayed_presence, evaluate, free_capacity
from tests.unit.routing.builders import NOW, make_agent, make_policy, make_work, needs

POLICY = make_policy()


def chosen(agents: list[Agent], work: Work, *, now: object = NOW) -> str | None:
    """The agent the indexed engine chooses, checked against the naive scan of every agent."""
    engine = Engine(POLICY)
    for agent in agents:
        engine.put_agent(agent)
    engine.put_work(work, now)  # type: ignore[arg-type]
    choice = engine.best_agent(work.work_id, now)  # type: ignore[arg-type]
    reference = naive_best_agent(POLICY, agents, work, now)  # type: ignore[arg-type]
    assert (choice.agent_id if choice else None) == (reference.agent_id if reference else None)
    return choice.agent_id if choice else None


def test_strategic_customer_is_never_offered_to_a_front_line_agent() -> None:
    front = make_agent("front", tier="front_line")
    senior = make_agent("senior", tier="senior", idle_since=NOW)
    work = make_work(grade="strategic")
    assert evaluate(POLICY, front, work, NOW).filter == "tier"
    assert chosen([front], work) is None
    assert chosen([front, senior], work) == "senior"


def test_complex_work_goes_to_senior_or_tech_support_never_front_line() -> None:
    front = make_agent("front", tier="front_line", idle_since=NOW - timedelta(hours=1))
    tech = make_agent("tech", tier="tech_support")
    assert chosen([front, tech], make_work(work_class="complex")) == "tech"


def test_urgent_work_goes_only_to_the_emergency_team() -> None:
    senior = make_agent("senior", tier="senior", idle_since=NOW - timedelta(hours=2))
    emergency = make_agent("on-call", tier="emergency")
    urgent = make_work(work_class="urgent")
    assert chosen([senior], urgent) is None
    assert chosen([senior, emergency], urgent) == "on-call"
    assert evaluate(POLICY, emergency, make_work(work_class="routine"), NOW).filter == "tier"


def test_required_skill_must_be_held_at_the_required_level() -> None:
    novice = make_agent("novice", skills={"billing": 2})
    none = make_agent("none")
    work = make_work(requirements=needs(("billing", 3)))
    assert evaluate(POLICY, novice, work, NOW).detail == "billing level 2 < 3"
    assert evaluate(POLICY, none, work, NOW).detail == "lacks skill billing"
    assert chosen([novice, none], work) is None
    assert chosen([novice, make_agent("expert", skills={"billing": 3})], work) == "expert"


def test_every_required_skill_counts_and_the_weakest_sets_proficiency() -> None:
    one_sided = make_agent("one-sided", skills={"billing": 5, "network": 1}, idle_since=NOW - timedelta(hours=1))
    balanced = make_agent("balanced", skills={"billing": 3, "network": 3})
    work = make_work(requirements=needs(("billing", 1), ("network", 1)))
    assert evaluate(POLICY, one_sided, work, NOW).proficiency == 1
    assert chosen([one_sided, balanced], work) == "balanced"


def test_the_agent_must_speak_the_contacts_language() -> None:
    zh = make_agent("zh", languages=frozenset({"zh"}))
    en = make_agent("en", languages=frozenset({"en"}), idle_since=NOW - timedelta(hours=1))
    assert chosen([zh, en], make_work(language="zh")) == "zh"
    assert chosen([zh, en], make_work(language="en")) == "en"
    assert chosen([zh, en], make_work(language=None)) == "en"  # no language known: anyone, longest idle


def test_capacity_per_channel_is_enforced() -> None:
    full_chat = make_agent("full", load={"chat": 3})
    assert free_capacity(full_chat, "chat") == 0 and free_capacity(full_chat, "email") == 5
    assert evaluate(POLICY, full_chat, make_work(channel="chat"), NOW).filter == "capacity"
    assert chosen([full_chat], make_work(channel="email")) == "full"


def test_a_live_call_blocks_new_work_on_every_other_channel() -> None:
    on_call = make_agent("on-call", load={"phone": 1})
    verdict = evaluate(POLICY, on_call, make_work(channel="email"), NOW)
    assert verdict.filter == "capacity" and verdict.detail == "on a live call"
    chatting = make_agent("chatting", load={"chat": 2})
    assert free_capacity(chatting, "phone") == 1  # chats do not block a call


def test_best_proficiency_wins_then_longest_idle() -> None:
    expert = make_agent("expert", skills={"billing": 5})
    good_idle = make_agent("good-idle", skills={"billing": 4}, idle_since=NOW - timedelta(hours=3))
    good_busy = make_agent("good-busy", skills={"billing": 4}, idle_since=NOW - timedelta(minutes=1))
    work = make_work(requirements=needs(("billing", 2)))
    assert chosen([good_busy, good_idle, expert], work) == "expert"
    assert chosen([good_busy, good_idle], work) == "good-idle"


def test_first_owner_bonus_beats_a_small_proficiency_gap_but_not_a_large_one() -> None:
    owner = make_agent("owner", skills={"billing": 3})
    better = make_agent("better", skills={"billing": 4}, idle_since=NOW - timedelta(hours=1))
    much_better = make_agent("much-better", skills={"billing": 5}, idle_since=NOW - timedelta(hours=1))
    work = make_work(requirements=needs(("billing", 1)), first_owner="owner")
    assert chosen([owner, better], work) == "owner"  # 3 + 2 > 4
    assert evaluate(POLICY, owner, work, NOW).score == 5
    assert evaluate(POLICY, much_better, work, NOW).score == 5
    # equal scores: the longest idle wins
    assert chosen([owner, much_better], work) == "much-better"


def test_the_customers_last_agent_gets_a_smaller_bonus() -> None:
    last = make_agent("last", skills={"billing": 3})
    other = make_agent("other", skills={"billing": 3}, idle_since=NOW - timedelta(hours=1))
    work = make_work(requirements=needs(("billing", 1)), last_agent="last")
    assert evaluate(POLICY, last, work, NOW).bonus == 1
    assert chosen([last, other], work) == "last"


def test_skill_requirements_relax_in_configured_steps_as_the_wait_grows() -> None:
    agent = make_agent("billing-2", skills={"billing": 2})
    work = make_work(requirements=needs(("billing", 4), ("network", 3)), enqueued_at=NOW)
    at = [NOW + timedelta(seconds=s) for s in (59, 61, 181, 301)]
    assert evaluate(POLICY, agent, work, at[0]).detail == "billing level 2 < 4"
    assert evaluate(POLICY, agent, work, at[1]).detail == "billing level 2 < 3"  # step 1: one level less
    assert evaluate(POLICY, agent, work, at[2]).detail == "lacks skill network"  # step 2: billing 2 ok
    assert chosen([agent], work, now=at[2]) is None
    assert chosen([agent], work, now=at[3]) == "billing-2"  # step 3: the primary skill only, at level 1


def test_languages_tiers_and_grades_never_relax() -> None:
    agent = make_agent("en-front", languages=frozenset({"en"}), tier="front_line")
    late = NOW + timedelta(hours=5)
    assert evaluate(POLICY, agent, make_work(language="zh"), late).filter == "language"
    assert evaluate(POLICY, agent, make_work(language="en", grade="strategic"), late).filter == "tier"


def test_declined_agents_are_not_offered_the_same_work_again() -> None:
    agent = make_agent("decliner")
    assert chosen([agent], make_work(excluded=frozenset({"decliner"}))) is None


def test_directed_work_waits_for_its_agent_until_the_hold_ends() -> None:
    owner = make_agent("owner", load={"chat": 3})
    other = make_agent("other")
    work = make_work(target_agent="owner", hold_until=NOW + timedelta(seconds=60), first_owner="owner")
    assert chosen([owner, other], work) is None  # the owner is full: the work waits for them
    assert chosen([owner, other], work, now=NOW + timedelta(seconds=61)) == "other"


def test_team_queue_work_goes_only_to_that_team() -> None:
    mine = make_agent("mine", team="billing-team")
    theirs = make_agent("theirs", team="other", idle_since=NOW - timedelta(hours=1))
    assert chosen([mine, theirs], make_work(target_team="billing-team")) == "mine"


def test_away_offline_and_disconnected_agents_get_no_offers() -> None:
    work = make_work()
    assert evaluate(POLICY, make_agent(presence="away"), work, NOW).filter == "presence"
    assert evaluate(POLICY, make_agent(presence="offline"), work, NOW).filter == "presence"
    gone = make_agent(disconnected_at=NOW - timedelta(seconds=5))
    assert evaluate(POLICY, gone, work, NOW).filter == "desktop"


def test_busy_and_wrap_up_are_derived_from_load() -> None:
    capacity = {"phone": 1, "chat": 0, "email": 0, "web": 0, "sms": 0, "social": 0, "onsite": 0}
    assert displayed_presence(make_agent(capacity=capacity)) == "available"
    assert displayed_presence(make_agent(capacity=capacity, load={"phone": 1})) == "busy"
    assert displayed_presence(make_agent(capacity=capacity, load={"phone": 1}, wrap_ups=1)) == "wrap_up"
    assert displayed_presence(make_agent(presence="away", capacity=capacity)) == "away"
