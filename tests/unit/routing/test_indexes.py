"""The engine's indexes under churn: agents filed lazily and only where they changed, idle orders that never
remove one by one, heaps that keep an empty bucket, lists of buckets kept between decisions. Whatever the order
of changes, the indexed decisions equal the naive scan, and the fast paths agree with the plain definitions."""

from __future__ import annotations

import random
import uuid
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from services.routing.domain.engine import Engine, naive_best_agent, naive_best_work
from services.routing.domain.indexes import OrderedHeap
from services.routing.domain.model import (
    Agent,
    Work,
    effective_requirements,
    evaluate,
    free_capacity,
    open_channels,
    proficiency,
    relax_stage,
    with_load,
)
from services.routing.domain.policy import CHANNELS
from tests.unit.routing.builders import NOW, make_agent, make_policy, make_work, needs

POLICY = make_policy()
SKILLS = ["billing", "network", "account"]


def random_agent(rng: random.Random, agent_id: str) -> Agent:
    return make_agent(
        agent_id,
        tier=rng.choice(["front_line", "senior", "tech_support", "emergency"]),
        team=rng.choice(["t1", "t2"]),
        languages=frozenset(rng.sample(["zh", "en"], rng.randint(1, 2))),
        skills={s: rng.randint(1, 5) for s in rng.sample(SKILLS, rng.randint(0, 3))},
        presence=rng.choice(["available"] * 5 + ["away"]),
        load={"chat": rng.randint(0, 3), "email": rng.randint(0, 5), "phone": rng.choice([0, 0, 0, 1])},
        idle_since=NOW - timedelta(seconds=rng.randint(0, 600)),
    )


def random_work(rng: random.Random, at: timedelta) -> Work:
    return make_work(
        channel=rng.choice(["chat", "email", "phone"]),
        work_class=rng.choice(["routine", "complex", "urgent"]),
        grade=rng.choice(["basic", "key", "strategic"]),
        language=rng.choice(["zh", "en", None]),
        requirements=needs(*[(s, rng.randint(1, 4)) for s in rng.sample(SKILLS, rng.randint(0, 2))]),
        enqueued_at=NOW + at - timedelta(seconds=rng.randint(0, 400)),
        target_team=rng.choice([None, None, None, "t2"]),
        excluded=frozenset(rng.sample([f"A{i}" for i in range(30)], rng.randint(0, 2))),
    )


@pytest.mark.parametrize("seed", range(3))
def test_decisions_equal_the_naive_scan_through_thousands_of_changes(seed: int) -> None:
    rng = random.Random(seed)
    engine = Engine(POLICY)
    agents = {f"A{i}": random_agent(rng, f"A{i}") for i in range(30)}
    for agent in agents.values():
        engine.put_agent(agent)
    clock = timedelta()
    stages: dict[uuid.UUID, int] = {}
    for _ in range(2500):
        clock += timedelta(seconds=rng.uniform(0, 3))
        now = NOW + clock
        relax_due(engine, now, stages)
        roll = rng.random()
        if roll < 0.35:  # work arrives, or comes back
            work = random_work(rng, clock)
            file(engine, work, now, stages)
            choice = engine.best_agent(work.work_id, now)
            reference = naive_best_agent(POLICY, list(engine.agents.values()), work, now)
            assert (choice is None) == (reference is None)
            if choice is not None and reference is not None:
                assert (choice.score, choice.idle_since) == (reference.score, reference.idle_since)
                engine.reserve(work.work_id, choice.agent_id, now)
        elif roll < 0.7:  # a slot frees (or the load is re-read), sometimes at the same instant as before
            agent_id = rng.choice(list(agents))
            agent = engine.agents[agent_id]
            channel = rng.choice(["chat", "email", "phone"])
            load = {**agent.load, channel: max(0, agent.load.get(channel, 0) - 1)}
            idle = rng.choice([now, agent.idle_since, now - timedelta(seconds=30)])
            engine.put_agent(with_load(agent, load, idle))
            while (found := engine.next_work(agent_id, now)) is not None:
                work_id, verdict = found
                reference_work = naive_best_work(
                    POLICY, engine.agents[agent_id], list(engine.waiting.values()), now
                )
                assert reference_work is not None and reference_work.work_id == work_id
                assert verdict == evaluate(POLICY, engine.agents[agent_id], engine.waiting[work_id], now)
                engine.reserve(work_id, agent_id, now)
            assert naive_best_work(POLICY, engine.agents[agent_id], list(engine.waiting.values()), now) is None
        elif roll < 0.8:  # presence, desktop or profile edits
            agent_id = rng.choice(list(agents))
            fresh = random_agent(rng, agent_id)
            engine.put_agent(replace(fresh, load=engine.agents[agent_id].load))
        elif roll < 0.9 and engine.waiting:  # work leaves the queue (taken by a supervisor, closed)
            engine.drop_work(rng.choice(list(engine.waiting)))
        elif engine.waiting:  # relaxation re-files waiting work
            file(engine, engine.waiting[rng.choice(list(engine.waiting))], now, stages)
    assert engine.stats.decisions > 1000


def stage(work: Work, now: datetime) -> int:
    return relax_stage(POLICY.relaxation, (now - work.enqueued_at).total_seconds())


def file(engine: Engine, work: Work, now: datetime, stages: dict[uuid.UUID, int]) -> None:
    engine.put_work(work, now)
    stages[work.work_id] = stage(work, now)


def relax_due(engine: Engine, now: datetime, stages: dict[uuid.UUID, int]) -> None:
    """What the dispatcher's relaxation timers do: waiting work whose requirements relaxed is filed again."""
    for work in list(engine.waiting.values()):
        if stage(work, now) != stages[work.work_id]:
            file(engine, work, now, stages)


def test_an_agent_whose_slot_frees_takes_work_before_it_is_filed_and_is_then_filed_as_it_ends_up() -> None:
    engine = Engine(POLICY)
    engine.put_agent(make_agent("A", load={"chat": 3}, idle_since=NOW - timedelta(minutes=5)))
    engine.put_agent(make_agent("B", load={"chat": 3}, idle_since=NOW - timedelta(minutes=9)))
    waiting = make_work(enqueued_at=NOW - timedelta(seconds=30))
    engine.put_work(waiting, NOW)
    engine.put_agent(make_agent("A", load={"chat": 2}, idle_since=NOW))  # A finishes a chat
    assert engine.best_work("A", NOW) == waiting.work_id
    engine.reserve(waiting.work_id, "A", NOW)
    arriving = make_work()
    engine.put_work(arriving, NOW)
    assert engine.best_agent(arriving.work_id, NOW) is None  # A is full again; nobody else is free
    engine.put_agent(make_agent("B", load={"chat": 2}, idle_since=NOW))
    choice = engine.best_agent(arriving.work_id, NOW)
    assert choice is not None and choice.agent_id == "B"


def test_a_freed_agent_looks_at_the_top_of_the_best_bucket_only_when_that_work_is_eligible() -> None:
    engine = Engine(POLICY)
    engine.put_agent(make_agent("A", skills={"billing": 5, "network": 5}, load={"chat": 3}))
    for seconds in range(0, 600, 10):
        for skill in ("billing", "network", None):
            requirements = needs((skill, 2)) if skill else ()
            engine.put_work(
                make_work(requirements=requirements, enqueued_at=NOW - timedelta(seconds=seconds)), NOW
            )
    oldest = min(engine.waiting.values(), key=lambda w: (w.enqueued_at, str(w.work_id)))
    engine.put_agent(make_agent("A", skills={"billing": 5, "network": 5}, load={"chat": 2}))
    before = engine.stats.scanned
    found = engine.best_work("A", NOW)
    assert found is not None and engine.waiting[found].enqueued_at == oldest.enqueued_at
    assert engine.stats.scanned - before == 1


def test_work_filed_in_a_new_bucket_after_an_agent_decided_is_still_found_by_it() -> None:
    engine = Engine(POLICY)
    engine.put_agent(make_agent("A", skills={"billing": 3}, load={"chat": 3}))
    engine.put_work(make_work(work_class="complex"), NOW)  # not for front line
    engine.put_agent(make_agent("A", skills={"billing": 3}, load={"chat": 2}))
    assert engine.best_work("A", NOW) is None
    routine = make_work(requirements=needs(("billing", 3)))
    engine.put_work(routine, NOW)
    assert engine.best_work("A", NOW) == routine.work_id
    engine.drop_work(routine.work_id)  # its bucket empties (and stays, empty)
    again = make_work(requirements=needs(("billing", 3)))
    engine.put_work(again, NOW)
    assert engine.best_work("A", NOW) == again.work_id


def test_a_new_policy_that_widens_a_tier_lets_its_agents_see_work_they_could_not_before() -> None:
    engine = Engine(POLICY)
    engine.put_agent(make_agent("A", tier="front_line"))
    complex_work = make_work(work_class="complex")
    engine.put_work(complex_work, NOW)
    assert engine.best_work("A", NOW) is None
    tiers = {**POLICY.tiers, "front_line": replace(POLICY.tiers["front_line"], classes=frozenset({"complex"}))}
    engine.set_policy(replace(POLICY, tiers=tiers), NOW)
    assert engine.best_work("A", NOW) == complex_work.work_id


def test_ordered_heap_keeps_a_live_top_whatever_is_discarded_or_moved() -> None:
    rng = random.Random(11)
    heap: OrderedHeap[int] = OrderedHeap()
    keys: dict[int, tuple[float, ...]] = {}
    for _ in range(3000):
        member = rng.randint(0, 60)
        if rng.random() < 0.4 and keys:
            gone = min(keys, key=lambda m: (keys[m], m)) if rng.random() < 0.5 else rng.choice(list(keys))
            heap.discard(gone)
            del keys[gone]
        else:
            key = (rng.random(),)
            heap.put(member, key)
            keys[member] = key
        expected = min(((k, m) for m, k in keys.items()), default=None)
        assert heap.first() == expected
    assert list(heap.walk()) == sorted(keys, key=lambda m: (keys[m], m))


@pytest.mark.parametrize("seed", range(5))
def test_evaluate_applies_exactly_the_relaxed_requirements(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(400):
        agent = random_agent(rng, "A")
        work = random_work(rng, timedelta(seconds=rng.randint(0, 900)))
        now = NOW + timedelta(seconds=rng.randint(0, 900))
        verdict = evaluate(POLICY, agent, work, now)
        reqs = effective_requirements(work, POLICY.relaxation, now)
        lacking = [r for r in reqs if agent.skills.get(r.skill, 0) < r.level]
        if verdict.filter == "skill":
            first, have = lacking[0], agent.skills.get(lacking[0].skill, 0)
            assert verdict.detail == (
                f"{first.skill} level {have} < {first.level}" if have else f"lacks skill {first.skill}"
            )
        elif verdict.eligible:
            assert not lacking and verdict.proficiency == proficiency(agent, reqs)


def test_open_channels_are_exactly_the_channels_with_a_free_slot() -> None:
    rng = random.Random(4)
    for _ in range(500):
        capacity = {c: rng.randint(0, 3) for c in CHANNELS}
        load = {c: rng.randint(0, 3) for c in rng.sample(CHANNELS, 3)}
        agent = make_agent(capacity=capacity, load=load)
        assert open_channels(agent) == tuple(c for c in CHANNELS if free_capacity(agent, c) > 0)
        assert with_load(agent, {}, NOW) == replace(agent, load={}, idle_since=NOW)
