"""Webhook endpoints, their deliveries and every attempt; senders take due deliveries with SKIP LOCKED and a
lease, so several instances share the work and one that dies mid-attempt only delays a delivery."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.intake.domain.webhooks import Attempt, Delivery, Due, Endpoint, signing_secrets
from shared.db import Conn

INSERT_ENDPOINT = """
INSERT INTO webhook_endpoint (endpoint_id, name, url, channels, kinds, secret, created_by, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
ON CONFLICT (name) DO NOTHING
RETURNING endpoint_id, name, url, channels, kinds, enabled, disabled_reason,
    CASE WHEN previous_secret IS NOT NULL THEN previous_until END AS rotating_until, created_by, created_at,
    updated_at
"""


def _endpoint(row: Any) -> Endpoint:
    return Endpoint(**{**dict(row), "channels": tuple(row["channels"]), "kinds": tuple(row["kinds"])})


async def insert_endpoint(
    conn: Conn,
    *,
    endpoint_id: uuid.UUID,
    name: str,
    url: str,
    channels: Sequence[str],
    kinds: Sequence[str],
    secret: str,
    by: str,
    now: datetime,
) -> Endpoint | None:
    """None when the name is taken."""
    row = await conn.fetchrow(
        INSERT_ENDPOINT, endpoint_id, name, url, list(channels), list(kinds), secret, by, now
    )
    return _endpoint(row) if row else None


LIST_ENDPOINTS = """
SELECT endpoint_id, name, url, channels, kinds, enabled, disabled_reason,
    CASE WHEN previous_secret IS NOT NULL THEN previous_until END AS rotating_until, created_by, created_at,
    updated_at
FROM webhook_endpoint ORDER BY name
"""


async def list_endpoints(conn: Conn) -> list[Endpoint]:
    return [_endpoint(r) for r in await conn.fetch(LIST_ENDPOINTS)]


ROTATE = """
UPDATE webhook_endpoint SET previous_secret = secret, previous_until = $3, secret = $2, updated_at = $4
WHERE endpoint_id = $1
RETURNING endpoint_id, name, url, channels, kinds, enabled, disabled_reason,
    CASE WHEN previous_secret IS NOT NULL THEN previous_until END AS rotating_until, created_by, created_at,
    updated_at
"""


async def rotate_secret(
    conn: Conn, *, endpoint_id: uuid.UUID, secret: str, previous_until: datetime, now: datetime
) -> Endpoint | None:
    row = await conn.fetchrow(ROTATE, endpoint_id, secret, previous_until, now)
    return _endpoint(row) if row else None


STORED_SECRETS = (
    "SELECT endpoint_id, secret, previous_secret FROM webhook_endpoint ORDER BY endpoint_id FOR UPDATE"
)


async def stored_secrets(conn: Conn) -> list[tuple[uuid.UUID, str, str | None]]:
    """Every endpoint's stored signing secrets (as stored: sealed or not), locked until the transaction ends."""
    return [(r["endpoint_id"], r["secret"], r["previous_secret"]) for r in await conn.fetch(STORED_SECRETS)]


REPLACE_SECRETS = "UPDATE webhook_endpoint SET secret = $2, previous_secret = $3 WHERE endpoint_id = $1"


async def replace_secrets(conn: Conn, *, endpoint_id: uuid.UUID, secret: str, previous_secret: str | None) -> None:
    await conn.execute(REPLACE_SECRETS, endpoint_id, secret, previous_secret)


SET_ENABLED = """
UPDATE webhook_endpoint SET enabled = $2, disabled_reason = $3, updated_at = $4
WHERE endpoint_id = $1
RETURNING endpoint_id, name, url, channels, kinds, enabled, disabled_reason,
    CASE WHEN previous_secret IS NOT NULL THEN previous_until END AS rotating_until, created_by, created_at,
    updated_at
"""


async def set_enabled(
    conn: Conn, *, endpoint_id: uuid.UUID, enabled: bool, reason: str | None, now: datetime
) -> Endpoint | None:
    row = await conn.fetchrow(SET_ENABLED, endpoint_id, enabled, None if enabled else reason, now)
    return _endpoint(row) if row else None


INSERT_DELIVERIES = """
INSERT INTO webhook_delivery (delivery_id, endpoint_id, message_id, contact_id, channel, kind, body,
    next_attempt_at, created_at)
SELECT gen_random_uuid(), endpoint_id, $1, $2, $3, $4, $5, $6, $6
FROM webhook_endpoint
WHERE enabled AND $3 = ANY(channels) AND (cardinality(kinds) = 0 OR $4 = ANY(kinds)) AND created_at <= $6
ON CONFLICT (endpoint_id, message_id) DO NOTHING
"""


async def insert_deliveries(
    conn: Conn,
    *,
    message_id: uuid.UUID,
    contact_id: uuid.UUID | None,
    channel: str,
    kind: str | None,
    body: bytes,
    now: datetime,
) -> int:
    """A delivery for every enabled endpoint that takes the message and was registered when it was requested
    (`now`: a consumer catching up on older messages sends a new endpoint none of them); none twice for the same
    message."""
    status = await conn.execute(INSERT_DELIVERIES, message_id, contact_id, channel, kind, body, now)
    return int(status.rsplit(" ", 1)[1])


CLAIM = """
UPDATE webhook_delivery d SET attempts = d.attempts + 1, next_attempt_at = $2
FROM webhook_endpoint e
WHERE e.endpoint_id = d.endpoint_id AND d.delivery_id IN (
    SELECT w.delivery_id FROM webhook_delivery w JOIN webhook_endpoint x ON x.endpoint_id = w.endpoint_id
    WHERE w.state = 'pending' AND w.next_attempt_at <= $1 AND x.enabled
    ORDER BY w.next_attempt_at LIMIT $3
    FOR UPDATE OF w SKIP LOCKED
)
RETURNING d.delivery_id, d.message_id, d.endpoint_id, d.body, d.attempts, d.round_start, e.url, e.secret,
    e.previous_secret, e.previous_until
"""


async def claim_due(conn: Conn, *, now: datetime, lease_until: datetime, limit: int) -> list[Due]:
    """Take up to `limit` due deliveries for one attempt each: until `lease_until` no other sender takes them."""
    rows = await conn.fetch(CLAIM, now, lease_until, limit)
    return [
        Due(
            delivery_id=r["delivery_id"],
            message_id=r["message_id"],
            endpoint_id=r["endpoint_id"],
            body=bytes(r["body"]),
            attempt=r["attempts"],
            failed_in_round=r["attempts"] - r["round_start"],
            url=r["url"],
            secrets=signing_secrets(r["secret"], r["previous_secret"], r["previous_until"], now),
        )
        for r in rows
    ]


INSERT_ATTEMPT = """
INSERT INTO webhook_attempt (delivery_id, attempt, started_at, duration_ms, status, error, response)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (delivery_id, attempt) DO NOTHING
"""
FINISH = """
UPDATE webhook_delivery SET state = $3::text, next_attempt_at = COALESCE($4::timestamptz, next_attempt_at),
    last_status = $5, last_error = $6,
    finished_at = CASE WHEN $3::text = 'pending' THEN NULL ELSE $7::timestamptz END
WHERE delivery_id = $1 AND attempts = $2 AND state = 'pending'
"""


async def record_attempt(
    conn: Conn, *, due: Due, started_at: datetime, duration_ms: int, status: int | None, error: str | None,
    response: str | None, state: str, next_attempt_at: datetime | None, now: datetime,
) -> bool:  # fmt: skip
    """The attempt and the delivery's new state; False (and no change of state) when the delivery was taken
    again meanwhile (this sender's lease ran out) or replayed."""
    await conn.execute(
        INSERT_ATTEMPT, due.delivery_id, due.attempt, started_at, duration_ms, status, error, response
    )
    result = await conn.execute(FINISH, due.delivery_id, due.attempt, state, next_attempt_at, status, error, now)
    return bool(result.endswith(" 1"))


LIST_DELIVERIES = """
SELECT delivery_id, endpoint_id, message_id, contact_id, channel, kind, state, attempts,
    CASE WHEN state = 'pending' THEN next_attempt_at END AS next_attempt_at, last_status, last_error, created_at,
    finished_at
FROM webhook_delivery
WHERE ($1::text IS NULL OR state = $1) AND ($2::uuid IS NULL OR endpoint_id = $2)
    AND ($3::uuid IS NULL OR message_id = $3) AND ($4::timestamptz IS NULL OR created_at >= $4)
    AND ($6::text[] IS NULL OR channel = ANY($6))
ORDER BY created_at DESC, delivery_id LIMIT $5
"""


async def list_deliveries(
    conn: Conn,
    *,
    state: str | None,
    endpoint_id: uuid.UUID | None,
    message_id: uuid.UUID | None,
    since: datetime | None,
    limit: int,
    channels: Sequence[str] | None = None,
) -> list[Delivery]:
    """`channels`: only deliveries of these (an adapter key's); None: all."""
    listed = list(channels) if channels is not None else None
    rows = await conn.fetch(LIST_DELIVERIES, state, endpoint_id, message_id, since, limit, listed)
    return [Delivery(**dict(r)) for r in rows]


GET_DELIVERY = """
SELECT delivery_id, endpoint_id, message_id, contact_id, channel, kind, state, attempts,
    CASE WHEN state = 'pending' THEN next_attempt_at END AS next_attempt_at, last_status, last_error, created_at,
    finished_at
FROM webhook_delivery WHERE delivery_id = $1
"""
ATTEMPTS = """
SELECT attempt, started_at, duration_ms, status, error, response FROM webhook_attempt
WHERE delivery_id = $1 ORDER BY attempt
"""


async def get_delivery(conn: Conn, delivery_id: uuid.UUID) -> Delivery | None:
    row = await conn.fetchrow(GET_DELIVERY, delivery_id)
    if row is None:
        return None
    history = tuple(Attempt(**dict(r)) for r in await conn.fetch(ATTEMPTS, delivery_id))
    return Delivery(**dict(row), history=history)


REPLAY = """
UPDATE webhook_delivery SET state = 'pending', next_attempt_at = $2, round_start = attempts, finished_at = NULL
WHERE delivery_id IN (
    SELECT delivery_id FROM webhook_delivery
    WHERE state <> 'pending' AND ($1::uuid IS NULL OR delivery_id = $1)
        AND ($3::text IS NULL OR state = $3) AND ($4::uuid IS NULL OR endpoint_id = $4)
        AND ($5::timestamptz IS NULL OR created_at >= $5) AND ($6::text[] IS NULL OR channel = ANY($6))
    FOR UPDATE
)
"""


async def replay(
    conn: Conn,
    *,
    now: datetime,
    delivery_id: uuid.UUID | None = None,
    state: str | None = None,
    endpoint_id: uuid.UUID | None = None,
    since: datetime | None = None,
    channels: Sequence[str] | None = None,
) -> int:
    """Send finished deliveries again (same webhook-id, a fresh retry schedule); pending ones are left be.
    `channels`: only deliveries of these (an adapter key's); None: all."""
    listed = list(channels) if channels is not None else None
    result = await conn.execute(REPLAY, delivery_id, now, state, endpoint_id, since, listed)
    return int(result.rsplit(" ", 1)[1])


PURGE = "DELETE FROM webhook_delivery WHERE state <> 'pending' AND finished_at < $1"


async def purge_finished(conn: Conn, *, before: datetime) -> int:
    result = await conn.execute(PURGE, before)
    return int(result.rsplit(" ", 1)[1])
