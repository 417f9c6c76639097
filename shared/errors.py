"""RFC 9457 problem details for every error path: domain errors, validation, routing, a dependency away (503 with
Retry-After, which an adapter can act on), and the unexpected."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from aiokafka.errors import KafkaError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.events import DOCS_URL
from shared.faults import transient, unavailable
from shared.redact import describe

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = DOCS_URL + "problems.md#"
"""A problem's `type` is this plus its kind: the kind's section of `docs/problems.md`."""
RETRY_AFTER_UNAVAILABLE_S = 5
"""Retry-After while the database or the broker is away: about how long a restart takes."""
RETRY_AFTER_CONTENTION_S = 1
"""Retry-After when the request's transaction met another (serialization failure, deadlock)."""

log = logging.getLogger(__name__)


class Problem(Exception):
    """An error the API reports as problem+json. `kind` becomes the `type` URI's fragment: a section of
    `docs/problems.md`, where every kind is explained."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        kind: str | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.kind = kind or title.lower().replace(" ", "-")
        self.headers = headers
        self.extensions = extensions


def problem_response(
    request: Request,
    status: int,
    title: str,
    detail: str | None = None,
    *,
    kind: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_BASE + (kind or title.lower().replace(" ", "-")),
        "title": title,
        "status": status,
        "instance": request.url.path,
    }
    if detail:
        body["detail"] = detail
    body.update(extensions)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Validation failed",
    429: "Too many requests",
}


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details (`docs/problems.md`); extensions (errors, checks, retry hints) may "
    "follow.",
    "properties": {
        "type": {"type": "string", "description": "`…/problems.md#<kind>`: match on the kind"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string", "description": "the request path"},
        "errors": {
            "type": "array",
            "description": "`validation` only: each field that failed",
            "items": {
                "type": "object",
                "properties": {
                    "location": {"type": "string"},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
    "required": ["type", "title", "status"],
    "examples": [
        {
            "type": TYPE_BASE + "validation",
            "title": "Validation failed",
            "status": 422,
            "detail": "body.channel: Input should be 'phone', 'email', 'chat', 'web', 'sms', 'social' or 'onsite'",
            "instance": "/v1/channels/batch",
            "errors": [
                {"location": "body.channel", "message": "Input should be 'phone', …", "type": "literal_error"}
            ],
        }
    ],
}
_WRITES = ("post", "put", "patch")
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
_FASTAPI_422 = ("HTTPValidationError", "ValidationError")


def problem_codes(path: str, method: str, operation: dict[str, Any]) -> set[int]:
    """The problems an operation can answer besides its own: 404 (what it names is not there), 422 (validation,
    FastAPI's own answers included), 503 (a dependency away); with credentials 401, 403 and 429 (rate limit); 409
    for a change that conflicts with the current state, and 400, 413 and 415 for one with a body. Liveness
    answers none, readiness only 503."""
    if path.startswith("/health/"):
        return {503} if path == "/health/ready" else set()
    codes = {404, 422, 503}
    if operation.get("security"):
        codes |= {401, 403, 429}
    if method in _WRITES:
        codes |= {400, 409, 413, 415}
    elif method == "delete":
        codes.add(409)
    return codes


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Declare `problem_codes` of every operation as problem+json, in place of FastAPI's default 422 shape.
    Changes `schema` (an OpenAPI document) in place and returns it."""
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_422:
        schemas.pop(name, None)
    schemas["Problem"] = PROBLEM_SCHEMA
    problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for code in sorted(problem_codes(path, method, operation)):
                title = _TITLES.get(code, "Service unavailable")
                entry = responses.setdefault(str(code), {"description": title})
                if code == 422:
                    entry["description"] = title
                entry["content"] = problem
    return schema


def install_problem_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(
            request,
            exc.status,
            exc.title,
            exc.detail,
            kind=exc.kind,
            headers=exc.headers,
            **exc.extensions,
        )

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {
                "location": ".".join(str(p) for p in err.get("loc", ())),
                "message": err.get("msg", "invalid"),
                "type": err.get("type", "invalid"),
            }
            for err in exc.errors()
        ]
        first = errors[0] if errors else {"location": "body", "message": "invalid"}
        return problem_response(
            request,
            422,
            "Validation failed",
            f"{first['location']}: {first['message']}"
            + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""),
            kind="validation",
            errors=errors,
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        title = _TITLES.get(exc.status_code, "Error")
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
        headers = dict(exc.headers) if exc.headers else None
        return problem_response(request, exc.status_code, title, detail, headers=headers)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The one broad handler at the HTTP edge: the caller gets a problem, never a stack trace.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            request, 500, "Internal error", "The server failed to handle this request.", kind="internal"
        )

    async def on_dependency(request: Request, exc: Exception) -> JSONResponse:
        """A failure of the database or the broker: 503 with Retry-After while it passes, else as unexpected."""
        if not transient(exc):
            return await on_unexpected(request, exc)
        away = unavailable(exc)
        log.warning("%s %s: 503, %s", request.method, request.url.path, describe(exc, limit=300))
        return problem_response(
            request,
            503,
            "Service unavailable",
            "The database or the message broker is unavailable; try again later."
            if away
            else "The request met a concurrent change; try again.",
            kind="unavailable",
            headers={"Retry-After": str(RETRY_AFTER_UNAVAILABLE_S if away else RETRY_AFTER_CONTENTION_S)},
        )

    async def on_bad_value(request: Request, exc: Exception) -> JSONResponse:
        """A value the database cannot take or compare (a number past its column's range, a NUL character in
        text): the caller's data, so 422, never 500. Routes bound their parameters; this is the net under them."""
        log.warning("%s %s: 422, %s", request.method, request.url.path, describe(exc, limit=300))
        return problem_response(
            request,
            422,
            "Validation failed",
            "a value in the request is out of range or is not text the database can store",
            kind="validation",
        )

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(asyncpg.DataError, on_bad_value)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    dependency_errors = (
        OSError,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        asyncpg.InternalClientError,
        KafkaError,
    )
    for dependency_error in dependency_errors:
        app.add_exception_handler(dependency_error, on_dependency)
    app.add_exception_handler(Exception, on_unexpected)
