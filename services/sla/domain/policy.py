"""SLA policies: rows keyed by grade × priority class × channel, each defining clocks.

A row's key parts may be left open (any). For each clock, the most specific active row that matches the
contact and defines that clock wins: more key parts set beats fewer; on a tie, grade outranks priority class,
which outranks channel. What a clock runs under is frozen into a `ClockSpec` when it starts, so a later edit of
the policy (a new version) never changes a running contact's terms; only a re-target does.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from services.sla.domain.calendar import Calendar, add_working_days, working_time_between

Unit = Literal["seconds", "minutes", "hours", "working_days"]
UNITS: tuple[Unit, ...] = ("seconds", "minutes", "hours", "working_days")
_SECONDS: Mapping[str, float] = {"seconds": 1.0, "minutes": 60.0, "hours": 3600.0}

Trigger = Literal["received", "followup"]
TRIGGERS: tuple[Trigger, ...] = ("received", "followup")

EVENT_MILESTONES: tuple[str, ...] = ("accepted", "responded", "replied", "solution", "resolved", "fed_back")
"""Milestones derived from events; any other slug is a manual milestone recorded through the API. `fed_back`:
the result reached the customer — resolved with the customer notified, or the end notice delivered."""

_SLUG = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class PolicyError(ValueError):
    """A policy definition that cannot be used."""


@dataclass(frozen=True)
class Target:
    amount: float
    unit: Unit

    def text(self) -> str:
        amount = int(self.amount) if float(self.amount).is_integer() else self.amount
        return f"{amount} {self.unit.replace('_', ' ')}"


@dataclass(frozen=True)
class Step:
    """One rung of the escalation ladder: notify `role` at a point measured on the clock's working time.

    The point is `relative_to` (the breach, or the clock's start) plus `after_fraction` of the target plus
    `after_seconds`: level 2 "supervisor at breach + 50 %" is Step(2, "supervisor", after_fraction=0.5).
    """

    level: int
    role: str
    after_fraction: float = 0.0
    after_seconds: float = 0.0
    relative_to: Literal["breach", "start"] = "breach"


@dataclass(frozen=True)
class ClockRule:
    """A clock as one policy row defines it; `None` in the optional parts means "as the row says"."""

    clock: str
    target: Target
    starts_on: Trigger = "received"
    stops_on: tuple[str, ...] = ("resolved",)
    categories: tuple[str, ...] = ()
    """The clock applies only to contacts of these categories; empty means every category."""
    incident_levels: tuple[str, ...] = ()
    """The clock applies only to security incidents of these levels (F17); empty means any contact."""
    calendar_id: str | None = None
    warning_fraction: float | None = None
    ladder: tuple[Step, ...] | None = None
    pauses: bool = True
    """Whether waiting on the customer pauses it (emergency clocks keep running)."""
    reopens: bool = False
    """Whether a reopened contact puts it back to running (keeping the time already spent)."""
    goal: float | None = None
    """Share of contacts that should meet it (e.g. 0.8 for "80 % answered within 20 s"), for the figures."""


@dataclass(frozen=True)
class Policy:
    policy_id: uuid.UUID
    name: str
    grade: str | None
    priority_class: str | None
    channel: str | None
    calendar_id: str
    warning_fraction: float | None
    ladder: tuple[Step, ...]
    clocks: tuple[ClockRule, ...]
    version: int = 1
    active: bool = True


@dataclass(frozen=True)
class ContactKeys:
    """What selects a contact's policies."""

    grade: str | None
    priority_class: str | None
    channel: str | None
    category: str | None
    emergency: bool = False
    incident_level: str | None = None
    """Security incidents: general, major, serious or critical (F17)."""

    @property
    def effective_priority(self) -> str | None:
        return "urgent" if self.emergency else self.priority_class


@dataclass(frozen=True)
class ClockSpec:
    """Everything a running clock needs, frozen from the winning policy row and version."""

    clock: str
    policy_id: uuid.UUID
    policy_version: int
    target: Target
    starts_on: Trigger
    stops_on: tuple[str, ...]
    calendar_id: str
    warning_fraction: float | None
    ladder: tuple[Step, ...]
    pauses: bool
    reopens: bool
    goal: float | None = None


def specificity(policy: Policy) -> tuple[int, int, int, int]:
    grade, priority, channel = (
        int(part is not None) for part in (policy.grade, policy.priority_class, policy.channel)
    )
    return (grade + priority + channel, grade, priority, channel)


def matches(policy: Policy, keys: ContactKeys) -> bool:
    return (
        policy.active
        and policy.grade in (None, keys.grade)
        and policy.priority_class in (None, keys.effective_priority)
        and policy.channel in (None, keys.channel)
    )


INCIDENT_LEVELS: tuple[str, ...] = ("general", "major", "serious", "critical")


def rule_applies(rule: ClockRule, keys: ContactKeys) -> bool:
    return (not rule.categories or keys.category in rule.categories) and (
        not rule.incident_levels or keys.incident_level in rule.incident_levels
    )


def resolve(
    policies: Iterable[Policy], keys: ContactKeys, *, trigger: Trigger | None = None
) -> dict[str, ClockSpec]:
    """The clocks a contact runs, by name, each from the most specific matching row that defines it."""
    winners: dict[str, tuple[tuple[int, int, int, int], Policy, ClockRule]] = {}
    for policy in policies:
        if not matches(policy, keys):
            continue
        rank = specificity(policy)
        for rule in policy.clocks:
            if not rule_applies(rule, keys) or (trigger is not None and rule.starts_on != trigger):
                continue
            best = winners.get(rule.clock)
            if best is None or rank > best[0]:
                winners[rule.clock] = (rank, policy, rule)
    return {name: spec_of(policy, rule) for name, (_, policy, rule) in sorted(winners.items())}


def spec_of(policy: Policy, rule: ClockRule) -> ClockSpec:
    return ClockSpec(
        clock=rule.clock,
        policy_id=policy.policy_id,
        policy_version=policy.version,
        target=rule.target,
        starts_on=rule.starts_on,
        stops_on=rule.stops_on,
        calendar_id=rule.calendar_id or policy.calendar_id,
        warning_fraction=rule.warning_fraction if rule.warning_fraction is not None else policy.warning_fraction,
        ladder=rule.ladder if rule.ladder is not None else policy.ladder,
        pauses=rule.pauses,
        reopens=rule.reopens,
        goal=rule.goal,
    )


def target_seconds(target: Target, calendar: Calendar, start: datetime) -> float:
    """The target as working seconds on `calendar`; N working days are fixed from where the clock starts."""
    if target.unit == "working_days":
        return working_time_between(calendar, start, add_working_days(calendar, start, int(target.amount)))
    return float(target.amount) * _SECONDS[target.unit]


def validate(policy: Policy, *, calendar_ids: Iterable[str]) -> None:
    """Raise PolicyError with the first problem found."""
    known = set(calendar_ids)
    if not policy.name.strip():
        raise PolicyError("a policy needs a name")
    if policy.calendar_id not in known:
        raise PolicyError(f"unknown calendar {policy.calendar_id!r}; one of {sorted(known)}")
    _check_warning(policy.warning_fraction, "the policy")
    _check_ladder(policy.ladder, "the policy")
    if not policy.clocks:
        raise PolicyError("a policy defines at least one clock")
    names = [rule.clock for rule in policy.clocks]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise PolicyError(f"clock {duplicates[0]!r} is defined twice")
    for rule in policy.clocks:
        where = f"clock {rule.clock!r}"
        if not _SLUG.match(rule.clock):
            raise PolicyError(f"{where}: clock names are lower-case slugs (a-z, 0-9, _)")
        if rule.target.unit not in UNITS:
            raise PolicyError(f"{where}: unit must be one of {', '.join(UNITS)}")
        if not rule.target.amount > 0:
            raise PolicyError(f"{where}: the target must be positive")
        if rule.target.unit == "working_days" and not float(rule.target.amount).is_integer():
            raise PolicyError(f"{where}: working days are whole days")
        if rule.starts_on not in TRIGGERS:
            raise PolicyError(f"{where}: starts_on must be one of {', '.join(TRIGGERS)}")
        if not rule.stops_on:
            raise PolicyError(f"{where}: stops_on names at least one milestone")
        for milestone in rule.stops_on:
            if not _SLUG.match(milestone):
                raise PolicyError(f"{where}: milestone {milestone!r} is not a lower-case slug")
        if rule.calendar_id is not None and rule.calendar_id not in known:
            raise PolicyError(f"{where}: unknown calendar {rule.calendar_id!r}")
        _check_warning(rule.warning_fraction, where)
        if rule.ladder is not None:
            _check_ladder(rule.ladder, where)
        if rule.goal is not None and not 0 < rule.goal <= 1:
            raise PolicyError(f"{where}: goal is a share between 0 and 1")


def _check_warning(fraction: float | None, where: str) -> None:
    if fraction is not None and not 0 < fraction < 1:
        raise PolicyError(f"{where}: warning_fraction must be between 0 and 1 (0.8 warns at 80 % of the target)")


def _check_ladder(ladder: tuple[Step, ...], where: str) -> None:
    levels = [step.level for step in ladder]
    if len(set(levels)) != len(levels):
        raise PolicyError(f"{where}: each escalation level appears once")
    for step in ladder:
        if step.level < 0:
            raise PolicyError(f"{where}: escalation levels are 0 or more")
        if not step.role.strip():
            raise PolicyError(f"{where}: escalation level {step.level} needs a target role")
        if step.after_fraction < 0 or step.after_seconds < 0:
            raise PolicyError(f"{where}: escalation level {step.level} cannot come before its reference point")
