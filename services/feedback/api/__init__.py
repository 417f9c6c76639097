"""Feedback's JSON API: survey policies and settings (admin, audited), adapter answers and delivery receipts,
invitations and satisfaction figures for supervisors."""

from __future__ import annotations

from fastapi import APIRouter

from services.feedback.api import adapters, figures, invitations, policies, settings

router = APIRouter()
for part in (policies, settings, invitations, adapters, figures):
    router.include_router(part.router)

__all__ = ["router"]
