"""What every intake route shares: its dependencies, JSON bodies read into models, domain errors as problems."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from services.intake.config import IntakeSettings
from services.intake.handlers.commit import GroupCommit
from services.intake.handlers.intake import Deps
from shared.clock import Clock
from shared.errors import Problem

M = TypeVar("M", bound=BaseModel)


def deps_of(request: Request) -> Deps:
    deps: Deps = request.app.state.runtime.extras["intake"]
    return deps


def commits_of(request: Request) -> GroupCommit:
    commits: GroupCommit = request.app.state.runtime.extras["intake.commits"]
    return commits


def settings_of(request: Request) -> IntakeSettings:
    settings: IntakeSettings = request.app.state.settings
    return settings


def clock_of(request: Request) -> Clock:
    clock: Clock = request.app.state.runtime.clock
    return clock


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
