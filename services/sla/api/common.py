"""What every SLA route shares: the running service's state (its pool, clock and settings), the transaction its
use cases run in (their domain errors become problem+json answers), the caller as an actor, and the roles that
may read."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Literal, TypeVar

from fastapi import Depends
from starlette.requests import HTTPConnection

from services.sla.domain.calendar import CalendarError
from services.sla.domain.errors import (
    CalendarInUse,
    LooserGrade,
    NotYourContact,
    PolicyKeysTaken,
    UnknownCalendar,
    UnknownContact,
    UnknownDay,
    UnknownPolicy,
    VersionMismatch,
)
from services.sla.domain.policy import PolicyError
from services.sla.handlers.tx import SlaTx
from services.sla.state import Sla
from shared.auth import Principal
from shared.errors import Problem
from shared.service import service_state
from shared.tx import Actor, with_retries

T = TypeVar("T")

READERS = ("agent", "supervisor", "admin", "ops")
MANAGERS = ("supervisor", "admin", "ops")


def state_of(connection: HTTPConnection) -> Sla:
    return service_state(connection.app, Sla)


SlaState = Annotated[Sla, Depends(state_of)]


def actor_of(principal: Principal) -> Actor:
    return Actor(principal.role, principal.subject)


@asynccontextmanager
async def transaction(
    state: Sla, *, isolation: Literal["read_committed", "repeatable_read"] | None = None, readonly: bool = False
) -> AsyncIterator[SlaTx]:
    """One transaction per request, and the context its use cases take; their domain errors roll it back and
    become 4xx problems."""
    try:
        async with state.pool.acquire() as conn, conn.transaction(isolation=isolation, readonly=readonly):
            yield SlaTx(conn, state.clock.now(), admin=state.admin, live_channels=state.live_channels)
    except UnknownCalendar as exc:
        raise Problem(404, "Not found", str(exc), kind="unknown-calendar") from exc
    except UnknownContact as exc:
        raise Problem(404, "Not found", str(exc), kind="unknown-contact") from exc
    except NotYourContact as exc:
        raise Problem(404, "Not found", str(exc), kind="not-your-contact") from exc
    except UnknownDay as exc:
        raise Problem(404, "Not found", str(exc), kind="unknown-day") from exc
    except UnknownPolicy as exc:
        raise Problem(404, "Not found", str(exc), kind="unknown-policy") from exc
    except CalendarInUse as exc:
        raise Problem(409, "Conflict", str(exc), kind="calendar-in-use") from exc
    except PolicyKeysTaken as exc:
        raise Problem(409, "Conflict", str(exc), kind="policy-keys-taken", policy_id=exc.policy_id) from exc
    except VersionMismatch as exc:
        raise Problem(412, "Precondition failed", str(exc), kind="version-mismatch", version=exc.version) from exc
    except LooserGrade as exc:
        raise Problem(
            422,
            "Higher grade looser",
            str(exc),
            kind="looser-grade",
            errors=[{"location": "body.clocks", "message": f.text(), "type": "looser_grade"} for f in exc.looser],
            looser=[f.json() for f in exc.looser],
        ) from exc
    except CalendarError as exc:
        raise Problem(422, "Invalid calendar", str(exc), kind="invalid-calendar") from exc
    except PolicyError as exc:
        raise Problem(422, "Invalid policy", str(exc), kind="invalid-policy") from exc


async def retried(state: Sla, use_case: Callable[[SlaTx], Awaitable[T]]) -> T:
    """`use_case` in a transaction of its own, run again in a fresh one if PostgreSQL aborted it for contention
    (a calendar change re-plans running clocks, which the timer scheduler and the consumer also lock)."""

    async def once() -> T:
        async with transaction(state) as tx:
            return await use_case(tx)

    return await with_retries(once)
