"""The customer directory's values: a customer with grade and attributes, and rows of a bulk import."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.intake.domain.identity import Identity, InvalidIdentity, namespaced, normalise_email, normalise_phone

GRADES = ("strategic", "key", "basic")
ATTRIBUTE_VALUES: Mapping[str, tuple[str, ...]] = {
    "value_tier": ("high", "mid", "low"),
    "risk_level": ("high", "mid", "low"),
    "lifecycle_stage": ("prospect", "new", "growing", "mature", "declining", "churned"),
    "pii_level": ("important", "general"),
}


@dataclass(frozen=True)
class Customer:
    customer_id: uuid.UUID
    display_name: str | None
    grade: str
    value_tier: str | None
    risk_level: str | None
    lifecycle_stage: str | None
    pii_level: str
    external_ref: str | None
    attributes: Mapping[str, Any]
    identities: tuple[Identity, ...]
    merged_into: uuid.UUID | None
    created_at: datetime
    updated_at: datetime

    def rule_attributes(self) -> dict[str, str]:
        """What classification rules and events see: the grade and tiers, never PII."""
        values = {
            "grade": self.grade,
            "value_tier": self.value_tier,
            "risk_level": self.risk_level,
            "lifecycle_stage": self.lifecycle_stage,
            "pii_level": self.pii_level,
        }
        return {k: v for k, v in values.items() if v}


def tracked_reason(attributes: Mapping[str, Any]) -> str | None:
    """Why a contact of this customer is registered for tracking, or None: 002 §2.2 gives high-risk customers
    (高风险客户) special registration and tracking (RULES.md, Customers and grades), every contact of theirs."""
    return "risk_level:high" if attributes.get("risk_level") == "high" else None


class InvalidCustomer(ValueError):
    pass


@dataclass(frozen=True)
class CustomerInput:
    """A customer as an admin or an import gives it; None means "leave as is" on update."""

    display_name: str | None = None
    grade: str | None = None
    value_tier: str | None = None
    risk_level: str | None = None
    lifecycle_stage: str | None = None
    pii_level: str | None = None
    external_ref: str | None = None
    attributes: Mapping[str, Any] | None = None
    identities: tuple[Identity, ...] = field(default=())


def validate_fields(values: Mapping[str, Any]) -> None:
    grade = values.get("grade")
    if grade is not None and grade not in GRADES:
        raise InvalidCustomer(f"grade: {grade!r} is not one of {', '.join(GRADES)}")
    for name, allowed in ATTRIBUTE_VALUES.items():
        value = values.get(name)
        if value is not None and value not in allowed:
            raise InvalidCustomer(f"{name}: {value!r} is not one of {', '.join(allowed)}")


def identities_from(
    *,
    phones: list[str],
    emails: list[str],
    chat_ids: list[str],
    social_ids: list[str],
    region: str,
) -> tuple[Identity, ...]:
    """Identities an admin typed: an invalid phone or address is an error here, not a flag."""
    found: list[Identity] = []
    for phone in phones:
        try:
            identity = normalise_phone(phone, region=region)
        except InvalidIdentity as exc:
            raise InvalidCustomer(f"phones: {phone!r}: {exc}") from exc
        if not identity.valid:
            raise InvalidCustomer(f"phones: {phone!r} is not a valid phone number (default region {region})")
        found.append(identity)
    for address in emails:
        try:
            identity = normalise_email(address)
        except InvalidIdentity as exc:
            raise InvalidCustomer(f"emails: {address!r}: {exc}") from exc
        if not identity.valid:
            raise InvalidCustomer(f"emails: {address!r} is not a valid e-mail address")
        found.append(identity)
    for kind, values in (("chat", chat_ids), ("social", social_ids)):
        for value in values:
            platform, _, ident = value.partition(":")
            try:
                found.append(namespaced(kind, platform if ident else None, ident or platform))  # type: ignore[arg-type]
            except InvalidIdentity as exc:
                raise InvalidCustomer(f"{kind}_ids: {exc}") from exc
    return tuple(dict.fromkeys(found))


# --- bulk import -------------------------------------------------------------------------------------------

IMPORT_COLUMNS = (
    "external_ref",
    "name",
    "grade",
    "value_tier",
    "risk_level",
    "lifecycle_stage",
    "pii_level",
    "phones",
    "emails",
    "chat_ids",
    "social_ids",
)


@dataclass(frozen=True)
class ImportRow:
    line: int
    customer: CustomerInput


@dataclass(frozen=True)
class ImportError_:
    line: int
    error: str


def read_import(body: bytes, *, content_type: str, region: str) -> Iterator[ImportRow | ImportError_]:
    """Rows of a CSV (header line, `;`-separated lists in a cell) or JSON-lines import, each valid or an error."""
    text = body.decode("utf-8-sig", errors="replace")
    if "json" in content_type:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield ImportError_(number, f"not JSON: {exc.msg} at column {exc.colno}")
                continue
            except RecursionError:
                yield ImportError_(number, "JSON nested too deeply")
                continue
            if not isinstance(record, dict):
                yield ImportError_(number, "each line must be a JSON object")
                continue
            yield _row(number, record, region)
        return
    reader = csv.DictReader(io.StringIO(text))
    try:
        unknown = [c for c in reader.fieldnames or () if c and c.strip() not in IMPORT_COLUMNS]
        if unknown:
            yield ImportError_(1, f"unknown column(s) {unknown}; known: {', '.join(IMPORT_COLUMNS)}")
            return
        for record in reader:
            row = {k.strip(): v for k, v in record.items() if k}
            yield _row(reader.line_num, row, region)
    except csv.Error as exc:  # a field past the csv module's limit (128 KiB), a NUL byte, a broken quote
        yield ImportError_(max(reader.line_num, 1), f"not CSV from here on: {exc}")


def _row(line: int, record: Mapping[str, Any], region: str) -> ImportRow | ImportError_:
    def listed(name: str) -> list[str]:
        value = record.get(name)
        if value is None or value == "":
            return []
        if isinstance(value, list):
            return [str(v).strip() for v in value if str(v).strip()]
        return [part.strip() for part in str(value).replace(",", ";").split(";") if part.strip()]

    def text(name: str) -> str | None:
        value = record.get(name)
        return str(value).strip() or None if value is not None else None

    values = {name: text(name) for name in ("grade", *ATTRIBUTE_VALUES)}
    try:
        validate_fields(values)
        identities = identities_from(
            phones=listed("phones"),
            emails=listed("emails"),
            chat_ids=listed("chat_ids"),
            social_ids=listed("social_ids"),
            region=region,
        )
    except InvalidCustomer as exc:
        return ImportError_(line, str(exc))
    external_ref = text("external_ref")
    if not external_ref and not identities:
        return ImportError_(line, "a row needs an external_ref or at least one identity to upsert on")
    attributes = record.get("attributes")
    return ImportRow(
        line,
        CustomerInput(
            display_name=text("name"),
            external_ref=external_ref,
            identities=identities,
            attributes=attributes if isinstance(attributes, dict) else None,
            **values,
        ),
    )
