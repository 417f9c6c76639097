"""The one per-transaction context every service's use cases take first (docs/architecture.md, "One use case").

The entry point — a route, a socket message, a consumed event, a timer — opens the transaction and makes the
context: the connection and the instant every write of this transaction uses. A service that needs more in every
transaction (routing's policy in force and writing instance) extends it with a frozen subclass; one that needs
nothing more uses it as it is. Use cases never open a transaction of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.db import Conn


@dataclass(frozen=True)
class Tx:
    conn: Conn
    now: datetime


@dataclass(frozen=True)
class Actor:
    """Who acts: a person by role and subject, a service, or an adapter."""

    role: str
    subject: str

    @property
    def is_supervisor(self) -> bool:
        return self.role in ("supervisor", "admin")

    @property
    def label(self) -> str:
        return f"{self.role}:{self.subject}"
