"""Emergency paging (CH-16: the emergency team is paged at once): an emergency contact whose work no
emergency-tier agent has accepted, nor acknowledged on the desktop, within the policy's `emergency_page_after_s`
pages the on-call list by SMS — once per contact, whatever restarts in between (the page row is the guard)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

EMERGENCY_TIER = "emergency"
PAGE_TEMPLATE = "emergency_page"
_PAGE_IDS = uuid.UUID("2f0c7d1e-5d8a-4c61-9a0e-6c1f3b8e0a17")


@dataclass(frozen=True)
class OnCall:
    """One person on the on-call list (staff, not customers; the phone is still personal data)."""

    on_call_id: str
    name: str
    phone: str
    """E.164."""
    active: bool


@dataclass(frozen=True)
class EmergencyPage:
    """The durable timer of one emergency contact's page and what became of it."""

    contact_id: uuid.UUID
    work_id: uuid.UUID
    pool: str
    due_at: datetime
    created_at: datetime
    """When the emergency contact came in (or became one)."""
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    paged_at: datetime | None = None

    @property
    def settled(self) -> bool:
        """Paged, or someone of the emergency team took it: nothing more will happen."""
        return self.paged_at is not None or self.acknowledged_at is not None


Decision = Literal["settled", "accepted", "wait", "page"]


def page_decision(page: EmergencyPage, *, accepted_by: str | None, now: datetime) -> Decision:
    """What the timer does at `now`: nothing (already settled), record that an emergency-tier agent accepted the
    work (`accepted_by`), wait (not due yet), or page."""
    if page.settled:
        return "settled"
    if accepted_by is not None:
        return "accepted"
    if now < page.due_at:
        return "wait"
    return "page"


def page_message_id(contact_id: uuid.UUID, on_call_id: str) -> uuid.UUID:
    """The same contact pages the same person under the same message id: the adapter delivers it at most once."""
    return uuid.uuid5(_PAGE_IDS, f"{contact_id}/{on_call_id}")


def masked_phone(phone: str) -> str:
    """What the audit log keeps of a number: enough to tell entries apart, not enough to call."""
    return "…" + phone[-4:] if len(phone) > 4 else "…"
