"""The running feedback service's own parts, built once per start by its wiring (`app.py`): routes and the survey
page reach them through `api.dependencies.FeedbackState`, the survey scheduler is given them."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from services.feedback.config import FeedbackSettings
from services.feedback.handlers import Links
from services.feedback.handlers.settings import SettingsCache
from services.feedback.scheduler import Scheduler
from shared.clock import Clock
from shared.kafka import Producer
from shared.lifecycle import BackgroundTasks


@dataclass(frozen=True)
class Feedback:
    settings: FeedbackSettings
    pool: asyncpg.Pool
    producer: Producer
    clock: Clock
    tasks: BackgroundTasks
    settings_cache: SettingsCache
    """Feedback's own settings document (survey comment retention) as stored, read through a cache."""
    scheduler: Scheduler
    links: Links
