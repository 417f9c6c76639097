"""Satisfaction figures for supervisors: satisfied %, 100-point mean, NPS, FCR, response rate."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Query
from pydantic import BaseModel

from services.feedback.api.dependencies import FeedbackState, FiguresReader, actor_of, transaction
from services.feedback.domain.figures import Figures, Tally, figures
from services.feedback.handlers.figures import read_figures
from shared.errors import Problem
from shared.openapi import example
from shared.redact import mask_pii

router = APIRouter(tags=["feedback"])
GroupBy = Literal[
    "agent",
    "team",
    "channel",
    "grade",
    "category",
    "subcategory",
    "day",
    "value_tier",
    "risk_level",
    "lifecycle_stage",
    "all",
]


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

    @classmethod
    def of(cls, row: Mapping[str, Any], *, masked: bool) -> LowScoreOut:
        comment = row["comment"]
        return cls(
            invitation_id=row["invitation_id"],
            contact_id=row["contact_id"],
            agent_id=row["agent_id"],
            team=row["team"],
            channel=row["channel"],
            csat=row["csat"],
            nps=row["nps"],
            solved=row["solved"],
            reasons=list(row["followup_reasons"]),
            comment=(mask_pii(comment) if masked and comment else comment),
            answered_at=row["answered_at"],
        )


class FiguresReport(BaseModel):
    model_config = example(
        since="2026-12-01T00:00:00+08:00",
        until="2026-12-06T00:00:00+08:00",
        time_zone="Asia/Shanghai",
        by="team",
        total={
            "key": "all",
            "sent": 420,
            "answered": 131,
            "response_rate": 31.2,
            "satisfied_pct": 88.5,
            "mean_score_100": 84.1,
            "nps": 37.0,
            "fcr_pct": 79.4,
            "csat_answers": 131,
            "nps_answers": 97,
        },
        groups=[
            {
                **{
                    "key": "all",
                    "sent": 420,
                    "answered": 131,
                    "response_rate": 31.2,
                    "satisfied_pct": 88.5,
                    "mean_score_100": 84.1,
                    "nps": 37.0,
                    "fcr_pct": 79.4,
                    "csat_answers": 131,
                    "nps_answers": 97,
                },
                "key": "billing",
            }
        ],
        low_scores=[
            {
                "invitation_id": "2a3b4c5d-6e7f-4819-a2b3-c4d5e6f7a8b9",
                "contact_id": "5d0c7f3a-2b1e-4c8d-9a6f-1e2d3c4b5a69",
                "agent_id": "A-1",
                "team": "billing",
                "channel": "phone",
                "csat": 1,
                "nps": 2,
                "solved": False,
                "reasons": ["csat 1 ≤ 2"],
                "comment": "等了太久",
                "answered_at": "2026-12-06T10:00:00+08:00",
            }
        ],
        comments_masked=False,
    )

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


def _period(since: date | None, until: date | None, zone: ZoneInfo, *, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the days asked for, in `zone`: by default the 30 days up to today."""
    last_day = until or now.astimezone(zone).date()
    try:
        first_day = since or last_day - timedelta(days=29)
        start = datetime.combine(first_day, time(0), zone).astimezone(UTC)
        end = datetime.combine(last_day + timedelta(days=1), time(0), zone).astimezone(UTC)
    except OverflowError as exc:  # a day at the very edge of the calendar (year 1 or 9999)
        raise Problem(422, "Validation failed", "from/to: a day out of range", kind="validation") from exc
    if first_day > last_day:
        raise Problem(422, "Validation failed", "from is after to", kind="validation")
    return start, end


def _sum(tallies: list[Tally]) -> Tally:
    fields = Tally.__dataclass_fields__
    return Tally(**{k: sum(getattr(t, k) for t in tallies) for k in fields})


@router.get("/v1/feedback/figures")
async def get_figures(
    state: FeedbackState,
    who: FiguresReader,
    by: GroupBy = "all",
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
    NPS, FCR %, response rate; grouped `by` one dimension (the customer's value tier, risk level and lifecycle
    stage among them; `(none)` when the contact arrived without one), with the latest low-score comments. An
    agent sees only their own figures."""
    zone = _zone(tz or state.settings.figures_time_zone)
    now = state.clock.now()
    start, end = _period(since, until, zone, now=now)
    if who.role == "agent":
        agent = who.subject
    masked = who.role != "supervisor"
    async with transaction(state, now=now) as tx:
        read = await read_figures(
            tx,
            by=by,
            since=start,
            until=end,
            time_zone=zone.key,
            agent_id=agent,
            team=team,
            channel=channel,
            comments=comments,
            reader=actor_of(who),
            unmasked=not masked,
        )
    grouped, low = read.grouped, read.low_scores
    total = figures(_sum([t for _, t in grouped]))
    return FiguresReport(
        since=start,
        until=end,
        time_zone=zone.key,
        by=by,
        total=FiguresOut.of("all", total),
        groups=[FiguresOut.of(key, figures(t)) for key, t in grouped],
        low_scores=[LowScoreOut.of(r, masked=masked) for r in low],
        comments_masked=masked,
    )
