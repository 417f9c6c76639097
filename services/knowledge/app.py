"""Wires the knowledge service: its routes, the contact consumer, the search engine and its refresh loop, and the
watch that announces overdue articles."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from services.knowledge.api import articles, imports, search, tuning
from services.knowledge.config import KnowledgeSettings
from services.knowledge.handlers.events import dispatch_table
from services.knowledge.overdue import OverdueWatch
from services.knowledge.search import EngineHolder, SearchEngine
from services.knowledge.searchlog import SearchLogBuffer
from services.knowledge.state import Knowledge
from shared.app import ConsumerSpec, Runtime, ServiceSpec
from shared.app import create_app as create_service_app
from shared.clock import Clock
from shared.db import Conn
from shared.events import INTAKE_CONTACTS
from shared.faults import Backoff, pause, transient
from shared.housekeeping import Chore, audit_chore, delete_older_than
from shared.kafka import Delivery
from shared.metrics import CountOf
from shared.redact import describe
from shared.tx import Tx

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)


def _state(runtime: Runtime[KnowledgeSettings]) -> Knowledge:
    settings = runtime.settings
    watch = OverdueWatch(runtime.pool, runtime.clock, interval_s=settings.overdue_check_s)
    runtime.registry.register(
        CountOf(
            "switchboard_knowledge_overdue_announced",
            "Overdue articles this instance announced to their owners",
            lambda: watch.announced,
        )
    )
    return Knowledge(
        settings=settings,
        pool=runtime.pool,
        producer=runtime.producer,
        clock=runtime.clock,
        tasks=runtime.tasks,
        engines=EngineHolder(),
        search_log=SearchLogBuffer(
            interval_s=settings.search_log_flush_s,
            batch=settings.search_log_batch,
            max_pending=settings.search_log_max_pending,
        ),
        overdue_watch=watch,
    )


def consumers(knowledge: Knowledge) -> Sequence[ConsumerSpec]:
    table = dispatch_table()
    engines, clock = knowledge.engines, knowledge.clock

    async def handle(conn: Conn, delivery: Delivery) -> None:
        event = delivery.decoded.event
        use_case = table.get(type(event)) if event is not None else None
        if use_case is None or event is None:
            return
        engine = await engines.wait()  # still loading at start-up: the suggestion waits for it
        await use_case(Tx(conn=conn, now=clock.now()), event, engine)

    # Effects are all in the database, so batches are safe; only the types in the table are claimed.
    return [ConsumerSpec("knowledge", [INTAKE_CONTACTS.name], handle, batch=True, accepts=frozenset(table))]


async def on_start(knowledge: Knowledge) -> None:
    pool, clock, settings = knowledge.pool, knowledge.clock, knowledge.settings
    search_log = knowledge.search_log
    knowledge.tasks.start("search-log", lambda: search_log.run(pool), stop=search_log.stop)
    holder = knowledge.engines
    async with pool.acquire() as conn:
        engine = await SearchEngine.load(conn, now=clock.now())
    holder.set(engine)
    log.info("search index loaded: %d published articles", len(engine.index))
    stop = asyncio.Event()
    interval = settings.index_poll_s

    backoff = Backoff(settings.retry_initial_s, settings.retry_max_s)

    async def follow() -> None:
        """Apply what other instances stored; the instance that writes refreshes right after its commit. While
        the database is away it waits and tries again (the index it holds still answers searches)."""
        delay = interval
        while not stop.is_set():
            await pause(stop, delay)
            engine = holder.get()
            if engine is None or stop.is_set():
                continue
            try:
                async with pool.acquire() as conn:
                    await engine.refresh(conn)
                if engine.index.dead_share() > 0.3 and len(engine.index) > 1000 and not holder.rebuilding.locked():
                    async with holder.rebuilding, pool.acquire() as conn:
                        holder.set(await SearchEngine.load(conn, now=clock.now()))
            except Exception as exc:
                if not transient(exc):
                    raise
                delay = backoff.next()
                log.warning("search index: refresh failed (%s); again in %.1fs", describe(exc), delay)
                continue
            backoff.reset()
            delay = interval

    knowledge.tasks.start("index-follow", follow, stop=stop.set)
    watch = knowledge.overdue_watch
    knowledge.tasks.start("overdue-watch", watch.run, stop=watch.stop)


async def on_stop(knowledge: Knowledge) -> None:
    for task in list(knowledge.rebuilds):
        task.cancel()


def _retention(runtime: Runtime[KnowledgeSettings]) -> Sequence[Chore]:
    """Searches (what agents typed, which may quote a customer) after `search_log_retention_days`; the audit of
    article changes after six years."""
    settings = runtime.settings
    days = settings.search_log_retention_days
    return [
        Chore("search log", timedelta(days=days), delete_older_than("search_log", "searched_at")),
        audit_chore(settings.audit_retention_days),
    ]


def spec() -> ServiceSpec[KnowledgeSettings, Knowledge]:
    return ServiceSpec(
        name="knowledge",
        state=_state,
        chores=_retention,
        migrations=MIGRATIONS,
        routers=[imports.router, search.router, tuning.router, articles.router],
        consumers=consumers,
        on_start=on_start,
        on_stop=on_stop,
        title="Switchboard knowledge",
    )


def create_app(settings: KnowledgeSettings, *, clock: Clock | None = None) -> FastAPI:
    return create_service_app(spec(), settings, clock=clock)
