"""The routing policy: RULES.md's numbers (priority weights, tiers, capacity, offers, relaxation) as one value.

The numbers live in the database (seeded by a migration, edited through the admin API); this module only
parses and applies them. Priority grows with age at a fixed rate, so the order of waiting work at any instant
is the order of a key that never changes while the work waits (`queue_key`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

CHANNELS: tuple[str, ...] = ("phone", "email", "chat", "web", "sms", "social", "onsite")
WORK_CLASSES: tuple[str, ...] = ("urgent", "complex", "routine", "followup")
GRADES: tuple[str, ...] = ("strategic", "key", "basic")
LIVE_CALL_CHANNEL = "phone"
DEFAULT_SERVICE_LEVEL_S = {
    "phone": 20,
    "chat": 60,
    "onsite": 300,
    "sms": 3600,
    "social": 3600,
    "email": 86400,
    "web": 86400,
}


class PolicyError(ValueError):
    """A policy document that cannot be applied (unknown names, impossible numbers)."""


@dataclass(frozen=True)
class RelaxStep:
    """After `after_s` of waiting, required levels drop by `level_drop` (never below 1); with `primary_only`
    every required skill but the first is dropped."""

    after_s: int
    level_drop: int
    primary_only: bool = False


@dataclass(frozen=True)
class TierRule:
    tier: str
    classes: frozenset[str]
    grades: frozenset[str]


@dataclass(frozen=True)
class Policy:
    version: int
    class_base: Mapping[str, int]
    grade_bonus: Mapping[str, int]
    sla_warning_bonus: int
    sla_escalation_bonus: int
    """Per escalation level."""
    age_points_per_minute: float
    tiers: Mapping[str, TierRule]
    default_capacity: Mapping[str, int]
    wrap_up_s: Mapping[str, int]
    offer_timeout_s: int
    max_offers: int
    first_owner_bonus: int
    last_agent_bonus: int
    preferred_hold_s: int
    """How long returning work (reopen, customer reply) waits for its first owner alone."""
    disconnect_grace_s: int
    missed_offer_sets_away: bool
    relaxation: tuple[RelaxStep, ...]
    max_scan: int
    """Most candidates one decision examines; a decision that hits it says so in its explanation."""
    service_level_s: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_SERVICE_LEVEL_S))
    """Answered within this many seconds counts toward the service level, per channel (RULES.md: 80 % within
    20 s on the phone, 60 s in chat; the seeds give no seconds, these are the contact-centre norm)."""
    service_level_goal: float = 0.8
    callback_max_attempts: int = 3
    callback_retry_s: int = 600
    emergency_page_after_s: int = 120
    """An emergency contact no emergency-tier agent accepted or acknowledged this long pages the on-call list."""

    def tiers_for(self, work_class: str, grade: str) -> frozenset[str]:
        return frozenset(t.tier for t in self.tiers.values() if work_class in t.classes and grade in t.grades)

    def tier_allows(self, tier: str, work_class: str, grade: str) -> bool:
        rule = self.tiers.get(tier)
        return rule is not None and work_class in rule.classes and grade in rule.grades


def _int_map(raw: Any, names: tuple[str, ...], what: str) -> dict[str, int]:
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{what} must be an object")
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise PolicyError(f"{what}: unknown name(s) {unknown}; known: {list(names)}")
    out = {str(k): int(v) for k, v in raw.items()}
    if any(v < 0 for v in out.values()):
        raise PolicyError(f"{what}: values must be zero or more")
    return out


def parse_policy(document: Mapping[str, Any], *, version: int = 0) -> Policy:
    """Build a policy from its stored JSON document; raises `PolicyError` with a reason a person can act on."""
    try:
        tiers: dict[str, TierRule] = {}
        for name, rule in dict(document["tiers"]).items():
            classes = frozenset(rule["classes"])
            grades = frozenset(rule["grades"])
            if not classes <= set(WORK_CLASSES) or not grades <= set(GRADES):
                raise PolicyError(f"tier {name}: classes must be among {WORK_CLASSES}, grades among {GRADES}")
            tiers[str(name)] = TierRule(str(name), classes, grades)
        steps = tuple(
            RelaxStep(int(s["after_s"]), int(s["level_drop"]), bool(s.get("primary_only", False)))
            for s in document.get("relaxation", ())
        )
        if [s.after_s for s in steps] != sorted({s.after_s for s in steps}):
            raise PolicyError("relaxation steps must have increasing after_s")
        if any(s.level_drop < 0 or s.after_s < 0 for s in steps):
            raise PolicyError("relaxation steps need after_s ≥ 0 and level_drop ≥ 0")
        policy = Policy(
            version=version,
            class_base=_int_map(document["class_base"], WORK_CLASSES, "class_base"),
            grade_bonus=_int_map(document["grade_bonus"], GRADES, "grade_bonus"),
            sla_warning_bonus=int(document["sla_warning_bonus"]),
            sla_escalation_bonus=int(document["sla_escalation_bonus"]),
            age_points_per_minute=float(document["age_points_per_minute"]),
            tiers=tiers,
            default_capacity=_int_map(document["default_capacity"], CHANNELS, "default_capacity"),
            wrap_up_s=_int_map(document["wrap_up_s"], CHANNELS, "wrap_up_s"),
            offer_timeout_s=int(document["offer_timeout_s"]),
            max_offers=int(document["max_offers"]),
            first_owner_bonus=int(document["first_owner_bonus"]),
            last_agent_bonus=int(document["last_agent_bonus"]),
            preferred_hold_s=int(document["preferred_hold_s"]),
            disconnect_grace_s=int(document["disconnect_grace_s"]),
            missed_offer_sets_away=bool(document["missed_offer_sets_away"]),
            relaxation=steps,
            max_scan=int(document["max_scan"]),
            service_level_s={
                **DEFAULT_SERVICE_LEVEL_S,
                **_int_map(document.get("service_level_s", {}), CHANNELS, "service_level_s"),
            },
            service_level_goal=float(document.get("service_level_goal", 0.8)),
            callback_max_attempts=int(document.get("callback_max_attempts", 3)),
            callback_retry_s=int(document.get("callback_retry_s", 600)),
            emergency_page_after_s=int(document.get("emergency_page_after_s", 120)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, PolicyError):
            raise
        raise PolicyError(f"invalid routing policy: {type(exc).__name__}: {exc}") from exc
    if policy.offer_timeout_s < 1 or policy.max_offers < 1 or policy.max_scan < 1:
        raise PolicyError("offer_timeout_s, max_offers and max_scan must be at least 1")
    if policy.callback_max_attempts < 1 or policy.callback_retry_s < 0:
        raise PolicyError("callback_max_attempts must be at least 1 and callback_retry_s zero or more")
    if policy.emergency_page_after_s < 1:
        raise PolicyError("emergency_page_after_s must be at least 1")
    if not 0 < policy.service_level_goal <= 1:
        raise PolicyError("service_level_goal is a share between 0 and 1")
    if policy.age_points_per_minute < 0:
        raise PolicyError("age_points_per_minute must be zero or more")
    return policy


@dataclass(frozen=True)
class LowerBonus:
    """C-5: `higher` (the better grade) gets a smaller priority bonus than `lower`."""

    higher: str
    higher_bonus: int
    lower: str
    lower_bonus: int

    def text(self) -> str:
        return (
            f"grade_bonus: {self.higher} +{self.higher_bonus} is below {self.lower} +{self.lower_bonus}; "
            "a higher grade never gets a lower priority (C-5: strategic ≥ key ≥ basic)"
        )


def lower_bonuses(grade_bonus: Mapping[str, int]) -> list[LowerBonus]:
    """Every pair of grades whose bonuses are out of order (a grade left out has 0)."""
    bonus = {g: grade_bonus.get(g, 0) for g in GRADES}
    return [
        LowerBonus(higher, bonus[higher], lower, bonus[lower])
        for i, higher in enumerate(GRADES)
        for lower in GRADES[i + 1 :]
        if bonus[higher] < bonus[lower]
    ]


# --- priority ------------------------------------------------------------------------------------------------


def static_priority(
    policy: Policy, *, work_class: str, grade: str, sla_warned: bool, escalation_level: int
) -> int:
    """Class base + grade bonus + SLA bonus (RULES.md "Routing"); age comes on top (`priority_at`)."""
    sla = (policy.sla_warning_bonus if sla_warned else 0) + policy.sla_escalation_bonus * max(0, escalation_level)
    return policy.class_base.get(work_class, 0) + policy.grade_bonus.get(grade, 0) + sla


def priority_at(policy: Policy, static: int, enqueued_at: datetime, now: datetime) -> float:
    waited_min = max(0.0, (now - enqueued_at).total_seconds()) / 60.0
    return static + policy.age_points_per_minute * waited_min


def queue_key(policy: Policy, static: int, enqueued_at: datetime) -> float:
    """Ascending key equal to −priority_at(now) + (rate × now): the same order at every `now`."""
    return policy.age_points_per_minute * enqueued_at.timestamp() / 60.0 - static
