"""Wires the sla service: its routes, consumers and background work, on the shared app factory."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.sla.config import SlaSettings
from shared.app import ServiceSpec
from shared.app import create_app as create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def spec() -> ServiceSpec:
    return ServiceSpec(name="sla", migrations=MIGRATIONS)


def create_app(settings: SlaSettings) -> FastAPI:
    return create_service_app(spec(), settings)
