"""Feedback's reactions, each in its caller's transaction, publishing through the outbox: consumed events,
the scheduler's step, answers and receipts, policy changes."""

from __future__ import annotations

from services.feedback.handlers.answers import (
    PolicyGone,
    Recorded,
    answer_for_adapter,
    find_invitation_for_reply,
    open_survey,
    record_receipt,
    submit_answers,
)
from services.feedback.handlers.events import (
    dispatch_table,
    handle,
    on_contact_received,
    on_work_reopened,
    on_work_resolved,
)
from services.feedback.handlers.figures import erase_comments, read_figures
from services.feedback.handlers.policies import VersionConflict, change_policy
from services.feedback.handlers.publishing import SOURCE, Links
from services.feedback.handlers.sending import expire_invitation, send_invitation
from services.feedback.handlers.settings import change_settings

__all__ = [
    "SOURCE",
    "Links",
    "PolicyGone",
    "Recorded",
    "VersionConflict",
    "answer_for_adapter",
    "change_policy",
    "change_settings",
    "dispatch_table",
    "erase_comments",
    "expire_invitation",
    "find_invitation_for_reply",
    "handle",
    "on_contact_received",
    "on_work_reopened",
    "on_work_resolved",
    "open_survey",
    "read_figures",
    "record_receipt",
    "send_invitation",
    "submit_answers",
]
