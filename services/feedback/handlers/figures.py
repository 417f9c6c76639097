"""Satisfaction figures and the comments behind them: a read of unmasked comments is audited, and the comments past
retention are erased with a record of the destruction (RULES.md, Security)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.feedback import repository as repo
from services.feedback.domain.figures import Tally
from shared import audit
from shared.housekeeping import record_destruction
from shared.tx import Actor, Tx


@dataclass(frozen=True)
class FiguresRead:
    grouped: list[tuple[str, Tally]]
    low_scores: list[dict[str, Any]]
    """The latest low-score answers, their comments as written: the route masks them for whom it must."""


async def read_figures(
    tx: Tx,
    *,
    by: str,
    since: datetime,
    until: datetime,
    time_zone: str,
    agent_id: str | None,
    team: str | None,
    channel: str | None,
    comments: int,
    reader: Actor,
    unmasked: bool,
) -> FiguresRead:
    """Counts per group over invitations sent in [since, until) and the latest `comments` low scores; when the
    reader sees the comments unmasked, which invitations' comments they read is audited."""
    filters = {"agent_id": agent_id, "team": team, "channel": channel}
    grouped = await repo.tallies(tx.conn, by=by, since=since, until=until, time_zone=time_zone, **filters)
    low = await repo.low_score_comments(tx.conn, since=since, until=until, limit=comments, **filters)
    if unmasked and any(r["comment"] for r in low):
        await audit.record(
            tx.conn,
            actor=reader.subject,
            role=reader.role,
            action="survey_comment.read",
            target="survey_comments",
            detail={"invitations": [str(r["invitation_id"]) for r in low if r["comment"]]},
            at=tx.now,
        )
    return FiguresRead(grouped, low)


async def erase_comments(tx: Tx, *, retention: timedelta) -> int:
    """Erase the comments answered more than `retention` ago, record the destruction itself and audit it."""
    cutoff = tx.now - retention
    erased = await repo.purge_comments_before(tx.conn, cutoff=cutoff)
    if erased:
        await record_destruction(
            tx.conn, what="survey comments", rows=erased, cutoff=cutoff, retention=retention, now=tx.now
        )
        await audit.record(
            tx.conn,
            actor="feedback-scheduler",
            role="system",
            action="survey_comment.purge",
            target="survey_comments",
            detail={"erased": erased, "answered_before": cutoff.isoformat()},
            at=tx.now,
        )
    return erased
