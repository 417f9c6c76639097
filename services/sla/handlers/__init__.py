"""Consumed events → clock transitions (`events`), and how transitions are stored and announced (`changes`)."""

from services.sla.handlers.changes import (
    SOURCE,
    Ctx,
    Deps,
    apply,
    event_of,
    message_of,
    on_manual_milestone,
    replan_calendar,
)
from services.sla.handlers.events import handler, on_contact_event, on_contact_received

__all__ = [
    "SOURCE",
    "Ctx",
    "Deps",
    "apply",
    "event_of",
    "handler",
    "message_of",
    "on_contact_event",
    "on_contact_received",
    "on_manual_milestone",
    "replan_calendar",
]
