"""What events do to a contact's clocks as a whole: which milestones an event reaches, starting the clocks a
contact runs, and pausing, resuming, reopening and re-targeting them together."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime

from services.sla.domain.calendar import Calendar
from services.sla.domain.clock import (
    Change,
    Clock,
    calendar_of,
    cancel,
    pause,
    reopen,
    resume,
    retarget,
    start,
    stop,
)
from services.sla.domain.policy import ClockSpec


def milestones_of(kind: str, *, channel: str | None, live_channels: Iterable[str]) -> frozenset[str]:
    """The milestones an event reaches. Accepting the work is the first response only on live channels; on
    the others the first reply (or the solution) is."""
    if kind == "assigned":
        return frozenset({"accepted", "responded"} if channel in set(live_channels) else {"accepted"})
    if kind == "agent_reply":
        return frozenset({"replied", "responded"})
    if kind == "solution":
        return frozenset({"solution", "responded"})
    if kind == "resolved":
        return frozenset({"resolved"})
    return frozenset({kind})


def start_clocks(
    contact_id: uuid.UUID,
    specs: Iterable[ClockSpec],
    existing: Mapping[str, Clock],
    at: datetime,
    calendars: Mapping[str, Calendar],
) -> list[Change]:
    """Start each clock the contact does not have yet (a clock runs once per contact)."""
    return [
        start(contact_id, spec, at, calendar_of(spec, calendars)) for spec in specs if spec.clock not in existing
    ]


def reach(
    clocks: Iterable[Clock], milestones: Iterable[str], at: datetime, calendars: Mapping[str, Calendar]
) -> list[Change]:
    changes: list[Change] = []
    wanted = set(milestones)
    for clock in clocks:
        hit = sorted(wanted & set(clock.spec.stops_on))
        if hit:
            change = stop(clock, at, calendar_of(clock.spec, calendars), milestone=hit[0])
            if change is not None:
                changes.append(change)
    return changes


def pause_all(
    clocks: Iterable[Clock], at: datetime, calendars: Mapping[str, Calendar], *, reason: str
) -> list[Change]:
    return [
        c
        for clock in clocks
        if (c := pause(clock, at, calendar_of(clock.spec, calendars), reason=reason)) is not None
    ]


def resume_all(
    clocks: Iterable[Clock], at: datetime, calendars: Mapping[str, Calendar], *, reason: str
) -> list[Change]:
    return [
        c
        for clock in clocks
        if (c := resume(clock, at, calendar_of(clock.spec, calendars), reason=reason)) is not None
    ]


def cancel_all(
    clocks: Iterable[Clock], at: datetime, calendars: Mapping[str, Calendar], *, reason: str
) -> list[Change]:
    """Every open clock ends without an outcome (the customer left before anyone answered)."""
    return [
        c
        for clock in clocks
        if (c := cancel(clock, at, calendar_of(clock.spec, calendars), reason=reason)) is not None
    ]


def reopen_all(clocks: Iterable[Clock], at: datetime, calendars: Mapping[str, Calendar]) -> list[Change]:
    return [c for clock in clocks if (c := reopen(clock, at, calendar_of(clock.spec, calendars))) is not None]


def retarget_all(
    contact_id: uuid.UUID,
    clocks: Mapping[str, Clock],
    specs: Mapping[str, ClockSpec],
    at: datetime,
    calendars: Mapping[str, Calendar],
    *,
    received_at: datetime,
    reason: str,
) -> list[Change]:
    """Apply a contact's new keys: open clocks take their new terms (or are cancelled when no row defines them
    any more); clocks the new keys add start as of when the contact was received."""
    changes: list[Change] = []
    for name, clock in clocks.items():
        spec = specs.get(name)
        before = calendar_of(clock.spec, calendars)
        change = (
            cancel(clock, at, before, reason=reason)
            if spec is None
            else retarget(clock, spec, at, before, calendar_of(spec, calendars), reason=reason)
        )
        if change is not None:
            changes.append(change)
    new = [spec for name, spec in specs.items() if name not in clocks and spec.starts_on == "received"]
    changes.extend(start_clocks(contact_id, new, clocks, received_at, calendars))
    return changes
