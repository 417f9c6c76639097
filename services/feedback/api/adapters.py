"""Channel adapters: answers collected for the customer (SMS replies, IVR digits, chat buttons) and
delivery receipts for the messages they were asked to deliver."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.feedback.api.dependencies import Adapter, FeedbackState, transaction
from services.feedback.domain.answers import ChannelNotAllowed, InvalidAnswers, SurveyUnavailable
from services.feedback.handlers import PolicyGone, answer_for_adapter, record_receipt
from shared.errors import Problem
from shared.openapi import example

router = APIRouter(tags=["feedback"])


class ResponseBody(BaseModel):
    """An answer an adapter collected: structured (chat buttons), a free reply (SMS "5") or IVR digits.

    Say which invitation it answers by `invitation_id` or `message_id` (from the outbound message), or, for
    an SMS reply with neither, by `channel` + `sender` (the latest open invitation sent to that address)."""

    model_config = ConfigDict(extra="forbid") | example(
        message_id="c3d4e5f6-a7b8-4c9d-8e1f-2a3b4c5d6e7f", source="sms", reply="5"
    )

    invitation_id: uuid.UUID | None = None
    message_id: uuid.UUID | None = None
    channel: Literal["sms", "email", "chat"] | None = None
    sender: str | None = Field(default=None, max_length=320)
    source: Literal["sms", "ivr", "chat", "email", "api"] = "api"
    answers: dict[str, int | bool | str | None] | None = None
    reply: str | None = Field(default=None, max_length=2100)
    digits: list[str] | None = Field(default=None, max_length=10)

    @model_validator(mode="after")
    def _one_of_each(self) -> ResponseBody:
        given = [x for x in (self.answers, self.reply, self.digits) if x is not None]
        if len(given) != 1:
            raise ValueError("send exactly one of answers, reply or digits")
        if self.invitation_id is None and self.message_id is None and not (self.channel and self.sender):
            raise ValueError("say which invitation: invitation_id, message_id, or channel and sender")
        return self


class ResponseOut(BaseModel):
    model_config = example(
        response_id="d4e5f6a7-b8c9-4d0e-9f1a-2b3c4d5e6f70",
        invitation_id="2a3b4c5d-6e7f-4819-a2b3-c4d5e6f7a8b9",
        contact_id="5d0c7f3a-2b1e-4c8d-9a6f-1e2d3c4b5a69",
        scores={"csat": 5, "solved": True},
        followup=[],
    )

    response_id: uuid.UUID
    invitation_id: uuid.UUID
    contact_id: uuid.UUID
    scores: dict[str, int | bool | None]
    followup: list[str]
    """Follow-up reasons raised by this answer (csat, nps, not_solved); empty when none."""


def _unavailable(exc: SurveyUnavailable) -> Problem:
    status = {"unknown": 404, "answered": 409, "expired": 410, "withdrawn": 410}.get(exc.kind, 409)
    detail = {
        "unknown": "no invitation matches this reference",
        "answered": "this invitation already has its answer; one submission per invitation",
        "expired": "this invitation has expired",
        "withdrawn": "this invitation was never sent or has been withdrawn (the contact was reopened)",
    }.get(exc.kind, "this invitation cannot take an answer")
    return Problem(status, "Survey unavailable", detail, kind=f"survey-{exc.kind}")


@router.post("/v1/surveys/responses", status_code=201)
async def post_response(state: FeedbackState, body: ResponseBody, who: Adapter) -> ResponseOut:
    try:
        async with transaction(state) as tx:
            recorded = await answer_for_adapter(
                tx,
                invitation_id=body.invitation_id,
                message_id=body.message_id,
                channel=body.channel,
                sender=body.sender,
                scopes=who.channels,
                structured=body.answers,
                reply=body.reply if body.reply is not None else " ".join(body.digits or ()),
                source=body.source,
            )
    except PolicyGone as exc:
        raise Problem(
            410, "Survey unavailable", "this invitation's policy is gone", kind="survey-withdrawn"
        ) from exc
    except ChannelNotAllowed as exc:
        raise Problem(403, "Forbidden", str(exc), kind="channel-not-allowed") from exc
    except SurveyUnavailable as exc:
        raise _unavailable(exc) from exc
    except InvalidAnswers as exc:
        raise Problem(422, "Invalid answers", str(exc), kind="invalid-answers", errors=exc.errors) from exc
    return ResponseOut(
        response_id=recorded.response_id,
        invitation_id=recorded.invitation.invitation_id,
        contact_id=recorded.invitation.contact_id,
        scores=recorded.answers.scores(),
        followup=list(recorded.followup),
    )


class ReceiptBody(BaseModel):
    """A channel adapter's report on an `outbound.message.requested` it was asked to deliver."""

    model_config = ConfigDict(extra="forbid") | example(
        message_id="c3d4e5f6-a7b8-4c9d-8e1f-2a3b4c5d6e7f", status="delivered", at="2026-12-06T10:30:05+08:00"
    )

    message_id: uuid.UUID
    status: Literal["accepted", "delivered", "read", "failed", "bounced"]
    at: datetime | None = None
    """When it happened, by the adapter's clock; now if left out."""
    detail: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _aware(self) -> ReceiptBody:
        if self.at is not None and self.at.tzinfo is None:
            raise ValueError("at needs a time zone (e.g. 2026-11-23T09:30:00+08:00)")
        return self


class ReceiptOut(BaseModel):
    model_config = example(
        message_id="c3d4e5f6-a7b8-4c9d-8e1f-2a3b4c5d6e7f",
        invitation_id="2a3b4c5d-6e7f-4819-a2b3-c4d5e6f7a8b9",
        status="delivered",
    )

    message_id: str
    invitation_id: str
    status: str


@router.post("/v1/outbound/receipts", status_code=202, response_model=ReceiptOut)
async def post_receipt(state: FeedbackState, body: ReceiptBody, who: Adapter) -> dict[str, str]:
    try:
        async with transaction(state) as tx:
            invitation = await record_receipt(
                tx,
                message_id=body.message_id,
                status=body.status,
                detail=body.detail,
                reported_at=body.at or tx.now,
                by=who.subject,
                scopes=who.channels,
            )
    except ChannelNotAllowed as exc:
        raise Problem(403, "Forbidden", str(exc), kind="channel-not-allowed") from exc
    except SurveyUnavailable as exc:
        raise Problem(
            404, "Not found", f"no message {body.message_id} was requested by feedback", kind="unknown-message"
        ) from exc
    return {
        "message_id": str(body.message_id),
        "invitation_id": str(invitation.invitation_id),
        "status": body.status,
    }
