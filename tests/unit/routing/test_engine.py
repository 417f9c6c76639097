"""The indexed engine against the naive scan of everyone, on random pools: the same decisions, with a small
fraction of the candidates examined; and its structures stay clean as work and agents come and go."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from services.routing.domain.engine import Engine, naive_best_agent, naive_best_work
from services.routing.domain.indexes import ANY, AgentIndex, OrderedHeap
from tests.unit.routing.builders import NOW, make_agent, make_policy, make_work, needs

SKILLS = ["billing", "network", "account", "refund", "tv"]
POLICY = make_policy()


def random_world(seed: int, agents: int, works: int) -> tuple[Engine, list, list]:  # type: ignore[type-arg]
    rng = random.Random(seed)
    engine = Engine(POLICY)
    people = [
        make_agent(
            f"A{i}",
            tier=rng.choice(list(POLICY.tiers)),
            team=rng.choice(["t1", "t2"]),
            languages=frozenset(rng.sample(["zh", "en", "yue"], rng.randint(1, 2))),
            skills={s: rng.randint(1, 5) for s in rng.sample(SKILLS, rng.randint(0, 3))},
            presence=rng.choice(["available"] * 4 + ["away"]),
            load={"chat": rng.randint(0, 3), "phone": rng.choice([0, 0, 0, 1])},
            idle_since=NOW - timedelta(seconds=rng.randint(0, 5000)),
        )
        for i in range(agents)
    ]
    for agent in people:
        engine.put_agent(agent)
    items = []
    for _ in range(works):
        work = make_work(
            channel=rng.choice(["chat", "email", "phone"]),
            work_class=rng.choice(["routine", "complex", "urgent"]),
            grade=rng.choice(["basic", "key", "strategic"]),
            language=rng.choice(["zh", "en", None]),
            requirements=needs(*[(s, rng.randint(1, 4)) for s in rng.sample(SKILLS, rng.randint(0, 2))]),
            enqueued_at=NOW - timedelta(seconds=rng.randint(0, 400)),
            first_owner=rng.choice([None, "A3", "A7"]),
            last_agent=rng.choice([None, "A5"]),
            excluded=frozenset(rng.sample([f"A{i}" for i in range(agents)], rng.randint(0, 2))),
            target_team=rng.choice([None, None, None, "t2"]),
            sla_warned=rng.random() < 0.1,
        )
        engine.put_work(work, NOW)
        items.append(work)
    return engine, people, items


@pytest.mark.parametrize("seed", range(4))
def test_the_indexed_choice_of_agent_equals_the_naive_scan(seed: int) -> None:
    engine, people, items = random_world(seed, agents=250, works=250)
    for work in items:
        choice = engine.best_agent(work.work_id, NOW)
        reference = naive_best_agent(POLICY, people, work, NOW)
        assert (choice is None) == (reference is None), work
        if choice is not None and reference is not None:
            assert (choice.score, choice.idle_since) == (reference.score, reference.idle_since)
    assert engine.stats.scanned < len(items) * len(people) / 20  # a small fraction of a full scan


@pytest.mark.parametrize("seed", range(4))
def test_the_indexed_choice_of_work_for_a_freed_agent_equals_the_naive_scan(seed: int) -> None:
    engine, people, items = random_world(seed, agents=120, works=800)
    for agent in people:
        found = engine.best_work(agent.agent_id, NOW)
        reference = naive_best_work(POLICY, agent, items, NOW)
        assert found == (reference.work_id if reference else None)


def test_work_and_agents_leave_no_trace_in_the_indexes_when_removed() -> None:
    engine, people, items = random_world(9, agents=50, works=300)
    for work in items:
        engine.drop_work(work.work_id)
    for agent in people:
        engine.drop_agent(agent.agent_id)
    assert not engine.waiting and not engine.agents
    assert not engine._tree.groups and not engine._targeted and not engine._free.free
    assert not any(list(order.walk()) for levels in engine._free.levels.values() for order in levels)


def test_ordered_heap_walks_in_key_order_without_stale_entries() -> None:
    heap: OrderedHeap[str] = OrderedHeap()
    rng = random.Random(3)
    keys = {}
    for _ in range(500):
        member = f"m{rng.randint(0, 120)}"
        key = (rng.random(),)
        heap.put(member, key)
        keys[member] = key
        if rng.random() < 0.2:
            gone = rng.choice(list(keys))
            heap.discard(gone)
            del keys[gone]
    assert list(heap.walk()) == sorted(keys, key=lambda m: (keys[m], m))
    assert len(heap) == len(keys)


def test_idle_order_appends_fresh_idlers_and_sorts_in_one_that_goes_back_in_time() -> None:
    index = AgentIndex()
    for agent_id, idle in (("b", 2.0), ("a", 1.0), ("c", 3.0), ("d", 4.0)):
        index.put(make_agent(agent_id, idle_since=at(idle)), ("chat",))
    order = index.levels[("default", "chat", "zh", ANY, "front_line")][0]
    assert list(order.walk()) == ["a", "b", "c", "d"]
    index.put(make_agent("a", idle_since=at(5.0)), ("chat",))  # took work and freed again: most recently busy
    index.discard("c")
    assert list(order.walk()) == ["b", "d", "a"]
    index.put(make_agent("e", idle_since=at(0.5)), ("chat",))  # reloaded from the database: idle the longest
    assert list(order.walk()) == ["e", "b", "d", "a"]


def test_an_agent_whose_channel_fills_leaves_that_channel_and_only_that_one() -> None:
    index = AgentIndex()
    index.put(make_agent("a", idle_since=at(1.0)), ("phone", "chat"))
    index.put(make_agent("b", idle_since=at(2.0)), ("phone", "chat"))
    index.put(make_agent("a", idle_since=at(1.0), load={"chat": 3}), ("phone",))
    chat = index.levels[("default", "chat", "zh", ANY, "front_line")][0]
    phone = index.levels[("default", "phone", "zh", ANY, "front_line")][0]
    assert list(chat.walk()) == ["b"]
    assert list(phone.walk()) == ["a", "b"]
    index.put(make_agent("a", idle_since=at(1.0)), ("phone", "chat"))  # a slot freed again, same instant
    assert list(chat.walk()) == ["a", "b"]


def test_idle_orders_stay_small_under_endless_churn() -> None:
    index = AgentIndex()
    for step in range(5000):
        agent_id = f"A{step % 7}"
        index.put(make_agent(agent_id, idle_since=at(float(step))), ("chat",) if step % 3 else ())
    order = index.levels[("default", "chat", "zh", ANY, "front_line")][0]
    assert len(list(order.walk())) <= 7
    assert order.size() <= 2 * 7 + 64 + 1


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)
