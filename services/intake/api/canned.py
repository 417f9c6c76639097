"""`/v1/canned-responses`: reply templates supervisors and admins keep (audited), agents search and fill in."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.intake.api.common import IntakeState, transaction
from services.intake.domain.search import query_terms, terms
from services.intake.handlers import canned
from services.intake.repository import canned as repo
from shared.auth import Principal, require_roles
from shared.errors import Problem
from shared.openapi import example
from shared.tx import Actor

router = APIRouter(prefix="/v1/canned-responses", tags=["canned responses"])
VARIABLES = ("customer_name", "contact_ref", "agent_name", "date", "subject")
EDITORS = ("supervisor", "admin")
_VARIABLE = re.compile(r"\{([a-z_]+)\}")


class CannedIn(BaseModel):
    model_config = ConfigDict(extra="forbid") | example(
        title="Refund timeline",
        texts={
            "zh-Hans": "{customer_name}您好，退款将在 3 个工作日内到账。",
            "en": "Dear {customer_name}, the refund reaches you within 3 working days.",
        },
        tags=["billing"],
    )

    title: str = Field(min_length=1, max_length=200)
    texts: dict[Literal["zh-Hans", "zh-Hant", "en"], str] = Field(min_length=1)
    """The text per language; variables in braces: {customer_name}, {contact_ref}, {agent_name}, {date},
    {subject}."""
    tags: list[str] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _texts(self) -> CannedIn:
        for language, text in self.texts.items():
            if not text.strip() or len(text) > 20_000:
                raise ValueError(f"texts.{language} must be 1 to 20,000 characters")
            unknown = sorted(set(_VARIABLE.findall(text)) - set(VARIABLES))
            if unknown:
                raise ValueError(f"texts.{language}: unknown variable(s) {unknown}; known: {list(VARIABLES)}")
        return self


class CannedOut(BaseModel):
    model_config = example(
        canned_response_id="3c2b1a09-8f7e-4d6c-b5a4-938271605f4e",
        title="Refund timeline",
        texts={"en": "Dear {customer_name}, the refund reaches you within 3 working days."},
        tags=["billing"],
        version=2,
        updated_by="S-1",
        updated_at="2026-12-06T10:00:00+08:00",
    )

    canned_response_id: uuid.UUID
    title: str
    texts: dict[str, str]
    tags: list[str]
    version: int
    updated_by: str
    updated_at: datetime


def _out(row: dict[str, Any]) -> CannedOut:
    return CannedOut(**{k: v for k, v in row.items() if k != "active"})


def _texts(body: CannedIn) -> dict[str, str]:
    return {str(language): text for language, text in body.texts.items()}


def _terms(body: CannedIn) -> list[str]:
    return terms("\n".join((body.title, *body.texts.values(), *body.tags)))


@router.get("", response_model=list[CannedOut], summary="Search canned responses")
async def search_canned(
    intake: IntakeState,
    _who: Annotated[Principal, Depends(require_roles("agent", *EDITORS))],
    q: Annotated[str | None, Query(max_length=200)] = None,
    tag: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[CannedOut]:
    """By words of the title, text or tags in either Chinese script or English."""
    async with intake.pool.acquire() as conn:
        rows = await repo.search(conn, terms=query_terms(q or ""), tag=tag, limit=limit)
    return [_out(r) for r in rows]


def _template(body: CannedIn) -> canned.Template:
    return canned.Template(title=body.title, texts=_texts(body), tags=body.tags, terms=_terms(body))


def _actor(who: Principal) -> Actor:
    return Actor(who.role, who.subject)


@router.post("", status_code=201, response_model=CannedOut, summary="Add a canned response")
async def create_canned(
    body: CannedIn, intake: IntakeState, who: Annotated[Principal, Depends(require_roles(*EDITORS))]
) -> CannedOut:
    async with transaction(intake) as tx:
        return _out(await canned.create(tx, _template(body), actor=_actor(who)))


@router.put("/{canned_response_id}", response_model=CannedOut, summary="Change a canned response")
async def update_canned(
    canned_response_id: uuid.UUID,
    body: CannedIn,
    intake: IntakeState,
    who: Annotated[Principal, Depends(require_roles(*EDITORS))],
    if_match: Annotated[str | None, Header(description='the version read, as "3"')] = None,
) -> CannedOut:
    expected = _version(if_match)
    try:
        async with transaction(intake) as tx:
            row = await canned.update(
                tx, canned_response_id, _template(body), expected_version=expected, actor=_actor(who)
            )
    except canned.CannedMissing as exc:
        raise Problem(404, "Not found", str(exc)) from exc
    except canned.VersionMismatch as exc:
        raise Problem(412, "Precondition failed", str(exc), kind="version-mismatch") from exc
    return _out(row)


def _version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    text = if_match.strip().strip('"')
    if not text.isdigit():
        raise Problem(422, "Validation failed", 'header.If-Match: a version number, as "3"', kind="validation")
    return int(text)


@router.delete("/{canned_response_id}", status_code=204, summary="Retire a canned response")
async def delete_canned(
    canned_response_id: uuid.UUID, intake: IntakeState, who: Annotated[Principal, Depends(require_roles(*EDITORS))]
) -> Response:
    try:
        async with transaction(intake) as tx:
            await canned.retire(tx, canned_response_id, actor=_actor(who))
    except canned.CannedMissing as exc:
        raise Problem(404, "Not found", str(exc)) from exc
    return Response(status_code=204)


class Rendered(BaseModel):
    model_config = example(
        canned_response_id="3c2b1a09-8f7e-4d6c-b5a4-938271605f4e",
        language="en",
        text="Dear Ms Wang, the refund reaches you within 3 working days.",
    )

    canned_response_id: uuid.UUID
    language: str
    text: str
    """The text with the contact's values filled in: the reply's starting point, for the agent to edit."""


@router.get("/{canned_response_id}/render", response_model=Rendered, summary="Fill it in for a contact")
async def render_canned(
    canned_response_id: uuid.UUID,
    contact_id: uuid.UUID,
    intake: IntakeState,
    who: Annotated[Principal, Depends(require_roles("agent", *EDITORS))],
    language: Literal["zh-Hans", "zh-Hant", "en"] | None = None,
) -> Rendered:
    try:
        async with transaction(intake) as tx:
            rendered = await canned.fill_in(
                tx, canned_response_id, contact_id, language=language, actor=_actor(who)
            )
    except canned.CannedMissing as exc:
        raise Problem(404, "Not found", str(exc)) from exc
    except canned.NotYourContact as exc:
        raise Problem(403, "Forbidden", str(exc), kind="not-your-contact") from exc
    return Rendered(canned_response_id=canned_response_id, language=rendered.language, text=rendered.text)
