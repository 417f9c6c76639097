"""Session fixtures: the real test stack is started only when an integration or e2e test asks for it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncpg
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.db import connect, migrate, service_migrations
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


def database_name(request: pytest.FixtureRequest) -> str:
    test: str = request.node.name
    return "t_" + test.lower()[:50].replace("[", "_").replace("]", "").replace("-", "_")


@pytest.fixture
async def empty_database(test_stack: TestStack, request: pytest.FixtureRequest) -> str:
    """A brand-new database for one test, named after it (for tests of migrations, and of no one service)."""
    return await fresh_database(test_stack, database_name(request))


class Templates:
    """One migrated database per service, made the first time a test of that service asks in this session (so
    never stale); each test's database is a copy of it, which PostgreSQL makes by copying files, not by running
    every migration again."""

    def __init__(self, stack: TestStack) -> None:
        self.stack = stack
        self.made: set[str] = set()
        self.lock = asyncio.Lock()

    async def template(self, service: str) -> str:
        name = f"template_{service}"
        async with self.lock:
            if service not in self.made:
                url = await fresh_database(self.stack, name)
                conn = await connect(url)
                try:
                    await migrate(conn, service_migrations(service, ROOT / "services" / service / "migrations"))
                finally:
                    await conn.close()
                self.made.add(service)
        return name

    async def copy(self, service: str, name: str) -> str:
        template = await self.template(service)
        conn = await asyncpg.connect(self.stack.postgres_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        finally:
            await conn.close()
        return self.stack.database_url(name)


@pytest.fixture(scope="session")
def database_templates(test_stack: TestStack) -> Templates:
    return Templates(test_stack)


@pytest.fixture
def database_service() -> str:
    """The service whose migrated database `service_database` copies: each service's test directory names it."""
    raise pytest.UsageError("service_database needs a database_service fixture naming the service")


@pytest.fixture
async def service_database(
    database_templates: Templates, database_service: str, request: pytest.FixtureRequest
) -> str:
    """A database for one test, named after it, with every migration of `database_service` applied."""
    return await database_templates.copy(database_service, database_name(request))
