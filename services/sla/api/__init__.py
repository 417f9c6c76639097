"""The SLA HTTP API: policies and calendars (admin), a contact's clocks, attainment and at-risk figures."""

from __future__ import annotations

from fastapi import APIRouter

from services.sla.api import contacts


def routers() -> list[APIRouter]:
    return [contacts.router]
