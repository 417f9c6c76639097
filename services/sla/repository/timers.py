"""Due moments as timers: which instance owns them, claiming what fell due, and the exactly-once fired record."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from aiokafka.partitioner import murmur2

from services.sla.domain.clock import Clock
from services.sla.repository.clocks import clock_from
from shared.db import Conn


def key_hash(contact_id: uuid.UUID) -> int:
    """Kafka's default partitioner hash of the contact id (the key of every contact event): modulo a topic's
    partition count, it names the partition, and so the instance, that owns the contact."""
    return int(murmur2(str(contact_id).encode())) & 0x7FFFFFFF


@dataclass(frozen=True)
class Ownership:
    """The partitions this instance holds, out of `total`; `owned=None` means every partition."""

    owned: frozenset[int] | None
    total: int = 1

    def owns(self, hash_: int) -> bool:
        return self.owned is None or (self.total > 0 and hash_ % self.total in self.owned)

    def sql(self) -> tuple[list[int] | None, int]:
        return (None if self.owned is None else sorted(self.owned)), max(self.total, 1)


EVERYTHING = Ownership(None)


@dataclass(frozen=True)
class ClaimedDue:
    contact_id: uuid.UUID
    clock: str
    alert: str
    kind: str
    level: int
    target_role: str | None
    due_at: datetime
    breach_at: datetime


# Locks the due row and its clock row together; a clock locked by a handler is skipped, not waited for, so
# firing never waits on a handler and the two cannot deadlock (handlers lock the clock, then its due rows).
CLAIM_DUE = """
WITH picked AS (
    SELECT d.contact_id, d.clock, d.alert, c.spec, c.target_s, c.state, c.started_at, c.since, c.elapsed_s,
           c.paused_s, c.breached_at, c.fired, c.stopped_by
    FROM sla_due d JOIN sla_clock c ON c.contact_id = d.contact_id AND c.clock = d.clock
    WHERE d.due_at <= $1 AND ($2::integer[] IS NULL OR d.key_hash % $3 = ANY($2::integer[]))
    ORDER BY d.due_at
    LIMIT $4
    FOR UPDATE SKIP LOCKED
)
DELETE FROM sla_due d USING picked p
WHERE d.contact_id = p.contact_id AND d.clock = p.clock AND d.alert = p.alert
RETURNING d.contact_id, d.clock, d.alert, d.kind, d.level, d.target_role, d.due_at, d.breach_at,
          p.spec, p.target_s, p.state, p.started_at, p.since, p.elapsed_s, p.paused_s, p.breached_at, p.fired,
          p.stopped_by
"""

_DUE_FIELDS = ("contact_id", "clock", "alert", "kind", "level", "target_role", "due_at", "breach_at")


async def claim_due(
    conn: Conn, *, now: datetime, ownership: Ownership, limit: int
) -> tuple[list[ClaimedDue], dict[tuple[uuid.UUID, str], Clock]]:
    """Take (delete, in the caller's transaction) up to `limit` owned due moments at or before `now`, with
    their clocks as they stand (locked until the transaction ends)."""
    owned, total = ownership.sql()
    rows = await conn.fetch(CLAIM_DUE, now, owned, total, limit)
    claimed = sorted(
        (ClaimedDue(**{k: row[k] for k in _DUE_FIELDS}) for row in rows),
        key=lambda d: (d.due_at, d.kind != "breach"),
    )
    return claimed, {(row["contact_id"], row["clock"]): clock_from(row) for row in rows}


INSERT_FIRED = """
INSERT INTO sla_fired (contact_id, clock, alert, due_at, fired_at, event_id)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::uuid[])
ON CONFLICT DO NOTHING
RETURNING contact_id, clock, alert
"""


@dataclass(frozen=True)
class Firing:
    due: ClaimedDue
    event_id: uuid.UUID
    fired_at: datetime


async def record_fired(conn: Conn, firings: Sequence[Firing]) -> set[tuple[uuid.UUID, str, str]]:
    """Record each firing once; returns the keys recorded now (a key already fired is not returned)."""
    rows = await conn.fetch(
        INSERT_FIRED,
        [f.due.contact_id for f in firings],
        [f.due.clock for f in firings],
        [f.due.alert for f in firings],
        [f.due.due_at for f in firings],
        [f.fired_at for f in firings],
        [f.event_id for f in firings],
    )
    return {(row["contact_id"], row["clock"], row["alert"]) for row in rows}


UPDATE_FIRED_CLOCK = """
UPDATE sla_clock SET fired = $3, breached_at = $4, updated_at = $5 WHERE contact_id = $1 AND clock = $2
"""


async def save_fired_clocks(conn: Conn, clocks: Sequence[Clock], *, now: datetime) -> None:
    await conn.executemany(
        UPDATE_FIRED_CLOCK, [(c.contact_id, c.clock, list(c.fired), c.breached_at, now) for c in clocks]
    )


UPCOMING = """
SELECT due_at FROM sla_due
WHERE due_at < $1 AND ($2::integer[] IS NULL OR key_hash % $3 = ANY($2::integer[]))
ORDER BY due_at
LIMIT $4
"""


async def upcoming(conn: Conn, *, before: datetime, ownership: Ownership, limit: int) -> list[datetime]:
    """The owned due instants before `before`, earliest first: what the scheduler holds in memory."""
    owned, total = ownership.sql()
    return [row["due_at"] for row in await conn.fetch(UPCOMING, before, owned, total, limit)]


@dataclass(frozen=True)
class FiredRecord:
    clock: str
    alert: str
    due_at: datetime
    fired_at: datetime
    event_id: uuid.UUID


SELECT_FIRED = """
SELECT clock, alert, due_at, fired_at, event_id FROM sla_fired WHERE contact_id = $1 ORDER BY fired_at, alert
"""


async def list_fired(conn: Conn, contact_id: uuid.UUID) -> list[FiredRecord]:
    return [FiredRecord(**dict(row)) for row in await conn.fetch(SELECT_FIRED, contact_id)]
