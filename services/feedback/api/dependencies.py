"""Who may call what, and the running service a route works with."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shared.app import Runtime
from shared.auth import Principal, require_adapter, require_roles

Admin = Annotated[Principal, Depends(require_roles("admin"))]
Reader = Annotated[Principal, Depends(require_roles("admin", "supervisor", "ops"))]
Adapter = Annotated[Principal, Depends(require_adapter())]
FiguresReader = Annotated[Principal, Depends(require_roles("admin", "supervisor", "ops", "agent"))]


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime
