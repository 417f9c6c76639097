"""The running knowledge service's own parts, built once per start by its wiring (`app.py`): routes reach them
through `api.common.KnowledgeState`, the consumer, the loops and the use cases are given them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import asyncpg

from services.knowledge.config import KnowledgeSettings
from services.knowledge.overdue import OverdueWatch
from services.knowledge.search import EngineHolder
from services.knowledge.searchlog import SearchLogBuffer
from shared.clock import Clock
from shared.kafka import Producer
from shared.lifecycle import BackgroundTasks


@dataclass(frozen=True)
class Knowledge:
    settings: KnowledgeSettings
    pool: asyncpg.Pool
    producer: Producer
    clock: Clock
    tasks: BackgroundTasks
    engines: EngineHolder
    """The search engine this process serves from (None until the first load finishes; swapped on a rebuild)."""
    search_log: SearchLogBuffer
    """Lookups waiting to be written to the search log."""
    overdue_watch: OverdueWatch
    rebuilds: set[asyncio.Task[None]] = field(default_factory=set)
    """Index rebuilds running in the background (cancelled at stop)."""
