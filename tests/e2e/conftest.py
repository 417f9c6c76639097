"""The whole stack as `switchboard up --traces` starts it (broker, database, topics, the five services as
processes, the trace viewer), on free ports in its own state dir, shared by the end-to-end tests that drive it
like its users do."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator

import pytest

from deploy.config import StackSettings, free_port
from deploy.stack import Stack
from tests.support import ROOT, free_port_stack_settings


@pytest.fixture(scope="session")
def whole_stack() -> Iterator[Stack]:
    state = ROOT / ".switchboard" / "test-whole-stack"
    if state.exists():
        Stack(StackSettings(state_dir=state)).down()
        shutil.rmtree(state)
    settings = free_port_stack_settings(state).model_copy(update={"zipkin_port": free_port()})
    stack = Stack(settings)
    try:
        asyncio.run(stack.up(services=True, traces=True))
        yield stack
    finally:
        stack.down()
