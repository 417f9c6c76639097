"""What every route shares: the running service's state (`RoutingState`), a transaction with the policy and the
clock, the caller as an actor, and domain errors turned into problem+json."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import asyncpg
from fastapi import Depends
from starlette.requests import HTTPConnection

from services.routing.domain.lifecycle import Conflict, InvalidTransition, NotAllowed, NotFound
from services.routing.domain.policy import PolicyError
from services.routing.handlers.common import Tx
from services.routing.state import Routing
from shared.auth import Principal
from shared.errors import Problem
from shared.service import service_state
from shared.tx import Actor


def state_of(connection: HTTPConnection) -> Routing:
    return service_state(connection.app, Routing)


RoutingState = Annotated[Routing, Depends(state_of)]


def actor_of(principal: Principal) -> Actor:
    return Actor(principal.role, principal.subject)


@asynccontextmanager
async def transaction(state: Routing) -> AsyncIterator[Tx]:
    """One transaction per request; domain errors roll it back and become 4xx problems."""
    try:
        async with state.pool.acquire() as conn, conn.transaction():
            policy = await state.policies.get(conn)
            yield Tx(conn=conn, now=state.clock.now(), policy=policy, origin=state.instance)
    except NotFound as exc:
        raise Problem(404, "Not found", str(exc)) from exc
    except NotAllowed as exc:
        raise Problem(403, "Forbidden", str(exc)) from exc
    except InvalidTransition as exc:
        raise Problem(409, "Conflict", str(exc), kind="invalid-transition", state=exc.state) from exc
    except Conflict as exc:
        raise Problem(409, "Conflict", str(exc)) from exc
    except PolicyError as exc:
        raise Problem(422, "Validation failed", str(exc), kind="validation") from exc
    except asyncpg.DeadlockDetectedError as exc:
        # Lock order (agent → offer → work) keeps the known paths apart; should two requests still cross,
        # PostgreSQL fails one of them and nothing of it was written.
        raise Problem(
            409,
            "Conflict",
            "another change to the same work or agent ran at the same moment; nothing was changed, try again",
            kind="concurrent-change",
        ) from exc
