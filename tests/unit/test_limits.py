"""Bad input is cheap: the body limit counts a stream (chunked too) and stops reading past it, deep or
non-Unicode JSON is refused before parsing, and each caller has its own token bucket."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request

from shared.errors import Problem, install_problem_handlers
from shared.limits import RateLimits, RequestLimits, json_trouble, rate_limited


def _app(max_bytes: int = 1000, max_json_depth: int = 8) -> tuple[FastAPI, list[bytes]]:
    seen: list[bytes] = []
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(RequestLimits, max_bytes=max_bytes, max_json_depth=max_json_depth)

    @app.post("/raw")
    async def raw(request: Request) -> dict[str, int]:
        body = await request.body()
        seen.append(body)
        return {"size": len(body)}

    @app.post("/json")
    async def parsed(document: dict[str, object]) -> dict[str, int]:
        return {"keys": len(document)}

    return app, seen


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_a_chunked_body_over_the_limit_is_refused_without_reading_the_rest() -> None:
    app, seen = _app(max_bytes=1000)
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(100):
            sent.append(i)
            yield b"x" * 100

    async with _client(app) as client:
        response = await client.post("/raw", content=chunks(), headers={"content-type": "text/plain"})
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")
    assert seen == [], "the route never saw the body"
    assert len(sent) <= 12, "reading stopped once the count passed the limit"


async def test_a_chunked_body_within_the_limit_reaches_the_route_whole() -> None:
    app, seen = _app(max_bytes=1000)

    async def chunks() -> AsyncIterator[bytes]:
        for part in (b"abc", b"", b"def" * 100):
            yield part

    async with _client(app) as client:
        response = await client.post("/raw", content=chunks(), headers={"content-type": "text/plain"})
    assert response.status_code == 200 and response.json() == {"size": 303}
    assert seen == [b"abc" + b"def" * 100]


async def test_a_declared_length_over_the_limit_is_refused_up_front() -> None:
    app, _ = _app(max_bytes=10)
    async with _client(app) as client:
        response = await client.post("/raw", content=b"y" * 11)
    assert response.status_code == 413


async def test_json_nested_deeper_than_the_bound_is_refused_with_422_never_500() -> None:
    app, _ = _app(max_bytes=10_000_000, max_json_depth=8)
    async with _client(app) as client:
        deep = b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        refused = await client.post("/json", content=deep, headers={"content-type": "application/json"})
        fine = await client.post(
            "/json", content=b'{"a": [[[{"b": "]]]]]]]]]]"}]]]}', headers={"content-type": "application/json"}
        )
    assert refused.status_code == 422 and "nested" in refused.json()["detail"]
    assert fine.status_code == 200


async def test_json_with_a_lone_surrogate_is_refused_and_a_pair_is_text() -> None:
    app, _ = _app()
    async with _client(app) as client:
        lone = await client.post(
            "/json", content=b'{"a": "\\ud8cc x"}', headers={"content-type": "application/json"}
        )
        pair = await client.post(
            "/json", content=json.dumps({"a": "😀"}).encode(), headers={"content-type": "application/json"}
        )
    assert lone.status_code == 422 and "surrogate" in lone.json()["detail"]
    assert pair.status_code == 200


@pytest.mark.parametrize(("depth", "refused"), [(1, False), (8, False), (9, True), (64, True)])
def test_depth_is_counted_like_the_nesting_it_is(depth: int, refused: bool) -> None:
    body = json.dumps(_nest(depth)).encode()
    assert (json_trouble(body, max_depth=8) is not None) is refused


def test_depth_ignores_brackets_inside_strings_and_measures_huge_bodies() -> None:
    # How fast a huge body is measured is a benchmark's question, not a timed test's (the cores are shared):
    # here, that ten million levels are refused and three million siblings are not.
    assert json_trouble(b'{"a": "[[[[[[[[[[[[[[[[[[[[\\"[[[["}', max_depth=2) is None
    huge = b"[" * 10_000_000 + b"]" * 10_000_000
    wide = b"[" + b"{}," * 3_000_000 + b"{}]"
    assert json_trouble(huge, max_depth=64) == "JSON is nested more than 64 levels deep"
    assert json_trouble(wide, max_depth=64) is None


def _nest(depth: int) -> object:
    value: object = 1
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


def test_each_caller_has_its_own_bucket_and_waits_the_time_a_token_takes() -> None:
    now = [0.0]
    limits = RateLimits(rate=2, burst=3, clock=lambda: now[0])
    assert [limits.take("flood") for _ in range(3)] == [0, 0, 0]
    assert limits.take("flood") == pytest.approx(0.5)
    assert limits.take("quiet") == 0, "another caller is not slowed by the flood"
    now[0] += 0.5
    assert limits.take("flood") == 0
    with pytest.raises(Problem) as refused:
        rate_limited(limits, "flood")
    assert refused.value.status == 429 and refused.value.headers == {"Retry-After": "1"}


def test_a_rate_of_zero_means_no_limit() -> None:
    limits = RateLimits(rate=0, burst=1)
    assert all(limits.take("anyone") == 0 for _ in range(1000))
