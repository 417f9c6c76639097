"""Priority (RULES.md "Routing"): class base + grade bonus + SLA bonus + age, and the backlog's order."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from services.routing.domain.engine import Engine, naive_best_work
from services.routing.domain.policy import (
    PolicyError,
    lower_bonuses,
    parse_policy,
    priority_at,
    queue_key,
    static_priority,
)
from tests.unit.routing.builders import NOW, POLICY_DOCUMENT, make_agent, make_policy, make_work

POLICY = make_policy()


def test_priority_adds_class_base_grade_bonus_and_sla_bonus() -> None:
    def p(**kw: object) -> int:
        return static_priority(POLICY, **{"sla_warned": False, "escalation_level": 0, **kw})  # type: ignore[arg-type]

    assert p(work_class="routine", grade="basic") == 100
    assert p(work_class="complex", grade="key") == 650
    assert p(work_class="urgent", grade="strategic") == 1300
    assert p(work_class="routine", grade="basic", sla_warned=True) == 300
    assert p(work_class="routine", grade="basic", sla_warned=True, escalation_level=2) == 900


def test_age_raises_priority_by_the_configured_points_per_minute() -> None:
    assert priority_at(POLICY, 100, NOW, NOW + timedelta(minutes=30)) == 130


def test_the_queue_key_orders_waiting_work_as_priority_does_at_any_instant() -> None:
    rng = random.Random(7)
    items = [
        (rng.choice([100, 250, 500, 1300]), NOW - timedelta(seconds=rng.randint(0, 20_000))) for _ in range(200)
    ]
    by_key = sorted(items, key=lambda i: queue_key(POLICY, i[0], i[1]))
    for later in (NOW, NOW + timedelta(hours=3), NOW + timedelta(days=2)):
        values = [priority_at(POLICY, s, e, later) for s, e in by_key]
        assert values == sorted(values, reverse=True)


def test_a_freed_agent_takes_the_highest_priority_work_and_the_oldest_among_equals() -> None:
    engine = Engine(POLICY)
    agent = make_agent("A", tier="senior", load={"chat": 3})
    engine.put_agent(agent)
    old_routine = make_work(enqueued_at=NOW - timedelta(minutes=10))
    new_routine = make_work(enqueued_at=NOW - timedelta(minutes=1))
    strategic = make_work(grade="strategic", enqueued_at=NOW)
    warned = make_work(enqueued_at=NOW, sla_warned=True)
    for w in (old_routine, new_routine, strategic, warned):
        engine.put_work(w, NOW)
    engine.put_agent(make_agent("A", tier="senior"))
    order = []
    for _ in range(4):
        found = engine.best_work("A", NOW)
        assert found is not None
        assert found == naive_best_work(POLICY, engine.agents["A"], list(engine.waiting.values()), NOW).work_id  # type: ignore[union-attr]
        order.append(found)
        engine.drop_work(found)
    assert order == [strategic.work_id, warned.work_id, old_routine.work_id, new_routine.work_id]


def test_an_sla_warning_moves_waiting_work_ahead_at_once() -> None:
    engine = Engine(POLICY)
    engine.put_agent(make_agent("A", load={"chat": 3}))
    first = make_work(enqueued_at=NOW - timedelta(minutes=5))
    second = make_work(enqueued_at=NOW)
    engine.put_work(first, NOW)
    engine.put_work(second, NOW)
    engine.put_work(make_work(**{**second.__dict__, "sla_warned": True}), NOW)
    engine.put_agent(make_agent("A"))
    assert engine.best_work("A", NOW) == second.work_id


def test_a_policy_document_with_unknown_names_is_refused_with_the_reason() -> None:
    with pytest.raises(PolicyError, match="vip"):
        parse_policy({**POLICY_DOCUMENT, "class_base": {"urgent": 1, "vip": 2}})
    steps = [{"after_s": 60, "level_drop": 1}, {"after_s": 30, "level_drop": 2}]
    with pytest.raises(PolicyError, match="increasing"):
        parse_policy({**POLICY_DOCUMENT, "relaxation": steps})


def test_grade_bonuses_in_rules_order_are_accepted_and_ties_are_not_looser() -> None:
    assert lower_bonuses(POLICY.grade_bonus) == []
    assert lower_bonuses({"strategic": 150, "key": 150}) == []


def test_a_higher_grade_with_a_lower_bonus_is_found_for_every_pair_out_of_order() -> None:
    found = lower_bonuses({"strategic": 100, "key": 150, "basic": 120})
    assert [(b.higher, b.lower) for b in found] == [("strategic", "key"), ("strategic", "basic")]
    assert "strategic +100 is below key +150" in found[0].text()
    assert [(b.higher, b.lower) for b in lower_bonuses({"strategic": 300})] == []
    assert [(b.higher, b.lower, b.higher_bonus) for b in lower_bonuses({"basic": 10})] == [
        ("strategic", "basic", 0),
        ("key", "basic", 0),
    ], "a grade left out has no bonus"
