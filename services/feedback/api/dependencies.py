"""Who may call what, the running service a route works with, and the transaction a route opens for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from services.feedback.state import Feedback
from shared.auth import Principal, require_adapter, require_roles
from shared.service import service_state
from shared.tx import Actor, Tx

Admin = Annotated[Principal, Depends(require_roles("admin"))]
Reader = Annotated[Principal, Depends(require_roles("admin", "supervisor", "ops"))]
Adapter = Annotated[Principal, Depends(require_adapter())]
FiguresReader = Annotated[Principal, Depends(require_roles("admin", "supervisor", "ops", "agent"))]


def state_of(connection: HTTPConnection) -> Feedback:
    return service_state(connection.app, Feedback)


FeedbackState = Annotated[Feedback, Depends(state_of)]


def actor_of(principal: Principal) -> Actor:
    return Actor(principal.role, principal.subject)


@asynccontextmanager
async def transaction(state: Feedback, *, now: datetime | None = None) -> AsyncIterator[Tx]:
    """One transaction for the route's use case, at `now` (the clock's, unless the route already read it)."""
    async with state.pool.acquire() as conn, conn.transaction():
        yield Tx(conn=conn, now=state.clock.now() if now is None else now)
