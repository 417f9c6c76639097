"""Cost of one routing decision with the indexed engine, against a naive scan of everyone, in the same run.

Builds a busy contact centre in memory (agents mostly at capacity, a large backlog), then times:
- arrival: a new contact comes in → best free agent, and the offer applied (agent re-indexed);
- freed slot: an agent finishes one item → the highest-priority waiting work it may serve, offer applied;
and the naive equivalents (evaluate every agent / every waiting item) on a sample of the same decisions,
checking they agree. No I/O: this is the dispatcher's work per decision.

    .venv/bin/python -m bench.routing_decisions                       # 100/500 and 10,000/50,000
    .venv/bin/python -m bench.routing_decisions --sizes 1000:5000 --decisions 5000
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import re
import statistics
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from services.routing.domain.engine import Engine, naive_best_agent, naive_best_work
from services.routing.domain.model import Agent, Requirement, Work, free_capacity
from services.routing.domain.policy import Policy, parse_policy

SEED_SQL = Path(__file__).resolve().parent.parent / "services" / "routing" / "migrations" / "0001_routing.sql"
SKILLS = [f"skill{i:02d}" for i in range(12)]
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def seeded_policy() -> Policy:
    """The policy the migration seeds (RULES.md defaults)."""
    match = re.search(r"VALUES \(1, '(\{.*?\})'", SEED_SQL.read_text(encoding="utf-8"), re.S)
    assert match is not None
    return parse_policy(json.loads(match.group(1)), version=1)


def make_agents(rng: random.Random, policy: Policy, n: int) -> list[Agent]:
    tiers = rng.choices(
        ["front_line", "senior", "tech_support", "emergency", "supervisor"], [60, 20, 10, 5, 5], k=n
    )
    agents = []
    for i, tier in enumerate(tiers):
        languages = {"zh"} if rng.random() < 0.7 else ({"en"} if rng.random() < 0.5 else {"zh", "en"})
        capacity = dict(policy.default_capacity)
        load = {c: capacity[c] for c in ("chat", "email", "web") if capacity.get(c)}  # busy: every slot held
        agents.append(
            Agent(
                agent_id=f"A{i:05d}",
                pool="default",
                tier=tier,
                team=f"team{i % 20}",
                languages=frozenset(languages),
                skills={s: rng.randint(1, 5) for s in rng.sample(SKILLS, rng.randint(2, 4))},
                capacity=capacity,
                presence="available",
                load=load,
                idle_since=NOW - timedelta(seconds=rng.randint(0, 3600)),
            )
        )
    return agents


def make_work(rng: random.Random, *, at: datetime) -> Work:
    return Work(
        work_id=uuid.uuid4(),
        pool="default",
        channel=rng.choice(["chat", "chat", "email", "web"]),
        work_class=rng.choices(["routine", "complex", "urgent"], [60, 25, 15])[0],
        grade=rng.choices(["basic", "key", "strategic"], [70, 20, 10])[0],
        language="zh" if rng.random() < 0.75 else "en",
        requirements=tuple(
            Requirement(s, rng.randint(1, 3)) for s in rng.sample(SKILLS, rng.choices([0, 1, 2], [30, 55, 15])[0])
        ),
        enqueued_at=at,
    )


@dataclass
class Result:
    agents: int
    waiting: int
    kind: str
    indexed_us: list[float]
    naive_us: list[float]
    agreed: int
    compared: int
    cpu_us: list[float] = field(default_factory=list)
    """Thread CPU time of the same indexed decisions: what other processes on the machine do not inflate."""


class Stopwatch:
    """Wall and thread-CPU time of one timed section."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0

    def start(self) -> None:
        self.wall, self.cpu = time.perf_counter_ns(), time.thread_time_ns()

    def stop(self, result: Result) -> None:
        cpu, wall = time.thread_time_ns(), time.perf_counter_ns()
        result.indexed_us.append((wall - self.wall) / 1000)
        result.cpu_us.append((cpu - self.cpu) / 1000)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")


def run(n_agents: int, n_waiting: int, decisions: int, naive_sample: int, progress: Progress) -> list[Result]:
    rng = random.Random(n_agents * 7 + n_waiting)
    policy = seeded_policy()
    engine = Engine(policy)
    agents = make_agents(rng, policy, n_agents)
    task = progress.add_task(f"{n_agents:,} agents, {n_waiting:,} waiting: building", total=n_agents + n_waiting)
    for agent in agents:
        engine.put_agent(agent)
        progress.advance(task)
    for i in range(n_waiting):
        engine.put_work(make_work(rng, at=NOW - timedelta(seconds=n_waiting - i)), NOW)
        progress.advance(task)
    engine.refile()
    watch = Stopwatch()
    progress.update(
        task, description=f"{n_agents:,} agents, {n_waiting:,} waiting: deciding", completed=0, total=2 * decisions
    )
    now = NOW
    arrival = Result(n_agents, n_waiting, "arrival → best free agent", [], [], 0, 0)
    freed = Result(n_agents, n_waiting, "slot freed → best waiting work", [], [], 0, 0)
    for d in range(decisions):
        now += timedelta(milliseconds=50)
        # A slot frees: the agent takes the highest-priority work it may serve.
        agent = engine.agents[rng.choice(agents).agent_id]
        busy = [c for c, n in agent.load.items() if n > 0]
        if busy:
            channel = rng.choice(busy)
            agent = replace(agent, load={**agent.load, channel: agent.load[channel] - 1}, idle_since=now)
            if d < naive_sample:
                waiting = list(engine.waiting.values())
                started = time.perf_counter_ns()
                reference = naive_best_work(policy, agent, waiting, now)
                freed.naive_us.append((time.perf_counter_ns() - started) / 1000)
            watch.start()
            engine.put_agent(agent)
            found = engine.best_work(agent.agent_id, now)
            if found is not None:
                engine.reserve(found, agent.agent_id, now)
            engine.refile()  # the index of free agents is up to date when the clock stops
            watch.stop(freed)
            if d < naive_sample:
                freed.compared += 1
                freed.agreed += found == (reference.work_id if reference else None)
        progress.advance(task)
        # A contact arrives: the best free agent takes it, or it waits.
        work = make_work(rng, at=now)
        if d < naive_sample:
            people = list(engine.agents.values())
            started = time.perf_counter_ns()
            best = naive_best_agent(policy, people, work, now)
            arrival.naive_us.append((time.perf_counter_ns() - started) / 1000)
        watch.start()
        engine.put_work(work, now)
        choice = engine.best_agent(work.work_id, now)
        if choice is not None:
            engine.reserve(work.work_id, choice.agent_id, now)
        engine.refile()
        watch.stop(arrival)
        if d < naive_sample:
            arrival.compared += 1
            same = (choice is None and best is None) or (
                choice is not None
                and best is not None
                and (choice.score, choice.idle_since) == (best.score, best.idle_since)
            )
            arrival.agreed += same
        progress.advance(task)
    assert all(free_capacity(a, "chat") >= 0 for a in engine.agents.values())
    return [arrival, freed]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100:500,10000:50000", help="agents:waiting pairs, comma-separated")
    parser.add_argument("--decisions", type=int, default=3000, help="decisions of each kind, timed")
    parser.add_argument("--naive", type=int, default=60, help="of which also run as a naive scan")
    args = parser.parse_args()
    console = Console(width=160)
    results: list[Result] = []
    load_before = psutil.getloadavg()[0]
    with Progress(console=console, transient=True) as progress:
        for pair in args.sizes.split(","):
            n_agents, n_waiting = (int(x) for x in pair.split(":"))
            results.extend(run(n_agents, n_waiting, args.decisions, args.naive, progress))
    cpu = platform.processor() or platform.machine()
    table = Table(
        title=f"routing decisions — {datetime.now(UTC):%Y-%m-%d}, {psutil.cpu_count()} cores {cpu}, "
        f"Python {platform.python_version()}, {args.decisions:,} decisions per row ({args.naive} naive), "
        f"load average {load_before:.1f} → {psutil.getloadavg()[0]:.1f}"
    )
    for column in (
        "agents",
        "waiting",
        "decision",
        "indexed p50 µs",
        "indexed p99 µs",
        "CPU p50 µs",
        "CPU p99 µs",
        "naive p50 µs",
        "naive p99 µs",
        "speed-up (p50)",
        "same choice",
    ):
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(
            f"{r.agents:,}",
            f"{r.waiting:,}",
            r.kind,
            f"{statistics.median(r.indexed_us):.1f}",
            f"{pct(r.indexed_us, 0.99):.1f}",
            f"{statistics.median(r.cpu_us):.1f}",
            f"{pct(r.cpu_us, 0.99):.1f}",
            f"{statistics.median(r.naive_us):,.0f}",
            f"{pct(r.naive_us, 0.99):,.0f}",
            f"{statistics.median(r.naive_us) / statistics.median(r.indexed_us):,.0f}×",
            f"{r.agreed}/{r.compared}",
        )
    console.print(table)


if __name__ == "__main__":
    main()
