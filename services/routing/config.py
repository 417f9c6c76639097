"""RoutingSettings: the routing service's process knobs. Business numbers live in the routing policy (database)."""

from __future__ import annotations

from shared.config import ServiceSettings


class RoutingSettings(ServiceSettings):
    service: str = "routing"
    port: int = 8102
    database_url: str = "postgresql://switchboard@127.0.0.1:5532/routing"
    instance_id: str = ""
    """Name of this routing instance in pool leases; empty means host name and process id."""
    default_pool: str = "default"
    """Pool of work whose customer names none (`routing_pool` attribute)."""
    lease_ttl_s: float = 10.0
    """How long a pool lease lasts without renewal; another instance takes the pool after that."""
    lease_renew_s: float = 3.0
    """How often leases are renewed and free pools looked for."""
    resync_s: float = 30.0
    """How often rows changed in the database are re-read, in case a change notice was missed."""
    dispatcher: bool = True
    """Run the dispatcher (matching, offers, timers) in this process."""
    desktop_retention_h: float = 24.0
    """How long desktop messages are kept for reconnecting desktops."""
    desktop_access_recheck_s: float = 30.0
    """How often an open desktop's token is checked again (expiry, revocation): it is closed (4401) after."""
