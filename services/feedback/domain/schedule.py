"""When an invitation goes out, or why it does not: sampling, the frequency cap, quiet hours, expiry."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.feedback.domain.policy import QuietHours, SurveyPolicy

SkipReason = Literal["policy_disabled", "sampled_out", "frequency_cap", "no_recipient", "unknown_contact"]


@dataclass(frozen=True)
class ContactFacts:
    """What feedback knows of a contact, projected from intake's and routing's events."""

    contact_id: uuid.UUID
    channel: str
    customer_id: uuid.UUID
    grade: str = "basic"
    category: str | None = None
    language: str | None = None
    phone: str | None = None
    email: str | None = None
    chat_session: str | None = None
    time_zone: str | None = None
    agent_id: str | None = None
    team: str | None = None
    value_tier: str | None = None
    risk_level: str | None = None
    lifecycle_stage: str | None = None
    """The customer's attributes as contact.received carried them, for the figures."""
    subcategory: str | None = None
    """Level 2 (or `level2/level3`) under `category`."""


@dataclass(frozen=True)
class Schedule:
    due_at: datetime
    recipient: str


@dataclass(frozen=True)
class Skip:
    reason: SkipReason


def sampled(contact_id: uuid.UUID, rate: float) -> bool:
    """Deterministic per contact, so a replayed event makes the same choice: hash → [0, 1) < rate."""
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    digest = hashlib.sha256(b"survey-sample:" + contact_id.bytes).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def recipient_for(invite_channel: str, facts: ContactFacts) -> str | None:
    return {"sms": facts.phone, "email": facts.email, "chat": facts.chat_session}.get(invite_channel)


def customer_zone(facts_time_zone: str | None, policy: SurveyPolicy) -> ZoneInfo:
    for name in (facts_time_zone, policy.time_zone):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def outside_quiet_hours(at: datetime, quiet: QuietHours | None, zone: ZoneInfo) -> datetime:
    """`at` itself, or the first moment after it when the quiet hours end in the customer's zone."""
    if quiet is None:
        return at
    local = at.astimezone(zone)
    if not quiet.contains(local.time()):
        return at
    end = local.replace(hour=quiet.end.hour, minute=quiet.end.minute, second=0, microsecond=0)
    if end <= local:
        end = (local + timedelta(days=1)).replace(
            hour=quiet.end.hour, minute=quiet.end.minute, second=0, microsecond=0
        )
    # Rebuild from wall time in the zone so a DST change in between lands on the real local end.
    end = datetime(end.year, end.month, end.day, end.hour, end.minute, tzinfo=zone)
    return end.astimezone(at.tzinfo)


def plan_invitation(
    policy: SurveyPolicy | None,
    facts: ContactFacts | None,
    *,
    resolved_at: datetime,
    last_surveyed_at: datetime | None,
) -> Schedule | Skip:
    """Whether this resolution gets a survey and when; `last_surveyed_at` is the customer's latest invitation
    that was sent or is still waiting to be sent."""
    if facts is None:
        return Skip("unknown_contact")
    if policy is None or not policy.enabled:
        return Skip("policy_disabled")
    if not sampled(facts.contact_id, policy.sampling_rate):
        return Skip("sampled_out")
    recipient = recipient_for(policy.invite_channel, facts)
    if not recipient:
        return Skip("no_recipient")
    if capped(last_surveyed_at, policy, at=resolved_at):
        return Skip("frequency_cap")
    due = outside_quiet_hours(
        resolved_at + policy.delay, policy.quiet_hours, customer_zone(facts.time_zone, policy)
    )
    return Schedule(due_at=due, recipient=recipient)


def capped(last_surveyed_at: datetime | None, policy: SurveyPolicy, *, at: datetime) -> bool:
    if last_surveyed_at is None or policy.frequency_cap <= timedelta(0):
        return False
    return at - last_surveyed_at < policy.frequency_cap


@dataclass(frozen=True)
class Send:
    expires_at: datetime


@dataclass(frozen=True)
class Defer:
    until: datetime


@dataclass(frozen=True)
class Drop:
    reason: Literal["frequency_cap", "stale"]


def decide_send(
    policy: SurveyPolicy,
    *,
    due_at: datetime,
    now: datetime,
    time_zone: str | None,
    last_sent_at: datetime | None,
) -> Send | Defer | Drop:
    """At the moment a scheduled invitation falls due: send it, wait out quiet hours, or drop it.

    The cap is checked again against invitations actually sent since scheduling, and an invitation whose
    whole answering window has already passed (the scheduler was down that long) is dropped as stale.
    """
    if now - due_at >= policy.expiry:
        return Drop("stale")
    if capped(last_sent_at, policy, at=now):
        return Drop("frequency_cap")
    allowed = outside_quiet_hours(now, policy.quiet_hours, customer_zone(time_zone, policy))
    if allowed > now:
        return Defer(allowed)
    return Send(expires_at=now + policy.expiry)


InvitationStatus = Literal["waiting_contact", "scheduled", "sent", "answered", "expired", "cancelled", "skipped"]


@dataclass(frozen=True)
class Invitation:
    """One resolution of a contact and the survey it gets (or why not)."""

    invitation_id: uuid.UUID
    contact_id: uuid.UUID
    work_id: uuid.UUID
    resolved_at: datetime
    status: InvitationStatus
    agent_id: str
    fcr: bool
    customer_notified: bool
    created_at: datetime
    reason: str | None = None
    channel: str | None = None
    customer_id: uuid.UUID | None = None
    grade: str | None = None
    category: str | None = None
    team: str | None = None
    invite_channel: str | None = None
    recipient: str | None = None
    language: str | None = None
    time_zone: str | None = None
    policy_version: int | None = None
    due_at: datetime | None = None
    sent_at: datetime | None = None
    expires_at: datetime | None = None
    closed_at: datetime | None = None
    message_id: uuid.UUID | None = None
    delivery: str | None = None


def invitation_message_id(invitation_id: uuid.UUID) -> uuid.UUID:
    """The outbound message's idempotency key: the same for every attempt to send one invitation."""
    return uuid.uuid5(invitation_id, "survey-invitation")
