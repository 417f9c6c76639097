"""What every SLA route shares: the pool and the clock from the running app, and the roles that may read."""

from __future__ import annotations

from datetime import datetime

import asyncpg
from fastapi import Request

from shared.app import Runtime

READERS = ("agent", "supervisor", "admin", "ops")
MANAGERS = ("supervisor", "admin", "ops")


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def pool_of(request: Request) -> asyncpg.Pool:
    return runtime_of(request).pool


def now_of(request: Request) -> datetime:
    return runtime_of(request).clock.now()
