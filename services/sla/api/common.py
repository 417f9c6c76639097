"""What every SLA route shares: the running service's state (its pool, clock and settings), the transaction its
use cases run in, and the roles that may read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Literal

from fastapi import Depends
from starlette.requests import HTTPConnection

from services.sla.handlers.tx import SlaTx
from services.sla.state import Sla
from shared.service import service_state

READERS = ("agent", "supervisor", "admin", "ops")
MANAGERS = ("supervisor", "admin", "ops")


def state_of(connection: HTTPConnection) -> Sla:
    return service_state(connection.app, Sla)


SlaState = Annotated[Sla, Depends(state_of)]


@asynccontextmanager
async def transaction(
    state: Sla, *, isolation: Literal["read_committed", "repeatable_read"] | None = None, readonly: bool = False
) -> AsyncIterator[SlaTx]:
    """One transaction per request, and the context its use cases take."""
    async with state.pool.acquire() as conn, conn.transaction(isolation=isolation, readonly=readonly):
        yield SlaTx(conn, state.clock.now(), admin=state.admin, live_channels=state.live_channels)
