"""A contact's survey history, for supervisors and operators."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from services.feedback import repository as repo
from services.feedback.api.dependencies import FeedbackState, Reader, transaction
from shared.openapi import example

router = APIRouter(tags=["feedback"])


class InvitationOut(BaseModel):
    model_config = example(
        invitation_id="2a3b4c5d-6e7f-4819-a2b3-c4d5e6f7a8b9",
        contact_id="5d0c7f3a-2b1e-4c8d-9a6f-1e2d3c4b5a69",
        status="sent",
        reason="policy sms v3",
        channel="phone",
        invite_channel="sms",
        language="zh-Hans",
        agent_id="A-1",
        team="billing",
        resolved_at="2026-12-06T10:00:00+08:00",
        due_at="2026-12-06T10:30:00+08:00",
        sent_at="2026-12-06T10:30:01+08:00",
        expires_at="2026-12-09T10:30:00+08:00",
        closed_at="2026-12-09T10:30:00+08:00",
        message_id="c3d4e5f6-a7b8-4c9d-8e1f-2a3b4c5d6e7f",
        delivery="delivered",
    )

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
async def list_invitations(state: FeedbackState, contact_id: uuid.UUID, _who: Reader) -> list[InvitationOut]:
    """A contact's survey history: what was planned, sent, answered, and why anything was not (no PII)."""
    async with transaction(state) as tx:
        found = await repo.invitations_for_contact(tx.conn, contact_id=contact_id)
    return [InvitationOut.model_validate({k: getattr(i, k) for k in InvitationOut.model_fields}) for i in found]
