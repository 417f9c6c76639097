"""The customer directory's use cases: create, update, bulk import (upsert), merge and undo; all audited."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.intake.domain.customer import (
    Customer,
    CustomerInput,
    ImportError_,
    ImportRow,
    InvalidCustomer,
    tracked_reason,
)
from services.intake.domain.identity import Identity
from services.intake.handlers.common import SOURCE, Tx
from services.intake.repository import customers, tracked
from shared.audit import record
from shared.db import Conn
from shared.events import CustomerMergedV1, CustomerUnmergedV1
from shared.outbox import enqueue


class CustomerNotFound(LookupError):
    pass


class IdentityTaken(ValueError):
    """An identity given for one customer already belongs to another: merging is a separate, explicit act."""


def _values(data: CustomerInput) -> dict[str, Any]:
    return {
        "display_name": data.display_name,
        "grade": data.grade,
        "value_tier": data.value_tier,
        "risk_level": data.risk_level,
        "lifecycle_stage": data.lifecycle_stage,
        "pii_level": data.pii_level,
        "external_ref": data.external_ref,
        "attributes": dict(data.attributes) if data.attributes is not None else None,
    }


async def create_customer(tx: Tx, data: CustomerInput, *, actor: str) -> Customer:
    await _check_identities_free(tx.conn, data.identities, owner=None)
    if data.external_ref and await customers.customer_by_external_ref(tx.conn, external_ref=data.external_ref):
        raise IdentityTaken(f"external_ref {data.external_ref!r} already belongs to another customer")
    customer_id = uuid.uuid4()
    await _insert(tx.conn, customer_id, data, source=f"admin:{actor}", now=tx.now)
    await record(
        tx.conn,
        actor=actor,
        action="customer.create",
        target=f"customer:{customer_id}",
        detail={"fields": _audit_fields(data)},
        at=tx.now,
    )
    customer = await customers.get_customer(tx.conn, customer_id=customer_id)
    assert customer is not None
    return customer


async def _insert(conn: Conn, customer_id: uuid.UUID, data: CustomerInput, *, source: str, now: datetime) -> None:
    values = _values(data)
    await customers.insert_customer(
        conn,
        customer_id=customer_id,
        display_name=values["display_name"],
        source=source,
        now=now,
        grade=values["grade"] or "basic",
        value_tier=values["value_tier"],
        risk_level=values["risk_level"],
        lifecycle_stage=values["lifecycle_stage"],
        pii_level=values["pii_level"] or "general",
        external_ref=values["external_ref"],
        attributes=values["attributes"],
    )
    await customers.link_identities(
        conn, customer_id=customer_id, identities=data.identities, source=source, now=now
    )


async def update_customer(tx: Tx, customer_id: uuid.UUID, data: CustomerInput, *, actor: str) -> Customer:
    if not await customers.update_customer(tx.conn, customer_id=customer_id, values=_values(data), now=tx.now):
        raise CustomerNotFound(str(customer_id))
    await _check_identities_free(tx.conn, data.identities, owner=customer_id)
    await customers.link_identities(
        tx.conn, customer_id=customer_id, identities=data.identities, source=f"admin:{actor}", now=tx.now
    )
    await _track_open_contacts(tx.conn, [(customer_id, _values(data))], now=tx.now)
    await record(
        tx.conn,
        actor=actor,
        action="customer.update",
        target=f"customer:{customer_id}",
        detail={"fields": _audit_fields(data)},
        at=tx.now,
    )
    customer = await customers.get_customer(tx.conn, customer_id=customer_id)
    assert customer is not None
    return customer


async def _track_open_contacts(
    conn: Conn, changed: list[tuple[uuid.UUID, dict[str, Any]]], *, now: datetime
) -> None:
    """A customer who becomes high-risk has their open contacts registered at once, not only their next ones."""
    by_reason: dict[str, list[uuid.UUID]] = {}
    for customer_id, values in changed:
        reason = tracked_reason(values)
        if reason is not None:
            by_reason.setdefault(reason, []).append(customer_id)
    for reason, customer_ids in by_reason.items():
        await tracked.register_open_contacts(conn, customer_ids=customer_ids, reason=reason, now=now)


def _audit_fields(data: CustomerInput) -> dict[str, Any]:
    """Which fields changed and to what, identities counted but not written out (the audit log is no PII store)."""
    fields = {k: v for k, v in _values(data).items() if v is not None and k != "display_name"}
    if data.display_name is not None:
        fields["display_name"] = "(changed)"
    if data.identities:
        fields["identities_added"] = len(data.identities)
    return fields


async def _check_identities_free(conn: Conn, identities: tuple[Identity, ...], *, owner: uuid.UUID | None) -> None:
    owners = await customers.identity_owners(conn, identities=identities)
    for identity in identities:
        holder = owners.get((identity.kind, identity.value))
        if holder is not None and holder != owner:
            raise IdentityTaken(f"the {identity.kind} identity given already belongs to customer {holder}")


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


async def import_customers(tx: Tx, rows: list[ImportRow | ImportError_], *, actor: str) -> ImportReport:
    """Upsert every valid row in one transaction: matched by external_ref, else by any identity; a row whose
    identities belong to another customer than the one it matches is reported with its line and skipped.
    Lookups and writes are a handful of set-based statements, whatever the row count."""
    report = ImportReport()
    valid = [r for r in rows if isinstance(r, ImportRow)]
    report.errors = [{"line": r.line, "error": r.error} for r in rows if isinstance(r, ImportError_)]
    source = f"import:{actor}"
    refs = await customers.customers_by_external_refs(
        tx.conn, refs=[r.customer.external_ref for r in valid if r.customer.external_ref]
    )
    owners = await customers.identity_owners(tx.conn, identities=[i for r in valid for i in r.customer.identities])
    inserts: list[tuple[uuid.UUID, dict[str, Any]]] = []
    updates: list[tuple[uuid.UUID, dict[str, Any]]] = []
    links: list[tuple[uuid.UUID, Identity]] = []
    for row in valid:
        data = row.customer
        holders = {owners[(i.kind, i.value)] for i in data.identities if (i.kind, i.value) in owners}
        target = refs.get(data.external_ref) if data.external_ref else None
        if target is None and len(holders) == 1:
            target = next(iter(holders))
        if holders - {target}:
            report.errors.append(
                {
                    "line": row.line,
                    "error": "the row's identities belong to another customer; merge them first",
                }
            )
            continue
        values = _values(data)
        if target is None:
            target = uuid.uuid4()
            inserts.append((target, values))
            report.created += 1
        else:
            updates.append((target, values))
            report.updated += 1
        if data.external_ref:
            refs[data.external_ref] = target
        for identity in data.identities:
            if (identity.kind, identity.value) not in owners:
                owners[(identity.kind, identity.value)] = target
                links.append((target, identity))
    await customers.insert_customers(tx.conn, rows=inserts, source=source, now=tx.now)
    await customers.update_customers(tx.conn, rows=updates, now=tx.now)
    await customers.link_many(tx.conn, links=links, source=source, now=tx.now)
    await _track_open_contacts(tx.conn, updates, now=tx.now)
    await record(
        tx.conn,
        actor=actor,
        action="customer.import",
        target="customer:*",
        detail={"created": report.created, "updated": report.updated, "errors": len(report.errors)},
        at=tx.now,
    )
    report.errors.sort(key=lambda e: int(e["line"]))
    return report


async def merge_customers(
    tx: Tx, *, surviving_id: uuid.UUID, merged_id: uuid.UUID, reason: str, actor: str
) -> None:
    """Move every identity of `merged_id` to `surviving_id`; the merged customer answers for the survivor."""
    if surviving_id == merged_id:
        raise InvalidCustomer("a customer cannot be merged into itself")
    for customer_id in (surviving_id, merged_id):
        found = await customers.get_customer(tx.conn, customer_id=customer_id)
        if found is None:
            raise CustomerNotFound(str(customer_id))
        if found.merged_into is not None:
            raise InvalidCustomer(f"customer {customer_id} is already merged into {found.merged_into}")
    moved = await customers.move_identities(tx.conn, from_id=merged_id, to_id=surviving_id)
    await customers.set_merged_into(tx.conn, customer_id=merged_id, into=surviving_id, now=tx.now)
    await customers.insert_merge(
        tx.conn,
        merge_id=uuid.uuid4(),
        surviving_id=surviving_id,
        merged_id=merged_id,
        identities=moved,
        reason=reason,
        by=actor,
        now=tx.now,
    )
    await record(
        tx.conn,
        actor=actor,
        action="customer.merge",
        target=f"customer:{surviving_id}",
        detail={"merged_id": str(merged_id), "identities_moved": len(moved), "reason": reason},
        at=tx.now,
    )
    await enqueue(
        tx.conn,
        CustomerMergedV1(
            surviving_customer_id=surviving_id, merged_customer_id=merged_id, by=actor, reason=reason
        ),
        source=SOURCE,
        subject=str(surviving_id),
        now=tx.now,
    )


async def unmerge_customers(
    tx: Tx, *, surviving_id: uuid.UUID, merged_id: uuid.UUID, reason: str, actor: str
) -> None:
    """Undo the latest merge of the pair: the identities it moved go back, the merged customer stands alone."""
    moved = await customers.undo_merge(
        tx.conn, surviving_id=surviving_id, merged_id=merged_id, by=actor, now=tx.now
    )
    if moved is None:
        raise CustomerNotFound(f"no merge of {merged_id} into {surviving_id} to undo")
    await customers.return_identities(tx.conn, identities=moved, from_id=surviving_id, to_id=merged_id)
    await customers.set_merged_into(tx.conn, customer_id=merged_id, into=None, now=tx.now)
    await record(
        tx.conn,
        actor=actor,
        action="customer.unmerge",
        target=f"customer:{surviving_id}",
        detail={"merged_id": str(merged_id), "identities_returned": len(moved), "reason": reason},
        at=tx.now,
    )
    await enqueue(
        tx.conn,
        CustomerUnmergedV1(
            surviving_customer_id=surviving_id, merged_customer_id=merged_id, by=actor, reason=reason
        ),
        source=SOURCE,
        subject=str(surviving_id),
        now=tx.now,
    )
