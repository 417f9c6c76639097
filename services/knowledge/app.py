"""Wires the knowledge service: its routes, consumers and background work, on the shared app factory."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.knowledge.config import KnowledgeSettings
from shared.app import ServiceSpec
from shared.app import create_app as create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def spec() -> ServiceSpec:
    return ServiceSpec(name="knowledge", migrations=MIGRATIONS)


def create_app(settings: KnowledgeSettings) -> FastAPI:
    return create_service_app(spec(), settings)
