"""The SLA HTTP API: policies and calendars (admin), a contact's clocks, attainment and at-risk figures."""

from __future__ import annotations

from fastapi import APIRouter

from services.sla.api import audit, calendars, contacts, figures, policies


def routers() -> list[APIRouter]:
    return [policies.router, calendars.router, contacts.router, figures.router, audit.router]
