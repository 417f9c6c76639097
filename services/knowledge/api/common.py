"""What the knowledge routers share: role aliases, the running service's state (`KnowledgeState`), the engine
it serves from, a transaction with the clock (`Tx`), the caller as an actor, and domain errors turned into
problem+json."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from services.knowledge.domain.article import (
    ArticleNotFound,
    DuplicateExternalId,
    InvalidArticle,
    InvalidTransition,
    KnowledgeError,
    NotAllowed,
    NotAResult,
    SearchNotFound,
    StaleVersion,
)
from services.knowledge.search import SearchEngine
from services.knowledge.state import Knowledge
from shared.auth import Principal, require_roles
from shared.errors import Problem
from shared.service import service_state
from shared.tx import Actor, Tx

MAX_OFFSET = 100_000
"""Deepest page a list reads (further needs a narrower filter)."""
MAX_VERSION = 2**31 - 1
"""Versions are `integer` columns."""

Authors = Annotated[Principal, Depends(require_roles("agent", "supervisor", "admin"))]
Staff = Annotated[Principal, Depends(require_roles("agent", "supervisor", "admin", "ops"))]
Reviewers = Annotated[Principal, Depends(require_roles("supervisor", "admin"))]
Searchers = Annotated[Principal, Depends(require_roles("agent", "supervisor", "admin", "ops", "adapter"))]
Admins = Annotated[Principal, Depends(require_roles("admin"))]


def state_of(connection: HTTPConnection) -> Knowledge:
    return service_state(connection.app, Knowledge)


KnowledgeState = Annotated[Knowledge, Depends(state_of)]


def engine_of(state: Knowledge) -> SearchEngine:
    engine = state.engines.get()
    if engine is None:
        raise Problem(503, "Index loading", "the search index is still loading; retry in a few seconds")
    return engine


def actor_of(principal: Principal) -> Actor:
    return Actor(principal.role, principal.subject)


@asynccontextmanager
async def transaction(state: Knowledge) -> AsyncIterator[Tx]:
    """One transaction per request, at one instant; domain errors roll it back and become 4xx problems."""
    try:
        async with state.pool.acquire() as conn, conn.transaction():
            yield Tx(conn=conn, now=state.clock.now())
    except KnowledgeError as exc:
        raise problem_from(exc) from exc


def problem_from(exc: KnowledgeError) -> Problem:
    if isinstance(exc, NotAllowed):
        return Problem(403, "Forbidden", str(exc))
    if isinstance(exc, ArticleNotFound | SearchNotFound):
        return Problem(404, "Not found", str(exc))
    if isinstance(exc, NotAResult):
        return Problem(422, "Validation failed", str(exc), kind="validation")
    if isinstance(exc, DuplicateExternalId):
        return Problem(409, "Conflict", str(exc))
    if isinstance(exc, InvalidTransition | StaleVersion):
        return Problem(
            409, "Conflict", str(exc), kind="workflow" if isinstance(exc, InvalidTransition) else "stale"
        )
    if isinstance(exc, InvalidArticle):
        return Problem(422, "Invalid article", str(exc), kind="invalid-article")
    return Problem(400, "Bad request", str(exc))
