"""A contact's survey history, for supervisors and operators."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel

from services.feedback import repository as repo
from services.feedback.api.dependencies import Reader, runtime_of

router = APIRouter(tags=["feedback"])


class InvitationOut(BaseModel):
    invitation_id: uuid.UUID
    contact_id: uuid.UUID
    status: str
    reason: str | None
    channel: str | None
    invite_channel: str | None
    language: str | None
    agent_id: str
    team: str | None
    resolved_at: datetime
    due_at: datetime | None
    sent_at: datetime | None
    expires_at: datetime | None
    closed_at: datetime | None
    message_id: uuid.UUID | None
    delivery: str | None


@router.get("/v1/surveys/invitations")
async def list_invitations(request: Request, contact_id: uuid.UUID, _who: Reader) -> list[InvitationOut]:
    """A contact's survey history: what was planned, sent, answered, and why anything was not (no PII)."""
    async with runtime_of(request).pool.acquire() as conn:
        found = await repo.invitations_for_contact(conn, contact_id=contact_id)
    return [InvitationOut.model_validate({k: getattr(i, k) for k in InvitationOut.model_fields}) for i in found]
