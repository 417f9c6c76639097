"""What intake's OpenAPI document says beyond the routes' own types: the answers that the directory, contact and
classification routes build as plain dicts (each model is their contract, with an example), and the bodies that the
channel, import and rule routes read themselves, with every content type they take."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from services.intake.api.payloads import BatchIn, ChatIn, EmailIn, GenericIn, PhoneIn, WebIn
from shared.openapi import example, request_body, schema_of

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


# --- bodies the routes read themselves ---------------------------------------------------------------------------

RAW_EMAIL = (
    "From: =?UTF-8?B?546L6Iqz?= <wang.fang@example.cn>\r\nTo: service@example.com\r\n"
    "Subject: =?UTF-8?B?6LSm5Y2V6YeR6aKd5LiN5a+5?=\r\nMessage-ID: <CAF1x@mail.example.cn>\r\n"
    "Date: Sun, 06 Dec 2026 09:59:40 +0800\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n"
    "十一月的账单多扣了 30 元，请核实。\r\n"
)
_MIME = {"type": "string", "contentMediaType": "message/rfc822", "examples": [RAW_EMAIL]}
_PARSED_EMAIL = {
    "message_id": "<CAF1x@mail.example.cn>",
    "from": {"address": "wang.fang@example.cn", "name": "王芳"},
    "to": [{"address": "service@example.com"}],
    "subject": "账单金额不对",
    "text": "十一月的账单多扣了 30 元，请核实。",
    "date": "2026-12-06T09:59:40+08:00",
}
_RAW_JSON = {
    "type": "object",
    "properties": {"raw": {"type": "string", "contentEncoding": "base64", "description": "the MIME message"}},
    "required": ["raw"],
    "additionalProperties": False,
}
EMAIL_BODY = request_body(
    {
        "message/rfc822": {"schema": _MIME},
        "text/plain": {"schema": _MIME},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        "application/json": {
            "schema": {"anyOf": [schema_of(EmailIn), _RAW_JSON]},
            "examples": {
                "parsed": {"summary": "parsed by the gateway", "value": _PARSED_EMAIL},
                "raw": {"summary": "raw MIME, base64", "value": {"raw": "RnJvbTogd2FuZy5mYW5nQGV4YW1wbGUuY24K"}},
            },
        },
    }
)
_FORM = {
    "form_id": "contact-us",
    "submission_id": "s-20261206-0042",
    "name": "Li Wei",
    "email": "li.wei@example.com",
    "subject": "Invoice copy",
    "message": "Please send me a copy of invoice 2026-118.",
    "order_no": "A-7781",
}
WEB_BODY = request_body(
    {
        "application/json": {"schema": schema_of(WebIn), "examples": {"form": {"value": _FORM}}},
        "application/x-www-form-urlencoded": {"schema": schema_of(WebIn), "examples": {"form": {"value": _FORM}}},
    }
)
_MESSAGES = {
    "phone": {
        "summary": "a call that ended (phone)",
        "value": {
            "call_id": "call-88231",
            "event": "ended",
            "ani": "+8613800138000",
            "dnis": "4008001234",
            "ivr_selections": ["2", "1"],
            "started_at": "2026-12-06T10:00:00+08:00",
            "ended_at": "2026-12-06T10:03:12+08:00",
            "transcript": "我的宽带从昨天开始断网。",
        },
    },
    "chat": {
        "summary": "a chat message (chat)",
        "value": {
            "session_id": "web-9f2c",
            "message_id": "m-1",
            "visitor": {"id": "visitor-17", "name": "Li Wei"},
            "text": "How do I reset my password?",
            "sent_at": "2026-12-06T10:00:00+08:00",
        },
    },
    "sms": {
        "summary": "an SMS (sms, social, onsite)",
        "value": {
            "message_id": "sms-5531",
            "sender": {"phone": "13800138000"},
            "to": "10690000",
            "text": "话费怎么又扣了？",
            "sent_at": "2026-12-06T10:00:00+08:00",
        },
    },
}
CHANNEL_BODY = request_body(
    {
        "application/json": {
            "schema": {"anyOf": [schema_of(PhoneIn), schema_of(ChatIn), schema_of(GenericIn)]},
            "examples": _MESSAGES,
        }
    }
)
BATCH_BODY = request_body(
    {
        "application/json": {
            "schema": schema_of(BatchIn),
            "examples": {
                "batch": {
                    "value": {
                        "items": [
                            {"channel": "email", "idempotency_key": "mail-1", "payload": _PARSED_EMAIL},
                            {
                                "channel": "sms",
                                "idempotency_key": "sms-5531",
                                "payload": _MESSAGES["sms"]["value"],
                            },
                        ]
                    }
                }
            },
        }
    }
)
_CSV = "external_ref,name,grade,phones,emails\nCRM-10086,王芳,key,+8613800138000,wang.fang@example.cn\n"
_LINES = '{"external_ref": "CRM-10086", "name": "王芳", "grade": "key", "phones": ["+8613800138000"]}\n'
IMPORT_BODY = request_body(
    {
        "text/csv": {"schema": {"type": "string"}, "examples": {"csv": {"value": _CSV}}},
        **{
            kind: {"schema": {"type": "string"}, "examples": {"lines": {"value": _LINES}}}
            for kind in ("application/x-ndjson", "application/jsonl", "application/json-lines")
        },
    }
)
RULES_BODY = request_body({"application/json": {"schema": schema_of(RuleSetIn)}})
