"""What every intake route shares: the running service's state (`IntakeState`), a transaction for the use case
(`transaction`), the wait for intake's view of who owns a contact before an agent writes on it (`caught_up`),
JSON bodies read into models, domain errors as problems."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError
from starlette.requests import HTTPConnection

from services.intake.domain.conversation import may_write
from services.intake.handlers import common
from services.intake.handlers.common import Tx
from services.intake.handlers.conversation import Writer
from services.intake.repository import conversation
from services.intake.state import Intake
from shared.errors import Problem
from shared.service import service_state

M = TypeVar("M", bound=BaseModel)


def state_of(connection: HTTPConnection) -> Intake:
    return service_state(connection.app, Intake)


IntakeState = Annotated[Intake, Depends(state_of)]


@asynccontextmanager
async def transaction(intake: Intake, *, now: datetime | None = None) -> AsyncIterator[Tx]:
    """One transaction per request, its writes at the request's instant (`now`, when the route has already read
    the clock); the use case takes its `Tx` first."""
    async with common.transaction(intake.pool, intake.clock.now() if now is None else now) as tx:
        yield tx


async def caught_up(intake: Intake, contact_id: uuid.UUID, who: Writer) -> None:
    """Intake learns who owns the work from routing's events, a moment after the agent's desktop does: an agent
    who answers at once (or right after a reopen) may be ahead of it. Wait up to `ownership_wait_s` for intake's
    view to say the agent may write, before the transaction; the transaction then decides."""
    wait_s = intake.settings.ownership_wait_s
    if who.role != "agent" or wait_s <= 0:
        return
    deadline = time.monotonic() + wait_s
    while True:
        async with intake.pool.acquire() as conn:
            head = await conversation.get_head(conn, contact_id)
        if head is None or (
            may_write(role=who.role, subject=who.subject, owner_id=head.owner_id) and head.status != "closed"
        ):
            return
        if time.monotonic() >= deadline:
            return
        await asyncio.sleep(0.05)


def parse_model(model: type[M], data: bytes | dict[str, Any], *, where: str = "body") -> M:
    """A request body as `model`, or a 400 (not JSON) / 422 (wrong shape) problem naming each bad field."""
    try:
        if isinstance(data, bytes):
            return model.model_validate_json(data)
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_problem(exc, where=where) from exc


def validation_problem(exc: ValidationError, *, where: str = "body") -> Problem:
    errors = exc.errors(include_url=False, include_input=False)
    if errors and errors[0].get("type") == "json_invalid":
        return Problem(400, "Bad request", f"{where} is not valid JSON: {errors[0].get('msg')}", kind="bad-json")
    listed = [
        {
            "location": ".".join(str(p) for p in (where, *err.get("loc", ()))),
            "message": err.get("msg", "invalid"),
            "type": err.get("type", "invalid"),
        }
        for err in errors
    ]
    first = listed[0]
    more = f" (and {len(listed) - 1} more)" if len(listed) > 1 else ""
    return Problem(
        422,
        "Validation failed",
        f"{first['location']}: {first['message']}{more}",
        kind="validation",
        errors=listed,
    )


def json_object(body: bytes, *, where: str = "body") -> dict[str, Any]:
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Problem(400, "Bad request", f"{where} is not valid JSON: {exc}", kind="bad-json") from exc
    except RecursionError as exc:  # a body without a JSON content type escapes the depth check at the edge
        raise Problem(400, "Bad request", f"{where} is nested too deeply", kind="bad-json") from exc
    if not isinstance(value, dict):
        raise Problem(422, "Validation failed", f"{where} must be a JSON object", kind="validation")
    return value


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
