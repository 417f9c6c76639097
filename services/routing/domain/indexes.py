"""The engine's indexes: free agents by (pool, channel, language, skill, tier) and level in longest-idle order,
and waiting work as a tree of priority heaps. Both are updated in place, touching only what changed, so a
decision costs the same with ten agents or ten thousand.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import uuid
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from services.routing.domain.model import MAX_LEVEL, Agent
from services.routing.domain.policy import TierRule

M = TypeVar("M", bound=Hashable)
ANY = "*"

Key = tuple[float, ...]
AgentKey = tuple[str, str, str, str, str]
"""(pool, channel, language, skill, tier) of a free agent; `*` for any language or skill."""
GroupKey = tuple[str, str, str]
"""(pool, team, channel) of waiting work; team `*` for work any team may take."""
Path = tuple[str, str, int, tuple[str, str]]
"""(language, primary skill, level, (class, grade)) of waiting work inside its group."""


class OrderedHeap(Generic[M]):
    """Members ordered by a key: O(log n) put, discard with stale entries left behind (dropped when they reach
    the top, or all at once when they outnumber the live ones), in-order walk without popping. The entry at
    the top is always live, so peeking is O(1)."""

    __slots__ = ("_heap", "_keys")

    def __init__(self) -> None:
        self._heap: list[tuple[Key, M]] = []
        self._keys: dict[M, Key] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, member: M) -> bool:
        return member in self._keys

    def put(self, member: M, key: Key) -> None:
        old = self._keys.get(member)
        if old == key:
            return
        self._keys[member] = key
        heapq.heappush(self._heap, (key, member))
        if old is not None:
            self._tidy()

    def discard(self, member: M) -> None:
        if self._keys.pop(member, None) is not None:
            self._tidy()

    def _tidy(self) -> None:
        heap, keys = self._heap, self._keys
        if len(heap) > 2 * len(keys) + 64:
            self._heap = heap = [(k, m) for m, k in keys.items()]
            heapq.heapify(heap)
            return
        while heap:
            key, member = heap[0]
            if keys.get(member) == key:
                return
            heapq.heappop(heap)

    def first(self) -> tuple[Key, M] | None:
        """The smallest (key, member)."""
        heap = self._heap
        return heap[0] if heap else None

    def walk(self) -> Iterator[M]:
        """Members in key order. Do not change the heap while walking."""
        for _, member in self.entries():
            yield member

    def entries(self) -> Iterator[tuple[Key, M]]:
        """(key, member) in key order. Do not change the heap while walking."""
        heap, keys = self._heap, self._keys
        if not heap:
            return
        frontier: list[tuple[tuple[Key, M], int]] = [(heap[0], 0)]
        n = len(heap)
        while frontier:
            entry, i = heapq.heappop(frontier)
            if keys.get(entry[1]) == entry[0]:
                yield entry
            left = 2 * i + 1
            if left < n:
                heapq.heappush(frontier, (heap[left], left))
                if left + 1 < n:
                    heapq.heappush(frontier, (heap[left + 1], left + 1))


class IdleOrder:
    """The free agents of one bucket (one channel), longest idle first: a line of (idle-since, agent, filing)
    entries kept in that order. Idle-since only moves to `now`, so filing an agent again is an append; the
    rare filing into the past (a reload, an edited profile) is a sorted insert. Nothing is ever removed one
    by one: an entry is live while the agent's filing for the channel still carries its number (the agent
    left, went busy on the channel or was filed again: the entry is skipped), and the line is compacted once
    its dead entries outnumber the live ones."""

    __slots__ = ("_channel", "_free", "_line", "_live", "_start")

    def __init__(self, free: dict[str, FreeAgent], channel: str) -> None:
        self._free = free
        self._channel = channel
        self._line: list[tuple[float, str, int]] = []
        self._start = 0
        self._live = 0
        """Live entries at the last compaction (an estimate in between)."""

    def size(self) -> int:
        """Entries in the line, live or not: an upper bound of the agents it holds."""
        return len(self._line) - self._start

    def _is_live(self, entry: tuple[float, str, int]) -> bool:
        filed = self._free.get(entry[1])
        return filed is not None and filed.held.get(self._channel) == entry[2]

    def put(self, agent_id: str, idle: float, filing: int) -> None:
        line = self._line
        entry = (idle, agent_id, filing)
        if not line or entry >= line[-1]:
            line.append(entry)
        else:
            bisect.insort(line, entry, lo=self._start)
        if len(line) - self._start > 2 * self._live + 64:
            free, channel = self._free, self._channel
            self._line = [
                e for e in line[self._start :] if (f := free.get(e[1])) is not None and f.held.get(channel) == e[2]
            ]
            self._start = 0
            self._live = len(self._line)

    def walk(self) -> Iterator[str]:
        """Longest idle first. Do not change the order while walking."""
        line, start, n = self._line, self._start, len(self._line)
        while start < n and not self._is_live(line[start]):
            start += 1
        self._start = start
        if start > 64 and 2 * start > n:
            del line[:start]
            self._start = start = 0
            n = len(line)
        free, channel = self._free, self._channel
        for i in range(start, n):
            _, agent_id, filing = line[i]
            filed = free.get(agent_id)
            if filed is not None and filed.held.get(channel) == filing:
                yield agent_id


def same_profile(a: Agent, b: Agent) -> bool:
    """Whether two states of an agent are filed under the same buckets (only load, idle and presence differ)."""
    return (
        a.pool == b.pool
        and a.tier == b.tier
        and a.team == b.team
        and (a.languages is b.languages or a.languages == b.languages)
        and (a.skills is b.skills or a.skills == b.skills)
    )


@dataclass(eq=False)
class FreeAgent:
    """Where one agent who may receive offers is filed: per open channel the number of its current filing
    (its entries carrying another number are dead), and the orders it joins on each channel."""

    agent: Agent
    idle: float
    held: dict[str, int] = field(default_factory=dict)
    joins: dict[str, list[IdleOrder]] = field(default_factory=dict)


class AgentIndex:
    """Free agents by (pool, channel, language, skill, tier), one longest-idle order per skill level. A change
    of load or idle-since re-files the agent only in the channels that opened (or, when idle-since moved, in
    those it is already in); a channel that closes costs nothing (its entries die); a changed profile files
    the agent again from scratch."""

    def __init__(self) -> None:
        self.levels: dict[AgentKey, list[IdleOrder]] = {}
        """Never shrinks (a bucket per key ever used), so the orders agents keep references to stay valid."""
        self.free: dict[str, FreeAgent] = {}
        self._filings = itertools.count(1)

    def put(self, agent: Agent, channels: tuple[str, ...]) -> None:
        """File an agent who may receive offers under its open `channels` (and nowhere else)."""
        agent_id = agent.agent_id
        entry = self.free.get(agent_id)
        if entry is not None and not same_profile(entry.agent, agent):
            entry = None
        idle = agent.idle_since.timestamp()
        if entry is None:
            entry = self.free[agent_id] = FreeAgent(agent, idle)
            moved = True
        else:
            moved = idle != entry.idle
        held = entry.held
        for channel in [c for c in held if c not in channels]:
            del held[channel]
        for channel in channels:
            if not moved and channel in held:
                continue
            filing = held[channel] = next(self._filings)
            for order in self._joins(entry, channel):
                order.put(agent_id, idle, filing)
        entry.agent = agent
        entry.idle = idle

    def _joins(self, entry: FreeAgent, channel: str) -> list[IdleOrder]:
        orders = entry.joins.get(channel)
        if orders is None:
            agent = entry.agent
            orders = []
            for language in (*agent.languages, ANY):
                for skill, level in (*agent.skills.items(), (ANY, 0)):
                    key = (agent.pool, channel, language, skill, agent.tier)
                    levels = self.levels.get(key)
                    if levels is None:
                        levels = self.levels[key] = [IdleOrder(self.free, channel) for _ in range(MAX_LEVEL + 1)]
                    orders.append(levels[min(MAX_LEVEL, max(0, level))])
            entry.joins[channel] = orders
        return orders

    def discard(self, agent_id: str) -> None:
        self.free.pop(agent_id, None)


@dataclass(eq=False)
class SkillNode:
    """The waiting work of one (group, language, primary skill): level → (class, grade) → heap, and the lists
    of heaps each (tier, skill level) may serve, kept until a heap appears or goes here."""

    levels: dict[int, dict[tuple[str, str], OrderedHeap[uuid.UUID]]] = field(default_factory=dict)
    served: dict[tuple[str, int], list[OrderedHeap[uuid.UUID]]] = field(default_factory=dict)
    generation: int = 0

    def serves(self, rule: TierRule, have: int, generation: int) -> list[OrderedHeap[uuid.UUID]]:
        if generation != self.generation:
            self.served.clear()
            self.generation = generation
        heaps = self.served.get((rule.tier, have))
        if heaps is None:
            classes, grades = rule.classes, rule.grades
            heaps = self.served[rule.tier, have] = [
                heap
                for level, by_cg in self.levels.items()
                if level <= have
                for (work_class, grade), heap in by_cg.items()
                if work_class in classes and grade in grades
            ]
        return heaps


class WorkTree:
    """Waiting work: (pool, team, channel) → language → primary skill → level → (class, grade) → a heap by
    priority key. A heap that empties stays (so the lists of heaps an agent may serve stay valid) until empty
    heaps outnumber the others."""

    def __init__(self) -> None:
        self.groups: dict[GroupKey, dict[str, dict[str, SkillNode]]] = {}
        self.generation = 0
        """Changes when the tiers change (a new policy): every list of served heaps is collected again."""
        self._live = 0
        self._empty = 0

    def put(self, group: GroupKey, path: Path, work_id: uuid.UUID, key: Key) -> None:
        language, skill, level, cg = path
        by_skill = self.groups.setdefault(group, {}).setdefault(language, {})
        node = by_skill.get(skill)
        if node is None:
            node = by_skill[skill] = SkillNode(generation=self.generation)
        by_cg = node.levels.setdefault(level, {})
        heap = by_cg.get(cg)
        if heap is None:
            heap = by_cg[cg] = OrderedHeap()
            node.served.clear()
            self._live += 1
        elif not heap:
            self._empty -= 1
            self._live += 1
        heap.put(work_id, key)

    def discard(self, group: GroupKey, path: Path, work_id: uuid.UUID) -> None:
        language, skill, level, cg = path
        heap = self.groups[group][language][skill].levels[level][cg]
        had = bool(heap)
        heap.discard(work_id)
        if had and not heap:
            self._live -= 1
            self._empty += 1
            if self._empty > self._live + 64 or not self._live:
                self.sweep()

    def sweep(self) -> None:
        """Drop empty heaps (and the branches they leave empty)."""
        for group in list(self.groups):
            tree = self.groups[group]
            for language in list(tree):
                by_skill = tree[language]
                for skill in list(by_skill):
                    node = by_skill[skill]
                    for level in list(node.levels):
                        by_cg = node.levels[level]
                        for cg in [cg for cg, heap in by_cg.items() if not heap]:
                            del by_cg[cg]
                        if not by_cg:
                            del node.levels[level]
                    node.served.clear()
                    if not node.levels:
                        del by_skill[skill]
                if not by_skill:
                    del tree[language]
            if not tree:
                del self.groups[group]
        self._empty = 0

    def invalidate(self) -> None:
        """The tiers changed (a new policy)."""
        self.generation += 1

    def heaps_for(self, agent: Agent, channels: tuple[str, ...], rule: TierRule) -> list[OrderedHeap[uuid.UUID]]:
        """Every heap whose work the agent may serve by channel, team, language, primary skill level, class
        and grade."""
        heaps: list[OrderedHeap[uuid.UUID]] = []
        generation = self.generation
        pool = agent.pool
        teams = (ANY,) if agent.team in (None, ANY) else (ANY, agent.team)
        languages = (*agent.languages, ANY)
        skills = (*agent.skills.items(), (ANY, MAX_LEVEL))
        for channel in channels:
            for team in teams:
                tree = self.groups.get((pool, team, channel))
                if not tree:
                    continue
                for language in languages:
                    by_skill = tree.get(language)
                    if not by_skill:
                        continue
                    for skill, have in skills:
                        node = by_skill.get(skill)
                        if node is not None:
                            heaps += node.serves(rule, have, generation)
        return heaps
