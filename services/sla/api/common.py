"""What every SLA route shares: the running service's state (its pool, clock and settings), and the roles that
may read."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from services.sla.state import Sla
from shared.service import service_state

READERS = ("agent", "supervisor", "admin", "ops")
MANAGERS = ("supervisor", "admin", "ops")


def state_of(connection: HTTPConnection) -> Sla:
    return service_state(connection.app, Sla)


SlaState = Annotated[Sla, Depends(state_of)]
