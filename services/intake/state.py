"""The running intake service's own parts, built once per start by its wiring (`app.py`): routes reach them through
`api.common.IntakeState`, the group commit, search indexer and webhook sender are given them."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from services.intake.config import IntakeSettings
from services.intake.handlers.commit import GroupCommit
from services.intake.handlers.intake import Accepting
from services.intake.indexer import SearchIndexer
from services.intake.webhooks import WebhookSender
from shared.clock import Clock
from shared.kafka import Producer
from shared.lifecycle import BackgroundTasks


@dataclass(frozen=True)
class Intake:
    settings: IntakeSettings
    pool: asyncpg.Pool
    producer: Producer
    clock: Clock
    tasks: BackgroundTasks
    accepting: Accepting
    """What accepting a message reads besides its transaction: the rule set and threading windows in force
    (cached; the routes that show and replace them use these caches) and the event text limit."""
    commits: GroupCommit
    indexer: SearchIndexer
    webhooks: WebhookSender
