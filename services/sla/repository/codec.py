"""JSON shapes of calendars, policy definitions and frozen clock terms, to and from the domain values."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from services.sla.domain.calendar import Calendar, DayNote, Hours
from services.sla.domain.policy import ClockRule, ClockSpec, Policy, Step, Target
from services.sla.repository.official import official_days


def hours_json(hours: Sequence[Hours]) -> list[list[str]]:
    return [list(h.text()) for h in hours]


def hours_from(raw: Sequence[Sequence[str]]) -> tuple[Hours, ...]:
    return tuple(Hours.parse(start, end) for start, end in raw)


def notes_json(notes: Sequence[DayNote]) -> list[dict[str, str]]:
    return [{"date": n.day.isoformat(), "name": n.name} for n in sorted(notes, key=lambda n: n.day)]


def notes_from(raw: Sequence[Mapping[str, str]]) -> tuple[DayNote, ...]:
    return tuple(DayNote(date.fromisoformat(n["date"]), n.get("name", "")) for n in raw)


def calendar_from(row: Any) -> Calendar:
    return Calendar(
        calendar_id=row["calendar_id"],
        name=row["name"],
        time_zone=row["time_zone"],
        always_open=row["always_open"],
        weekly=tuple(hours_from(day) for day in row["weekly"]),
        holidays=notes_from(row["holidays"]),
        workdays=notes_from(row["workdays"]),
        workday_hours=hours_from(row["workday_hours"]),
        version=row["version"],
        official=official_days(row["official"]) if row["official"] else None,
        covered_until=row["covered_until"],
    )


def step_json(step: Step) -> dict[str, Any]:
    return {
        "level": step.level,
        "role": step.role,
        "after_fraction": step.after_fraction,
        "after_seconds": step.after_seconds,
        "relative_to": step.relative_to,
    }


def step_from(raw: Mapping[str, Any]) -> Step:
    return Step(
        level=int(raw["level"]),
        role=str(raw["role"]),
        after_fraction=float(raw.get("after_fraction", 0.0)),
        after_seconds=float(raw.get("after_seconds", 0.0)),
        relative_to=raw.get("relative_to", "breach"),
    )


def target_json(target: Target) -> dict[str, Any]:
    return {"amount": target.amount, "unit": target.unit}


def target_from(raw: Mapping[str, Any]) -> Target:
    return Target(float(raw["amount"]), raw["unit"])


def rule_json(rule: ClockRule) -> dict[str, Any]:
    return {
        "clock": rule.clock,
        "target": target_json(rule.target),
        "starts_on": rule.starts_on,
        "stops_on": list(rule.stops_on),
        "categories": list(rule.categories),
        "incident_levels": list(rule.incident_levels),
        "calendar_id": rule.calendar_id,
        "warning_fraction": rule.warning_fraction,
        "ladder": None if rule.ladder is None else [step_json(s) for s in rule.ladder],
        "pauses": rule.pauses,
        "reopens": rule.reopens,
        "goal": rule.goal,
    }


def rule_from(raw: Mapping[str, Any]) -> ClockRule:
    ladder = raw.get("ladder")
    return ClockRule(
        clock=raw["clock"],
        target=target_from(raw["target"]),
        starts_on=raw.get("starts_on", "received"),
        stops_on=tuple(raw.get("stops_on", ("resolved",))),
        categories=tuple(raw.get("categories", ())),
        incident_levels=tuple(raw.get("incident_levels", ())),
        calendar_id=raw.get("calendar_id"),
        warning_fraction=raw.get("warning_fraction"),
        ladder=None if ladder is None else tuple(step_from(s) for s in ladder),
        pauses=bool(raw.get("pauses", True)),
        reopens=bool(raw.get("reopens", False)),
        goal=raw.get("goal"),
    )


def definition_json(policy: Policy) -> dict[str, Any]:
    return {
        "calendar_id": policy.calendar_id,
        "warning_fraction": policy.warning_fraction,
        "ladder": [step_json(s) for s in policy.ladder],
        "clocks": [rule_json(r) for r in policy.clocks],
    }


def policy_from(row: Any) -> Policy:
    definition = row["definition"]
    return Policy(
        policy_id=row["policy_id"],
        name=row["name"],
        grade=row["grade"],
        priority_class=row["priority_class"],
        channel=row["channel"],
        calendar_id=definition["calendar_id"],
        warning_fraction=definition.get("warning_fraction"),
        ladder=tuple(step_from(s) for s in definition.get("ladder", ())),
        clocks=tuple(rule_from(r) for r in definition["clocks"]),
        version=row["version"],
        active=row["active"],
    )


def spec_json(spec: ClockSpec) -> dict[str, Any]:
    return {
        "clock": spec.clock,
        "policy_id": str(spec.policy_id),
        "policy_version": spec.policy_version,
        "target": target_json(spec.target),
        "starts_on": spec.starts_on,
        "stops_on": list(spec.stops_on),
        "calendar_id": spec.calendar_id,
        "warning_fraction": spec.warning_fraction,
        "ladder": [step_json(s) for s in spec.ladder],
        "pauses": spec.pauses,
        "reopens": spec.reopens,
        "goal": spec.goal,
    }


def spec_from(raw: Mapping[str, Any]) -> ClockSpec:
    return ClockSpec(
        clock=raw["clock"],
        policy_id=uuid.UUID(raw["policy_id"]),
        policy_version=int(raw["policy_version"]),
        target=target_from(raw["target"]),
        starts_on=raw["starts_on"],
        stops_on=tuple(raw["stops_on"]),
        calendar_id=raw["calendar_id"],
        warning_fraction=raw.get("warning_fraction"),
        ladder=tuple(step_from(s) for s in raw.get("ladder", ())),
        pauses=bool(raw["pauses"]),
        reopens=bool(raw["reopens"]),
        goal=raw.get("goal"),
    )
