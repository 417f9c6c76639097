"""Session fixtures: the real test stack is started only when an integration or e2e test asks for it."""

from __future__ import annotations

from collections.abc import Iterator

import asyncpg
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.telemetry import setup_telemetry
from tests.support import ROOT, TestStack, start_test_stack


@pytest.fixture(scope="session")
def test_stack() -> Iterator[TestStack]:
    stack = start_test_stack(ROOT / ".switchboard" / "test-stack")
    yield stack
    if stack.stack is not None and stack.owned:
        stack.stack.down()


@pytest.fixture(scope="session")
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    setup_telemetry("switchboard-tests", extra_processors=[SimpleSpanProcessor(exporter)])
    return exporter


async def fresh_database(stack: TestStack, name: str) -> str:
    conn = await asyncpg.connect(stack.postgres_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return stack.database_url(name)


@pytest.fixture
async def empty_database(test_stack: TestStack, request: pytest.FixtureRequest) -> str:
    """A brand-new database for one test, named after it."""
    name = "t_" + request.node.name.lower()[:50].replace("[", "_").replace("]", "").replace("-", "_")
    return await fresh_database(test_stack, name)
