"""The clock state machine: one contact's clocks, started, paused, resumed, stopped, reopened and re-targeted by
events, and the due moments (warning, breach, each escalation level) they schedule.

States: running ⇄ paused; running/paused → met | missed (a milestone stops it) | cancelled (a re-target removes
it); met/missed → running (reopened, for clocks that reopen). A clock that passes its target stays running,
marked breached, until a milestone stops it (then it is missed). Elapsed time is working time on the clock's
calendar; paused time is wall time. Every change is a `Transition` with the instant it took effect; an event
stamped earlier than the clock's last change takes effect at that last change, so time never runs backwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from services.sla.domain.calendar import Calendar, add_working_time, beyond_data, working_time_between
from services.sla.domain.policy import ClockSpec, target_seconds

State = Literal["running", "paused", "met", "missed", "cancelled"]
OPEN_STATES: tuple[State, ...] = ("running", "paused")
STOPPED_STATES: tuple[State, ...] = ("met", "missed")
AlertKind = Literal["warning", "breach", "escalation"]
LIVE_CHANNELS_DEFAULT: tuple[str, ...] = ("phone", "chat", "onsite")


@dataclass(frozen=True)
class Alert:
    """A point on a clock's working time at which something must be announced, once."""

    key: str
    """`warning`, `breach` or `escalation:<level>`: with the contact and clock, the exactly-once key."""
    kind: AlertKind
    level: int
    role: str | None
    position_s: float


@dataclass(frozen=True)
class Due:
    alert: Alert
    at: datetime


@dataclass(frozen=True)
class Clock:
    contact_id: uuid.UUID
    clock: str
    spec: ClockSpec
    target_s: float
    state: State
    started_at: datetime
    since: datetime
    """When the current state began: running since, paused since, stopped at."""
    elapsed_s: float
    """Working time run up to `since`."""
    paused_s: float
    """Wall time spent paused up to `since`."""
    breached_at: datetime | None = None
    fired: tuple[str, ...] = ()
    stopped_by: str | None = None


@dataclass(frozen=True)
class Transition:
    clock: str
    action: str
    """started, paused, resumed, met, missed, reopened, retargeted, cancelled, warning, breached, escalated."""
    from_state: State | None
    to_state: State
    at: datetime
    elapsed_s: float
    paused_s: float
    due_at: datetime | None
    detail: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    clock: Clock
    transition: Transition


class UnknownCalendar(KeyError):
    pass


def calendar_of(spec: ClockSpec, calendars: Mapping[str, Calendar]) -> Calendar:
    try:
        return calendars[spec.calendar_id]
    except KeyError as exc:
        raise UnknownCalendar(spec.calendar_id) from exc


# --- reading a clock ----------------------------------------------------------------------------------------


def elapsed_at(clock: Clock, calendar: Calendar, at: datetime) -> float:
    if clock.state != "running" or at <= clock.since:
        return clock.elapsed_s
    return clock.elapsed_s + working_time_between(calendar, clock.since, at)


def paused_at(clock: Clock, at: datetime) -> float:
    if clock.state != "paused" or at <= clock.since:
        return clock.paused_s
    return clock.paused_s + (at - clock.since).total_seconds()


def alerts(spec: ClockSpec, target_s: float) -> list[Alert]:
    """Warning, breach and the ladder, ordered by where they fall on the clock's working time."""
    found: list[Alert] = []
    if spec.warning_fraction is not None:
        found.append(Alert("warning", "warning", 0, None, spec.warning_fraction * target_s))
    found.append(Alert("breach", "breach", 0, None, target_s))
    for step in spec.ladder:
        base = target_s if step.relative_to == "breach" else 0.0
        position = base + step.after_fraction * target_s + step.after_seconds
        found.append(Alert(f"escalation:{step.level}", "escalation", step.level, step.role, position))
    return sorted(found, key=lambda a: (a.position_s, a.kind != "breach", a.level))


def instant_of(clock: Clock, calendar: Calendar, position_s: float) -> datetime | None:
    """When a running clock reaches `position_s` of working time (now-or-past positions give `since`)."""
    if clock.state != "running":
        return None
    return add_working_time(calendar, clock.since, max(0.0, position_s - clock.elapsed_s))


def due_at(clock: Clock, calendar: Calendar) -> datetime | None:
    """The breach instant of a running clock."""
    return instant_of(clock, calendar, clock.target_s)


def due_moments(clock: Clock, calendar: Calendar) -> list[Due]:
    """What a running clock still has to announce, and when; nothing for any other state."""
    if clock.state != "running":
        return []
    return [
        Due(alert, add_working_time(calendar, clock.since, max(0.0, alert.position_s - clock.elapsed_s)))
        for alert in alerts(clock.spec, clock.target_s)
        if alert.key not in clock.fired
    ]


# --- transitions of one clock -------------------------------------------------------------------------------


def _transition(
    before: Clock | None, after: Clock, action: str, at: datetime, calendar: Calendar, **detail: object
) -> Change:
    due = due_at(after, calendar)
    if due is not None and beyond_data(calendar, due):
        # Counted with the days the law fixes, but the year's arrangement is not known yet: say so.
        detail = {**detail, "calendar_data_until": str(calendar.data_until)}
    return Change(
        after,
        Transition(
            clock=after.clock,
            action=action,
            from_state=before.state if before is not None else None,
            to_state=after.state,
            at=at,
            elapsed_s=elapsed_at(after, calendar, at),
            paused_s=paused_at(after, at),
            due_at=due,
            detail=detail,
        ),
    )


def start(contact_id: uuid.UUID, spec: ClockSpec, at: datetime, calendar: Calendar) -> Change:
    clock = Clock(
        contact_id=contact_id,
        clock=spec.clock,
        spec=spec,
        target_s=target_seconds(spec.target, calendar, at),
        state="running",
        started_at=at,
        since=at,
        elapsed_s=0.0,
        paused_s=0.0,
    )
    return _transition(None, clock, "started", at, calendar, target=spec.target.text())


def pause(clock: Clock, at: datetime, calendar: Calendar, *, reason: str) -> Change | None:
    if clock.state != "running" or not clock.spec.pauses:
        return None
    at = max(at, clock.since)
    after = replace(clock, state="paused", since=at, elapsed_s=elapsed_at(clock, calendar, at))
    return _transition(clock, after, "paused", at, calendar, reason=reason)


def resume(clock: Clock, at: datetime, calendar: Calendar, *, reason: str) -> Change | None:
    if clock.state != "paused":
        return None
    at = max(at, clock.since)
    after = replace(clock, state="running", since=at, paused_s=paused_at(clock, at))
    return _transition(clock, after, "resumed", at, calendar, reason=reason)


def stop(clock: Clock, at: datetime, calendar: Calendar, *, milestone: str) -> Change | None:
    """A milestone stops an open clock that waits for it; met if it came within the target."""
    if clock.state not in OPEN_STATES or milestone not in clock.spec.stops_on or at < clock.started_at:
        return None
    at = max(at, clock.since)
    elapsed = elapsed_at(clock, calendar, at)
    outcome: State = "met" if elapsed <= clock.target_s + 1e-6 else "missed"
    after = replace(
        clock,
        state=outcome,
        since=at,
        elapsed_s=elapsed,
        paused_s=paused_at(clock, at),
        stopped_by=milestone,
    )
    return _transition(clock, after, outcome, at, calendar, milestone=milestone)


def reopen(clock: Clock, at: datetime, calendar: Calendar) -> Change | None:
    """A clock that reopens runs again, counting the time it had already spent (so a premature resolve cannot
    reset the promise); levels that fired before do not fire again."""
    if clock.state not in STOPPED_STATES or not clock.spec.reopens:
        return None
    at = max(at, clock.since)
    after = replace(clock, state="running", since=at, stopped_by=None)
    return _transition(clock, after, "reopened", at, calendar, previous_outcome=clock.state)


def retarget(
    clock: Clock, spec: ClockSpec, at: datetime, before: Calendar, calendar: Calendar, *, reason: str
) -> Change | None:
    """New terms for an open clock; elapsed and paused time carry over, levels already fired stay fired.

    Time up to the re-target is measured on the old calendar (`before`), from then on on the new one.
    """
    if clock.state not in OPEN_STATES or spec == clock.spec:
        return None
    at = max(at, clock.since)
    after = replace(
        clock,
        spec=spec,
        target_s=target_seconds(spec.target, calendar, clock.started_at),
        since=at,
        elapsed_s=elapsed_at(clock, before, at),
        paused_s=paused_at(clock, at),
    )
    return _transition(
        clock,
        after,
        "retargeted",
        at,
        calendar,
        reason=reason,
        previous_target=clock.spec.target.text(),
        previous_policy_version=clock.spec.policy_version,
        target=spec.target.text(),
    )


def cancel(clock: Clock, at: datetime, calendar: Calendar, *, reason: str) -> Change | None:
    if clock.state not in OPEN_STATES:
        return None
    at = max(at, clock.since)
    after = replace(
        clock,
        state="cancelled",
        since=at,
        elapsed_s=elapsed_at(clock, calendar, at),
        paused_s=paused_at(clock, at),
    )
    return _transition(clock, after, "cancelled", at, calendar, reason=reason)


FIRED_ACTIONS: Mapping[AlertKind, str] = {"warning": "warning", "breach": "breached", "escalation": "escalated"}


def fire(clock: Clock, alert: Alert, at: datetime, calendar: Calendar, *, due: datetime) -> Change | None:
    """Record that an alert was announced; None if it already was."""
    if alert.key in clock.fired:
        return None
    after = replace(
        clock,
        fired=(*clock.fired, alert.key),
        breached_at=at if alert.kind == "breach" and clock.breached_at is None else clock.breached_at,
    )
    detail: dict[str, object] = {"alert": alert.key, "due": due.isoformat()}
    if alert.role is not None:
        detail.update(level=alert.level, role=alert.role)
    return _transition(clock, after, FIRED_ACTIONS[alert.kind], at, calendar, **detail)


def find_alert(clock: Clock, key: str) -> Alert | None:
    return next((a for a in alerts(clock.spec, clock.target_s) if a.key == key), None)
