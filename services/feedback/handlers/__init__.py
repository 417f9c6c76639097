"""Feedback's reactions, each in its caller's transaction, publishing through the outbox: consumed events,
the scheduler's step, answers and receipts, policy changes."""

from __future__ import annotations

from services.feedback.handlers.answers import (
    Recorded,
    find_invitation_for_reply,
    open_survey,
    record_receipt,
    submit_answers,
)
from services.feedback.handlers.events import handle, on_contact_received, on_work_reopened, on_work_resolved
from services.feedback.handlers.policies import VersionConflict, change_policy
from services.feedback.handlers.publishing import SOURCE, Links
from services.feedback.handlers.sending import expire_invitation, send_invitation

__all__ = [
    "SOURCE",
    "Links",
    "Recorded",
    "VersionConflict",
    "change_policy",
    "expire_invitation",
    "find_invitation_for_reply",
    "handle",
    "on_contact_received",
    "on_work_reopened",
    "on_work_resolved",
    "open_survey",
    "record_receipt",
    "send_invitation",
    "submit_answers",
]
