"""The matching engine: indexes of available agents and priority structures of waiting work, per pool.

Two questions, answered without scanning everyone:
- work arrives (or relaxes, or comes back): who is the best agent? Agents free on a channel are indexed by
  (pool, channel, language, skill, tier) and skill level, each bucket ordered by idle-since; the walk goes
  from the highest level down and stops as soon as nothing further can win.
- an agent frees a slot: which waiting work comes first? Waiting work is filed by (pool, team, channel) and
  then (language, primary skill, level, class, grade), each bucket a heap on a key that orders by priority
  including age; the agent peeks only the buckets it may serve.
Invariant kept by the caller (match after every change): no available agent with a free slot is eligible for
work that waits. So on arrival the best free agent may take the new work at once, and when a slot frees the
highest-priority work that agent may serve takes it: the backlog drains oldest-highest first.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from services.routing.domain.indexes import ANY, AgentIndex, IdleOrder, Key, OrderedHeap, Path, WorkTree
from services.routing.domain.model import (
    MAX_LEVEL,
    Agent,
    Requirement,
    Verdict,
    Work,
    can_receive_offers,
    directed_to,
    effective_requirements,
    evaluate,
    open_channels,
    rank_key,
    with_load,
)
from services.routing.domain.policy import Policy, queue_key, static_priority


@dataclass(frozen=True)
class Choice:
    """The outcome of one decision, with what explains it."""

    agent_id: str
    proficiency: int
    bonus: int
    idle_since: datetime | None
    rule: str
    requirements: tuple[Requirement, ...]
    runners_up: tuple[Verdict, ...] = ()
    scanned: int = 0
    capped: bool = False

    @property
    def score(self) -> int:
        return self.proficiency + self.bonus


def describe_rule(best: Verdict, runners_up: list[Verdict], *, directed: bool) -> str:
    if directed:
        return "directed: the work waits for this agent (transfer or first-owner hold)"
    if not runners_up:
        return f"highest proficiency available ({best.proficiency}), longest idle at that level" + (
            f", bonus +{best.bonus}" if best.bonus else ""
        )
    second = runners_up[0]
    if best.score > second.score:
        if best.bonus and best.proficiency <= second.score:
            return f"first-owner / last-agent bonus +{best.bonus} (score {best.score} vs {second.score})"
        return f"best proficiency ({best.proficiency} vs {second.proficiency})"
    return f"equal score {best.score}: longest idle (since {best.idle_since:%H:%M:%S})"


@dataclass
class _Stats:
    decisions: int = 0
    scanned: int = 0
    capped: int = 0


@dataclass
class Engine:
    """One routing instance's view of the pools it owns. Not thread-safe; one task drives it."""

    policy: Policy
    agents: dict[str, Agent] = field(default_factory=dict)
    waiting: dict[uuid.UUID, Work] = field(default_factory=dict)
    stats: _Stats = field(default_factory=_Stats)
    _free: AgentIndex = field(default_factory=AgentIndex)
    _tree: WorkTree = field(default_factory=WorkTree)
    _targeted: dict[str, OrderedHeap[uuid.UUID]] = field(default_factory=dict)
    _filed: dict[uuid.UUID, tuple[str] | tuple[tuple[str, str, str], Path]] = field(default_factory=dict)
    _keys: dict[uuid.UUID, Key] = field(default_factory=dict)
    """Each waiting item's queue key (priority with age, then enqueued-at): its order among waiting work."""
    _unfiled: dict[str, None] = field(default_factory=dict)
    """Agents changed since the index of free agents was last needed, oldest change first."""

    # --- agents ---------------------------------------------------------------------------------------------

    def put_agent(self, agent: Agent) -> None:
        """Add or replace an agent (profile, presence, load, idle-since). The index of free agents catches up
        before the next search of it (`refile`): an agent whose slot frees usually takes waiting work at once,
        and is then filed once, as it ends up, rather than twice."""
        agent_id = agent.agent_id
        self.agents[agent_id] = agent
        self._unfiled.pop(agent_id, None)
        self._unfiled[agent_id] = None

    def drop_agent(self, agent_id: str) -> None:
        self._unfiled.pop(agent_id, None)
        self._free.discard(agent_id)
        self.agents.pop(agent_id, None)

    def refile(self) -> None:
        """Bring the index of free agents up to date with every agent changed since it was last searched."""
        if not self._unfiled:
            return
        agents, free = self.agents, self._free
        for agent_id in self._unfiled:
            agent = agents[agent_id]
            if can_receive_offers(agent):
                free.put(agent, open_channels(agent))
            else:
                free.discard(agent_id)
        self._unfiled.clear()

    # --- waiting work ---------------------------------------------------------------------------------------

    def static_priority(self, work: Work) -> int:
        return static_priority(
            self.policy,
            work_class=work.work_class,
            grade=work.grade,
            sla_warned=work.sla_warned,
            escalation_level=work.escalation_level,
        )

    def queue_key(self, work_id: uuid.UUID) -> Key:
        """The waiting item's place in line: lower comes first, at every instant (see `policy.queue_key`)."""
        return self._keys[work_id]

    def put_work(self, work: Work, now: datetime) -> None:
        """Add or replace a waiting item, filed by what it needs at `now` (relaxation changes the filing)."""
        self.drop_work(work.work_id)
        self.waiting[work.work_id] = work
        key = self._keys[work.work_id] = (
            queue_key(self.policy, self.static_priority(work), work.enqueued_at),
            work.enqueued_at.timestamp(),
        )
        target = directed_to(work, now)
        if target is not None:
            self._targeted.setdefault(target, OrderedHeap()).put(work.work_id, key)
            self._filed[work.work_id] = (target,)
            return
        reqs = effective_requirements(work, self.policy.relaxation, now)
        primary = reqs[0] if reqs else Requirement(ANY, 0)
        group = (work.pool, work.target_team or ANY, work.channel)
        path = (work.language or ANY, primary.skill, primary.level, (work.work_class, work.grade))
        self._tree.put(group, path, work.work_id, key)
        self._filed[work.work_id] = (group, path)

    def _unfile(self, work_id: uuid.UUID) -> None:
        filed = self._filed.pop(work_id, None)
        if filed is None:
            return
        if len(filed) == 1:
            (target,) = filed
            heap = self._targeted[target]
            heap.discard(work_id)
            if not heap:
                del self._targeted[target]
            return
        group, path = filed
        self._tree.discard(group, path, work_id)

    def drop_work(self, work_id: uuid.UUID) -> None:
        self._unfile(work_id)
        self.waiting.pop(work_id, None)
        self._keys.pop(work_id, None)

    def reserve(self, work_id: uuid.UUID, agent_id: str, now: datetime) -> None:
        """Apply an offer made: the work stops waiting and holds a slot of the agent."""
        work = self.waiting.get(work_id)
        channel = work.channel if work is not None else None
        self.drop_work(work_id)
        agent = self.agents.get(agent_id)
        if agent is not None and channel is not None:
            load = dict(agent.load)
            load[channel] = load.get(channel, 0) + 1
            self.put_agent(with_load(agent, load, now))

    def set_policy(self, policy: Policy, now: datetime) -> None:
        """A new policy changes priorities, tiers and relaxation: file everything again."""
        self.policy = policy
        self._tree.invalidate()
        for work in list(self.waiting.values()):
            self.put_work(work, now)

    # --- decisions ------------------------------------------------------------------------------------------

    def best_agent(self, work_id: uuid.UUID, now: datetime) -> Choice | None:
        """The agent to offer this waiting work to now, or None if nobody eligible is free."""
        self.refile()
        work = self.waiting[work_id]
        policy = self.policy
        reqs = effective_requirements(work, policy.relaxation, now)
        self.stats.decisions += 1
        target = directed_to(work, now)
        if target is not None:
            agent = self.agents.get(target)
            if agent is None:
                return None
            verdict = evaluate(policy, agent, work, now)
            if not verdict.eligible:
                return None
            return Choice(
                target,
                verdict.proficiency,
                verdict.bonus,
                verdict.idle_since,
                describe_rule(verdict, [], directed=True),
                reqs,
                scanned=1,
            )
        candidates: list[Verdict] = []
        scanned = 0
        budget = policy.max_scan
        capped = False
        for preferred in {work.first_owner, work.last_agent} - {None}:
            agent = self.agents.get(preferred)  # type: ignore[arg-type]
            if agent is not None and agent.pool == work.pool:
                scanned += 1
                verdict = evaluate(policy, agent, work, now)
                if verdict.eligible:
                    candidates.append(verdict)
        language = work.language or ANY
        for tier in sorted(policy.tiers_for(work.work_class, work.grade)):
            if capped:
                break
            primary, levels = self._narrowest(work, reqs, language, tier)
            if levels is None:
                continue
            best_here: Verdict | None = None
            top = MAX_LEVEL if primary else 0
            bottom = primary.level if primary else 0
            for level in range(top, bottom - 1, -1):
                if best_here is not None and level < best_here.proficiency:
                    break
                for agent_id in levels[level].walk():
                    scanned += 1
                    if scanned > budget:
                        capped = True
                        break
                    verdict = evaluate(policy, self.agents[agent_id], work, now)
                    if not verdict.eligible:
                        continue
                    if best_here is None or rank_key(verdict) < rank_key(best_here):
                        best_here = verdict
                    if verdict.proficiency >= level:
                        break  # the rest of this bucket idled less and cannot score higher
                if capped:
                    break
            if best_here is not None:
                candidates.append(best_here)
        self.stats.scanned += scanned
        if capped:
            self.stats.capped += 1
        if not candidates:
            return None
        unique = {v.agent_id: v for v in candidates}
        ranked = sorted(unique.values(), key=rank_key)
        best = ranked[0]
        return Choice(
            best.agent_id,
            best.proficiency,
            best.bonus,
            best.idle_since,
            describe_rule(best, ranked[1:], directed=False),
            reqs,
            runners_up=tuple(ranked[1:4]),
            scanned=scanned,
            capped=capped,
        )

    def _narrowest(
        self, work: Work, reqs: tuple[Requirement, ...], language: str, tier: str
    ) -> tuple[Requirement | None, list[IdleOrder] | None]:
        """Of the required skills, the one with the fewest free agents at the level needed: every eligible
        agent holds it, and its level bounds their proficiency, so walking it from the top stays exact."""
        if not reqs:
            return None, self._free.levels.get((work.pool, work.channel, language, ANY, tier))
        best: tuple[int, Requirement, list[IdleOrder]] | None = None
        for r in reqs:
            levels = self._free.levels.get((work.pool, work.channel, language, r.skill, tier))
            if levels is None:
                return r, None  # nobody free holds this skill: nobody is eligible
            size = sum(levels[lvl].size() for lvl in range(r.level, MAX_LEVEL + 1))
            if best is None or size < best[0]:
                best = (size, r, levels)
        assert best is not None
        return best[1], best[2]

    def best_work(self, agent_id: str, now: datetime) -> uuid.UUID | None:
        """The highest-priority waiting work this agent may take now (one slot), or None."""
        found = self.next_work(agent_id, now)
        return found[0] if found is not None else None

    def next_work(self, agent_id: str, now: datetime) -> tuple[uuid.UUID, Verdict] | None:
        """`best_work` with the verdict that admitted it. Peeks the top of each heap the agent may serve and
        walks only a heap whose top comes before the best found so far."""
        agent = self.agents.get(agent_id)
        if agent is None or not can_receive_offers(agent):
            return None
        policy = self.policy
        rule = policy.tiers.get(agent.tier)
        if rule is None:
            return None
        self.stats.decisions += 1
        heaps = self._tree.heaps_for(agent, open_channels(agent), rule)
        targeted = self._targeted.get(agent_id)
        if targeted is not None:
            heaps.insert(0, targeted)
        # The heap with the smallest top first: its top is usually eligible, and then no other heap is walked.
        tops: list[tuple[tuple[Key, uuid.UUID], OrderedHeap[uuid.UUID]]] = []
        first = 0
        for heap in heaps:
            top = heap.first()
            if top is not None:
                if tops and top < tops[first][0]:
                    first = len(tops)
                tops.append((top, heap))
        if first:
            tops[0], tops[first] = tops[first], tops[0]
        budget = policy.max_scan
        spent = 0
        best: tuple[Key, uuid.UUID] | None = None
        verdict: Verdict | None = None
        waiting = self.waiting
        for top, heap in tops:
            if best is not None and top >= best:
                continue  # nothing here comes before what we have
            for entry in heap.entries():
                if spent >= budget:
                    break
                spent += 1
                if best is not None and entry >= best:
                    break  # everything further in this heap comes later
                v = evaluate(policy, agent, waiting[entry[1]], now)
                if v.eligible:
                    best, verdict = entry, v
                    break
            if spent >= budget:
                break
        self.stats.scanned += spent
        if spent >= budget:
            self.stats.capped += 1
        return (best[1], verdict) if best is not None and verdict is not None else None


def naive_best_agent(policy: Policy, agents: list[Agent], work: Work, now: datetime) -> Verdict | None:
    """The reference: evaluate every agent of the pool. Explanations and tests use it; decisions never do."""
    eligible = [v for a in agents if a.pool == work.pool for v in [evaluate(policy, a, work, now)] if v.eligible]
    return min(eligible, key=rank_key) if eligible else None


def naive_best_work(policy: Policy, agent: Agent, waiting: list[Work], now: datetime) -> Work | None:
    """The reference for a freed slot: the highest-priority waiting work the agent is eligible for."""
    best: tuple[tuple[float, float], Work] | None = None
    for work in waiting:
        if work.pool != agent.pool or not evaluate(policy, agent, work, now).eligible:
            continue
        static = static_priority(
            policy,
            work_class=work.work_class,
            grade=work.grade,
            sla_warned=work.sla_warned,
            escalation_level=work.escalation_level,
        )
        key = (queue_key(policy, static, work.enqueued_at), work.enqueued_at.timestamp())
        if best is None or key < best[0]:
            best = (key, work)
    return best[1] if best is not None else None


@dataclass(frozen=True)
class Proposal:
    work_id: uuid.UUID
    agent_id: str
    detail: dict[str, object]
    micros: float = 0.0


def plan(
    engine: Engine, works: set[uuid.UUID], agents: set[str], now: datetime, *, clock_ns: Callable[[], int]
) -> list[Proposal]:
    """The offers to make after a change: changed work first, highest priority first, each to its best free
    agent; then every changed agent fills its free slots with the highest-priority work it may serve. Each
    proposal is reserved in the engine at once, so later ones see the slot taken."""
    proposals: list[Proposal] = []

    for work_id in sorted((w for w in works if w in engine.waiting), key=engine.queue_key):
        started = clock_ns()
        choice = engine.best_agent(work_id, now)
        if choice is not None:
            engine.reserve(work_id, choice.agent_id, now)
            proposals.append(
                Proposal(work_id, choice.agent_id, choice_record(choice), (clock_ns() - started) / 1000)
            )
    for agent_id in sorted(agents):
        while True:
            started = clock_ns()
            next_work = engine.next_work(agent_id, now)
            if next_work is None:
                break
            found, verdict = next_work
            engine.reserve(found, agent_id, now)
            detail: dict[str, object] = {
                "trigger": "a slot freed",
                "rule": "the highest-priority waiting work this agent may serve (oldest first among equals)",
                "proficiency": verdict.proficiency,
                "bonus": verdict.bonus,
                "engine": "indexed",
            }
            proposals.append(Proposal(found, agent_id, detail, (clock_ns() - started) / 1000))
    return proposals


def choice_record(choice: Choice) -> dict[str, object]:
    return {
        "trigger": "work arrived or changed",
        "engine": "indexed",
        "rule": choice.rule,
        "score": choice.score,
        "proficiency": choice.proficiency,
        "bonus": choice.bonus,
        "idle_since": choice.idle_since.isoformat() if choice.idle_since else None,
        "requirements": [{"skill": r.skill, "level": r.level} for r in choice.requirements],
        "runners_up": [
            {
                "agent_id": v.agent_id,
                "score": v.score,
                "proficiency": v.proficiency,
                "bonus": v.bonus,
                "idle_since": v.idle_since.isoformat() if v.idle_since else None,
            }
            for v in choice.runners_up
        ],
        "scanned": choice.scanned,
        "capped": choice.capped,
    }
