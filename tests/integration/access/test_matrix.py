"""Access by object, route by route: every HTTP route and socket of every app has its row in the matrix, and
each kind of caller — no credential, an adapter of another channel, the adapter that posted the contact, an
agent who does not own the work, the agent who does, a supervisor, an admin, ops — gets what its row says from
the real services."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from pydantic import SecretStr
from starlette.routing import WebSocketRoute

from services.feedback.app import create_app as create_feedback
from services.feedback.config import FeedbackSettings
from services.intake.app import create_app as create_intake
from services.intake.config import IntakeSettings
from services.knowledge.app import create_app as create_knowledge
from services.knowledge.config import KnowledgeSettings
from services.routing.app import create_app as create_routing
from services.routing.config import RoutingSettings
from services.sla.app import create_app as create_sla
from services.sla.config import SlaSettings
from services.web.app import create_app as create_web
from services.web.config import WebSettings
from tests.integration.access.matrix import ACTORS, ROWS, SERVICES, Row
from tests.integration.access.runner import TALLY, run_row
from tests.integration.access.world import World
from tests.support import TOKEN_SECRET

pytestmark = pytest.mark.integration


def apps() -> dict[str, FastAPI]:
    """Every app as its factory builds it (nothing is started)."""
    secret = {"token_secret": SecretStr(TOKEN_SECRET)}
    return {
        "intake": create_intake(IntakeSettings.model_validate(secret)),
        "routing": create_routing(RoutingSettings.model_validate(secret)),
        "sla": create_sla(SlaSettings.model_validate(secret)),
        "feedback": create_feedback(FeedbackSettings.model_validate(secret)),
        "knowledge": create_knowledge(KnowledgeSettings.model_validate(secret)),
        "web": create_web(WebSettings.model_validate(secret)),
    }


def routes(service: str, app: FastAPI) -> set[tuple[str, str, str]]:
    """(service, method, path template) of each route, included routers and mounts too; `WS` for sockets."""
    found = set()
    for context in iter_route_contexts(app.routes):
        path = context.path
        assert path is not None, f"{service}: a route without a path: {context.original_route!r}"
        if isinstance(context.original_route, WebSocketRoute):
            found.add((service, "WS", path))
            continue
        methods = context.methods or {"ANY"}  # a mount answers every method
        found.update((service, method, path) for method in methods - {"HEAD"})
    return found


def test_every_route_of_every_app_has_its_row_and_every_row_its_route() -> None:
    served = set().union(*(routes(service, app) for service, app in apps().items()))
    declared = Counter(row.key for row in ROWS)
    problems = {
        "routes without a row in tests/integration/access/matrix.py": sorted(served - set(declared)),
        "rows of routes no app serves any more": sorted(set(declared) - served),
        "routes with more than one row": sorted(key for key, n in declared.items() if n > 1),
    }
    assert not any(problems.values()), "\n".join(
        f"{what}:\n{_lines(keys)}" for what, keys in problems.items() if keys
    )
    assert {row.service for row in ROWS} == set(SERVICES)


def test_every_row_says_what_each_caller_gets() -> None:
    for row in ROWS:
        assert set(row.expect) == set(ACTORS), f"{row.name}: outcomes for {sorted(row.expect)}"
        if row.method == "WS":
            assert all(o.startswith("ws:") for o in row.expect.values()), row.name
        else:
            assert not any(o.startswith("ws:") for o in row.expect.values()), row.name


def _lines(keys: list[tuple[str, str, str]]) -> str:
    return "\n".join(f"  {service} {method} {path}" for service, method, path in keys)


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
async def test_each_caller_gets_what_the_matrix_says(world: World, row: Row) -> None:
    started = time.monotonic()
    cells = await run_row(world, row)
    TALLY.rows += 1
    TALLY.cells.update(cell.expected for cell in cells)
    TALLY.seconds += time.monotonic() - started
    wrong = [str(cell) for cell in cells if cell.wrong is not None]
    assert not wrong, "\n".join(wrong)
