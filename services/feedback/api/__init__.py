"""Feedback's JSON API: survey policies (admin, audited), adapter answers and delivery receipts, invitations and
satisfaction figures for supervisors."""

from __future__ import annotations

from fastapi import APIRouter

from services.feedback.api import adapters, figures, invitations, policies

router = APIRouter()
for part in (policies, invitations, adapters, figures):
    router.include_router(part.router)

__all__ = ["router"]
