"""Agents and work as routing sees them: capacity, presence, requirements and their relaxation, eligibility.

`evaluate` is the one definition of who may take what; the indexed engine (`engine.py`) must agree with it,
and explanations and dry-runs use it directly.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from services.routing.domain.policy import CHANNELS, LIVE_CALL_CHANNEL, Policy, RelaxStep

SET_PRESENCES: tuple[str, ...] = ("offline", "available", "away")
"""What an agent sets; `busy` and `wrap_up` are derived from load."""
SUPERVISOR_TIER = "supervisor"
"""The tier whose agents are told what needs a supervisor: SLA escalations, emergencies nobody was paged for,
callbacks nobody could take."""
MAX_LEVEL = 5
NEVER = datetime(1970, 1, 1, tzinfo=UTC)
"""Idle-since of an agent that never had work: longer idle than anyone who had."""


def primary_language(tag: str | None) -> str | None:
    """`zh-Hans-CN` → `zh`: agents speak languages, not scripts or regions."""
    if not tag:
        return None
    return tag.replace("_", "-").split("-", 1)[0].lower() or None


@dataclass(frozen=True)
class Requirement:
    skill: str
    level: int


def parse_requirements(
    raw: list[str] | list[dict[str, object]] | None, *, default_level: int
) -> tuple[Requirement, ...]:
    """Intake sends skill names (`billing`) or `name:level` (`billing:3`); duplicates keep the highest level."""
    levels: dict[str, int] = {}
    for item in raw or ():
        if isinstance(item, dict):
            name, level = str(item["skill"]), int(str(item.get("level", default_level)))
        else:
            name, _, lvl = str(item).partition(":")
            level = int(lvl) if lvl.strip().isdigit() else default_level
        name = name.strip().lower()
        if name:
            levels[name] = max(levels.get(name, 0), min(MAX_LEVEL, max(1, level)))
    return tuple(Requirement(k, v) for k, v in levels.items())


@dataclass(frozen=True)
class Agent:
    agent_id: str
    pool: str
    tier: str
    team: str | None
    languages: frozenset[str]
    skills: Mapping[str, int]
    capacity: Mapping[str, int]
    """Effective per-channel capacity (the agent's own numbers over the policy defaults)."""
    presence: str = "offline"
    disconnected_at: datetime | None = None
    """Set while the desktop is away (within the grace period); None when connected or never connected."""
    load: Mapping[str, int] = field(default_factory=dict)
    """Slots held per channel: assigned work and live offers (an offer reserves its slot)."""
    wrap_ups: int = 0
    """Held slots whose work is in wrap-up."""
    idle_since: datetime = NEVER
    """Last change of workload or presence: the longest-idle rule compares it."""


def free_capacity(agent: Agent, channel: str) -> int:
    """Free slots on `channel`; a live call (a held phone slot) blocks every other channel."""
    if channel != LIVE_CALL_CHANNEL and agent.load.get(LIVE_CALL_CHANNEL, 0) > 0:
        return 0
    return max(0, agent.capacity.get(channel, 0) - agent.load.get(channel, 0))


def open_channels(agent: Agent) -> tuple[str, ...]:
    """The channels with a free slot (`free_capacity` > 0), in `CHANNELS` order."""
    load, capacity = agent.load, agent.capacity
    if load.get(LIVE_CALL_CHANNEL, 0) > 0:
        live = capacity.get(LIVE_CALL_CHANNEL, 0) > load[LIVE_CALL_CHANNEL]
        return (LIVE_CALL_CHANNEL,) if live else ()
    return tuple([c for c in CHANNELS if capacity.get(c, 0) > load.get(c, 0)])


def with_load(agent: Agent, load: Mapping[str, int], idle_since: datetime) -> Agent:
    """The agent after its load changed (an offer made or a slot freed): idle counts from `idle_since`."""
    return Agent(
        agent.agent_id,
        agent.pool,
        agent.tier,
        agent.team,
        agent.languages,
        agent.skills,
        agent.capacity,
        agent.presence,
        agent.disconnected_at,
        load,
        agent.wrap_ups,
        idle_since,
    )


def displayed_presence(agent: Agent) -> str:
    """offline / away as set; an available agent with no free slot anywhere is `wrap_up` or `busy`."""
    if agent.presence != "available":
        return agent.presence
    if open_channels(agent):
        return "available"
    return "wrap_up" if agent.wrap_ups else "busy"


def can_receive_offers(agent: Agent) -> bool:
    return agent.presence == "available" and agent.disconnected_at is None


@dataclass(frozen=True)
class Work:
    """A waiting work item, with what matching needs and nothing else."""

    work_id: uuid.UUID
    pool: str
    channel: str
    work_class: str
    grade: str
    language: str | None
    requirements: tuple[Requirement, ...]
    enqueued_at: datetime
    sla_warned: bool = False
    escalation_level: int = 0
    target_agent: str | None = None
    hold_until: datetime | None = None
    """With `target_agent`: only that agent until then (None: until the offer fails)."""
    target_team: str | None = None
    first_owner: str | None = None
    last_agent: str | None = None
    """The customer's last agent (another contact)."""
    excluded: frozenset[str] = frozenset()
    """Agents who declined or missed this work."""
    offers_failed: int = 0


def relax_stage(steps: tuple[RelaxStep, ...], waited_s: float) -> int:
    stage = 0
    for step in steps:
        if waited_s >= step.after_s:
            stage += 1
    return stage


def effective_requirements(work: Work, steps: tuple[RelaxStep, ...], now: datetime) -> tuple[Requirement, ...]:
    stage = relax_stage(steps, (now - work.enqueued_at).total_seconds())
    if stage == 0 or not work.requirements:
        return work.requirements
    step = steps[stage - 1]
    reqs = work.requirements[:1] if step.primary_only else work.requirements
    return tuple(Requirement(r.skill, max(1, r.level - step.level_drop)) for r in reqs)


def next_relaxation(work: Work, steps: tuple[RelaxStep, ...], now: datetime) -> datetime | None:
    if not work.requirements:
        return None
    waited = (now - work.enqueued_at).total_seconds()
    for step in steps:
        if step.after_s > waited:
            return work.enqueued_at + timedelta(seconds=step.after_s)
    return None


def directed_to(work: Work, now: datetime) -> str | None:
    """The one agent this work waits for now, if any."""
    if work.target_agent is None:
        return None
    if work.hold_until is not None and now >= work.hold_until:
        return None
    return work.target_agent


def preference_bonus(policy: Policy, work: Work, agent_id: str) -> int:
    if agent_id == work.first_owner:
        return policy.first_owner_bonus
    if agent_id == work.last_agent:
        return policy.last_agent_bonus
    return 0


def proficiency(agent: Agent, reqs: tuple[Requirement, ...]) -> int:
    """The weakest required skill's level (0 when nothing is required)."""
    return min((agent.skills.get(r.skill, 0) for r in reqs), default=0)


@dataclass(frozen=True)
class Verdict:
    agent_id: str
    eligible: bool
    filter: str | None = None
    """The first rule that removed the agent: presence, desktop, target, team, excluded, tier, language, skill,
    capacity."""
    detail: str = ""
    proficiency: int = 0
    bonus: int = 0
    idle_since: datetime | None = None

    @property
    def score(self) -> int:
        return self.proficiency + self.bonus


def evaluate(policy: Policy, agent: Agent, work: Work, now: datetime) -> Verdict:
    """Whether `agent` may be offered `work` now, and its score if so. Filters run in a fixed order."""
    a = agent.agent_id
    if agent.presence != "available":
        return Verdict(a, False, "presence", f"presence is {agent.presence}")
    if agent.disconnected_at is not None:
        return Verdict(a, False, "desktop", "desktop disconnected (within the grace period)")
    target = directed_to(work, now)
    if target is not None and target != a:
        return Verdict(a, False, "target", f"work is directed to agent {target}")
    if work.target_team is not None and agent.team != work.target_team:
        return Verdict(a, False, "team", f"work is queued for team {work.target_team}")
    if a in work.excluded:
        return Verdict(a, False, "excluded", "declined or missed this work before")
    if not policy.tier_allows(agent.tier, work.work_class, work.grade):
        return Verdict(
            a, False, "tier", f"tier {agent.tier} does not serve {work.work_class} work for {work.grade} customers"
        )
    if work.language is not None and work.language not in agent.languages:
        return Verdict(a, False, "language", f"does not speak {work.language}")
    # The requirements relaxed by waiting (`effective_requirements`), checked without building them.
    reqs = work.requirements
    stage = relax_stage(policy.relaxation, (now - work.enqueued_at).total_seconds()) if reqs else 0
    drop = 0
    if stage:
        step = policy.relaxation[stage - 1]
        drop = step.level_drop
        if step.primary_only:
            reqs = reqs[:1]
    skills = agent.skills
    weakest: int | None = None
    for r in reqs:
        need = max(1, r.level - drop) if stage else r.level
        have = skills.get(r.skill, 0)
        if have < need:
            return Verdict(
                a, False, "skill", f"{r.skill} level {have} < {need}" if have else f"lacks skill {r.skill}"
            )
        if weakest is None or have < weakest:
            weakest = have
    if free_capacity(agent, work.channel) <= 0:
        live = work.channel != LIVE_CALL_CHANNEL and agent.load.get(LIVE_CALL_CHANNEL, 0) > 0
        return Verdict(a, False, "capacity", "on a live call" if live else f"no free {work.channel} slot")
    return Verdict(
        a,
        True,
        proficiency=0 if weakest is None else weakest,
        bonus=preference_bonus(policy, work, a),
        idle_since=agent.idle_since,
    )


def rank_key(v: Verdict) -> tuple[int, datetime, str]:
    """Best first: highest score (proficiency + bonus), then longest idle, then agent id (deterministic)."""
    return (-v.score, v.idle_since or NEVER, v.agent_id)
