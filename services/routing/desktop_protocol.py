"""The desktop WebSocket's messages (`/v1/desktop/ws`) as types: what `docs/asyncapi.yaml` documents for desktop
authors, and what the routing tests check every message a desktop receives against.

Messages from the feed carry `id` (resume with `?after=<id>`), `type` and `at`; replies to what the desktop sent
carry its `ref`. Times are ISO 8601 with an offset; ids are UUIDs unless named otherwise.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- what messages carry --------------------------------------------------------------------------------------


class Requirement(_Shape):
    skill: str
    level: int


class Callback(_Shape):
    mode: str
    """`keep_place` or `scheduled`."""
    attempts: int
    phone: str | None = None
    """Masked (`+86138****8000`): the owner reads the whole number in `assigned`'s contact."""


class WorkView(_Shape):
    """A work item as a desktop shows it."""

    work_id: uuid.UUID
    contact_id: uuid.UUID
    kind: str
    """`contact`, `followup`, `callback`, `manual`."""
    state: str
    """`queued`, `offered`, `assigned`, `pending_customer`, `pending_department`, `wrap_up`, `resolved`, …"""
    pool: str
    channel: str
    work_class: str
    grade: str
    category: str | None = None
    language: str | None = None
    requirements: list[Requirement] = Field(default_factory=list)
    priority: int
    enqueued_at: datetime
    waited_s: float
    sla_warned: bool
    escalation_level: int
    target_agent_id: str | None = None
    target_team: str | None = None
    first_owner_id: str | None = None
    owner_id: str | None = None
    offers_failed: int
    pending_department: str | None = None
    pending_until: datetime | None = None
    wrap_up_until: datetime | None = None
    solution_at: datetime | None = None
    resolution_code: str | None = None
    fcr: bool | None = None
    customer_notified: bool
    callback: Callback | None = None
    scheduled_until: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    reopened: int
    reason: str | None = None


class ContactSummary(_Shape):
    """What an offer shows before it is accepted: no message text. Empty when routing has not seen the contact."""

    contact_id: uuid.UUID | None = None
    channel: str | None = None
    grade: str | None = None
    category: str | None = None
    priority_class: str | None = None
    emergency: bool | None = None
    language: str | None = None
    subject: str | None = None
    received_at: datetime | None = None


class ContactMessage(_Shape):
    message_id: uuid.UUID
    from_customer: bool
    text: str
    received_at: datetime


class SuggestedArticle(_Shape):
    article_id: uuid.UUID
    title: str
    score: float
    summary: str | None = None
    language: str | None = None


class ContactDetails(ContactSummary):
    """What the owner sees once the work is theirs: the text, the customer, the messages, the suggestions."""

    text: str | None = None
    customer_id: str | None = None
    attributes: dict[str, str] = Field(default_factory=dict)
    messages: list[ContactMessage] = Field(default_factory=list)
    callback_phone: str | None = None
    """The number to call back, whole (PII)."""
    suggestions: list[SuggestedArticle] = Field(default_factory=list)


class LiveOffer(_Shape):
    offer_id: uuid.UUID
    work_id: uuid.UUID
    expires_at: datetime


# --- routing → desktop ----------------------------------------------------------------------------------------


class Hello(_Shape):
    """The snapshot a desktop gets when it connects without `?after=`: then new messages follow."""

    type: Literal["hello"]
    agent_id: str
    presence: str
    offers: list[LiveOffer]
    work: list[WorkView]
    last_id: int
    """The newest feed id the snapshot reflects: reconnect with `?after=` the highest id seen."""


class _Feed(_Shape):
    id: int
    """The feed id: strictly increasing per agent; a desktop that reconnects sends the highest it has seen."""
    at: datetime


class Offer(_Feed):
    """Work offered to this agent: accept or decline before `expires_at`."""

    type: Literal["offer"]
    offer_id: uuid.UUID
    work: WorkView
    contact: ContactSummary
    expires_at: datetime
    timeout_s: float
    forced_by: str | None = None
    """The supervisor who offered it by hand, if one did."""


class OfferClosed(_Feed):
    """An offer is over without this agent taking it."""

    type: Literal["offer_closed"]
    offer_id: uuid.UUID
    work_id: uuid.UUID
    status: Literal["declined", "expired", "withdrawn"]
    reason: str | None = None


class Assigned(_Feed):
    """The work is this agent's (an accepted offer, a supervisor's assignment, returning work)."""

    type: Literal["assigned"]
    work: WorkView
    contact: ContactDetails


class PresenceChanged(_Feed):
    type: Literal["presence"]
    presence: str
    reason: str | None = None
    by: str
    """Who changed it: `<role>:<subject>` (`agent:A-1`, `supervisor:S-1`, `system:routing`)."""


class WorkUpdated(_Feed):
    type: Literal["work_updated"]
    work: WorkView
    action: str
    """What happened: `pending`, `resumed`, `resolved`, `transferred_away`, `wrap_up_ended`, …"""


class NewMessage(_Feed):
    """The customer (or a colleague's reply) added a message to a contact on this desktop."""

    type: Literal["message"]
    work_id: uuid.UUID
    contact_id: uuid.UUID
    message: ContactMessage


class Suggestion(_Feed):
    """Knowledge articles suggested for a contact on this desktop."""

    type: Literal["suggestion"]
    work_id: uuid.UUID
    contact_id: uuid.UUID
    articles: list[SuggestedArticle]


class SlaNotice(_Feed):
    """An SLA clock of a contact on this desktop warned, breached or escalated."""

    type: Literal["sla"]
    work_id: uuid.UUID
    contact_id: uuid.UUID
    kind: Literal["warning", "breached", "escalated"]
    clock: str
    level: int
    due_at: datetime | None = None


class SlaEscalation(_Feed):
    """An SLA escalation reaching its target role (supervisors, the emergency team)."""

    type: Literal["escalation"]
    kind: Literal["warning", "breached", "escalated"]
    work_id: uuid.UUID
    contact_id: uuid.UUID
    clock: str
    level: int
    due_at: datetime | None = None
    target_role: str
    work: WorkView


class DepartmentDeadline(_Feed):
    """Work pending on another department passed its deadline: its owner and the supervisors are told."""

    type: Literal["escalation"]
    kind: Literal["department_deadline"]
    work: WorkView
    department: str | None = None
    deadline: datetime | None = None
    level: int


class Alert(_Feed):
    """An emergency contact, to every online desktop of the emergency team: acknowledge it."""

    type: Literal["alert"]
    work: WorkView
    reason: str


class EmergencyUnpaged(_Feed):
    """Nobody took an emergency contact in time and the on-call list is empty (supervisors)."""

    type: Literal["notice"]
    kind: Literal["emergency_unpaged"]
    work: WorkView
    waited_s: float


class ArticleOverdue(_Feed):
    """An article this agent owns passed its review-by date."""

    type: Literal["notice"]
    kind: Literal["article_overdue"]
    article_id: uuid.UUID
    version: int
    title: str
    language: str
    owner: str
    review_by: datetime


class CalendarDataEnding(_Feed):
    """A business calendar runs out of holiday data (supervisors)."""

    type: Literal["notice"]
    kind: Literal["calendar_data_ending"]
    calendar_id: str
    data_until: date
    days_left: int
    provisional_clocks: int = 0


class DeliveryFailed(_Feed):
    """A reply or an end notice of a contact on this desktop could not be delivered."""

    type: Literal["delivery_failed"]
    work_id: uuid.UUID
    contact_id: uuid.UUID
    message_id: uuid.UUID
    kind: str
    """`reply` or `end_notice`."""
    channel: str
    status: Literal["failed", "bounced"]
    reason: str | None = None
    customer_notified: bool


class Pong(_Shape):
    type: Literal["pong"]
    ref: Any = None


class Accepted(_Shape):
    type: Literal["accepted"]
    ref: Any = None
    offer_id: uuid.UUID
    work_id: uuid.UUID


class Declined(_Shape):
    type: Literal["declined"]
    ref: Any = None
    offer_id: uuid.UUID


class PresenceSet(_Shape):
    type: Literal["presence_set"]
    ref: Any = None
    presence: str


class Acknowledged(_Shape):
    type: Literal["acknowledged"]
    ref: Any = None
    contact_id: uuid.UUID
    paged: bool
    """The on-call list had already been paged (the acknowledgement came after the page timer fired)."""


class Error(_Shape):
    """What the desktop sent was refused; nothing was changed."""

    type: Literal["error"]
    ref: Any = None
    detail: str
    retry_after: int | None = None
    """Seconds: the database was unavailable or busy; send the same message again after them."""


# --- desktop → routing ----------------------------------------------------------------------------------------


class Accept(_Shape):
    type: Literal["accept"]
    offer_id: uuid.UUID
    ref: Any = None
    """Anything; echoed in the reply."""


class Decline(_Shape):
    type: Literal["decline"]
    offer_id: uuid.UUID
    reason: str | None = None
    ref: Any = None


class SetPresence(_Shape):
    type: Literal["presence"]
    presence: Literal["offline", "available", "away"]
    reason: str | None = None
    ref: Any = None


class Acknowledge(_Shape):
    """Take an emergency alert: the on-call list is not paged for it."""

    type: Literal["acknowledge"]
    contact_id: uuid.UUID
    ref: Any = None


class Ping(_Shape):
    type: Literal["ping"]
    ref: Any = None


FEED: tuple[type[_Shape], ...] = (
    Offer,
    OfferClosed,
    Assigned,
    PresenceChanged,
    WorkUpdated,
    NewMessage,
    Suggestion,
    SlaNotice,
    SlaEscalation,
    DepartmentDeadline,
    Alert,
    EmergencyUnpaged,
    ArticleOverdue,
    CalendarDataEnding,
    DeliveryFailed,
)
"""Messages from the agent's feed, in the order of their ids."""
REPLIES: tuple[type[_Shape], ...] = (Pong, Accepted, Declined, PresenceSet, Acknowledged, Error)
"""Answers to what the desktop sent, each with its `ref`."""
TO_DESKTOP: tuple[type[_Shape], ...] = (Hello, *FEED, *REPLIES)
FROM_DESKTOP: tuple[type[_Shape], ...] = (Accept, Decline, SetPresence, Acknowledge, Ping)


def check_to_desktop(message: dict[str, Any]) -> BaseModel:
    """The one type a message routing sent matches (tests call this on everything a desktop receives)."""
    candidates = [m for m in TO_DESKTOP if message.get("type") in get_args(m.model_fields["type"].annotation)]
    errors: list[str] = []
    for model in candidates:
        try:
            return model.model_validate(message)
        except ValidationError as exc:
            errors.append(f"{model.__name__}: {exc}")
    raise ValueError(f"no desktop message type matches {message.get('type')!r}: {errors or 'unknown type'}")
