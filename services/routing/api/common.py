"""What every route shares: a transaction with the policy and the clock, the caller as an actor, and
domain errors turned into problem+json."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import Request

from services.routing.domain.lifecycle import Conflict, InvalidTransition, NotAllowed, NotFound
from services.routing.domain.policy import PolicyError
from services.routing.handlers.common import Actor, Tx
from shared.auth import Principal
from shared.errors import Problem


def actor_of(principal: Principal) -> Actor:
    return Actor(principal.role, principal.subject)


@asynccontextmanager
async def transaction(request: Request) -> AsyncIterator[Tx]:
    """One transaction per request; domain errors roll it back and become 4xx problems."""
    runtime = request.app.state.runtime
    try:
        async with runtime.pool.acquire() as conn, conn.transaction():
            policy = await runtime.extras["policies"].get(conn)
            yield Tx(conn=conn, now=runtime.clock.now(), policy=policy, origin=runtime.extras["instance"])
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
