"""Customers and their identities."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.intake.domain.customer import Customer
from services.intake.domain.identity import Identity
from shared.db import Conn

# Identities of a merged customer answer for the customer it was merged into.


INSERT_CUSTOMER = """
INSERT INTO customer (
    customer_id, display_name, grade, value_tier, risk_level, lifecycle_stage, pii_level, external_ref,
    attributes, source, created_at, updated_at
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)
"""


async def insert_customer(
    conn: Conn,
    *,
    customer_id: uuid.UUID,
    display_name: str | None,
    source: str,
    now: datetime,
    grade: str = "basic",
    value_tier: str | None = None,
    risk_level: str | None = None,
    lifecycle_stage: str | None = None,
    pii_level: str = "general",
    external_ref: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        INSERT_CUSTOMER,
        customer_id,
        display_name,
        grade,
        value_tier,
        risk_level,
        lifecycle_stage,
        pii_level,
        external_ref,
        attributes or {},
        source,
        now,
    )


LINK_IDENTITIES = """
INSERT INTO customer_identity (kind, value, customer_id, valid, source, created_at)
SELECT kind, value, $4, valid, $5, $6 FROM unnest($1::text[], $2::text[], $3::boolean[]) AS t(kind, value, valid)
ON CONFLICT (kind, value) DO NOTHING
"""


async def link_identities(
    conn: Conn, *, customer_id: uuid.UUID, identities: Sequence[Identity], source: str, now: datetime
) -> int:
    """How many were linked; an identity some customer already has is left where it is."""
    if not identities:
        return 0
    status = await conn.execute(
        LINK_IDENTITIES,
        [i.kind for i in identities],
        [i.value for i in identities],
        [i.valid for i in identities],
        customer_id,
        source,
        now,
    )
    return int(status.rsplit(" ", 1)[-1])


_CUSTOMER_COLUMNS = """
customer_id, display_name, grade, value_tier, risk_level, lifecycle_stage, pii_level, external_ref, attributes,
merged_into, created_at, updated_at
"""
SELECT_CUSTOMER = f"SELECT {_CUSTOMER_COLUMNS} FROM customer WHERE customer_id = $1"  # noqa: S608 — constant columns
SELECT_CUSTOMER_IDENTITIES = (
    "SELECT kind, value, valid FROM customer_identity WHERE customer_id = $1 ORDER BY kind, created_at, value"
)


async def get_customer(conn: Conn, *, customer_id: uuid.UUID) -> Customer | None:
    row = await conn.fetchrow(SELECT_CUSTOMER, customer_id)
    if row is None:
        return None
    identities = await conn.fetch(SELECT_CUSTOMER_IDENTITIES, customer_id)
    return _customer(row, identities)


def _customer(row: asyncpg.Record, identities: Sequence[asyncpg.Record]) -> Customer:
    return Customer(
        customer_id=row["customer_id"],
        display_name=row["display_name"],
        grade=row["grade"],
        value_tier=row["value_tier"],
        risk_level=row["risk_level"],
        lifecycle_stage=row["lifecycle_stage"],
        pii_level=row["pii_level"],
        external_ref=row["external_ref"],
        attributes=row["attributes"],
        identities=tuple(Identity(r["kind"], r["value"], valid=r["valid"]) for r in identities),
        merged_into=row["merged_into"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


SELECT_ATTRIBUTES = """
SELECT grade, value_tier, risk_level, lifecycle_stage, pii_level, attributes->>'routing_pool' AS routing_pool,
       attributes->>'time_zone' AS time_zone
FROM customer WHERE customer_id = $1
"""


async def customer_attributes(conn: Conn, *, customer_id: uuid.UUID) -> dict[str, str]:
    """Grade and tiers, the routing pool and time zone (what rules and events carry); no PII."""
    row = await conn.fetchrow(SELECT_ATTRIBUTES, customer_id)
    if row is None:
        return {"grade": "basic"}
    return {k: v for k, v in dict(row).items() if v}


SELECT_BY_IDENTITY = """
SELECT COALESCE(c.merged_into, c.customer_id) AS customer_id
FROM customer_identity i JOIN customer c ON c.customer_id = i.customer_id
WHERE i.kind = $1 AND i.value = $2
"""


async def customer_by_identity(conn: Conn, *, identity: Identity) -> uuid.UUID | None:
    value = await conn.fetchval(SELECT_BY_IDENTITY, identity.kind, identity.value)
    return value if isinstance(value, uuid.UUID) else None


SELECT_BY_EXTERNAL_REF = "SELECT customer_id FROM customer WHERE external_ref = $1"


async def customer_by_external_ref(conn: Conn, *, external_ref: str) -> uuid.UUID | None:
    value = await conn.fetchval(SELECT_BY_EXTERNAL_REF, external_ref)
    return value if isinstance(value, uuid.UUID) else None


UPDATE_CUSTOMER = """
UPDATE customer SET
    display_name = COALESCE($2, display_name),
    grade = COALESCE($3, grade),
    value_tier = COALESCE($4, value_tier),
    risk_level = COALESCE($5, risk_level),
    lifecycle_stage = COALESCE($6, lifecycle_stage),
    pii_level = COALESCE($7, pii_level),
    external_ref = COALESCE($8, external_ref),
    attributes = CASE WHEN $9::jsonb IS NULL THEN attributes ELSE attributes || $9::jsonb END,
    updated_at = $10
WHERE customer_id = $1
"""


async def update_customer(
    conn: Conn,
    *,
    customer_id: uuid.UUID,
    values: dict[str, Any],
    now: datetime,
) -> bool:
    status = await conn.execute(
        UPDATE_CUSTOMER,
        customer_id,
        values.get("display_name"),
        values.get("grade"),
        values.get("value_tier"),
        values.get("risk_level"),
        values.get("lifecycle_stage"),
        values.get("pii_level"),
        values.get("external_ref"),
        values.get("attributes"),
        now,
    )
    return bool(status == "UPDATE 1")


SELECT_IDENTITY_OWNERS = """
SELECT kind, value, customer_id FROM customer_identity
WHERE (kind, value) IN (SELECT * FROM unnest($1::text[], $2::text[]))
"""


async def identity_owners(conn: Conn, *, identities: Sequence[Identity]) -> dict[tuple[str, str], uuid.UUID]:
    """Owners as stored (merges not followed): for admin edits that must not steal another's identity."""
    if not identities:
        return {}
    rows = await conn.fetch(SELECT_IDENTITY_OWNERS, [i.kind for i in identities], [i.value for i in identities])
    return {(r["kind"], r["value"]): r["customer_id"] for r in rows}


MOVE_IDENTITIES = """
UPDATE customer_identity SET customer_id = $2 WHERE customer_id = $1 RETURNING kind, value
"""


async def move_identities(conn: Conn, *, from_id: uuid.UUID, to_id: uuid.UUID) -> list[tuple[str, str]]:
    rows = await conn.fetch(MOVE_IDENTITIES, from_id, to_id)
    return [(r["kind"], r["value"]) for r in rows]


RETURN_IDENTITIES = """
UPDATE customer_identity SET customer_id = $3
WHERE customer_id = $4 AND (kind, value) IN (SELECT * FROM unnest($1::text[], $2::text[]))
"""


async def return_identities(
    conn: Conn, *, identities: Sequence[tuple[str, str]], from_id: uuid.UUID, to_id: uuid.UUID
) -> None:
    await conn.execute(RETURN_IDENTITIES, [k for k, _ in identities], [v for _, v in identities], to_id, from_id)


SET_MERGED_INTO = "UPDATE customer SET merged_into = $2, updated_at = $3 WHERE customer_id = $1"


async def set_merged_into(conn: Conn, *, customer_id: uuid.UUID, into: uuid.UUID | None, now: datetime) -> None:
    await conn.execute(SET_MERGED_INTO, customer_id, into, now)


INSERT_MERGE = """
INSERT INTO customer_merge (customer_merge_id, surviving_id, merged_id, identities, reason, merged_by, merged_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""


async def insert_merge(
    conn: Conn,
    *,
    merge_id: uuid.UUID,
    surviving_id: uuid.UUID,
    merged_id: uuid.UUID,
    identities: Sequence[tuple[str, str]],
    reason: str,
    by: str,
    now: datetime,
) -> None:
    await conn.execute(
        INSERT_MERGE, merge_id, surviving_id, merged_id, [list(i) for i in identities], reason, by, now
    )


SELECT_OPEN_MERGE = """
SELECT customer_merge_id, identities FROM customer_merge
WHERE surviving_id = $1 AND merged_id = $2 AND undone_at IS NULL
ORDER BY merged_at DESC LIMIT 1
FOR UPDATE
"""
UNDO_MERGE = "UPDATE customer_merge SET undone_by = $2, undone_at = $3 WHERE customer_merge_id = $1"


async def undo_merge(
    conn: Conn, *, surviving_id: uuid.UUID, merged_id: uuid.UUID, by: str, now: datetime
) -> list[tuple[str, str]] | None:
    """Mark the latest merge of the pair undone; the identities it moved, or None if there is none."""
    row = await conn.fetchrow(SELECT_OPEN_MERGE, surviving_id, merged_id)
    if row is None:
        return None
    await conn.execute(UNDO_MERGE, row["customer_merge_id"], by, now)
    return [(k, v) for k, v in row["identities"]]


# --- bulk (imports) -------------------------------------------------------------------------------------------

SELECT_BY_EXTERNAL_REFS = "SELECT external_ref, customer_id FROM customer WHERE external_ref = ANY($1::text[])"


async def customers_by_external_refs(conn: Conn, *, refs: Sequence[str]) -> dict[str, uuid.UUID]:
    if not refs:
        return {}
    return {r["external_ref"]: r["customer_id"] for r in await conn.fetch(SELECT_BY_EXTERNAL_REFS, list(refs))}


INSERT_CUSTOMERS = """
INSERT INTO customer (
    customer_id, display_name, grade, value_tier, risk_level, lifecycle_stage, pii_level, external_ref,
    attributes, source, created_at, updated_at
)
SELECT id, name, grade, value_tier, risk_level, lifecycle_stage, pii_level, external_ref, attributes, $10, $11, $11
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
            $9::jsonb[])
     AS t(id, name, grade, value_tier, risk_level, lifecycle_stage, pii_level, external_ref, attributes)
"""


async def insert_customers(
    conn: Conn, *, rows: Sequence[tuple[uuid.UUID, dict[str, Any]]], source: str, now: datetime
) -> None:
    """Many new customers in one statement; each row's values as `update_customer` takes them."""
    if not rows:
        return
    await conn.execute(
        INSERT_CUSTOMERS,
        [customer_id for customer_id, _ in rows],
        [v.get("display_name") for _, v in rows],
        [v.get("grade") or "basic" for _, v in rows],
        [v.get("value_tier") for _, v in rows],
        [v.get("risk_level") for _, v in rows],
        [v.get("lifecycle_stage") for _, v in rows],
        [v.get("pii_level") or "general" for _, v in rows],
        [v.get("external_ref") for _, v in rows],
        [v.get("attributes") or {} for _, v in rows],
        source,
        now,
    )


LINK_MANY = """
INSERT INTO customer_identity (kind, value, customer_id, valid, source, created_at)
SELECT kind, value, customer_id, true, $4, $5
FROM unnest($1::text[], $2::text[], $3::uuid[]) AS t(kind, value, customer_id)
ON CONFLICT (kind, value) DO NOTHING
"""


async def link_many(
    conn: Conn, *, links: Sequence[tuple[uuid.UUID, Identity]], source: str, now: datetime
) -> None:
    if links:
        await conn.execute(
            LINK_MANY, [i.kind for _, i in links], [i.value for _, i in links], [c for c, _ in links], source, now
        )


async def update_customers(conn: Conn, *, rows: Sequence[tuple[uuid.UUID, dict[str, Any]]], now: datetime) -> None:
    if rows:
        await conn.executemany(
            UPDATE_CUSTOMER,
            [
                (
                    customer_id,
                    v.get("display_name"),
                    v.get("grade"),
                    v.get("value_tier"),
                    v.get("risk_level"),
                    v.get("lifecycle_stage"),
                    v.get("pii_level"),
                    v.get("external_ref"),
                    v.get("attributes"),
                    now,
                )
                for customer_id, v in rows
            ],
        )


# A new customer and its identities in one statement; the count says how many identities were still free.
INSERT_CUSTOMER_WITH_IDENTITIES = """
WITH new_customer AS (
    INSERT INTO customer (customer_id, display_name, grade, pii_level, source, created_at, updated_at)
    VALUES ($1, $2, 'basic', 'general', $3, $4, $4)
    RETURNING customer_id
), linked AS (
    INSERT INTO customer_identity (kind, value, customer_id, valid, source, created_at)
    SELECT t.kind, t.value, new_customer.customer_id, t.valid, $3, $4
    FROM new_customer, unnest($5::text[], $6::text[], $7::boolean[]) AS t(kind, value, valid)
    ON CONFLICT (kind, value) DO NOTHING
    RETURNING 1
)
SELECT count(*) FROM linked
"""


@dataclass(frozen=True)
class NewCustomer:
    """A `basic` customer met on a channel, with the identities it was met by."""

    customer_id: uuid.UUID
    display_name: str | None
    identities: Sequence[Identity]
    source: str
    now: datetime


def _customer_args(new: NewCustomer) -> tuple[Any, ...]:
    return (
        new.customer_id,
        new.display_name,
        new.source,
        new.now,
        [i.kind for i in new.identities],
        [i.value for i in new.identities],
        [i.valid for i in new.identities],
    )


async def insert_customers_with_identities(conn: Conn, *, customers: Sequence[NewCustomer]) -> list[int]:
    """Per customer, how many of its identities it got (another customer may hold one); many customers in one
    round trip (pipelined)."""
    if len(customers) == 1:
        return [int(await conn.fetchval(INSERT_CUSTOMER_WITH_IDENTITIES, *_customer_args(customers[0])))]
    if not customers:
        return []
    rows = await conn.fetchmany(INSERT_CUSTOMER_WITH_IDENTITIES, [_customer_args(c) for c in customers])
    return [int(row[0]) for row in rows]


LIST_CUSTOMERS = f"""
SELECT {_CUSTOMER_COLUMNS} FROM customer
WHERE merged_into IS NULL
  AND ($1::text IS NULL OR grade = $1)
  AND ($2::uuid IS NULL OR customer_id > $2)
ORDER BY customer_id
LIMIT $3
"""  # noqa: S608 — constant columns
SELECT_IDENTITIES_OF = """
SELECT customer_id, kind, value, valid FROM customer_identity WHERE customer_id = ANY($1::uuid[])
ORDER BY kind, created_at, value
"""


async def list_customers(conn: Conn, *, grade: str | None, after: uuid.UUID | None, limit: int) -> list[Customer]:
    """A page of customers (merged ones left out) in id order; `after` is the last id of the previous page."""
    rows = await conn.fetch(LIST_CUSTOMERS, grade, after, limit)
    identities: dict[uuid.UUID, list[asyncpg.Record]] = {}
    for row in await conn.fetch(SELECT_IDENTITIES_OF, [r["customer_id"] for r in rows]):
        identities.setdefault(row["customer_id"], []).append(row)
    return [_customer(row, identities.get(row["customer_id"], [])) for row in rows]
