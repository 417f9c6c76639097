"""The apps and objects of the access matrix, started once for its module; the matrix's size in the summary."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from _pytest.terminal import TerminalReporter

from tests.integration.access.build import started_world
from tests.integration.access.matrix import ACTORS, ROWS
from tests.integration.access.runner import TALLY
from tests.integration.access.world import World
from tests.support import TestStack


@pytest.fixture(scope="module")
async def world(test_stack: TestStack) -> AsyncIterator[World]:
    async with started_world(test_stack) as world:
        yield world


def pytest_terminal_summary(terminalreporter: TerminalReporter) -> None:
    if not TALLY.rows:
        return
    checked = sum(TALLY.cells.values())
    kinds = ", ".join(f"{n} {outcome}" for outcome, n in sorted(TALLY.cells.items()))
    terminalreporter.write_line(
        f"access matrix: {len(ROWS)} routes × {len(ACTORS)} callers = {len(ROWS) * len(ACTORS)} cells; "
        f"{TALLY.rows} routes run, {checked} cells checked in {TALLY.seconds:.1f} s ({kinds})"
    )
