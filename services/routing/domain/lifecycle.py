"""The work lifecycle (RULES.md "Contact lifecycle"): states, which action is allowed from which state, what
holds an agent's slot, and the three clears (三清) that closing needs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

STATES: tuple[str, ...] = (
    "queued",
    "offered",
    "assigned",
    "in_progress",
    "pending_customer",
    "pending_department",
    "wrap_up",
    "resolved",
    "closed",
    "supervisor",
    "scheduled",
)
WAITING = frozenset({"queued"})
"""Matched automatically. `supervisor` work waits for a person; `scheduled` work for its callback time."""
UNANSWERED = frozenset({"queued", "offered", "supervisor", "scheduled"})
"""Nobody has taken the contact yet: the customer leaving now abandons it."""
HOLDS_SLOT = frozenset({"offered", "assigned", "in_progress", "wrap_up"})
"""States in which the work occupies one of its agent's slots (pending work gives the slot back)."""
OWNED = frozenset({"assigned", "in_progress", "pending_customer", "pending_department", "wrap_up"})
OPEN = frozenset(STATES) - {"closed"}

_ALLOWED: dict[str, frozenset[str]] = {
    "offer": frozenset({"queued", "supervisor"}),
    "accept": frozenset({"offered"}),
    "decline": frozenset({"offered"}),
    "assign": frozenset({"queued", "supervisor", "offered"}),
    "start": frozenset({"assigned"}),
    "pending": frozenset({"assigned", "in_progress"}),
    "resume": frozenset({"pending_customer", "pending_department"}),
    "solution": frozenset({"assigned", "in_progress", "pending_customer", "pending_department", "wrap_up"}),
    "transfer": frozenset(
        {"queued", "supervisor", "assigned", "in_progress", "pending_customer", "pending_department"}
    ),
    "wrap_up": frozenset({"assigned", "in_progress"}),
    "resolve": frozenset({"assigned", "in_progress", "pending_customer", "pending_department", "wrap_up"}),
    "close": frozenset({"resolved"}),
    "reopen": frozenset({"resolved", "closed"}),
    "requeue": frozenset({"supervisor", "queued"}),
    "notify": frozenset({"resolved"}),
    "abandon": UNANSWERED,
    "schedule": frozenset({"queued", "offered", "supervisor", "assigned", "in_progress"}),
}
ACTIONS: tuple[str, ...] = tuple(_ALLOWED)


class InvalidTransition(Exception):
    def __init__(self, action: str, state: str) -> None:
        allowed = sorted(_ALLOWED.get(action, ()))
        super().__init__(f"cannot {action.replace('_', ' ')} work that is {state}; allowed from {allowed}")
        self.action = action
        self.state = state


def check(action: str, state: str) -> None:
    if state not in _ALLOWED[action]:
        raise InvalidTransition(action, state)


def allowed_actions(state: str) -> list[str]:
    return [a for a, states in _ALLOWED.items() if state in states]


def after_failed_offer(offers_failed: int, max_offers: int) -> str:
    """Where work goes after a declined or missed offer (`offers_failed` counts this one)."""
    return "supervisor" if offers_failed >= max_offers else "queued"


def missing_clears(*, resolution_code: str | None, final_note: str | None, customer_notified: bool) -> list[str]:
    """The three clears (LC-05): problem (resolution code), progress (final note), feedback (customer told)."""
    missing = []
    if not (resolution_code or "").strip():
        missing.append("resolution code (clear problem)")
    if not (final_note or "").strip():
        missing.append("final progress note (clear progress)")
    if not customer_notified:
        missing.append("customer notified (clear feedback)")
    return missing


@dataclass(frozen=True)
class EndNotice:
    """How the end notice (LC-04) reaches the customer, chosen from what intake told us."""

    channel: str
    recipient: str


def end_notice_route(contact_channel: str, reply_to: Mapping[str, str | None]) -> EndNotice | None:
    """Reply where the customer came from when possible; else SMS to a phone, else email."""
    phone, email, chat = reply_to.get("phone"), reply_to.get("email"), reply_to.get("chat_session")
    if contact_channel == "chat" and chat:
        return EndNotice("chat", chat)
    if contact_channel in ("email", "web") and email:
        return EndNotice("email", email)
    if phone:
        return EndNotice("sms", phone)
    if email:
        return EndNotice("email", email)
    if chat:
        return EndNotice("chat", chat)
    return None


class NotFound(Exception):
    pass


class NotAllowed(Exception):
    """The caller may not do this to this work (not its owner, not its offer)."""


class Conflict(Exception):
    """The request is valid but the state says no: capacity full, offer gone, clears missing."""
