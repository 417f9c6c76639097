"""The conversation over HTTP: replies and notes on a contact, its timeline, and channel adapters' delivery
receipts for every outbound message."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import AnyHttpUrl, AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from services.intake.api.common import IntakeState, caught_up, transaction
from services.intake.api.models import NoteOut, ReplyOut, TimelineEntry, TimelinePage
from services.intake.domain.conversation import MAX_ATTACHMENTS, Attachment, Cursor, ReplyRefused
from services.intake.domain.identity import InvalidIdentity, normalise_phone
from services.intake.handlers.conversation import (
    ContactClosed,
    ContactMissing,
    CustomerLeftTooLate,
    Draft,
    NotYours,
    UnknownMessage,
    Writer,
    WrongChannel,
    callback_attempted,
    customer_left,
    note,
    reply,
    take_receipt,
)
from services.intake.handlers.reads import timeline_page
from shared.auth import Principal, require_roles
from shared.errors import Problem
from shared.openapi import example
from shared.tx import Actor

router = APIRouter(tags=["conversation"])
WRITERS = ("agent", "supervisor", "admin")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AttachmentIn(_In):
    name: str = Field(min_length=1, max_length=255)
    content_type: str = Field(min_length=3, max_length=127, pattern=r"^[\w.+-]+/[\w.+-]+$")
    size: int = Field(ge=0, le=50 * 1024 * 1024)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    url: AnyHttpUrl
    """Where the channel adapter fetches the content (Switchboard stores none)."""


class ReplyIn(_In):
    model_config = example(text="您好，多扣的 30 元已退回，请查收。", channel="email", solution=True)

    text: str = Field(max_length=100_000)
    """Plain text; the whole message on chat, SMS and social, the text part of an e-mail."""
    html: str | None = Field(default=None, max_length=500_000)
    """E-mail only: an HTML alternative of `text`."""
    channel: Literal["email", "chat", "sms", "social"] | None = None
    """Leave out to answer on the contact's own channel (a call: SMS, else e-mail)."""
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)
    solution: bool = False
    """This reply is the solution or plan (stops the formal-response clock; "sent to the customer")."""
    canned_response_id: uuid.UUID | None = None
    """The canned response the text started from (kept with the reply)."""
    article_id: uuid.UUID | None = None
    """The knowledge article the text started from (kept with the reply)."""


@router.post(
    "/v1/contacts/{contact_id}/replies", status_code=201, response_model=ReplyOut, summary="Answer the customer"
)
async def post_reply(
    contact_id: uuid.UUID,
    body: ReplyIn,
    intake: IntakeState,
    who: Annotated[Principal, Depends(require_roles(*WRITERS))],
) -> ReplyOut:
    """The agent who owns the work (or a supervisor or admin) answers on the contact's channel; the reply is
    stored and queued on `outbound.messages` together, or not at all."""
    based_on = {
        k: str(v)
        for k, v in (("canned_response_id", body.canned_response_id), ("article_id", body.article_id))
        if v
    }
    draft = Draft(
        text=body.text,
        html=body.html,
        channel=body.channel,
        attachments=tuple(Attachment(**{**a.model_dump(), "url": str(a.url)}) for a in body.attachments),
        solution=body.solution,
        based_on=based_on or None,
    )
    await caught_up(intake, contact_id, Writer(who.role, who.subject))
    try:
        async with transaction(intake) as tx:
            sent = await reply(
                tx,
                contact_id=contact_id,
                who=Writer(who.role, who.subject),
                draft=draft,
                domain=intake.settings.reply_message_id_domain,
            )
    except ContactMissing as exc:
        raise Problem(404, "Not found", f"no contact {contact_id}") from exc
    except NotYours as exc:
        raise Problem(403, "Forbidden", str(exc), kind="not-your-contact") from exc
    except ContactClosed as exc:
        raise Problem(409, "Conflict", str(exc), kind="contact-closed") from exc
    except ReplyRefused as exc:
        raise _refused(exc) from exc
    return ReplyOut(**vars(sent))


def _refused(exc: ReplyRefused) -> Problem:
    return Problem(
        422,
        "Validation failed",
        f"body.{exc.field}: {exc}",
        kind="validation",
        errors=[{"location": f"body.{exc.field}", "message": str(exc), "type": "reply_refused"}],
    )


class NoteIn(_In):
    model_config = example(text="客户要求书面说明，已请账务组核实。")

    text: str = Field(min_length=1, max_length=20_000)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the note has no text")
        return value


@router.post(
    "/v1/contacts/{contact_id}/notes", status_code=201, response_model=NoteOut, summary="An internal note"
)
async def post_note(
    contact_id: uuid.UUID,
    body: NoteIn,
    intake: IntakeState,
    who: Annotated[Principal, Depends(require_roles(*WRITERS))],
) -> NoteOut:
    """Never sent to the customer; on the timeline for whoever may see the contact."""
    await caught_up(intake, contact_id, Writer(who.role, who.subject))
    try:
        async with transaction(intake) as tx:
            note_id = await note(
                tx,
                contact_id=contact_id,
                who=Writer(who.role, who.subject),
                text=body.text,
            )
    except ContactMissing as exc:
        raise Problem(404, "Not found", f"no contact {contact_id}") from exc
    except NotYours as exc:
        raise Problem(403, "Forbidden", str(exc), kind="not-your-contact") from exc
    return NoteOut(note_id=note_id, contact_id=contact_id)


@router.get("/v1/contacts/{contact_id}/timeline", response_model=TimelinePage, summary="Everything on the contact")
async def get_timeline(
    contact_id: uuid.UUID,
    intake: IntakeState,
    who: Annotated[Principal, Depends(require_roles(*WRITERS))],
    after: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> TimelinePage:
    """Customer messages, replies with their delivery state, notes, routing steps, SLA alerts and survey answers
    in the order they happened, a page at a time."""
    try:
        cursor = Cursor.decode(after) if after else None
    except ValueError as exc:
        raise Problem(422, "Validation failed", f"query.after: {exc}", kind="validation") from exc
    try:
        async with transaction(intake) as tx:
            rows = await timeline_page(
                tx, contact_id, after=cursor, after_text=after, limit=limit + 1, actor=Actor(who.role, who.subject)
            )
    except ContactMissing as exc:
        raise Problem(404, "Not found", f"no contact {contact_id}") from exc
    except NotYours as exc:
        raise Problem(403, "Forbidden", str(exc), kind="not-your-contact") from exc
    more = len(rows) > limit
    rows = rows[:limit]
    return TimelinePage(
        contact_id=contact_id,
        entries=[TimelineEntry(at=r["at"], kind=r["kind"], actor=r["actor"], detail=r["detail"]) for r in rows],
        next=Cursor(rows[-1]["at"], rows[-1]["key"]).encode() if more else None,
    )


class Acknowledged(BaseModel):
    model_config = example(contact_id="5d0c7f3a-2b1e-4c8d-9a6f-1e2d3c4b5a69", status="accepted")

    contact_id: str
    status: Literal["accepted"]


class LeftIn(_In):
    """The customer left before anyone answered (or asked to be called back instead of waiting)."""

    model_config = example(
        reason="hung_up", at="2026-12-06T10:01:30+08:00", callback="keep_place", callback_phone="+8613800138000"
    )

    reason: Literal["hung_up", "visitor_left", "withdrawn"]
    at: AwareDatetime | None = None
    """When, by the adapter's clock (with a time zone); now if left out."""
    callback: Literal["none", "keep_place", "scheduled"] = "none"
    """`keep_place`: call back in the caller's turn; `scheduled`: at `callback_at`."""
    callback_at: AwareDatetime | None = None
    callback_phone: str | None = Field(default=None, max_length=64)
    """The number to call back; the caller's own number when left out."""


@router.post(
    "/v1/contacts/{contact_id}/abandoned",
    status_code=202,
    response_model=Acknowledged,
    summary="The customer left unanswered",
)
async def post_abandoned(
    contact_id: uuid.UUID,
    body: LeftIn,
    intake: IntakeState,
    who: Annotated[Principal, Depends(require_roles("adapter"))],
) -> dict[str, str]:
    """A call that ended before it was answered, a chat visitor who left, a web or e-mail contact the adapter
    withdraws: waiting work is closed as abandoned (never offered afterwards), unless a callback is asked for."""
    now = intake.clock.now()
    phone: str | None = None
    if body.callback_phone is not None:
        try:
            identity = normalise_phone(body.callback_phone, region=intake.settings.default_region)
        except InvalidIdentity as exc:
            raise Problem(422, "Validation failed", f"body.callback_phone: {exc}", kind="validation") from exc
        if not identity.valid:
            raise Problem(422, "Validation failed", "body.callback_phone: not a phone number", kind="validation")
        phone = identity.value
    if body.callback == "scheduled" and (body.callback_at is None or body.callback_at <= now):
        raise Problem(
            422, "Validation failed", "body.callback_at: a scheduled callback needs a time in the future",
            kind="validation",
        )  # fmt: skip
    try:
        async with transaction(intake, now=now) as tx:
            await customer_left(
                tx, contact_id=contact_id, channels=who.channels, reason=body.reason, at=body.at or now,
                callback=body.callback, callback_at=body.callback_at, callback_phone=phone,
            )  # fmt: skip
    except ContactMissing as exc:
        raise Problem(404, "Not found", f"no contact {contact_id} on this key's channels") from exc
    except CustomerLeftTooLate as exc:
        raise Problem(409, "Conflict", "the contact is already closed", kind="contact-closed") from exc
    except ReplyRefused as exc:
        raise _refused(exc) from exc
    return {"contact_id": str(contact_id), "status": "accepted"}


class AttemptIn(_In):
    model_config = example(outcome="no_answer", at="2026-12-06T10:15:00+08:00")

    outcome: Literal["answered", "no_answer", "busy", "failed"]
    at: AwareDatetime | None = None


@router.post(
    "/v1/contacts/{contact_id}/callback-attempts",
    status_code=202,
    response_model=Acknowledged,
    summary="A callback was tried",
)
async def post_callback_attempt(
    contact_id: uuid.UUID,
    body: AttemptIn,
    intake: IntakeState,
    who: Annotated[Principal, Depends(require_roles("adapter"))],
) -> dict[str, str]:
    """The phone adapter's report of one callback attempt; unanswered ones are retried by routing's policy."""
    now = intake.clock.now()
    try:
        async with transaction(intake, now=now) as tx:
            await callback_attempted(
                tx, contact_id=contact_id, channels=who.channels, outcome=body.outcome, at=body.at or now
            )
    except ContactMissing as exc:
        raise Problem(404, "Not found", f"no contact {contact_id} (or this key may not report calls)") from exc
    return {"contact_id": str(contact_id), "status": "accepted"}


class ReceiptIn(_In):
    """A channel adapter's report on a message it was asked to deliver (any `outbound.message.requested`)."""

    model_config = example(
        message_id="c3d4e5f6-a7b8-4c9d-8e1f-2a3b4c5d6e7f",
        status="bounced",
        at="2026-12-06T10:00:05+08:00",
        reason="550 5.1.1 user unknown",
    )

    message_id: uuid.UUID
    status: Literal["accepted", "sent", "delivered", "read", "failed", "bounced"]
    at: AwareDatetime | None = None
    """When it happened, by the adapter's clock (with a time zone); now if left out."""
    reason: str | None = Field(default=None, max_length=500)
    """Why it failed or bounced, as the channel said (`550 5.1.1 user unknown`, `number not reachable`)."""


class ReceiptOut(BaseModel):
    model_config = example(
        message_id="c3d4e5f6-a7b8-4c9d-8e1f-2a3b4c5d6e7f",
        contact_id="5d0c7f3a-2b1e-4c8d-9a6f-1e2d3c4b5a69",
        status="bounced",
        changed=True,
    )

    message_id: uuid.UUID
    contact_id: uuid.UUID | None
    status: str
    """The message's delivery state after this receipt."""
    changed: bool
    """False for a repeated or out-of-date receipt (it had no effect)."""


@router.post("/v1/outbound/receipts", status_code=202, response_model=ReceiptOut, summary="A delivery receipt")
async def post_receipt(
    body: ReceiptIn, intake: IntakeState, who: Annotated[Principal, Depends(require_roles("adapter"))]
) -> ReceiptOut:
    now = intake.clock.now()
    try:
        async with transaction(intake, now=now) as tx:
            receipt = await take_receipt(
                tx,
                message_id=body.message_id,
                status=body.status,
                reported_at=body.at or now,
                reason=body.reason,
                adapter=who.subject,
                channels=who.channels,
            )
    except UnknownMessage as exc:
        raise Problem(
            404,
            "Not found",
            f"no outbound message {body.message_id} (one requested a moment ago may not be known yet: retry)",
            kind="unknown-message",
        ) from exc
    except WrongChannel as exc:
        raise Problem(403, "Forbidden", str(exc), kind="channel-not-allowed") from exc
    return ReceiptOut(**vars(receipt))
