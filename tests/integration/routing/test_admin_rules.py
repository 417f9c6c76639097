"""Rules admins keep in routing's data, over HTTP on a running service: the grade bonuses keep a higher grade at
a priority at least as high as a lower one (C-5) unless an override is audited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared.auth import Role
from shared.errors import PROBLEM_JSON
from tests.integration.routing.harness import Routing, bearer, routing_settings, running_routing
from tests.support import TestStack

pytestmark = pytest.mark.integration
ADMIN: tuple[Role, str] = ("admin", "ad-1")


@pytest.fixture
async def routing(test_stack: TestStack, service_database: str) -> AsyncIterator[Routing]:
    async with running_routing(routing_settings(test_stack, service_database)) as service:
        yield service


async def test_grade_bonuses_that_put_key_above_strategic_are_refused_unless_an_override_is_audited(
    routing: Routing,
) -> None:
    current = await routing.call("GET", "/v1/routing/policy")
    document: dict[str, Any] = {**current["document"], "grade_bonus": {"strategic": 100, "key": 150, "basic": 0}}
    refused = await routing.http.put("/v1/routing/policy", json={"document": document}, headers=bearer(*ADMIN))
    assert refused.status_code == 422 and refused.headers["content-type"] == PROBLEM_JSON
    problem = refused.json()
    assert problem["type"].endswith("#looser-grade")
    assert "strategic +100 is below key +150" in problem["detail"]
    assert problem["errors"][0]["location"] == "body.document.grade_bonus"
    assert (await routing.call("GET", "/v1/routing/policy"))["version"] == current["version"], "nothing saved"

    saved = await routing.call(
        "PUT",
        "/v1/routing/policy",
        json={"document": document, "note": "pilot", "override_reason": "key accounts first during the pilot"},
        as_=ADMIN,
    )
    assert saved["version"] == current["version"] + 1
    entry = (await routing.call("GET", "/v1/audit?target=routing_policy", as_=ADMIN))[0]
    assert entry["detail"]["c5_override"] == {
        "reason": "key accounts first during the pilot",
        "grade_bonus": {"strategic": 100, "key": 150, "basic": 0},
    }
    # What the override accepted does not block an unrelated edit (a tier through its own endpoint).
    await routing.call(
        "PUT", "/v1/tiers/night_shift", json={"classes": ["routine"], "grades": ["basic"]}, as_=ADMIN
    )
