"""`/v1/webhooks`: endpoints that receive `outbound.messages` as signed webhooks (admins keep them), and their
deliveries with every attempt, replayable (admins and ops). docs/adapters.md §6."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import AnyHttpUrl, AwareDatetime, BaseModel, ConfigDict, Field

from services.intake.api.common import IntakeState, transaction
from services.intake.domain.destinations import DestinationRefused
from services.intake.domain.webhooks import Attempt, Delivery, Endpoint
from services.intake.handlers import webhooks as handlers
from services.intake.repository import webhooks as repo
from shared.auth import Principal, require_roles
from shared.db import Conn
from shared.errors import Problem
from shared.events import Channel
from shared.openapi import example

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
ADMIN = require_roles("admin")
OPERATORS = require_roles("admin", "ops")
WATCHERS = require_roles("admin", "ops", "adapter")
"""Deliveries: admins and ops see and replay all; an adapter key those of its channels (as it reports on them)."""
Kind = Literal["reply", "end_notice", "survey", "page"]
State = Literal["pending", "succeeded", "failed"]
ENDPOINT_ID = "5b0d7f1e-2c3a-4d5e-8f90-a1b2c3d4e5f6"
ENDPOINT = {
    "endpoint_id": ENDPOINT_ID,
    "name": "chat-widget",
    "url": "https://chat.example.com/switchboard/webhooks",
    "channels": ["chat"],
    "kinds": ["reply", "end_notice"],
    "enabled": True,
    "disabled_reason": "the receiver answered 410 Gone",
    "rotating_until": "2026-12-07T09:30:00Z",
    "created_by": "admin:ops-lead",
    "created_at": "2026-12-01T08:00:00Z",
    "updated_at": "2026-12-06T09:30:00Z",
}
DELIVERY = {
    "delivery_id": "0f9e8d7c-6b5a-4c3d-9e2f-1a0b9c8d7e6f",
    "endpoint_id": ENDPOINT_ID,
    "message_id": "7d3c2b1a-0f9e-4d8c-a7b6-c5d4e3f2a1b0",
    "contact_id": "3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7",
    "channel": "chat",
    "kind": "reply",
    "state": "failed",
    "attempts": 8,
    "next_attempt_at": "2026-12-06T10:05:00Z",
    "last_status": 503,
    "last_error": "ConnectTimeout",
    "created_at": "2026-12-05T07:00:00Z",
    "finished_at": "2026-12-06T10:05:00Z",
}
ATTEMPT = {
    "attempt": 1,
    "started_at": "2026-12-05T07:00:01Z",
    "duration_ms": 212,
    "status": 503,
    "error": "ConnectTimeout",
    "response": "Service Unavailable",
}


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid") | example(
        name="chat-widget", url="https://chat.example.com/switchboard/webhooks", channels=["chat"], kinds=["reply"]
    )

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")
    url: AnyHttpUrl = Field(
        description="where the deliveries are POSTed: https, and a host with public addresses only, outside the "
        "local stack (`webhook_https_only`, `webhook_public_only`, `webhook_allowed_networks`)"
    )
    channels: list[Channel] = Field(min_length=1, max_length=7)
    """The messages of these channels come here."""
    kinds: list[Kind] = Field(default_factory=list, max_length=4)
    """Only these kinds of message; empty: every kind."""


class EndpointOut(BaseModel):
    model_config = example(**ENDPOINT)

    endpoint_id: uuid.UUID
    name: str
    url: str
    channels: list[str]
    kinds: list[str]
    enabled: bool
    disabled_reason: str | None
    rotating_until: datetime | None = Field(description="while set, the previous secret signs beside the new one")
    created_by: str
    created_at: datetime
    updated_at: datetime


class EndpointWithSecret(EndpointOut):
    model_config = example(**ENDPOINT, secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")  # noqa: S106 — an example

    secret: str = Field(description="`whsec_…`: the signing secret, shown only in this answer", examples=[
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])  # fmt: skip


class EndpointPatch(BaseModel):
    model_config = ConfigDict(extra="forbid") | example(enabled=False)

    enabled: bool


def _endpoint(endpoint: Endpoint) -> EndpointOut:
    return EndpointOut(**{**vars(endpoint), "channels": list(endpoint.channels), "kinds": list(endpoint.kinds)})


def _with_secret(endpoint: Endpoint, secret: str) -> EndpointWithSecret:
    return EndpointWithSecret(**_endpoint(endpoint).model_dump(), secret=secret)


def _missing(endpoint_id: uuid.UUID) -> Problem:
    return Problem(404, "Not found", f"no webhook endpoint {endpoint_id}")


@router.post("/endpoints", status_code=201, response_model=EndpointWithSecret, summary="Register an endpoint")
async def create_endpoint(
    body: EndpointIn, intake: IntakeState, who: Annotated[Principal, Depends(ADMIN)]
) -> EndpointWithSecret:
    """Deliveries start with the next message of its channels. 409 `conflict` when the name is taken; 422 when
    the URL may not receive deliveries here (not https, or its host is or resolves to a non-public address)."""
    try:
        await handlers.check_destination(str(body.url), intake.webhooks.destinations)
    except DestinationRefused as exc:
        raise Problem(422, "Validation failed", f"url: {exc}", kind="validation") from exc
    try:
        async with transaction(intake) as tx:
            endpoint, secret = await handlers.create_endpoint(
                tx, name=body.name, url=str(body.url), channels=body.channels, kinds=body.kinds,
                by=f"{who.role}:{who.subject}", sealer=intake.webhooks.sealer,
            )  # fmt: skip
    except handlers.NameTaken as exc:
        raise Problem(409, "Conflict", f"a webhook endpoint named {body.name!r} exists") from exc
    return _with_secret(endpoint, secret)


@router.get("/endpoints", response_model=list[EndpointOut], summary="List endpoints (no secrets)")
async def list_endpoints(intake: IntakeState, _who: Annotated[Principal, Depends(OPERATORS)]) -> list[EndpointOut]:
    async with intake.pool.acquire() as conn:
        return [_endpoint(e) for e in await repo.list_endpoints(conn)]


@router.post("/endpoints/{endpoint_id}/rotate-secret", response_model=EndpointWithSecret, summary="Rotate")
async def rotate_secret(
    endpoint_id: uuid.UUID, intake: IntakeState, who: Annotated[Principal, Depends(ADMIN)]
) -> EndpointWithSecret:
    """A new secret, shown once; the old one keeps signing beside it for `webhook_rotation_overlap_s`."""
    overlap = timedelta(seconds=intake.settings.webhook_rotation_overlap_s)
    try:
        async with transaction(intake) as tx:
            endpoint, secret = await handlers.rotate_secret(
                tx, endpoint_id=endpoint_id, by=f"{who.role}:{who.subject}", overlap=overlap,
                sealer=intake.webhooks.sealer,
            )  # fmt: skip
    except handlers.EndpointMissing as exc:
        raise _missing(endpoint_id) from exc
    return _with_secret(endpoint, secret)


@router.patch("/endpoints/{endpoint_id}", response_model=EndpointOut, summary="Enable or disable an endpoint")
async def patch_endpoint(
    endpoint_id: uuid.UUID, body: EndpointPatch, intake: IntakeState, who: Annotated[Principal, Depends(ADMIN)]
) -> EndpointOut:
    """A disabled endpoint gets no new deliveries and its pending ones wait; enabling it sends them."""
    try:
        async with transaction(intake) as tx:
            endpoint = await handlers.set_enabled(
                tx, endpoint_id=endpoint_id, enabled=body.enabled, by=f"{who.role}:{who.subject}"
            )
    except handlers.EndpointMissing as exc:
        raise _missing(endpoint_id) from exc
    return _endpoint(endpoint)


class AttemptOut(BaseModel):
    model_config = example(**ATTEMPT)

    attempt: int
    started_at: datetime
    duration_ms: int
    status: int | None = Field(description="the receiver's HTTP status; null when it did not answer")
    error: str | None = Field(description="why there was no answer: `ConnectTimeout`, `ConnectError`, …")
    response: str | None = Field(description="the answer's first 200 characters, addresses and numbers masked")


class DeliveryOut(BaseModel):
    model_config = example(**DELIVERY)

    delivery_id: uuid.UUID
    endpoint_id: uuid.UUID
    message_id: uuid.UUID = Field(description="also the `webhook-id` header of every attempt")
    contact_id: uuid.UUID | None
    channel: str
    kind: str | None
    state: State
    attempts: int
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None


class DeliveryDetail(DeliveryOut):
    model_config = example(**DELIVERY, history=[ATTEMPT])

    history: list[AttemptOut]


def _delivery(d: Delivery) -> DeliveryOut:
    return DeliveryOut(**{k: v for k, v in vars(d).items() if k != "history"})


def _attempt(a: Attempt) -> AttemptOut:
    return AttemptOut(**vars(a))


def _channels(who: Principal) -> list[str] | None:
    return sorted(who.channels) if who.role == "adapter" else None


async def _visible(conn: Conn, delivery_id: uuid.UUID, who: Principal) -> Delivery:
    """The delivery, if there is one and `who` may see it: an adapter key only those of its channels (others
    are not there for it)."""
    found = await repo.get_delivery(conn, delivery_id)
    allowed = _channels(who)
    if found is None or (allowed is not None and found.channel not in allowed):
        raise Problem(404, "Not found", f"no webhook delivery {delivery_id}")
    return found


@router.get("/deliveries", response_model=list[DeliveryOut], summary="List deliveries, newest first")
async def list_deliveries(
    intake: IntakeState,
    who: Annotated[Principal, Depends(WATCHERS)],
    state: State | None = None,
    endpoint_id: uuid.UUID | None = None,
    message_id: uuid.UUID | None = None,
    since: Annotated[AwareDatetime | None, Query(description="made at or after")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeliveryOut]:
    async with intake.pool.acquire() as conn:
        rows = await repo.list_deliveries(
            conn, state=state, endpoint_id=endpoint_id, message_id=message_id, since=since, limit=limit,
            channels=_channels(who),
        )  # fmt: skip
    return [_delivery(d) for d in rows]


@router.get("/deliveries/{delivery_id}", response_model=DeliveryDetail, summary="One delivery and its attempts")
async def get_delivery(
    delivery_id: uuid.UUID, intake: IntakeState, who: Annotated[Principal, Depends(WATCHERS)]
) -> DeliveryDetail:
    async with intake.pool.acquire() as conn:
        found = await _visible(conn, delivery_id, who)
    return DeliveryDetail(**_delivery(found).model_dump(), history=[_attempt(a) for a in found.history])


class Replayed(BaseModel):
    model_config = example(replayed=3)

    replayed: int = Field(description="deliveries queued to be sent again")


@router.post("/deliveries/{delivery_id}/replay", status_code=202, response_model=Replayed, summary="Replay one")
async def replay_delivery(
    delivery_id: uuid.UUID, intake: IntakeState, who: Annotated[Principal, Depends(WATCHERS)]
) -> Replayed:
    """Sends a finished delivery again, with the same `webhook-id` and a fresh retry schedule. 409 while it
    is still pending (it is being sent already)."""
    async with transaction(intake) as tx:
        count = await handlers.replay(
            tx, by=f"{who.role}:{who.subject}", delivery_id=delivery_id, channels=_channels(who)
        )
    if count == 0:
        async with intake.pool.acquire() as conn:
            await _visible(conn, delivery_id, who)
        raise Problem(409, "Conflict", "the delivery is pending: it is being sent already")
    return Replayed(replayed=count)


class ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid") | example(
        since="2026-12-05T00:00:00Z", state="failed", endpoint_id=ENDPOINT_ID
    )

    since: AwareDatetime = Field(description="deliveries made at or after this time")
    state: Literal["failed", "succeeded"] = "failed"
    endpoint_id: uuid.UUID | None = None


@router.post("/deliveries/replay", status_code=202, response_model=Replayed, summary="Replay many")
async def replay_deliveries(
    body: ReplayIn, intake: IntakeState, who: Annotated[Principal, Depends(WATCHERS)]
) -> Replayed:
    """Every delivery in `state` (failed, by default) made since `since`, of one endpoint or all (an adapter
    key: of its channels)."""
    async with transaction(intake) as tx:
        count = await handlers.replay(
            tx, by=f"{who.role}:{who.subject}", state=body.state,
            endpoint_id=body.endpoint_id, since=body.since, channels=_channels(who),
        )  # fmt: skip
    return Replayed(replayed=count)
