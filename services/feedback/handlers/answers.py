"""Answers from the page and adapters, and closing the loop on low scores; delivery receipts."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from services.feedback import repository as repo
from services.feedback.domain.answers import (
    AlreadyAnswered,
    Answers,
    SurveyExpired,
    SurveyWithdrawn,
    UnknownInvitation,
    check_scope,
    csat_points,
    followup_reasons,
    parse_reply,
    validate_answers,
)
from services.feedback.domain.policy import SurveyPolicy
from services.feedback.domain.schedule import (
    Invitation,
)
from services.feedback.handlers.publishing import publish, survey_event
from shared.events import (
    FeedbackFollowupRequiredV1,
    FeedbackNotSolvedV1,
    SurveyAnsweredV1,
)
from shared.redact import mask_pii
from shared.tx import Tx


async def open_survey(tx: Tx, *, invitation_id: uuid.UUID) -> tuple[Invitation, SurveyPolicy]:
    """The invitation and its questions, if it can be answered now; else the `SurveyUnavailable` reason."""
    invitation = await repo.get_invitation(tx.conn, invitation_id=invitation_id)
    return await _answerable(tx, invitation)


async def _answerable(tx: Tx, invitation: Invitation | None) -> tuple[Invitation, SurveyPolicy]:
    now = tx.now
    if invitation is None:
        raise UnknownInvitation()
    language = invitation.language
    if invitation.status == "answered":
        raise AlreadyAnswered(language)
    if invitation.status == "expired" or (
        invitation.status == "sent" and invitation.expires_at is not None and now >= invitation.expires_at
    ):
        raise SurveyExpired(language)
    if invitation.status != "sent":
        raise SurveyWithdrawn(language)
    policy = await repo.get_policy(tx.conn, channel=invitation.channel or "")
    if policy is None:
        raise SurveyWithdrawn(language)
    return invitation, policy


@dataclass(frozen=True)
class Recorded:
    response_id: uuid.UUID
    invitation: Invitation
    answers: Answers
    followup: tuple[str, ...]


async def submit_answers(
    tx: Tx,
    *,
    invitation_id: uuid.UUID,
    raw: Mapping[str, object] | None = None,
    answers: Answers | None = None,
    source: str,
) -> Recorded:
    """Record the one answer an invitation takes and close the loop: a low score raises a follow-up (回访),
    "not solved" also asks routing to reopen the contact. Raises `SurveyUnavailable` or `InvalidAnswers`."""
    conn, now = tx.conn, tx.now
    invitation, policy = await _answerable(tx, await repo.lock_invitation(conn, invitation_id=invitation_id))
    if answers is None:
        answers = validate_answers(raw or {}, policy)
    reasons = followup_reasons(answers, policy)
    points = csat_points(answers, policy)
    response_id = uuid.uuid4()
    stored = await repo.insert_response(
        conn,
        response_id=response_id,
        invitation_id=invitation_id,
        source=source,
        answers=answers,
        csat_points=points,
        followup_reasons=reasons,
        now=now,
    )
    if not stored:
        raise AlreadyAnswered(invitation.language)
    await repo.mark_answered(conn, invitation_id=invitation_id, answers=answers, csat_points=points, now=now)
    scores = answers.scores()
    contact_id = invitation.contact_id
    await publish(tx, survey_event(SurveyAnsweredV1, invitation, scores=scores), contact_id=contact_id)
    if reasons:
        assert invitation.customer_id is not None
        followup = FeedbackFollowupRequiredV1(
            contact_id=contact_id,
            customer_id=invitation.customer_id,
            reason=reasons[0],
            reasons=list(reasons),
            scores=scores,
            comment=mask_pii(answers.comment) if answers.comment else None,
            invitation_id=invitation_id,
            agent_id=invitation.agent_id,
            team=invitation.team,
            answered_at=now,
        )
        await publish(tx, followup, contact_id=contact_id)
    if answers.solved is False:
        await publish(
            tx, FeedbackNotSolvedV1(contact_id=contact_id, invitation_id=invitation_id), contact_id=contact_id
        )
    return Recorded(response_id, invitation, answers, reasons)


async def find_invitation_for_reply(
    tx: Tx,
    *,
    invitation_id: uuid.UUID | None,
    message_id: uuid.UUID | None,
    channel: str | None,
    sender: str | None,
) -> Invitation:
    """What an adapter's answer refers to: the invitation id, the outbound message id, or — for an SMS reply
    with no reference — the latest open invitation sent to that address."""
    conn = tx.conn
    found: Invitation | None = None
    if invitation_id is not None:
        found = await repo.get_invitation(conn, invitation_id=invitation_id)
    elif message_id is not None:
        found = await repo.get_invitation_by_message(conn, message_id=message_id)
    elif channel and sender:
        found = await repo.open_invitation_for(conn, invite_channel=channel, recipient=sender, now=tx.now)
    if found is None:
        raise UnknownInvitation()
    return found


class PolicyGone(Exception):
    """The invitation went out, but its channel's survey policy is no longer there to read an answer with."""


async def answer_for_adapter(
    tx: Tx,
    *,
    invitation_id: uuid.UUID | None,
    message_id: uuid.UUID | None,
    channel: str | None,
    sender: str | None,
    scopes: frozenset[str],
    structured: Mapping[str, object] | None,
    reply: str,
    source: str,
) -> Recorded:
    """An answer a channel adapter collected: the invitation it refers to (`find_invitation_for_reply`), which
    the adapter's key must cover (`ChannelNotAllowed`), read with its policy — `structured` answers (chat buttons)
    as they are, else the free `reply` (SMS text, IVR digits) — and recorded like the page's (`submit_answers`).
    Raises `SurveyUnavailable`, `PolicyGone` or `InvalidAnswers` too."""
    invitation = await find_invitation_for_reply(
        tx, invitation_id=invitation_id, message_id=message_id, channel=channel, sender=sender
    )
    check_scope(scopes, (invitation.invite_channel, invitation.channel))
    policy = await repo.get_policy(tx.conn, channel=invitation.channel or "")
    if policy is None:
        raise PolicyGone()
    answers = validate_answers(structured, policy) if structured is not None else parse_reply(reply, policy)
    return await submit_answers(tx, invitation_id=invitation.invitation_id, answers=answers, source=source)


async def record_receipt(
    tx: Tx,
    *,
    message_id: uuid.UUID,
    status: str,
    detail: str | None,
    reported_at: datetime,
    by: str,
    scopes: frozenset[str],
) -> Invitation:
    """Keep an adapter's receipt; `ChannelNotAllowed` unless its key covers the channel the message went on."""
    invitation = await repo.get_invitation_by_message(tx.conn, message_id=message_id)
    if invitation is None:
        raise UnknownInvitation()
    check_scope(scopes, (invitation.invite_channel,))
    await repo.record_receipt(
        tx.conn, message_id=message_id, status=status, detail=detail, reported_at=reported_at, by=by, now=tx.now
    )
    return invitation
