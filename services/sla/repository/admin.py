"""Calendars, policies with their versions, and the audit log of admin changes."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from services.sla.domain.calendar import Calendar
from services.sla.domain.policy import Policy
from services.sla.repository.codec import calendar_from, definition_json, hours_json, notes_json, policy_from
from shared import audit
from shared.db import Conn

# --- calendars ----------------------------------------------------------------------------------------------

SELECT_CALENDARS = """
SELECT calendar_id, name, always_open, time_zone, weekly, workday_hours, holidays, workdays, version,
       official, covered_until, updated_at, updated_by
FROM calendar ORDER BY calendar_id
"""


async def list_calendars(conn: Conn) -> list[Calendar]:
    return [calendar_from(row) for row in await conn.fetch(SELECT_CALENDARS)]


async def calendars_by_id(conn: Conn) -> dict[str, Calendar]:
    return {c.calendar_id: c for c in await list_calendars(conn)}


SELECT_CALENDAR = """
SELECT calendar_id, name, always_open, time_zone, weekly, workday_hours, holidays, workdays, version,
       official, covered_until, updated_at, updated_by
FROM calendar WHERE calendar_id = $1
"""


async def get_calendar(conn: Conn, calendar_id: str, *, for_update: bool = False) -> Calendar | None:
    row = await conn.fetchrow(SELECT_CALENDAR + (" FOR UPDATE" if for_update else ""), calendar_id)
    return None if row is None else calendar_from(row)


UPSERT_CALENDAR = """
INSERT INTO calendar (calendar_id, name, always_open, time_zone, weekly, workday_hours, holidays, workdays,
                      version, updated_at, updated_by, official, covered_until)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (calendar_id) DO UPDATE SET
    name = EXCLUDED.name, always_open = EXCLUDED.always_open, time_zone = EXCLUDED.time_zone,
    weekly = EXCLUDED.weekly, workday_hours = EXCLUDED.workday_hours, holidays = EXCLUDED.holidays,
    workdays = EXCLUDED.workdays, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at,
    updated_by = EXCLUDED.updated_by, official = EXCLUDED.official, covered_until = EXCLUDED.covered_until
"""


async def save_calendar(conn: Conn, calendar: Calendar, *, by: str, now: datetime) -> None:
    await conn.execute(
        UPSERT_CALENDAR,
        calendar.calendar_id,
        calendar.name,
        calendar.always_open,
        calendar.time_zone,
        [hours_json(day) for day in calendar.weekly],
        hours_json(calendar.workday_hours),
        notes_json(calendar.holidays),
        notes_json(calendar.workdays),
        calendar.version,
        now,
        by,
        calendar.official.source if calendar.official else None,
        calendar.covered_until,
    )


CALENDAR_IN_USE = """
SELECT count(*) FROM sla_policy
WHERE active AND (definition->>'calendar_id' = $1
                  OR EXISTS (SELECT 1 FROM jsonb_array_elements(definition->'clocks') AS c
                             WHERE c->>'calendar_id' = $1))
"""


CALENDARS_IN_USE = """
SELECT DISTINCT id FROM (
    SELECT definition->>'calendar_id' AS id FROM sla_policy WHERE active
    UNION ALL
    SELECT c->>'calendar_id' FROM sla_policy, jsonb_array_elements(definition->'clocks') AS c WHERE active
) AS used WHERE id IS NOT NULL
"""


async def calendar_ids_in_use(conn: Conn) -> set[str]:
    """Calendars active policies name, as their default or for one of their clocks."""
    return {row["id"] for row in await conn.fetch(CALENDARS_IN_USE)}


CLAIM_NOTICE = """
INSERT INTO calendar_notice (calendar_id, on_day, data_until) VALUES ($1, $2, $3)
ON CONFLICT DO NOTHING RETURNING calendar_id
"""


async def claim_calendar_notice(conn: Conn, calendar_id: str, *, on_day: date, data_until: date) -> bool:
    """True for the first caller of the day (per calendar): that one announces it."""
    return await conn.fetchval(CLAIM_NOTICE, calendar_id, on_day, data_until) is not None


async def policies_using_calendar(conn: Conn, calendar_id: str) -> int:
    return int(await conn.fetchval(CALENDAR_IN_USE, calendar_id))


DELETE_CALENDAR = "DELETE FROM calendar WHERE calendar_id = $1"


async def delete_calendar(conn: Conn, calendar_id: str) -> bool:
    return str(await conn.execute(DELETE_CALENDAR, calendar_id)) == "DELETE 1"


# --- policies -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyRecord:
    policy: Policy
    updated_at: datetime
    updated_by: str


SELECT_POLICIES = """
SELECT policy_id, name, grade, priority_class, channel, active, version, definition, updated_at, updated_by
FROM sla_policy
WHERE active OR $1
ORDER BY grade NULLS FIRST, priority_class NULLS FIRST, channel NULLS FIRST, name
"""


async def list_policies(conn: Conn, *, include_inactive: bool = False) -> list[PolicyRecord]:
    return [_record(row) for row in await conn.fetch(SELECT_POLICIES, include_inactive)]


LOCK_POLICIES = "LOCK TABLE sla_policy IN SHARE ROW EXCLUSIVE MODE"


async def lock_policies(conn: Conn) -> None:
    """Until the transaction ends, other policy saves wait (reads do not): a rule across rows holds."""
    await conn.execute(LOCK_POLICIES)


async def active_policies(conn: Conn) -> list[Policy]:
    return [r.policy for r in await list_policies(conn)]


SELECT_POLICY = """
SELECT policy_id, name, grade, priority_class, channel, active, version, definition, updated_at, updated_by
FROM sla_policy WHERE policy_id = $1
"""


async def get_policy(conn: Conn, policy_id: uuid.UUID, *, for_update: bool = False) -> PolicyRecord | None:
    row = await conn.fetchrow(SELECT_POLICY + (" FOR UPDATE" if for_update else ""), policy_id)
    return None if row is None else _record(row)


SELECT_POLICY_VERSIONS = """
SELECT policy_id, name, grade, priority_class, channel, active, version, definition,
       created_at AS updated_at, created_by AS updated_by
FROM sla_policy_version WHERE policy_id = $1 ORDER BY version
"""


async def policy_versions(conn: Conn, policy_id: uuid.UUID) -> list[PolicyRecord]:
    return [_record(row) for row in await conn.fetch(SELECT_POLICY_VERSIONS, policy_id)]


def _record(row: Any) -> PolicyRecord:
    return PolicyRecord(policy_from(row), row["updated_at"], row["updated_by"])


UPSERT_POLICY = """
INSERT INTO sla_policy (policy_id, name, grade, priority_class, channel, active, version, definition,
                        updated_at, updated_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (policy_id) DO UPDATE SET
    name = EXCLUDED.name, grade = EXCLUDED.grade, priority_class = EXCLUDED.priority_class,
    channel = EXCLUDED.channel, active = EXCLUDED.active, version = EXCLUDED.version,
    definition = EXCLUDED.definition, updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by
"""
INSERT_POLICY_VERSION = """
INSERT INTO sla_policy_version (policy_id, version, name, grade, priority_class, channel, active, definition,
                                created_at, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
"""


async def save_policy(conn: Conn, policy: Policy, *, by: str, now: datetime) -> None:
    """Write `policy` as its current version and keep that version for good."""
    p = policy
    definition = definition_json(p)
    await conn.execute(
        UPSERT_POLICY,
        p.policy_id,
        p.name,
        p.grade,
        p.priority_class,
        p.channel,
        p.active,
        p.version,
        definition,
        now,
        by,
    )
    await conn.execute(
        INSERT_POLICY_VERSION,
        p.policy_id,
        p.version,
        p.name,
        p.grade,
        p.priority_class,
        p.channel,
        p.active,
        definition,
        now,
        by,
    )


ACTIVE_WITH_KEYS = """
SELECT policy_id FROM sla_policy
WHERE active AND grade IS NOT DISTINCT FROM $1 AND priority_class IS NOT DISTINCT FROM $2
  AND channel IS NOT DISTINCT FROM $3
"""


async def active_policy_with_keys(
    conn: Conn, *, grade: str | None, priority_class: str | None, channel: str | None
) -> uuid.UUID | None:
    found: uuid.UUID | None = await conn.fetchval(ACTIVE_WITH_KEYS, grade, priority_class, channel)
    return found


# --- audit (written by `shared.audit.record`, target "policy:<id>" or "calendar:<id>") ----------------------

ENTITIES = ("policy", "calendar")
"""What SLA audits; the trail in its database also holds the access audit (keys, users), which is not SLA's."""


def audit_target(entity: str, entity_id: str) -> str:
    return f"{entity}:{entity_id}"


@dataclass(frozen=True)
class AuditEntry:
    audit_id: int
    at: datetime
    actor: str
    role: str
    action: str
    entity: str
    entity_id: str
    detail: dict[str, Any]


def _entry(e: audit.AuditEntry) -> AuditEntry:
    entity, _, entity_id = e.target.partition(":")
    assert e.audit_id is not None  # always set when read
    return AuditEntry(e.audit_id, e.at, e.actor, e.role, e.action, entity, entity_id, dict(e.detail))


async def list_audit(conn: Conn, *, entity: str | None, entity_id: str | None, limit: int) -> list[AuditEntry]:
    """Newest first, of one entity kind and/or one id. Without a kind, each of SLA's kinds is read and the
    newest `limit` of them kept: the same answer as one filter over SLA's entries alone."""
    found: list[audit.AuditEntry] = []
    for kind in (entity,) if entity is not None else ENTITIES:
        if entity_id is None:
            found += await audit.entries(conn, target_prefix=f"{kind}:", limit=limit)
        else:
            found += await audit.entries(conn, target=audit_target(kind, entity_id), limit=limit)
    found.sort(key=lambda e: e.audit_id or 0, reverse=True)
    return [_entry(e) for e in found[:limit]]


# --- what every event needs, parsed once -------------------------------------------------------------------

VERSIONS = """
SELECT 'calendar' AS kind, calendar_id AS id, version FROM calendar
UNION ALL
SELECT 'policy', policy_id::text, version FROM sla_policy WHERE active
"""


class AdminCache:
    """Calendars and active policies, parsed once and read again only when a version changed.

    Each call costs one small query (the versions), so an admin's change is seen by the next event; with
    `max_age_s`, not even that for so long after the last check.
    """

    def __init__(self, *, max_age_s: float = 0.0) -> None:
        self.max_age_s = max_age_s
        self._key: frozenset[tuple[str, str, int]] | None = None
        self._checked = float("-inf")
        self._calendars: dict[str, Calendar] = {}
        self._policies: list[Policy] = []

    async def load(self, conn: Conn) -> tuple[dict[str, Calendar], list[Policy]]:
        if self._key is not None and time.monotonic() - self._checked < self.max_age_s:
            return self._calendars, self._policies
        key = frozenset((row["kind"], row["id"], row["version"]) for row in await conn.fetch(VERSIONS))
        if key != self._key:
            calendars = await calendars_by_id(conn)
            policies = await active_policies(conn)
            # All three at once: callers in other transactions (routes, the consumer) may load concurrently, and
            # a key must never label older data than its own (a newer key than the data only means a re-read).
            self._calendars, self._policies, self._key = calendars, policies, key
        self._checked = time.monotonic()
        return self._calendars, self._policies
