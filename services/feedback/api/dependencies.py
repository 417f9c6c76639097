"""Who may call what, and the running service a route works with."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from services.feedback.state import Feedback
from shared.auth import Principal, require_adapter, require_roles
from shared.service import service_state

Admin = Annotated[Principal, Depends(require_roles("admin"))]
Reader = Annotated[Principal, Depends(require_roles("admin", "supervisor", "ops"))]
Adapter = Annotated[Principal, Depends(require_adapter())]
FiguresReader = Annotated[Principal, Depends(require_roles("admin", "supervisor", "ops", "agent"))]


def state_of(connection: HTTPConnection) -> Feedback:
    return service_state(connection.app, Feedback)


FeedbackState = Annotated[Feedback, Depends(state_of)]
