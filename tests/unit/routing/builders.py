"""Builders for routing's domain values: RULES.md defaults unless a test says otherwise."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from services.routing.domain.model import Agent, Requirement, Work
from services.routing.domain.policy import Policy, parse_policy

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

POLICY_DOCUMENT: dict[str, Any] = {
    "class_base": {"urgent": 1000, "complex": 500, "routine": 100, "followup": 500},
    "grade_bonus": {"strategic": 300, "key": 150, "basic": 0},
    "sla_warning_bonus": 200,
    "sla_escalation_bonus": 300,
    "age_points_per_minute": 1.0,
    "tiers": {
        "front_line": {"classes": ["routine"], "grades": ["basic", "key"]},
        "senior": {"classes": ["routine", "complex"], "grades": ["basic", "key", "strategic"]},
        "tech_support": {"classes": ["complex"], "grades": ["basic", "key", "strategic"]},
        "emergency": {"classes": ["urgent"], "grades": ["basic", "key", "strategic"]},
        "supervisor": {"classes": ["followup"], "grades": ["basic", "key", "strategic"]},
    },
    "default_capacity": {"phone": 1, "chat": 3, "email": 5, "web": 5, "sms": 0, "social": 0, "onsite": 0},
    "wrap_up_s": {"phone": 60, "chat": 30, "email": 0, "web": 0, "sms": 0, "social": 30, "onsite": 60},
    "offer_timeout_s": 20,
    "max_offers": 3,
    "first_owner_bonus": 2,
    "last_agent_bonus": 1,
    "preferred_hold_s": 60,
    "disconnect_grace_s": 30,
    "missed_offer_sets_away": True,
    "relaxation": [
        {"after_s": 60, "level_drop": 1},
        {"after_s": 180, "level_drop": 2},
        {"after_s": 300, "level_drop": 4, "primary_only": True},
    ],
    "max_scan": 512,
}


def make_policy(**overrides: Any) -> Policy:
    return parse_policy({**POLICY_DOCUMENT, **overrides}, version=1)


def make_agent(agent_id: str = "A-1", **overrides: Any) -> Agent:
    values: dict[str, Any] = {
        "agent_id": agent_id,
        "pool": "default",
        "tier": "front_line",
        "team": "t1",
        "languages": frozenset({"zh"}),
        "skills": {},
        "capacity": dict(POLICY_DOCUMENT["default_capacity"]),
        "presence": "available",
        "load": {},
        "idle_since": NOW,
    }
    values.update(overrides)
    return Agent(**values)


def make_work(**overrides: Any) -> Work:
    values: dict[str, Any] = {
        "work_id": uuid.uuid4(),
        "pool": "default",
        "channel": "chat",
        "work_class": "routine",
        "grade": "basic",
        "language": "zh",
        "requirements": (),
        "enqueued_at": NOW,
    }
    values.update(overrides)
    return Work(**values)


def skills(**levels: int) -> dict[str, int]:
    return dict(levels)


def needs(*pairs: tuple[str, int]) -> tuple[Requirement, ...]:
    return tuple(Requirement(s, lvl) for s, lvl in pairs)
