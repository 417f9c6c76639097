"""SLA's per-transaction context: `shared.tx.Tx` (the connection and the instant) and what SLA's rules read in
every transaction — the calendars and active policies as the service's cache holds them, and which channels
are live. The entry point (a route, the consumer, the timer scheduler, the calendar watch) makes it; use cases
take it first."""

from __future__ import annotations

from dataclasses import dataclass

from services.sla.repository.admin import AdminCache
from shared.tx import Tx


@dataclass(frozen=True)
class SlaTx(Tx):
    admin: AdminCache
    """Calendars and active policies, parsed once per version (`SlaState.admin`; the scheduler keeps its own)."""
    live_channels: frozenset[str]
    """Channels where accepting the work is the first response (`sla_live_channels`)."""
