"""Wires the intake service: its routes, consumers and background work, on the shared app factory."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.intake.config import IntakeSettings
from shared.app import ServiceSpec
from shared.app import create_app as create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def spec() -> ServiceSpec:
    return ServiceSpec(name="intake", migrations=MIGRATIONS)


def create_app(settings: IntakeSettings) -> FastAPI:
    return create_service_app(spec(), settings)
