"""What intake's OpenAPI document says of the answers its routes build as plain dicts (directory, contact,
classification) and of the conversation's answers: each model is their contract, with an example."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.openapi import example

CUSTOMER_ID = "0b6f3c1e-5a8d-4b1e-9d2a-6f1c2e3d4a5b"
CONTACT_ID = "5d0c7f3a-2b1e-4c8d-9a6f-1e2d3c4b5a69"


class IdentityOut(BaseModel):
    kind: str
    """phone, email, chat or social."""
    value: str
    valid: bool


CUSTOMER_EXAMPLE: dict[str, Any] = dict(
    customer_id=CUSTOMER_ID,
    name="王芳",
    grade="key",
    value_tier="high",
    risk_level="low",
    lifecycle_stage="mature",
    pii_level="general",
    external_ref="CRM-10086",
    attributes={"city": "上海"},
    identities=[{"kind": "phone", "value": "+8613800138000", "valid": True}],
    merged_into=None,
    created_at="2026-12-06T10:00:00+08:00",
    updated_at="2026-12-06T10:00:00+08:00",
)


class CustomerOut(BaseModel):
    model_config = example(**CUSTOMER_EXAMPLE)

    customer_id: str
    name: str | None = None
    grade: str | None = None
    value_tier: str | None = None
    risk_level: str | None = None
    lifecycle_stage: str | None = None
    pii_level: str | None = None
    external_ref: str | None = None
    attributes: dict[str, Any]
    identities: list[IdentityOut]
    merged_into: str | None = None
    created_at: datetime
    updated_at: datetime
    masked: bool | None = None
    """Present (true) when an agent who owns none of the customer's contacts looks them up: name and identities
    masked, no attributes."""


class CustomerBrief(BaseModel):
    """What an adapter learns from a look-up: whom it is talking to, not their record."""

    model_config = example(customer_id=CUSTOMER_ID, grade="strategic")

    customer_id: str
    grade: str | None = None


LOOKUP_EXAMPLES = {
    "person": {"summary": "an agent, supervisor or admin: the record", "value": CUSTOMER_EXAMPLE},
    "adapter": {
        "summary": "an adapter: whom it is talking to",
        "value": {"customer_id": CUSTOMER_ID, "grade": "key"},
    },
}


class CustomerPage(BaseModel):
    model_config = example(customers=[CUSTOMER_EXAMPLE], next_after=None)

    customers: list[CustomerOut]
    next_after: str | None = None
    """The `after` of the next page; null on the last."""


class ImportErrorOut(BaseModel):
    line: int
    error: str


class ImportReport(BaseModel):
    model_config = example(
        created=41, updated=8, rejected=1, errors=[{"line": 17, "error": "phone: not a phone number"}]
    )

    created: int
    updated: int
    rejected: int
    errors: list[ImportErrorOut]


class Merged(BaseModel):
    model_config = example(
        surviving_customer_id=CUSTOMER_ID, merged_customer_id="7e1d2c3b-4a59-4687-a1b2-c3d4e5f60718"
    )

    surviving_customer_id: str
    merged_customer_id: str


class CustomerRef(BaseModel):
    customer_id: str
    grade: str | None = None


class MessageOut(BaseModel):
    message_id: str
    channel: str
    external_id: str | None = None
    """The adapter's id of the message (call id, Message-ID, chat message id)."""
    sender_name: str | None = None
    subject: str | None = None
    text: str
    original: str | None = None
    language: str | None = None
    attachments: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] | None = None
    automatic: bool
    sent_at: datetime | None = None
    received_at: datetime


class ContactOut(BaseModel):
    model_config = example(
        contact_id=CONTACT_ID,
        channel="email",
        customer={"customer_id": CUSTOMER_ID, "grade": "key"},
        subject="账单金额不对",
        language="zh-Hans",
        category="complaint",
        priority_class="complex",
        emergency=False,
        emergency_reasons=[],
        required_skills=["billing"],
        subcategory=None,
        incident_level=None,
        classified_by="rules",
        status="open",
        identity_conflicts=[],
        message_count=1,
        reopen_count=0,
        created_at="2026-12-06T10:00:00+08:00",
        updated_at="2026-12-06T10:00:01+08:00",
        last_message_at="2026-12-06T10:00:00+08:00",
        ended_at=None,
        messages=[
            {
                "message_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
                "channel": "email",
                "external_id": "<CAF1x@mail.example.cn>",
                "sender_name": "王芳",
                "subject": "账单金额不对",
                "text": "十一月的账单多扣了 30 元，请核实。",
                "original": None,
                "language": "zh-Hans",
                "attachments": [],
                "metadata": {},
                "automatic": False,
                "sent_at": "2026-12-06T09:59:40+08:00",
                "received_at": "2026-12-06T10:00:00+08:00",
            }
        ],
    )

    contact_id: str
    channel: str
    customer: CustomerRef
    subject: str | None = None
    language: str | None = None
    category: str | None = None
    priority_class: str | None = None
    emergency: bool
    emergency_reasons: list[str] | None = None
    required_skills: list[str] | None = None
    subcategory: str | None = None
    incident_level: str | None = None
    classified_by: str | None = None
    status: str
    identity_conflicts: list[str]
    message_count: int
    reopen_count: int
    created_at: datetime
    updated_at: datetime
    last_message_at: datetime
    ended_at: datetime | None = None
    messages: list[MessageOut]


class Reclassified(BaseModel):
    model_config = example(
        contact_id=CONTACT_ID,
        by="agent:A-1",
        category="complaint",
        priority_class="urgent",
        emergency=False,
        required_skills=["billing"],
        subcategory="billing/overcharge",
        incident_level=None,
    )

    contact_id: str
    by: str
    category: str
    priority_class: str
    emergency: bool
    required_skills: list[str]
    subcategory: str | None = None
    incident_level: str | None = None


RULE_SET_EXAMPLE: dict[str, Any] = {
    "priority_by_category": {
        "enquiry": "routine",
        "complaint": "complex",
        "suggestion": "routine",
        "system_fault": "urgent",
        "data_anomaly": "complex",
        "service_interruption": "urgent",
        "security_event": "urgent",
        "data_leak": "urgent",
    },
    "skills_by_category": {"complaint": ["complaints"]},
    "default_category": "enquiry",
    "rules": [
        {
            "id": "refund-complaint",
            "description": "退款投诉",
            "when": {"any_keywords": ["退款", "refund"]},
            "then": {"category": "complaint"},
        }
    ],
}


class RuleSetIn(BaseModel):
    """A classification rule set as `docs/intake.md` describes it; `version` is given by intake."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [RULE_SET_EXAMPLE]})

    priority_by_category: dict[str, str]
    skills_by_category: dict[str, list[str]] = {}
    default_category: str = "enquiry"
    rules: list[dict[str, Any]] = []
    subcategories: dict[str, Any] = {}
    skills_by_subcategory: dict[str, list[str]] = {}


class RuleSet(BaseModel):
    """The rule set in force: its version and its document (`RuleSetIn`)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{"version": 3, **RULE_SET_EXAMPLE}]})

    version: int


class FiredRule(BaseModel):
    rule_id: str
    description: str | None = None
    reasons: list[str]
    sets: dict[str, Any]
    """What the rule set, of category, priority_class, emergency, skills, subcategory and incident_level."""


class Explanation(BaseModel):
    model_config = example(
        ruleset_version=3,
        category="complaint",
        priority_class="complex",
        emergency=False,
        emergency_reasons=[],
        required_skills=[],
        subcategory=None,
        incident_level=None,
        fired=[
            {
                "rule_id": "refund-complaint",
                "description": "退款投诉",
                "reasons": ["keyword '退款' in the text"],
                "sets": {"category": "complaint", "priority_class": "complex"},
            }
        ],
        decided_by="rule 'refund-complaint' set the category",
    )

    ruleset_version: int
    category: str
    priority_class: str
    emergency: bool
    emergency_reasons: list[str]
    required_skills: list[str]
    subcategory: str | None = None
    incident_level: str | None = None
    fired: list[FiredRule]
    decided_by: str


class ReplyOut(BaseModel):
    model_config = example(
        reply_id="a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
        contact_id="5d0c7f3a-2b1e-4c8d-9a6f-1e2d3c4b5a69",
        channel="email",
        subject="Re: 账单金额不对",
        headers={"Message-ID": "<a1b2c3d4@switchboard.example.com>", "In-Reply-To": "<CAF1x@mail.example.cn>"},
        delivery="requested",
        first_reply=True,
        created_at="2026-12-06T10:00:00+08:00",
    )

    reply_id: uuid.UUID
    contact_id: uuid.UUID
    channel: str
    subject: str | None
    headers: dict[str, str]
    """E-mail: the Message-ID, In-Reply-To and References the reply goes out with."""
    delivery: str = "requested"
    first_reply: bool
    created_at: datetime


class NoteOut(BaseModel):
    model_config = example(
        note_id="b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e", contact_id="5d0c7f3a-2b1e-4c8d-9a6f-1e2d3c4b5a69"
    )

    note_id: uuid.UUID
    contact_id: uuid.UUID


class TimelineEntry(BaseModel):
    at: datetime
    kind: str
    """customer_message, agent_reply, note, queued, offered, offer_declined, offer_expired, accepted, transferred,
    pending, resumed, solution_recorded, resolved, reopened, closed, sla_warning, sla_breached, sla_escalated,
    sla_met, sla_missed, survey_sent, survey_answered, customer_not_solved, followup_required,
    outbound_end_notice, outbound_survey…"""
    actor: str | None
    detail: dict[str, Any]


class TimelinePage(BaseModel):
    model_config = example(
        contact_id="5d0c7f3a-2b1e-4c8d-9a6f-1e2d3c4b5a69",
        entries=[
            {
                "at": "2026-12-06T10:00:00+08:00",
                "kind": "message",
                "actor": "customer",
                "detail": {"channel": "email", "text": "十一月的账单多扣了 30 元"},
            },
            {
                "at": "2026-12-06T10:02:00+08:00",
                "kind": "assigned",
                "actor": "routing",
                "detail": {"agent_id": "A-1"},
            },
        ],
        next="MjAyNi0xMi0wNlQxMDowMjowMHxh",
    )

    contact_id: uuid.UUID
    entries: list[TimelineEntry]
    next: str | None
    """Pass as `after` for the next page; None at the end (for now: new entries may come later)."""
