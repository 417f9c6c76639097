"""Every routing test's desktops receive only messages of the documented desktop protocol."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.routing.harness import OFF_CONTRACT


@pytest.fixture
def database_service() -> str:
    return "routing"


@pytest.fixture(autouse=True)
def desktop_messages_keep_to_the_protocol() -> Iterator[None]:
    OFF_CONTRACT.clear()
    yield
    found, OFF_CONTRACT[:] = list(OFF_CONTRACT), []
    assert found == [], "desktop messages outside services/routing/desktop_protocol.py"
