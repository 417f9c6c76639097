"""`GET /v1/sla/audit`: who changed which policy or calendar, when, and from what to what."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from services.sla.api.common import SlaState, transaction
from services.sla.repository import admin as admin_repo
from shared.auth import Principal, require_roles
from shared.openapi import example

router = APIRouter(prefix="/v1/sla", tags=["audit"])


class AuditOut(BaseModel):
    model_config = example(
        audit_id=311,
        at="2026-12-06T10:00:00+08:00",
        actor="S-1",
        role="admin",
        action="policy.updated",
        entity="policy",
        entity_id="4e3d2c1b-0a9f-4e8d-b7c6-a5f4e3d2c1b0",
        detail={"version": 4},
    )

    audit_id: int
    at: datetime
    actor: str
    role: str
    action: str
    entity: str
    entity_id: str
    detail: dict[str, Any]


@router.get("/audit", response_model=list[AuditOut])
async def list_audit(
    state: SlaState,
    _who: Annotated[Principal, Depends(require_roles("admin", "ops"))],
    entity: Literal["policy", "calendar"] | None = None,
    entity_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditOut]:
    """Who changed which policy or calendar, when, and from what to what; newest first."""
    async with transaction(state) as tx:
        entries = await admin_repo.list_audit(tx.conn, entity=entity, entity_id=entity_id, limit=limit)
    return [AuditOut.model_validate(e, from_attributes=True) for e in entries]
