"""Survey policies (admin, every change audited) and the audit log."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from services.feedback import repository as repo
from services.feedback.api.dependencies import Admin, FeedbackState, Reader, actor_of, transaction
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
)
from shared import audit
from shared.errors import Problem
from shared.events import CHANNELS
from shared.openapi import example

router = APIRouter(tags=["feedback"])


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


LocalTime = Annotated[
    time,
    WithJsonSchema(
        {"type": "string", "pattern": r"^\d{2}:\d{2}(:\d{2}(\.\d+)?)?$", "description": "local time, HH:MM[:SS]"}
    ),
]
"""A wall-clock time in the policy's time zone: JSON Schema's `time` format needs an offset, these have none."""


class QuietHoursBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: LocalTime
    end: LocalTime


POLICY_EXAMPLE = dict(
    enabled=True,
    invite_channel="sms",
    delay_minutes=30,
    expiry_hours=72,
    quiet_hours={"start": "21:00", "end": "08:00"},
    time_zone="Asia/Shanghai",
    frequency_cap_days=30,
    sampling_rate=1.0,
    questions=[
        {
            "key": "csat",
            "required": True,
            "prompt": {"zh-Hans": "您对本次服务满意吗？", "en": "How satisfied are you with our service?"},
            "options": [
                {"value": 5, "labels": {"zh-Hans": "非常满意", "en": "Very satisfied"}, "points": 100},
                {"value": 1, "labels": {"zh-Hans": "非常不满意", "en": "Very dissatisfied"}, "points": 0},
            ],
        }
    ],
    languages=["zh-Hans", "en"],
    low_csat_max=2,
    low_nps_max=6,
    version=3,
)


class PolicyBody(BaseModel):
    """A channel's survey policy, as an admin sends it (PUT replaces the whole policy)."""

    model_config = ConfigDict(extra="forbid") | example(
        **POLICY_EXAMPLE,
    )

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
    model_config = example(
        **POLICY_EXAMPLE,
        channel="phone",
        updated_at="2026-12-06T10:00:00+08:00",
        updated_by="S-1",
    )

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
async def list_policies(state: FeedbackState, _who: Reader) -> list[PolicyOut]:
    async with transaction(state) as tx:
        return [PolicyOut.of(p) for p in await repo.list_policies(tx.conn)]


@router.get("/v1/surveys/policies/{channel}")
async def get_policy(state: FeedbackState, channel: str, _who: Reader) -> PolicyOut:
    async with transaction(state) as tx:
        policy = await repo.get_policy(tx.conn, channel=_channel(channel))
    if policy is None:
        raise Problem(404, "Not found", f"no survey policy for {channel}", kind="unknown-policy")
    return PolicyOut.of(policy)


@router.put("/v1/surveys/policies/{channel}")
async def put_policy(state: FeedbackState, channel: str, body: PolicyBody, who: Admin) -> PolicyOut:
    async with transaction(state) as tx:
        before = await repo.get_policy(tx.conn, channel=_channel(channel))
        try:
            saved = await change_policy(
                tx,
                policy=body.to_policy(channel),
                expected_version=body.version,
                actor=actor_of(who),
                before=None if before is None else PolicyOut.of(before).model_dump(mode="json"),
                after=body.model_dump(mode="json", exclude={"version"}),
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


class AuditOut(BaseModel):
    model_config = example(
        actor="S-1",
        role="admin",
        action="policy.updated",
        subject="policy:phone",
        detail={"version": 3},
        at="2026-12-06T10:00:00+08:00",
    )

    actor: str
    role: str | None = None
    action: str
    subject: str
    detail: Any = None
    at: datetime

    @staticmethod
    def of(entry: audit.AuditEntry) -> dict[str, Any]:
        """An entry as this API has always answered it (a plain dict, encoded as before): the shared audit's
        `target` is its `subject`."""
        return {
            "actor": entry.actor,
            "role": entry.role,
            "action": entry.action,
            "subject": entry.target,
            "detail": entry.detail,
            "at": entry.at,
        }


@router.get("/v1/surveys/audit", response_model=None, responses={200: {"model": list[AuditOut]}})
async def list_audit(
    state: FeedbackState,
    _who: Admin,
    subject: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    """Who changed which policy, and who read unmasked comments, newest first."""
    async with transaction(state) as tx:
        return [AuditOut.of(e) for e in await audit.entries(tx.conn, target=subject, limit=limit)]
