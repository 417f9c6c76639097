"""The bodies intake's channel, batch, import and rule routes read themselves (they parse by content type), as
OpenAPI `requestBody` declarations with every content type each takes and an example of each."""

from __future__ import annotations

from services.intake.api.models import RuleSetIn
from services.intake.api.payloads import BatchIn, ChatIn, EmailIn, GenericIn, PhoneIn, WebIn
from shared.openapi import request_body, schema_of

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
