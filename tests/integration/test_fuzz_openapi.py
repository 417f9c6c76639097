"""Schemathesis over every service's OpenAPI, with real credentials, against the service running as a server on
the real test stack: no generated request may answer 5xx, and every answer keeps to the document (its status
code, content type and body schema are the ones documented). The run is bounded and repeatable: a fixed number
of derandomized examples per operation."""

from __future__ import annotations

import asyncio
import importlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from schemathesis.checks import content_type_conformance, response_schema_conformance, status_code_conformance
from schemathesis.core.failures import FailureGroup

from deploy.config import free_port
from shared.auth import generate_api_key, insert_api_key, issue_token
from shared.clock import utcnow
from shared.config import ServiceSettings
from shared.db import SHARED_MIGRATIONS, connect, migrate
from shared.events import CHANNELS, SERVICES
from tests.conftest import fresh_database
from tests.support import TOKEN_SECRET, TestStack, service_settings

pytestmark = pytest.mark.integration

EXAMPLES = 20
"""Generated requests per operation (and credential): ~130 operations, a couple of minutes in all."""


@dataclass
class Served:
    name: str
    base_url: str
    credentials: dict[str, str]
    """Authorization header values by who: adapter key, then the people's roles."""


def _settings(service: str, stack: TestStack, database: str) -> ServiceSettings:
    config = importlib.import_module(f"services.{service}.config")
    cls = next(v for k, v in vars(config).items() if k.endswith("Settings") and k != "ServiceSettings")
    base = service_settings(stack, database, service=service).model_dump()
    base["token_secret"] = SecretStr(TOKEN_SECRET)
    base |= {"rate_limit_user_per_s": 0, "rate_limit_adapter_per_s": 0}  # thousands of requests from one caller
    settings_obj: ServiceSettings = cls.model_validate(base)
    return settings_obj


@pytest.fixture(params=SERVICES)
def served(request: pytest.FixtureRequest, test_stack: TestStack) -> Iterator[Served]:
    service: str = request.param
    database = asyncio.run(fresh_database(test_stack, f"t_fuzz_{service}"))
    key = generate_api_key()

    async def add_key() -> None:
        conn = await connect(database)
        try:
            await migrate(conn, [("shared", SHARED_MIGRATIONS)])
            await insert_api_key(conn, key=key, name="fuzzer", channels=list(CHANNELS), now=utcnow())
        finally:
            await conn.close()

    asyncio.run(add_key())
    app = importlib.import_module(f"services.{service}.app").create_app(
        _settings(service, test_stack, database.rsplit("/", 1)[1])
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, f"{service} did not start"
        time.sleep(0.05)

    def bearer(role: str) -> str:
        token = issue_token(TOKEN_SECRET, role=role, subject=f"fuzz-{role}", ttl=timedelta(hours=1), now=utcnow())  # type: ignore[arg-type]
        return f"Bearer {token}"

    credentials = {"admin": bearer("admin"), "adapter": f"Bearer {key.key}"}
    credentials |= {role: bearer(role) for role in ("supervisor", "agent", "ops")}
    try:
        yield Served(service, f"http://127.0.0.1:{port}", credentials)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]

KNOWN: dict[str, list[object]] = {
    "calendar_id": ["24x7", "working-hours"],
    "version": [1, 2],
    "tier": ["front_line"],
}
"""Path values that exist on a fresh service; ids the service hands out while fuzzing are added to them."""


def test_no_generated_request_answers_a_server_error(served: Served) -> None:
    schema = schemathesis.openapi.from_url(served.base_url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    # What creates comes first, so the ids it hands out reach the operations on one resource.
    creating = [op for op in operations if op.method.upper() in ("POST", "PUT") and "{" not in op.path]
    operations = creating + [op for op in operations if op not in creating]
    known: dict[str, list[object]] = {name: list(values) for name, values in KNOWN.items()}
    found: dict[str, str] = {}
    contract: dict[str, str] = {}
    total = sum(_fuzz(operation, served, known, found, contract) for operation in operations)
    print(f"\n{served.name}: {len(operations)} operations, {total} cases, {len(found)} failing")  # noqa: T201
    assert not found, "\n".join(f"{k}: {v}" for k, v in found.items())
    assert not contract, "answers the OpenAPI document does not allow:\n" + "\n".join(
        f"{k}: {v}" for k, v in sorted(contract.items())
    )


def _fuzz(
    operation: Any, served: Served, known: dict[str, list[object]], found: dict[str, str], contract: dict[str, str]
) -> int:
    """Up to `EXAMPLES` requests to one operation, with the first credential it does not refuse; returns how many
    were sent and adds what answered 5xx to `found`."""
    who: list[str] = []
    sent = 0

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(), pick=st.integers(min_value=0, max_value=7))
    def run(case: Any, pick: int) -> None:
        nonlocal sent
        sent += 1
        for name in list(case.path_parameters or {}):
            if known.get(name) and pick < 4:  # half the time a value that exists
                case.path_parameters[name] = known[name][pick % len(known[name])]
        for credential in who or list(served.credentials):
            response = case.call(
                base_url=served.base_url, headers={"Authorization": served.credentials[credential]}, timeout=15
            )
            if response.status_code not in (401, 403):
                who[:] = [credential]
                break
        if CONFORMANCE:
            try:
                case.validate_response(response, checks=CONFORMANCE)
            except FailureGroup as group:
                for failure in group.exceptions:
                    title = getattr(failure, "title", type(failure).__name__)
                    contract.setdefault(
                        f"{operation.method.upper()} {operation.path}: {title}",
                        f"{response.status_code} {response.headers.get('content-type', '')} {str(failure)[:200]}",
                    )
        if response.status_code >= 500:
            found.setdefault(
                f"{operation.method.upper()} {operation.path} → {response.status_code}",
                f"{case.as_curl_command()}\n    {response.text[:300]}",
            )
        elif response.status_code < 300 and "json" in response.headers.get("content-type", ""):
            _harvest(response.json(), known)

    run()
    return sent


def _harvest(document: object, known: dict[str, list[object]], depth: int = 0) -> None:
    """Remember the ids an answer carries (`…_id` fields), a few of each kind."""
    if depth > 3:
        return
    items = (
        document.items()
        if isinstance(document, dict)
        else enumerate(document)
        if isinstance(document, list)
        else ()
    )
    for key, value in items:
        if isinstance(key, str) and key.endswith("_id") and isinstance(value, str | int):
            values = known.setdefault(key, [])
            if value not in values and len(values) < 4:
                values.append(value)
        elif isinstance(value, dict | list):
            _harvest(value, known, depth + 1)
