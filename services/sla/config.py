"""SlaSettings: the sla service's knobs."""

from __future__ import annotations

from typing import Literal

from shared.config import ServiceSettings
from shared.events import FEEDBACK_EVENTS, INTAKE_CONTACTS, ROUTING_WORK


class SlaSettings(ServiceSettings):
    service: str = "sla"
    port: int = 8103
    database_url: str = "postgresql://switchboard@127.0.0.1:5532/sla"
    consumer_fetch_min_bytes: int = 64 * 1024
    consumer_fetch_max_wait_ms: int = 100
    """Fetches wait up to 100 ms for 64 KiB (clocks count minutes, not tenths of a second): at 200 contacts/s
    this consumer makes a few fetches a second instead of one per producer batch."""
    sla_contacts_topic: str = INTAKE_CONTACTS.name
    """Where contacts arrive (received, messages, reclassified); its partitions decide who owns which timers."""
    sla_work_topic: str = ROUTING_WORK.name
    """Routing's work lifecycle (assigned, pending, resolved…)."""
    sla_feedback_topic: str = FEEDBACK_EVENTS.name
    """Feedback's follow-up requests (start the follow-up clock)."""
    sla_live_channels: tuple[str, ...] = ("phone", "chat", "onsite")
    """Channels where accepting the work is the first response (RULES.md); elsewhere the first reply is."""
    sla_scheduler: bool = True
    """Run the timer loop (tests that drive `fire_due` by hand turn it off)."""
    sla_timer_ownership: Literal["partitions", "all"] = "partitions"
    """`partitions`: fire the contacts whose intake.contacts partition this instance consumes; `all`: every one."""
    sla_horizon_s: float = 300.0
    """How far ahead due moments are held in memory; the rest wait in PostgreSQL."""
    sla_fire_batch_size: int = 500
    """Due moments fired per transaction."""
    sla_fire_lead_s: float = 0.05
    """Prepare a firing this long before its moment and commit at the moment (never early)."""
    sla_calendar_warn_days: int = 60
    """Warn this many days before a calendar in use runs out of holiday data (metric, readiness note, log,
    supervisors' desktops)."""
    sla_calendar_check_s: float = 3600.0
    """How often the calendar watch looks."""
    sla_hold_before_commit_s: float = 0.0
    """Fault injection for crash tests: keep each firing transaction open this long before committing."""
