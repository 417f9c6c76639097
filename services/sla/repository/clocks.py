"""Contacts, their clocks, the transitions that explain them, their due moments, and early events."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from services.sla.domain.calendar import Calendar
from services.sla.domain.clock import Clock, Due, Transition, calendar_of, due_at
from services.sla.domain.policy import ContactKeys
from services.sla.repository.codec import spec_from, spec_json
from services.sla.repository.contacts import Cause
from shared.db import Conn

CLOCK_COLUMNS_SQL = """
SELECT contact_id, clock, spec, target_s, state, started_at, since, elapsed_s, paused_s, breached_at, fired,
       stopped_by
FROM sla_clock WHERE contact_id = $1 ORDER BY clock
"""


def clock_from(row: Any) -> Clock:
    return Clock(
        contact_id=row["contact_id"],
        clock=row["clock"],
        spec=spec_from(row["spec"]),
        target_s=row["target_s"],
        state=row["state"],
        started_at=row["started_at"],
        since=row["since"],
        elapsed_s=row["elapsed_s"],
        paused_s=row["paused_s"],
        breached_at=row["breached_at"],
        fired=tuple(row["fired"]),
        stopped_by=row["stopped_by"],
    )


async def lock_clocks(conn: Conn, contact_id: uuid.UUID) -> dict[str, Clock]:
    rows = await conn.fetch(CLOCK_COLUMNS_SQL + " FOR UPDATE", contact_id)
    return {row["clock"]: clock_from(row) for row in rows}


async def get_clocks(conn: Conn, contact_id: uuid.UUID) -> dict[str, Clock]:
    return {row["clock"]: clock_from(row) for row in await conn.fetch(CLOCK_COLUMNS_SQL, contact_id)}


UPSERT_CLOCK = """
INSERT INTO sla_clock (contact_id, clock, policy_id, policy_version, spec, target_s, state, started_at, since,
                       elapsed_s, paused_s, due_at, breached_at, fired, stopped_by, grade, priority_class,
                       channel, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
ON CONFLICT (contact_id, clock) DO UPDATE SET
    policy_id = EXCLUDED.policy_id, policy_version = EXCLUDED.policy_version, spec = EXCLUDED.spec,
    target_s = EXCLUDED.target_s, state = EXCLUDED.state, since = EXCLUDED.since,
    elapsed_s = EXCLUDED.elapsed_s, paused_s = EXCLUDED.paused_s, due_at = EXCLUDED.due_at,
    breached_at = EXCLUDED.breached_at, fired = EXCLUDED.fired, stopped_by = EXCLUDED.stopped_by,
    grade = EXCLUDED.grade, priority_class = EXCLUDED.priority_class, channel = EXCLUDED.channel,
    updated_at = EXCLUDED.updated_at
"""


async def save_clocks(
    conn: Conn, clocks: Sequence[Clock], *, keys: ContactKeys, calendars: dict[str, Calendar], now: datetime
) -> None:
    await conn.executemany(
        UPSERT_CLOCK,
        [
            (
                c.contact_id,
                c.clock,
                c.spec.policy_id,
                c.spec.policy_version,
                spec_json(c.spec),
                c.target_s,
                c.state,
                c.started_at,
                c.since,
                c.elapsed_s,
                c.paused_s,
                due_at(c, calendar_of(c.spec, calendars)),
                c.breached_at,
                list(c.fired),
                c.stopped_by,
                keys.grade,
                keys.effective_priority,
                keys.channel,
                now,
            )
            for c in clocks
        ],
    )


INSERT_TRANSITION = """
INSERT INTO sla_transition (contact_id, clock, action, from_state, to_state, at, elapsed_s, paused_s, due_at,
                            cause, cause_event_id, detail, recorded_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
"""


async def insert_transitions(
    conn: Conn, contact_id: uuid.UUID, transitions: Iterable[Transition], *, cause: Cause, now: datetime
) -> None:
    await insert_transition_rows(conn, [(contact_id, t) for t in transitions], cause=cause, now=now)


async def insert_transition_rows(
    conn: Conn, transitions: Iterable[tuple[uuid.UUID, Transition]], *, cause: Cause, now: datetime
) -> None:
    rows = list(transitions)
    if not rows:
        return
    await conn.executemany(
        INSERT_TRANSITION,
        [
            (
                contact_id,
                t.clock,
                t.action,
                t.from_state,
                t.to_state,
                t.at,
                t.elapsed_s,
                t.paused_s,
                t.due_at,
                cause.kind,
                cause.event_id,
                dict(t.detail),
                now,
            )
            for contact_id, t in rows
        ],
    )


@dataclass(frozen=True)
class TransitionRecord:
    transition_id: int
    clock: str
    action: str
    from_state: str | None
    to_state: str
    at: datetime
    elapsed_s: float
    paused_s: float
    due_at: datetime | None
    cause: str
    cause_event_id: uuid.UUID | None
    detail: dict[str, Any]
    recorded_at: datetime


SELECT_TRANSITIONS = """
SELECT transition_id, clock, action, from_state, to_state, at, elapsed_s, paused_s, due_at, cause,
       cause_event_id, detail, recorded_at
FROM sla_transition WHERE contact_id = $1 ORDER BY transition_id
"""


async def list_transitions(conn: Conn, contact_id: uuid.UUID) -> list[TransitionRecord]:
    return [TransitionRecord(**dict(row)) for row in await conn.fetch(SELECT_TRANSITIONS, contact_id)]


DELETE_DUE = "DELETE FROM sla_due WHERE contact_id = $1 AND clock = ANY($2::text[])"
INSERT_DUE = """
INSERT INTO sla_due (contact_id, clock, alert, kind, level, target_role, due_at, breach_at, key_hash)
SELECT $1::uuid, u.clock, u.alert, u.kind, u.level, u.role, u.due_at, u.breach_at, $9::integer
FROM unnest($2::text[], $3::text[], $4::text[], $5::integer[], $6::text[], $7::timestamptz[], $8::timestamptz[])
     AS u(clock, alert, kind, level, role, due_at, breach_at)
"""


@dataclass(frozen=True)
class PlannedDue:
    clock: str
    due: Due
    breach_at: datetime


async def replace_due(
    conn: Conn, contact_id: uuid.UUID, clocks: Sequence[str], planned: Sequence[PlannedDue], *, key_hash: int
) -> None:
    """The due moments of `clocks` become exactly `planned` (nothing, for clocks no longer running)."""
    await conn.execute(DELETE_DUE, contact_id, list(clocks))
    if not planned:
        return
    await conn.execute(
        INSERT_DUE,
        contact_id,
        [p.clock for p in planned],
        [p.due.alert.key for p in planned],
        [p.due.alert.kind for p in planned],
        [p.due.alert.level for p in planned],
        [p.due.alert.role for p in planned],
        [p.due.at for p in planned],
        [p.breach_at for p in planned],
        key_hash,
    )


NOTIFY_DUE = "SELECT pg_notify('sla_due', $1)"


async def notify_due(conn: Conn, *, key_hash: int, instants: Iterable[datetime]) -> None:
    """Tell the scheduler that owns this contact every instant just planned for it, when the transaction
    commits (NOTIFY is transactional): `<key hash> <epoch seconds> <epoch seconds>…`."""
    moments = sorted({f"{moment.timestamp():.6f}" for moment in instants}, key=float)
    if moments:
        await conn.execute(NOTIFY_DUE, " ".join([str(key_hash), *moments]))


@dataclass(frozen=True)
class DueRecord:
    clock: str
    alert: str
    kind: str
    level: int
    target_role: str | None
    due_at: datetime
    breach_at: datetime


SELECT_DUE = """
SELECT clock, alert, kind, level, target_role, due_at, breach_at FROM sla_due
WHERE contact_id = $1 ORDER BY due_at, clock, alert
"""


async def list_due(conn: Conn, contact_id: uuid.UUID) -> list[DueRecord]:
    return [DueRecord(**dict(row)) for row in await conn.fetch(SELECT_DUE, contact_id)]


RUNNING_ON_CALENDAR = """
SELECT contact_id, clock, spec, target_s, state, started_at, since, elapsed_s, paused_s, breached_at, fired,
       stopped_by
FROM sla_clock WHERE state = 'running' AND spec->>'calendar_id' = $1
ORDER BY contact_id, clock
FOR UPDATE
"""


async def lock_running_on_calendar(conn: Conn, calendar_id: str) -> list[Clock]:
    return [clock_from(row) for row in await conn.fetch(RUNNING_ON_CALENDAR, calendar_id)]


OPEN_ON_CALENDAR = (
    "SELECT count(*) FROM sla_clock WHERE state IN ('running', 'paused') AND spec->>'calendar_id' = $1"
)


async def open_clocks_on_calendar(conn: Conn, calendar_id: str) -> int:
    return int(await conn.fetchval(OPEN_ON_CALENDAR, calendar_id))


RUNNING_DUE_AFTER = """
SELECT count(*) FROM sla_clock
WHERE state = 'running' AND spec->>'calendar_id' = $1 AND due_at >= ($2::date + 1)::timestamp AT TIME ZONE $3
"""


async def running_due_after(conn: Conn, calendar_id: str, day: date, *, time_zone: str = "UTC") -> int:
    """Running clocks on the calendar whose deadline lies after `day` (the calendar's local date)."""
    return int(await conn.fetchval(RUNNING_DUE_AFTER, calendar_id, day, time_zone))


SET_DUE_AT = "UPDATE sla_clock SET due_at = $3, updated_at = $4 WHERE contact_id = $1 AND clock = $2"


async def set_due_at(conn: Conn, rows: Sequence[tuple[uuid.UUID, str, datetime | None]], *, now: datetime) -> None:
    await conn.executemany(SET_DUE_AT, [(contact_id, clock, due, now) for contact_id, clock, due in rows])
