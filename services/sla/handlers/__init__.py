"""Consumed events → clock transitions (`events`), how transitions are stored and announced (`changes`), the
timer's firing (`timers`), calendars running out of data (`calendars`), the admin's calendar and policy saves
(`admin`), what the API shows of a contact and of attainment (`views`); every use case takes its `Tx` first."""

from services.sla.handlers.changes import (
    SOURCE,
    LockedContact,
    apply,
    event_of,
    message_of,
    on_manual_milestone,
    replan_calendar,
)
from services.sla.handlers.events import DISPATCH, handler, on_contact_received
from services.sla.handlers.tx import SlaTx

__all__ = [
    "DISPATCH",
    "SOURCE",
    "LockedContact",
    "SlaTx",
    "apply",
    "event_of",
    "handler",
    "message_of",
    "on_contact_received",
    "on_manual_milestone",
    "replan_calendar",
]
