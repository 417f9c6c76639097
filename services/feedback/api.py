"""Feedback's JSON API: survey policies (admin, audited), adapter answers and delivery receipts, invitations and
satisfaction figures for supervisors."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.feedback import repository as repo
from services.feedback.config import FeedbackSettings
from services.feedback.domain.answers import InvalidAnswers, SurveyUnavailable, parse_reply, validate_answers
from services.feedback.domain.figures import Figures, Tally, figures
from services.feedback.domain.policy import (
    InvalidPolicy,
    QuietHours,
    SurveyPolicy,
    questions_from_json,
    questions_to_json,
)
from services.feedback.handlers import (
    VersionConflict,
    change_policy,
    find_invitation_for_reply,
    record_receipt,
    submit_answers,
)
from shared.app import Runtime
from shared.auth import Principal, require_adapter, require_roles
from shared.errors import Problem
from shared.events import CHANNELS
from shared.telemetry import mask_pii

router = APIRouter(tags=["feedback"])

Admin = Annotated[Principal, Depends(require_roles("admin"))]
Reader = Annotated[Principal, Depends(require_roles("admin", "supervisor", "ops"))]
Adapter = Annotated[Principal, Depends(require_adapter())]
FiguresReader = Annotated[Principal, Depends(require_roles("admin", "supervisor", "ops", "agent"))]


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


# --- policies -----------------------------------------------------------------------------------------------


class OptionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: int
    labels: dict[str, str]
    """Per language: `zh-Hans`, `zh-Hant`, `en`."""
    points: float | None = None
    """CSAT options: the answer on the 100-point scale."""


class QuestionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: Literal["csat", "nps", "solved", "comment"]
    required: bool = False
    prompt: dict[str, str]
    options: list[OptionBody] = Field(default_factory=list)


class QuietHoursBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: time
    end: time


class PolicyBody(BaseModel):
    """A channel's survey policy, as an admin sends it (PUT replaces the whole policy)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    invite_channel: Literal["sms", "email", "chat"]
    delay_minutes: float = Field(ge=0, le=60 * 24 * 30)
    expiry_hours: float = Field(gt=0, le=24 * 90)
    quiet_hours: QuietHoursBody | None = None
    time_zone: str = "Asia/Shanghai"
    frequency_cap_days: float = Field(ge=0, le=366)
    sampling_rate: float = Field(ge=0, le=1)
    questions: list[QuestionBody] = Field(min_length=1)
    languages: list[str] = Field(min_length=1)
    low_csat_max: int = Field(default=2, ge=0, le=5)
    low_nps_max: int = Field(default=6, ge=-1, le=10)
    version: int | None = None
    """The version this change is based on; a stale one is refused (409) instead of overwriting."""

    def to_policy(self, channel: str) -> SurveyPolicy:
        return SurveyPolicy(
            channel=channel,
            enabled=self.enabled,
            invite_channel=self.invite_channel,
            delay=timedelta(minutes=self.delay_minutes),
            expiry=timedelta(hours=self.expiry_hours),
            quiet_hours=None
            if self.quiet_hours is None
            else QuietHours(self.quiet_hours.start, self.quiet_hours.end),
            time_zone=self.time_zone,
            frequency_cap=timedelta(days=self.frequency_cap_days),
            sampling_rate=self.sampling_rate,
            questions=questions_from_json([q.model_dump() for q in self.questions]),
            languages=tuple(self.languages),
            low_csat_max=self.low_csat_max,
            low_nps_max=self.low_nps_max,
        )


class PolicyOut(PolicyBody):
    channel: str
    version: int | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None

    @classmethod
    def of(cls, policy: SurveyPolicy) -> PolicyOut:
        quiet = policy.quiet_hours
        return cls.model_validate(
            {
                "channel": policy.channel,
                "enabled": policy.enabled,
                "invite_channel": policy.invite_channel,
                "delay_minutes": policy.delay.total_seconds() / 60,
                "expiry_hours": policy.expiry.total_seconds() / 3600,
                "quiet_hours": None if quiet is None else {"start": quiet.start, "end": quiet.end},
                "time_zone": policy.time_zone,
                "frequency_cap_days": policy.frequency_cap.total_seconds() / 86400,
                "sampling_rate": policy.sampling_rate,
                "questions": questions_to_json(policy.questions),
                "languages": list(policy.languages),
                "low_csat_max": policy.low_csat_max,
                "low_nps_max": policy.low_nps_max,
                "version": policy.version,
                "updated_at": policy.extras.get("updated_at"),
                "updated_by": policy.extras.get("updated_by"),
            }
        )


def _channel(channel: str) -> str:
    if channel not in CHANNELS:
        raise Problem(
            404, "Not found", f"no channel {channel!r}; one of {', '.join(CHANNELS)}", kind="unknown-channel"
        )
    return channel


@router.get("/v1/surveys/policies")
async def list_policies(request: Request, _who: Reader) -> list[PolicyOut]:
    async with _runtime(request).pool.acquire() as conn:
        return [PolicyOut.of(p) for p in await repo.list_policies(conn)]


@router.get("/v1/surveys/policies/{channel}")
async def get_policy(request: Request, channel: str, _who: Reader) -> PolicyOut:
    async with _runtime(request).pool.acquire() as conn:
        policy = await repo.get_policy(conn, channel=_channel(channel))
    if policy is None:
        raise Problem(404, "Not found", f"no survey policy for {channel}", kind="unknown-policy")
    return PolicyOut.of(policy)


@router.put("/v1/surveys/policies/{channel}")
async def put_policy(request: Request, channel: str, body: PolicyBody, who: Admin) -> PolicyOut:
    runtime = _runtime(request)
    now = runtime.clock.now()
    async with runtime.pool.acquire() as conn, conn.transaction():
        before = await repo.get_policy(conn, channel=_channel(channel))
        try:
            saved = await change_policy(
                conn,
                policy=body.to_policy(channel),
                expected_version=body.version,
                actor=who.subject,
                role=who.role,
                before=None if before is None else PolicyOut.of(before).model_dump(mode="json"),
                after=body.model_dump(mode="json", exclude={"version"}),
                now=now,
            )
        except InvalidPolicy as exc:
            raise Problem(
                422, "Invalid policy", "; ".join(exc.problems), kind="invalid-policy", problems=exc.problems
            ) from exc
        except VersionConflict as exc:
            raise Problem(
                409,
                "Conflict",
                f"the policy changed meanwhile (now version {exc.current}); reload and apply your change again",
                kind="version-conflict",
                current_version=exc.current,
            ) from exc
    return PolicyOut.of(saved)


@router.get("/v1/surveys/audit")
async def list_audit(
    request: Request,
    _who: Admin,
    subject: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    """Who changed which policy, and who read unmasked comments, newest first."""
    async with _runtime(request).pool.acquire() as conn:
        return await repo.list_audit(conn, subject=subject, limit=limit)


# --- invitations --------------------------------------------------------------------------------------------


class InvitationOut(BaseModel):
    invitation_id: uuid.UUID
    contact_id: uuid.UUID
    status: str
    reason: str | None
    channel: str | None
    invite_channel: str | None
    language: str | None
    agent_id: str
    team: str | None
    resolved_at: datetime
    due_at: datetime | None
    sent_at: datetime | None
    expires_at: datetime | None
    closed_at: datetime | None
    message_id: uuid.UUID | None
    delivery: str | None


@router.get("/v1/surveys/invitations")
async def list_invitations(request: Request, contact_id: uuid.UUID, _who: Reader) -> list[InvitationOut]:
    """A contact's survey history: what was planned, sent, answered, and why anything was not (no PII)."""
    async with _runtime(request).pool.acquire() as conn:
        found = await repo.invitations_for_contact(conn, contact_id=contact_id)
    return [InvitationOut.model_validate({k: getattr(i, k) for k in InvitationOut.model_fields}) for i in found]


# --- adapters: answers and receipts -------------------------------------------------------------------------


class ResponseBody(BaseModel):
    """An answer an adapter collected: structured (chat buttons), a free reply (SMS "5") or IVR digits.

    Say which invitation it answers by `invitation_id` or `message_id` (from the outbound message), or, for
    an SMS reply with neither, by `channel` + `sender` (the latest open invitation sent to that address)."""

    model_config = ConfigDict(extra="forbid")

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
async def post_response(request: Request, body: ResponseBody, who: Adapter) -> ResponseOut:
    runtime = _runtime(request)
    now = runtime.clock.now()
    try:
        async with runtime.pool.acquire() as conn, conn.transaction():
            invitation = await find_invitation_for_reply(
                conn,
                invitation_id=body.invitation_id,
                message_id=body.message_id,
                channel=body.channel,
                sender=body.sender,
                now=now,
            )
            policy = await repo.get_policy(conn, channel=invitation.channel or "")
            if policy is None:
                raise Problem(
                    410, "Survey unavailable", "this invitation's policy is gone", kind="survey-withdrawn"
                )
            if body.answers is not None:
                answers = validate_answers(body.answers, policy)
            else:
                answers = parse_reply(
                    body.reply if body.reply is not None else " ".join(body.digits or ()), policy
                )
            recorded = await submit_answers(
                conn, invitation_id=invitation.invitation_id, answers=answers, source=body.source, now=now
            )
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

    model_config = ConfigDict(extra="forbid")

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


@router.post("/v1/outbound/receipts", status_code=202)
async def post_receipt(request: Request, body: ReceiptBody, who: Adapter) -> dict[str, str]:
    runtime = _runtime(request)
    now = runtime.clock.now()
    try:
        async with runtime.pool.acquire() as conn, conn.transaction():
            invitation = await record_receipt(
                conn,
                message_id=body.message_id,
                status=body.status,
                detail=body.detail,
                reported_at=body.at or now,
                by=who.subject,
                now=now,
            )
    except SurveyUnavailable as exc:
        raise Problem(
            404, "Not found", f"no message {body.message_id} was requested by feedback", kind="unknown-message"
        ) from exc
    return {
        "message_id": str(body.message_id),
        "invitation_id": str(invitation.invitation_id),
        "status": body.status,
    }


# --- figures ------------------------------------------------------------------------------------------------


class FiguresOut(BaseModel):
    key: str
    sent: int
    answered: int
    response_rate: float | None
    satisfied_pct: float | None
    mean_score_100: float | None
    nps: float | None
    fcr_pct: float | None
    csat_answers: int
    nps_answers: int

    @classmethod
    def of(cls, key: str, f: Figures) -> FiguresOut:
        return cls(key=key, **{k: getattr(f, k) for k in Figures.__dataclass_fields__})


class LowScoreOut(BaseModel):
    invitation_id: uuid.UUID
    contact_id: uuid.UUID
    agent_id: str
    team: str | None
    channel: str | None
    csat: int | None
    nps: int | None
    solved: bool | None
    reasons: list[str]
    comment: str | None
    answered_at: datetime


class FiguresReport(BaseModel):
    since: datetime
    until: datetime
    time_zone: str
    by: str
    total: FiguresOut
    groups: list[FiguresOut]
    low_scores: list[LowScoreOut]
    comments_masked: bool
    """Comments are shown unmasked only to supervisors (and each such read is audited)."""


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise Problem(422, "Validation failed", f"tz: unknown time zone {name!r}", kind="validation") from exc


def _sum(tallies: list[Tally]) -> Tally:
    fields = Tally.__dataclass_fields__
    return Tally(**{k: sum(getattr(t, k) for t in tallies) for k in fields})


@router.get("/v1/feedback/figures")
async def get_figures(
    request: Request,
    who: FiguresReader,
    by: Literal["agent", "team", "channel", "grade", "category", "day", "all"] = "all",
    since: Annotated[
        date | None, Query(alias="from", description="first day (in tz), default 30 days ago")
    ] = None,
    until: Annotated[
        date | None, Query(alias="to", description="last day (in tz), inclusive; default today")
    ] = None,
    tz: Annotated[str | None, Query(max_length=64)] = None,
    agent: Annotated[str | None, Query(max_length=200)] = None,
    team: Annotated[str | None, Query(max_length=200)] = None,
    channel: Annotated[str | None, Query(max_length=20)] = None,
    comments: Annotated[int, Query(ge=0, le=500)] = 20,
) -> FiguresReport:
    """Satisfaction figures over invitations sent in the period: satisfied % (CSAT 4–5), the 100-point mean,
    NPS, FCR %, response rate; grouped `by` one dimension, with the latest low-score comments. An agent sees
    only their own figures."""
    runtime = _runtime(request)
    settings = runtime.settings
    default_zone = settings.figures_time_zone if isinstance(settings, FeedbackSettings) else "Asia/Shanghai"
    zone = _zone(tz or default_zone)
    now = runtime.clock.now()
    last_day = until or now.astimezone(zone).date()
    first_day = since or last_day - timedelta(days=29)
    if first_day > last_day:
        raise Problem(422, "Validation failed", "from is after to", kind="validation")
    start = datetime.combine(first_day, time(0), zone).astimezone(UTC)
    end = datetime.combine(last_day + timedelta(days=1), time(0), zone).astimezone(UTC)
    if who.role == "agent":
        agent = who.subject
    masked = who.role != "supervisor"
    filters = {"agent_id": agent, "team": team, "channel": channel}
    async with runtime.pool.acquire() as conn, conn.transaction():
        grouped = await repo.tallies(conn, by=by, since=start, until=end, time_zone=zone.key, **filters)
        low = await repo.low_score_comments(conn, since=start, until=end, limit=comments, **filters)
        if not masked and any(r["comment"] for r in low):
            await repo.insert_audit(
                conn,
                actor=who.subject,
                role=who.role,
                action="survey_comment.read",
                subject="survey_comments",
                detail={"invitations": [str(r["invitation_id"]) for r in low if r["comment"]]},
                now=now,
            )
    total = figures(_sum([t for _, t in grouped]))
    return FiguresReport(
        since=start,
        until=end,
        time_zone=zone.key,
        by=by,
        total=FiguresOut.of("all", total),
        groups=[FiguresOut.of(key, figures(t)) for key, t in grouped],
        low_scores=[
            LowScoreOut(
                invitation_id=r["invitation_id"],
                contact_id=r["contact_id"],
                agent_id=r["agent_id"],
                team=r["team"],
                channel=r["channel"],
                csat=r["csat"],
                nps=r["nps"],
                solved=r["solved"],
                reasons=list(r["followup_reasons"]),
                comment=(mask_pii(r["comment"]) if masked and r["comment"] else r["comment"]),
                answered_at=r["answered_at"],
            )
            for r in low
        ],
        comments_masked=masked,
    )
