"""The customer directory: create, read, update, look up by identity, bulk import, merge and unmerge."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from services.intake.api.bodies import IMPORT_BODY
from services.intake.api.common import IntakeState, media_type, transaction
from services.intake.api.contacts import ContactPage, page_of
from services.intake.api.models import (
    LOOKUP_EXAMPLES,
    CustomerBrief,
    CustomerOut,
    CustomerPage,
    ImportReport,
    Merged,
)
from services.intake.domain.customer import (
    Customer,
    CustomerInput,
    InvalidCustomer,
    identities_from,
    read_import,
    validate_fields,
)
from services.intake.domain.identity import namespaced, normalise_email, normalise_phone
from services.intake.handlers import directory
from services.intake.handlers.reads import customers_page
from services.intake.repository import customers
from services.intake.repository.search import Filters, owns_contact_of
from services.intake.state import Intake
from shared.audit import record
from shared.auth import Principal, authenticate, require_roles
from shared.errors import Problem
from shared.openapi import example
from shared.tx import Actor

router = APIRouter(prefix="/v1/customers", tags=["customers"])

READERS = require_roles("agent", "supervisor", "admin")
WRITERS = require_roles("admin", "supervisor")
DIRECTORY = require_roles("supervisor", "admin")
"""Paging through the directory: never agents (RULES.md security: customer data by need)."""


class CustomerIn(BaseModel):
    model_config = ConfigDict(extra="forbid") | example(
        name="王芳",
        grade="key",
        value_tier="high",
        pii_level="general",
        external_ref="CRM-10086",
        phones=["+8613800138000"],
        emails=["wang.fang@example.cn"],
    )

    name: str | None = Field(default=None, max_length=200)
    grade: str | None = None
    value_tier: str | None = None
    risk_level: str | None = None
    lifecycle_stage: str | None = None
    pii_level: str | None = None
    external_ref: str | None = Field(default=None, max_length=200)
    attributes: dict[str, Any] | None = None
    phones: list[str] = Field(default_factory=list, max_length=20)
    emails: list[str] = Field(default_factory=list, max_length=20)
    chat_ids: list[str] = Field(default_factory=list, max_length=20)
    """`platform:id`, e.g. `web:visitor-17`."""
    social_ids: list[str] = Field(default_factory=list, max_length=20)
    """`platform:id`, e.g. `wechat:wxid_abc`."""


def _input(body: CustomerIn, region: str) -> CustomerInput:
    values = body.model_dump(include={"grade", "value_tier", "risk_level", "lifecycle_stage", "pii_level"})
    try:
        validate_fields(values)
        identities = identities_from(
            phones=body.phones,
            emails=body.emails,
            chat_ids=body.chat_ids,
            social_ids=body.social_ids,
            region=region,
        )
    except InvalidCustomer as exc:
        raise Problem(422, "Validation failed", str(exc), kind="validation") from exc
    return CustomerInput(
        display_name=body.name,
        external_ref=body.external_ref,
        attributes=body.attributes,
        identities=identities,
        **values,
    )


def _out(customer: Customer) -> dict[str, Any]:
    return {
        "customer_id": str(customer.customer_id),
        "name": customer.display_name,
        "grade": customer.grade,
        "value_tier": customer.value_tier,
        "risk_level": customer.risk_level,
        "lifecycle_stage": customer.lifecycle_stage,
        "pii_level": customer.pii_level,
        "external_ref": customer.external_ref,
        "attributes": dict(customer.attributes),
        "identities": [{"kind": i.kind, "value": i.value, "valid": i.valid} for i in customer.identities],
        "merged_into": str(customer.merged_into) if customer.merged_into else None,
        "created_at": customer.created_at.isoformat(),
        "updated_at": customer.updated_at.isoformat(),
    }


@router.post(
    "", status_code=201, summary="Create a customer", response_model=None, responses={201: {"model": CustomerOut}}
)
async def create(
    body: CustomerIn, intake: IntakeState, principal: Annotated[Principal, Depends(WRITERS)]
) -> dict[str, Any]:
    data = _input(body, intake.settings.default_region)
    try:
        async with transaction(intake) as tx:
            customer = await directory.create_customer(tx, data, actor=principal.subject)
    except directory.IdentityTaken as exc:
        raise Problem(409, "Conflict", str(exc)) from exc
    return _out(customer)


@router.get(
    "",
    summary="Customers page by page, optionally of one grade",
    response_model=None,
    responses={200: {"model": CustomerPage}},
)
async def list_page(
    intake: IntakeState,
    principal: Annotated[Principal, Depends(DIRECTORY)],
    grade: Annotated[str | None, Query(pattern="^(strategic|key|basic)$")] = None,
    after: Annotated[uuid.UUID | None, Query(description="the last customer_id of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    async with transaction(intake) as tx:
        page = await customers_page(
            tx, grade=grade, after=after, limit=limit, actor=Actor(principal.role, principal.subject)
        )
    return {
        "customers": [_out(c) for c in page],
        "next_after": str(page[-1].customer_id) if len(page) == limit else None,
    }


@router.get(
    "/lookup",
    summary="Find the customer behind a phone number, e-mail address or chat id",
    response_model=None,
    responses={
        200: {"model": CustomerOut | CustomerBrief, "content": {"application/json": {"examples": LOOKUP_EXAMPLES}}}
    },
)
async def lookup(
    request: Request,
    intake: IntakeState,
    principal: Annotated[Principal, Depends(authenticate)],
    phone: Annotated[str | None, Query(max_length=64)] = None,
    email: Annotated[str | None, Query(max_length=320)] = None,
    chat_id: Annotated[str | None, Query(max_length=250, description="`platform:id`")] = None,
) -> dict[str, Any]:
    if principal.role not in ("adapter", "agent", "supervisor", "admin"):
        raise Problem(403, "Forbidden", f"role {principal.role!r} may not look customers up")
    given = [(k, v) for k, v in (("phone", phone), ("email", email), ("chat_id", chat_id)) if v]
    if len(given) != 1:
        raise Problem(422, "Validation failed", "give exactly one of phone, email or chat_id", kind="validation")
    kind, value = given[0]
    if kind == "phone":
        identity = normalise_phone(value, region=intake.settings.default_region)
    elif kind == "email":
        identity = normalise_email(value)
    else:
        platform, _, ident = value.partition(":")
        identity = namespaced("chat", platform if ident else None, ident or platform)
    async with intake.pool.acquire() as conn:
        customer_id = await customers.customer_by_identity(conn, identity=identity)
        customer = await customers.get_customer(conn, customer_id=customer_id) if customer_id else None
        owner = (
            customer is not None
            and principal.role == "agent"
            and await owns_contact_of(conn, customer_id=customer.customer_id, agent_id=principal.subject)
        )
    if customer is None:
        raise Problem(404, "Not found", f"no customer has this {kind}")
    if principal.role == "adapter":
        # An adapter learns whom it is talking to (to route a call, greet a known customer), not their record.
        return {"customer_id": str(customer.customer_id), "grade": customer.grade}
    if principal.role == "agent" and not owner:
        return _masked(customer)
    await _audit_read(request, intake, principal, customer)
    return _out(customer)


def _mask(value: str) -> str:
    if "@" in value:
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    return value[:4] + "*" * max(0, len(value) - 8) + value[-4:] if len(value) > 8 else "*" * len(value)


def _masked(customer: Customer) -> dict[str, Any]:
    """What an agent who does not own one of the customer's contacts sees: who, not how to reach them."""
    out = _out(customer)
    out["name"] = (customer.display_name or "")[:1] + "*" if customer.display_name else None
    out["identities"] = [{**i, "value": _mask(i["value"])} for i in out["identities"]]
    out["attributes"] = {}
    out["masked"] = True
    return out


@router.get(
    "/{customer_id}",
    summary="A customer with grade, attributes and identities",
    response_model=None,
    responses={200: {"model": CustomerOut}},
)
async def read(
    customer_id: uuid.UUID,
    request: Request,
    intake: IntakeState,
    principal: Annotated[Principal, Depends(READERS)],
) -> dict[str, Any]:
    async with intake.pool.acquire() as conn:
        customer = await customers.get_customer(conn, customer_id=customer_id)
        if (
            customer is not None
            and principal.role == "agent"
            and not await owns_contact_of(conn, customer_id=customer_id, agent_id=principal.subject)
        ):
            raise Problem(
                403, "Forbidden", "agents read the customers whose contact they own", kind="not-your-customer"
            )
    if customer is None:
        raise Problem(404, "Not found", f"no customer {customer_id}")
    await _audit_read(request, intake, principal, customer)
    return _out(customer)


async def _audit_read(request: Request, intake: Intake, principal: Principal, customer: Customer) -> None:
    """Reads of a customer whose data is important PII are audited (RULES.md, security)."""
    if customer.pii_level != "important":
        return
    async with intake.pool.acquire() as conn:
        await record(
            conn,
            actor=f"{principal.role}:{principal.subject}",
            action="customer.read",
            target=f"customer:{customer.customer_id}",
            detail={"path": request.url.path},
            at=intake.clock.now(),
        )


@router.patch(
    "/{customer_id}",
    summary="Change grade, attributes or name; add identities",
    response_model=None,
    responses={200: {"model": CustomerOut}},
)
async def update(
    customer_id: uuid.UUID,
    body: CustomerIn,
    intake: IntakeState,
    principal: Annotated[Principal, Depends(WRITERS)],
) -> dict[str, Any]:
    data = _input(body, intake.settings.default_region)
    try:
        async with transaction(intake) as tx:
            customer = await directory.update_customer(tx, customer_id, data, actor=principal.subject)
    except directory.CustomerNotFound as exc:
        raise Problem(404, "Not found", f"no customer {customer_id}") from exc
    except directory.IdentityTaken as exc:
        raise Problem(409, "Conflict", str(exc)) from exc
    return _out(customer)


@router.post(
    "/import",
    summary="Bulk upsert from CSV or JSON lines, with a per-row error report",
    response_model=None,
    responses={200: {"model": ImportReport}},
    openapi_extra=IMPORT_BODY,
)
async def import_customers(
    request: Request, intake: IntakeState, principal: Annotated[Principal, Depends(require_roles("admin"))]
) -> dict[str, Any]:
    kind = media_type(request)
    if kind not in ("text/csv", "application/x-ndjson", "application/jsonl", "application/json-lines"):
        raise Problem(
            415,
            "Unsupported media type",
            f"Content-Type {kind!r}: send text/csv or application/x-ndjson (JSON lines)",
        )
    body = await request.body()
    rows = list(read_import(body, content_type=kind, region=intake.settings.default_region))
    async with transaction(intake) as tx:
        report = await directory.import_customers(tx, rows, actor=principal.subject)
    return {
        "created": report.created,
        "updated": report.updated,
        "rejected": len(report.errors),
        "errors": report.errors,
    }


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid") | example(
        merged_customer_id="7e1d2c3b-4a59-4687-a1b2-c3d4e5f60718",
        reason="same person: duplicate created by the web form",
    )

    merged_customer_id: uuid.UUID
    reason: str = Field(min_length=1, max_length=1000)


@router.post(
    "/{customer_id}/merge",
    summary="Merge another customer into this one (audited, undoable)",
    response_model=None,
    responses={200: {"model": Merged}},
)
async def merge(
    customer_id: uuid.UUID,
    body: MergeIn,
    intake: IntakeState,
    principal: Annotated[Principal, Depends(require_roles("admin"))],
) -> dict[str, Any]:
    try:
        async with transaction(intake) as tx:
            await directory.merge_customers(
                tx,
                surviving_id=customer_id,
                merged_id=body.merged_customer_id,
                reason=body.reason,
                actor=principal.subject,
            )
    except directory.CustomerNotFound as exc:
        raise Problem(404, "Not found", f"no customer {exc}") from exc
    except InvalidCustomer as exc:
        raise Problem(409, "Conflict", str(exc)) from exc
    return {"surviving_customer_id": str(customer_id), "merged_customer_id": str(body.merged_customer_id)}


@router.post(
    "/{customer_id}/unmerge", summary="Undo a merge", response_model=None, responses={200: {"model": Merged}}
)
async def unmerge(
    customer_id: uuid.UUID,
    body: MergeIn,
    intake: IntakeState,
    principal: Annotated[Principal, Depends(require_roles("admin"))],
) -> dict[str, Any]:
    try:
        async with transaction(intake) as tx:
            await directory.unmerge_customers(
                tx,
                surviving_id=customer_id,
                merged_id=body.merged_customer_id,
                reason=body.reason,
                actor=principal.subject,
            )
    except directory.CustomerNotFound as exc:
        raise Problem(404, "Not found", str(exc)) from exc
    return {"surviving_customer_id": str(customer_id), "merged_customer_id": str(body.merged_customer_id)}


@router.get("/{customer_id}/contacts", response_model=ContactPage, summary="The customer's contacts, newest first")
async def customer_contacts(
    customer_id: uuid.UUID,
    intake: IntakeState,
    who: Annotated[Principal, Depends(require_roles("agent", "supervisor", "admin"))],
    after: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ContactPage:
    """The history an agent sees beside a contact: an agent may read it for a customer whose contact they own."""
    if who.role == "agent":
        async with intake.pool.acquire() as conn:
            if not await owns_contact_of(conn, customer_id=customer_id, agent_id=who.subject):
                raise Problem(
                    403, "Forbidden", "agents see the history of customers whose contact they own",
                    kind="not-your-customer",
                )  # fmt: skip
    return await page_of(intake, who, Filters(customer_id=customer_id), after=after, limit=limit)
