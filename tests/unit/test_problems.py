"""Every error path answers RFC 9457 problem+json, never a stack trace."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from shared.errors import PROBLEM_JSON, Problem, install_problem_handlers


class Body(BaseModel):
    count: int


def make_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/things")
    async def create(body: Body) -> dict[str, int]:
        return {"count": body.count}

    @app.get("/conflict")
    async def conflict() -> None:
        raise Problem(
            409, "Conflict", "the contact is already resolved", kind="already-resolved", contact_id="c-1"
        )

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    return app


async def call(method: str, path: str, **kwargs: object) -> httpx.Response:
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, path, **kwargs)  # type: ignore[arg-type]


async def test_validation_errors_name_the_field() -> None:
    response = await call("POST", "/things", json={"count": "many"})
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["type"].endswith("#validation")
    assert body["detail"].startswith("body.count:")
    assert body["errors"][0]["location"] == "body.count"


async def test_domain_problems_keep_their_extensions() -> None:
    response = await call("GET", "/conflict")
    assert response.status_code == 409
    body = response.json()
    assert body == {
        "type": "https://switchboard.dev/docs/problems.md#already-resolved",
        "title": "Conflict",
        "status": 409,
        "detail": "the contact is already resolved",
        "instance": "/conflict",
        "contact_id": "c-1",
    }


@pytest.mark.parametrize(("method", "path", "status"), [("GET", "/nowhere", 404), ("DELETE", "/things", 405)])
async def test_routing_errors_are_problems(method: str, path: str, status: int) -> None:
    response = await call(method, path)
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["status"] == status


async def test_unexpected_errors_hide_their_internals() -> None:
    response = await call("GET", "/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM_JSON
    assert "secret internals" not in response.text
