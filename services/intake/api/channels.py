"""The adapter-facing API: one endpoint per channel and a batch endpoint, each answering 202 with the outcome.

Each channel takes what its adapter naturally has. Every post may carry an `Idempotency-Key` header (batch
items an `idempotency_key` field): a retry answers the first result and publishes nothing new.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from services.intake.api.bodies import BATCH_BODY, CHANNEL_BODY, EMAIL_BODY, WEB_BODY
from services.intake.api.common import IntakeState, json_object, media_type, parse_model, validation_problem
from services.intake.api.payloads import (
    AcceptedOut,
    BatchIn,
    BatchItemOut,
    BatchOut,
    email_from_raw,
    inbound_for,
)
from services.intake.domain.contact import Inbound
from services.intake.handlers.commit import Item, QueueFull, accept_batch
from services.intake.handlers.common import Busy
from services.intake.handlers.intake import Accepted
from services.intake.state import Intake
from shared.auth import Principal, authenticate, check_channel, require_adapter
from shared.errors import Problem
from shared.telemetry import tracer

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/channels", tags=["channels"])
_tracer = tracer("switchboard.intake")
THREADPOOL_PARSE_BYTES = 256 * 1024
"""Raw emails larger than this are parsed off the event loop."""


def _out(accepted: Accepted) -> AcceptedOut:
    return AcceptedOut(
        contact_id=str(accepted.contact_id), message_id=str(accepted.message_id), outcome=accepted.outcome
    )


IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


async def _accept_one(intake: Intake, principal: Principal, inbound: Inbound, key: str | None) -> AcceptedOut:
    with _tracer.start_as_current_span("intake.accept", attributes={"intake.channel": inbound.channel}) as span:
        try:
            accepted = await intake.commits.accept(Item(inbound, key, principal.subject, intake.clock.now()))
        except QueueFull as exc:
            raise Problem(
                503,
                "Busy",
                f"too many posts wait to be committed ({exc}); nothing was stored — retry shortly",
                headers={"Retry-After": "1"},
            ) from exc
        except Busy as exc:
            raise _busy() from exc
        span.set_attribute("intake.outcome", accepted.outcome)
        span.set_attribute("intake.contact_id", str(accepted.contact_id))
    log.debug("intake: %s %s contact %s", inbound.channel, accepted.outcome, accepted.contact_id)
    return _out(accepted)


@router.post(
    "/email",
    status_code=202,
    summary="An email: raw MIME (message/rfc822) or parsed JSON",
    openapi_extra=EMAIL_BODY,
)
async def post_email(
    request: Request,
    intake: IntakeState,
    principal: Annotated[Principal, Depends(require_adapter(["email"]))],
    idempotency_key: IdempotencyKey = None,
) -> AcceptedOut:
    settings = intake.settings
    body = await request.body()
    kind = media_type(request)
    if kind in ("message/rfc822", "text/plain", "application/octet-stream"):
        if len(body) > THREADPOOL_PARSE_BYTES:
            inbound = await run_in_threadpool(email_from_raw, body, settings, region=principal.region)
        else:
            inbound = email_from_raw(body, settings, region=principal.region)
    elif kind == "application/json":
        inbound = inbound_for("email", json_object(body), settings, region=principal.region)
    else:
        raise _unsupported(kind, "message/rfc822 or application/json")
    return await _accept_one(intake, principal, inbound, idempotency_key)


@router.post(
    "/web",
    status_code=202,
    summary="A web form post: JSON or application/x-www-form-urlencoded",
    openapi_extra=WEB_BODY,
)
async def post_web(
    request: Request,
    intake: IntakeState,
    principal: Annotated[Principal, Depends(require_adapter(["web"]))],
    idempotency_key: IdempotencyKey = None,
) -> AcceptedOut:
    body = await request.body()
    kind = media_type(request)
    if kind == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
        except (UnicodeDecodeError, ValueError) as exc:
            raise Problem(400, "Bad request", f"the form body is not valid urlencoded UTF-8: {exc}") from exc
        payload: dict[str, Any] = {k: v for k, v in pairs if v != ""}
    elif kind == "application/json":
        payload = json_object(body)
    else:
        raise _unsupported(kind, "application/json or application/x-www-form-urlencoded")
    inbound = inbound_for("web", payload, intake.settings, region=principal.region)
    return await _accept_one(intake, principal, inbound, idempotency_key)


def _busy() -> Problem:
    return Problem(
        503,
        "Busy",
        "concurrent writes to the same customers kept colliding; nothing was stored — retry shortly",
        headers={"Retry-After": "1"},
    )


def _unsupported(kind: str, wanted: str) -> Problem:
    return Problem(
        415, "Unsupported media type", f"Content-Type {kind or '(none)'!r} is not accepted here; send {wanted}"
    )


# --- batch -----------------------------------------------------------------------------------------------------


@router.post(
    "/batch",
    status_code=202,
    summary="Many messages of any channels, each with its own result",
    openapi_extra=BATCH_BODY,
)
async def post_batch(
    request: Request, intake: IntakeState, principal: Annotated[Principal, Depends(authenticate)]
) -> BatchOut:
    """Valid items commit together in one transaction (each in its own savepoint); an invalid item is reported
    with its problem and does not affect the others."""
    if principal.role != "adapter":
        raise Problem(403, "Forbidden", "this endpoint takes an adapter API key")
    settings = intake.settings
    body = await request.body()
    if media_type(request) != "application/json":
        raise _unsupported(media_type(request), "application/json")
    document = json_object(body)
    raw_items = document.get("items")
    if isinstance(raw_items, list) and len(raw_items) > settings.max_batch_items:
        raise Problem(
            413, "Payload too large", f"{len(raw_items)} items; the limit is {settings.max_batch_items} per batch"
        )
    batch = parse_model(BatchIn, document)
    results: list[BatchItemOut] = []
    prepared: list[tuple[int, Inbound, str | None]] = []
    for index, item in enumerate(batch.items):
        try:
            check_channel(principal, item.channel)
            inbound = inbound_for(item.channel, item.payload, settings, region=principal.region)
            prepared.append((index, inbound, item.idempotency_key))
        except Problem as problem:
            results.append(BatchItemOut(index=index, status=problem.status, error=_problem_body(problem, index)))
        except ValidationError as exc:
            invalid = validation_problem(exc, where=f"items[{index}].payload")
            results.append(BatchItemOut(index=index, status=invalid.status, error=_problem_body(invalid, index)))
    now = intake.clock.now()
    if prepared:
        with _tracer.start_as_current_span("intake.accept_batch", attributes={"intake.items": len(prepared)}):
            try:
                accepted_items = await accept_batch(
                    intake.pool,
                    intake.accepting,
                    [(inbound, key) for _, inbound, key in prepared],
                    adapter=principal.subject,
                    now=now,
                )
            except Busy as exc:
                raise _busy() from exc
        for (index, _, _), accepted_item in zip(prepared, accepted_items, strict=True):
            results.append(BatchItemOut(index=index, status=202, **_out(accepted_item).model_dump()))
    results.sort(key=lambda r: r.index)
    accepted = sum(1 for r in results if r.status == 202)
    return BatchOut(accepted=accepted, rejected=len(results) - accepted, results=results)


def _problem_body(problem: Problem, index: int) -> dict[str, Any]:
    body: dict[str, Any] = {"title": problem.title, "status": problem.status, "pointer": f"/items/{index}"}
    if problem.detail:
        body["detail"] = problem.detail
    body.update(problem.extensions)
    return body


@router.post(
    "/{channel}",
    status_code=202,
    summary="A phone call event, chat message, or sms/social/onsite message (agents record onsite walk-ins too)",
    openapi_extra=CHANNEL_BODY,
)
async def post_channel(
    channel: Literal["phone", "chat", "sms", "social", "onsite"],
    request: Request,
    intake: IntakeState,
    principal: Annotated[Principal, Depends(authenticate)],
    idempotency_key: IdempotencyKey = None,
) -> AcceptedOut:
    walk_in = channel == "onsite" and principal.role in ("agent", "supervisor", "admin")
    if principal.role != "adapter" and not walk_in:
        raise Problem(
            403, "Forbidden", "this endpoint takes an adapter API key (agents may record onsite walk-ins)"
        )
    if not walk_in:
        check_channel(principal, channel)
    if media_type(request) != "application/json":
        raise _unsupported(media_type(request), "application/json")
    payload = json_object(await request.body())
    if walk_in:
        # A walk-in recorded at the desk goes through intake like any contact: classified, clocked, surveyed.
        given = payload.get("metadata")
        metadata: dict[str, Any] = given if isinstance(given, dict) else {}
        payload["metadata"] = {**metadata, "recorded_by": f"{principal.role}:{principal.subject}"}
    inbound = inbound_for(channel, payload, intake.settings, region=principal.region)
    return await _accept_one(intake, principal, inbound, idempotency_key)
