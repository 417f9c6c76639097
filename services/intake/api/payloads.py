"""What channel adapters send, as request models, and how each channel's payload becomes an `Inbound`.

Bad input raises a 4xx `Problem` that names the field; nothing here touches the database.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.intake.api.common import parse_model
from services.intake.config import IntakeSettings
from services.intake.domain.channels import (
    MissingField,
    chat_inbound,
    email_inbound,
    generic_inbound,
    parsed_email_inbound,
    phone_inbound,
    web_inbound,
)
from services.intake.domain.contact import Inbound
from services.intake.domain.identity import InvalidIdentity
from services.intake.domain.mime import Attachment, AttachmentTooLarge, MalformedEmail, parse_email
from shared.errors import Problem
from shared.openapi import example


class AcceptedOut(BaseModel):
    model_config = example(
        contact_id="5d0c7f3a-2b1e-4c8d-9a6f-1e2d3c4b5a69",
        message_id="9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
        outcome="created",
    )

    contact_id: str
    message_id: str
    outcome: Literal["created", "threaded", "duplicate"]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=100_000)


class AddressIn(_Payload):
    address: str = Field(min_length=3, max_length=320)
    name: str | None = Field(default=None, max_length=200)


class AttachmentIn(_Payload):
    name: str | None = Field(default=None, max_length=500)
    content_type: str = Field(default="application/octet-stream", max_length=200)
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class EmailIn(_Payload):
    """An email the gateway already parsed."""

    message_id: str | None = Field(default=None, max_length=998)
    from_: AddressIn = Field(alias="from")
    to: list[AddressIn] = Field(default_factory=list, max_length=100)
    subject: str | None = Field(default=None, max_length=998)
    text: str | None = None
    html: str | None = Field(default=None, max_length=2_000_000)
    in_reply_to: list[str] = Field(default_factory=list, max_length=100)
    references: list[str] = Field(default_factory=list, max_length=500)
    date: datetime | None = None
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=100)


class PhoneIn(_Payload):
    call_id: str = Field(min_length=1, max_length=200)
    event: str | None = Field(default=None, max_length=100)
    """The adapter's name for this update of the call (`ended`, `transcribed`…); retries repeat it."""
    ani: str | None = Field(default=None, max_length=64)
    dnis: str | None = Field(default=None, max_length=64)
    direction: Literal["inbound", "outbound"] = "inbound"
    caller_name: str | None = Field(default=None, max_length=200)
    ivr_path: list[str] = Field(default_factory=list, max_length=50)
    ivr_selections: list[str] = Field(default_factory=list, max_length=50)
    language: str | None = Field(default=None, max_length=35)
    started_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    recording: str | None = Field(default=None, max_length=2000)
    transcript: str | None = None


class VisitorIn(_Payload):
    id: str | None = Field(default=None, max_length=200)
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=64)


class ChatIn(_Payload):
    session_id: str = Field(min_length=1, max_length=200)
    message_id: str = Field(min_length=1, max_length=200)
    platform: str | None = Field(default=None, max_length=50)
    visitor: VisitorIn = Field(default_factory=VisitorIn)
    text: str = Field(min_length=1)
    sent_at: datetime | None = None


class WebIn(BaseModel):
    """A form post: the known fields below; any other field is kept as form data."""

    model_config = ConfigDict(extra="allow", str_max_length=100_000)

    form_id: str | None = Field(default=None, max_length=200)
    submission_id: str | None = Field(default=None, max_length=200)
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=64)
    subject: str | None = Field(default=None, max_length=998)
    message: str | None = None
    sent_at: datetime | None = None


class SenderIn(_Payload):
    phone: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=320)
    id: str | None = Field(default=None, max_length=200)
    platform: str | None = Field(default=None, max_length=50)
    name: str | None = Field(default=None, max_length=200)


class GenericIn(_Payload):
    """sms, social and onsite: who, what, when, and anything else the adapter knows."""

    message_id: str | None = Field(default=None, max_length=200)
    conversation_id: str | None = Field(default=None, max_length=200)
    sender: SenderIn = Field(default_factory=SenderIn)
    to: str | None = Field(default=None, max_length=200)
    """The number the customer wrote to (our SMS number): a sender number without a country code is local to
    its country."""
    text: str = Field(min_length=1)
    sent_at: datetime | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


def _email_from_json(payload: dict[str, Any], region: str) -> Inbound:
    data = parse_model(EmailIn, payload)
    return parsed_email_inbound(
        message_id=data.message_id,
        from_address=data.from_.address,
        from_name=data.from_.name,
        subject=data.subject,
        text=data.text,
        html=data.html,
        in_reply_to=data.in_reply_to,
        references=data.references,
        sent_at=data.date,
        attachments=[Attachment(a.name, a.content_type, a.size, a.sha256) for a in data.attachments],
        to=[a.address for a in data.to],
        region=region,
    )


def email_from_raw(raw: bytes, settings: IntakeSettings, *, region: str | None = None) -> Inbound:
    """`region`: the posting adapter key's, for phone numbers in a signature (the service's default if None)."""
    if len(raw) > settings.max_email_bytes:
        raise Problem(
            413, "Payload too large", f"the email is {len(raw)} bytes; the limit is {settings.max_email_bytes}"
        )
    try:
        parsed = parse_email(raw, max_attachment_bytes=settings.max_attachment_bytes)
    except MalformedEmail as exc:
        raise Problem(422, "Malformed email", str(exc), kind="malformed-email") from exc
    except AttachmentTooLarge as exc:
        raise Problem(413, "Payload too large", str(exc), kind="attachment-too-large") from exc
    return email_inbound(parsed, region=region or settings.default_region)


def inbound_for(
    channel: str, payload: dict[str, Any], settings: IntakeSettings, *, region: str | None = None
) -> Inbound:
    """One JSON payload of `channel` → Inbound; bad input raises a 4xx `Problem`. `region`: the posting adapter
    key's, which numbers without a country code are local to (the service's default if None)."""
    region = region or settings.default_region
    try:
        if channel == "email":
            raw = payload.get("raw")
            if isinstance(raw, str) and set(payload) <= {"raw"}:
                try:
                    mime = base64.b64decode(raw, validate=True)
                except ValueError as exc:  # binascii.Error, or a str that is not ASCII
                    raise Problem(422, "Validation failed", "raw: not base64", kind="validation") from exc
                return email_from_raw(mime, settings, region=region)
            return _email_from_json(payload, region)
        if channel == "phone":
            call = parse_model(PhoneIn, payload)
            return _limit(
                phone_inbound(
                    call_id=call.call_id,
                    event=call.event,
                    ani=call.ani,
                    dnis=call.dnis,
                    direction=call.direction,
                    ivr_path=call.ivr_path,
                    ivr_selections=call.ivr_selections,
                    language=call.language,
                    started_at=call.started_at,
                    answered_at=call.answered_at,
                    ended_at=call.ended_at,
                    recording=call.recording,
                    transcript=call.transcript,
                    caller_name=call.caller_name,
                    region=region,
                ),
                settings,
            )
        if channel == "chat":
            chat = parse_model(ChatIn, payload)
            return _limit(
                chat_inbound(
                    session_id=chat.session_id,
                    message_id=chat.message_id,
                    visitor_id=chat.visitor.id,
                    visitor_name=chat.visitor.name,
                    visitor_email=chat.visitor.email,
                    visitor_phone=chat.visitor.phone,
                    platform=chat.platform,
                    text=chat.text,
                    sent_at=chat.sent_at,
                    region=region,
                ),
                settings,
            )
        if channel == "web":
            form = parse_model(WebIn, payload)
            extra = {k: str(v) for k, v in (form.model_extra or {}).items()}
            return _limit(
                web_inbound(
                    form_id=form.form_id,
                    submission_id=form.submission_id,
                    name=form.name,
                    email=form.email,
                    phone=form.phone,
                    subject=form.subject,
                    message=form.message,
                    fields=extra,
                    sent_at=form.sent_at,
                    region=region,
                ),
                settings,
            )
        if channel in ("sms", "social", "onsite"):
            message = parse_model(GenericIn, payload)
            return _limit(
                generic_inbound(
                    channel=channel,
                    message_id=message.message_id,
                    sender_phone=message.sender.phone,
                    sender_email=message.sender.email,
                    sender_id=message.sender.id,
                    platform=message.sender.platform,
                    sender_name=message.sender.name,
                    called=message.to,
                    conversation_id=message.conversation_id,
                    text=message.text,
                    sent_at=message.sent_at,
                    metadata=message.metadata,
                    region=region,
                ),
                settings,
            )
    except (MissingField, InvalidIdentity) as exc:
        raise Problem(422, "Validation failed", str(exc), kind="validation") from exc
    raise Problem(
        404, "Not found", f"unknown channel {channel!r}; one of email, phone, chat, web, sms, social, onsite"
    )


def _limit(inbound: Inbound, settings: IntakeSettings) -> Inbound:
    if len(inbound.original) > settings.max_text_chars or len(inbound.text) > settings.max_text_chars:
        raise Problem(
            413,
            "Payload too large",
            f"the text is longer than {settings.max_text_chars} characters",
            kind="text-too-long",
        )
    return inbound


class BatchItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Literal["email", "phone", "chat", "web", "sms", "social", "onsite"]
    idempotency_key: str | None = Field(default=None, max_length=200)
    payload: dict[str, Any]
    """The channel's JSON payload; an email may also be `{"raw": "<base64 MIME>"}`."""


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[BatchItemIn] = Field(min_length=1)


class BatchItemOut(BaseModel):
    index: int
    status: int
    contact_id: str | None = None
    message_id: str | None = None
    outcome: Literal["created", "threaded", "duplicate"] | None = None
    error: dict[str, Any] | None = None


class BatchOut(BaseModel):
    model_config = example(
        accepted=1,
        rejected=1,
        results=[
            {
                "index": 0,
                "status": 202,
                "contact_id": "5d0c7f3a-2b1e-4c8d-9a6f-1e2d3c4b5a69",
                "message_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
                "outcome": "threaded",
            },
            {
                "index": 1,
                "status": 422,
                "error": {
                    "title": "Validation failed",
                    "status": 422,
                    "pointer": "/items/1",
                    "detail": "items[1].payload.text: Field required",
                },
            },
        ],
    )

    accepted: int
    rejected: int
    results: list[BatchItemOut]
