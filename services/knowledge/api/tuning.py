"""HTTP: the admin lists behind search (synonyms, product terms, settings) and the index rebuild."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from services.knowledge.api.common import (
    Admins,
    KnowledgeState,
    Staff,
    actor_of,
    engine_of,
    transaction,
)
from services.knowledge.api.models import (
    Rebuilding,
    SettingOut,
    Settings,
    SynonymOut,
    Synonyms,
    TermAdded,
    Terms,
)
from services.knowledge.handlers import tuning
from services.knowledge.repository.tuning import (
    list_product_terms,
    list_settings,
    list_synonyms,
)
from services.knowledge.search import SearchEngine, load_tuning
from services.knowledge.state import Knowledge
from shared.errors import Problem
from shared.openapi import example
from shared.redact import describe

router = APIRouter(tags=["search"])
log = logging.getLogger(__name__)


class SynonymIn(BaseModel):
    model_config = ConfigDict(extra="forbid") | example(terms=["重置密码", "找回密码", "reset password"])

    terms: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(min_length=2, max_length=50)


@router.get("/v1/knowledge/synonyms", response_model=None, responses={200: {"model": Synonyms}})
async def get_synonyms(principal: Staff, state: KnowledgeState) -> dict[str, Any]:
    async with state.pool.acquire() as conn:
        return {"items": [s.__dict__ for s in await list_synonyms(conn)]}


@router.post(
    "/v1/knowledge/synonyms", status_code=201, response_model=None, responses={201: {"model": SynonymOut}}
)
async def post_synonym(body: SynonymIn, principal: Admins, state: KnowledgeState) -> dict[str, Any]:
    """Words that mean the same to searchers (`["重置密码", "找回密码", "reset password"]`); applied to queries."""
    engine = engine_of(state)
    terms = tuple(dict.fromkeys(t.strip() for t in body.terms if t.strip()))
    if len(terms) < 2 or sum(1 for t in terms if engine.analyzer.terms(t)) < 2:
        raise Problem(422, "Validation failed", "terms: at least two that are not stop words", kind="validation")
    async with transaction(state) as tx:
        synonym = await tuning.add_synonym(tx, terms, engine=engine, actor=actor_of(principal))
    return synonym.__dict__


@router.delete("/v1/knowledge/synonyms/{synonym_id}", status_code=204)
async def remove_synonym(synonym_id: uuid.UUID, principal: Admins, state: KnowledgeState) -> None:
    engine = engine_of(state)
    async with transaction(state) as tx:
        removed = await tuning.remove_synonym(tx, synonym_id, engine=engine, actor=actor_of(principal))
    if not removed:
        raise Problem(404, "Not found", f"no synonym group {synonym_id}")


class TermIn(BaseModel):
    model_config = ConfigDict(extra="forbid") | example(term="宽带套餐")

    term: str = Field(min_length=1, max_length=60)


@router.get("/v1/knowledge/terms", response_model=None, responses={200: {"model": Terms}})
async def get_terms(principal: Staff, state: KnowledgeState) -> dict[str, Any]:
    async with state.pool.acquire() as conn:
        return {"items": await list_product_terms(conn)}


@router.post("/v1/knowledge/terms", status_code=201, response_model=None, responses={201: {"model": TermAdded}})
async def post_term(body: TermIn, principal: Admins, state: KnowledgeState) -> dict[str, Any]:
    """A product term for the Chinese dictionary (kept whole by jieba); re-analyses the index in the background."""
    term = " ".join(body.term.split())
    async with transaction(state) as tx:
        added = await tuning.add_term(tx, term, actor=actor_of(principal))
    if added:
        schedule_rebuild(state)
    return {"term": term, "added": added, "rebuilding": added}


@router.delete("/v1/knowledge/terms/{term}", status_code=204)
async def remove_term(term: str, principal: Admins, state: KnowledgeState) -> None:
    async with transaction(state) as tx:
        removed = await tuning.remove_term(tx, term, actor=actor_of(principal))
    if not removed:
        raise Problem(404, "Not found", f"no product term {term!r}")
    schedule_rebuild(state)


@router.get("/v1/knowledge/settings", response_model=None, responses={200: {"model": Settings}})
async def get_settings(principal: Staff, state: KnowledgeState) -> dict[str, Any]:
    async with state.pool.acquire() as conn:
        return {"items": [s.__dict__ for s in await list_settings(conn)]}


class SettingIn(BaseModel):
    model_config = ConfigDict(extra="forbid") | example(value=180)

    value: float = Field(ge=0)


POSITIVE_INTEGERS = {"review_days", "suggestion_count"}


@router.put("/v1/knowledge/settings/{name}", response_model=None, responses={200: {"model": SettingOut}})
async def put_setting(name: str, body: SettingIn, principal: Admins, state: KnowledgeState) -> dict[str, Any]:
    """Change a figure (review_days, suggestion_count, boosts…); search uses it at once."""
    value: float | int = body.value
    if name in POSITIVE_INTEGERS:
        if value != int(value) or value < 1:
            raise Problem(422, "Validation failed", f"{name}: a whole number of at least 1", kind="validation")
        value = int(value)
    async with transaction(state) as tx:
        setting = await tuning.change_setting(tx, name, value, actor=actor_of(principal))
    if setting is None:
        raise Problem(404, "Not found", f"no setting {name!r}")
    if name.startswith("boost_"):
        schedule_rebuild(state)
    else:
        engine = engine_of(state)
        async with state.pool.acquire() as conn:
            engine.tuning = await load_tuning(conn)
    return setting.__dict__


@router.post("/v1/search/rebuild", status_code=202, response_model=None, responses={202: {"model": Rebuilding}})
async def rebuild(principal: Admins, state: KnowledgeState) -> dict[str, Any]:
    """Rebuild the in-memory index from PostgreSQL (re-analysing what is stale) and swap it in when done."""
    async with transaction(state) as tx:
        await tuning.ask_rebuild(tx, actor=actor_of(principal))
    task = schedule_rebuild(state)
    return {"rebuilding": True, "task": task}


def schedule_rebuild(state: Knowledge) -> str:
    holder = state.engines
    name = f"index-rebuild-{uuid.uuid4().hex[:8]}"

    async def run() -> None:
        async with holder.rebuilding:
            async with state.pool.acquire() as conn:
                fresh = await SearchEngine.load(conn, now=state.clock.now())
            holder.set(fresh)

    pending = state.rebuilds
    task = asyncio.create_task(run(), name=name)
    pending.add(task)

    def done(finished: asyncio.Task[None]) -> None:
        pending.discard(finished)
        error = None if finished.cancelled() else finished.exception()
        if error is not None:
            log.error("%s failed: %s", name, describe(error), exc_info=error)

    task.add_done_callback(done)
    return name
