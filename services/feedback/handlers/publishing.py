"""What every handler shares: the survey link maker and publishing through the outbox in the caller's
transaction (`Tx`, shared/tx.py: the connection and the instant every write of it uses)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.feedback.domain.links import sign_link
from services.feedback.domain.schedule import (
    Invitation,
)
from shared.events import (
    Event,
)
from shared.outbox import enqueue
from shared.tx import Tx

SOURCE = "switchboard/feedback"


@dataclass(frozen=True)
class Links:
    """How survey links are made: the page's public address and the key that signs them."""

    base_url: str
    secret: bytes

    def url(self, invitation_id: uuid.UUID, expires_at: datetime) -> str:
        return f"{self.base_url.rstrip('/')}/s/{sign_link(invitation_id, expires_at, self.secret)}"


async def publish(tx: Tx, event: Event, *, contact_id: uuid.UUID) -> None:
    await enqueue(tx.conn, event, source=SOURCE, subject=str(contact_id), now=tx.now)


def survey_event(model: type[Event], invitation: Invitation, **extra: Any) -> Event:
    return model.model_validate(
        {
            "invitation_id": invitation.invitation_id,
            "contact_id": invitation.contact_id,
            "channel": invitation.channel or "web",
            **extra,
        }
    )
