"""C-5, "a higher grade is never looser": for every contact the policies can see (priority class × channel ×
category), each clock a strategic contact runs has a target no longer than a key contact's, and a key contact's
no longer than a basic contact's. Checked on what contacts would really run (`resolve`), so a row left open
(any grade) counts for the grades it reaches.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from services.sla.domain.policy import ContactKeys, Policy, Target, resolve

GRADES: tuple[str, ...] = ("strategic", "key", "basic")
"""Highest first."""
PRIORITY_CLASSES: tuple[str, ...] = ("urgent", "complex", "routine")
CHANNELS: tuple[str, ...] = ("phone", "email", "chat", "web", "sms", "social", "onsite")
CATEGORIES: tuple[str, ...] = (
    "enquiry",
    "complaint",
    "suggestion",
    "system_fault",
    "data_anomaly",
    "service_interruption",
    "security_event",
    "data_leak",
)
_DAY_S = 86_400.0
_SECONDS = {"seconds": 1.0, "minutes": 60.0, "hours": 3600.0, "working_days": _DAY_S}


def nominal_seconds(target: Target) -> float:
    """A target's length for comparing grades. A working day counts as 24 hours, the least wall-clock time it can
    take (N working days end at the same time of day N or more days later); calendars are not compared."""
    return float(target.amount) * _SECONDS[target.unit]


@dataclass(frozen=True)
class Side:
    grade: str
    policy_id: uuid.UUID
    policy_name: str
    target: Target

    def text(self) -> str:
        return f"{self.grade} {self.target.text()} (policy {self.policy_name!r}, {self.policy_id})"

    def json(self) -> dict[str, Any]:
        return {
            "grade": self.grade,
            "policy_id": str(self.policy_id),
            "policy_name": self.policy_name,
            "target": {"amount": self.target.amount, "unit": self.target.unit},
        }


@dataclass(frozen=True)
class Looser:
    """`higher` (the better grade) runs `clock` with a longer target than `lower` for the same contacts."""

    clock: str
    priority_class: str
    channel: str
    higher: Side
    lower: Side
    categories: tuple[str, ...]

    def key(self) -> tuple[object, ...]:
        """What makes it the same finding after an unrelated save (versions and categories aside)."""
        sides = [(s.grade, s.policy_id, s.target) for s in (self.higher, self.lower)]
        return (self.clock, self.priority_class, self.channel, *sides)

    def text(self) -> str:
        return (
            f"{self.clock}: {self.higher.text()} is looser than {self.lower.text()} "
            f"for priority class {self.priority_class}, channel {self.channel}"
        )

    def json(self) -> dict[str, Any]:
        return {
            "clock": self.clock,
            "priority_class": self.priority_class,
            "channel": self.channel,
            "categories": list(self.categories),
            "higher": self.higher.json(),
            "lower": self.lower.json(),
        }


def looser_grades(policies: Iterable[Policy]) -> list[Looser]:
    """Every place where a higher grade would run a clock with a longer target than a lower grade."""
    active = [p for p in policies if p.active]
    names = {p.policy_id: p.name for p in active}
    found: dict[tuple[object, ...], Looser] = {}
    for priority_class in PRIORITY_CLASSES:
        for channel in CHANNELS:
            for category in CATEGORIES:
                specs = {g: resolve(active, ContactKeys(g, priority_class, channel, category)) for g in GRADES}
                for i, higher in enumerate(GRADES):
                    for lower in GRADES[i + 1 :]:
                        for clock, tight in specs[higher].items():
                            loose = specs[lower].get(clock)
                            if loose is None or nominal_seconds(tight.target) <= nominal_seconds(loose.target):
                                continue
                            finding = Looser(
                                clock,
                                priority_class,
                                channel,
                                Side(higher, tight.policy_id, names[tight.policy_id], tight.target),
                                Side(lower, loose.policy_id, names[loose.policy_id], loose.target),
                                (category,),
                            )
                            seen = found.get(finding.key())
                            if seen is not None:
                                finding = Looser(
                                    clock,
                                    priority_class,
                                    channel,
                                    finding.higher,
                                    finding.lower,
                                    (*seen.categories, category),
                                )
                            found[finding.key()] = finding
    return list(found.values())


def newly_looser(before: Iterable[Policy], after: Iterable[Policy]) -> list[Looser]:
    """What a change (the policies `before` → `after`) makes looser that was not already: an earlier, audited
    override does not block unrelated saves, but making it looser still is a new finding."""
    known = {f.key() for f in looser_grades(before)}
    return [f for f in looser_grades(after) if f.key() not in known]
