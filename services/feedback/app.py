"""Wires the feedback service: its routes, consumers and background work, on the shared app factory."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.feedback.config import FeedbackSettings
from shared.app import ServiceSpec
from shared.app import create_app as create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def spec() -> ServiceSpec:
    return ServiceSpec(name="feedback", migrations=MIGRATIONS)


def create_app(settings: FeedbackSettings) -> FastAPI:
    return create_service_app(spec(), settings)
